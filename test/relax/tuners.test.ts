/** ω tuners (docs/relax.md §4): the math of each learner, determinism, state round trips, bad input. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhiloxStream } from '../../src/index.js';
import {
  ChebCB, FixedOmega, SurrogateTS, TsallisInf, TsallisInfCB, boxQP, chebyshevFeatures, inverseGapWeights, lossOf, makeGrid,
  shiftedJacobiRadius, tsallisProbabilities, tunerFromJSON, youngOmega, type Tuner,
} from '../../src/relax/index.js';
import { codeOf } from '../support/errors.js';

const CONTEXT = { min: -0.15, max: 0.65 };

/** A synthetic contextual cost with a V-shaped valley at ω*(c) = 1.7 − 0.5(c + 0.15), steeper on the left, as SOR's. */
function syntheticCost(omega: number, c: number, rng: PhiloxStream): number {
  const opt = 1.7 - 0.5 * (c + 0.15);
  const gap = omega - opt;
  return Math.round(30 + (gap < 0 ? 400 * -gap : 120 * gap) + 2 * rng.nextUniform());
}

function runSynthetic(tuner: Tuner, rounds: number, seed: number): { costs: number[]; contexts: number[]; omegas: number[] } {
  const rng = new PhiloxStream(seed, 7);
  const costs: number[] = [];
  const contexts: number[] = [];
  const omegas: number[] = [];
  for (let t = 0; t < rounds; t++) {
    const c = -0.15 + 0.6 * rng.nextBeta(2, 6);
    const ch = tuner.choose(c);
    const k = syntheticCost(ch.omega, c, rng);
    tuner.update(ch, k);
    costs.push(k);
    contexts.push(c);
    omegas.push(ch.omega);
  }
  return { costs, contexts, omegas };
}

describe('Tsallis-INF probabilities (exact normalizer)', () => {
  it('sum to 1, decrease with loss, and solve p_i = 4/(η(L_i − x))² for one x', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 40 }),
      fc.double({ min: 1e-3, max: 20, noNaN: true }),
      (L, eta) => {
        const p = tsallisProbabilities(L, eta);
        let sum = 0;
        for (const v of p) sum += v;
        expect(Math.abs(sum - 1)).toBeLessThanOrEqual(1e-12);
        for (let i = 0; i < L.length; i++) {
          expect(p[i]).toBeGreaterThan(0);
          for (let j = 0; j < L.length; j++) if (L[i]! < L[j]!) expect(p[i]!).toBeGreaterThanOrEqual(p[j]!);
        }
        // x_i = L_i − 2/(η √p_i) must agree across arms (up to the final renormalization's rounding).
        const xs = L.map((l, i) => l - 2 / (eta * Math.sqrt(p[i]!)));
        const spread = Math.max(...xs) - Math.min(...xs);
        const scale = Math.max(1, ...L.map(Math.abs), 2 * Math.sqrt(L.length) / eta);
        expect(spread).toBeLessThanOrEqual(1e-9 * scale);
      },
    ), { numRuns: 300 });
  });

  it('equal losses give the uniform law; one much better arm takes almost everything', () => {
    expect(Array.from(tsallisProbabilities([3, 3, 3, 3], 0.5))).toEqual([0.25, 0.25, 0.25, 0.25].map((v) => expect.closeTo(v, 14)));
    const p = tsallisProbabilities([0, 1e6, 1e6], 1);
    expect(p[0]).toBeGreaterThan(1 - 1e-9);
    expect(tsallisProbabilities([7], 2)[0]).toBe(1);
  });

  it('TsallisInf samples from it and adds (iterations − 1)/p to the played arm', () => {
    const t = new TsallisInf({ grid: { min: 1, max: 1.9, arms: 4 }, seed: 3, scale: 1 });
    const p0 = t.probabilities();
    expect(Array.from(p0)).toEqual([0.25, 0.25, 0.25, 0.25].map((v) => expect.closeTo(v, 12)));
    const ch = t.choose();
    expect(ch.p).toBeCloseTo(0.25, 12);
    t.update(ch, 11);
    const state = t.toJSON() as unknown as { learner: { k: number[] } };
    expect(state.learner.k[ch.arm]).toBeCloseTo(10 / 0.25, 9);
    expect(state.learner.k.filter((_, i) => i !== ch.arm).every((v) => v === 0)).toBe(true);
    // The played arm now has the larger loss, so the smaller probability.
    const p1 = t.probabilities();
    expect(p1[ch.arm]).toBeLessThan(p1[(ch.arm + 1) % 4]!);
  });

  it('regret on fixed losses stays within the anytime bound 4K√(dT) + 1 (App. B, Thm B.2)', () => {
    const d = 10;
    const T = 3000;
    const losses = Array.from({ length: d }, (_, i) => 0.2 + 0.07 * i); // in [0, 1]: K = 1
    let regret = 0;
    const seeds = [1, 2, 3, 4];
    for (const seed of seeds) {
      const t = new TsallisInf({ grid: { min: 1, max: 1.9, arms: d }, seed, scale: 1 });
      for (let r = 0; r < T; r++) {
        const ch = t.choose();
        t.update(ch, 1 + losses[ch.arm]!);
        regret += losses[ch.arm]! - losses[0]!;
      }
    }
    regret /= seeds.length;
    const bound = 4 * Math.sqrt(d * T) + 1;
    expect(regret).toBeLessThan(bound);
    // And it learned: the late rounds mostly play the best arm.
    expect(regret).toBeLessThan(0.25 * bound);
  });
});

describe('ChebCB pieces', () => {
  it('Chebyshev features are cos(j arccos x), with x clamped into [−1, 1]', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: Math.PI, noNaN: true }), (theta) => {
      const f = chebyshevFeatures(Math.cos(theta), 7);
      for (let j = 0; j <= 7; j++) expect(f[j]!).toBeCloseTo(Math.cos(j * theta), 10);
    }));
    expect(Array.from(chebyshevFeatures(3, 3))).toEqual([1, 1, 1, 1]);
    expect(Array.from(chebyshevFeatures(-2, 3))).toEqual([1, -1, 1, -1]);
  });

  it('inverse-gap weighting: p_i = 1/(d + η(s_i − s*)), the rest to the best, a distribution', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 30 }),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
      (s, eta) => {
        let best = 0;
        s.forEach((v, i) => { if (v < s[best]!) best = i; });
        const p = inverseGapWeights(s, best, eta);
        const d = s.length;
        let sum = 0;
        p.forEach((v, i) => {
          sum += v;
          expect(v).toBeGreaterThanOrEqual(0);
          if (i !== best) expect(v).toBeCloseTo(1 / (d + eta * (s[i]! - s[best]!)), 12);
        });
        expect(sum).toBeCloseTo(1, 12);
        expect(p[best]).toBeGreaterThanOrEqual(1 / d - 1e-15);
      },
    ));
    expect(Array.from(inverseGapWeights([1, 2, 3], 0, 0))).toEqual([1 / 3, 1 / 3, 1 / 3].map((v) => expect.closeTo(v, 15)));
  });

  it('boxQP matches brute force over every active set on small problems', () => {
    const rng = new PhiloxStream(11);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + rng.nextInt(5);
      const M = Array.from({ length: n * (n + 2) }, () => rng.nextGaussian());
      const G = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = i === j ? 0.1 : 0;
        for (let k = 0; k < n + 2; k++) s += M[k * n + i]! * M[k * n + j]!;
        G[i * n + j] = s;
      }
      const h = Float64Array.from({ length: n }, () => 3 * rng.nextGaussian());
      const hi = Float64Array.from({ length: n }, () => 0.2 + rng.nextUniform());
      const lo = hi.map((v) => -v);
      const x = boxQP(G, h, lo, hi, new Float64Array(n));
      const q = (v: ArrayLike<number>) => {
        let s = 0;
        for (let i = 0; i < n; i++) { s -= h[i]! * v[i]!; for (let j = 0; j < n; j++) s += 0.5 * v[i]! * G[i * n + j]! * v[j]!; }
        return s;
      };
      // Brute force: every assignment free / at lo / at hi, solve the free part, keep the feasible best.
      let best = Infinity;
      for (let code = 0; code < 3 ** n; code++) {
        const st: number[] = [];
        for (let i = 0, c = code; i < n; i++, c = Math.floor(c / 3)) st.push(c % 3);
        const v = new Float64Array(n);
        const free: number[] = [];
        st.forEach((s, i) => { if (s === 1) v[i] = lo[i]!; else if (s === 2) v[i] = hi[i]!; else free.push(i); });
        const m = free.length;
        const A = free.map((i) => free.map((j) => G[i * n + j]!));
        const b = free.map((i) => h[i]! - st.reduce((acc, s, j) => acc + (s ? G[i * n + j]! * v[j]! : 0), 0));
        // Gaussian elimination (A is SPD).
        for (let k = 0; k < m; k++) for (let r = k + 1; r < m; r++) {
          const f = A[r]![k]! / A[k]![k]!;
          for (let c = k; c < m; c++) A[r]![c] = A[r]![c]! - f * A[k]![c]!;
          b[r] = b[r]! - f * b[k]!;
        }
        for (let k = m - 1; k >= 0; k--) {
          let s = b[k]!;
          for (let c = k + 1; c < m; c++) s -= A[k]![c]! * v[free[c]!]!;
          v[free[k]!] = s / A[k]![k]!;
        }
        if (free.some((i) => v[i]! < lo[i]! - 1e-12 || v[i]! > hi[i]! + 1e-12)) continue;
        best = Math.min(best, q(v));
      }
      for (let i = 0; i < n; i++) expect(x[i]! >= lo[i]! - 1e-15 && x[i]! <= hi[i]! + 1e-15).toBe(true);
      expect(q(x)).toBeCloseTo(best, 9);
    }
  });

  it('learns the valley of a synthetic contextual cost and beats every fixed arm', () => {
    const t = new ChebCB({ context: CONTEXT, seed: 5 });
    const run = runSynthetic(t, 1500, 5);
    const late = run.costs.slice(1000);
    const mean = late.reduce((a, b) => a + b, 0) / late.length;
    // The best fixed arm pays the V's slope against the spread of ω*(c); the learner tracks it.
    const rng = new PhiloxStream(5, 7);
    let bestFixed = Infinity;
    for (const w of t.grid) {
      let s = 0;
      for (let k = 1000; k < 1500; k++) s += syntheticCost(w, run.contexts[k]!, rng);
      bestFixed = Math.min(bestFixed, s / 500);
    }
    expect(mean).toBeLessThan(bestFixed);
    expect(t.stepSize).toBeGreaterThan(0);
  });
});

describe('SurrogateTS', () => {
  it('tracks the valley of a synthetic contextual cost with a continuous ω', () => {
    const t = new SurrogateTS({ context: CONTEXT, seed: 2 });
    const run = runSynthetic(t, 800, 2);
    const late = run.costs.slice(400);
    const mean = late.reduce((a, b) => a + b, 0) / late.length;
    expect(mean).toBeLessThan(36); // the valley floor costs 30–32
    expect(run.omegas.some((w) => !t.grid.includes(w))).toBe(true);
    expect(Number.isNaN(t.choose(0).p)).toBe(true);
  });

  it('runs without a context (degree 0) and finds the best ω of a fixed cost curve', () => {
    const t = new SurrogateTS({ seed: 4 });
    const rng = new PhiloxStream(4, 9);
    const omegas: number[] = [];
    for (let r = 0; r < 400; r++) {
      const ch = t.choose();
      t.update(ch, syntheticCost(ch.omega, 0.2, rng));
      omegas.push(ch.omega);
    }
    const late = omegas.slice(300);
    const avg = late.reduce((a, b) => a + b, 0) / late.length;
    expect(Math.abs(avg - (1.7 - 0.5 * 0.35))).toBeLessThan(0.05);
  });
});

describe('determinism and checkpoint / resume', () => {
  const makers: [string, (seed: number) => Tuner][] = [
    ['TsallisInf', (seed) => new TsallisInf({ seed })],
    ['TsallisInf fixed η', (seed) => new TsallisInf({ seed, eta: 0.05, scale: 50 })],
    ['TsallisInfCB', (seed) => new TsallisInfCB({ context: CONTEXT, bins: 5, seed })],
    ['ChebCB', (seed) => new ChebCB({ context: CONTEXT, seed })],
    ['SurrogateTS', (seed) => new SurrogateTS({ context: CONTEXT, seed })],
    ['FixedOmega', () => new FixedOmega(1.5)],
  ];

  it.each(makers)('%s: same seed, same choices; resumed from JSON, it continues exactly', (_, make) => {
    const a = runSynthetic(make(9), 150, 1);
    const b = runSynthetic(make(9), 150, 1);
    expect(b.omegas).toEqual(a.omegas);
    // Checkpoint (through a JSON string, with a choice pending) at odd and even rounds, then resume.
    const full = make(9);
    const rng = new PhiloxStream(1, 7);
    const out: number[] = [];
    let resumed: Tuner = full;
    for (let t = 0; t < 150; t++) {
      const c = -0.15 + 0.6 * rng.nextBeta(2, 6);
      let ch = resumed.choose(c);
      if (t === 3 || t === 70 || t === 71 || t === 100) {
        resumed = tunerFromJSON(JSON.parse(JSON.stringify(resumed.toJSON())));
        // The pending choice survives the round trip and is accepted by the restored tuner.
        ch = { ...ch };
      }
      const k = syntheticCost(ch.omega, c, rng);
      resumed.update(ch, k);
      out.push(ch.omega);
    }
    expect(out).toEqual(a.omegas);
    expect(resumed.rounds).toBe(150);
  });

  it('different seeds give different draws', () => {
    expect(runSynthetic(new TsallisInf({ seed: 1 }), 50, 1).omegas).not.toEqual(runSynthetic(new TsallisInf({ seed: 2 }), 50, 1).omegas);
    expect(runSynthetic(new SurrogateTS({ context: CONTEXT, seed: 1 }), 50, 1).omegas)
      .not.toEqual(runSynthetic(new SurrogateTS({ context: CONTEXT, seed: 2 }), 50, 1).omegas);
  });
});

describe('comparators: Young and the shifted Jacobi radius (§2)', () => {
  it('ω* = 2/(1 + √(1 − β²)) = 1 + (β/(1 + √(1 − β²)))², and the model Laplacian value', () => {
    for (const beta of [0, 0.3, 0.9, 0.99]) {
      expect(youngOmega(beta)).toBeCloseTo(1 + (beta / (1 + Math.sqrt(1 - beta * beta))) ** 2, 14);
    }
    const h = 1 / 11;
    expect(youngOmega(Math.cos(Math.PI * h))).toBeCloseTo(2 / (1 + Math.sin(Math.PI * h)), 14);
    expect(shiftedJacobiRadius(Math.cos(Math.PI / 11), 4, 0.2)).toBeCloseTo((Math.cos(Math.PI / 11) * 4) / 4.2, 15);
    expect(codeOf(() => youngOmega(1))).toMatch(/^E_RANGE beta/);
    expect(codeOf(() => shiftedJacobiRadius(0.9, 4, -4))).toMatch(/^E_RANGE c/);
  });
});

describe('bad input', () => {
  it('a grid outside (0, 2) is E_RANGE, malformed grids are named', () => {
    expect(codeOf(() => new TsallisInf({ grid: { min: 0, max: 1.5, arms: 5 } }))).toMatch(/^E_RANGE options\.grid/);
    expect(codeOf(() => new TsallisInf({ grid: { min: 1, max: 2, arms: 5 } }))).toMatch(/^E_RANGE options\.grid/);
    expect(codeOf(() => new ChebCB({ grid: [1, 1.5, 2.5], context: CONTEXT }))).toMatch(/^E_RANGE options\.grid\[2\]/);
    expect(codeOf(() => new SurrogateTS({ grid: [1, 1.2, 1.25] }))).toMatch(/^E_RANGE options\.grid: knots must be uniformly spaced/);
    expect(codeOf(() => new TsallisInfCB({ grid: [-0.5, 1], context: CONTEXT }))).toMatch(/^E_RANGE options\.grid\[0\]/);
    expect(codeOf(() => new TsallisInf({ grid: [1.2, 1.1] }))).toMatch(/^E_RANGE options\.grid\[1\]: ω values must be strictly increasing/);
    expect(codeOf(() => new TsallisInf({ grid: { min: 1, max: 1.5, arms: 0 } }))).toMatch(/^E_RANGE options\.grid\.arms/);
    expect(codeOf(() => makeGrid('1..2'))).toMatch(/^E_DTYPE options\.grid/);
    expect(codeOf(() => new FixedOmega(2))).toMatch(/^E_RANGE omega/);
    expect(codeOf(() => new TsallisInf({ eta: -1 }))).toMatch(/^E_RANGE options\.eta/);
    expect(codeOf(() => new ChebCB({ context: { min: 1, max: 1 } }))).toMatch(/^E_RANGE options\.context\.max/);
    expect(codeOf(() => new ChebCB({} as never))).toMatch(/^E_DTYPE options\.context/);
    expect(codeOf(() => new ChebCB({ context: CONTEXT, degree: 1.5 }))).toMatch(/^E_DTYPE options\.degree/);
    expect(codeOf(() => new TsallisInfCB({ context: CONTEXT, bins: 0 }))).toMatch(/^E_RANGE options\.bins/);
  });

  it('non-finite or negative feedback is rejected and changes nothing', () => {
    const t = new TsallisInf({ seed: 1 });
    const ch = t.choose();
    const before = JSON.stringify(t.toJSON());
    expect(codeOf(() => t.update(ch, NaN))).toMatch(/^E_NONFINITE iterations/);
    expect(codeOf(() => t.update(ch, Infinity))).toMatch(/^E_NONFINITE iterations/);
    expect(codeOf(() => t.update(ch, -1))).toMatch(/^E_RANGE iterations/);
    expect(codeOf(() => t.update(ch, '5' as never))).toMatch(/^E_DTYPE iterations/);
    expect(JSON.stringify(t.toJSON())).toBe(before);
    t.update(ch, 5);
    expect(t.rounds).toBe(1);
  });

  it('update must answer the pending choice', () => {
    const t = new ChebCB({ context: CONTEXT, seed: 1 });
    expect(codeOf(() => t.update({ omega: 1, arm: 0, p: 1, context: 0, clamped: false, round: 1 }, 3))).toMatch(/^E_RANGE choice: no choice is pending/);
    const a = t.choose(0);
    t.update(a, 10);
    expect(codeOf(() => t.update(a, 10))).toMatch(/^E_RANGE choice/);
    const b = t.choose(0.1);
    expect(codeOf(() => t.update({ ...b, round: 7 }, 10))).toMatch(/^E_RANGE choice: is not the pending choice/);
  });

  it('contexts: required by contextual tuners, checked, clamped and counted when outside', () => {
    const t = new ChebCB({ context: CONTEXT, seed: 1 });
    expect(codeOf(() => t.choose())).toMatch(/^E_DTYPE context/);
    expect(codeOf(() => t.choose(NaN))).toMatch(/^E_NONFINITE context/);
    for (const [c, clamped] of [[0.9, true], [-1, true], [0.1, false]] as const) {
      const ch = t.choose(c);
      expect(ch.clamped).toBe(clamped);
      expect(ch.context).toBe(Math.min(0.65, Math.max(-0.15, c)));
      t.update(ch, 10);
    }
    expect(t.clampedContexts).toBe(2);
    const s = new SurrogateTS({ context: CONTEXT });
    s.update(s.choose(5), 10);
    expect(s.clampedContexts).toBe(1);
    // Context-free tuners ignore a context but still reject a non-finite one.
    expect(new TsallisInf().choose(123).clamped).toBe(false);
    expect(codeOf(() => new TsallisInf().choose(NaN))).toMatch(/^E_NONFINITE context/);
  });

  it('capped feedback is counted; loss is iterations − 1, floored at 0', () => {
    const t = new TsallisInfCB({ context: CONTEXT, seed: 1 });
    const ch = t.choose(0);
    t.update(ch, 10000, { capped: true });
    expect(t.cappedFeedback).toBe(1);
    expect(lossOf(10)).toBe(9);
    expect(lossOf(0)).toBe(0);
  });

  it('malformed state is rejected with the field named', () => {
    const s = new TsallisInf({ seed: 1 }).toJSON();
    expect(codeOf(() => tunerFromJSON({ ...s, kind: 'nope' }))).toMatch(/^E_RANGE state\.kind/);
    expect(codeOf(() => TsallisInf.fromJSON({ ...s, version: 2 }))).toMatch(/^E_RANGE state\.version/);
    expect(codeOf(() => TsallisInf.fromJSON({ ...s, learner: { ...(s.learner as object), k: [1, 2] } }))).toMatch(/^E_SHAPE state\.learner\.k/);
    expect(codeOf(() => tunerFromJSON(null))).toMatch(/^E_RANGE state\.kind/);
  });
});
