/**
 * The token layout of a policy-loss call (docs/pg.md §1): ragged (`offsets`) or padded (`mask` and/or
 * `seqLen`, width T given or derived), resolved into the PgLayout every kernel reads, and whether the
 * advantages are per sequence or per token. All checks run here, before any kernel.
 */
import { fail } from '../core/errors.js';
import type { PgLayout } from './ops.js';
import { checkBoolean, checkIntegers, checkMask, checkNumber, MAX_POSITIONS, positiveInteger } from './validate.js';

/** The layout fields of a policy-loss input. */
export interface PgLayoutInput {
  /** Ragged: sequence i owns positions [offsets[i], offsets[i+1]); nSeq + 1 entries from 0 to logp.length. */
  offsets?: Int32Array | readonly number[];
  /** Padded [nSeq × T]: 0 marks a masked position (prompt, padding, tool output). With offsets: over the ragged positions. */
  mask?: Uint8Array;
  /** Padded: the first seqLen[i] positions of row i are its tokens. */
  seqLen?: Int32Array | readonly number[];
  /** Padded width T; default logp.length / nSeq. */
  width?: number;
  /** Force advantages per token (true) or per sequence (false); default: decided by length. */
  advantagePerToken?: boolean;
}

export interface ResolvedLayout extends PgLayout {
  readonly kind: 'ragged' | 'padded';
  readonly nSeq: number;
  /** Padded width T, or the longest ragged sequence (the default T of the length normalizers, docs/pg.md §4). */
  readonly width: number;
  readonly advantagePerToken: boolean;
}

/**
 * Resolves the layout of `n` positions and decides the advantages' shape from `nAdv`, their length.
 * Ambiguity (nAdv equal to both the token and the sequence count, with the two readings differing) is
 * an error asking for `advantagePerToken`.
 */
export function resolveLayout(input: PgLayoutInput, n: number, nAdv: number): ResolvedLayout {
  if (n > MAX_POSITIONS) fail('E_SHAPE', 'input.logp', `has ${n} positions; token offsets are 32-bit, so at most ${MAX_POSITIONS}`);
  const perTokenFlag = checkBoolean(input.advantagePerToken, 'input.advantagePerToken');
  const layout = input.offsets !== undefined ? ragged(input, n) : padded(input, n, nAdv, perTokenFlag);
  const advantagePerToken = decideAdvantages(layout, n, nAdv, perTokenFlag);
  return { ...layout, advantagePerToken };
}

type Base = Omit<ResolvedLayout, 'advantagePerToken'>;

function ragged(input: PgLayoutInput, n: number): Base {
  for (const k of ['seqLen', 'width'] as const) {
    if (input[k] !== undefined) fail('E_SHAPE', `input.${k}`, 'belongs to the padded layout, but input.offsets (ragged) is given; give one layout');
  }
  const offsets = checkIntegers(input.offsets, 'input.offsets', -MAX_POSITIONS, MAX_POSITIONS);
  if (offsets.length < 1) fail('E_SHAPE', 'input.offsets', 'needs nSeq + 1 entries (at least [0])');
  if (offsets[0] !== 0) fail('E_SHAPE', 'input.offsets', `must start at 0, got offsets[0] = ${offsets[0]}`);
  const nSeq = offsets.length - 1;
  const lengths = new Int32Array(nSeq);
  let width = 0;
  for (let i = 0; i < nSeq; i++) {
    const len = offsets[i + 1]! - offsets[i]!;
    if (len < 0) fail('E_SHAPE', 'input.offsets', `decreases at sequence ${i} (${offsets[i]} > ${offsets[i + 1]}); offsets must be non-decreasing`);
    lengths[i] = len;
    width = Math.max(width, len);
  }
  if (offsets[nSeq] !== n) fail('E_SHAPE', 'input.offsets', `must end at logp.length = ${n}, got offsets[${nSeq}] = ${offsets[nSeq]}`);
  const mask = input.mask === undefined ? null : checkMask(input.mask, n, 'input.mask');
  return { kind: 'ragged', offsets, lengths, mask, nSeq, width };
}

function padded(input: PgLayoutInput, n: number, nAdv: number, perTokenFlag: boolean | undefined): Base {
  const givenWidth = input.width === undefined ? undefined : checkNumber(input.width, 'input.width', positiveInteger, 'a positive integer');
  const seqLen = input.seqLen === undefined ? null : checkIntegers(input.seqLen, 'input.seqLen', 0, MAX_POSITIONS);
  let nSeq: number;
  if (seqLen) nSeq = seqLen.length;
  else if (givenWidth !== undefined) {
    if (n % givenWidth !== 0) fail('E_SHAPE', 'input.width', `logp.length = ${n} is not a multiple of width ${givenWidth}`);
    nSeq = n / givenWidth;
  } else if (perTokenFlag === false || (perTokenFlag === undefined && nAdv !== n)) nSeq = nAdv;
  else fail('E_SHAPE', 'input', 'cannot tell where sequences start: give offsets (ragged), or seqLen or width (padded), or per-sequence advantages');
  let width: number;
  if (givenWidth !== undefined) width = givenWidth;
  else if (nSeq === 0) width = 0;
  else {
    if (n % nSeq !== 0) fail('E_SHAPE', 'input.logp', `length ${n} is not a multiple of the ${nSeq} sequences; give input.width or ragged offsets`);
    width = n / nSeq;
  }
  if (nSeq * width !== n) fail('E_SHAPE', 'input.logp', `length ${n}, expected nSeq·width = ${nSeq}·${width} = ${nSeq * width}`);
  const offsets = new Int32Array(nSeq + 1);
  for (let i = 0; i <= nSeq; i++) offsets[i] = i * width;
  const lengths = new Int32Array(nSeq).fill(width);
  if (seqLen) {
    for (let i = 0; i < nSeq; i++) {
      if (seqLen[i]! > width) fail('E_SHAPE', 'input.seqLen', `element ${i} is ${seqLen[i]}, more than the width ${width}`);
      lengths[i] = seqLen[i]!;
    }
  }
  let mask = input.mask === undefined ? null : checkMask(input.mask, n, 'input.mask');
  if (mask && seqLen) {
    // Both given: they must describe the same positions; the kernel then needs only the lengths.
    for (let i = 0; i < nSeq; i++) {
      for (let t = 0; t < width; t++) {
        const m = mask[i * width + t] !== 0;
        if (m !== t < seqLen[i]!) {
          fail('E_SHAPE', 'input.mask', `disagrees with input.seqLen at sequence ${i}, position ${t} (mask ${mask[i * width + t]}, seqLen ${seqLen[i]}); a mask with holes inside a sequence goes without seqLen`);
        }
      }
    }
    mask = null;
  }
  return { kind: 'padded', offsets, lengths, mask, nSeq, width };
}

function decideAdvantages(layout: Base, n: number, nAdv: number, flag: boolean | undefined): boolean {
  const { nSeq } = layout;
  if (flag !== undefined) {
    const expected = flag ? n : nSeq;
    if (nAdv !== expected) fail('E_SHAPE', 'input.advantages', `length ${nAdv}, expected ${expected} (${flag ? 'one per position' : 'one per sequence'}, input.advantagePerToken = ${flag})`);
    return flag;
  }
  if (nAdv === nSeq && nAdv !== n) return false;
  if (nAdv === n && nAdv !== nSeq) return true;
  if (nAdv !== n) fail('E_SHAPE', 'input.advantages', `length ${nAdv}, expected ${nSeq} (one per sequence) or ${n} (one per position)`);
  // As many sequences as positions: both readings agree iff sequence i is position i (every sequence of length 1).
  for (let i = 0; i < nSeq; i++) {
    if (layout.offsets[i] !== i) fail('E_SHAPE', 'input.advantages', `length ${nAdv} is both the sequence and the position count, and the two readings differ; set input.advantagePerToken`);
  }
  return false;
}
