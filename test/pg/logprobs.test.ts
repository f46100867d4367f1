/**
 * ctx.pg.tokenLogprobs and tokenLogprobsBackward on the js oracle: the forward against a naive softmax,
 * the backward against finite differences of L = Σ gL·logp + Σ gH·H, temperature, in-place, extreme
 * logits at Qwen's vocabulary size, and more rows than one GPU dispatch dimension holds (docs/pg.md §5, §6).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/index.js';
import { randomArray, rng } from '../support/backends.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const js = { backend: 'js', strict: true } as const;

/** The textbook definitions, no shift: fine for |z| ≲ 50. */
function naive(x: ArrayLike<number>, targets: ArrayLike<number>, V: number, tau = 1) {
  const N = targets.length;
  const logp: number[] = [];
  const H: number[] = [];
  for (let n = 0; n < N; n++) {
    const ez = Array.from({ length: V }, (_, j) => Math.exp(x[n * V + j]! / tau));
    const Z = ez.reduce((a, b) => a + b, 0);
    const p = ez.map((v) => v / Z);
    logp.push(Math.log(p[targets[n]!]!));
    H.push(-p.reduce((a, q) => a + q * Math.log(q), 0));
  }
  return { logp, H };
}

const close = (a: number, b: number, rel: number) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(rel * (1 + Math.abs(b)));

describe('forward', () => {
  it.each([1, 0.7, 1.6])('matches a naive softmax in f64 (τ = %s)', async (tau) => {
    const V = 37;
    const N = 5;
    const x = randomArray(N * V, 11, 'f64', -6, 6);
    const targets = Int32Array.from([0, 36, 5, 17, 5]);
    const r = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V, temperature: tau });
    const ref = naive(x, targets, V, tau);
    for (let n = 0; n < N; n++) {
      close(r.logp[n]!, ref.logp[n]!, 1e-13);
      close(r.entropy![n]!, ref.H[n]!, 1e-13);
      close(r.lse[n]!, x[n * V + targets[n]!]! / tau - ref.logp[n]!, 1e-13);
    }
    expect(r.backend).toBe('js');
  });

  it('temperature τ on x is τ = 1 on x/τ', async () => {
    const x = randomArray(4 * 9, 3, 'f64', -3, 3);
    const t = [1, 2, 3, 8];
    const a = await ctx.pg.tokenLogprobs(x, t, { ...js, vocab: 9, temperature: 0.5 });
    const b = await ctx.pg.tokenLogprobs(x.map((v) => v / 0.5), t, { ...js, vocab: 9 });
    a.logp.forEach((v, n) => close(v, b.logp[n]!, 1e-15));
    a.entropy!.forEach((v, n) => close(v, b.entropy![n]!, 1e-15));
  });

  it('entropy: false skips it; f32 logits give f32 outputs', async () => {
    const x = randomArray(2 * 5, 4, 'f32');
    const r = await ctx.pg.tokenLogprobs(x, [0, 4], { ...js, vocab: 5, entropy: false });
    expect(r.entropy).toBeUndefined();
    expect(r.logp).toBeInstanceOf(Float32Array);
    expect(r.lse).toBeInstanceOf(Float32Array);
    const ref = naive(x, [0, 4], 5);
    r.logp.forEach((v, n) => close(v, ref.logp[n]!, 2 ** -23));
  });
});

describe('backward', () => {
  const V = 7;
  const N = 3;
  const targets = Int32Array.from([2, 0, 6]);
  const gL = Float64Array.from([0.7, -1.2, 0.3]);
  const gH = Float64Array.from([-0.4, 0.25, 1.5]);

  /** L(x) = Σ gL·logp + Σ gH·H through the forward. */
  async function L(x: Float64Array, tau: number, useL: boolean, useH: boolean): Promise<number> {
    const r = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V, temperature: tau });
    let s = 0;
    for (let n = 0; n < N; n++) s += (useL ? gL[n]! * r.logp[n]! : 0) + (useH ? gH[n]! * r.entropy![n]! : 0);
    return s;
  }

  const cases: [string, number, boolean, boolean][] = [
    ['∂logp only', 1, true, false], ['∂H only', 1, false, true], ['both', 1, true, true], ['both, τ = 0.6', 0.6, true, true], ['both, τ = 1.7', 1.7, true, true],
  ];
  it.each(cases)('matches finite differences of L (%s)', async (_n, tau, useL, useH) => {
    const x = randomArray(N * V, 21, 'f64', -4, 4);
    const fwd = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V, temperature: tau });
    const { gradLogits } = await ctx.pg.tokenLogprobsBackward(x, targets, {
      ...js, vocab: V, temperature: tau, lse: fwd.lse, entropy: fwd.entropy, ...(useL ? { gradLogp: gL } : {}), ...(useH ? { gradEntropy: gH } : {}),
    });
    const h = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const xp = x.slice();
      const xm = x.slice();
      xp[i] = x[i]! + h;
      xm[i] = x[i]! - h;
      const fd = ((await L(xp, tau, useL, useH)) - (await L(xm, tau, useL, useH))) / (2 * h);
      expect(Math.abs(gradLogits[i]! - fd), `logit ${i}`).toBeLessThanOrEqual(1e-8 * (1 + Math.abs(fd)));
    }
  });

  it('in place: writes over the logits and equals the out-of-place result', async () => {
    const x = randomArray(N * V, 5, 'f32', -3, 3);
    const fwd = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V });
    const opts = { ...js, vocab: V, lse: fwd.lse, entropy: fwd.entropy, gradLogp: Float32Array.from(gL), gradEntropy: Float32Array.from(gH) };
    const out = await ctx.pg.tokenLogprobsBackward(x, targets, opts);
    expect(out.gradLogits).not.toBe(x);
    const copy = x.slice();
    const inPlace = await ctx.pg.tokenLogprobsBackward(copy, targets, { ...opts, inPlace: true });
    expect(inPlace.gradLogits).toBe(copy);
    expect(inPlace.gradLogits).toEqual(out.gradLogits);
  });
});

describe('scale', () => {
  it("Qwen's vocabulary (151,936) with logits spread over ±1e4 stays finite and exact", async () => {
    const V = 151_936;
    const N = 3;
    const r = rng(9);
    const x = new Float32Array(N * V);
    for (let i = 0; i < x.length; i++) x[i] = -1e4 + 2e4 * r();
    x.fill(1e4, 2 * V); // row 2: every logit equal → uniform, H = log V
    x[V + 77] = 1.5e4; // row 1: one logit 5e3 above the rest → p ≈ 1, H ≈ 0
    const targets = Int32Array.from([123, 77, 151_935]);
    const f = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V });
    for (const a of [f.logp, f.entropy!, f.lse]) for (const v of a) expect(Number.isFinite(v)).toBe(true);
    expect(f.logp[1]).toBe(0);
    expect(f.entropy![1]).toBe(0);
    expect(f.lse[1]).toBe(1.5e4);
    close(f.logp[2]!, -Math.log(V), 1e-7);
    close(f.entropy![2]!, Math.log(V), 1e-7);
    expect(f.entropy![0]!).toBeGreaterThanOrEqual(0);
    expect(f.logp[0]!).toBeLessThanOrEqual(0);
    const up = { gradLogp: [1, -1, 0.5], gradEntropy: [0.3, 0.3, 0.3] };
    const b = await ctx.pg.tokenLogprobsBackward(x, targets, {
      ...js, vocab: V, lse: f.lse, entropy: f.entropy, gradLogp: Float32Array.from(up.gradLogp), gradEntropy: Float32Array.from(up.gradEntropy), inPlace: true,
    });
    for (const g of b.gradLogits) expect(Number.isFinite(g)).toBe(true);
    // Σ_j ∂x_j = gL·(1 − Σp) − gH·(Σ p log p + H) = 0 per row (a softmax is shift-invariant). Checked in f64: in f32
    // the stored lse (|lse| ≈ 1e4, ulp 1e-3) alone moves Σp off 1 by ~1e-3, as the f32 logits themselves do.
    const x64 = new Float64Array(N * V);
    const r2 = rng(9);
    for (let i = 0; i < x64.length; i++) x64[i] = i < 2 * V ? -1e4 + 2e4 * r2() : 1e4;
    x64[V + 77] = 1.5e4;
    const f64 = await ctx.pg.tokenLogprobs(x64, targets, { ...js, vocab: V });
    const b64 = await ctx.pg.tokenLogprobsBackward(x64, targets, {
      ...js, vocab: V, lse: f64.lse, entropy: f64.entropy, gradLogp: Float64Array.from(up.gradLogp), gradEntropy: Float64Array.from(up.gradEntropy),
    });
    for (let n = 0; n < N; n++) {
      let s = 0;
      let m = 0;
      for (let j = 0; j < V; j++) {
        const g = b64.gradLogits[n * V + j]!;
        s += g;
        m = Math.max(m, Math.abs(g));
      }
      expect(Math.abs(s), `row ${n}`).toBeLessThanOrEqual(1e-9 * Math.max(m, 1));
    }
  });

  it('more rows than one dispatch dimension holds (70,000 > 65,535) with a tiny vocabulary', async () => {
    const V = 3;
    const N = 70_000;
    const x = randomArray(N * V, 8, 'f32', -5, 5);
    const targets = Int32Array.from({ length: N }, (_, n) => n % V);
    const f = await ctx.pg.tokenLogprobs(x, targets, { ...js, vocab: V });
    for (const n of [0, 65_534, 65_535, 65_536, N - 1]) {
      const ref = naive(x.subarray(n * V, n * V + V), [targets[n]!], V);
      close(f.logp[n]!, ref.logp[0]!, 2 ** -22);
      close(f.entropy![n]!, ref.H[0]!, 2 ** -22);
    }
    const b = await ctx.pg.tokenLogprobsBackward(x, targets, { ...js, vocab: V, lse: f.lse, gradLogp: new Float32Array(N).fill(1) });
    // gL = 1, gH = 0: ∂x_j = δ_{j,target} − p_j.
    const n = N - 1;
    const p = Math.exp(f.logp[n]!);
    close(b.gradLogits[n * V + targets[n]!]!, 1 - p, 2 ** -21);
  });
});
