/** Results as rows: each kernel's rate and its fraction of the machine ceiling that bounds it. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Ceilings {
  /** STREAM-style triad, GB/s (median of repetitions). */
  triad1: number;
  triadAll: number;
  threads: number;
  /** dgemm GFLOP/s through the native path. */
  gemm1: number;
  gemmAll: number;
  blas: string | null;
  source: string;
}

export interface Row {
  suite: string;
  case: string;
  backend: string;
  dtype: string;
  threads: number | string;
  seconds: number;
  /** What the rate counts: 'GB/s' (bytes the kernel must move) or 'GFLOP/s'. */
  unit: 'GB/s' | 'GFLOP/s' | 'sweeps/s' | 'x';
  rate: number;
  /** rate / the bounding ceiling with one thread, and with all threads. */
  ofCeiling1: number | null;
  ofCeilingAll: number | null;
  note?: string;
}

// '-' where a row has no such figure: no time (a memory row), no rate, or a ratio with no peer to divide by.
const fmt = (v: number | null, d = 2) => (v === null || !Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(d));
const rateCell = (r: Row) => (r.unit === 'x' && r.rate === 0 ? '-' : fmt(r.rate));

export function printTable(title: string, rows: Row[]): void {
  const head = ['case', 'backend', 'dtype', 'thr', 'ms', 'rate', 'unit', 'of 1T ceil', 'of all-T ceil', 'note'];
  const cells = rows.map((r) => [
    r.case, r.backend, r.dtype, String(r.threads), Number.isFinite(r.seconds) ? (r.seconds * 1e3).toFixed(3) : '-', rateCell(r), r.unit,
    r.ofCeiling1 === null ? '-' : `${(100 * r.ofCeiling1).toFixed(0)}%`,
    r.ofCeilingAll === null ? '-' : `${(100 * r.ofCeilingAll).toFixed(0)}%`,
    r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\n## ${title}\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}`);
}

export function writeResults(name: string, payload: unknown): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(payload, null, 2)}\n`);
  return file;
}
