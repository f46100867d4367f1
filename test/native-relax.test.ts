/**
 * Native relaxation solvers against the js oracle (src/backends/js/relax.ts): every method on CSR,
 * constant 2-D and 3-D stencils and variable-coefficient operators, in f64 and f32, with 1 and 2
 * threads. The native kernels repeat the oracle's operations in the same order, so iteration counts are
 * equal and iterates bit-equal. Also: checkEvery > 1, the maxIter cap, divergence, abort, solveMany, and
 * the raw session bindings rejecting bad arguments without a crash. Skipped when the addon is not built.
 * Robustness against callers (detached buffers, scribbled indices, in-place edits, long batches) is in
 * native-robustness.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, diffusion2d, heatStep2d, poisson2d, poisson3d, shifted, type Context, type LinearOperator, type RelaxMethod } from '../src/index.js';
import type { SolveOptions, SolveResult } from '../src/relax/index.js';
import { loadNative } from '../src/backends/addon/load.js';
import { STATE, relaxAddon } from '../src/backends/native/relax.js';
import type { CsrMatrix, StencilOperator } from '../src/core/types.js';
import { femAnisotropic3d, femPoisson2d } from '../src/relax/fem.js';
import { randomArray } from './support/backends.js';

const { addon } = loadNative();
const raw = addon ? relaxAddon(addon) : null;

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
function withLongRangeCouplings(A: CsrMatrix, seed: number, count = A.nrows / 10): CsrMatrix {
  const n = A.nrows;
  const rows: Map<number, number>[] = Array.from({ length: n }, (_, i) => {
    const m = new Map<number, number>();
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) m.set(A.colIdx[p]!, A.values[p]!);
    return m;
  });
  const u = randomArray(2 * count, seed);
  for (let k = 0; k < count; k++) {
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

/** Levels of the lower triangle's dependency graph: row i's is one past the deepest row j < i it reads. */
function forwardLevels(A: CsrMatrix): number {
  const level = new Int32Array(A.nrows);
  let deepest = 0;
  for (let i = 0; i < A.nrows; i++) {
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p]! < i) level[i] = Math.max(level[i]!, level[A.colIdx[p]!]! + 1);
    deepest = Math.max(deepest, level[i]!);
  }
  return deepest + 1;
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

/** ctx's native solve of A, plain and prepared, gives the oracle's count, residual and iterate bits. */
async function expectOracleIterates(ctx: Context, A: CsrMatrix, b: Float64Array, opts: SolveOptions, ref: SolveResult): Promise<void> {
  const P = ctx.relax.prepare(A);
  for (const operand of [A, P]) {
    const got = await ctx.solve(operand, b, { ...opts, backend: 'native', strict: true });
    expect(got.iterations).toBe(ref.iterations);
    expect(got.residualNorm).toBe(ref.residualNorm);
    expect(Array.from(got.x)).toEqual(Array.from(ref.x));
  }
  P.dispose();
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

  // From 2^18 rows SSOR-CG's CSR passes run on two threads over a pair layout (each thread's halves of the
  // row chains stored together; native/src/relax/pair_layout.hpp); long-range couplings make the halves
  // wait on each other in both directions, far back and far ahead. Plain and prepared, whole and chunked.
  it('ssor-cg with long-range couplings past 2^18 rows: the pair layout gives the oracle\'s iterates', async () => {
    const A = withLongRangeCouplings(poisson2d(520), 7);
    const b = randomArray(A.nrows, 11);
    const opts = { method: 'ssor-cg' as const, omega: 1.6, tol: 1e-12, maxIter: 14 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    expect(ref.iterations).toBe(14);
    for (const ctx of contexts) await expectOracleIterates(ctx, A, b, opts, ref);
  }, 60_000);

  // CG's product on two threads splits A by work (entries + rows), not by the sums' 4096-row blocks, where
  // the blocks would fall unevenly (driver.cc multiply_dot): here 4,489 rows of ~50 entries, two blocks of
  // 4,096 and 393 rows, rows of uneven length. The pᵀAp partials are still summed block by block.
  it.each(['cg', 'jacobi-cg'] as const)('%s on few long rows: the product split by work gives the oracle\'s iterates', async (method) => {
    const A = withLongRangeCouplings(poisson2d(67), 5, 22 * 67 * 67);
    expect(A.rowPtr[A.nrows]! + A.nrows).toBeGreaterThan(2 * 6 * 16384);
    const b = randomArray(A.nrows, 3);
    const opts = { method, tol: 1e-10, maxIter: 400 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    expect(ref.converged).toBe(true);
    for (const ctx of contexts) await expectOracleIterates(ctx, A, b, opts, ref);
    for (const ctx of contexts) await expectOracleIterates(ctx, A, b, { ...opts, maxIter: 5 }, await contexts[0]!.solve(A, b, { ...opts, maxIter: 5, backend: 'js' }));
  }, 60_000);

  // A mesh generator's Z-order numbering has no grid lines to halve: past 2^18 rows the pair layout cuts
  // the mesh's graph in two instead (pair_layout.cc, cut_owners), thread 0's side closed under the forward
  // pass's reads. The native C++ test checks that the cut is made; here the addon's solve on it.
  it.each([
    ['femPoisson2d(520)', () => femPoisson2d(520, { seed: 3 })],
    ['femAnisotropic3d(64)', () => femAnisotropic3d(64)],
  ] as const)('ssor-cg on %s (Z-ordered, past 2^18 rows): the cut pair layout gives the oracle\'s iterates', async (_, make) => {
    const A = make();
    const b = randomArray(A.nrows, 13);
    const opts = { method: 'ssor-cg' as const, omega: 1.4, tol: 1e-12, maxIter: 6 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    expect(ref.iterations).toBe(6);
    await expectOracleIterates(contexts[1]!, A, b, opts, ref);
  }, 120_000);

  // On a prepared operator of at most 2^15 rows whose forward levels hold at least 32 rows on average, on
  // AVX-512 CPUs, SSOR-CG's passes run level by level in eight-row lanes (native/src/relax/eisenstat_lanes.cc);
  // a plain CSR's own copy keeps the chained passes. Unstructured matrices give levels and rows of every width.
  it.each([
    ['femPoisson2d(170, contrast 100)', () => femPoisson2d(170, { contrast: 100, seed: 3 })],
    ['femAnisotropic3d(12)', () => femAnisotropic3d(12)],
  ] as const)('ssor-cg on %s: the level-ordered passes give the oracle\'s iterates', async (_, make) => {
    const A = make();
    expect(A.nrows).toBeLessThanOrEqual(2 ** 15);
    expect(A.nrows / forwardLevels(A)).toBeGreaterThanOrEqual(32);
    const b = randomArray(A.nrows, 5);
    const opts = { method: 'ssor-cg' as const, omega: 1.4, tol: 1e-10, maxIter: 1000 };
    const ref = await contexts[0]!.solve(A, b, { ...opts, backend: 'js' });
    expect(ref.converged).toBe(true);
    for (const ctx of contexts) await expectOracleIterates(ctx, A, b, opts, ref);
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

  // The backend's small argument vectors (settings, budget, state) are shared scratch, written and read
  // within one synchronous addon call: solves interleaved at their chunk boundaries, some on the pool,
  // must each get what they get alone.
  it('concurrent solves, interleaved at chunk boundaries, each get their own iterates and counts', async () => {
    const cases = [
      { A: poisson2d(220), method: 'cg' as const, omega: 1 },
      { A: shifted(poisson2d(150), 0.05), method: 'ssor-cg' as const, omega: 1.8 },
      { A: femPoisson2d(40), method: 'sor' as const, omega: 1.7 },
      { A: poisson2d(180, { stencil: true }), method: 'cg' as const, omega: 1 },
    ].map((c, k) => ({ ...c, b: randomArray(sizeOf(c.A), 70 + k) }));
    const alone = [];
    for (const c of cases) alone.push(await contexts[0]!.solve(c.A, c.b, { method: c.method, omega: c.omega, tol: 1e-10, backend: 'native', strict: true }));
    const progress = cases.map(() => [] as number[]);
    const together = await Promise.all(cases.map((c, k) => contexts[0]!.solve(c.A, c.b, {
      method: c.method, omega: c.omega, tol: 1e-10, backend: 'native', strict: true, onProgress: (p) => progress[k]!.push(p.iteration),
    })));
    for (let k = 0; k < cases.length; k++) {
      expect(together[k]!.iterations).toBe(alone[k]!.iterations);
      expect(together[k]!.residualNorm).toBe(alone[k]!.residualNorm);
      expect(together[k]!.stop).toBe(alone[k]!.stop);
      expect(Array.from(together[k]!.x)).toEqual(Array.from(alone[k]!.x));
      // Progress reports come from each solve's own state: increasing, never past its final count.
      expect(progress[k]!).toEqual([...progress[k]!].sort((a, b) => a - b));
      expect(Math.max(0, ...progress[k]!)).toBeLessThanOrEqual(alone[k]!.iterations);
    }
    // At least one solve did stop at a chunk boundary and report, so the solves really interleaved.
    expect(progress.some((p) => p.length > 0)).toBe(true);
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
  // survive a stop after any update, and a system advanced among others must get what it gets alone.
  it.each(METHODS)('%s: one update per call, and a system among others, give the iterates of one call', (method) => {
    const r = raw!;
    const A = shifted(poisson2d(20), 0.1);
    const op = { rowPtr: A.rowPtr, colIdx: A.colIdx, values: Float64Array.from(A.values) };
    const coloring = method === 'sor-redblack' ? { order: Int32Array.from({ length: 400 }, (_, i) => i), offsets: Int32Array.of(0, 400) } : undefined;
    const b = randomArray(400, 4);
    const settings = Float64Array.of(METHODS.indexOf(method), 0, 1e-10, 1, 500, 2);
    const omega = method === 'jacobi' ? 0.8 : 1.5;
    const system = { op, coloring, b, x: new Float64Array(400), omega };
    const run = (systems: (typeof system)[], per: number) => {
      const session = r.relaxCreate(systems, settings);
      let calls = 0;
      while (r.relaxAdvance(session, new Float64Array(systems.length).fill(per), 1) > 0) calls++;
      const x = new Float64Array(400);
      const st = new Float64Array(STATE.length);
      r.relaxRead(session, 0, st, x);
      r.relaxRelease(session);
      return { x, st, calls };
    };
    const whole = run([system], 1e9);
    const stepped = run([system], 1);
    // The other system converges at its own pace; system 0 must not notice.
    const shared = run([system, { ...system, b: randomArray(400, 5), omega: 1.1 }], 3);
    expect(whole.calls).toBe(0);
    expect(stepped.calls).toBeGreaterThan(5);
    expect(stepped.st[STATE.status]).not.toBe(0);
    for (const other of [stepped, shared]) {
      expect(Array.from(other.st)).toEqual(Array.from(whole.st));
      expect(Array.from(other.x)).toEqual(Array.from(whole.x));
    }
    expect(Array.from(system.x)).toEqual(new Array(400).fill(0));
  });

  describe('raw bindings reject bad arguments without a crash', () => {
    const r = raw!;
    const n = 4;
    const csr = { rowPtr: Int32Array.of(0, 2, 5, 8, 10), colIdx: Int32Array.of(0, 1, 0, 1, 2, 1, 2, 3, 2, 3), values: Float64Array.of(2, -1, -1, 2, -1, -1, 2, -1, -1, 2) };
    const settings = Float64Array.of(2, 1.2, 1e-8, 1, 100, 1);
    const b = new Float64Array(n).fill(1);
    type Over = Partial<Record<'op' | 'coloring' | 'b' | 'x' | 'omega' | 'settings', unknown>>;
    const create = (over: Over) => () => {
      const a = { op: csr, coloring: undefined, b, x: new Float64Array(n), omega: 1.2, settings, ...over };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return (r.relaxCreate as any)([{ op: a.op, coloring: a.coloring, b: a.b, x: a.x, omega: a.omega }], a.settings);
    };
    const cases: [string, Over, RegExp][] = [
      ['op not an object', { op: 3 }, /^systems\[0\]\.op: expected an object/],
      ['values Int32Array', { op: { ...csr, values: Int32Array.from(csr.values) } }, /^systems\[0\]\.op\.values: expected Float32Array or Float64Array/],
      ['colIdx out of range', { op: { ...csr, colIdx: Int32Array.of(0, 1, 0, 1, 2, 1, 2, 4, 2, 3) } }, /^systems\[0\]\.op\.colIdx: colIdx\[7\] = 4/],
      ['rowPtr past nnz', { op: { ...csr, rowPtr: Int32Array.of(0, 2, 5, 8, 11) } }, /^systems\[0\]\.op\.rowPtr: /],
      ['rowPtr not monotone', { op: { ...csr, rowPtr: Int32Array.of(0, 5, 2, 8, 10) } }, /^systems\[0\]\.op\.rowPtr: not monotone/],
      ['b too short', { b: new Float64Array(3) }, /^systems\[0\]\.b: length 3 should be 4/],
      ['x Int32Array', { x: new Int32Array(4) }, /^systems\[0\]\.x: expected Float32Array or Float64Array/],
      ['omega NaN', { omega: Number.NaN }, /^systems\[0\]\.omega: expected a finite number/],
      ['bad method', { settings: Float64Array.of(9, 1, 1e-8, 1, 100, 1) }, /^settings: method/],
      ['checkEvery 0', { settings: Float64Array.of(2, 1, 1e-8, 1, 100, 0) }, /^settings: checkEvery/],
      ['settings short', { settings: Float64Array.of(2, 1, 1e-8) }, /^settings: length 3 should be 6/],
      ['red-black without coloring', { settings: Float64Array.of(4, 1, 1e-8, 1, 100, 1) }, /^systems\[0\]\.coloring: sor-redblack needs/],
      ['order not a permutation', { coloring: { order: Int32Array.of(0, 2, 2, 3), offsets: Int32Array.of(0, 2, 4) } }, /^systems\[0\]\.coloring\.order: row 2 appears twice/],
      ['order out of range', { coloring: { order: Int32Array.of(0, 2, 1, 7), offsets: Int32Array.of(0, 2, 4) } }, /^systems\[0\]\.coloring\.order: order\[3\] = 7/],
      ['offsets not ending at n', { coloring: { order: Int32Array.of(0, 2, 1, 3), offsets: Int32Array.of(0, 2, 3) } }, /^systems\[0\]\.coloring\.offsets: /],
      ['stencil shape product ≠ b.length', { op: { shape: Int32Array.of(3, 3), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^systems\[0\]\.b: length 4 should be 9/],
      ['stencil shape rank 1', { op: { shape: Int32Array.of(4), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1) } }, /^systems\[0\]\.op\.shape: length 1/],
      ['stencil negative extent', { op: { shape: Int32Array.of(2, -2), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^systems\[0\]\.op\.shape: shape\[1\]/],
      ['stencil variable coefficients short', { op: { shape: Int32Array.of(2, 2), variable: true, diag: new Float64Array(4), offdiag: [0, 1, 2, 3].map((d) => new Float64Array(d === 2 ? 3 : 4)) } }, /^systems\[0\]\.op\.offdiag\[2\]: length 3 should be 4/],
      ['stencil variable: 3 directions of 4', { op: { shape: Int32Array.of(2, 2), variable: true, diag: new Float64Array(4), offdiag: [0, 1, 2].map(() => new Float64Array(4)) } }, /^systems\[0\]\.op\.offdiag: 3 arrays should be 4/],
      ['stencil variable offdiag packed', { op: { shape: Int32Array.of(2, 2), variable: true, diag: new Float64Array(4), offdiag: new Float64Array(16) } }, /^systems\[0\]\.op\.offdiag: expected an Array of 4 coefficient arrays/],
      ['stencil constant zero coupling', { op: { shape: Int32Array.of(2, 2), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, 0, -1, -1) } }, /^systems\[0\]\.op\.offdiag: constant coupling 1 is zero/],
      ['stencil shape huge', { op: { shape: Int32Array.of(65536, 65536), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) } }, /^systems\[0\]\.op\.shape: more than/],
    ];
    it.each(cases)('%s', (_name, over, message) => {
      expect(create(over)).toThrow(message);
    });

    it('systems must be an Array; an empty one is a session with nothing to do', () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      expect(() => (r.relaxCreate as any)('nope', settings)).toThrow(/^systems: expected an Array/);
      const empty = r.relaxCreate([], settings);
      expect(r.relaxAdvance(empty, new Float64Array(0))).toBe(0);
      expect(() => r.relaxRead(empty, 0, new Float64Array(STATE.length))).toThrow(/^k: the session has no systems/);
      r.relaxRelease(empty);
    });

    it('a session is checked on every call: budgets, reads, release, an advance in flight', async () => {
      const session = create({})();
      expect(() => r.relaxAdvance(session, new Float64Array(2))).toThrow(/^maxUpdates: length 2 should be 1/);
      expect(() => r.relaxAdvance(session, Float64Array.of(0))).toThrow(/^maxUpdates: maxUpdates\[0\] should be an integer >= 1/);
      expect(() => r.relaxAdvance(session, Float64Array.of(1.5))).toThrow(/^maxUpdates: /);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      expect(() => (r.relaxAdvance as any)({}, Float64Array.of(1))).toThrow(/^session: expected a session from relaxCreate, got object/);
      expect(() => r.relaxRead(session, 1, new Float64Array(STATE.length))).toThrow(/^k: expected an integer in \[0, 0\]/);
      expect(() => r.relaxRead(session, 0, new Float64Array(3))).toThrow(/^state: length 3/);
      expect(() => r.relaxRead(session, 0, new Float64Array(STATE.length), new Float64Array(3))).toThrow(/^x: length 3 should be 4/);
      const pending = r.relaxAdvanceAsync(session, Float64Array.of(1));
      expect(() => r.relaxRead(session, 0, new Float64Array(STATE.length))).toThrow(/^session: busy/);
      expect(() => r.relaxRelease(session)).toThrow(/^session: busy/);
      await expect(r.relaxAdvanceAsync(session, Float64Array.of(1))).rejects.toThrow(/^session: busy/);
      await pending;
      let left = 1;
      while (left > 0) left = r.relaxAdvance(session, Float64Array.of(3));
      const st = new Float64Array(STATE.length);
      const x32 = new Float32Array(n);
      r.relaxRead(session, 0, st, x32);
      expect(st[STATE.status]).toBe(1);
      // The 1-D Poisson system with b = 1 has x = (2, 3, 3, 2).
      expect(Array.from(x32).map((v) => Math.round(v * 1e3) / 1e3)).toEqual([2, 3, 3, 2]);
      r.relaxRelease(session);
      expect(() => r.relaxAdvance(session, Float64Array.of(1))).toThrow(/^session: already released/);
      expect(() => r.relaxRelease(session)).toThrow(/^session: already released/);
    });
  });

  it('relaxOperatorSame: true exactly for the arrays the copy was made from (values as widened), false for any other', () => {
    const r = raw!;
    const A = femPoisson2d(6);
    const op = r.relaxOperator({ rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values }, false);
    const same = (rowPtr: Int32Array, colIdx: Int32Array, values: Float32Array | Float64Array) => r.relaxOperatorSame(op, { rowPtr, colIdx, values });
    expect(same(A.rowPtr, A.colIdx, A.values.slice())).toBe(true);
    const v = A.values.slice();
    v[9] = v[9]! + 2 ** -40;
    expect(same(A.rowPtr, A.colIdx, v)).toBe(false);
    const c = A.colIdx.slice();
    c[c.length - 1] = 0;
    expect(same(A.rowPtr, c, A.values)).toBe(false);
    expect(same(A.rowPtr.subarray(0, 5), A.colIdx, A.values)).toBe(false);
    const F = Float32Array.from(A.values);
    const opF = r.relaxOperator({ rowPtr: A.rowPtr, colIdx: A.colIdx, values: F });
    expect(r.relaxOperatorSame(opF, { rowPtr: A.rowPtr, colIdx: A.colIdx, values: F })).toBe(true);
    expect(r.relaxOperatorSame(opF, { rowPtr: A.rowPtr, colIdx: A.colIdx, values: Float64Array.from(F) })).toBe(true);
    expect(r.relaxOperatorSame(opF, { rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values })).toBe(false);
    const sten = r.relaxOperator({ shape: Int32Array.of(3, 3), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, -1, -1, -1) });
    expect(r.relaxOperatorSame(sten, { rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values })).toBe(false);
    r.relaxOperatorRelease(op);
    expect(same(A.rowPtr, A.colIdx, A.values)).toBe(false);
    expect(() => r.relaxOperatorSame({} as never, { rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values })).toThrow(/^op: /);
    expect(() => r.relaxOperator({ rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values }, 1 as never)).toThrow(/^splitLanes: /);
    r.relaxOperatorRelease(opF);
    r.relaxOperatorRelease(sten);
  });
});
