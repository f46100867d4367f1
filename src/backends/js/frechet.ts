/**
 * The frechet family (src/frechet/ops.ts) on the js backend: the oracle of frechetTopk, f32 and f64.
 *
 * What it computes, exactly (docs/frechet.md §4): for row b and label j, s = bias[j] (0 when bias is
 * null), then s += W[b,k]·M(k,j) for k = 0, 1, …, K−1 in that order, every product and sum in f64.
 * For f32 operands the products are exact in f64 (24 + 24 < 53 bits) and the final s is rounded once
 * to f32 (Math.fround); that rounded value is both what is ranked and what is written, so exact ties
 * in the written scores always go to the smaller label id. Extra memory: the B×topk running lists
 * (f64) and one tile of TILE partial sums; the B×N score matrix is never formed.
 */
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import { throwIfAborted } from '../../core/errors.js';
import type { FrechetBarycentersArgs, FrechetTopkArgs } from '../../frechet/ops.js';

const BOTH = ['f32', 'f64'] as const;

/** Labels per tile: the K×TILE slab of M ('kn') is reused by every row while it sits in cache. */
const TILE = 256;

export function frechetTopk(a: FrechetTopkArgs, ctl: KernelControl = {}): void {
  const { W, B, K, M, N, layout, bias, labelOffset, topk, labels, scores } = a;
  const round = scores instanceof Float32Array;
  const best = new Float64Array(B * topk);
  const bestId = new Int32Array(B * topk);
  const count = new Int32Array(B);
  const acc = new Float64Array(TILE);
  for (let j0 = 0; j0 < N; j0 += TILE) {
    throwIfAborted(ctl.signal);
    const n = Math.min(TILE, N - j0);
    for (let b = 0; b < B; b++) {
      const w0 = b * K;
      if (layout === 'kn') {
        for (let t = 0; t < n; t++) acc[t] = bias === null ? 0 : bias[j0 + t]!;
        for (let k = 0; k < K; k++) {
          const wk = W[w0 + k]!;
          const row = k * N + j0;
          for (let t = 0; t < n; t++) acc[t] += wk * M[row + t]!;
        }
      } else {
        for (let t = 0; t < n; t++) {
          let s = bias === null ? 0 : bias[j0 + t]!;
          const row = (j0 + t) * K;
          for (let k = 0; k < K; k++) s += W[w0 + k]! * M[row + k]!;
          acc[t] = s;
        }
      }
      const base = b * topk;
      for (let t = 0; t < n; t++) {
        const s = round ? Math.fround(acc[t]!) : acc[t]!;
        let c = count[b]!;
        // Ids grow with j within a call, so an equal score never displaces a kept one (ties → smaller id).
        if (c === topk) {
          if (!(s < best[base + topk - 1]!)) continue;
          c = topk - 1;
        }
        let p = c;
        while (p > 0 && best[base + p - 1]! > s) {
          best[base + p] = best[base + p - 1]!;
          bestId[base + p] = bestId[base + p - 1]!;
          p--;
        }
        best[base + p] = s;
        bestId[base + p] = labelOffset + j0 + t;
        count[b] = c + 1;
      }
    }
  }
  for (let i = 0; i < B * topk; i++) {
    labels[i] = bestId[i]!;
    scores[i] = best[i]!;
  }
}

/**
 * frechetBarycenters (src/frechet/ops.ts): f64 sums in k order. Rows go R at a time through each E[k]
 * (about twice as fast in V8 as one row at a time); each (b, i) sum is still its own, in k order.
 */
export function frechetBarycenters(a: FrechetBarycentersArgs): void {
  const { P, B, K, E, dim, norms, rowSums, W, shift } = a;
  const R = 4;
  const acc = new Float64Array(R * dim);
  const c = new Float64Array(R);
  const p = new Float64Array(R);
  for (let b0 = 0; b0 < B; b0 += R) {
    const r = Math.min(R, B - b0);
    acc.fill(0);
    c.fill(0);
    p.fill(0);
    for (let k = 0; k < K; k++) {
      for (let q = 0; q < r; q++) p[q] = P[(b0 + q) * K + k]!;
      const p0 = p[0]!, p1 = p[1]!, p2 = p[2]!, p3 = p[3]!;
      const e0 = k * dim;
      for (let i = 0; i < dim; i++) {
        const e = E[e0 + i]!;
        acc[i] += p0 * e;
        acc[dim + i] += p1 * e;
        acc[2 * dim + i] += p2 * e;
        acc[3 * dim + i] += p3 * e;
      }
      const nk = norms[k]!;
      c[0] += p0 * nk;
      c[1] += p1 * nk;
      c[2] += p2 * nk;
      c[3] += p3 * nk;
    }
    for (let q = 0; q < r; q++) {
      const S = rowSums[b0 + q]!;
      for (let i = 0; i < dim; i++) W[(b0 + q) * dim + i] = (-2 * acc[q * dim + i]!) / S;
      shift[b0 + q] = c[q]! / S;
    }
  }
}

export function frechetKernels(): AnyKernel[] {
  return [
    kernel({ op: 'frechetTopk', dtypes: BOTH, run: (args, ctl) => frechetTopk(args, ctl) }),
    kernel({ op: 'frechetBarycenters', dtypes: BOTH, run: (args) => frechetBarycenters(args) }),
  ];
}
