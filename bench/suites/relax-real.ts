/**
 * Relax on real matrices: generated unstructured P1 FEM matrices (src/relax/fem.ts: Poisson 2-D,
 * anisotropic 3-D, one with a coefficient contrast), Poisson 512² as the model-problem anchor, and the
 * SuiteSparse SPD matrices that scripts/fetch-matrices.mjs downloaded (absent files are skipped with a
 * note). Every matrix is written as Matrix Market under bench/matrices/ (git-ignored) so that the peers
 * (bench/peers/relax_real.py: PETSc KSPCG + PCSOR / PCNONE / Richardson + SOR, SciPy cg and A @ x) read
 * the same numbers, and they run in the same process tree, before and after numkern (the better of the
 * two runs counts), on the same b = A·x*.
 *
 * Per matrix: the best ω of SSOR-CG and of SOR is found first (fewest iterations on a grid, then a
 * finer one around the best); then CG, SSOR-CG(ω*) and SOR(ω*) are timed per target on a prepared
 * operator (the split PETSc's KSP also holds: PETSc's figure is setUp + solve with the matrix
 * assembled) and as a plain CSR call (validated per call). Rate column: PETSc's best time / numkern's
 * best time (> 1: numkern faster). SciPy's cg is the floor a user already has. `ctx.spmv` per call is
 * compared with SciPy's A @ x, and the first solves of a fresh process with its warm solves.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendName, CsrMatrix } from '../../src/core/types.js';
import { readMatrixMarket, writeMatrixMarket } from '../../src/core/matrix-market.js';
import { femAnisotropic3d, femPoisson2d } from '../../src/relax/fem.js';
import { poisson2d } from '../../src/relax/generators.js';
import type { RelaxMethod } from '../../src/relax/ops.js';
import { peerEnv } from '../peers/env.js';
import { bestOf } from '../measure.js';
import type { Ceilings, Row } from '../report.js';
import type { Target } from './linalg.js';

const HERE = import.meta.dirname;
const MATRICES = join(HERE, '..', 'matrices');
const PEER = join(HERE, '..', 'peers', 'relax_real.py');
/** SOR (thousands of sweeps at these sizes) is searched and timed only up to this many unknowns. */
const SOR_MAX_N = 100_000;

interface RealMatrix {
  name: string;
  what: string;
  A: CsrMatrix<Float64Array>;
  file: string;
}

function generated(quick: boolean): [string, string, () => CsrMatrix<Float64Array>][] {
  const all: [string, string, () => CsrMatrix<Float64Array>][] = [
    ['fem2d-1k', 'P1 Poisson, jittered triangulation, m=32', () => femPoisson2d(32)],
    ['fem2d-4k', 'P1 Poisson, jittered triangulation, m=64', () => femPoisson2d(64)],
    ['fem2d-8k-contrast', 'P1 −∇·(κ∇u), κ ∈ [1, 100] per element, m=90', () => femPoisson2d(90, { contrast: 100 })],
    ['fem3d-aniso-1k', 'P1 anisotropic (ε=0.01, tilted) on Kuhn tetrahedra, m=10', () => femAnisotropic3d(10)],
    ['fem3d-aniso-4k', 'P1 anisotropic (ε=0.01, tilted) on Kuhn tetrahedra, m=16', () => femAnisotropic3d(16)],
    ['fem3d-aniso-8k', 'P1 anisotropic (ε=0.01, tilted) on Kuhn tetrahedra, m=20', () => femAnisotropic3d(20)],
    ['fem2d-65k', 'P1 Poisson, jittered triangulation, m=256', () => femPoisson2d(256)],
    ['fem3d-aniso-64k', 'P1 anisotropic (ε=0.01, tilted) on Kuhn tetrahedra, m=40', () => femAnisotropic3d(40)],
    ['poisson2d-512', '5-point Poisson 512² (the model problem)', () => poisson2d(512)],
  ];
  return quick ? all.filter(([n]) => /-(1k|4k|8k)|poisson2d-512/.test(n)) : all;
}

/** The generated matrices (written to bench/matrices/generated/ for the peers) and the fetched ones present. */
async function matrices(quick: boolean): Promise<{ list: RealMatrix[]; missing: string[] }> {
  const list: RealMatrix[] = [];
  const dir = join(MATRICES, 'generated');
  mkdirSync(dir, { recursive: true });
  for (const [name, what, make] of generated(quick)) {
    const A = make();
    const file = join(dir, `${name}.mtx`);
    writeFileSync(file, writeMatrixMarket(A, { symmetric: true, comment: `numkern bench: ${what}` }));
    list.push({ name, what, A, file });
  }
  const missing: string[] = [];
  const spec = JSON.parse(readFileSync(join(MATRICES, 'suitesparse.json'), 'utf8')) as { matrices: { group: string; name: string; kind: string }[] };
  for (const m of spec.matrices) {
    const file = join(MATRICES, 'suitesparse', m.name, `${m.name}.mtx`);
    if (!existsSync(file)) {
      missing.push(`${m.group}/${m.name}`);
      continue;
    }
    const d = await readMatrixMarket(file);
    if (d.kind !== 'coordinate') continue;
    list.push({ name: m.name, what: `SuiteSparse ${m.group}/${m.name}, ${m.kind}`, A: d.matrix, file });
  }
  return { list, missing };
}

/** b = A·x* with x*_i = 1 + sin(i): a consistent right-hand side (docs/peers.md: keeps singular FEM matrices solvable). */
function rhs(A: CsrMatrix<Float64Array>): Float64Array {
  const b = new Float64Array(A.nrows);
  for (let i = 0; i < A.nrows; i++) {
    let s = 0;
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) s += A.values[p]! * (1 + Math.sin(A.colIdx[p]!));
    b[i] = s;
  }
  return b;
}

interface PeerSolve { its: number; best: number; median: number; residual: number; error?: string }
interface PeerMatrix { spmv: number; scipy_cg: PeerSolve; cg?: PeerSolve; 'ssor-cg'?: PeerSolve; sor?: PeerSolve; gamg?: PeerSolve }
interface PeerOut { petsc: string | null; why: string | null; matrices: Record<string, PeerMatrix> }

function runPeer(spec: object): PeerOut | string {
  if (!existsSync('/usr/bin/python3')) return 'skipped: /usr/bin/python3 not found';
  const file = join(MATRICES, 'generated', 'peer-spec.json');
  writeFileSync(file, JSON.stringify(spec));
  const r = spawnSync('/usr/bin/python3', [PEER, file], { encoding: 'utf8', maxBuffer: 1 << 24, env: peerEnv() });
  if (r.status !== 0) return `skipped: ${(r.stderr || r.error?.message || 'python failed').trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout) as PeerOut;
}

/**
 * Best wall time (seconds) of at least `reps` runs and at least MIN_SECONDS of them (at most MAX_REPS),
 * after one untimed run: the peer's rule (bench/peers/relax_real.py timed()), so a sub-millisecond
 * solve is not judged on the best of two.
 */
const MIN_SECONDS = 0.1;
const MAX_REPS = 50;
async function bestTimed(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  let best = Infinity;
  let total = 0;
  for (let r = 0; r < reps || (total < MIN_SECONDS && r < MAX_REPS); r++) {
    const t0 = performance.now();
    await fn();
    const s = (performance.now() - t0) / 1e3;
    best = Math.min(best, s);
    total += s;
  }
  return best;
}

type Solver = (method: RelaxMethod, omega: number, maxIter?: number) => Promise<{ iterations: number; converged: boolean; seconds: number }>;

/** ω with the fewest iterations: a coarse grid, then steps of `fine` around the best (ties: the smaller ω). */
async function bestOmega(solve: Solver, method: RelaxMethod, grid: number[], fine: number): Promise<{ omega: number; its: number }> {
  let best = { omega: 1, its: Infinity };
  const tryOmega = async (w: number) => {
    if (!(w > 0 && w < 2)) return;
    const cap = Number.isFinite(best.its) ? Math.ceil(1.5 * best.its) + 10 : 100000;
    const r = await solve(method, w, cap);
    if (r.converged && r.iterations < best.its) best = { omega: w, its: r.iterations };
  };
  for (const w of grid) await tryOmega(w);
  const centre = best.omega;
  for (let k = -3; k <= 3; k++) if (k !== 0) await tryOmega(Math.round((centre + k * fine) * 1e4) / 1e4);
  return best;
}

export async function realSuite(targets: Target[], _c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const base = { suite: 'relax-real', dtype: 'f64', ofCeiling1: null, ofCeilingAll: null } as const;
  const { list, missing } = await matrices(quick);
  if (missing.length > 0) {
    rows.push({ ...base, case: 'SuiteSparse matrices', backend: '-', threads: '-', seconds: NaN, unit: 'x', rate: NaN,
      note: `skipped, not fetched: ${missing.join(', ')} (run node scripts/fetch-matrices.mjs)` });
  }
  const native = targets.filter((t) => t.backend === 'native');
  const tuner = native[0] ?? targets[0]!;
  const plans = new Map<string, { ssor: number; sor: number; b: Float64Array }>();
  const spec = { reps: quick ? 3 : 5, matrices: [] as object[] };
  for (const m of list) {
    const b = rhs(m.A);
    const P = tuner.ctx.relax.prepare(m.A, { recognizeStencil: false });
    const solve: Solver = async (method, omega, maxIter = 100000) => tuner.ctx.solve(P, b, { method, omega, maxIter, backend: tuner.backend as BackendName, strict: true });
    // Largest ω first: the slowest candidates then run under the iteration cap of a good one.
    const ssor = await bestOmega(solve, 'ssor-cg', [1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1], 0.025);
    const sor = m.A.nrows > SOR_MAX_N ? { omega: NaN, its: NaN } : await bestOmega(solve, 'sor', [1.98, 1.95, 1.9, 1.85, 1.8, 1.7, 1.6, 1.4, 1.2, 1], 0.01);
    P.dispose();
    plans.set(m.name, { ssor: ssor.omega, sor: sor.omega, b });
    const bfile = join(MATRICES, 'generated', `${m.name}.b.f64`);
    writeFileSync(bfile, new Uint8Array(b.buffer));
    const plansOf = [{ method: 'cg' }, { method: 'ssor-cg', omega: ssor.omega }, ...(Number.isNaN(sor.omega) ? [] : [{ method: 'sor', omega: sor.omega }])];
    spec.matrices.push({ name: m.name, file: m.file, b: bfile, plans: plansOf });
  }
  // The peers run twice, before and after numkern, and each figure is the better of the two: on this
  // shared VM one run of PETSc was 1.3–1.5× slower than another minutes apart, and a ratio against
  // one slow window would flatter numkern.
  const before = runPeer(spec);
  const timed = await timeNumkern(list, plans, targets, quick);
  const after = typeof before === 'string' ? before : runPeer(spec);
  const peer = typeof before === 'string' || typeof after === 'string' ? before : bestOfPeers(before, after);
  if (typeof peer === 'string') {
    rows.push({ ...base, case: 'peers', backend: 'petsc/scipy', threads: '-', seconds: NaN, unit: 'x', rate: NaN, note: peer });
  } else if (peer.petsc === null) {
    rows.push({ ...base, case: 'PETSc', backend: 'petsc', threads: '-', seconds: NaN, unit: 'x', rate: NaN, note: `not installed (${peer.why}): ratios are to SciPy only` });
  }
  for (const m of list) {
    const plan = plans.get(m.name)!;
    const pm = typeof peer === 'string' ? undefined : peer.matrices[m.name];
    const label = `${m.name} (n=${m.A.nrows}, nnz=${m.A.colIdx.length})`;
    if (pm) {
      for (const [key, name] of [['scipy_cg', 'SciPy cg'], ['cg', 'PETSc CG'], ['ssor-cg', 'PETSc CG+SSOR'], ['sor', 'PETSc Richardson+SOR'], ['gamg', 'PETSc CG+GAMG']] as const) {
        const p = pm[key];
        if (!p) continue;
        rows.push({ ...base, case: `${label} ${name}`, backend: key === 'scipy_cg' ? 'scipy' : 'petsc', threads: 1, seconds: p.error ? NaN : p.best, unit: 'x', rate: NaN,
          note: p.error ?? `${p.its} its, rel. residual ${p.residual.toExponential(1)}${key === 'ssor-cg' ? `, ω=${plan.ssor}` : key === 'sor' ? `, ω=${plan.sor}` : ''}` });
      }
    }
    for (const r of timed.filter((t) => t.matrix === m.name)) {
      if (r.kind === 'solve') {
        const petsc = pm?.[r.method as 'cg' | 'ssor-cg' | 'sor'];
        const ref = petsc && !petsc.error ? petsc.best : null;
        rows.push({
          ...base, case: `${label} ${r.method}${r.method === 'cg' ? '' : ` ω=${r.omega}`} ${r.form}`, backend: r.target.label, threads: r.target.threads, seconds: r.seconds, unit: 'x',
          rate: ref === null ? NaN : ref / r.seconds,
          note: `${r.iterations} its${r.converged ? '' : ' (not converged)'}` +
            (ref === null ? '' : `; PETSc ${petsc!.its} its ${(ref * 1e3).toFixed(2)} ms → ${(ref / r.seconds).toFixed(2)}×`) +
            (pm && r.method === 'cg' ? `; SciPy cg ${(pm.scipy_cg.best * 1e3).toFixed(2)} ms → ${(pm.scipy_cg.best / r.seconds).toFixed(2)}×` : ''),
        });
      } else if (pm) {
        rows.push({ ...base, case: `${label} ctx.spmv per call${r.form}`, backend: r.target.label, threads: r.target.threads, seconds: r.seconds, unit: 'x', rate: pm.spmv / r.seconds,
          note: `SciPy A @ x ${(pm.spmv * 1e6).toFixed(1)} µs → ${(pm.spmv / r.seconds).toFixed(2)}×` });
      }
    }
  }
  rows.push(...firstSolve(list.find((m) => m.name === 'fem2d-4k') ?? list[0]!, plans));
  return rows;
}

interface Timed {
  matrix: string;
  kind: 'solve' | 'spmv';
  target: Target;
  method: RelaxMethod;
  omega: number;
  form: string;
  seconds: number;
  iterations: number;
  converged: boolean;
}

/** numkern's timings on every matrix: each method prepared and as a plain CSR, and ctx.spmv per call. */
async function timeNumkern(list: RealMatrix[], plans: Map<string, { ssor: number; sor: number; b: Float64Array }>, targets: Target[], quick: boolean): Promise<Timed[]> {
  const out: Timed[] = [];
  for (const m of list) {
    const plan = plans.get(m.name)!;
    const n = m.A.nrows;
    for (const t of targets) {
      if (t.backend === 'js' && n > 10000) continue;
      if (t.backend !== 'js' && t.backend !== 'native') continue;
      const P = t.ctx.relax.prepare(m.A, { recognizeStencil: false });
      const methods = ([['cg', 1], ['ssor-cg', plan.ssor], ['sor', plan.sor]] as [RelaxMethod, number][]).filter(([, w]) => !Number.isNaN(w));
      for (const [method, omega] of methods) {
        for (const [form, operand] of [['prepared', P], ['plain CSR', m.A]] as const) {
          let last = { iterations: 0, converged: false };
          const seconds = await bestTimed(async () => {
            last = await t.ctx.solve(operand, plan.b, { method, omega, tol: 1e-8, maxIter: 100000, backend: t.backend as BackendName, strict: true });
          }, quick || n > SOR_MAX_N ? 2 : 5);
          out.push({ matrix: m.name, kind: 'solve', target: t, method, omega, form, seconds, ...last });
        }
      }
      P.dispose();
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
      const y = new Float64Array(n);
      await t.ctx.spmv(m.A, x, { out: y, backend: t.backend as BackendName });
      const Q = t.ctx.relax.prepare(m.A, { recognizeStencil: false });
      for (const [form, operand] of [['', m.A], [' (prepared)', Q]] as const) {
        const seconds = await bestOf(() => t.ctx.spmv(operand, x, { out: y, backend: t.backend as BackendName }), 300);
        out.push({ matrix: m.name, kind: 'spmv', target: t, method: 'cg', omega: NaN, form, seconds, iterations: 0, converged: true });
      }
      Q.dispose();
    }
  }
  return out;
}

/** Per matrix and solver, the faster of two peer runs (its iteration count and residual with it). */
function bestOfPeers(a: PeerOut, b: PeerOut): PeerOut {
  const matrices: Record<string, PeerMatrix> = {};
  for (const [name, pa] of Object.entries(a.matrices)) {
    const pb = b.matrices[name];
    if (!pb) {
      matrices[name] = pa;
      continue;
    }
    const pick = (x?: PeerSolve, y?: PeerSolve): PeerSolve | undefined => (!x || x.error ? y : !y || y.error ? x : y.best < x.best ? y : x);
    matrices[name] = {
      spmv: Math.min(pa.spmv, pb.spmv), scipy_cg: pick(pa.scipy_cg, pb.scipy_cg)!,
      cg: pick(pa.cg, pb.cg), 'ssor-cg': pick(pa['ssor-cg'], pb['ssor-cg']), sor: pick(pa.sor, pb.sor), gamg: pick(pa.gamg, pb.gamg),
    };
  }
  return { ...a, matrices };
}

/** Fresh processes per method: one process's first solve is a single sample, and a V8 scavenge from the
 * process's own earlier allocation lands in it or not by chance (README, session 14). */
const FRESH_PROCESSES = 5;

/** Fresh `node` processes: the first solves of a new context against the warm ones (bench/relax-first-solve.ts). */
function firstSolve(m: RealMatrix, plans: Map<string, { ssor: number }>): Row[] {
  const rows: Row[] = [];
  for (const method of ['ssor-cg', 'cg'] as const) {
    const runs: { times: number[]; create: number }[] = [];
    let failure = '';
    for (let k = 0; k < FRESH_PROCESSES && !failure; k++) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, '..', 'relax-first-solve.ts'), m.file, method, String(plans.get(m.name)!.ssor)], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) failure = (r.stderr || '').trim().split('\n').at(-1) ?? 'no output';
      else runs.push(JSON.parse(r.stdout) as { times: number[]; create: number });
    }
    if (failure) {
      rows.push({ suite: 'relax-real', case: `first solve, ${m.name} ${method}`, backend: 'native', dtype: 'f64', threads: '-', seconds: NaN, unit: 'x', rate: NaN, ofCeiling1: null, ofCeilingAll: null,
        note: `failed: ${failure}` });
      continue;
    }
    // Each process's first solve against its own warm one (the best of solves 4-10).
    const ratios = runs.map((t) => t.times[0]! / Math.min(...t.times.slice(3)));
    const order = ratios.map((_, k) => k).sort((a, b) => ratios[a]! - ratios[b]!);
    const median = runs[order[order.length >> 1]!]!;
    const warm = Math.min(...median.times.slice(3));
    rows.push({
      suite: 'relax-real', case: `first solve in a fresh process, ${m.name} ${method}`, backend: 'native', dtype: 'f64', threads: 'all', seconds: median.times[0]!, unit: 'x',
      rate: median.times[0]! / warm, ofCeiling1: null, ofCeilingAll: null,
      note: `median of ${runs.length} processes' first/warm (all: ${order.map((k) => ratios[k]!.toFixed(2)).join(', ')}); in the median one solves 1-3 ${median.times.slice(0, 3).map((v) => (v * 1e3).toFixed(2)).join(', ')} ms, warm ${(warm * 1e3).toFixed(2)} ms, createContext ${(median.create * 1e3).toFixed(0)} ms`,
    });
  }
  return rows;
}

export const suites = {
  real: ['Relax on real matrices (rate: PETSc time / numkern time, or SciPy A @ x / ctx.spmv, or first/warm solve)', realSuite],
} as const;
