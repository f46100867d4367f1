/**
 * frechetTopk (src/frechet/ops.ts) on the native backend, f32 and f64: the fused "GEMM + running top-k"
 * of bindings/frechet.cc and native/src/frechet/. Score blocks come from OpenBLAS sgemm/dgemm or from
 * the builtin blocked kernel, each thread running single-threaded products on its own tiles; the plan
 * takes OpenBLAS when the addon has it, unless OpenBLAS runs narrower vectors than the builtin kernel's
 * AVX-512 tile (OpenBLAS 0.3.21 runs its AVX2 kernels on Zen 5, where the builtin kernel is ~1.5×
 * faster: native/src/frechet/topk.cc).
 *
 * How a score is rounded (native/include/numkern/frechet.hpp): Σ_k W[b,k]·M(k,j) is formed in the dtype
 * (f32 products and sums for f32): by the builtin kernel in ascending k, each product and sum rounded
 * (the same bits on every CPU), by BLAS in its block order with fused multiply-adds. Then bias[j] is
 * added once in the dtype. The js oracle instead starts from bias[j] and sums in f64, rounding
 * once, so the two may order a near-tie differently; an exact tie (equal computed scores) always goes to
 * the smaller label id here too, and NaN (only from inf − inf, an overflow) ranks after every number.
 *
 * Why no call runs on the libuv pool: an async call works on copies of its arrays (bindings/args.hpp:
 * JS may detach them while the pool runs), and M is the big operand (a 1000 × 325k f32 distance matrix
 * is 1.3 GB), so a copy would double the memory and block the event loop for a few hundred ms itself.
 * Instead a large call runs synchronously, on the caller's arrays, in slices of whole tiles of labels
 * (about SLICE_MS each), the event loop turning and the AbortSignal checked between them. Each slice is
 * a complete addon call that checks every argument again and merges its labels into the running top-k
 * held in `labels`/`scores`; the tiles are the addon's fixed grid (frechetPlan), so the result has the
 * bits of one call over all labels, whatever the slicing and the thread count.
 */
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import { throwIfAborted } from '../../core/errors.js';
import type { FloatArray } from '../../core/types.js';
import { FRECHET_LAYOUT_CODES, type FrechetScreenReport, type FrechetTopkArgs } from '../../frechet/ops.js';
import { guarded } from '../addon/errors.js';
import { familyExports, type NativeAddon } from '../addon/load.js';
import type { NativeHandle } from './index.js';
import { yieldToLoop } from './slices.js';

/**
 * Which engine computes the score blocks (numkern::frechet::Engine). auto: as the top of this file says
 * (the plan's `variant` tells which it took); builtin and blas force one (blas needs an addon built with
 * OpenBLAS).
 */
export const FRECHET_ENGINE_CODES = { auto: 0, builtin: 1, blas: 2 } as const;
export type FrechetEngine = keyof typeof FRECHET_ENGINE_CODES;

/** The code tables as the addon reports them (frechetLayout). */
export interface NativeFrechetLayout {
  readonly layouts: Readonly<Record<string, number>>;
  readonly engines: Readonly<Record<string, number>>;
}

/** How the addon cuts a call (numkern::frechet::Plan): a function of the shapes and the engine only. */
export interface NativeFrechetPlan {
  /** Labels per tile; tile t covers operand labels [t·tile, (t+1)·tile). */
  readonly tile: number;
  /** Rows of W per task. */
  readonly rows: number;
  /** OpenBLAS computes the score blocks. */
  readonly blas: boolean;
  /** Threads a call over all N labels runs on. */
  readonly threads: number;
  /** 'blas', or the builtin kernel's vector variant: 'x86-64-v4', 'avx2' or 'default'. */
  readonly variant: string;
}

/** The frechet entry points of the addon. Every float array of a call shares one dtype. */
export interface NativeFrechetKernels {
  frechetLayout(): NativeFrechetLayout;
  frechetPlan(B: number, K: number, N: number, dtype: 'f32' | 'f64', engine?: number, threads?: number): NativeFrechetPlan;
  /**
   * The top-k of each row of W over the operand labels [begin, end) (default [0, N)), merged with the
   * ranked top-k already in labels/scores when `merge`; `layout` is a FRECHET_LAYOUT_CODES value. Runs on
   * the calling thread; throws TypeError/RangeError naming the argument. screenW / screenM: screen W's
   * rows / M's labels [begin, end) first (FrechetTopkArgs); returns −1, or 0 / 1 when W / M has a bad
   * value (labels and scores are then unspecified).
   */
  frechetTopk<T extends FloatArray>(
    W: T,
    B: number,
    K: number,
    M: T,
    N: number,
    layout: number,
    bias: T | null,
    labelOffset: number,
    topk: number,
    labels: Int32Array,
    scores: T,
    begin?: number,
    end?: number,
    merge?: boolean,
    threads?: number,
    engine?: number,
    screenW?: boolean,
    screenM?: boolean,
  ): number;
  /** frechetBarycenters (src/frechet/ops.ts) on the calling thread; every array but P and W is f64. */
  frechetBarycenters<T extends FloatArray>(
    P: T,
    B: number,
    K: number,
    E: Float64Array,
    dim: number,
    norms: Float64Array,
    rowSums: Float64Array,
    W: T,
    shift: Float64Array,
    threads?: number,
  ): void;
}

const FRECHET_EXPORTS = ['frechetLayout', 'frechetPlan', 'frechetTopk', 'frechetBarycenters'] as const;

const EXPECTED = { layouts: FRECHET_LAYOUT_CODES, engines: FRECHET_ENGINE_CODES } as const;

/** Throws, naming every difference, unless the addon's code tables are src/frechet/ops.ts's and this file's. */
export function checkFrechetLayout(got: NativeFrechetLayout): void {
  const diffs: string[] = [];
  for (const table of ['layouts', 'engines'] as const) {
    const want: Readonly<Record<string, number | undefined>> = EXPECTED[table];
    const have: Readonly<Record<string, number | undefined>> = got?.[table] ?? {};
    for (const key of new Set([...Object.keys(want), ...Object.keys(have)])) {
      if (want[key] !== have[key]) diffs.push(`${table}.${key} is ${have[key] ?? 'missing'} in the addon, ${want[key] ?? 'missing'} here`);
    }
  }
  if (diffs.length > 0) throw new Error(`frechet layout mismatch between the addon and src/backends/native/frechet.ts: ${diffs.join('; ')}`);
}

/** The addon's frechet entry points, typed; throws when one is missing or the code tables disagree. */
export function frechetAddon(addon: NativeAddon): NativeAddon & NativeFrechetKernels {
  const fr = familyExports<NativeFrechetKernels>(addon, 'frechet', FRECHET_EXPORTS);
  checkFrechetLayout(fr.frechetLayout());
  return fr;
}

/**
 * Target wall time of one synchronous slice: the event loop waits about this long at most, unless a
 * slice of MIN_SLICE_LABELS labels takes longer (B = 1024, K = 1000: ~15 ms on two cores). A slice is a
 * whole number of tiles per thread, so no thread idles at its end for want of a tile.
 */
export const SLICE_MS = 40;

/**
 * At least this many labels per slice: each slice starts a thread team, sets up a top-k per thread and
 * merges them (B·threads·topk pairs), which then stays small next to the slice's 2·B·K flops per label.
 */
export const MIN_SLICE_LABELS = 2048;

export interface FrechetRunOptions {
  readonly threads: number;
  readonly engine?: FrechetEngine;
  /** SLICE_MS and MIN_SLICE_LABELS by default (tests lower them to cut a call into many slices). */
  readonly sliceMs?: number;
  readonly minSliceLabels?: number;
}

/**
 * Runs one frechetTopk in slices of whole tiles (see the top of this file). W is screened by the first
 * slice, M's labels by the slice that scores them; the first slice that flags a value ends the call.
 */
export async function nativeFrechetTopk(fr: NativeFrechetKernels, a: FrechetTopkArgs, ctl: KernelControl, opts: FrechetRunOptions): Promise<FrechetScreenReport | void> {
  const { W, B, K, M, N, layout, bias, labelOffset, topk, labels, scores } = a;
  const screenW = a.screenW === true;
  const screenM = a.screenM === true;
  const engine = FRECHET_ENGINE_CODES[opts.engine ?? 'auto'];
  const code = FRECHET_LAYOUT_CODES[layout];
  const sliceMs = opts.sliceMs ?? SLICE_MS;
  const plan = fr.frechetPlan(B, K, N, W instanceof Float32Array ? 'f32' : 'f64', engine, opts.threads);
  const team = Math.max(1, plan.threads);
  const tilesOf = (lo: number, hi: number): number => Math.ceil(hi / plan.tile) - Math.floor(lo / plan.tile);
  // Whole rounds of tiles (one per thread), never fewer than MIN_SLICE_LABELS labels.
  const fewest = Math.max(1, Math.ceil(Math.ceil((opts.minSliceLabels ?? MIN_SLICE_LABELS) / plan.tile) / team)) * team;
  // The first slice must hold topk labels (nothing to merge with yet); later ones are sized by the time
  // tiles took so far.
  let perSlice = fewest;
  let msPerTile = 0;
  for (let lo = 0; ; ) {
    let hi = Math.min(N, lo + perSlice * plan.tile);
    if (lo === 0) hi = Math.min(N, Math.max(hi, Math.ceil(topk / plan.tile) * plan.tile));
    const t0 = performance.now();
    const bad = fr.frechetTopk(W, B, K, M, N, code, bias, labelOffset, topk, labels, scores, lo, hi, lo > 0, opts.threads, engine, screenW && lo === 0, screenM);
    if (bad >= 0) return { screened: true, bad: true };
    const ms = (performance.now() - t0) / tilesOf(lo, hi);
    msPerTile = msPerTile === 0 ? ms : 0.5 * (msPerTile + ms);
    perSlice = Math.max(fewest, Math.floor(sliceMs / Math.max(msPerTile, 1e-3) / team) * team);
    lo = hi;
    if (lo >= N) return screenW || screenM ? { screened: true, bad: false } : undefined;
    throwIfAborted(ctl.signal);
    await yieldToLoop();
    throwIfAborted(ctl.signal);
  }
}

/** The frechet family's native kernel, f32 and f64; `slicing` as in FrechetRunOptions (tests shorten it). */
export function frechetKernels({ addon, threads }: NativeHandle, slicing: Pick<FrechetRunOptions, 'sliceMs' | 'minSliceLabels'> = {}): AnyKernel[] {
  const fr = frechetAddon(addon);
  return [
    kernel({
      op: 'frechetTopk',
      dtypes: ['f32', 'f64'],
      run: (args, ctl) => guarded(() => nativeFrechetTopk(fr, args, ctl, { ...slicing, threads })),
    }),
    kernel({
      op: 'frechetBarycenters',
      dtypes: ['f32', 'f64'],
      run: (a) => guarded(() => fr.frechetBarycenters(a.P, a.B, a.K, a.E, a.dim, a.norms, a.rowSums, a.W, a.shift, threads)),
    }),
  ];
}
