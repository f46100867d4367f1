/**
 * Op contract of the frechet family (Loki: Fréchet-mean prediction over a label metric). Every metric
 * reduces to one fused kernel: scores s[b, j] = bias[j] + Σ_k W[b, k]·M(k, j) over the labels j of one
 * operand, never stored, with a running top-k per row (docs/frechet.md). The façade (src/frechet/) turns
 * each metric into W, M and bias:
 *   - matrix:    W = P (B×K), M = D² (K×N, layout 'kn'), bias = null;
 *   - embedding: W = −2·P E_Λ / ΣP (B×dim: the barycenters), M = E (N×dim, layout 'nk'), bias = ‖e_j‖²;
 *   - graph:     as matrix, with D² from K BFS / Dijkstra runs cached on the metric object.
 * Backends implement it in `src/backends/<b>/frechet.ts`; a backend may import this file, never the
 * family's orchestration.
 */
import type { FloatArray } from '../core/types.js';

/** How M is stored: 'kn' row-major K×N (row k = observed class k's squared distances), 'nk' row-major N×K (row j = label j's vector). */
export type FrechetLayout = 'kn' | 'nk';
export const FRECHET_LAYOUT_CODES: Readonly<Record<FrechetLayout, number>> = { kn: 0, nk: 1 };

export interface FrechetTopkArgs {
  /** B×K weights, row-major (nonnegative, finite: checked by the façade). */
  readonly W: FloatArray;
  readonly B: number;
  readonly K: number;
  /** The label operand, N labels, in `layout`. */
  readonly M: FloatArray;
  readonly N: number;
  readonly layout: FrechetLayout;
  /** Per-label additive term (length N), or null for none. */
  readonly bias: FloatArray | null;
  /** Label ids reported are labelOffset + j (a shard of a larger label space). */
  readonly labelOffset: number;
  /** 1 ≤ topk ≤ N. */
  readonly topk: number;
  /**
   * Out, B×topk row-major: each row's topk labels in increasing score, ties to the smaller label id,
   * and their scores (in the dtype). Scores are computed in the dtype (f32 with f32 products and
   * accumulation, possibly blocked or by BLAS), so a near-tie within rounding may resolve differently
   * on two backends; exact ties (equal computed scores) always go to the smaller id.
   */
  readonly labels: Int32Array;
  readonly scores: FloatArray;
  /**
   * Optional screening in the kernel's own pass (docs/frechet.md §9), asked by the façade for values it
   * has not checked: W's rows as weights (every entry finite and ≥ 0, some entry > 0) and M's entries
   * as squared distances (finite and ≥ 0). A backend that screens returns a FrechetScreenReport; one that
   * does not returns nothing, and the façade scans before using the result.
   */
  readonly screenW?: boolean;
  readonly screenM?: boolean;
}

/** What a screening frechetTopk reports. */
export interface FrechetScreenReport {
  /** Every screen asked for was made. */
  readonly screened: true;
  /** A screen found a value that fails it (or might: the façade's scan decides); labels/scores are then unspecified. */
  readonly bad: boolean;
}

/**
 * The barycenters of the embedding reduction (docs/frechet.md §3.2), a small GEMM: for each row b,
 * W[b·dim + i] = (−2·Σ_k P[b,k]·E[k·dim + i]) / rowSums[b] rounded to P's dtype, and shift[b] =
 * Σ_k P[b,k]·norms[k] / rowSums[b]. Every sum in f64 in ascending k, each product and sum rounded (no
 * fused multiply-add): every backend gives the same bits.
 */
export interface FrechetBarycentersArgs {
  /** B×K weights, row-major (checked by the façade; rowSums positive). */
  readonly P: FloatArray;
  readonly B: number;
  readonly K: number;
  /** K×dim embeddings of the observed classes, row-major. */
  readonly E: Float64Array;
  readonly dim: number;
  /** ‖E[k]‖², K values. */
  readonly norms: Float64Array;
  /** Σ_k P[b,k] (f64, k ascending), B values. */
  readonly rowSums: Float64Array;
  /** Out: B×dim, P's dtype. */
  readonly W: FloatArray;
  /** Out: B values. */
  readonly shift: Float64Array;
}

declare module '../core/ops.js' {
  interface OpTable {
    /** Fused "GEMM + running top-k": the B×N score matrix is never materialized. */
    frechetTopk: { args: FrechetTopkArgs; result: FrechetScreenReport | void };
    /** The embedding reduction's W and shift from P (B·K·dim multiply-adds). */
    frechetBarycenters: { args: FrechetBarycentersArgs; result: void };
  }
}
