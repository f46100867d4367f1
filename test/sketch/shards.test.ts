/**
 * Row shards (docs/sketch.md §3): Σᵢ applyRows(Aᵢ, offsetᵢ) over any row partition equals apply(A).
 *
 * - The same S: a block's columns of S depend only on (seed, global row), so on the identity — where
 *   every entry of SA is a single term plus exact zeros — the merge is bit-identical for every kind.
 * - Exact sums merge exactly: on integer data with isometric: false (the ±1 kinds; Gaussian entries
 *   are not integers) every partial sum is exact, so the merge is bit-identical, and scaling the merged
 *   sum once by `sketch.scale` gives apply's isometric result bit for bit. CountSketch needs no scale,
 *   so its isometric merge is bit-identical too.
 * - Otherwise the merge re-associates the same terms: any two orders of a k-term sum differ by at
 *   most 2·γ_k·Σ|terms| (Higham, Accuracy and Stability, §4.2), with |S₀| ≤ 1 for the ±1 kinds and
 *   ≤ 6.8 for the Gaussian (Box–Muller with u ≥ 2⁻³³). The SRHT's butterflies are a log₂B-deep tree
 *   plus the block sum, within the same k = n bound.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type SketchKind } from '../../src/index.js';
import { rng } from '../support/backends.js';
import { identity, randomDense, rowBlock, toCsr } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const KINDS: SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];
const u = 2 ** -53;
const gamma = (k: number) => (k * u) / (1 - k * u);

/** Cut points 0 = c_0 < … < c_K = n, with an empty and a one-row block among them. */
function partition(n: number, seed: number): number[] {
  const r = rng(seed);
  const cuts = new Set([0, n, 1, 2, Math.floor(n / 2)]);
  while (cuts.size < 8) cuts.add(Math.floor(r() * n));
  // The middle cut twice: an empty block.
  return [...cuts, Math.floor(n / 2)].sort((a, b) => a - b);
}

async function merged(A: { rows: number; cols: number; data: Float64Array }, b: Float64Array, cuts: number[], opts: object, csr = false) {
  let SA: Float64Array | null = null;
  let Sb: Float64Array | null = null;
  // Blocks in a shuffled order: the caller's engine may add them in any order.
  const order = cuts.slice(0, -1).map((_, i) => i).reverse();
  for (const t of order) {
    const blk = rowBlock(A, cuts[t]!, cuts[t + 1]!);
    const part = await ctx.sketch.applyRows(csr ? toCsr(blk) : blk, cuts[t]!, { ...opts, totalRows: A.rows, b: b.subarray(cuts[t]!, cuts[t + 1]!) } as never);
    if (!SA) {
      SA = part.data.slice();
      Sb = part.Sb!.slice();
    } else {
      for (let k = 0; k < SA.length; k++) SA[k] += part.data[k]!;
      for (let k = 0; k < Sb!.length; k++) Sb![k] += part.Sb![k]!;
    }
  }
  return { SA: SA!, Sb: Sb! };
}

describe.each(KINDS)('%s', (kind) => {
  const n = 300;
  const d = 5;
  const m = 24;
  const base = { kind, m, seed: 77, ...(kind === 'sparse-sign' ? { nnzPerCol: 4 } : {}) };

  it('the same S in every shard: the identity merges bit for bit', async () => {
    const I = identity(n);
    const ones = new Float64Array(n).fill(1);
    const ref = await ctx.sketch.apply(I, { ...base, b: ones } as never);
    for (const seed of [1, 2]) {
      const got = await merged(I, ones, partition(n, seed), base);
      expect(got.SA).toEqual(ref.data);
    }
  });

  it('exact partial sums merge bit for bit (integer data, isometric: false), and one final scale gives apply', async () => {
    if (kind === 'gaussian') return; // N(0,1) entries: no exact sums
    const r = rng(5);
    const A = { rows: n, cols: d, data: Float64Array.from({ length: n * d }, () => Math.floor(r() * 17) - 8) };
    const b = Float64Array.from({ length: n }, () => Math.floor(r() * 17) - 8);
    const raw = await ctx.sketch.apply(A, { ...base, b, isometric: false } as never);
    const got = await merged(A, b, partition(n, 3), { ...base, isometric: false });
    expect(got.SA).toEqual(raw.data);
    expect(got.Sb).toEqual(raw.Sb);
    const scaled = await ctx.sketch.apply(A, { ...base, b } as never);
    expect(got.SA.map((v) => v * raw.sketch.scale)).toEqual(scaled.data);
    if (kind === 'countsketch') expect((await merged(A, b, partition(n, 4), base)).SA).toEqual(scaled.data);
  });

  it('general data merges within the re-association bound, dense and CSR blocks alike', async () => {
    const A = randomDense(n, d, 11);
    const b = randomDense(n, 1, 12).data;
    const ref = await ctx.sketch.apply(A, { ...base, b } as never);
    const scale = kind === 'countsketch' ? 1 : kind === 'sparse-sign' ? 0.5 : 1 / Math.sqrt(m);
    const maxS = kind === 'gaussian' ? 6.8 : 1;
    for (const csr of [false, true]) {
      const got = await merged(A, b, partition(n, 9), base, csr);
      for (let j = 0; j <= d; j++) {
        let abs = 0;
        for (let i = 0; i < n; i++) abs += Math.abs(j < d ? A.data[i * d + j]! : b[i]!);
        const bound = 2 * gamma(n + 2) * scale * maxS * abs;
        for (let k = 0; k < m; k++) {
          const g = j < d ? got.SA[k * d + j]! : got.Sb[k]!;
          const want = j < d ? ref.data[k * d + j]! : ref.Sb![k]!;
          expect(Math.abs(g - want)).toBeLessThanOrEqual(bound);
        }
      }
    }
  });

  it('a CSR operand sketches to the same bits as its dense twin (zero terms are exact no-ops)', async () => {
    const A = randomDense(120, 4, 3);
    for (let i = 0; i < A.data.length; i += 3) A.data[i] = 0;
    const dense = await ctx.sketch.apply(A, base);
    const sparse = await ctx.sketch.apply(toCsr(A), base);
    expect(sparse.data).toEqual(dense.data);
  });
});

describe('applyRows arguments', () => {
  it('a block reaching past totalRows is E_RANGE naming rowOffset', async () => {
    const A = randomDense(10, 2, 1);
    await expect(ctx.sketch.applyRows(A, 95, { kind: 'countsketch', m: 4, seed: 1, totalRows: 100 })).rejects.toMatchObject({ code: 'E_RANGE', argument: 'rowOffset' });
    await expect(ctx.sketch.applyRows(A, -1, { kind: 'countsketch', m: 4, seed: 1, totalRows: 100 })).rejects.toMatchObject({ code: 'E_RANGE', argument: 'rowOffset' });
    await expect(ctx.sketch.applyRows(A, 0, { kind: 'countsketch', m: 4, seed: 1 } as never)).rejects.toMatchObject({ argument: 'options.totalRows' });
  });

  it('the SRHT pads totalRows, not the block: a block of the first rows is not a sketch of a smaller A', async () => {
    const A = randomDense(100, 3, 2);
    const alone = await ctx.sketch.apply(rowBlock(A, 0, 60), { kind: 'srht', m: 8, seed: 4 });
    const inWhole = await ctx.sketch.applyRows(rowBlock(A, 0, 60), 0, { kind: 'srht', m: 8, seed: 4, totalRows: 100 });
    // N = 64 versus 128: different transforms, different samples.
    expect(alone.data).not.toEqual(inWhole.data);
  });
});
