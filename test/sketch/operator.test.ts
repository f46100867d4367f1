/**
 * The sketch definitions of docs/sketch.md §2, checked entry by entry against an independent reading
 * of the text: every word comes from the public philoxFill, so these tests pin the contract that the
 * native and WGSL kernels must reproduce. The sketch of the identity is S itself (each entry is one
 * term), so ctx.sketch.apply(I) exposes S exactly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, PhiloxStream } from '../../src/index.js';
import { FeistelPermutation } from '../../src/backends/js/sketch/operator.js';
import { SKETCH_STREAMS } from '../../src/sketch/ops.js';
import { identity, word } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const SEED = 20261204;

/** S₀ (m × n, unscaled) as ctx.sketch.apply(I_n) gives it. */
async function explicit(kind: 'gaussian' | 'rademacher' | 'srht' | 'countsketch' | 'sparse-sign', n: number, m: number, extra: object = {}) {
  const r = await ctx.sketch.apply(identity(n), { kind, m, seed: SEED, isometric: false, ...extra });
  return r.data;
}

const bit = (w: number, t: number) => (w >>> t) & 1;

describe('entries from the definition', () => {
  it('rademacher: entry (k, i) is −1 iff bit j mod 32 of word ⌊j/32⌋ is set, j = i·m + k', async () => {
    const n = 37;
    const m = 13;
    const S = await explicit('rademacher', n, m);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < m; k++) {
        const j = i * m + k;
        const want = bit(word(SEED, SKETCH_STREAMS.rademacher, Math.floor(j / 32)), j % 32) ? -1 : 1;
        expect(S[k * n + i]).toBe(want);
      }
    }
  });

  it('gaussian: Box–Muller on word pairs, cos then sin, four numbers per Philox block', async () => {
    const n = 11;
    const m = 7;
    const S = await explicit('gaussian', n, m);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < m; k++) {
        const j = i * m + k;
        const q = Math.floor(j / 4);
        const lane = j % 4;
        const pair = lane >> 1;
        const u1 = (word(SEED, SKETCH_STREAMS.gaussian, 4 * q + 2 * pair) + 0.5) / 2 ** 32;
        const u2 = (word(SEED, SKETCH_STREAMS.gaussian, 4 * q + 2 * pair + 1) + 0.5) / 2 ** 32;
        const rad = Math.sqrt(-2 * Math.log(u1));
        expect(S[k * n + i]).toBe(lane % 2 === 0 ? rad * Math.cos(2 * Math.PI * u2) : rad * Math.sin(2 * Math.PI * u2));
      }
    }
  });

  it.each([['countsketch', 1], ['sparse-sign', 3], ['sparse-sign', 8]] as const)('%s (s = %i): Floyd-chosen distinct rows and signs from words 2s·i + u', async (kind, s) => {
    const n = 50;
    const m = 9;
    const S = await explicit(kind, n, m, kind === 'sparse-sign' ? { nnzPerCol: s } : {});
    for (let i = 0; i < n; i++) {
      const want = new Float64Array(m);
      const chosen: number[] = [];
      for (let t = 0; t < s; t++) {
        const J = m - s + t;
        const w = word(SEED, SKETCH_STREAMS.sparse, 2 * s * i + 2 * t);
        let r = Number((BigInt(w) * BigInt(J + 1)) >> 32n);
        if (chosen.includes(r)) r = J;
        chosen.push(r);
        want[r] = word(SEED, SKETCH_STREAMS.sparse, 2 * s * i + 2 * t + 1) >= 2 ** 31 ? -1 : 1;
      }
      expect(new Set(chosen).size).toBe(s);
      for (let k = 0; k < m; k++) expect(S[k * n + i]).toBe(want[k]);
    }
  });

  it('srht: σ_i·(−1)^popcount(p_k & π(i)) with the Feistel permutation, signs and sample of the text', async () => {
    const n = 40;
    const m = 16;
    const N = 64;
    const S = await explicit('srht', n, m);
    // Sample: partial Fisher–Yates with nextInt(N − k) of the sample stream.
    const rng = new PhiloxStream(SEED, SKETCH_STREAMS.srhtSample);
    const v = Array.from({ length: N }, (_, i) => i);
    for (let k = 0; k < m; k++) {
      const j = k + rng.nextInt(N - k);
      [v[k], v[j]] = [v[j]!, v[k]!];
    }
    // Feistel on 6 bits (B = N = 64): rounds split 3/3.
    const f = (x: number) => {
      for (let r = 0; r < 4; r++) {
        const R = x & 7;
        const L = x >> 3;
        x = (R << 3) | ((L ^ word(SEED, SKETCH_STREAMS.srhtPermutation, r * 8 + R)) & 7);
      }
      return x;
    };
    const popParity = (x: number) => x.toString(2).split('').filter((c) => c === '1').length % 2;
    for (let i = 0; i < n; i++) {
      const sigma = bit(word(SEED, SKETCH_STREAMS.srhtSign, Math.floor(i / 32)), i % 32) ? -1 : 1;
      for (let k = 0; k < m; k++) expect(S[k * n + i]).toBe(popParity(v[k]! & f(i)) ? -sigma : sigma);
    }
  });

  it('srht across permutation blocks (n > 2^12): column i from the two-level transform matches the flat formula', async () => {
    const n = 70000;
    const m = 12;
    const N = 131072;
    const B = 4096;
    const rng = new PhiloxStream(SEED, SKETCH_STREAMS.srhtSample);
    const moved = new Map<number, number>();
    const sample: number[] = [];
    for (let k = 0; k < m; k++) {
      const j = k + rng.nextInt(N - k);
      sample.push(moved.get(j) ?? j);
      moved.set(j, moved.get(k) ?? k);
    }
    for (const i of [5, 4095, 4096 + 3, 65536 + 3, 69999]) {
      // A = e_i as an n × 1 CSR matrix: SA is column i of S.
      const A = { nrows: n, ncols: 1, rowPtr: Int32Array.from({ length: n + 1 }, (_, r) => (r > i ? 1 : 0)), colIdx: Int32Array.of(0), values: Float64Array.of(1) };
      const col = (await ctx.sketch.apply(A, { kind: 'srht', m, seed: SEED, isometric: false })).data;
      const h = Math.floor(i / B);
      const perm = new FeistelPermutation(...keyOf(SEED), B, h);
      const pos = h * B + perm.apply(i - h * B);
      const sigma = bit(word(SEED, SKETCH_STREAMS.srhtSign, Math.floor(i / 32)), i % 32) ? -1 : 1;
      for (let k = 0; k < m; k++) {
        const par = BigInt(sample[k]! & pos).toString(2).split('').filter((c) => c === '1').length % 2;
        expect(col[k]).toBe(par ? -sigma : sigma);
      }
    }
  });
});

function keyOf(seed: number): [number, number] {
  return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
}

describe('structure', () => {
  it('the Feistel permutation is a bijection of every block size up to 2^17', () => {
    for (let bits = 0; bits <= 17; bits++) {
      const B = 2 ** bits;
      for (const h of [0, 3]) {
        const f = new FeistelPermutation(7, 9, B, h);
        const seen = new Uint8Array(B);
        for (let x = 0; x < B; x++) seen[f.apply(x)] = 1;
        expect(seen.reduce((a, b) => a + b, 0)).toBe(B);
      }
    }
  });

  it('srht rows are orthogonal: S₀S₀ᵀ = N·I when n = N (distinct Hadamard rows under one signed permutation)', async () => {
    const n = 64;
    const m = 20;
    const S = await explicit('srht', n, m);
    for (let a = 0; a < m; a++) {
      for (let c = 0; c < m; c++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += S[a * n + i]! * S[c * n + i]!;
        expect(s).toBe(a === c ? n : 0);
      }
    }
  });

  it('srht on a coherent A = [I_64; 0] keeps full rank at m = 2d (the permutation defeats Sylvester aliasing, reference §2.2)', async () => {
    // Without Π, rows sampled with the same residue mod 64 repeat on these columns: 128 draws from 64
    // patterns miss one with probability ≈ 1 − e^(−64·e^(−2)) ≈ 1, and SA loses rank. κ(SA) of a
    // 128 × 64 random sign matrix is about (1 + √½)/(1 − √½) ≈ 5.8.
    const n = 4096;
    const d = 64;
    const data = new Float64Array(n * d);
    for (let j = 0; j < d; j++) data[j * d + j] = 1;
    for (let seed = 0; seed < 8; seed++) {
      const SA = await ctx.sketch.apply({ rows: n, cols: d, data }, { kind: 'srht', m: 2 * d, seed });
      expect(condition(SA.data, 2 * d, d)).toBeLessThan(20);
    }
  });

  it('gaussian and rademacher entries have the moments of their laws', async () => {
    const g = await explicit('gaussian', 400, 50);
    const r = await explicit('rademacher', 400, 50);
    const mom = (a: Float64Array, p: number) => a.reduce((s, v) => s + v ** p, 0) / a.length;
    // 20000 entries: standard errors 0.007 (mean), 0.01 (E g²), 0.05 (E g⁴).
    expect(Math.abs(mom(g, 1))).toBeLessThan(0.035);
    expect(Math.abs(mom(g, 2) - 1)).toBeLessThan(0.05);
    expect(Math.abs(mom(g, 4) - 3)).toBeLessThan(0.25);
    expect(Math.abs(mom(r, 1))).toBeLessThan(0.035);
    expect(r.every((v) => v === 1 || v === -1)).toBe(true);
  });

  it('countsketch buckets are uniform (χ² over 16 buckets, 16000 columns)', async () => {
    const n = 16000;
    const m = 16;
    const counts = new Float64Array(m);
    // S₀ of 2000 columns at a time, from a CSR identity block at each row offset.
    const w = 2000;
    const I = { nrows: w, ncols: w, rowPtr: Int32Array.from({ length: w + 1 }, (_, i) => i), colIdx: Int32Array.from({ length: w }, (_, i) => i), values: new Float64Array(w).fill(1) };
    for (let c = 0; c < n; c += w) {
      const S = (await ctx.sketch.applyRows(I, c, { kind: 'countsketch', m, seed: SEED, totalRows: n })).data;
      for (let k = 0; k < m; k++) for (let i = 0; i < w; i++) counts[k] += Math.abs(S[k * w + i]!);
    }
    const e = n / m;
    const chi2 = counts.reduce((s, o) => s + (o - e) ** 2 / e, 0);
    // 15 degrees of freedom: P(χ² > 37.7) = 0.001.
    expect(chi2).toBeLessThan(37.7);
  });

  it('isometric scaling: 1/√m for dense kinds and the SRHT, 1/√s for sparse-sign, none for countsketch', async () => {
    const I = identity(32);
    for (const [kind, m, s, scale] of [['gaussian', 8, 0, 1 / Math.sqrt(8)], ['rademacher', 8, 0, 1 / Math.sqrt(8)], ['srht', 8, 0, 1 / Math.sqrt(8)],
      ['sparse-sign', 8, 4, 0.5], ['countsketch', 8, 0, 1]] as const) {
      const extra = s ? { nnzPerCol: s } : {};
      const a = await ctx.sketch.apply(I, { kind, m, seed: 1, ...extra });
      const b = await ctx.sketch.apply(I, { kind, m, seed: 1, isometric: false, ...extra });
      expect(b.sketch.scale).toBe(kind === 'countsketch' ? 1 : scale);
      expect(a.sketch.scale).toBe(1);
      for (let k = 0; k < a.data.length; k++) expect(a.data[k]).toBe(b.data[k]! * scale);
    }
  });
});

/** κ₂ of a tall m × d matrix from the eigenvalues of its Gram matrix (Jacobi rotations; d small). */
function condition(M: Float64Array, m: number, d: number): number {
  const G = new Float64Array(d * d);
  for (let k = 0; k < m; k++) for (let a = 0; a < d; a++) for (let c = 0; c < d; c++) G[a * d + c] += M[k * d + a]! * M[k * d + c]!;
  for (let sweep = 0; sweep < 30; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = G[p * d + q]!;
        off += apq * apq;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (G[q * d + q]! - G[p * d + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const gkp = G[k * d + p]!;
          const gkq = G[k * d + q]!;
          G[k * d + p] = c * gkp - s * gkq;
          G[k * d + q] = s * gkp + c * gkq;
        }
        for (let k = 0; k < d; k++) {
          const gpk = G[p * d + k]!;
          const gqk = G[q * d + k]!;
          G[p * d + k] = c * gpk - s * gqk;
          G[q * d + k] = s * gpk + c * gqk;
        }
      }
    }
    if (off < 1e-24) break;
  }
  let lo = Infinity;
  let hi = 0;
  for (let k = 0; k < d; k++) {
    lo = Math.min(lo, G[k * d + k]!);
    hi = Math.max(hi, G[k * d + k]!);
  }
  return lo > 0 ? Math.sqrt(hi / lo) : Infinity;
}
