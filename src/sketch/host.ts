/**
 * The façade's small dense arithmetic, O(d²) on the d × d triangular factor: the back-substitution of
 * sketch-and-solve and 'qr', the norm and condition estimates iterative sketching stops on, and the
 * default sketch size. Computed once per solve on the host, so every backend's loop sees the same
 * numbers (docs/sketch.md §6).
 */

export const EPS = 2 ** -52;

/** x (length d) := P·[R₁₁⁻¹·y[0..r); 0], the basic solution on the r leading pivot columns. */
export function basicSolution(R: Float64Array, perm: Int32Array, rank: number, y: Float64Array, d: number): Float64Array {
  const t = y.slice(0, rank);
  for (let i = rank - 1; i >= 0; i--) {
    let s = t[i]!;
    for (let j = i + 1; j < rank; j++) s -= R[i * d + j]! * t[j]!;
    t[i] = s / R[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let k = 0; k < rank; k++) x[perm[k]!] = t[k]!;
  return x;
}

function upperMul(R: Float64Array, d: number, r: number, v: Float64Array, out: Float64Array): void {
  for (let i = 0; i < r; i++) {
    let s = 0;
    for (let j = i; j < r; j++) s += R[i * d + j]! * v[j]!;
    out[i] = s;
  }
}

function upperMulT(R: Float64Array, d: number, r: number, v: Float64Array, out: Float64Array): void {
  out.fill(0, 0, r);
  for (let i = 0; i < r; i++) for (let j = i; j < r; j++) out[j] += R[i * d + j]! * v[i]!;
}

export function upperSolve(R: Float64Array, d: number, r: number, v: Float64Array): void {
  for (let i = r - 1; i >= 0; i--) {
    let s = v[i]!;
    for (let j = i + 1; j < r; j++) s -= R[i * d + j]! * v[j]!;
    v[i] = s / R[i * d + i]!;
  }
}

export function upperSolveT(R: Float64Array, d: number, r: number, v: Float64Array): void {
  for (let i = 0; i < r; i++) {
    const vi = v[i]! / R[i * d + i]!;
    v[i] = vi;
    for (let j = i + 1; j < r; j++) v[j] -= R[i * d + j]! * vi;
  }
}

function normalize(v: Float64Array, r: number): number {
  let s = 0;
  for (let i = 0; i < r; i++) s += v[i]! * v[i]!;
  const nrm = Math.sqrt(s);
  if (nrm > 0) for (let i = 0; i < r; i++) v[i] = v[i]! / nrm;
  return nrm;
}

/**
 * ‖R₁₁‖₂ and κ₂(R₁₁) by power iteration on R₁₁ᵀR₁₁ and on its inverse, from a fixed start (Epperly's
 * code takes ⌈log d⌉ steps for ‖A‖ and condest for κ; estimates only scale the stopping threshold).
 */
export function triangularEstimates(R: Float64Array, d: number, r: number): { normEst: number; condEst: number } {
  if (r === 0) return { normEst: 0, condEst: 1 };
  const steps = Math.max(8, Math.ceil(2 * Math.log2(r + 1)));
  const v = new Float64Array(r);
  const w = new Float64Array(r);
  for (let i = 0; i < r; i++) v[i] = 1 + i / r;
  normalize(v, r);
  let big = 0;
  for (let s = 0; s < steps; s++) {
    upperMul(R, d, r, v, w);
    upperMulT(R, d, r, w, v);
    big = Math.sqrt(normalize(v, r));
  }
  for (let i = 0; i < r; i++) v[i] = 1 + i / r;
  normalize(v, r);
  let small = 0;
  for (let s = 0; s < steps; s++) {
    upperSolveT(R, d, r, v);
    upperSolve(R, d, r, v);
    small = Math.sqrt(normalize(v, r));
  }
  return { normEst: big, condEst: Math.max(1, big * small) };
}

/**
 * Sketch rows per column of the full-precision methods (docs/sketch.md §4.3). With S a subspace
 * embedding of distortion δ ≈ √(d/m), κ(A·R⁻¹) ≤ (1 + √(d/m))/(1 − √(d/m)) (the reference, §4.1), and
 * LSQR, or the momentum iteration, gains a factor ≈ √(d/m) per pass over A: at m = 32d, κ ≤ 1.43 and a
 * factor 0.18 per pass, ≈ 20 passes from a sketch-and-solve start to the 1e-14 tests. Halving m to 16d
 * adds ≈ 4 passes and saves half of a QR that costs ≈ 2 passes at 32d (d ≈ 100–200, a blocked QR
 * against a memory-bound pass); doubling it to 64d saves ≈ 3 and costs ≈ 2 more, and doubles the
 * sketch's scatter target. The optimum is flat between ≈ 20d and 60d; 32d sits in it.
 */
export const FULL_PRECISION_RATIO = 32;

/** The default m of sketch-and-precondition and iterative sketching: 32d, capped at n. */
export function fullPrecisionSketchSize(n: number, d: number): number {
  return Math.max(d, Math.min(n, FULL_PRECISION_RATIO * d));
}

/**
 * U (r × r, row-major, upper) := the Cholesky factor of the symmetric G (r × r), G = UᵀU, by rows
 * (U_jj = √(G_jj − Σ_{k<j} U_kj²)). Returns false, U unspecified, when a pivot is not positive and finite:
 * G is not numerically positive definite.
 */
export function cholesky(G: Float64Array, r: number, U: Float64Array): boolean {
  U.fill(0, 0, r * r);
  for (let j = 0; j < r; j++) {
    let s = G[j * r + j]!;
    for (let k = 0; k < j; k++) s -= U[k * r + j]! * U[k * r + j]!;
    if (!(s > 0) || !Number.isFinite(s)) return false;
    const ujj = Math.sqrt(s);
    U[j * r + j] = ujj;
    for (let l = j + 1; l < r; l++) {
      let t = G[j * r + l]!;
      for (let k = 0; k < j; k++) t -= U[k * r + j]! * U[k * r + l]!;
      U[j * r + l] = t / ujj;
    }
  }
  return true;
}

/**
 * κ₂ of the upper-triangular U (r × r) with its columns scaled to unit norm (the Cholesky factor of the
 * equilibrated Gram matrix D⁻¹GD⁻¹): the condition number that governs the Gram's and the Cholesky
 * factorization's rounding (van der Sluis; Higham, Accuracy and Stability, §10.1), by triangularEstimates.
 */
export function scaledCondition(U: Float64Array, r: number): number {
  const S = new Float64Array(r * r);
  for (let j = 0; j < r; j++) {
    let s = 0;
    for (let i = 0; i <= j; i++) s += U[i * r + j]! * U[i * r + j]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let i = 0; i <= j; i++) S[i * r + j] = U[i * r + j]! * inv;
  }
  return triangularEstimates(S, r, r).condEst;
}

/**
 * Method 'sketch-cholesky' preconditions with the Cholesky factor of the Gram of A itself only when its
 * equilibrated condition number κ_s satisfies κ_s²·u ≤ 1e-8 (u = 2⁻⁵³): the formed Gram and its Cholesky
 * factor then carry a relative error ≲ κ_s²·γ, and refinement contracts by that factor per pass
 * (docs/sketch.md §4.5). Above it, the Gram of A·R⁻¹ with R from a sketch.
 */
export const GRAM_DIRECT_MAX_COND = Math.sqrt(1e-8 / 2 ** -53);

/**
 * x (length d) := P·[R₁₁⁻¹U⁻¹U⁻ᵀc; 0] (R null: P·[U⁻¹U⁻ᵀc; 0]): the solution of the (semi-)normal equations
 * BᵀB·y = c with BᵀB = UᵀU, B = A_P·R₁₁⁻¹, mapped back to x.
 */
export function gramSolution(U: Float64Array, R: Float64Array | null, perm: Int32Array, r: number, c: Float64Array, d: number): Float64Array {
  const t = c.slice(0, r);
  upperSolveT(U, r, r, t);
  upperSolve(U, r, r, t);
  if (R) upperSolve(R, d, r, t);
  const x = new Float64Array(d);
  for (let k = 0; k < r; k++) x[perm[k]!] = t[k]!;
  return x;
}

/** sketch-cholesky's default sketch rows per column, when it sketches at all (docs/sketch.md §4.5). */
export const CHOLESKY_SKETCH_RATIO = 4;

/**
 * The f32 Gram of A (a backend's option, SketchGramArgs.allowF32) is kept when its equilibrated factor has
 * κ_s ≤ 8: its relative error ≈ u₃₂·√(chunk rows) ≈ 2e-6 (worst case u₃₂·chunk ≈ 6e-5) times κ_s² leaves
 * refinement a contraction of ≲ 1e-4 per pass (measured: one pass more than the f64 Gram at κ ≈ 1,
 * docs/sketch.md §4.5). Otherwise the f64 Gram is formed.
 */
export const GRAM_F32_MAX_COND = 8;
