/**
 * Every available non-js backend against the js oracle (src/backends/js/sketch*), op by op.
 *
 * - The same S: the sketch of the identity is S itself, one term per entry. With isometric: false the
 *   bit-exact kinds (rademacher, srht, countsketch, sparse-sign) have entries ±1 and 0, exact in f32 and
 *   f64, so every backend and thread count must give js's bits. Gaussian entries go through libm
 *   (Box–Muller): a few ulps apart.
 * - SA of general data: the same terms in another order or precision, so within the forward-error bound
 *   γ_k·Σ|terms| of a k-term sum in the backend's unit roundoff (Higham §4.2), twice for two orders.
 * - lstsq: every backend reaches the oracle's residual to 1e-12 relative (sketch-cholesky at κ = 1e4 takes
 *   its sketched path, docs/sketch.md §4.5). Iteration counts may move by
 *   a step or two, because a native QR is LAPACK's blocked dgeqp3, whose R rounds differently from the
 *   oracle's unblocked Householder (docs/sketch.md §6): within max(2, 10 %) on a CPU backend.
 * - kaczmarz (one row per projection): the same rows from the same table and plain sequential
 *   arithmetic, so a CPU backend in f64 reproduces the oracle's count exactly; sketch-and-project
 *   factors each step's S·A, so the same max(2, 10 %) band.
 * A backend without an op falls back to the next candidate, and the context records why.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type BackendName, type Context, type SketchKind } from '../../src/index.js';
import { SKETCH_OPS } from '../../src/sketch/ops.js';
import { eps, openForConformance } from '../support/backends.js';
import { identity, lsProblem, randomDense, toCsr } from './problems.js';

const { ctx, backends } = await openForConformance();
const single = await createContext({ threads: 1 });
afterAll(async () => {
  await single.dispose();
  await ctx.dispose();
});

const KINDS: SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];
const BIT_EXACT: SketchKind[] = ['rademacher', 'srht', 'countsketch', 'sparse-sign'];
const gamma = (k: number, u: number) => (k * u) / (1 - k * u);

function asDtype(A: { rows: number; cols: number; data: Float64Array }, dtype: 'f32' | 'f64') {
  return dtype === 'f64' ? A : { rows: A.rows, cols: A.cols, data: Float32Array.from(A.data) };
}

describe('the oracle', () => {
  it('js registers every sketch op (sketchQr in f64, the rest in f32 and f64)', () => {
    const js = ctx.status().find((s) => s.name === 'js')!;
    for (const op of SKETCH_OPS) {
      expect(js.kernels).toContain(`${op}:f64`);
      if (op !== 'sketchQr') expect(js.kernels).toContain(`${op}:f32`);
    }
  });

  it.each(KINDS)('options.out on js: %s into a buffer holding garbage gives the fresh SA bit for bit', async (kind) => {
    const A = randomDense(200, 5, 13);
    const fresh = await ctx.sketch.apply(A, { kind, m: 16, seed: 4, backend: 'js' });
    const out = new Float64Array(16 * 5).fill(9);
    expect((await ctx.sketch.apply(A, { kind, m: 16, seed: 4, backend: 'js', out })).data).toBe(out);
    expect(out).toEqual(fresh.data);
  });
});

describe.each(backends.filter((b) => b !== 'js'))('%s backend', (backend: BackendName) => {
  const has = (op: (typeof SKETCH_OPS)[number], dtype: 'f32' | 'f64') => ctx.supports(backend, op, dtype);
  /** lstsq runs on this backend at all (each of its ops falls back on its own). */
  const any = SKETCH_OPS.some((op) => has(op, 'f64'));

  it('an op the backend lacks falls back, and the fallback is recorded', async () => {
    const missing = SKETCH_OPS.filter((op) => !has(op, 'f64'));
    if (missing.includes('sketchApply')) {
      const r = await ctx.sketch.apply(identity(8), { kind: 'rademacher', m: 4, seed: 1, backend });
      expect(r.backend).not.toBe(backend);
      expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'sketchApply', requested: backend });
    }
    // Pinned and strict, a refusal is an error (webgpu refuses an f64 S·A that is the answer).
    const refuses = missing.includes('sketchApply') || (await ctx.sketch.apply(identity(8), { kind: 'rademacher', m: 4, seed: 1, backend })).backend !== backend;
    await expect(ctx.sketch.apply(identity(8), { kind: 'rademacher', m: 4, seed: 1, backend, strict: true }))[refuses ? 'rejects' : 'resolves'].toBeDefined();
  });

  /**
   * A backend that refuses these arguments (webgpu: an f64 S·A that is the answer, not a preconditioner)
   * hands the call to another backend and records why; true then, and the comparison is skipped.
   */
  async function fallsBack(c: Context, call: () => Promise<{ backend: string }>): Promise<boolean> {
    const r = await call();
    if (r.backend === backend) return false;
    expect(c.fallbacks().at(-1)).toMatchObject({ op: 'sketchApply', requested: backend });
    return true;
  }

  describe.each(['f64', 'f32'] as const)('%s', (dtype) => {
    const u = eps(backend === 'webgpu' ? 'f32' : dtype === 'f32' ? 'f32' : 'f64');

    it.skipIf(!has('sketchApply', dtype)).each(KINDS)('the same S: %s sketch of the identity, this backend and one thread', async (kind) => {
      const I = asDtype(identity(97), dtype);
      const opts = { kind, m: 33, seed: 5, isometric: false, ...(kind === 'sparse-sign' ? { nnzPerCol: 4 } : {}) };
      const ref = await ctx.sketch.apply(I, { ...opts, backend: 'js' });
      for (const c of [ctx, single] as Context[]) {
        if (!c.supports(backend, 'sketchApply', dtype)) continue;
        if (await fallsBack(c, () => c.sketch.apply(I, { ...opts, backend }))) continue;
        const got = await c.sketch.apply(I, { ...opts, backend, strict: true });
        if (BIT_EXACT.includes(kind)) expect(got.data).toEqual(ref.data);
        else for (let k = 0; k < ref.data.length; k++) expect(Math.abs(got.data[k]! - ref.data[k]!)).toBeLessThanOrEqual(64 * u * Math.abs(ref.data[k]!) + 1e-300);
      }
    });

    it.skipIf(!has('sketchApply', dtype)).each(KINDS)('%s sketch of general dense and CSR data, with b, within the summation bound', async (kind) => {
      const A64 = randomDense(600, 7, 3);
      const b = randomDense(600, 1, 4).data;
      const A = asDtype(A64, dtype);
      const bd = dtype === 'f64' ? b : Float32Array.from(b);
      const opts = { kind, m: 40, seed: 9, b: bd };
      const ref = await ctx.sketch.apply(A, { ...opts, backend: 'js' });
      const maxS = (kind === 'gaussian' ? 6.8 : 1) * (kind === 'countsketch' ? 1 : kind === 'sparse-sign' ? 1 / Math.sqrt(8) : 1 / Math.sqrt(40));
      for (const operand of [A, dtype === 'f64' ? toCsr(A64) : { ...toCsr(A64), values: Float32Array.from(toCsr(A64).values) }]) {
        if (await fallsBack(ctx, () => ctx.sketch.apply(operand as never, { ...opts, backend }))) continue;
        const got = await ctx.sketch.apply(operand as never, { ...opts, backend, strict: true });
        for (let j = 0; j <= 7; j++) {
          let abs = 0;
          for (let i = 0; i < 600; i++) abs += Math.abs(j < 7 ? A.data[i * 7 + j]! : bd[i]!);
          const bound = 2 * gamma(600 + 16, u) * maxS * abs;
          for (let k = 0; k < 40; k++) {
            const g = j < 7 ? got.data[k * 7 + j]! : got.Sb![k]!;
            const w = j < 7 ? ref.data[k * 7 + j]! : ref.Sb![k]!;
            expect(Math.abs(g - w)).toBeLessThanOrEqual(bound);
          }
        }
      }
    });
  });

  // options.out: the kernels add into SA, so a reused buffer must start from zeros as a new one does.
  it.skipIf(!has('sketchApply', 'f64')).each(KINDS)('options.out: %s into a buffer holding garbage gives the fresh SA bit for bit; a bad A leaves it NaN', async (kind) => {
    const A = randomDense(300, 6, 11);
    const b = randomDense(300, 1, 12).data;
    const opts = { kind, m: 24, seed: 2, b, backend };
    if (await fallsBack(ctx, () => ctx.sketch.apply(A, opts))) return;
    const fresh = await ctx.sketch.apply(A, { ...opts, strict: true });
    const out = new Float64Array(24 * 6).fill(-3.5);
    const got = await ctx.sketch.apply(A, { ...opts, strict: true, out });
    expect(got.data).toBe(out);
    expect(out).toEqual(fresh.data);
    expect(got.Sb).toEqual(fresh.Sb);
    // A row block at its offset, into the same buffer again.
    const block = { rows: 100, cols: 6, data: A.data.subarray(600, 1200) };
    const rowsFresh = await ctx.sketch.applyRows(block, 100, { kind, m: 24, seed: 2, totalRows: 300, backend, strict: true });
    await ctx.sketch.applyRows(block, 100, { kind, m: 24, seed: 2, totalRows: 300, backend, strict: true, out });
    expect(out).toEqual(rowsFresh.data);
    const bad = { ...A, data: Float64Array.from(A.data, (v, i) => (i === 250 ? NaN : v)) };
    await expect(ctx.sketch.apply(bad, { ...opts, strict: true, out })).rejects.toMatchObject({ code: 'E_NONFINITE', argument: 'A.data' });
    expect(out.every(Number.isNaN)).toBe(true);
  });

  it.skipIf(!has('sketchQr', 'f64'))('sketchQr: the same rank and residual as js', async () => {
    // Through lstsq 'qr' pinned to the backend: the result's rank and residual.
    const P = lsProblem(300, 9, 1e6, 0.5, 2);
    const ref = await ctx.sketch.lstsq(P.A, P.b, { method: 'qr', backend: 'js' });
    const got = await ctx.sketch.lstsq(P.A, P.b, { method: 'qr', backend });
    expect(got.rank).toBe(ref.rank);
    expect(Math.abs(got.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
  });

  describe.each(['sketch-and-solve', 'sketch-and-precondition', 'iterative-sketching', 'sketch-cholesky'] as const)('lstsq %s', (method) => {
    it.skipIf(!any).each(['srht', 'sparse-sign', 'countsketch'] as const)('%s sketch: the oracle\'s residual (and iterations on a CPU backend)', async (sketch) => {
      const P = lsProblem(2000, 12, 1e4, 0.1, 7);
      const opts = { method, sketch, m: method === 'iterative-sketching' ? 120 : 48, seed: 3 };
      const ref = await ctx.sketch.lstsq(P.A, P.b, { ...opts, backend: 'js' });
      const got = await ctx.sketch.lstsq(P.A, P.b, { ...opts, backend });
      expect(got.converged).toBe(true);
      expect(got.rank).toBe(ref.rank);
      if (method === 'sketch-and-solve') {
        // The same S, so the same x up to the sketch's rounding: residuals agree to κ(SA)·u-ish relative.
        expect(Math.abs(got.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(backend === 'webgpu' ? 1e-4 : 1e-10);
      } else {
        expect(Math.abs(got.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
        if (backend !== 'webgpu' && got.backends.solve === backend) expect(Math.abs(got.iterations - ref.iterations)).toBeLessThanOrEqual(Math.max(2, 0.1 * ref.iterations));
      }
    });
  });

  it.skipIf(!has('sketchKaczmarz', 'f64') && !has('sketchProject', 'f64'))('kaczmarz and sketch-and-project: the oracle\'s rows and counts on a CPU backend', async () => {
    const P = lsProblem(300, 8, 5, 0, 11);
    for (const [name, run] of [
      ['kaczmarz', (c: { backend: BackendName }) => ctx.sketch.kaczmarz(P.A, P.b, { seed: 4, tol: 1e-10, ...c })],
      ['sketchAndProject', (c: { backend: BackendName }) => ctx.sketch.sketchAndProject(P.A, P.b, { sketch: 'countsketch', q: 4, seed: 4, tol: 1e-10, ...c })],
    ] as const) {
      const op = name === 'kaczmarz' ? 'sketchKaczmarz' : 'sketchProject';
      if (!has(op, 'f64')) continue;
      const ref = await run({ backend: 'js' });
      const got = await run({ backend });
      expect(got.converged).toBe(true);
      if (backend === 'webgpu') continue;
      if (name === 'kaczmarz') expect(got.iterations).toBe(ref.iterations);
      else expect(Math.abs(got.iterations - ref.iterations)).toBeLessThanOrEqual(Math.max(2, 0.1 * ref.iterations));
    }
  });
});
