/**
 * ctx.sketch.lstsq: min ‖A x − b‖₂ for tall A by sketch-and-solve, sketch-and-precondition (QR of SA,
 * LSQR on A·R⁻¹ warm-started from sketch-and-solve), iterative sketching with momentum, or a Householder
 * QR of A itself (docs/sketch.md §4). The orchestration is here; each step is an op (src/sketch/ops.ts),
 * so the sketch, the factorization and the loop may each run on the backend best placed for it.
 */
import type { Engine } from '../core/engine.js';
import { giveBack, takeZeroed } from '../core/scratch.js';
import { fail } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { BackendName, FloatArray } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../core/validate.js';
import { isCsr, SPARSE_KINDS, type SketchKind, type SketchLoopOutcome, type SketchOperand } from './ops.js';
import {
  basicSolution, cholesky, CHOLESKY_SKETCH_RATIO, EPS, fullPrecisionSketchSize, GRAM_DIRECT_MAX_COND, GRAM_F32_MAX_COND, gramSolution, scaledCondition, triangularEstimates,
} from './host.js';
import { checkKind, checkSeed, resolveSketch, type SketchDescription } from './spec.js';
import { checkMaxIter, checkOperandShape, checkOperandValues, checkTol, checkVector, given, MAX_MAGNITUDE, type CheckedOperand } from './validate.js';

export type LstsqMethod = 'sketch-and-solve' | 'sketch-and-precondition' | 'iterative-sketching' | 'sketch-cholesky' | 'qr';
export const LSTSQ_METHODS: readonly LstsqMethod[] = ['sketch-and-solve', 'sketch-and-precondition', 'iterative-sketching', 'sketch-cholesky', 'qr'];

export interface LstsqOptions extends OpOptions {
  /** Default 'sketch-and-precondition'. */
  method?: LstsqMethod;
  /** The sketch kind (default 'sparse-sign'; 'srht' under guarantee 'linf'). Not used by 'qr'. */
  sketch?: SketchKind;
  /** Sketch rows, d ≤ m ≤ max(n, d): a sketch taller than A compresses nothing (defaults: docs/sketch.md §4.4). */
  m?: number;
  /** sparse-sign nonzeros per column (default 8). */
  nnzPerCol?: number;
  /** Sketch seed (default 0). */
  seed?: number | bigint;
  /** sketch-and-precondition: LSQR's atol = btol (default 1e-14); iterative-sketching, sketch-cholesky: the ε of Epperly's stopping rule (default 2⁻⁵²). */
  tol?: number;
  /** Default 1000 (LSQR), 100 (iterative sketching) or 20 (sketch-cholesky's refinement steps). */
  maxIter?: number;
  /** Rank threshold: r = #{leading |R_jj| > rcond·|R_00|}; default ε·max(n, d) (LAPACK's and NumPy's convention). */
  rcond?: number;
  /** 'linf': sketch-and-solve with a dense sketch sized for the ℓ∞ target (docs/sketch.md §5). Default 'l2'. */
  guarantee?: 'l2' | 'linf';
  /** The ℓ∞ mode's ε (default 0.25): m = ⌈d/ε²⌉ unless m is given. */
  epsilon?: number;
}

export type LstsqStopReason =
  /** A direct solve (sketch-and-solve, 'qr') on a full-rank factor. */
  | 'direct'
  /** The iteration met its tolerance. */
  | 'converged'
  | 'max-iterations'
  /** Iterative sketching grew the residual (a preconditioner too weak for its momentum); x is its best iterate. */
  | 'breakdown'
  /** R has numerical rank r < d: x is the basic solution on the r independent pivot columns (the others 0). */
  | 'rank-deficient';

export interface LstsqResult {
  x: Float64Array;
  /** ‖b − A x‖₂ of the returned x, in f64. */
  residualNorm: number;
  iterations: number;
  method: LstsqMethod;
  /** Numerical rank of R (of SA for the sketching methods, of A for 'qr'). */
  rank: number;
  stopReason: LstsqStopReason;
  /** The direct solve finished, or the iteration met its tolerance (also on the rank-deficient basic problem). */
  converged: boolean;
  sketch: SketchDescription | null;
  /** Things a user should act on (rank deficiency, Epperly's ill-conditioning warning). */
  warnings: string[];
  /** The backend of the dominant step (the loop, the sketch of sketch-and-solve, the QR of 'qr'); `backends` has each step's. */
  backend: BackendName;
  backends: Partial<Record<'apply' | 'qr' | 'gram' | 'solve' | 'residual', BackendName>>;
  seconds: number;
}

interface LstsqConfig {
  method: LstsqMethod;
  kind: SketchKind;
  m: number;
  nnzPerCol: number | undefined;
  seed: number | bigint;
  tol: number;
  maxIter: number;
  rcond: number;
  guarantee: 'l2' | 'linf';
}

function defaultM(method: LstsqMethod, guarantee: 'l2' | 'linf', epsilon: number, n: number, d: number): number {
  if (guarantee === 'linf') return Math.max(d, Math.min(n, Math.ceil(d / (epsilon * epsilon))));
  // Sketch-and-solve: 10d puts the Gaussian residual ratio at √(1 + d/(9d − 1)) ≈ 1.054 (§3).
  if (method === 'sketch-and-solve') return Math.max(d, Math.min(n, 10 * d));
  // sketch-cholesky's R only has to make A·R⁻¹ well enough conditioned for its Gram (docs/sketch.md §4.5).
  if (method === 'sketch-cholesky') return Math.max(d, Math.min(n, CHOLESKY_SKETCH_RATIO * d));
  return fullPrecisionSketchSize(n, d);
}

function resolve(o: Partial<LstsqOptions>, n: number, d: number): LstsqConfig {
  const method = given<LstsqMethod>(o, 'method') ?? 'sketch-and-precondition';
  if (!LSTSQ_METHODS.includes(method)) fail('E_RANGE', 'options.method', `expected one of ${LSTSQ_METHODS.join(', ')}, got ${describe(method)}`);
  const guarantee = given<'l2' | 'linf'>(o, 'guarantee') ?? 'l2';
  if (guarantee !== 'l2' && guarantee !== 'linf') fail('E_RANGE', 'options.guarantee', `expected 'l2' or 'linf', got ${describe(guarantee)}`);
  if (guarantee === 'linf' && method !== 'sketch-and-solve') {
    fail('E_RANGE', 'options.guarantee', `'linf' sizes a sketch-and-solve; ${method} is accurate to rounding in every coordinate already`);
  }
  const epsOpt = given<number>(o, 'epsilon');
  if (epsOpt !== undefined && guarantee !== 'linf') fail('E_RANGE', 'options.epsilon', "applies to guarantee 'linf'");
  const epsilon = epsOpt === undefined ? 0.25 : checkFiniteNumber(epsOpt, 'options.epsilon');
  if (!(epsilon > 0 && epsilon < 1)) fail('E_RANGE', 'options.epsilon', `must be in (0, 1), got ${epsilon}`);
  const kindOpt = given<SketchKind>(o, 'sketch');
  const kind = kindOpt === undefined ? (guarantee === 'linf' ? 'srht' : 'sparse-sign') : checkKind(kindOpt, 'options.sketch');
  if (guarantee === 'linf' && SPARSE_KINDS.includes(kind)) {
    fail('E_RANGE', 'options.sketch', `${kind} cannot give an ℓ∞ guarantee (Song–Ye–Yin–Zhang 2023: dense sketches are necessary); use 'srht' or 'gaussian'`);
  }
  const mOpt = given<number>(o, 'm');
  const m = mOpt === undefined ? defaultM(method, guarantee, epsilon, n, d) : checkIntegerInRange(mOpt, 1, 2 ** 31 - 1, 'options.m');
  if (method !== 'qr' && m < d) fail('E_RANGE', 'options.m', `a sketch with m = ${m} < d = ${d} rows has rank < d: ${method} needs m ≥ d`);
  // A sketch taller than A compresses nothing, and S·A (m × d) would outgrow A itself.
  if (method !== 'qr' && m > Math.max(n, d)) fail('E_RANGE', 'options.m', `a sketch of m = ${m} rows is taller than A (${n} rows): use m ≤ ${Math.max(n, d)}, or method 'qr' to factor A itself`);
  const nnzPerCol = given<number>(o, 'nnzPerCol');
  const seedOpt = given<number | bigint>(o, 'seed');
  const seed = seedOpt === undefined ? 0 : checkSeed(seedOpt, 'options.seed');
  const tolOpt = given<number>(o, 'tol');
  const epperly = method === 'iterative-sketching' || method === 'sketch-cholesky';
  const tol = tolOpt === undefined ? (epperly ? EPS : 1e-14) : checkTol(tolOpt, 'options.tol');
  const maxOpt = given<number>(o, 'maxIter');
  const maxIter = maxOpt === undefined ? (method === 'iterative-sketching' ? 100 : method === 'sketch-cholesky' ? 20 : 1000) : checkMaxIter(maxOpt, 'options.maxIter');
  const rcOpt = given<number>(o, 'rcond');
  const rcond = rcOpt === undefined ? EPS * Math.max(n, d) : checkTol(rcOpt, 'options.rcond');
  return { method, kind, m, nnzPerCol, seed, tol, maxIter, rcond, guarantee };
}

/** A as a dense f64 copy (the factorization of 'qr' destroys its input). */
function denseCopy(op: CheckedOperand): Float64Array {
  const { A, rows, cols } = op;
  const M = new Float64Array(rows * cols);
  if (isCsr(A)) {
    for (let i = 0; i < rows; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) M[i * cols + A.colIdx[p]!] = A.values[p]!;
  } else {
    M.set(A.data);
  }
  return M;
}

type Backends = LstsqResult['backends'];

/** G's diagonal is finite and ≤ 0.99·MAX_MAGNITUDE² (then every |a_ij| ≤ MAX_MAGNITUDE, since G_jj ≥ a_ij²). */
function diagonalFinite(G: Float64Array, d: number): boolean {
  for (let j = 0; j < d; j++) if (!(G[j * d + j]! <= 0.99 * MAX_MAGNITUDE * MAX_MAGNITUDE)) return false;
  return true;
}
interface ValueChecks { checkFinite: boolean; magnitude: boolean }

/**
 * The shared first steps of the sketching methods (docs/sketch.md §4.1): SA and Sb in one pass over A,
 * A's values screened in that pass (or scanned), then the pivoted QR of SA into R and perm, Sb := QᵀSb.
 */
async function sketchAndFactor(
  engine: Engine, op: CheckedOperand, b: FloatArray, cfg: LstsqConfig, req: OpOptions & { dtype: 'f32' | 'f64'; size: number }, valueChecks: ValueChecks,
  allowF32: boolean, R: Float64Array, perm: Int32Array, backends: Backends,
): Promise<{ sketch: SketchDescription; rank: number; Sb: Float64Array }> {
  const { A, rows: n, cols: d } = op;
  const resolved = resolveSketch({ kind: cfg.kind, m: cfg.m, nnzPerCol: cfg.nnzPerCol, seed: cfg.seed }, n, 'options', 'sketch');
  const S = resolved.S;
  // SA is only read by the QR below, which keeps its own copy: taken from the kept work arrays and given back.
  const SA = takeZeroed(cfg.m * d);
  const Sb = new Float64Array(cfg.m);
  const ap = await engine.run('sketchApply', { S, A, rowOffset: 0, b, SA, Sb, allowF32, screen: MAX_MAGNITUDE }, req);
  backends.apply = ap.backend;
  // Nothing computed from A is used before its values pass: a backend that screened in its pass and
  // found a bad element (or one that did not screen) leaves the verdict to the scan, which throws the
  // E_NONFINITE / E_RANGE naming the first bad index, as it would have before the apply.
  if (!ap.value || !ap.value.screened || ap.value.badIndex >= 0) {
    checkOperandValues(op, 'A', valueChecks);
    // It passed: a NaN under checkFinite: false. The screening call stopped early, so sketch again.
    if (ap.value?.badIndex !== undefined && ap.value.badIndex >= 0) await engine.run('sketchApply', { S, A, rowOffset: 0, b, SA, Sb, allowF32 }, req);
  }
  const q = await engine.run('sketchQr', { M: SA, rows: cfg.m, cols: d, rhs: Sb, R, perm, rcond: cfg.rcond, allowF32 }, { ...req, dtype: 'f64', size: cfg.m * d });
  backends.qr = q.backend;
  giveBack(SA);
  return { sketch: resolved.description, rank: q.value.rank, Sb };
}

/**
 * Method 'sketch-cholesky' (docs/sketch.md §4.5): the Gram of A in one BLAS-3 pass; when its equilibrated
 * Cholesky factor is well enough conditioned (GRAM_DIRECT_MAX_COND) it preconditions refinement with the
 * true residual directly; otherwise a sketch gives R (and the rank, §4.1) and the Gram of A·R⁻¹ does.
 * Refinement that fails to contract finishes with LSQR on the same factor, as iterative sketching does.
 */
async function choleskyLstsq(
  engine: Engine, op: CheckedOperand, b: FloatArray, cfg: LstsqConfig, req: OpOptions & { dtype: 'f32' | 'f64'; size: number }, valueChecks: ValueChecks,
  R: Float64Array, perm: Int32Array, backends: Backends, warnings: string[],
): Promise<{ x: Float64Array; rank: number; sketch: SketchDescription | null; loop: SketchLoopOutcome }> {
  const { A, cols: d } = op;
  const G = new Float64Array(d * d);
  const c = new Float64Array(d);
  const U = new Float64Array(d * d);
  for (let j = 0; j < d; j++) perm[j] = j;
  // First the Gram of A, in f32 where the backend offers it: a factor good enough for refinement when
  // the equilibrated κ_s ≤ GRAM_F32_MAX_COND; otherwise in f64 (docs/sketch.md §4.5).
  let g = await engine.run('sketchGram', { A, b, R: null, perm, rank: d, G, c, allowF32: true }, req);
  if (g.value.f32 && !(diagonalFinite(G, d) && cholesky(G, d, U) && scaledCondition(U, d) <= GRAM_F32_MAX_COND)) {
    g = await engine.run('sketchGram', { A, b, R: null, perm, rank: d, G, c, allowF32: false }, req);
  }
  backends.gram = g.backend;
  // G_jj ≥ a_ij² for every i, so a finite diagonal below MAX_MAGNITUDE² (with a margin for its rounding)
  // proves A's values pass; otherwise the scan names the first bad element (docs/sketch.md §1).
  const clean = !g.value.f32 ? diagonalFinite(G, d) : true;
  if (!clean) checkOperandValues(op, 'A', valueChecks);
  let sketch: SketchDescription | null = null;
  let rank = d;
  let Rp: Float64Array | null = null;
  if (!g.value.f32 && !(clean && cholesky(G, d, U) && scaledCondition(U, d) <= GRAM_DIRECT_MAX_COND)) {
    const f = await sketchAndFactor(engine, op, b, cfg, req, valueChecks, false, R, perm, backends);
    sketch = f.sketch;
    rank = f.rank;
    Rp = R;
    await engine.run('sketchGram', { A, b, R, perm, rank, G: G.subarray(0, rank * rank), c: c.subarray(0, rank), allowF32: false }, req);
    if (!cholesky(G, rank, U)) {
      // A·R⁻¹ too ill-conditioned for its Gram (a sketch that is no subspace embedding for this A):
      // LSQR on R from the sketch-and-solve start, which needs no Gram.
      const x = basicSolution(R, perm, rank, f.Sb, d);
      const l = await engine.run('sketchLsqr', { A, b, R, perm, rank, x, atol: 1e-14, btol: 1e-14, maxIter: 1000 }, req);
      backends.solve = l.backend;
      warnings.push('the Gram matrix of A·R⁻¹ is not numerically positive definite (the sketch is too small for this A); solved by LSQR on R instead');
      return { x, rank, sketch, loop: l.value };
    }
  }
  const x = gramSolution(U, Rp, perm, rank, c, d);
  const { normEst, condEst } = Rp ? triangularEstimates(Rp, d, rank) : triangularEstimates(U, rank, rank);
  const Ur = U.subarray(0, rank * rank);
  const r = await engine.run('sketchRefine', { A, b, R: Rp, U: Ur, perm, rank, x, tol: cfg.tol, normEst, condEst, maxIter: cfg.maxIter }, req);
  backends.solve = r.backend;
  let loop = r.value;
  if (loop.stop === 'breakdown' || loop.stop === 'max-iterations') {
    // Refinement contracts by ‖I − (UᵀU)⁻¹BᵀB‖ per pass; when it did not, LSQR on the same factor converges for any spectrum.
    const first = loop;
    const F = Rp ?? U;
    const l = await engine.run('sketchLsqr', { A, b, R: F, perm, rank, x, atol: 1e-14, btol: 1e-14, maxIter: 1000 }, req);
    loop = { ...l.value, iterations: first.iterations + l.value.iterations };
    warnings.push(`the Cholesky refinement ${first.stop === 'breakdown' ? 'stopped contracting' : `did not converge in ${first.iterations} steps`}; finished with LSQR on the same factor (${l.value.iterations} more iterations)`);
  }
  return { x, rank, sketch, loop };
}

export async function lstsq(engine: Engine, Ain: SketchOperand, bin: unknown, options?: LstsqOptions): Promise<LstsqResult> {
  const t0 = performance.now();
  const o = checkOpOptions<LstsqOptions>(options);
  const finite = o.checkFinite !== false;
  // A's values (finite, |a| ≤ MAX_MAGNITUDE) are checked in the sketch's own pass where the backend can
  // (a JS scan of a 320 MB A costs more than the native sketch-and-solve itself); see `screened` below.
  const op = checkOperandShape(Ain, 'A');
  const valueChecks = { checkFinite: finite, magnitude: true };
  const { A, rows: n, cols: d, dtype } = op;
  const b = checkVector(bin, n, dtype, 'b', { checkFinite: finite, magnitude: true });
  if (d < 1) fail('E_RANGE', 'A', 'has no columns');
  if (n < d) fail('E_RANGE', 'A', `is ${n}×${d}: least squares here needs n ≥ d (a tall or square A)`);
  const cfg = resolve(o, n, d);
  const req = { ...o, dtype, size: op.size };
  const backends: LstsqResult['backends'] = {};
  const warnings: string[] = [];
  const R = new Float64Array(d * d);
  const perm = new Int32Array(d);
  let x: Float64Array;
  let rank: number;
  let sketch: SketchDescription | null = null;
  let loop: SketchLoopOutcome | null = null;

  if (cfg.method === 'qr') {
    checkOperandValues(op, 'A', valueChecks);
    const M = denseCopy(op);
    const rhs = Float64Array.from(b);
    const q = await engine.run('sketchQr', { M, rows: n, cols: d, rhs, R, perm, rcond: cfg.rcond, allowF32: false }, { ...o, dtype: 'f64', size: n * d });
    backends.qr = q.backend;
    rank = q.value.rank;
    x = basicSolution(R, perm, rank, rhs, d);
  } else if (cfg.method === 'sketch-cholesky') {
    const out = await choleskyLstsq(engine, op, b, cfg, req, valueChecks, R, perm, backends, warnings);
    ({ x, rank, sketch, loop } = out);
  } else {
    const f = await sketchAndFactor(engine, op, b, cfg, req, valueChecks, cfg.method === 'sketch-and-precondition', R, perm, backends);
    sketch = f.sketch;
    rank = f.rank;
    const Sb = f.Sb;
    x = basicSolution(R, perm, rank, Sb, d);
    if (cfg.method === 'sketch-and-precondition') {
      const r = await engine.run('sketchLsqr', { A, b, R, perm, rank, x, atol: cfg.tol, btol: cfg.tol, maxIter: cfg.maxIter }, req);
      backends.solve = r.backend;
      loop = r.value;
    } else if (cfg.method === 'iterative-sketching') {
      const ratio = d / cfg.m;
      const { normEst, condEst } = triangularEstimates(R, d, rank);
      const args = { A, b, R, perm, rank, x, alpha: (1 - ratio) ** 2, beta: ratio, tol: cfg.tol, normEst, condEst, maxIter: cfg.maxIter };
      const r = await engine.run('sketchIterate', args, req);
      backends.solve = r.backend;
      loop = r.value;
      if (loop.stop === 'breakdown' || loop.stop === 'max-iterations') {
        // The momentum parameters assume SA·R⁻¹'s spectrum at its Marchenko–Pastur edges, which small d
        // or m near 4d can miss (docs/sketch.md §4.3). LSQR on the same R converges for any spectrum: finish
        // with it from the best iterate rather than hand back an unconverged x.
        const first = loop;
        const l = await engine.run('sketchLsqr', { A, b, R, perm, rank, x, atol: 1e-14, btol: 1e-14, maxIter: 1000 }, req);
        loop = { ...l.value, iterations: first.iterations + l.value.iterations };
        warnings.push(
          `the momentum iteration ${first.stop === 'breakdown' ? 'diverged' : `did not converge in ${first.iterations} steps`} (m = ${cfg.m} is too close to 4d for d = ${d}); ` +
          `finished with LSQR on the same preconditioner (${l.value.iterations} more iterations)`,
        );
      }
      let bsq = 0;
      for (let i = 0; i < n; i++) bsq += b[i]! * b[i]!;
      const bnorm = Math.sqrt(bsq);
      // Epperly's warning (code/iterative_sketching.m): forward stability needs κ·u small or a small residual.
      if (condEst >= 5e-3 / EPS && loop.residualNorm >= Math.sqrt(EPS) * bnorm) {
        warnings.push(`κ(A) ≈ ${condEst.toExponential(1)} with a large residual: iterative sketching may lose digits here; sketch-and-precondition is the stable choice`);
      }
    }
  }
  let residualNorm: number;
  if (loop) {
    residualNorm = loop.residualNorm;
  } else {
    const r = await engine.run('sketchResidual', { A, b, x }, req);
    backends.residual = r.backend;
    residualNorm = r.value;
  }
  const converged = loop === null ? true : loop.stop === 'compatible' || loop.stop === 'least-squares' || loop.stop === 'converged';
  let stopReason: LstsqStopReason = loop === null ? 'direct' : converged ? 'converged' : loop.stop === 'breakdown' ? 'breakdown' : 'max-iterations';
  if (rank < d) {
    stopReason = 'rank-deficient';
    warnings.push(
      `R has numerical rank ${rank} < d = ${d} (rcond ${cfg.rcond.toExponential(1)}): x is the basic solution on ${rank} independent pivot columns. ` +
      (cfg.method === 'qr' ? 'A is rank deficient.' : `A is rank deficient, or the ${cfg.kind} sketch collided on a coherent A (docs/sketch.md §5); method 'qr' tells them apart.`),
    );
  }
  const backend = backends.solve ?? (cfg.method === 'qr' ? backends.qr : backends.apply) ?? 'js';
  return {
    x, residualNorm, iterations: loop?.iterations ?? 0, method: cfg.method, rank, stopReason, converged, sketch, warnings, backend, backends,
    seconds: (performance.now() - t0) / 1e3,
  };
}
