/**
 * The sketch family (src/sketch/ops.ts) on the native backend: C++ kernels in native/src/sketch through
 * bindings/sketch.cc, f32 and f64 inputs, all arithmetic in f64.
 *
 * The passes over A run on the calling thread, on the caller's arrays (no async copy of a possibly huge
 * A), in slices with the event loop turning between them:
 * - sketchApply in row slices of a few milliseconds of work: each SA entry is summed over rows in
 *   increasing order inside a slice and the slices accumulate in row order, so the result is bit for bit
 *   the one call's (and the oracle's for the bit-exact kinds on exact data); the SRHT is cut at its
 *   permutation blocks; the scale is applied once, by the last slice.
 * - sketchResidual in slices aligned to SUM_BLOCK, carrying the running sum of block sums: the oracle's
 *   exact order.
 * - sketchLsqr and sketchIterate as resumable native loops whose whole state lives in arrays owned here,
 *   run for about SLICE_SECONDS per call: the iterates do not depend on where the slices fall.
 * Each slice is a complete addon call that re-checks its arguments, so an array detached or resized in
 * between is an error, never a stale pointer; sketchKaczmarz and sketchProject run the same way. sketchQr
 * runs on the libuv pool (on copies) when large, synchronously otherwise.
 */
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import { throwIfAborted } from '../../core/errors.js';
import { SUM_BLOCK } from '../../core/operator.js';
import { giveBack, takeZeroed } from '../../core/scratch.js';
import type { FloatArray } from '../../core/types.js';
import {
  isCsr, SKETCH_KIND_CODES, SKETCH_STREAMS, SRHT_FEISTEL_ROUNDS, operandCols, operandRows,
  type SketchApplyArgs, type SketchIterateArgs, type SketchKaczmarzArgs, type SketchLoopOutcome,
  type SketchLoopStop, type SketchLsqrArgs, type SketchOperand, type SketchOperator, type SketchProjectArgs,
  type SketchApplyOutcome, type SketchGramArgs, type SketchGramOutcome, type SketchQrArgs, type SketchRefineArgs, type SketchSolveOutcome,
} from '../../sketch/ops.js';
import { guarded } from '../addon/errors.js';
import { familyExports, type NativeAddon } from '../addon/load.js';
import type { NativeHandle } from './index.js';
import { yieldToLoop } from './slices.js';

/** Stop codes of native/include/numkern/sketch_loops.hpp (SketchStop); 0 = running. */
export const SKETCH_STOP_CODES: readonly (SketchLoopStop | null)[] = [null, 'compatible', 'least-squares', 'converged', 'max-iterations', 'breakdown'];
const LSQR_SCALARS = 12;
const ITERATE_SCALARS = 8;
const GRAM_SCALARS = 4;
const REFINE_SCALARS = 8;
/** Kaczmarz and sketch-and-project state (native/include/numkern/sketch_loops.hpp, SketchRowSlot). */
const ROW_SCALARS = 4;
const ROW = { done: 0, converged: 2, residual: 3 } as const;
/** Multiply-adds per apply slice: a few milliseconds. */
export const APPLY_SLICE = 1 << 24;
/** Elements of A per slice of the residual and of Kaczmarz's row table. */
export const RESIDUAL_SLICE = 1 << 23;
/** Seconds a loop call runs before the event loop gets a turn (at least one step). */
export const SLICE_SECONDS = 0.05;
/** From this many elements of SA, the QR goes to the libuv pool. */
const ASYNC_CUTOFF = 1e5;
/**
 * LAPACK's dgeqp3 for sketchQr from this many rows·cols² (where its blocking pays; below it the built-in
 * QR, a port of the oracle's that reproduces its bits, so iteration counts match js exactly on small
 * problems — iterative sketching's stopping rule is sensitive to R's last bits). NUMKERN_SKETCH_LAPACK=0
 * never uses LAPACK, =1 always does.
 */
export const LAPACK_MIN_WORK = 2 ** 24;
const lapackFor = (rows: number, cols: number): boolean => {
  const env = process.env.NUMKERN_SKETCH_LAPACK;
  return env === '0' ? false : env === '1' ? true : rows * cols * cols >= LAPACK_MIN_WORK;
};

interface NativeSketchLayout {
  streams: Record<string, number>;
  feistelRounds: number;
  sumBlock: number;
  lsqrScalars: number;
  iterateScalars: number;
  gramScalars: number;
  refineScalars: number;
  rowScalars: number;
  lapack: boolean;
}

type Obj = SketchOperand;
interface NativeSketchKernels {
  sketchApply(kind: number, m: number, s: number, key0: number, key1: number, scale: number, N: number, B: number, sample: Uint32Array | null,
    A: Obj, rowOffset: number, b: FloatArray | null, SA: Float64Array, Sb: Float64Array | null, accumulate: boolean, applyScale: boolean, threads: number,
    limit: number): number;
  sketchQr(M: Float64Array, rows: number, cols: number, rhs: Float64Array | null, R: Float64Array, perm: Int32Array, rcond: number, lapack: boolean, threads: number): number;
  sketchQrAsync(M: Float64Array, rows: number, cols: number, rhs: Float64Array | null, R: Float64Array, perm: Int32Array, rcond: number, lapack: boolean, threads: number): Promise<number>;
  sketchResidualSq(A: Obj, b: FloatArray, x: Float64Array, acc: number, threads: number): number;
  sketchRowCdf(A: Obj, cdf: Float64Array, acc: number, threads: number): number;
  sketchLsqrRun(A: Obj, b: FloatArray, R: Float64Array, perm: Int32Array, rank: number, x: Float64Array, st: Float64Array, work: Float64Array,
    atol: number, btol: number, maxIter: number, budget: number, threads: number): number;
  sketchIterateRun(A: Obj, b: FloatArray, R: Float64Array, perm: Int32Array, rank: number, x: Float64Array, st: Float64Array, work: Float64Array,
    alpha: number, beta: number, tol: number, normEst: number, condEst: number, maxIter: number, budget: number, threads: number): number;
  sketchGramWork(rows: number, cols: number, rank: number): number;
  sketchGramRun(A: Obj, b: FloatArray, R: Float64Array | null, perm: Int32Array, rank: number, G: Float64Array, c: Float64Array, st: Float64Array,
    work: Float64Array, blas: boolean, f32: boolean, budget: number, threads: number): number;
  sketchRefineRun(A: Obj, b: FloatArray, R: Float64Array | null, perm: Int32Array, rank: number, U: Float64Array, x: Float64Array, st: Float64Array,
    work: Float64Array, tol: number, normEst: number, condEst: number, maxIter: number, budget: number, threads: number): number;
  sketchKaczmarzRun(A: Obj, b: FloatArray, x: Float64Array, block: number, rowCdf: Float64Array, key0: number, key1: number, target: number,
    maxIter: number, checkEvery: number, st: Float64Array, work: Float64Array, budget: number, threads: number): number;
  sketchProjectRun(kind: number, m: number, s: number, key0: number, key1: number, scale: number, A: Obj, b: FloatArray, x: Float64Array,
    target: number, maxIter: number, st: Float64Array, work: Float64Array, budget: number, threads: number): number;
  sketchLayout(): NativeSketchLayout;
}

const SKETCH_EXPORTS = ['sketchApply', 'sketchQr', 'sketchQrAsync', 'sketchResidualSq', 'sketchRowCdf', 'sketchLsqrRun', 'sketchIterateRun', 'sketchGramWork',
  'sketchGramRun', 'sketchRefineRun', 'sketchKaczmarzRun', 'sketchProjectRun', 'sketchLayout'] as const;

type SketchAddon = NativeAddon & NativeSketchKernels;

/** The addon's tables against src/sketch/ops.ts: a mismatch costs the family on native, not the addon. */
function checkLayout(layout: NativeSketchLayout): void {
  const bad: string[] = [];
  for (const [name, id] of Object.entries(SKETCH_STREAMS)) {
    if (name === 'srhtSample') continue; // drawn by the façade
    if (layout.streams[name] !== id) bad.push(`stream ${name}: native ${layout.streams[name]}, ops.ts ${id}`);
  }
  if (layout.feistelRounds !== SRHT_FEISTEL_ROUNDS) bad.push(`feistel rounds ${layout.feistelRounds} ≠ ${SRHT_FEISTEL_ROUNDS}`);
  if (layout.sumBlock !== SUM_BLOCK) bad.push(`sum block ${layout.sumBlock} ≠ ${SUM_BLOCK}`);
  if (layout.lsqrScalars !== LSQR_SCALARS || layout.iterateScalars !== ITERATE_SCALARS || layout.gramScalars !== GRAM_SCALARS ||
    layout.refineScalars !== REFINE_SCALARS || layout.rowScalars !== ROW_SCALARS) bad.push('loop state slots differ');
  if (bad.length) throw new Error(`native sketch tables differ from src/sketch/ops.ts (stale build? run npm run rebuild:native): ${bad.join('; ')}`);
}

/** Rows [lo, hi) of A as an operand of its own (CSR keeps absolute row pointers). */
function rowSlice(A: SketchOperand, lo: number, hi: number): SketchOperand {
  const n = operandRows(A);
  if (lo === 0 && hi === n) return A;
  if (isCsr(A)) return { nrows: hi - lo, ncols: A.ncols, rowPtr: A.rowPtr.subarray(lo, hi + 1), colIdx: A.colIdx, values: A.values };
  return { rows: hi - lo, cols: A.cols, data: A.data.subarray(lo * A.cols, hi * A.cols) as FloatArray };
}

const vecSlice = (b: FloatArray, lo: number, hi: number, n: number): FloatArray => (lo === 0 && hi === n ? b : (b.subarray(lo, hi) as FloatArray));

/** Per-row cost of a sketch in multiply-adds per column. */
function rowCost(S: SketchOperator): number {
  if (S.kind === 'gaussian') return 8 * S.m;
  if (S.kind === 'rademacher') return S.m;
  // The one-pass SRHT (native/src/sketch/srht.cc, srht_blocks.cc): log₂L butterflies per row, then m adds per L rows,
  // each instruction on eight columns (a panel row): counted per scalar, a 4096-row block of 200 columns
  // made a slice of its own, 49 calls for 200000 rows, each re-reading SA (36 against 24 ms).
  if (S.kind === 'srht') { const L = Math.min(S.srht!.B, 4096); return (Math.log2(L) + S.m / L + 1) / 8; }
  return S.nnzPerCol;
}

/**
 * S·A in slices; with args.screen a dense A is screened in the same pass (CSR is not: `screened` false),
 * and the first slice that finds a bad element ends the call.
 */
async function apply(sk: SketchAddon, threads: number, args: SketchApplyArgs): Promise<SketchApplyOutcome> {
  const { S, A, rowOffset, b, SA, Sb } = args;
  const limit = args.screen ?? 0;
  const screened = limit > 0 && !isCsr(A);
  const n = operandRows(A);
  const d = operandCols(A);
  const code = SKETCH_KIND_CODES[S.kind];
  const N = S.srht?.N ?? 0;
  const B = S.srht?.B ?? 0;
  const sample = S.srht?.sample ?? null;
  let per = Math.max(1, Math.floor(APPLY_SLICE / Math.max(1, d * rowCost(S))));
  const cuts: number[] = [0];
  if (S.kind === 'srht') {
    // Cut only at the permutation blocks (each block's FWHT is whole).
    const blocksPer = Math.max(1, Math.floor(per / B));
    per = blocksPer * B;
    for (let g = (Math.floor(rowOffset / B) + blocksPer) * B; g < rowOffset + n; g += per) cuts.push(g - rowOffset);
  } else {
    for (let i = per; i < n; i += per) cuts.push(i);
  }
  cuts.push(n);
  for (let c = 0; c + 1 < cuts.length; c++) {
    const lo = cuts[c]!;
    const hi = cuts[c + 1]!;
    const last = c + 2 === cuts.length;
    const bad = sk.sketchApply(code, S.m, S.nnzPerCol, S.key0, S.key1, S.scale, N, B, sample, rowSlice(A, lo, hi), rowOffset + lo,
      b ? vecSlice(b, lo, hi, n) : null, SA, Sb, c > 0, last, threads, screened ? limit : 0);
    if (bad >= 0) return { screened, badIndex: lo * d + bad };
    if (!last) await yieldToLoop();
  }
  return { screened, badIndex: -1 };
}

/** acc = step(lo, hi, acc) over the row slices [lo, hi) of `per` rows from 0, the event loop turning between them. */
async function overRowSlices(n: number, per: number, step: (lo: number, hi: number, acc: number) => number): Promise<number> {
  let acc = 0;
  for (let lo = 0; ; lo += per) {
    const hi = Math.min(n, lo + per);
    acc = step(lo, hi, acc);
    if (hi >= n) return acc;
    await yieldToLoop();
  }
}

/** ‖b − A x‖₂ in the oracle's order, in SUM_BLOCK-aligned slices. */
async function residual(sk: SketchAddon, threads: number, A: SketchOperand, b: FloatArray, x: Float64Array): Promise<number> {
  const n = operandRows(A);
  const per = SUM_BLOCK * Math.max(1, Math.floor(RESIDUAL_SLICE / (Math.max(1, operandCols(A)) * SUM_BLOCK)));
  return Math.sqrt(await overRowSlices(n, per, (lo, hi, acc) => sk.sketchResidualSq(rowSlice(A, lo, hi), vecSlice(b, lo, hi, n), x, acc, threads)));
}

/** Kaczmarz's row table in row slices, each continuing the running sum where the one before ended. */
async function rowCdf(sk: SketchAddon, threads: number, A: SketchOperand, cdf: Float64Array): Promise<void> {
  const per = Math.max(1, Math.floor(RESIDUAL_SLICE / Math.max(1, operandCols(A))));
  await overRowSlices(operandRows(A), per, (lo, hi, acc) => sk.sketchRowCdf(rowSlice(A, lo, hi), cdf.subarray(lo, hi), acc, threads));
}

async function qr(sk: SketchAddon, threads: number, { M, rows, cols, rhs, R, perm, rcond }: SketchQrArgs): Promise<{ rank: number }> {
  const rank = rows * cols >= ASYNC_CUTOFF
    ? await sk.sketchQrAsync(M, rows, cols, rhs, R, perm, rcond, lapackFor(rows, cols), threads)
    : sk.sketchQr(M, rows, cols, rhs, R, perm, rcond, lapackFor(rows, cols), threads);
  return { rank };
}

function stopOf(code: number): SketchLoopStop {
  return SKETCH_STOP_CODES[code] ?? 'breakdown';
}

/**
 * Runs a resumable native loop to its end: slice(st, work) advances it for about SLICE_SECONDS from its state
 * (st, `scalars` slots; work, a kept work array of workLength, given back once the loop is done) and
 * returns nonzero when done. Between slices the AbortSignal is honoured, progress reported from the state's
 * [iteration, residual] slots (none when progressAt is null) and the event loop turns.
 */
async function sliced(scalars: number, workLength: number, ctl: KernelControl, progressAt: readonly [number, number] | null,
  slice: (st: Float64Array, work: Float64Array) => number): Promise<{ st: Float64Array; done: number }> {
  const st = new Float64Array(scalars);
  const work = takeZeroed(workLength);
  for (;;) {
    throwIfAborted(ctl.signal);
    const done = slice(st, work);
    if (done) {
      giveBack(work);
      return { st, done };
    }
    if (progressAt) ctl.onProgress?.({ iteration: st[progressAt[0]]!, residualNorm: st[progressAt[1]]! });
    await yieldToLoop();
  }
}

async function lsqr(sk: SketchAddon, threads: number, args: SketchLsqrArgs, ctl: KernelControl): Promise<SketchLoopOutcome> {
  const { A, b, R, perm, rank, x, atol, btol, maxIter } = args;
  const { st } = await sliced(LSQR_SCALARS, operandRows(A) + 5 * rank + 2 * operandCols(A), ctl, [0, 4], (st, work) =>
    sk.sketchLsqrRun(A, b, R, perm, rank, x, st, work, atol, btol, maxIter, SLICE_SECONDS, threads));
  const residualNorm = await residual(sk, threads, A, b, x);
  return { iterations: st[0]!, stop: stopOf(st[1]!), residualNorm, arNorm: st[7]!, warmStart: st[9] === 1 };
}

async function iterate(sk: SketchAddon, threads: number, args: SketchIterateArgs, ctl: KernelControl): Promise<SketchLoopOutcome> {
  const { A, b, R, perm, rank, x, alpha, beta, tol, normEst, condEst, maxIter } = args;
  const { st } = await sliced(ITERATE_SCALARS, operandRows(A) + 3 * operandCols(A) + rank, ctl, [0, 2], (st, work) =>
    sk.sketchIterateRun(A, b, R, perm, rank, x, st, work, alpha, beta, tol, normEst, condEst, maxIter, SLICE_SECONDS, threads));
  const residualNorm = await residual(sk, threads, A, b, x);
  return { iterations: st[0]!, stop: stopOf(st[1]!), residualNorm };
}

/**
 * The Gram pass of 'sketch-cholesky' as a resumable native pass (its slab accumulators live in `work`),
 * in slices of SLICE_SECONDS. OpenBLAS's dsyrk (ssyrk under allowF32) where linked unless
 * NUMKERN_SKETCH_LAPACK=0.
 */
async function gram(sk: SketchAddon, threads: number, args: SketchGramArgs, ctl: KernelControl): Promise<SketchGramOutcome> {
  const { A, b, R, perm, rank, G, c, allowF32 } = args;
  const blas = process.env.NUMKERN_SKETCH_LAPACK !== '0';
  const { done } = await sliced(GRAM_SCALARS, sk.sketchGramWork(operandRows(A), operandCols(A), rank), ctl, null, (st, work) =>
    sk.sketchGramRun(A, b, R, perm, rank, G, c, st, work, blas, allowF32, SLICE_SECONDS, threads));
  return { f32: done === 2 };
}

/** The refinement loop of 'sketch-cholesky'; its last pass's residual is the result's (no extra pass). */
async function refine(sk: SketchAddon, threads: number, args: SketchRefineArgs, ctl: KernelControl): Promise<SketchLoopOutcome> {
  const { A, b, R, U, perm, rank, x, tol, normEst, condEst, maxIter } = args;
  const { st } = await sliced(REFINE_SCALARS, operandRows(A) + operandCols(A) + rank, ctl, [0, 2], (st, work) =>
    sk.sketchRefineRun(A, b, R, perm, rank, U, x, st, work, tol, normEst, condEst, maxIter, SLICE_SECONDS, threads));
  return { iterations: st[0]!, stop: stopOf(st[1]!), residualNorm: st[2]! };
}

/**
 * Kaczmarz and sketch-and-project run on the caller's arrays in slices too (iteration t draws its rows or
 * sketch from Philox at counter t, so the slices change nothing). On the libuv pool they would work on a
 * copy of A: for a dense 200000 × 200 A, 320 MB and ~79 000 fresh pages a call, about a second, where 2000
 * projections and two residual passes take tens of milliseconds.
 */
function rowOutcome({ st }: { st: Float64Array }): SketchSolveOutcome {
  return { iterations: st[ROW.done]!, converged: st[ROW.converged] === 1, residualNorm: st[ROW.residual]! };
}

async function kaczmarz(sk: SketchAddon, threads: number, a: SketchKaczmarzArgs, ctl: KernelControl): Promise<SketchSolveOutcome> {
  const n = operandRows(a.A);
  return rowOutcome(await sliced(ROW_SCALARS, a.block === 1 ? 2 * n : n, ctl, [ROW.done, ROW.residual], (st, work) =>
    sk.sketchKaczmarzRun(a.A, a.b, a.x, a.block, a.rowCdf, a.key0, a.key1, a.target, a.maxIter, a.checkEvery, st, work, SLICE_SECONDS, threads)));
}

async function project(sk: SketchAddon, threads: number, a: SketchProjectArgs, ctl: KernelControl): Promise<SketchSolveOutcome> {
  const S = a.S;
  return rowOutcome(await sliced(ROW_SCALARS, operandRows(a.A), ctl, [ROW.done, ROW.residual], (st, work) =>
    sk.sketchProjectRun(SKETCH_KIND_CODES[S.kind], S.m, S.nnzPerCol, S.key0, S.key1, S.scale, a.A, a.b, a.x, a.target, a.maxIter,
      st, work, SLICE_SECONDS, threads)));
}

export function sketchAddon(addon: NativeAddon): SketchAddon {
  const sk = familyExports<NativeSketchKernels>(addon, 'sketch', SKETCH_EXPORTS);
  checkLayout(sk.sketchLayout());
  return sk;
}

/** The sketch family's native kernels: every op of src/sketch/ops.ts, f32 and f64 in (sketchQr f64), f64 arithmetic. */
export function sketchKernels({ addon, threads }: NativeHandle): AnyKernel[] {
  const sk = sketchAddon(addon);
  const BOTH = ['f32', 'f64'] as const;
  return [
    kernel({ op: 'sketchApply', dtypes: BOTH, run: (args) => guarded(() => apply(sk, threads, args)) }),
    kernel({ op: 'sketchQr', dtypes: ['f64'], run: (args) => guarded(() => qr(sk, threads, args)) }),
    kernel({ op: 'sketchResidual', dtypes: BOTH, run: ({ A, b, x }) => guarded(() => residual(sk, threads, A, b, x)) }),
    kernel({ op: 'sketchLsqr', dtypes: BOTH, run: (args, ctl) => guarded(() => lsqr(sk, threads, args, ctl)) }),
    kernel({ op: 'sketchIterate', dtypes: BOTH, run: (args, ctl) => guarded(() => iterate(sk, threads, args, ctl)) }),
    kernel({ op: 'sketchGram', dtypes: BOTH, run: (args, ctl) => guarded(() => gram(sk, threads, args, ctl)) }),
    kernel({ op: 'sketchRefine', dtypes: BOTH, run: (args, ctl) => guarded(() => refine(sk, threads, args, ctl)) }),
    kernel({ op: 'sketchRowCdf', dtypes: BOTH, run: ({ A, cdf }) => guarded(() => rowCdf(sk, threads, A, cdf)) }),
    kernel({ op: 'sketchKaczmarz', dtypes: BOTH, run: (args, ctl) => guarded(() => kaczmarz(sk, threads, args, ctl)) }),
    kernel({ op: 'sketchProject', dtypes: BOTH, run: (args, ctl) => guarded(() => project(sk, threads, args, ctl)) }),
  ];
}
