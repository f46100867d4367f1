/**
 * A sketch's options resolved into the value kernels generate it from (SketchOperator, src/sketch/ops.ts):
 * kind, size, nonzeros per column, Philox key, scale and, for the SRHT, its padded length, permutation
 * block and row sample (docs/sketch.md §2). Validation names the argument before any kernel runs.
 */
import { fail } from '../core/errors.js';
import { PhiloxStream, seedToKey } from '../core/philox.js';
import { checkIntegerInRange, describe } from '../core/validate.js';
import { SKETCH_KINDS, SKETCH_STREAMS, SRHT_MIN_BLOCK, type SketchKind, type SketchOperator } from './ops.js';

/** What defines a sketch, as a caller gives it. */
export interface SketchOptions {
  kind: SketchKind;
  /** Rows of S (the sketch size). */
  m: number;
  /** sparse-sign only: nonzeros per column, 1 ≤ s ≤ m (default min(8, m)); countsketch is s = 1. */
  nnzPerCol?: number;
  /** Integer in [0, 2⁶⁴) (number or bigint): the Philox key. One seed gives the same S everywhere. */
  seed: number | bigint;
  /**
   * Scale S so that E[SᵀS] = I (default true): entries N(0,1)/√m, ±1/√m, ±1/√s. False gives the unscaled
   * S₀ (N(0,1) or ±1) and reports the factor as `scale`, so shards summed by the caller can be scaled once.
   */
  isometric?: boolean;
}

/** The sketch as a result reports it (seed as a decimal string, so it survives JSON). */
export interface SketchDescription {
  readonly kind: SketchKind;
  readonly m: number;
  readonly nnzPerCol: number;
  readonly seed: string;
  readonly totalRows: number;
  readonly isometric: boolean;
  /** The isometry factor: multiply an unscaled result by it (1 when already applied or for countsketch). */
  readonly scale: number;
}

export const DEFAULT_NNZ_PER_COL = 8;
const MAX_WORD_INDEX = 2 ** 53;

/** 2^⌈log₂ n⌉ (1 for n ≤ 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The SRHT's permutation block: min(N, max(2^12, 2^⌈log₂ 4m⌉)) (docs/sketch.md §2.3). */
export function srhtBlock(N: number, m: number): number {
  return Math.min(N, Math.max(SRHT_MIN_BLOCK, nextPow2(4 * m)));
}

/**
 * The SRHT's m sampled rows of H_N: distinct, uniform, in draw order. A partial Fisher–Yates shuffle of
 * the virtual array [0, N): step k swaps entry k with entry k + nextInt(N − k) of stream srhtSample
 * (PhiloxStream.nextInt: Lemire's method with rejection), so exactly the first m entries are drawn.
 */
export function srhtSample(seed: number | bigint, N: number, m: number): Uint32Array {
  const rng = new PhiloxStream(seed, SKETCH_STREAMS.srhtSample);
  const moved = new Map<number, number>();
  const out = new Uint32Array(m);
  for (let k = 0; k < m; k++) {
    const j = k + rng.nextInt(N - k);
    const vj = moved.get(j) ?? j;
    const vk = moved.get(k) ?? k;
    out[k] = vj;
    moved.set(j, vk);
    moved.delete(k);
  }
  return out;
}

export function checkSeed(seed: unknown, name: string): number | bigint {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 2n ** 64n) fail('E_RANGE', name, `must be in [0, 2^64), got ${seed}`);
  } else if (typeof seed === 'number') {
    // Above 2^53 a number may already have been rounded by the caller; a bigint says what was meant.
    if (!Number.isSafeInteger(seed) || seed < 0) fail('E_RANGE', name, `must be a non-negative safe integer (or a bigint below 2^64), got ${seed}`);
  } else {
    fail('E_DTYPE', name, `expected an integer (number or bigint) in [0, 2^64), got ${describe(seed)}`);
  }
  return seed;
}

export function checkKind(kind: unknown, name: string): SketchKind {
  if (!SKETCH_KINDS.includes(kind as SketchKind)) fail('E_RANGE', name, `expected one of ${SKETCH_KINDS.join(', ')}, got ${describe(kind)}`);
  return kind as SketchKind;
}

/**
 * Resolves a sketch of the n rows of the whole A. `prefix` names the options in messages ('options',
 * or 'options' with key `sketch` for lstsq). m ≥ 1 here; methods that need m ≥ d check that themselves.
 */
export function resolveSketch(o: Partial<SketchOptions>, n: number, prefix = 'options', kindKey = 'kind'): { S: SketchOperator; description: SketchDescription } {
  const kind = checkKind(o.kind, `${prefix}.${kindKey}`);
  const m = checkIntegerInRange(o.m, 1, 2 ** 31 - 1, `${prefix}.m`);
  let s = 0;
  if (kind === 'countsketch') {
    if (o.nnzPerCol !== undefined && o.nnzPerCol !== 1) fail('E_RANGE', `${prefix}.nnzPerCol`, `countsketch has one nonzero per column; use kind 'sparse-sign' for ${describe(o.nnzPerCol)}`);
    s = 1;
  } else if (kind === 'sparse-sign') {
    s = o.nnzPerCol === undefined ? Math.min(DEFAULT_NNZ_PER_COL, m) : checkIntegerInRange(o.nnzPerCol, 1, m, `${prefix}.nnzPerCol`);
  } else if (o.nnzPerCol !== undefined) {
    fail('E_RANGE', `${prefix}.nnzPerCol`, `applies to sparse sketches (countsketch, sparse-sign), not ${kind}`);
  }
  if (o.seed === undefined) fail('E_RANGE', `${prefix}.seed`, 'is required: the seed defines S (one seed, one S on every backend and shard)');
  const seed = checkSeed(o.seed, `${prefix}.seed`);
  const isometric = o.isometric ?? true;
  if (typeof isometric !== 'boolean') fail('E_DTYPE', `${prefix}.isometric`, `expected a boolean, got ${describe(isometric)}`);
  const words = kind === 'gaussian' || kind === 'rademacher' ? n * m : kind === 'srht' ? 0 : 2 * s * n;
  if (words > MAX_WORD_INDEX) fail('E_RANGE', `${prefix}.m`, `S would need ${words} Philox words; n·m must stay below 2^53`);
  const [k0, k1] = seedToKey(seed);
  let srht: SketchOperator['srht'] = null;
  if (kind === 'srht') {
    const N = nextPow2(Math.max(n, 1));
    if (m > N) fail('E_RANGE', `${prefix}.m`, `an SRHT samples m distinct rows of the ${N}-point transform; m = ${m} > ${N}`);
    srht = { N, B: srhtBlock(N, m), sample: srhtSample(seed, N, m) };
  }
  const factor = kind === 'countsketch' ? 1 : kind === 'sparse-sign' ? 1 / Math.sqrt(s) : 1 / Math.sqrt(m);
  const S: SketchOperator = { kind, m, n, nnzPerCol: s, key0: k0!, key1: k1!, scale: isometric ? factor : 1, srht };
  return {
    S,
    description: { kind, m, nnzPerCol: s, seed: BigInt(seed).toString(), totalRows: n, isometric, scale: isometric ? 1 : factor },
  };
}
