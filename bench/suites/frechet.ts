/**
 * Loki prediction (docs/frechet.md §10): B = 1024 rows, K = 1000 observed classes, N labels, f32.
 *   - matrix path: one fused GEMM + running top-1 over D² (K×N); rate = 2·B·K·N / t against the sgemm
 *     ceiling when the probe reports one (else dgemm, noted), and peak RSS of a call against the
 *     B×N×4 bytes a materialized score matrix needs (measured in a child process);
 *   - embedding path (dim 64): the barycenter reduction; its speed-up over the matrix path and the
 *     fraction of rows where both predict the same label (D² is built from the same embeddings);
 *   - graph metric: a random 325k-node tree, K = 1000 BFS rows (preprocessing) and one prediction;
 *   - numpy anchor in the same run (bench/peers/frechet.py, 1 thread and all): sgemm + argmin chunked
 *     over N, and the embedding trick; skipped with a note when /usr/bin/python3 or numpy is absent.
 * Targets: native at 1 and all threads; js only at N = 1e3 and a software WebGPU adapter only up to
 * N = 1e4 (beyond, a call takes minutes and measures the emulator, not the method).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, CsrMatrix } from '../../src/index.js';
import type { Ceilings, Row } from '../report.js';
import type { Target } from './linalg.js';
import { peerEnv } from '../peers/env.js';

const B = 1024;
const K = 1000;
const DIM = 64;
const HERE = fileURLToPath(import.meta.url);
const PEER = join(HERE, '..', '..', 'peers', 'frechet.py');

/** Deterministic uniform [0, 1) (mulberry32): the suite must not depend on Math.random. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Warm-up, then at least 3 runs and 0.5 s: median and best, seconds. */
async function timeIt(fn: () => Promise<unknown>): Promise<{ median: number; best: number }> {
  await fn();
  const ts: number[] = [];
  const t0 = performance.now();
  while (ts.length < 3 || (performance.now() - t0 < 500 && ts.length < 15)) {
    const t = performance.now();
    await fn();
    ts.push((performance.now() - t) / 1e3);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[ts.length >> 1]!, best: ts[0]! };
}

interface Problem {
  N: number;
  P: { rows: number; cols: number; data: Float32Array };
  E: { rows: number; cols: number; data: Float32Array };
  D2: { rows: number; cols: number; data: Float32Array };
  observed: Int32Array;
}

function distinct(count: number, n: number, r: () => number): Int32Array {
  const seen = new Set<number>();
  while (seen.size < count) seen.add(Math.floor(r() * n));
  return Int32Array.from(seen);
}

/** E ~ uniform cube, D²[k, j] = ‖e_obs_k − e_j‖² in f64 rounded to f32 (the matrix path's input), P = u⁴ (peaked rows). */
function problem(N: number, withD2: boolean): Problem {
  const r = rng(N);
  const E = new Float32Array(N * DIM);
  for (let i = 0; i < E.length; i++) E[i] = 2 * r() - 1;
  const observed = distinct(K, N, r);
  const D2 = new Float32Array(withD2 ? K * N : 0);
  if (withD2) {
    const e = new Float64Array(DIM);
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < DIM; c++) e[c] = E[observed[k]! * DIM + c]!;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let c = 0; c < DIM; c++) {
          const t = E[j * DIM + c]! - e[c]!;
          s += t * t;
        }
        D2[k * N + j] = s;
      }
    }
  }
  const P = new Float32Array(B * K);
  for (let i = 0; i < P.length; i++) P[i] = r() ** 4;
  return { N, P: { rows: B, cols: K, data: P }, E: { rows: N, cols: DIM, data: E }, D2: { rows: K, cols: N, data: D2 }, observed };
}

function gemmCeilings(c: Ceilings): { one: number; all: number; note: string } {
  const s = c as Ceilings & { sgemm1?: number; sgemmAll?: number };
  if (s.sgemm1 !== undefined && s.sgemmAll !== undefined) return { one: s.sgemm1, all: s.sgemmAll, note: '' };
  return { one: c.gemm1, all: c.gemmAll, note: 'vs dgemm ceiling (no sgemm probe)' };
}

function row(name: string, t: { label: string; threads: number | string }, seconds: number, flops: number, c: Ceilings, note = ''): Row {
  const g = gemmCeilings(c);
  const rate = flops / seconds / 1e9;
  const ok = (x: number) => (Number.isFinite(x) && x > 0 ? rate / x : null);
  return {
    suite: 'frechet', case: name, backend: t.label, dtype: 'f32', threads: t.threads, seconds, unit: 'GFLOP/s', rate,
    ofCeiling1: ok(g.one), ofCeilingAll: ok(g.all), note: [note, g.note].filter(Boolean).join('; '),
  };
}

function runs(t: Target, N: number): string | null {
  if (t.backend === 'js' && N > 1000) return 'js only at N = 1e3';
  if (t.label.includes('(sw)') && N > 10_000) return 'software adapter only up to N = 1e4';
  return null;
}

interface PeerResult { matrix: { best: number; median: number }; embed: { best: number; median: number }; agree: number; blas: string }

function numpyPeer(N: number, threads: number, reps: number): PeerResult | string {
  if (!existsSync('/usr/bin/python3')) return 'skipped: /usr/bin/python3 not found';
  const r = spawnSync('/usr/bin/python3', [PEER, String(B), String(K), String(N), String(DIM), String(reps)], {
    encoding: 'utf8', env: peerEnv({ OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) }),
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) return `skipped: ${(r.stderr || r.error?.message || 'python failed').trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout) as PeerResult;
}

/** Peak RSS of one matrix-path call in a fresh process (this file, run as a child with NUMKERN_FRECHET_RSS=N). */
function rssChild(N: number): { extra: number; backend: string; exact: boolean } | string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', HERE], { encoding: 'utf8', env: { ...process.env, NUMKERN_FRECHET_RSS: String(N) }, maxBuffer: 1 << 20 });
  if (r.status !== 0) return `RSS probe failed: ${(r.stderr || 'no output').trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { extra: number; backend: string; exact: boolean };
}

async function rssProbe(N: number): Promise<void> {
  const { createContext } = await import('../../src/index.js');
  const ctx = await createContext();
  const r = rng(7);
  const P = new Float32Array(B * K);
  for (let i = 0; i < P.length; i++) P[i] = r();
  const D2 = new Float32Array(K * N);
  for (let i = 0; i < D2.length; i++) D2[i] = r();
  const metric = { kind: 'matrix' as const, D: { rows: K, cols: N, data: D2 }, squared: true, observed: Int32Array.from({ length: K }, (_, k) => k) };
  // The warm-up loads the addon and starts the thread team on a problem with one observed class, so the
  // kernel's buffer pool (native/src/frechet/topk.cc) holds nothing the measured call can reuse: its
  // scratch (a packed tile of M per thread, K·tile values) is counted.
  const tiny = { kind: 'matrix' as const, D: { rows: 1, cols: N, data: D2.subarray(0, N) }, squared: true, observed: Int32Array.of(0) };
  await ctx.frechet.predict({ rows: 1, cols: 1, data: P.subarray(0, 1) }, tiny, { checkFinite: false });
  // Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS, so an earlier spike
  // (module compilation, addon load) cannot hide or inflate the call's own peak.
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
  let reset = true;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    reset = false;
  }
  const before = process.memoryUsage().rss;
  const out = await ctx.frechet.predict({ rows: B, cols: K, data: P }, metric, { checkFinite: false });
  const peak = reset ? hwm() : process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ extra: Math.max(0, peak - before), backend: out.backend, exact: reset })}\n`);
  await ctx.dispose();
}

/** A random recursive tree: vertex v > 0 hangs off a uniform earlier vertex (expected depth ≈ ln N). */
function randomTree(N: number): CsrMatrix<Float32Array> {
  const r = rng(325);
  const parent = new Int32Array(N);
  const deg = new Int32Array(N);
  for (let v = 1; v < N; v++) {
    parent[v] = Math.floor(r() * v);
    deg[v]!++;
    deg[parent[v]!]!++;
  }
  const rowPtr = new Int32Array(N + 1);
  for (let v = 0; v < N; v++) rowPtr[v + 1] = rowPtr[v]! + deg[v]!;
  const colIdx = new Int32Array(rowPtr[N]!);
  const fill = rowPtr.slice(0, N);
  // Children come after their parent in id order, so each row stays sorted: parent first, then children.
  for (let v = 1; v < N; v++) colIdx[fill[v]!++] = parent[v]!;
  for (let v = 1; v < N; v++) colIdx[fill[parent[v]!]!++] = v;
  return { nrows: N, ncols: N, rowPtr, colIdx, values: new Float32Array(colIdx.length).fill(1) };
}

export async function frechetSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const sizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000, 325_000];
  const best = targets.filter((t) => t.backend === 'native').at(-1) ?? targets[0];
  for (const N of sizes) {
    const flops = 2 * B * K * N;
    const reps = N >= 100_000 ? 3 : 5;
    // numpy's matrix path by thread count, for the same-run ratio in native's rows.
    const numpy = new Map<number | string, { median: number; best: number }>();
    for (const threads of [...new Set([1, c.threads])]) {
      const peer = numpyPeer(N, threads, reps);
      const t = { label: 'numpy', threads };
      if (typeof peer !== 'string') numpy.set(threads, peer.matrix);
      if (typeof peer === 'string') {
        rows.push({ suite: 'frechet', case: `numpy anchor N=${N}`, backend: 'numpy', dtype: 'f32', threads, seconds: NaN, unit: 'GFLOP/s', rate: NaN, ofCeiling1: null, ofCeilingAll: null, note: peer });
        break;
      }
      rows.push(row(`numpy sgemm+argmin N=${N}`, t, peer.matrix.median, flops, c, `chunk 8192, ${peer.blas}`));
      rows.push(row(`numpy embed trick N=${N} dim=${DIM}`, t, peer.embed.median, 2 * B * DIM * N, c, `${(peer.matrix.median / peer.embed.median).toFixed(1)}× its matrix path, agree ${peer.agree}`));
    }
    const p = problem(N, true);
    const matrix = { kind: 'matrix' as const, D: p.D2, squared: true, observed: p.observed };
    const embedding = { kind: 'embedding' as const, E: p.E, observed: p.observed };
    for (const t of targets) {
      const skip = runs(t, N);
      if (skip || !t.ctx.supports(t.backend, 'frechetTopk', 'f32')) continue;
      const opts = { backend: t.backend, strict: true, checkFinite: false } as const;
      const m = await timeIt(() => t.ctx.frechet.predict(p.P, matrix, opts));
      const np = t.backend === 'native' ? numpy.get(t.threads) : undefined;
      // numpy's time over numkern's, medians (best in parentheses): above 1 is faster than numpy.
      const vsNumpy = np ? `${(np.median / m.median).toFixed(2)}× numpy's speed in this run (best ${(np.best / m.best).toFixed(2)}×)` : '';
      rows.push(row(`matrix N=${N}`, t, m.median, flops, c, vsNumpy));
      const e = await timeIt(() => t.ctx.frechet.predict(p.P, embedding, opts));
      const a = await t.ctx.frechet.predict(p.P, matrix, opts);
      const b = await t.ctx.frechet.predict(p.P, embedding, opts);
      let same = 0;
      for (let i = 0; i < B; i++) if (a.labels[i] === b.labels[i]) same++;
      rows.push(row(`embedding N=${N} dim=${DIM}`, t, e.median, 2 * B * DIM * N, c, `${(m.median / e.median).toFixed(1)}× the matrix path, same label in ${same}/${B} rows`));
    }
    const rss = rssChild(N);
    const materialized = B * N * 4;
    rows.push(typeof rss === 'string'
      ? { suite: 'frechet', case: `matrix N=${N} peak RSS`, backend: best?.label ?? '-', dtype: 'f32', threads: '-', seconds: NaN, unit: 'x', rate: NaN, ofCeiling1: null, ofCeilingAll: null, note: rss }
      : {
        suite: 'frechet', case: `matrix N=${N} peak RSS / (B·N·4)`, backend: rss.backend, dtype: 'f32', threads: 'auto', seconds: NaN, unit: 'x',
        rate: rss.extra / materialized, ofCeiling1: null, ofCeilingAll: null,
        note: `${(rss.extra / 2 ** 20).toFixed(1)} MiB over the inputs vs ${(materialized / 2 ** 20).toFixed(0)} MiB to materialize scores${rss.exact ? '' : ' (process-lifetime peak: an upper bound)'}`,
      });
  }
  rows.push(...(await graphCase(targets, c, quick)));
  return rows;
}

async function graphCase(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const N = quick ? 32_500 : 325_000;
  const rows: Row[] = [];
  const A = randomTree(N);
  const observed = distinct(K, N, rng(11));
  const owner: Context = targets[0]!.ctx;
  const t0 = performance.now();
  const metric = owner.frechet.graphMetric(A, observed);
  const prep = (performance.now() - t0) / 1e3;
  rows.push({
    suite: 'frechet', case: `graph tree N=${N} K=${K}: BFS rows`, backend: 'host', dtype: 'f32', threads: 1, seconds: prep, unit: 'sweeps/s', rate: K / prep,
    ofCeiling1: null, ofCeilingAll: null, note: `${(metric.bytes / 2 ** 20).toFixed(0)} MiB cached (K·N·4 + graph)`,
  });
  const r = rng(12);
  const P = { rows: B, cols: K, data: Float32Array.from({ length: B * K }, () => r() ** 4) };
  for (const t of targets) {
    if (runs(t, N) || !t.ctx.supports(t.backend, 'frechetTopk', 'f32')) continue;
    const s = await timeIt(() => t.ctx.frechet.predict(P, metric, { backend: t.backend, strict: true, checkFinite: false }));
    rows.push(row(`graph tree N=${N} predict`, t, s.median, 2 * B * K * N, c));
  }
  return rows;
}

export const suites = {
  frechet: ['Fréchet-mean (Loki) prediction, B = 1024, K = 1000, f32 (GEMM-bound)', frechetSuite],
} as const;

if (process.env.NUMKERN_FRECHET_RSS && process.argv[1] === HERE) await rssProbe(Number(process.env.NUMKERN_FRECHET_RSS));
