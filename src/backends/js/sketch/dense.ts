/**
 * Small dense linear algebra of the js oracle, in f64 on row-major arrays: Householder QR with column
 * pivoting (Businger & Golub 1965; LAPACK dgeqp3's choices, with its safe norm downdating from Drmač &
 * Bujanović 2008), Q and Qᵀ applied to a vector, triangular solves, and the minimum-norm solution of
 * a short wide system (block Kaczmarz, sketch-and-project).
 */

/** √ε: LAPACK dlaqp2's threshold below which a downdated column norm is recomputed. */
const TOL3Z = Math.sqrt(2 ** -52);

export interface QrFactors {
  /** Householder scalars τ_k (H_k = I − τ_k v_k v_kᵀ, v_k[k] = 1, v_k below the diagonal of column k of M). */
  readonly tau: Float64Array;
  /** min(rows, cols) reflectors. */
  readonly steps: number;
}

function colNorm(M: Float64Array, rows: number, cols: number, j: number, from: number): number {
  let scale = 0;
  let ssq = 1;
  // Scaled sum of squares (LAPACK dnrm2's recurrence): no overflow for any finite column.
  for (let i = from; i < rows; i++) {
    const v = M[i * cols + j]!;
    if (v !== 0) {
      const a = Math.abs(v);
      if (scale < a) {
        ssq = 1 + ssq * (scale / a) ** 2;
        scale = a;
      } else {
        ssq += (a / scale) ** 2;
      }
    }
  }
  return scale * Math.sqrt(ssq);
}

function swapColumns(M: Float64Array, rows: number, cols: number, a: number, b: number): void {
  for (let i = 0; i < rows; i++) {
    const t = M[i * cols + a]!;
    M[i * cols + a] = M[i * cols + b]!;
    M[i * cols + b] = t;
  }
}

/**
 * M (rows × cols) := its QR factors in place, M·P = Q·R: R on and above the diagonal, v_k below it.
 * perm[j] = the column of the original M now at j. Pivot k is the remaining column of largest norm
 * (the first on ties), so |R_kk| is non-increasing.
 */
export function qrFactor(M: Float64Array, rows: number, cols: number, perm: Int32Array, rhs: Float64Array | null = null): QrFactors {
  const steps = Math.min(rows, cols);
  const tau = new Float64Array(steps);
  const vn1 = new Float64Array(cols);
  const vn2 = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    perm[j] = j;
    vn1[j] = vn2[j] = colNorm(M, rows, cols, j, 0);
  }
  const w = new Float64Array(cols);
  const v = new Float64Array(rows);
  for (let k = 0; k < steps; k++) {
    let p = k;
    for (let j = k + 1; j < cols; j++) if (vn1[j]! > vn1[p]!) p = j;
    if (p !== k) {
      swapColumns(M, rows, cols, p, k);
      const t = perm[p]!;
      perm[p] = perm[k]!;
      perm[k] = t;
      vn1[p] = vn1[k]!;
      vn2[p] = vn2[k]!;
    }
    // dlarfg: H·[α; x] = [β; 0] with β = −sign(α)·‖[α; x]‖.
    const alpha = M[k * cols + k]!;
    const xnorm = colNorm(M, rows, cols, k, k + 1);
    if (xnorm === 0) {
      tau[k] = 0;
    } else {
      const beta = -Math.sign(alpha || 1) * Math.hypot(alpha, xnorm);
      tau[k] = (beta - alpha) / beta;
      const inv = 1 / (alpha - beta);
      for (let i = k + 1; i < rows; i++) M[i * cols + k] = M[i * cols + k]! * inv;
      M[k * cols + k] = beta;
    }
    const tk = tau[k]!;
    if (tk !== 0) {
      v[k] = 1;
      for (let i = k + 1; i < rows; i++) v[i] = M[i * cols + k]!;
      // w = vᵀ·M[k:, k+1:] by rows (the row-major order), then M[k:, k+1:] −= τ·v·wᵀ.
      w.fill(0, k + 1);
      for (let i = k; i < rows; i++) {
        const vi = v[i]!;
        if (vi === 0) continue;
        const off = i * cols;
        for (let j = k + 1; j < cols; j++) w[j] += vi * M[off + j]!;
      }
      for (let i = k; i < rows; i++) {
        const c = tk * v[i]!;
        if (c === 0) continue;
        const off = i * cols;
        for (let j = k + 1; j < cols; j++) M[off + j] -= c * w[j]!;
      }
      if (rhs) reflect(v, tk, k, rows, rhs);
    }
    for (let j = k + 1; j < cols; j++) {
      if (vn1[j] === 0) continue;
      const r = Math.abs(M[k * cols + j]!) / vn1[j]!;
      const temp = Math.max(0, (1 + r) * (1 - r));
      const temp2 = temp * (vn1[j]! / vn2[j]!) ** 2;
      if (temp2 <= TOL3Z) {
        vn1[j] = vn2[j] = colNorm(M, rows, cols, j, k + 1);
      } else {
        vn1[j] = vn1[j]! * Math.sqrt(temp);
      }
    }
  }
  return { tau, steps };
}

/** y[k:] := (I − τ v vᵀ)·y[k:] with v[k] = 1. */
function reflect(v: Float64Array, tau: number, k: number, rows: number, y: Float64Array): void {
  let s = 0;
  for (let i = k; i < rows; i++) s += v[i]! * y[i]!;
  const c = tau * s;
  for (let i = k; i < rows; i++) y[i] -= c * v[i]!;
}

function reflector(M: Float64Array, rows: number, cols: number, k: number, v: Float64Array): void {
  v[k] = 1;
  for (let i = k + 1; i < rows; i++) v[i] = M[i * cols + k]!;
}

/** y := Qᵀ·y (length rows). */
export function applyQt(M: Float64Array, rows: number, cols: number, f: QrFactors, y: Float64Array): void {
  const v = new Float64Array(rows);
  for (let k = 0; k < f.steps; k++) {
    if (f.tau[k] === 0) continue;
    reflector(M, rows, cols, k, v);
    reflect(v, f.tau[k]!, k, rows, y);
  }
}

/** y := Q·y (length rows). */
export function applyQ(M: Float64Array, rows: number, cols: number, f: QrFactors, y: Float64Array): void {
  const v = new Float64Array(rows);
  for (let k = f.steps - 1; k >= 0; k--) {
    if (f.tau[k] === 0) continue;
    reflector(M, rows, cols, k, v);
    reflect(v, f.tau[k]!, k, rows, y);
  }
}

/** R (cols × cols) := the upper triangle of the factored M's first min(rows, cols) rows; zeros elsewhere. */
export function extractR(M: Float64Array, rows: number, cols: number, R: Float64Array): void {
  R.fill(0);
  const k = Math.min(rows, cols);
  for (let i = 0; i < k; i++) for (let j = i; j < cols; j++) R[i * cols + j] = M[i * cols + j]!;
}

/** The number of leading |R_jj| > rcond·|R_00| (docs/sketch.md §4.1). */
export function rankOf(R: Float64Array, cols: number, steps: number, rcond: number): number {
  if (steps === 0) return 0;
  const r00 = Math.abs(R[0]!);
  if (!(r00 > 0)) return 0;
  let r = 0;
  while (r < steps && Math.abs(R[r * cols + r]!) > rcond * r00) r++;
  return r;
}

/** y[0..r) := R₁₁⁻¹·y[0..r), R₁₁ the leading r × r block of R (leading dimension ld). */
export function solveUpper(R: Float64Array, ld: number, r: number, y: Float64Array): void {
  for (let i = r - 1; i >= 0; i--) {
    let s = y[i]!;
    const off = i * ld;
    for (let j = i + 1; j < r; j++) s -= R[off + j]! * y[j]!;
    y[i] = s / R[off + i]!;
  }
}

/** y[0..r) := R₁₁⁻ᵀ·y[0..r). */
export function solveUpperT(R: Float64Array, ld: number, r: number, y: Float64Array): void {
  for (let i = 0; i < r; i++) {
    const yi = y[i]! / R[i * ld + i]!;
    y[i] = yi;
    const off = i * ld;
    for (let j = i + 1; j < r; j++) y[j] -= R[off + j]! * yi;
  }
}

/**
 * The minimum-norm least-squares solution δ (length d) of M·δ = c, M q × d, through the pivoted QR of
 * Mᵀ = Q·R·Pᵀ: Rᵀ·(Qᵀδ) = Pᵀc on the numerical rank r (rcond relative to |R_00|), δ = Q[:, :r]·z.
 */
export function minNormSolve(M: Float64Array, q: number, d: number, c: Float64Array, rcond: number): Float64Array {
  const Mt = new Float64Array(d * q);
  for (let i = 0; i < q; i++) for (let j = 0; j < d; j++) Mt[j * q + i] = M[i * d + j]!;
  const perm = new Int32Array(q);
  const f = qrFactor(Mt, d, q, perm);
  const steps = f.steps;
  let r = 0;
  const r00 = steps > 0 ? Math.abs(Mt[0]!) : 0;
  while (r < steps && r00 > 0 && Math.abs(Mt[r * q + r]!) > rcond * r00) r++;
  // Rᵀ z = (Pᵀc)[0..r): forward substitution with the transposed leading block.
  const z = new Float64Array(d);
  for (let i = 0; i < r; i++) z[i] = c[perm[i]!]!;
  solveUpperT(Mt, q, r, z);
  applyQ(Mt, d, q, f, z);
  return z;
}
