/**
 * ctx.sketch.kaczmarz and ctx.sketch.sketchAndProject: randomized row-action solvers for consistent
 * systems A x = b (square, tall, or wide, where they converge to the solution nearest x0). Both loops
 * are kernels (src/sketch/ops.ts); this file validates, resolves defaults and judges the result
 * (docs/sketch.md §7).
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { seedToKey } from '../core/philox.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { BackendName, FloatArray } from '../core/types.js';
import { checkIntegerInRange, describe } from '../core/validate.js';
import type { SketchKind, SketchOperand } from './ops.js';
import { checkKind, checkSeed, resolveSketch } from './spec.js';
import { checkMaxIter, checkOperand, checkStart, checkTol, checkVector, given } from './validate.js';

export interface RowActionOptions extends OpOptions {
  /** Seed of the random draws (default 0). */
  seed?: number | bigint;
  /** Stop when ‖b − A x‖₂ ≤ tol·‖b‖₂ (default 1e-8). */
  tol?: number;
  /** Start (default zeros); not modified. */
  x0?: FloatArray;
}

export interface KaczmarzOptions extends RowActionOptions {
  /** Rows per projection (default 1: randomized Kaczmarz; more: block Kaczmarz with x += A_τ⁺ r_τ). */
  block?: number;
  /** Projections (default 100 sweeps: 100·⌈n/block⌉). */
  maxIter?: number;
  /** Test the residual every k projections (default one sweep, ⌈n/block⌉: a test costs a pass over A). */
  checkEvery?: number;
}

export interface SketchAndProjectOptions extends RowActionOptions {
  /** The per-iteration sketch (default 'countsketch'; not 'srht', whose row sample would be redrawn every step). */
  sketch?: Exclude<SketchKind, 'srht'>;
  /** Rows of each S_t (default min(n, ⌈d/2⌉)). */
  q?: number;
  /** sparse-sign nonzeros per column (default min(8, q)). */
  nnzPerCol?: number;
  /** Iterations (default 1000); each reads A once. */
  maxIter?: number;
}

export interface RowActionResult {
  x: Float64Array;
  /** Projections (Kaczmarz) or sketch-and-project steps. */
  iterations: number;
  /** ‖b − A x‖₂ ≤ tol·‖b‖₂ for the returned x. */
  converged: boolean;
  residualNorm: number;
  backend: BackendName;
  seconds: number;
}

function common(A: SketchOperand, b: unknown, o: Partial<RowActionOptions>) {
  const finite = o.checkFinite !== false;
  const op = checkOperand(A, 'A', { checkFinite: finite, magnitude: true });
  const vb = checkVector(b, op.rows, op.dtype, 'b', { checkFinite: finite, magnitude: true });
  if (op.rows < 1 || op.cols < 1) fail('E_RANGE', 'A', `is ${op.rows}×${op.cols}; needs at least one row and one column`);
  const x0 = given<FloatArray>(o, 'x0');
  const x = x0 === undefined ? new Float64Array(op.cols) : checkStart(x0, op.cols, 'options.x0');
  const seedOpt = given<number | bigint>(o, 'seed');
  const seed = seedOpt === undefined ? 0 : checkSeed(seedOpt, 'options.seed');
  const tolOpt = given<number>(o, 'tol');
  const tol = tolOpt === undefined ? 1e-8 : checkTol(tolOpt, 'options.tol');
  let bsq = 0;
  for (let i = 0; i < vb.length; i++) bsq += vb[i]! * vb[i]!;
  return { op, b: vb, x, seed, target: tol * Math.sqrt(bsq) };
}

export async function kaczmarz(engine: Engine, A: SketchOperand, b: unknown, options?: KaczmarzOptions): Promise<RowActionResult> {
  const t0 = performance.now();
  const o = checkOpOptions<KaczmarzOptions>(options);
  const { op, b: vb, x, seed, target } = common(A, b, o);
  const n = op.rows;
  const blockOpt = given<number>(o, 'block');
  const block = blockOpt === undefined ? 1 : checkIntegerInRange(blockOpt, 1, n, 'options.block');
  const sweep = Math.ceil(n / block);
  const maxOpt = given<number>(o, 'maxIter');
  const maxIter = maxOpt === undefined ? 100 * sweep : checkMaxIter(maxOpt, 'options.maxIter');
  const ceOpt = given<number>(o, 'checkEvery');
  const checkEvery = ceOpt === undefined ? sweep : checkIntegerInRange(ceOpt, 1, 2 ** 31 - 1, 'options.checkEvery');
  // Row probabilities ‖a_i‖²/‖A‖_F², as running sums in row order: every backend draws from this table.
  // Made by whichever backend runs the op best (never strict: the loop's backend need not have it).
  const M = op.A;
  const rowCdf = new Float64Array(n);
  await engine.run('sketchRowCdf', { A: M, cdf: rowCdf }, { ...o, strict: false, dtype: op.dtype, size: op.size });
  if (!(rowCdf[n - 1]! > 0)) fail('E_RANGE', 'A', 'is zero: Kaczmarz samples rows by their norms');
  const [key0, key1] = seedToKey(seed);
  const r = await engine.run(
    'sketchKaczmarz',
    { A: M, b: vb, x, block, rowCdf, key0: key0!, key1: key1!, target, maxIter, checkEvery },
    { ...o, dtype: op.dtype, size: op.size },
  );
  return { x, ...r.value, backend: r.backend, seconds: (performance.now() - t0) / 1e3 };
}

export async function sketchAndProject(engine: Engine, A: SketchOperand, b: unknown, options?: SketchAndProjectOptions): Promise<RowActionResult> {
  const t0 = performance.now();
  const o = checkOpOptions<SketchAndProjectOptions>(options);
  const { op, b: vb, x, seed, target } = common(A, b, o);
  const kindOpt = given<SketchKind>(o, 'sketch');
  const kind = kindOpt === undefined ? 'countsketch' : checkKind(kindOpt, 'options.sketch');
  if (kind === 'srht') fail('E_RANGE', 'options.sketch', `'srht' redraws its row sample every step; use gaussian, rademacher, countsketch or sparse-sign`);
  const qOpt = given<number>(o, 'q');
  const q = qOpt === undefined ? Math.min(op.rows, Math.max(1, Math.ceil(op.cols / 2))) : checkIntegerInRange(qOpt, 1, op.rows, 'options.q');
  const maxOpt = given<number>(o, 'maxIter');
  const maxIter = maxOpt === undefined ? 1000 : checkMaxIter(maxOpt, 'options.maxIter');
  const nnz = given<number>(o, 'nnzPerCol');
  if (nnz !== undefined && kind !== 'sparse-sign' && kind !== 'countsketch') fail('E_RANGE', 'options.nnzPerCol', `applies to sparse sketches, not ${describe(kind)}`);
  const { S } = resolveSketch({ kind, m: q, nnzPerCol: nnz, seed }, op.rows, 'options', 'sketch');
  const r = await engine.run('sketchProject', { A: op.A, b: vb, x, S, target, maxIter }, { ...o, dtype: op.dtype, size: op.size });
  return { x, ...r.value, backend: r.backend, seconds: (performance.now() - t0) / 1e3 };
}
