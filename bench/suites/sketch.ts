/**
 * Dense f64 least squares per backend (issue 12's sizes: 100000×100, 200000×200, 1000000×50), with the
 * peers in the same run (bench/peers/sketch.py: LAPACK dgels, numpy gelsd, normal equations + Cholesky,
 * SciPy CountSketch sketch-and-solve; skipped with a note when /usr/bin/python3 or SciPy is absent).
 *
 * Rows, and what each rate is against:
 * - SRHT apply (m = 4d): GB/s of A read once, against the triad ceiling (the bandwidth-bound time).
 * - CountSketch sketch-and-solve (m = 10d): speed-up over dgels in this run; the note has the residual
 *   ratio ‖r‖/‖r_dgels‖ (target ≤ 1.07, docs/peers.md §2: SciPy's 1.057 in 0.12 s at 200000×200).
 * - sketch-and-precondition, iterative sketching and sketch-cholesky (defaults): speed-up over dgels; the
 *   note has |‖r‖ − ‖r_dgels‖|/‖r_dgels‖ (target ≤ 1e-12 at ≥ 5× dgels's speed), and m = '-' where
 *   sketch-cholesky needed no sketch (the Gram of A itself was well enough conditioned).
 * - numkern's own Householder QR ('qr'), and the peers, as speed-ups over dgels.
 * The problem: A[i, j] = a hashed uniform in [−1, 1) (defined in `entry`, regenerated bit for bit by the
 * peer), b = A·x₀ + 0.1·(hashed noise), x₀_j = 1/(j + 1). Its κ is ≈ 1.1–1.3, so sketch-cholesky takes
 * its unsketched path there; one more case, 200000×200 with the last column replaced by
 * A[:, 0] + 1e-8·A[:, d − 1] (κ ≈ 1e8, which column scaling does not remove), times its sketched path
 * against dgels, sketch-and-precondition alongside.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DenseMatrix } from '../../src/core/types.js';
import type { LstsqOptions } from '../../src/sketch/lstsq.js';
import { time } from '../measure.js';
import type { Ceilings, Row } from '../report.js';
import type { Target } from './linalg.js';
import { peerEnv } from '../peers/env.js';

const PEER = join(import.meta.dirname, '..', 'peers', 'sketch.py');

/** MurmurHash3's 32-bit finalizer. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A[i, j] for flat index q = i·d + j (exact in f64: a 32-bit integer plus ½, scaled by a power of two). */
function entry(q: number): number {
  return (fmix32((q + 0x9e3779b9) >>> 0) + 0.5) * 2 ** -31 - 1;
}

export function benchProblem(n: number, d: number, ill = false): { A: DenseMatrix<Float64Array>; b: Float64Array } {
  const data = new Float64Array(n * d);
  for (let q = 0; q < n * d; q++) data[q] = entry(q);
  if (ill) for (let i = 0; i < n; i++) data[i * d + d - 1] = data[i * d]! + 1e-8 * data[i * d + d - 1]!;
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += data[i * d + j]! / (j + 1);
    b[i] = s + 0.1 * ((fmix32((i ^ 0x5bd1e995) >>> 0) + 0.5) * 2 ** -31 - 1);
  }
  return { A: { rows: n, cols: d, data }, b };
}

interface PeerResult {
  dgels: { best: number; residual: number };
  gelsd: { best: number; residual: number };
  normal: { best: number; residual: number };
  countsketch: { best: number; residual: number };
  blas: string;
}

function runPeer(n: number, d: number, b: Float64Array, reps: number, ill: boolean): PeerResult | string {
  if (!existsSync('/usr/bin/python3')) return 'skipped: /usr/bin/python3 not found';
  const dir = mkdtempSync(join(tmpdir(), 'numkern-sketch-'));
  try {
    const file = join(dir, 'b.f64');
    writeFileSync(file, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    const r = spawnSync('/usr/bin/python3', [PEER, String(n), String(d), file, String(reps), ...(ill ? ['ill'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20, env: peerEnv() });
    if (r.status !== 0) return `skipped: ${(r.stderr || r.error?.message || 'python failed').trim().split('\n').at(-1)}`;
    return JSON.parse(r.stdout) as PeerResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Best of a few runs; slow cases (a js QR of 10⁸ entries) are timed once rather than tinybench's five. */
async function seconds(fn: () => Promise<unknown>, quick: boolean): Promise<number> {
  const t0 = performance.now();
  await fn();
  const first = (performance.now() - t0) / 1e3;
  if (first > 0.5) return first;
  return (await time(fn, { time: quick ? 200 : 400 })).median;
}

/** [n, d, ill-conditioned]. */
const SIZES: readonly [number, number, boolean?][] = [[100_000, 100], [200_000, 200], [1_000_000, 50], [200_000, 200, true]];
const QUICK: readonly [number, number, boolean?][] = [[20_000, 50], [50_000, 100]];

/** `sizes` overrides the issue's sizes (smoke tests). */
export async function lstsqSuite(targets: Target[], c: Ceilings, quick: boolean, sizes?: readonly [number, number, boolean?][]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [n, d, ill = false] of sizes ?? (quick ? QUICK : SIZES)) {
    const { A, b } = benchProblem(n, d, ill);
    const size = `${n}×${d}${ill ? ' κ≈1e8' : ''}`;
    const peer = runPeer(n, d, b, quick ? 1 : 3, ill);
    const ref = typeof peer === 'string' ? null : peer.dgels;
    const base = { suite: 'sketch', dtype: 'f64', ofCeiling1: null, ofCeilingAll: null } as const;
    if (typeof peer === 'string') {
      rows.push({ ...base, case: `peers ${size}`, backend: 'numpy/scipy', threads: 'all', seconds: NaN, unit: 'x', rate: NaN, note: peer });
    } else {
      for (const [name, label] of [['dgels', 'LAPACK dgels (QR)'], ['gelsd', 'numpy lstsq (gelsd)'], ['normal', 'normal equations + Cholesky'], ['countsketch', 'SciPy CountSketch solve m=10d']] as const) {
        const p = peer[name];
        rows.push({
          ...base, case: `${label} ${size}`, backend: 'numpy/scipy', threads: 'all', seconds: p.best, unit: 'x', rate: peer.dgels.best / p.best,
          note: `‖r‖/‖r_dgels‖ = ${(p.residual / peer.dgels.residual).toFixed(name === 'countsketch' ? 4 : 15)}${name === 'dgels' ? `; ${peer.blas}` : ''}`,
        });
      }
    }
    for (const t of targets) {
      if (!t.ctx.supports(t.backend, 'sketchApply', 'f64')) continue;
      const opts = { backend: t.backend, strict: false, checkFinite: false } as const;
      if (!ill) {
        // SRHT apply: A read once is the bandwidth-bound floor. Timed into a reused SA (options.out), as a
        // pipeline sketching batch after batch would; a fresh SA's first-touch faults are in the note.
        const m4 = 4 * d;
        const out = new Float64Array(m4 * d);
        const sApply = await seconds(() => t.ctx.sketch.apply(A, { ...opts, kind: 'srht', m: m4, seed: 1, out }), quick);
        const sFresh = await seconds(() => t.ctx.sketch.apply(A, { ...opts, kind: 'srht', m: m4, seed: 1 }), quick);
        const gbs = (n * d * 8) / sApply / 1e9;
        rows.push({
          ...base, case: `SRHT apply m=4d ${size}`, backend: t.label, threads: t.threads, seconds: sApply, unit: 'GB/s', rate: gbs, ofCeiling1: gbs / c.triad1, ofCeilingAll: gbs / c.triadAll,
          note: `into options.out; a new SA each call ${(sFresh * 1e3).toFixed(1)} ms`,
        });
      }
      const solve = async (label: string, o: LstsqOptions) => {
        let last = await t.ctx.sketch.lstsq(A, b, { ...opts, ...o });
        const s = await seconds(async () => {
          last = await t.ctx.sketch.lstsq(A, b, { ...opts, ...o });
        }, quick);
        const r = ref?.residual;
        const acc = o.method === 'sketch-and-solve'
          ? `‖r‖/‖r_dgels‖ = ${r ? (last.residualNorm / r).toFixed(4) : 'n/a'}`
          : `|‖r‖−‖r_dgels‖|/‖r_dgels‖ = ${r ? (Math.abs(last.residualNorm - r) / r).toExponential(1) : 'n/a'}`;
        rows.push({
          ...base, case: `${label} ${size}`, backend: t.label, threads: t.threads, seconds: s, unit: 'x', rate: ref ? ref.best / s : NaN,
          note: `${acc}; ${last.iterations} it, m=${last.sketch?.m ?? '-'}, ran on ${Object.values(last.backends).join('/')}`,
        });
      };
      if (!ill) await solve('CountSketch sketch-and-solve m=10d', { method: 'sketch-and-solve', sketch: 'countsketch', m: 10 * d });
      await solve('sketch-and-precondition (defaults)', { method: 'sketch-and-precondition' });
      if (!ill) await solve('iterative sketching (defaults)', { method: 'iterative-sketching' });
      await solve('sketch-cholesky (defaults)', { method: 'sketch-cholesky' });
      if (ill) continue;
      if (!(t.backend === 'js' && n * d > 2e7)) await solve('Householder QR (numkern)', { method: 'qr' });
    }
  }
  return rows;
}

export const suites = {
  sketch: ['Sketched least squares (rate: × LAPACK dgels speed in the same run; SRHT: GB/s of A)', lstsqSuite],
} as const;
