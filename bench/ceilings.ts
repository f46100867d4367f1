/**
 * The machine's ceilings, measured before any suite: a STREAM-style triad (a = b + s·c, 24 bytes per
 * element, no write-allocate counted) with one thread and with all, and dgemm GFLOP/s, both through the
 * native addon. Without the addon the triad falls back to a JS loop, and the report says so.
 */
import { cpus } from 'node:os';
import { loadNative } from '../src/backends/addon/load.js';
import type { Ceilings } from './report.js';

export async function probeCeilings(): Promise<Ceilings> {
  const threads = cpus().length;
  const n = 1 << 25; // 3 × 256 MiB: far beyond any cache
  const a = new Float64Array(n);
  const b = new Float64Array(n).fill(1);
  const c = new Float64Array(n).fill(2);
  const { addon, reason } = loadNative();
  if (!addon) {
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) a[i] = b[i]! + 3 * c[i]!;
      best = Math.min(best, (performance.now() - t0) / 1e3);
    }
    const gbs = (24 * n) / best / 1e9;
    return { triad1: gbs, triadAll: gbs, threads: 1, gemm1: NaN, gemmAll: NaN, blas: null, source: `JS loop (native unavailable: ${reason})` };
  }
  const triad = async (t: number) => (24 * n) / (await addon.triadAsync(a, b, c, 3, t, 5)) / 1e9;
  const triad1 = await triad(1);
  const triadAll = await triad(threads);
  const gemm1 = await addon.gemmGflopsAsync(1024, 1, 3);
  const gemmAll = await addon.gemmGflopsAsync(1024, threads, 3);
  const info = addon.info();
  return { triad1, triadAll, threads, gemm1, gemmAll, blas: info.blas, source: `native addon, simd ${info.simd}${process.env.OPENBLAS_CORETYPE ? `, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}` : ''}` };
}
