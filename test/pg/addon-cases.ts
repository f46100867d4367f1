/**
 * What the pg tests of the addon's CPU entry points (native.test.ts) and CUDA ones (cuda.test.ts)
 * share: batches for the policy loss and rows of logits, the comparison with the js oracle and its
 * tolerances, and the argument checks every entry point must make before its kernel (or device) runs.
 */
import { expect, it } from 'vitest';
import { PARAM, SUM } from '../../src/backends/addon/pg.js';
import type { CudaPgKernels } from '../../src/backends/cuda/pg.js';
import type { KernelSpec } from '../../src/core/backend.js';
import { tokenLogprobs, tokenLogprobsBackward } from '../../src/backends/js/pg/logprobs.js';
import { policyLoss } from '../../src/backends/js/pg/loss.js';
import type { KlEstimator, PgAggregation, PgLogprobsArgs, PgLogprobsBackwardArgs, PgLossArgs, PgLossOutcome } from '../../src/pg/ops.js';
import { rng } from '../support/backends.js';

export type F = Float32Array | Float64Array;
export type Dtype = 'f32' | 'f64';
export const make = (dtype: Dtype, n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));
// f32: the forward's bound (native/include/numkern/pg_logits.hpp: ~1e-6 typical, 8e-6 worst of |lse|) holds
// for the fused exponential of x86-64-v4 CPUs and the unfused one of the others alike, so one tolerance
// serves every ISA level; the loss's bound (pg_loss.hpp) is ~1e-6 relative with the same clip decisions.
export const TOL = { f64: 1e-12, f32: 2e-5 } as const;

export interface LossOptions {
  dtype: Dtype;
  nSeq: number;
  T: number;
  seed: number;
  mask?: boolean;
  perToken?: boolean;
  kl?: KlEstimator | null;
  klClamp?: boolean;
  entropy?: boolean;
  trl?: boolean;
  aggregation?: PgAggregation;
  ragged?: boolean;
}

/** A batch of nSeq sequences, padded to T (or ragged), with the usual verl (or TRL) settings. */
export function lossArgs(o: LossOptions): PgLossArgs {
  const r = rng(o.seed);
  const widths = Array.from({ length: o.nSeq }, () => (o.ragged ? 1 + Math.floor(r() * o.T) : o.T));
  const offsets = new Int32Array(o.nSeq + 1);
  for (let i = 0; i < o.nSeq; i++) offsets[i + 1] = offsets[i]! + widths[i]!;
  const n = offsets[o.nSeq]!;
  const lengths = Int32Array.from(widths, (w, i) => (o.ragged ? w : i % 7 === 3 ? 0 : Math.floor(w * (0.4 + 0.6 * r()))));
  const logp = make(o.dtype, n);
  const oldLogp = make(o.dtype, n);
  const refLogp = make(o.dtype, n);
  const entropy = make(o.dtype, n);
  const mask = o.mask === false ? null : Uint8Array.from({ length: n }, () => (r() < 0.9 ? 1 : 0));
  for (let k = 0; k < n; k++) {
    logp[k] = -3 * r();
    oldLogp[k] = logp[k]! + 0.6 * (r() - 0.5);
    refLogp[k] = logp[k]! + 0.4 * (r() - 0.5);
    entropy[k] = 5 * r();
  }
  const advantages = make(o.dtype, o.perToken ? n : o.nSeq);
  for (let k = 0; k < advantages.length; k++) advantages[k] = 2 * r() - 1;
  const kl = o.kl === undefined ? 'k3' : o.kl;
  return {
    offsets, lengths, mask, logp, oldLogp, refLogp: kl ? refLogp : null, advantages, advantagePerToken: o.perToken ?? false,
    clipLow: 0.2, clipHigh: 0.28, dualClip: o.trl ? Infinity : 3, ratioCap: o.trl ? 1.5 : Infinity, logRatioClamp: o.trl ? Infinity : 20,
    klEstimator: kl, klCoef: 0.04, klClamp: o.klClamp ?? !o.trl,
    entropy: o.entropy === false ? null : entropy, entropyCoef: 0.01,
    aggregation: o.aggregation ?? { perSequenceMean: false, lengthFloor: 'eps', denominator: 'tokens', scale: 1 },
    entropyAggregation: { perSequenceMean: false, lengthFloor: 'eps', denominator: 'tokens', scale: 1 },
    ignoreInactiveNonFinite: false,
    grad: make(o.dtype, n).fill(-7),
    gradEntropy: o.entropy === false ? null : make(o.dtype, n).fill(-7),
  };
}

/** The same arguments with fresh output arrays (for the oracle, or a second run). */
export const fresh = (a: PgLossArgs): PgLossArgs => ({
  ...a,
  grad: make(a.logp instanceof Float32Array ? 'f32' : 'f64', a.logp.length),
  gradEntropy: a.gradEntropy && make(a.logp instanceof Float32Array ? 'f32' : 'f64', a.logp.length),
});

export const close = (got: number, want: number, rtol: number, atol: number): boolean => Math.abs(got - want) <= atol + rtol * Math.abs(want);

export function expectLossClose(got: PgLossOutcome, want: PgLossOutcome, gotArgs: PgLossArgs, wantArgs: PgLossArgs, rtol: number): void {
  expect(got.nonFinite).toEqual(want.nonFinite);
  const g = got.stats;
  const w = want.stats;
  // Counts and the clip decisions behind them are exact (the f32 kernel redoes boundary tokens in f64).
  for (const key of ['tokens', 'sequences', 'clipFracHigh', 'clipFracLow', 'clipFracDual'] as const) expect(g[key], key).toBe(w[key]);
  const scale = Math.abs(w.policyLoss) + Math.abs(w.klLoss) + Math.abs(w.entropyLoss) + 1e-300;
  for (const key of ['ratioMean', 'approxKl', 'klMean', 'entropyMean', 'policyLoss', 'klLoss', 'entropyLoss'] as const) {
    expect(close(g[key], w[key], rtol, rtol * (key.endsWith('Loss') ? scale : 1)), `${key}: ${g[key]} vs ${w[key]}`).toBe(true);
  }
  expect(close(got.loss, want.loss, rtol, rtol * scale), `loss ${got.loss} vs ${want.loss}`).toBe(true);
  let gmax = 0;
  for (const v of wantArgs.grad) gmax = Math.max(gmax, Math.abs(v));
  for (let k = 0; k < wantArgs.grad.length; k++) {
    const ok = close(gotArgs.grad[k]!, wantArgs.grad[k]!, rtol, 1e-3 * rtol * gmax) && (gotArgs.grad[k] === 0) === (wantArgs.grad[k] === 0);
    if (!ok) expect(`grad[${k}] = ${gotArgs.grad[k]}`).toBe(`${wantArgs.grad[k]}`);
  }
  if (wantArgs.gradEntropy) {
    for (let k = 0; k < wantArgs.gradEntropy.length; k++) {
      if (!close(gotArgs.gradEntropy![k]!, wantArgs.gradEntropy[k]!, rtol, 0)) expect(`gradEntropy[${k}] = ${gotArgs.gradEntropy![k]}`).toBe(`${wantArgs.gradEntropy[k]}`);
    }
  }
}

export const logitsCase = (dtype: Dtype, N: number, V: number, seed: number): { logits: F; targets: Int32Array } => {
  const r = rng(seed);
  const logits = make(dtype, N * V);
  for (let k = 0; k < logits.length; k++) logits[k] = 8 * (r() - 0.5);
  return { logits, targets: Int32Array.from({ length: N }, () => Math.floor(r() * V)) };
};

/** Batches every backend's loss is compared on: estimators, aggregations, masks, advantage layouts. */
export const LOSS_CASES: [string, Omit<LossOptions, 'dtype'>][] = [
  ['verl k3, sequence means, mask', { nSeq: 24, T: 400, seed: 1, aggregation: { perSequenceMean: true, lengthFloor: 'eps', denominator: 'sequences', scale: 1 } }],
  ['TRL k3 unclamped, ratio cap, no dual clip', { nSeq: 20, T: 300, seed: 2, trl: true, aggregation: { perSequenceMean: true, lengthFloor: 'one', denominator: 'all-sequences', scale: 0.5 } }],
  ['k1, per-token advantages, no mask', { nSeq: 16, T: 257, seed: 3, kl: 'k1', perToken: true, mask: false }],
  ['abs, no entropy, fixed denominator', { nSeq: 9, T: 500, seed: 4, kl: 'abs', entropy: false, aggregation: { perSequenceMean: false, lengthFloor: 'eps', denominator: 4096, scale: 2 } }],
  ['k2, ragged', { nSeq: 31, T: 200, seed: 5, kl: 'k2', ragged: true }],
  ['no KL', { nSeq: 12, T: 333, seed: 6, kl: null }],
];

/**
 * pgTokenLogprobs and its backward (out of place and in place, with gradLogp, gradEntropy or both) of a
 * backend's kernels against the oracle on N rows of V logits, at TOL; the forward run twice gives the
 * same bits.
 */
export async function logprobsAgainstOracle(
  forward: KernelSpec<'pgTokenLogprobs'>, backward: KernelSpec<'pgTokenLogprobsBackward'>, dtype: Dtype, N: number, V: number, temperature: number,
): Promise<void> {
  const { logits, targets } = logitsCase(dtype, N, V, N * V);
  const mk = (): PgLogprobsArgs => ({ logits, targets, vocab: V, temperature, logp: make(dtype, N), lse: make(dtype, N), entropy: make(dtype, N) });
  const want = mk();
  const got = mk();
  expect(tokenLogprobs(want)).toBe(-1);
  expect(await forward.run(got, {})).toBe(-1);
  const tol = TOL[dtype];
  for (let n = 0; n < N; n++) {
    const scale = 1 + Math.abs(want.lse[n]!);
    if (!close(got.logp[n]!, want.logp[n]!, 0, tol * scale)) expect(`logp[${n}] = ${got.logp[n]}`).toBe(`${want.logp[n]}`);
    if (!close(got.lse[n]!, want.lse[n]!, 0, tol * scale)) expect(`lse[${n}] = ${got.lse[n]}`).toBe(`${want.lse[n]}`);
    if (!close(got.entropy![n]!, want.entropy![n]!, tol, 1e-13 * scale)) expect(`entropy[${n}] = ${got.entropy![n]}`).toBe(`${want.entropy![n]}`);
  }
  const again = mk();
  await forward.run(again, {});
  expect([again.logp, again.lse, again.entropy]).toEqual([got.logp, got.lse, got.entropy]);
  const r = rng(7);
  const gradLogp = Float64Array.from({ length: N }, () => r() - 0.5);
  const gradEntropy = Float64Array.from({ length: N }, () => r() - 0.5);
  for (const [gL, gH] of [[gradLogp, gradEntropy], [gradLogp, null], [null, gradEntropy]] as const) {
    const cast = (x: Float64Array | null): F | null => x && (dtype === 'f32' ? Float32Array.from(x) : x);
    const bw = (gradLogits: F, x: F = logits): PgLogprobsBackwardArgs => ({
      logits: x, targets, vocab: V, temperature, lse: want.lse, entropy: want.entropy, gradLogp: cast(gL), gradEntropy: cast(gH), gradLogits,
    });
    const ref = make(dtype, N * V);
    tokenLogprobsBackward(bw(ref));
    const out = make(dtype, N * V);
    await backward.run(bw(out), {});
    const inPlace = logits.slice();
    await backward.run(bw(inPlace, inPlace), {});
    expect(inPlace).toEqual(out);
    for (let n = 0; n < N; n++) {
      let mag = 0;
      for (let j = 0; j < V; j++) mag = Math.max(mag, Math.abs(ref[n * V + j]!));
      for (let j = 0; j < V; j++) {
        const k = n * V + j;
        if (!close(out[k]!, ref[k]!, tol, tol * mag + 1e-15 * (1 + Math.abs(want.lse[n]!)))) expect(`gradLogits[${k}] = ${out[k]}`).toBe(`${ref[k]}`);
      }
    }
  }
}

/** A backend's pgPolicyLoss reports the first non-finite array and index as the oracle does, at inactive positions too unless told not to. */
export async function nonFiniteReports(loss: KernelSpec<'pgPolicyLoss'>): Promise<void> {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const ignore of [false, true]) {
      const a = { ...lossArgs({ dtype, nSeq: 10, T: 128, seed: 12, perToken: true }), ignoreInactiveNonFinite: ignore };
      // An inactive NaN in oldLogp (sequence 3 has length 0), an active −Inf in refLogp, NaN entropy late.
      a.oldLogp[3 * 128 + 5] = NaN;
      const active = Array.from({ length: 128 }, (_, t) => 6 * 128 + t).find((k) => k - 6 * 128 < a.lengths[6]! && a.mask![k] !== 0)!;
      a.refLogp![active] = -Infinity;
      a.entropy![9 * 128 + 1] = NaN;
      const want = policyLoss(fresh(a));
      const got = await loss.run(a, {});
      expect(got.nonFinite).toEqual(want.nonFinite);
      expect(got.nonFinite).toEqual(ignore ? { array: 'refLogp', index: active } : { array: 'oldLogp', index: 3 * 128 + 5 });
    }
    const b = lossArgs({ dtype, nSeq: 10, T: 64, seed: 13, kl: null });
    b.advantages[3] = Infinity; // sequence 3 is empty: per-sequence advantages are all checked
    expect((await loss.run(b, {})).nonFinite).toEqual({ array: 'advantages', index: 3 });
  }
}

/**
 * The argument checks of pgPolicyLoss, pgLossCounts and the log-prob kernels, each naming the argument;
 * `noDevice`: the entry points are exports.cuda on a machine without a device, so a well-formed call
 * passes every check and then throws "CUDA: ...".
 */
export function argumentChecks(pg: CudaPgKernels, noDevice = false): void {
  const nSeq = 3;
  const T = 4;
  const n = nSeq * T;
  const base = (): { offsets: Int32Array; lengths: Int32Array; mask: Uint8Array | null; x: Float32Array; params: Float64Array; sums: Float64Array; grad: Float32Array; adv: Float32Array } => {
    const params = new Float64Array(PARAM.length);
    params.set([0.2, 0.28, 3, Infinity, 20, 2, 0.1, 0, 0, 0, 0, 12, 1, 0, 0, 12, 1, 0, 0, 0, nSeq]);
    return {
      offsets: Int32Array.of(0, 4, 8, 12), lengths: Int32Array.of(4, 2, 0), mask: new Uint8Array(n).fill(1),
      x: new Float32Array(n).fill(-1), params, sums: new Float64Array(SUM.length), grad: new Float32Array(n), adv: Float32Array.of(1, -1, 0.5),
    };
  };
  type Base = ReturnType<typeof base>;
  const call = (b: Base, patch: Partial<{ ref: Float32Array | null; ent: Float32Array | null; gent: Float32Array | null; old: F; logp: F }> = {}): void =>
    pg.pgPolicyLoss(b.offsets, b.lengths, b.mask, (patch.logp ?? b.x) as Float32Array, (patch.old ?? b.x.slice()) as Float32Array,
      patch.ref === undefined ? b.x.slice() : patch.ref, b.adv, patch.ent ?? null, b.grad, patch.gent ?? null, b.params, b.sums);

  it(noDevice ? 'checks a well-formed call, then wants a device' : 'accepts a well-formed call', () => {
    const b = base();
    const counts = new Float64Array(2);
    if (noDevice) {
      expect(() => call(b)).toThrow(/^CUDA: /);
      expect(() => pg.pgLossCounts(b.offsets, b.lengths, b.mask, counts)).toThrow(/^CUDA: /);
      return;
    }
    call(b);
    expect(b.sums[SUM.tokens]).toBe(6);
    expect(b.sums[SUM.sequences]).toBe(2);
    pg.pgLossCounts(b.offsets, b.lengths, b.mask, counts);
    expect([...counts]).toEqual([6, 2]);
  });

  const cases: [string, (b: Base) => void, RegExp][] = [
    ['offsets not monotone', (b) => b.offsets.set([0, 8, 4, 12]), /^offsets: not monotone/],
    ['offsets not from 0', (b) => b.offsets.set([1, 4, 8, 12]), /^offsets: offsets\[0\] = 1 should be 0/],
    ['offsets past the arrays', (b) => b.offsets.set([0, 4, 8, 13]), /^offsets: offsets\[3\] = 13 should be the per-token length 12/],
    ['negative offsets', (b) => b.offsets.set([-1, 4, 8, 12]), /^offsets: offsets\[0\] = -1 is negative/],
    ['a length beyond its row', (b) => b.lengths.set([4, 5, 0]), /^lengths: lengths\[1\] = 5 is outside \[0, 4\]/],
    ['a negative length', (b) => b.lengths.set([4, -1, 0]), /^lengths: lengths\[1\] = -1/],
    ['a short mask', (b) => (b.mask = new Uint8Array(n - 1)), /^mask: length 11 should be 12/],
    ['advantages per sequence of the wrong length', (b) => (b.adv = new Float32Array(4)), /^advantages: length 4 should be 3/],
    ['params of the wrong length', (b) => (b.params = new Float64Array(5)), /^params: length 5 should be 21/],
    ['an unknown estimator', (b) => (b.params[PARAM.kl] = 7), /^params: kl = 7/],
    ['a range past the sequences', (b) => (b.params[PARAM.seqEnd] = 4), /^params: \[seqBegin, seqEnd\)/],
    ['a zero denominator', (b) => (b.params[PARAM.aggDenominator] = 0), /^params: aggDenominator must be > 0/],
    ['a NaN clip', (b) => (b.params[PARAM.clipLow] = NaN), /^params: clipLow = nan is not a finite number/],
    ['a flag that is not 0 or 1', (b) => (b.params[PARAM.klClamp] = 2), /^params: klClamp must be 0 or 1/],
    ['grad sharing memory with logp', (b) => (b.grad = new Float32Array(b.x.buffer)), /^grad: shares memory with logp/],
    ['sums sharing memory with params', (b) => (b.sums = new Float64Array(b.params.buffer, 0, SUM.length)), /^sums: shares memory with params/],
  ];
  for (const [name, patch, message] of cases) {
    it(`rejects ${name}`, () => {
      const b = base();
      patch(b);
      expect(() => call(b)).toThrow(message);
    });
  }

  it('rejects missing and mismatched arrays, naming them', () => {
    expect(() => call(base(), { ref: null })).toThrow(/^refLogp: required when params\.kl names an estimator/);
    expect(() => call(base(), { ent: new Float32Array(n) })).toThrow(/^gradEntropy: entropy and gradEntropy come together/);
    expect(() => call(base(), { old: new Float64Array(n) })).toThrow(TypeError);
    expect(() => call(base(), { old: new Float64Array(n) })).toThrow(/^oldLogp: expected Float32Array to match logp, got Float64Array/);
    expect(() => call(base(), { logp: new Float32Array(n + 1) })).toThrow(/^oldLogp: length 12 should be 13/);
  });

  it('rejects bad targets and shapes of the log-prob kernels', () => {
    const x = new Float32Array(3 * 5);
    const out = (): [Float32Array, Float32Array] => [new Float32Array(3), new Float32Array(3)];
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 5, 1), 5, 1, ...out(), null)).toThrow(/^targets: targets\[1\] = 5 is outside \[0, 5\)/);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, -1, 1), 5, 1, ...out(), null)).toThrow(/^targets: targets\[1\] = -1/);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 1, 1), 4, 1, ...out(), null)).toThrow(/^logits: length 15 is not a multiple of vocab 4/);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 1), 5, 1, ...out(), null)).toThrow(/^targets: length 2 should be 3/);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 1, 1), 5, 0, ...out(), null)).toThrow(/^temperature: expected a finite number > 0/);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 1, 1), 0, 1, ...out(), null)).toThrow(/^vocab: expected an integer in \[1/);
    const lse = new Float32Array(3);
    expect(() => pg.pgTokenLogprobs(x, Int32Array.of(0, 1, 1), 5, 1, x.subarray(0, 3), lse, null)).toThrow(/^logp: shares memory with logits/);
    const t = Int32Array.of(0, 1, 2);
    const g = new Float32Array(3);
    expect(() => pg.pgTokenLogprobsBackward(x, t, 5, 1, lse, null, null, null, new Float32Array(15))).toThrow(/^gradLogp: gradLogp and gradEntropy are both null/);
    expect(() => pg.pgTokenLogprobsBackward(x, t, 5, 1, lse, null, g, g, new Float32Array(15))).toThrow(/^entropy: required with gradEntropy/);
    const big = new Float32Array(16);
    expect(() => pg.pgTokenLogprobsBackward(big.subarray(0, 15), t, 5, 1, lse, null, g, null, big.subarray(1))).toThrow(/^gradLogits: shares memory with logits/);
    expect(() => pg.pgTokenLogprobsBackward(x, Int32Array.of(0, 7, 1), 5, 1, lse, null, g, null, x)).toThrow(/^targets: targets\[1\] = 7/);
    // The same errors as rejections from the async twins.
    return expect(pg.pgTokenLogprobsAsync(x, Int32Array.of(0, 5, 1), 5, 1, ...out(), null)).rejects.toThrow(/^targets: targets\[1\] = 5/);
  });
}
