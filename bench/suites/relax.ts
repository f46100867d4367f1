/**
 * Relaxation: sweep throughput (bandwidth-bound: reported against the triad ceiling) and time to 1e-8
 * on the 5-point Poisson problem, CSR and stencil, per backend. Anchor: PETSc CG + SSOR on Poisson 512²
 * takes 0.535 s (102 iterations at its best ω, median) on the development machine (docs/peers.md).
 */
import type { BackendName, LinearOperator } from '../../src/core/types.js';
import type { RelaxMethod } from '../../src/relax/ops.js';
import { poisson2d } from '../../src/relax/generators.js';
import { FixedOmega } from '../../src/relax/tuners/fixed.js';
import { solveSequence } from '../../src/relax/sequence.js';
import { bestOf } from '../measure.js';
import type { Ceilings, Row } from '../report.js';
import type { Target } from './linalg.js';

export const PETSC_SSOR_CG_512_SECONDS = 0.535;

/** Bytes one sweep must move: the matrix once (CSR: values + indices + row pointers), b once, x read and written. */
function sweepBytes(A: LinearOperator, n: number): number {
  const vectors = 3 * 8 * n;
  return 'kind' in A ? vectors : A.colIdx.length * 12 + (n + 1) * 4 + vectors;
}

function forms(m: number): [string, LinearOperator][] {
  return [['CSR', poisson2d(m)], ['stencil', poisson2d(m, { stencil: true })]];
}

export async function sweepSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const m of quick ? [512] : [256, 512, 1024]) {
    const n = m * m;
    const b = new Float64Array(n).fill(1);
    for (const [form, A] of forms(m)) {
      for (const method of ['sor', 'sor-redblack', 'ssor'] as RelaxMethod[]) {
        for (const t of targets) {
          if (!t.ctx.supports(t.backend, 'relaxSolve', 'f64', { A, b, x: b, method, omega: 1.5, tol: 0, criterion: 'relative', maxIter: 1, checkEvery: 1 })) continue;
          if (t.backend === 'js' && m > 512) continue;
          // A solve of k sweeps checks the residual once at the end; the difference of 2K and K sweeps
          // isolates K bare sweeps. K is sized from a probe so that K sweeps take ~0.15 s.
          // A prepared operator, so that what a solve sets up once (native copy, colouring, uploads) stays
          // out of both timings and the difference is sweeps alone.
          // CSR stays CSR here (no stencil recognition): this suite measures each form's own sweeps.
          const P = t.ctx.relax.prepare(A, { recognizeStencil: false });
          const run = (k: number) => () => t.ctx.solve(P, b, { method, omega: 1.5, tol: 0, maxIter: k, checkEvery: k, backend: t.backend as BackendName, strict: true, checkFinite: false });
          const reps = quick ? 2 : 5;
          // The first solve on an operator builds its colouring and uploads; keep that out of the probe.
          await run(1)();
          const probe = (await bestOf(run(4), 1)) / 4;
          const K = Math.min(2000, Math.max(4, Math.ceil(0.15 / probe)));
          // K and 2K alternate, so a burst of load on the shared machine hits both minima alike.
          let tK = Infinity;
          let t2K = Infinity;
          for (let r = 0; r < reps; r++) {
            tK = Math.min(tK, await bestOf(run(K), 1));
            t2K = Math.min(t2K, await bestOf(run(2 * K), 1));
          }
          // Noise can make the difference meaningless; then fall back to the bound that includes the checks.
          const sweep = t2K - tK > 0.25 * tK ? (t2K - tK) / K : t2K / (2 * K);
          const perSweep = (method === 'ssor' ? 2 : 1) * sweepBytes(A, n);
          const gbs = perSweep / sweep / 1e9;
          P.dispose();
          rows.push({
            suite: 'relax-sweep', case: `${method} sweep, poisson2d ${m}² ${form}`, backend: t.label, dtype: 'f64', threads: t.threads,
            seconds: sweep, unit: 'GB/s', rate: gbs, ofCeiling1: gbs / c.triad1, ofCeilingAll: gbs / c.triadAll,
            note: `${(1 / sweep).toFixed(0)} sweeps/s`,
          });
        }
      }
    }
  }
  return rows;
}

export async function solveSuite(targets: Target[], _c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const m of quick ? [256, 512] : [256, 512, 1024]) {
    const n = m * m;
    const b = new Float64Array(n).fill(1);
    const young = 2 / (1 + Math.sin(Math.PI / (m + 1)));
    // ω for SSOR-CG: the Axelsson bound's optimum is 2/(1 + sqrt(2(1+2ν)/μ)) ≈ 2/(1 + c·h); 2/(1 + 2.2 sin(πh)) is near the measured best on this family.
    const ssorCgOmega = 2 / (1 + 2.2 * Math.sin(Math.PI / (m + 1)));
    const plans: [RelaxMethod, number][] = [['ssor-cg', ssorCgOmega], ['cg', 1], ['sor', young], ['sor-redblack', young]];
    for (const [form, A] of forms(m)) {
      for (const [method, omega] of plans) {
        if ((method === 'sor' || method === 'sor-redblack') && m > 512) continue;
        for (const t of targets) {
          const args = { A, b, x: b, method, omega, tol: 1e-8, criterion: 'relative' as const, maxIter: 1, checkEvery: 1 };
          if (!t.ctx.supports(t.backend, 'relaxSolve', 'f64', args)) continue;
          // The oracle and the software adapter are correctness backends: time them on the small grid only.
          if ((t.backend === 'js' && m > 256) || (t.backend === 'webgpu' && m > 512)) continue;
          // Plain (validated and derived per call), prepared (ctx.relax.prepare once, outside the timing)
          // as CSR, and, for the CSR form, prepared as recognized (the stencil twin it is).
          const P = t.ctx.relax.prepare(A, { recognizeStencil: false });
          const R = t.ctx.relax.prepare(A);
          const operands: [string, typeof A | typeof P][] = [['', A], [' prepared', P]];
          if (R.recognized) operands.push([' prepared (recognized: stencil kernels)', R]);
          for (const [label, operand] of operands) {
            let last = { iterations: 0, converged: false };
            const s = await bestOf(async () => {
              last = await t.ctx.solve(operand, b, { method, omega, tol: 1e-8, maxIter: 100000, backend: t.backend as BackendName, strict: true, checkFinite: false });
            }, quick ? 1 : 2);
            const anchor = method === 'ssor-cg' && m === 512 ? PETSC_SSOR_CG_512_SECONDS / s : null;
            rows.push({
              suite: 'relax-solve', case: `${method} ω=${omega.toFixed(3)} to 1e-8, poisson2d ${m}² ${form}${label}`, backend: t.label, dtype: 'f64', threads: t.threads,
              seconds: s, unit: 'x', rate: anchor ?? 0, ofCeiling1: null, ofCeilingAll: null,
              note: `${last.iterations} its${last.converged ? '' : ' (not converged)'}${anchor ? `; PETSc CG+SSOR 0.535 s → ${anchor.toFixed(2)}× faster` : ''}`,
            });
          }
          P.dispose();
          R.dispose();
        }
      }
    }
  }
  return rows;
}

/**
 * solveSequence throughput on a sequence that repeats one matrix with varying right-hand sides (a
 * time-stepping or many-load-case workload), with and without preparing the repeated matrix.
 */
export async function sequenceSuite(targets: Target[], _c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const T = quick ? 20 : 60;
  for (const m of [64, 256]) {
    const A = poisson2d(m);
    const n = m * m;
    const rhs = Array.from({ length: T }, (_, t) => Float64Array.from({ length: n }, (_, i) => Math.sin(0.001 * i * (t + 1)) + 1));
    for (const method of ['ssor-cg', 'sor'] as const) {
      if (method === 'sor' && m > 64) continue;
      for (const t of targets) {
        if (t.backend === 'js' && m > 64) continue;
        if (!t.ctx.supports(t.backend, 'relaxSolve', 'f64', { A, b: rhs[0]!, x: rhs[0]!, method, omega: 1.5, tol: 1e-8, criterion: 'relative', maxIter: 1, checkEvery: 1 })) continue;
        for (const prepare of [false, { recognizeStencil: false }, {}] as const) {
          const t0 = performance.now();
          const r = await solveSequence(t.ctx, rhs.map((b) => ({ A, b })), {
            tuner: new FixedOmega(method === 'sor' ? 2 / (1 + Math.sin(Math.PI / (m + 1))) : 1.8), method, prepare, backend: t.backend as BackendName,
          });
          const s = (performance.now() - t0) / 1e3;
          rows.push({
            suite: 'relax-sequence', case: `${method}, ${T} right-hand sides, poisson2d ${m}² CSR${prepare === false ? '' : prepare.recognizeStencil === false ? ', prepared' : ', prepared (recognized: stencil kernels)'}`, backend: t.label, dtype: 'f64', threads: t.threads,
            seconds: s, unit: 'solves/s', rate: T / s, ofCeiling1: null, ofCeilingAll: null,
            note: `${(r.totals.iterations / T).toFixed(0)} its/solve; ${((s / T) * 1e3).toFixed(2)} ms/solve`,
          });
        }
      }
    }
  }
  return rows;
}

export const suites = {
  sweep: ['Relaxation sweeps (bandwidth-bound)', sweepSuite],
  solve: ['Time to 1e-8 (rate column: speed-up over the PETSc anchor where one exists)', solveSuite],
  sequence: ['solveSequence over one repeated matrix (rate: solves per second)', sequenceSuite],
} as const;
