/**
 * Native relaxation solvers against the js oracle (src/backends/js/relax.ts): every method on CSR,
 * constant 2-D and 3-D stencils and variable-coefficient operators, in f64 and f32, with 1 and 2
 * threads. The native kernels repeat the oracle's operations in the same order, so iteration counts are
 * equal and iterates bit-equal. Also: checkEvery > 1, the maxIter cap, divergence, abort, solveMany, and
 * the raw bindings rejecting bad arguments without a crash. Skipped when the addon is not built.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, diffusion2d, heatStep2d, poisson2d, poisson3d, shifted, type LinearOperator, type RelaxMethod } from '../src/index.js';
import { loadNative } from '../src/backends/native/load.js';
import { STATE, type NativeRelaxKernels } from '../src/backends/native/relax.js';
import type { CsrMatrix, StencilOperator } from '../src/core/types.js';
import { randomArray } from './support/backends.js';

const { addon } = loadNative();
const raw = addon as unknown as NativeRelaxKernels | null;

const METHODS: RelaxMethod[] = ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg'];
const kappa = (x: number, y: number) => 1 + 0.5 * Math.sin(3 * x) * y;

const PROBLEMS: [string, () => LinearOperator][] = [
  ['poisson2d 12 CSR', () => shifted(poisson2d(12), 0.3)],
  ['poisson2d 12 stencil', () => shifted(poisson2d(12, { stencil: true }), 0.3)],
  ['poisson2d 9x13 stencil, anisotropic', () => ({ kind: 'stencil', shape: [9, 13], coeffs: { kind: 'constant', diag: 5, offdiag: [-1, -1.5, -0.75, -1.25] } })],
  ['constant stencil with a zero coupling', () => ({ kind: 'stencil', shape: [7, 5], coeffs: { kind: 'constant', diag: 4, offdiag: [-1, -1, 0, -1] } })],
  ['poisson3d 6 stencil', () => shifted(poisson3d(6, { stencil: true }), 0.5)],
  ['poisson3d 5 CSR', () => poisson3d(5)],
  ['poisson3d 4x5x3 variable stencil', () => variable3d([4, 5, 3])],
  ['diffusion2d 10 CSR', () => diffusion2d(10, kappa)],
  ['diffusion2d 10 stencil', () => diffusion2d(10, kappa, { stencil: true })],
  ['heat CN step 16 stencil', () => heatStep2d(16, { kappa: 0.1 }).lhs],
  ['heat CN step 16 CSR', () => heatStep2d(16, { kappa: 0.1, stencil: false }).lhs],
];

/** A diagonally dominant 7-point operator with per-node coefficients. */
function variable3d(shape: number[]): StencilOperator<Float64Array> {
  const n = shape[0]! * shape[1]! * shape[2]!;
  const off = [0, 1, 2, 3, 4, 5].map((d) => Float64Array.from({ length: n }, (_, i) => -(0.5 + 0.4 * Math.sin(i + d))));
  const diag = Float64Array.from({ length: n }, (_, i) => 0.2 + off.reduce((s, o) => s - o[i]!, 0));
  return { kind: 'stencil', shape, coeffs: { kind: 'variable', diag, offdiag: off } };
}

/** A + symmetric couplings −0.3 between random far-apart rows, the diagonal raised to stay dominant. */
function withLongRangeCouplings(A: CsrMatrix, seed: number): CsrMatrix {
  const n = A.nrows;
  const rows: Map<number, number>[] = Array.from({ length: n }, (_, i) => {
    const m = new Map<number, number>();
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) m.set(A.colIdx[p]!, A.values[p]!);
    return m;
  });
  const u = randomArray(2 * n, seed);
  for (let k = 0; k < n / 10; k++) {
    const i = Math.floor(Math.abs(u[2 * k]!) * n) % n;
    const j = Math.floor(Math.abs(u[2 * k + 1]!) * n) % n;
    if (Math.abs(i - j) < 2) continue;
    for (const [a, c] of [[i, j], [j, i]] as const) {
      rows[a]!.set(c, (rows[a]!.get(c) ?? 0) - 0.3);
      rows[a]!.set(a, rows[a]!.get(a)! + 0.3);
    }
  }
  const rowPtr = new Int32Array(n + 1);
  const colIdx: number[] = [];
  const values: number[] = [];
  rows.forEach((m, i) => {
    for (const c of [...m.keys()].sort((x, y) => x - y)) {
      colIdx.push(c);
      values.push(m.get(c)!);
    }
    rowPtr[i + 1] = colIdx.length;
  });
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(colIdx), values: Float64Array.from(values) };
}

function sizeOf(A: LinearOperator): number {
  return 'kind' in A ? A.shape.reduce((a, b) => a * b, 1) : A.nrows;
}

function toF32(A: LinearOperator): LinearOperator {
  if (!('kind' in A)) return { ...A, values: Float32Array.from(A.values) };
  const c = A.coeffs;
  if (c.kind === 'constant') return A;
  return { ...A, coeffs: { kind: 'variable', diag: Float32Array.from(c.diag), offdiag: c.offdiag.map((o) => Float32Array.from(o)) } } as LinearOperator;
}

const omegaFor = (m: RelaxMethod) => (m === 'jacobi' ? 0.8 : 1.3);

describe.runIf(raw)('native relax vs the js oracle', async () => {
  const contexts = await Promise.all([1, 2].map((threads) => createContext({ threads, backends: ['native', 'js'] })));
  afterAll(() => Promise.all(contexts.map((c) => c.dispose())));

  describe.each([1, 2])('threads %i', (threads) => {
    const ctx = contexts[threads - 1]!;
    describe.each(PROBLEMS)('%s', (_name, make) => {
      const A64 = make();
      const b64 = randomArray(sizeOf(A64), 5);
      describe.each(['f64', 'f32'] as const)('%s', (dtype) => {
        const A = dtype === 'f32' ? toF32(A64) : A64;
        const b = dtype === 'f32' ? Float32Array.from(b64) : b64;
        it.each(METHODS)('%s', async (method) => {
          for (const extra of [{}, { checkEvery: 3 }, { maxIter: 7 }]) {
            const opts = { method, omega: omegaFor(method), tol: 1e-8, maxIter: 5000, ...extra };
            const ref = await ctx.solve(A, b, { ...opts, backend: 'js' });
            const got = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
            expect(got.backend).toBe('native');
            expect(got.iterations).toBe(ref.iterations);
            expect(got.converged).toBe(ref.converged);
            expect(got.diverged).toBe(ref.diverged);
            expect(got.initialResidualNorm).toBe(ref.initialResidualNorm);
            expect(got.residualNorm).toBe(ref.residualNorm);
            expect(got.x).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
            expect(Array.from(got.x)).toEqual(Array.from(ref.x));
          }
        });
      });
    });
  });

  // Big enough that the residual, spmv and colour passes really split across 2 threads (and > 1 block).
  it.each(METHODS)('%s on poisson2d(200): 1 thread, 2 threads and js agree bit for bit', async (method) => {
    for (const A of [poisson2d(200), poisson2d(200, { stencil: true })] as LinearOperator[]) {
      const b = randomArray(40000, 9);
      const opts = { method, omega: method === 'jacobi' ? 0.9 : 1.7, tol: 1e-6, maxIter: method.endsWith('cg') ? 400 : 25, checkEvery: 2 };
      const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
      for (const ctx of contexts) {
        const got = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
        expect(got.iterations).toBe(ref.iterations);
        expect(got.residualNorm).toBe(ref.residualNorm);
        expect(Array.from(got.x)).toEqual(Array.from(ref.x));
      }
    }
  });

  // Red-black on a 2-D stencil does two sweeps per pass over memory when no test falls between them;
  // the updates held back around the thread boundary are the delicate part, narrowest at 8 lines a thread.
  it.each([[33, 17], [8, 16], [5, 40], [64, 9]])('sor-redblack on a %i×%i stencil, two sweeps a pass: the oracle\'s iterates', async (nx, ny) => {
    const A: StencilOperator = { kind: 'stencil', shape: [nx, ny], coeffs: { kind: 'constant', diag: 4.2, offdiag: [-1, -1, -1, -1] } };
    const b = randomArray(nx * ny, 13);
    for (const checkEvery of [2, 3, 4]) {
      const opts = { method: 'sor-redblack' as const, omega: 1.4, tol: 1e-10, maxIter: 57, checkEvery };
      const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
      for (const ctx of contexts) {
        const got = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
        expect(got.iterations).toBe(ref.iterations);
        expect(Array.from(got.x)).toEqual(Array.from(ref.x));
      }
    }
  });

  // SSOR-CG's CSR triangular passes run as a two-thread pipeline over row chains; long-range couplings
  // make the halves of the chains wait on each other in both directions.
  it('ssor-cg with long-range couplings: the two-thread pipeline gives the oracle\'s iterates', async () => {
    const A = withLongRangeCouplings(poisson2d(190), 7);
    const b = randomArray(A.nrows, 11);
    const opts = { method: 'ssor-cg' as const, omega: 1.6, tol: 1e-9, maxIter: 400 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    expect(ref.converged).toBe(true);
    for (const ctx of contexts) {
      const got = await ctx.solve(A, b, { ...opts, backend: 'native', strict: true });
      expect(got.iterations).toBe(ref.iterations);
      expect(got.residualNorm).toBe(ref.residualNorm);
      expect(Array.from(got.x)).toEqual(Array.from(ref.x));
    }
  });

  it.each(METHODS)('%s diverges (or breaks down) on the indefinite [[1,3],[3,1]] as the oracle does', async (method) => {
    const A: CsrMatrix = { nrows: 2, ncols: 2, rowPtr: Int32Array.of(0, 2, 4), colIdx: Int32Array.of(0, 1, 0, 1), values: Float64Array.of(1, 3, 3, 1) };
    const b = Float64Array.of(1, -0.5);
    const opts = { method, omega: omegaFor(method), maxIter: 10000 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    const got = await contexts[1]!.solve(A, b, { ...opts, backend: 'native', strict: true });
    expect(got.diverged).toBe(ref.diverged);
    expect(got.iterations).toBe(ref.iterations);
    if (method !== 'cg' && method !== 'ssor-cg') expect(got.diverged).toBe(true);
  });

  it('aborts mid-solve with E_ABORTED and reports progress', async () => {
    const A = poisson2d(400);
    const b = randomArray(A.nrows, 3);
    const ac = new AbortController();
    const seen: number[] = [];
    setTimeout(() => ac.abort(), 150);
    await expect(
      contexts[1]!.solve(A, b, { method: 'sor', omega: 1.01, tol: 1e-14, maxIter: 1e6, backend: 'native', strict: true, signal: ac.signal, onProgress: (p) => seen.push(p.iteration) }),
    ).rejects.toMatchObject({ code: 'E_ABORTED' });
    // Stopped at a chunk boundary, long before the iteration budget.
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBeLessThan(1e6);
  });

  it.each(['f64', 'f32'] as const)('solveMany (one native call) matches single js solves, %s', async (dtype) => {
    for (const method of METHODS) {
      const systems = [0.1, 0.2, -0.1, 0.35].map((c, k) => {
        const A = shifted(k % 2 ? poisson2d(10) : poisson2d(10, { stencil: true }), c);
        const b = randomArray(100, 40 + k);
        return { A: dtype === 'f32' ? toF32(A) : A, b: dtype === 'f32' ? Float32Array.from(b) : b, omega: 1.2 + 0.1 * k };
      });
      const many = await contexts[1]!.solveMany(systems, { method, backend: 'native', strict: true });
      for (let k = 0; k < systems.length; k++) {
        const one = await contexts[0]!.solve(systems[k]!.A, systems[k]!.b, { method, omega: systems[k]!.omega, backend: 'js' });
        expect(many[k]!.backend).toBe('native');
        expect(many[k]!.iterations).toBe(one.iterations);
        expect(Array.from(many[k]!.x)).toEqual(Array.from(one.x));
      }
    }
  });

  // A solve runs in chunks; everything carried between them (r, the direction, ρ, SSOR-CG's pending β) must
  // survive a stop after any update.
  it.each(METHODS)('%s: one update per call gives the iterates of one call', (method) => {
    const r = raw!;
    const A = shifted(poisson2d(20), 0.1);
    const op = { rowPtr: A.rowPtr, colIdx: A.colIdx, values: Float64Array.from(A.values) };
    const coloring = method === 'sor-redblack' ? { order: Int32Array.from({ length: 400 }, (_, i) => i), offsets: Int32Array.of(0, 400) } : undefined;
    const b = randomArray(400, 4);
    const settings = Float64Array.of(METHODS.indexOf(method), method === 'jacobi' ? 0.8 : 1.5, 1e-10, 1, 500, 2);
    const vectors = method === 'ssor-cg' ? 6 : method === 'cg' ? 3 : 1;
    const run = (per: number) => {
      const x = new Float64Array(400);
      const st = new Float64Array(STATE.length);
      const work = new Float64Array(vectors * 400);
      let calls = 0;
      while (r.relaxStep(op, coloring, b, x, work, settings, st, per, 1) === 0) calls++;
      return { x, st, calls };
    };
    const whole = run(1e9);
    const stepped = run(1);
    expect(whole.calls).toBe(0);
    expect(stepped.calls).toBeGreaterThan(5);
    expect(stepped.st[STATE.status]).not.toBe(0);
    expect(Array.from(stepped.st)).toEqual(Array.from(whole.st));
    expect(Array.from(stepped.x)).toEqual(Array.from(whole.x));
  });

  describe('raw bindings reject bad arguments without a crash', () => {
    const r = raw!;
    const n = 4;
    const csr = { rowPtr: Int32Array.of(0, 2, 5, 8, 10), colIdx: Int32Array.of(0, 1, 0, 1, 2, 1, 2, 3, 2, 3), values: Float64Array.of(2, -1, -1, 2, -1, -1, 2, -1, -1, 2) };
    const settings = Float64Array.of(2, 1.2, 1e-8, 1, 100, 1);
    const b = new Float64Array(n).fill(1);
    const call = (over: Partial<Record<'op' | 'coloring' | 'b' | 'x' | 'work' | 'settings' | 'state' | 'maxUpdates', unknown>>) => {
      const a = { op: csr, coloring: undefined, b, x: new Float64Array(n), work: new Float64Array(n), settings, state: new Float64Array(STATE.length), maxUpdates: 10, ...over };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const f = r.relaxStep as any;
      return () => f(a.op, a.coloring, a.b, a.x, a.work, a.settings, a.state, a.maxUpdates, 1);
    };
    const cases: [string, Parameters<typeof call>[0], RegExp][] = [
      ['op not an object', { op: 3 }, /^op: expected an object/],
      ['values Float32Array', { op: { ...csr, values: Float32Array.from(csr.values) } }, /^op\.values: expected Float64Array/],
      ['colIdx out of range', { op: { ...csr, colIdx: Int32Array.of(0, 1, 0, 1, 2, 1, 2, 4, 2, 3) } }, /^op\.colIdx: colIdx\[7\] = 4/],
      ['rowPtr past nnz', { op: { ...csr, rowPtr: Int32Array.of(0, 2, 5, 8, 11) } }, /^op\.rowPtr: /],
      ['rowPtr not monotone', { op: { ...csr, rowPtr: Int32Array.of(0, 5, 2, 8, 10) } }, /^op\.rowPtr: not monotone/],
      ['b too short', { b: new Float64Array(3) }, /^b: length 3 should be 4/],
      ['x Float32Array', { x: new Float32Array(4) }, /^x: expected Float64Array/],
      ['work too short for CG', { settings: Float64Array.of(5, 1, 1e-8, 1, 100, 1) }, /^work: length 4 should be 12/],
      ['work too short for SSOR-CG', { settings: Float64Array.of(6, 1, 1e-8, 1, 100, 1) }, /^work: length 4 should be 24/],
      ['bad method', { settings: Float64Array.of(9, 1, 1e-8, 1, 100, 1) }, /^settings: method/],
      ['checkEvery 0', { settings: Float64Array.of(2, 1, 1e-8, 1, 100, 0) }, /^settings: checkEvery/],
      ['state short', { state: new Float64Array(3) }, /^state: length 3/],
      ['maxUpdates 0', { maxUpdates: 0 }, /^maxUpdates: /],
      ['red-black without coloring', { settings: Float64Array.of(4, 1, 1e-8, 1, 100, 1) }, /^coloring: sor-redblack needs/],
      ['order not a permutation', { coloring: { order: Int32Array.of(0, 2, 2, 3), offsets: Int32Array.of(0, 2, 4) } }, /^coloring\.order: row 2 appears twice/],
      ['order out of range', { coloring: { order: Int32Array.of(0, 2, 1, 7), offsets: Int32Array.of(0, 2, 4) } }, /^coloring\.order: order\[3\] = 7/],
      ['offsets not ending at n', { coloring: { order: Int32Array.of(0, 2, 1, 3), offsets: Int32Array.of(0, 2, 3) } }, /^coloring\.offsets: /],
      ['stencil shape product ≠ b.length', { op: { shape: Int32Array.of(3, 3), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^b: length 4 should be 9/],
      ['stencil shape rank 1', { op: { shape: Int32Array.of(4), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1) } }, /^op\.shape: length 1/],
      ['stencil negative extent', { op: { shape: Int32Array.of(2, -2), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^op\.shape: shape\[1\]/],
      ['stencil variable coefficients short', { op: { shape: Int32Array.of(2, 2), variable: true, diag: new Float64Array(4), offdiag: new Float64Array(15) } }, /^op\.offdiag: length 15 should be 16/],
      ['stencil constant zero coupling', { op: { shape: Int32Array.of(2, 2), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, 0, -1, -1) } }, /^op\.offdiag: constant coupling 1 is zero/],
      ['stencil shape huge', { op: { shape: Int32Array.of(65536, 65536), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^op\.shape: more than/],
    ];
    it.each(cases)('%s', async (_name, over, message) => {
      expect(call(over)).toThrow(message);
      const a = { op: csr, coloring: undefined, b, x: new Float64Array(n), work: new Float64Array(n), settings, state: new Float64Array(STATE.length), maxUpdates: 10, ...over };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      await expect((r.relaxStepAsync as any)(a.op, a.coloring, a.b, a.x, a.work, a.settings, a.state, a.maxUpdates, 1)).rejects.toThrow(message);
    });

    it('a good call runs; the batch binding checks each system by name', async () => {
      const st = new Float64Array(STATE.length);
      const x = new Float64Array(n);
      let status = 0;
      while ((status = r.relaxStep(csr, undefined, b, x, new Float64Array(n), settings, st, 3, 1)) === 0);
      expect(status).toBe(1);
      expect(() => r.relaxBatch([{ op: csr, b, x: new Float64Array(3), omega: 1 }], settings, new Float64Array(STATE.length))).toThrow(/^systems\[0\]\.x: length 3/);
      expect(() => r.relaxBatch([{ op: csr, b, x, omega: 1 }], settings, new Float64Array(7))).toThrow(/^out: length 7/);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      expect(() => (r.relaxBatch as any)('nope', settings, new Float64Array(STATE.length))).toThrow(/^systems: expected an Array/);
      await expect(r.relaxBatchAsync([{ op: csr, b, x, omega: Number.NaN }], settings, new Float64Array(STATE.length))).rejects.toThrow(/^systems\[0\]\.omega/);
    });
  });
});
