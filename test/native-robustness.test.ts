/**
 * The native backend against callers who misbehave while a call runs (docs/ARCHITECTURE.md §9, Conventions): an input
 * detached and collected mid-call, indices scribbled over mid-solve, a matrix edited in place between
 * solves, and solveMany batches that run for seconds. The ones that could crash the process run in a
 * child node (with --expose-gc), so a crash is a failed test rather than a dead worker; under
 * `npm run test:asan` the child inherits the sanitized addon and ASan's verdict.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../src/backends/addon/load.js';
import type { CsrMatrix, FloatArray, LinearOperator, StencilOperator } from '../src/core/types.js';
import { randomArray } from './support/backends.js';

const { addon } = loadNative();
const src = (p: string): string => fileURLToPath(new URL(`../src/${p}`, import.meta.url));

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module body in a fresh node with the TypeScript sources importable and gc exposed. */
function child(body: string, timeoutMs = 120_000): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', body], { env: process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The child's last stdout line, which each body prints as JSON once it got through. */
function verdict<T>(r: ChildRun): T {
  if (r.code !== 0) throw new Error(`child exited with ${r.code ?? r.signal}\n${r.stderr.slice(-4000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** Shared preamble: the addon, the native kernel lists, a Poisson CSR builder, detach and churn. */
const PRELUDE = `
import { loadNative } from ${JSON.stringify(src('backends/addon/load.ts'))};
import { linalgKernels } from ${JSON.stringify(src('backends/native/linalg.ts'))};
import { relaxKernels } from ${JSON.stringify(src('backends/native/relax.ts'))};
const { addon, reason } = loadNative();
if (!addon) throw new Error(reason);
const handle = { addon, threads: 2 };
const kernels = [...linalgKernels(handle), ...relaxKernels(handle)];
const run = (op, args, ctl = {}) => kernels.find((k) => k.op === op).run(args, ctl);
function poisson(m, C = Float64Array) {
  const n = m * m, rowPtr = new Int32Array(n + 1), colIdx = [], values = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
    const r = i * m + j;
    const put = (c, v) => { colIdx.push(c); values.push(v); };
    if (i > 0) put(r - m, -1); if (j > 0) put(r - 1, -1); put(r, 4.01); if (j < m - 1) put(r + 1, -1); if (i < m - 1) put(r + m, -1);
    rowPtr[r + 1] = colIdx.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(colIdx), values: C.from(values) };
}
const detach = (a) => { structuredClone(a.buffer, { transfer: [a.buffer] }); };
// Collect the new owners of the transferred memory and hand the freed pages to someone else.
const churn = (n) => { globalThis.gc(); for (let k = 0; k < 8; k++) new Float64Array(n).fill(k); globalThis.gc(); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const settle = (p) => p.then((v) => ({ ok: true, v }), (e) => ({ ok: false, name: e.name, code: e.code, message: e.message }));
`;

describe.runIf(addon)('native calls survive inputs detached mid-call', () => {
  it('async twins: inputs detached and collected while the pool runs; a detached output is an error naming it', async () => {
    const r = await child(`${PRELUDE}
const n = 1 << 21;
const out = { triad: [], axpy: [], spmvX: [], spmvY: [] };
for (let it = 0; it < 3; it++) {
  // The probe that crashed before async calls copied their operands: 40 passes over 3 × 16 MiB.
  const a = new Float64Array(n).fill(1), b = new Float64Array(n).fill(2), c = new Float64Array(n).fill(3);
  const t = settle(addon.triadAsync(a, b, c, 2, 1, 40));
  await sleep(2); detach(b); detach(c); churn(n);
  out.triad.push(await t);

  const x = new Float64Array(n).fill(1), y = new Float64Array(n).fill(2);
  const p = settle(addon.axpyAsync(2, x, y, 1));
  detach(x); detach(y); churn(n);
  out.axpy.push(await p);

  const A = poisson(500);
  const xs = new Float64Array(A.ncols).fill(1), ys = new Float64Array(A.nrows);
  const q = settle(addon.spmvAsync(A.rowPtr, A.colIdx, A.values, xs, ys, 1));
  detach(xs); detach(A.values); detach(A.colIdx); churn(A.colIdx.length);
  // Row sums of the shifted Laplacian: 0.01 inside, 1.01 on an edge, 2.01 in a corner.
  out.spmvX.push({ ...(await q), y: ys.every((v) => [0.01, 1.01, 2.01].some((e) => Math.abs(v - e) < 1e-9)) });

  const B = poisson(500);
  const yy = new Float64Array(B.nrows);
  const s = settle(addon.spmvAsync(B.rowPtr, B.colIdx, B.values, new Float64Array(B.ncols).fill(1), yy, 1));
  detach(yy); churn(B.colIdx.length);
  out.spmvY.push(await s);
}
console.log(JSON.stringify(out));
`);
    const out = verdict<Record<string, { ok: boolean; y?: boolean; message?: string }[]>>(r);
    // Only inputs went: the call worked on its own copies and delivered its result.
    for (const t of out.triad!) expect(t.ok).toBe(true);
    for (const s of out.spmvX!) expect(s).toMatchObject({ ok: true, y: true });
    // The output went: nothing to write the result into, said by name.
    for (const a of out.axpy!) expect(a.message).toMatch(/^y: its ArrayBuffer was detached during the call/);
    for (const s of out.spmvY!) expect(s.message).toMatch(/^y: its ArrayBuffer was detached during the call/);
  });

  it('sliced linalg kernels: an array detached between slices is an error naming it', async () => {
    const r = await child(`${PRELUDE}
const sliced = linalgKernels(handle, 1 << 12);
const runSliced = (op, args) => sliced.find((k) => k.op === op).run(args, {});
const out = [];
for (const what of ['x', 'y', 'values']) {
  const A = poisson(300);
  const x = new Float64Array(A.ncols).fill(1), y = new Float64Array(A.nrows);
  let slices = 0;
  const tick = () => { slices++; if (slices === 3) detach(what === 'x' ? x : what === 'y' ? y : A.values); else setImmediate(tick); };
  setImmediate(tick);
  const res = await settle(runSliced('spmv', { A, x, y }));
  churn(A.colIdx.length);
  out.push({ what, slices, ...res });
}
const u = new Float64Array(1 << 16).fill(1), v = new Float64Array(1 << 16);
setImmediate(() => detach(v));
out.push({ what: 'axpy y', ...(await settle(runSliced('axpy', { alpha: 2, x: u, y: v }))) });
console.log(JSON.stringify(out));
`);
    const out = verdict<{ what: string; ok: boolean; code?: string; message?: string }[]>(r);
    expect(out.map((o) => o.what)).toEqual(['x', 'y', 'values', 'axpy y']);
    for (const o of out) {
      expect(o.ok).toBe(false);
      expect(o.code).toBe('E_DTYPE');
    }
  });

  it('relax: x (in place) and A.values detached and collected during a long async solve and batch', async () => {
    const r = await child(`${PRELUDE}
const out = [];
for (let it = 0; it < 2; it++) {
  const A = poisson(400);
  const b = new Float64Array(A.nrows).fill(1);
  const x = new Float64Array(A.nrows);
  const opts = { method: 'sor', tol: 1e-12, criterion: 'relative', maxIter: 300, checkEvery: 1, omega: 1.5 };
  const p = settle(run('relaxSolve', { A, b, x, ...opts }));
  await sleep(20); detach(A.values); detach(A.colIdx); detach(b); churn(A.colIdx.length);
  const kept = await p;
  const C = poisson(400);
  const y = new Float64Array(C.nrows);
  const q = settle(run('relaxSolve', { A: C, b: new Float64Array(C.nrows).fill(1), x: y, ...opts }));
  await sleep(20); detach(y); churn(C.colIdx.length);
  const lost = await q;
  const systems = [0, 1, 2].map(() => { const S = poisson(300); return { A: S, b: new Float64Array(S.nrows).fill(1), x: new Float64Array(S.nrows), omega: 1.4 }; });
  const m = settle(run('relaxSolveBatch', { systems, options: { ...opts, maxIter: 200 } }));
  await sleep(20); for (const s of systems) detach(s.A.values); detach(systems[1].x); churn(1 << 20);
  const batch = await m;
  out.push({ kept: kept.ok && kept.v.iterations === 300 && x.every(Number.isFinite), lost, batch });
}
console.log(JSON.stringify(out));
`);
    const out = verdict<{ kept: boolean; lost: { code?: string; message?: string }; batch: { code?: string; message?: string } }[]>(r);
    for (const o of out) {
      expect(o.kept).toBe(true);
      expect(o.lost).toMatchObject({ code: 'E_DTYPE', message: expect.stringMatching(/^x: its ArrayBuffer is detached/) });
      expect(o.batch).toMatchObject({ code: 'E_DTYPE', message: expect.stringMatching(/^x: its ArrayBuffer is detached/) });
    }
  }, 180_000); // a hang guard, not a time bound: under ASan on a loaded 2-core machine this test alone took 41 s
});

describe.runIf(addon)('native relax with indices scribbled over mid-solve', () => {
  it('colIdx and rowPtr overwritten with out-of-range values from a setImmediate loop: an error or a finite answer', async () => {
    const r = await child(`${PRELUDE}
const out = [];
for (const method of ['sor', 'ssor-cg', 'sor-redblack', 'jacobi']) {
  const A = poisson(300);
  const b = new Float64Array(A.nrows).fill(1);
  const x = new Float64Array(A.nrows);
  let writes = 0, stop = false;
  const scribble = () => {
    if (stop) return;
    for (let k = 0; k < 64; k++) {
      const p = (writes * 7919 + k * 104729) % A.colIdx.length;
      A.colIdx[p] = (k & 1) ? 1e9 : -5;
      A.rowPtr[1 + (p % A.nrows)] = (k & 2) ? -1 : 2 ** 31 - 1;
    }
    writes++;
    setImmediate(scribble);
  };
  const p = settle(run('relaxSolve', { A, b, x, method, tol: 1e-13, criterion: 'relative', maxIter: 400, checkEvery: 1, omega: method === 'jacobi' ? 0.8 : 1.5 }));
  setImmediate(scribble);
  const res = await p;
  stop = true;
  out.push({ method, writes, ok: res.ok, code: res.code, finite: x.every(Number.isFinite), residual: res.ok ? res.v.residualNorm : null });
}
console.log(JSON.stringify(out));
`);
    const out = verdict<{ method: string; writes: number; ok: boolean; code?: string; finite: boolean; residual: number | null }[]>(r);
    for (const o of out) {
      expect(o.writes).toBeGreaterThan(0);
      if (o.ok) {
        expect(o.finite).toBe(true);
        expect(Number.isFinite(o.residual)).toBe(true);
      } else {
        expect(o.code).toBe('E_CSR_INVALID');
      }
    }
  });
});

describe.runIf(addon)('native relax sees in-place edits between solves', async () => {
  const { createContext } = await import('../src/index.js');
  const ctx = await createContext({ backends: ['native', 'js'] });
  afterAll(() => ctx.dispose());

  const grid = (m: number): CsrMatrix<Float64Array> => {
    const n = m * m;
    const rowPtr = new Int32Array(n + 1);
    const colIdx: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        const r = i * m + j;
        const put = (c: number, v: number): void => void (colIdx.push(c), values.push(v));
        if (i > 0) put(r - m, -1);
        if (j > 0) put(r - 1, -1);
        put(r, 4.5);
        if (j < m - 1) put(r + 1, -1);
        if (i < m - 1) put(r + m, -1);
        rowPtr[r + 1] = colIdx.length;
      }
    }
    return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(colIdx), values: Float64Array.from(values) };
  };
  const variable = (m: number, dtype: 'f32' | 'f64'): StencilOperator => {
    const n = m * m;
    const cast = (a: Float64Array): FloatArray => (dtype === 'f32' ? Float32Array.from(a) : a);
    const offdiag = [0, 1, 2, 3].map((d) => Float64Array.from({ length: n }, (_, i) => -(0.6 + 0.3 * Math.sin(i + d))));
    const diag = Float64Array.from({ length: n }, (_, i) => 0.3 + offdiag.reduce((s, o) => s - o[i]!, 0));
    return { kind: 'stencil', shape: [m, m], coeffs: { kind: 'variable', diag: cast(diag), offdiag: offdiag.map(cast) } };
  };

  const cases: [string, () => { A: LinearOperator; edit: () => void }][] = [
    ...(['f64', 'f32'] as const).map((dtype): [string, () => { A: LinearOperator; edit: () => void }] => [`CSR ${dtype}, one value`, () => {
      const G = grid(12);
      const A: CsrMatrix = dtype === 'f32' ? { ...G, values: Float32Array.from(G.values) } : G;
      return { A, edit: () => void (A.values[37] = A.values[37]! * 3) };
    }]),
    ...(['f64', 'f32'] as const).map((dtype): [string, () => { A: LinearOperator; edit: () => void }] => [`variable stencil ${dtype}, one diagonal entry`, () => {
      const A = variable(12, dtype);
      const c = A.coeffs as { diag: FloatArray };
      return { A, edit: () => void (c.diag[50] = c.diag[50]! * 2) };
    }]),
    ['variable stencil f32, one coupling', () => {
      const A = variable(12, 'f32');
      const c = A.coeffs as { offdiag: readonly FloatArray[] };
      return { A, edit: () => void (c.offdiag[3]![17] = 0) };
    }],
    ['CSR f32, one column index (same pattern size)', () => {
      const G = grid(12);
      const A: CsrMatrix = { ...G, values: Float32Array.from(G.values) };
      // Row 20's last coupling moves from 32 to 33: columns stay increasing, the matrix diagonally dominant.
      const p = A.rowPtr[21]! - 1;
      expect(A.colIdx[p]).toBe(32);
      return { A, edit: () => void (A.colIdx[p] = 33) };
    }],
  ];

  // A plain CSR solve keeps its native copy (and SSOR-CG's split of it) for the next solve of equal arrays
  // (src/backends/addon/relax.ts PlainCopies): the edit must reach every method, the split's too.
  it.each(cases)('%s', async (_name, make) => {
    // CG and SSOR-CG on the CSR cases only: the variable stencils are not symmetric.
    const methods = ['sor', 'jacobi', 'sor-redblack', ...(_name.startsWith('CSR') ? ['ssor-cg', 'cg'] as const : [])] as const;
    for (const method of methods) {
      const { A, edit } = make();
      const n = 'kind' in A ? 144 : A.nrows;
      const b64 = randomArray(n, 3);
      const f32 = ('kind' in A ? (A.coeffs as { diag: FloatArray }).diag : A.values) instanceof Float32Array;
      const b = f32 ? Float32Array.from(b64) : b64;
      const opts = { method, omega: method === 'jacobi' ? 0.8 : 1.3, tol: f32 ? 1e-5 : 1e-10, maxIter: 4000 };
      const before = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
      edit();
      const after = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
      const oracle = await ctx.solve(A, b, { ...opts, backend: 'js' });
      expect(after.converged).toBe(true);
      expect(Array.from(after.x)).not.toEqual(Array.from(before.x));
      expect(after.iterations).toBe(oracle.iterations);
      expect(Array.from(after.x)).toEqual(Array.from(oracle.x));
    }
  });
});

describe.runIf(addon)('native solveMany runs in chunks', async () => {
  const { createContext, poisson2d, shifted } = await import('../src/index.js');
  const ctx = await createContext({ backends: ['native', 'js'], threads: 2 });
  afterAll(() => ctx.dispose());

  // Small systems take the synchronous path, large ones the pool; tol 0 never converges.
  it.each([['small (synchronous chunks)', 20, 40], ['large (chunks on the pool)', 120, 6]] as const)(
    '%s: the event loop keeps turning, and an abort lands within a chunk',
    async (_name, m, count) => {
      const systems = Array.from({ length: count }, (_, k) => ({ A: shifted(poisson2d(m), 0.01 * k), b: randomArray(m * m, k), omega: 1.2 }));
      // The abort comes from a timer that must fire ten times first: a solve that never let the event
      // loop turn (tol 0, maxIter 1e9) would never see it. Counted in turns, not milliseconds, so a slow
      // (sanitized, loaded) machine changes how long this takes, not whether it passes.
      const ac = new AbortController();
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks === 10) ac.abort();
      }, 5);
      const seen: number[] = [];
      let afterAbort = 0;
      const result = await ctx
        .solveMany(systems, {
          method: 'sor', tol: 0, maxIter: 1e9, backend: 'native', strict: true, signal: ac.signal,
          onProgress: (p) => {
            seen.push(p.iteration);
            if (ac.signal.aborted) afterAbort++;
          },
        })
        .catch((e: unknown) => e);
      clearInterval(timer);
      expect(result).toMatchObject({ code: 'E_ABORTED' });
      // Promptness in chunks, not milliseconds: the chunk running when the signal fired may report, no more.
      expect(afterAbort).toBeLessThanOrEqual(1);
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(seen.length).toBeGreaterThan(0);
    },
  );

  it('chunked results equal the single solves bit for bit, every method, mixed sizes and operators', async () => {
    const { poisson2d: p2, shifted: sh } = await import('../src/index.js');
    for (const method of ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg'] as const) {
      const systems = [8, 30, 12, 45, 5].map((m, k) => ({
        A: sh(k % 2 ? p2(m) : p2(m, { stencil: true }), 0.05 * (k + 1)),
        b: randomArray(m * m, 60 + k),
        omega: method === 'jacobi' ? 0.7 : 1.1 + 0.1 * k,
      }));
      const many = await ctx.solveMany(systems, { method, tol: 1e-11, maxIter: 4000, backend: 'native', strict: true });
      for (let k = 0; k < systems.length; k++) {
        const one = await ctx.solve(systems[k]!.A, systems[k]!.b, { method, omega: systems[k]!.omega, tol: 1e-11, maxIter: 4000, backend: 'js' });
        expect(many[k]!.iterations).toBe(one.iterations);
        expect(many[k]!.residualNorm).toBe(one.residualNorm);
        expect(Array.from(many[k]!.x)).toEqual(Array.from(one.x));
      }
    }
  });
});

describe.runIf(addon)('native CG breakdown', async () => {
  const { createContext } = await import('../src/index.js');
  const ctx = await createContext({ backends: ['native', 'js'] });
  afterAll(() => ctx.dispose());

  it.each(['cg', 'ssor-cg'] as const)('%s on an indefinite matrix stops as the oracle does, breakdown reported', async (method) => {
    // [[1, 3], [3, 1]] has eigenvalues 4 and −2; p = r_0 = b gives pᵀAp = −1.75.
    const A: CsrMatrix = { nrows: 2, ncols: 2, rowPtr: Int32Array.of(0, 2, 4), colIdx: Int32Array.of(0, 1, 0, 1), values: Float64Array.of(1, 3, 3, 1) };
    const b = Float64Array.of(1, -0.5);
    const ref = await ctx.solve(A, b, { method, omega: 1, backend: 'js' });
    const got = await ctx.solve(A, b, { method, omega: 1, backend: 'native', strict: true });
    expect(ref.stop).toBe('breakdown');
    expect(got.stop).toBe('breakdown');
    expect(got.diverged).toBe(true);
    expect(got.iterations).toBe(ref.iterations);
  });
});
