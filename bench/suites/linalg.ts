/**
 * SpMV, BLAS-1 and segmented reductions per backend × dtype × size. All are bandwidth-bound, so each
 * rate counts the bytes the kernel must move and is reported against the triad ceiling.
 */
import type { Context } from '../../src/index.js';
import type { BackendName, CsrMatrix, FloatArray } from '../../src/core/types.js';
import { poisson2d } from '../../src/relax/generators.js';
import { time } from '../measure.js';
import type { Ceilings, Row } from '../report.js';

export interface Target {
  label: string;
  backend: BackendName;
  threads: number | string;
  ctx: Context;
}

function cast(A: CsrMatrix, dtype: 'f32' | 'f64'): CsrMatrix {
  return dtype === 'f64' ? A : { ...A, values: Float32Array.from(A.values) };
}

function filled(n: number, dtype: 'f32' | 'f64'): FloatArray {
  const a = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i);
  return a;
}

function row(suite: string, name: string, t: Target, dtype: string, seconds: number, bytes: number, c: Ceilings): Row {
  const gbs = bytes / seconds / 1e9;
  return { suite, case: name, backend: t.label, dtype, threads: t.threads, seconds, unit: 'GB/s', rate: gbs, ofCeiling1: gbs / c.triad1, ofCeilingAll: gbs / c.triadAll };
}

export async function spmvSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const m of quick ? [256, 1024] : [256, 512, 1024]) {
    const A64 = poisson2d(m);
    for (const dtype of ['f64', 'f32'] as const) {
      const A = cast(A64, dtype);
      const x = filled(A.ncols, dtype);
      const out = dtype === 'f32' ? new Float32Array(A.nrows) : new Float64Array(A.nrows);
      const w = dtype === 'f32' ? 4 : 8;
      // values + column indices per nonzero, row pointers, x read once, y written once.
      const bytes = A.colIdx.length * (w + 4) + (A.nrows + 1) * 4 + A.ncols * w + A.nrows * w;
      for (const t of targets) {
        if (!t.ctx.supports(t.backend, 'spmv', dtype)) continue;
        const opts = { backend: t.backend, strict: true, checkFinite: false, out };
        const s = await time(() => t.ctx.spmv(A, x, opts));
        rows.push(row('spmv', `poisson2d ${m}² (nnz ${A.colIdx.length})`, t, dtype, s.median, bytes, c));
      }
    }
  }
  return rows;
}

export async function blas1Suite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const n = quick ? 1 << 22 : 1 << 24;
  for (const dtype of ['f64', 'f32'] as const) {
    const w = dtype === 'f32' ? 4 : 8;
    const x = filled(n, dtype);
    const y = filled(n, dtype);
    for (const t of targets) {
      if (!t.ctx.supports(t.backend, 'dot', dtype)) continue;
      const opts = { backend: t.backend, strict: true, checkFinite: false } as const;
      rows.push(row('blas1', `dot n=${n}`, t, dtype, (await time(() => t.ctx.dot(x, y, opts))).median, 2 * n * w, c));
      rows.push(row('blas1', `axpy n=${n} (in place)`, t, dtype, (await time(() => t.ctx.axpy(1e-9, x, y, { ...opts, inPlace: true }))).median, 3 * n * w, c));
      rows.push(row('blas1', `nrm2 n=${n}`, t, dtype, (await time(() => t.ctx.nrm2(x, opts))).median, n * w, c));
    }
  }
  return rows;
}

export async function segmentedSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  // GRPO-shaped: many small groups (rollouts per prompt), then long segments (tokens per sequence).
  const shapes: [string, number, number][] = quick ? [['4096 groups × 16', 4096, 16], ['256 seqs × 4096', 256, 4096]]
    : [['4096 groups × 16', 4096, 16], ['65536 groups × 64', 65536, 64], ['256 seqs × 4096', 256, 4096], ['1024 seqs × 16384', 1024, 16384]];
  for (const [name, nseg, len] of shapes) {
    const offsets = Int32Array.from({ length: nseg + 1 }, (_, i) => i * len);
    for (const dtype of ['f64', 'f32'] as const) {
      const w = dtype === 'f32' ? 4 : 8;
      const values = filled(nseg * len, dtype);
      // The two-pass kernel reads each segment twice, but a segment fits in cache: DRAM sees it once.
      const bytes = nseg * len * w + (nseg + 1) * 4 + 3 * nseg * w;
      for (const t of targets) {
        if (!t.ctx.supports(t.backend, 'segmentedMoments', dtype)) continue;
        const opts = { backend: t.backend, strict: true, checkFinite: false } as const;
        const s = await time(() => t.ctx.segmentedMoments({ offsets, values }, opts));
        rows.push(row('segmented', `moments ${name}`, t, dtype, s.median, bytes, c));
      }
    }
  }
  return rows;
}

export const suites = {
  spmv: ['CSR SpMV (bandwidth-bound)', spmvSuite],
  blas1: ['BLAS-1 (bandwidth-bound)', blas1Suite],
  segmented: ['Segmented moments (bandwidth-bound)', segmentedSuite],
} as const;
