/**
 * The SRHT as one fused pass (docs/sketch.md §2.3): S₀ = P·H_N·Π·D, with D the signs σ_i, Π the
 * in-block Feistel permutation, H_N the unnormalized Sylvester–Hadamard matrix and P the sampled rows.
 *
 * H_N = H_{N/B} ⊗ H_B (Sylvester), and Π keeps every row inside its block of B, so for sampled row
 * p = (p_hi, p_lo) and block h, the block's contribution is (−1)^popcount(p_hi & h)·(H_B·Y_h)[p_lo], where
 * Y_h holds the block's signed rows at their permuted places. Each block therefore needs one length-B
 * FWHT, and the top level is evaluated only at the m sampled rows: n·d·log₂B + (n/B)·m·d operations,
 * and a row block touches only its own blocks — which is what makes row shards cheap.
 */
import { isCsr, SKETCH_STREAMS, type SketchOperand, type SketchOperator } from '../../../sketch/ops.js';
import type { FloatArray } from '../../../core/types.js';
import { andBits, FeistelPermutation, parity, srhtSign, WordSource } from './operator.js';

/** Columns per FWHT panel: B·PANEL doubles of workspace (512 KiB at B = 2^12), butterflies over contiguous rows of the panel. */
const PANEL = 16;

/** In place: Y (B rows × w columns, row-major) := H_B·Y, unnormalized. */
export function fwht(Y: Float64Array, B: number, w: number): void {
  for (let h = 1; h < B; h *= 2) {
    for (let i = 0; i < B; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const a = j * w;
        const c = (j + h) * w;
        for (let t = 0; t < w; t++) {
          const x = Y[a + t]!;
          const y = Y[c + t]!;
          Y[a + t] = x + y;
          Y[c + t] = x - y;
        }
      }
    }
  }
}

export function srhtApply(S: SketchOperator, A: SketchOperand, rowOffset: number, b: FloatArray | null, SA: Float64Array, Sb: Float64Array | null): void {
  const { B, sample } = S.srht!;
  const m = S.m;
  const csr = isCsr(A);
  const d = csr ? A.ncols : A.cols;
  const nrows = csr ? A.nrows : A.rows;
  if (nrows === 0) return;
  // Augmented columns: 0..d−1 are A's, d is b's.
  const total = d + (b ? 1 : 0);
  const w = Math.min(PANEL, Math.max(total, 1));
  const Y = new Float64Array(B * w);
  const signs = new WordSource(S.key0, S.key1, SKETCH_STREAMS.srhtSign);
  const pHi = new Float64Array(m);
  const pLo = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    pHi[k] = Math.floor(sample[k]! / B);
    pLo[k] = sample[k]! - pHi[k]! * B;
  }
  const first = Math.floor(rowOffset / B);
  const last = Math.floor((rowOffset + nrows - 1) / B);
  for (let h = first; h <= last; h++) {
    const g0 = Math.max(rowOffset, h * B);
    const g1 = Math.min(rowOffset + nrows, (h + 1) * B);
    const count = g1 - g0;
    const perm = new FeistelPermutation(S.key0, S.key1, B, h);
    const pos = new Int32Array(count);
    const sgn = new Float64Array(count);
    for (let t = 0; t < count; t++) {
      const g = g0 + t;
      pos[t] = perm.apply(g - h * B);
      sgn[t] = srhtSign(signs, g);
    }
    const blockSign = new Float64Array(m);
    for (let k = 0; k < m; k++) blockSign[k] = parity(andBits(pHi[k]!, h)) ? -1 : 1;
    for (let c0 = 0; c0 < total; c0 += w) {
      const c1 = Math.min(c0 + w, total);
      const wc = c1 - c0;
      Y.fill(0);
      scatter(A, b, d, g0 - rowOffset, count, pos, sgn, c0, c1, w, Y);
      fwht(Y, B, w);
      for (let k = 0; k < m; k++) {
        const s = blockSign[k]!;
        const src = pLo[k]! * w;
        for (let t = 0; t < wc; t++) {
          const c = c0 + t;
          if (c < d) SA[k * d + c] += s * Y[src + t]!;
          else Sb![k] += s * Y[src + t]!;
        }
      }
    }
  }
}

/** Y[pos_t, c − c0] = σ_t·(augmented row i0 + t)[c] for c in [c0, c1). */
function scatter(A: SketchOperand, b: FloatArray | null, d: number, i0: number, count: number, pos: Int32Array, sgn: Float64Array, c0: number, c1: number, w: number, Y: Float64Array): void {
  const hasB = b !== null && c1 > d;
  if (isCsr(A)) {
    const { rowPtr, colIdx, values } = A;
    for (let t = 0; t < count; t++) {
      const i = i0 + t;
      const dst = pos[t]! * w - c0;
      const s = sgn[t]!;
      for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
        const c = colIdx[p]!;
        if (c >= c0 && c < c1) Y[dst + c] = s * values[p]!;
      }
      if (hasB) Y[dst + d] = s * b[i]!;
    }
  } else {
    const data = A.data;
    const cEnd = Math.min(c1, d);
    for (let t = 0; t < count; t++) {
      const i = i0 + t;
      const dst = pos[t]! * w - c0;
      const s = sgn[t]!;
      const off = i * d;
      for (let c = c0; c < cEnd; c++) Y[dst + c] = s * data[off + c]!;
      if (hasB) Y[dst + d] = s * b[i]!;
    }
  }
}
