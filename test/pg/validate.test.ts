/**
 * Bad input to ctx.pg: every class throws its NumkernError code naming the argument before any kernel
 * runs (a mock engine records dispatches), and non-finite values reported by the fused kernel check
 * become E_NONFINITE naming the array and its first bad index, never returning outputs (docs/pg.md §9).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createContext, NumkernError } from '../../src/index.js';
import type { Engine } from '../../src/core/engine.js';
import { pgApi } from '../../src/pg/api.js';

const run = vi.fn(async () => {
  throw new Error('a kernel was dispatched');
});
const pg = pgApi({ run } as unknown as Engine);
const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const f64 = (v: number[]) => Float64Array.from(v);
const f32 = (v: number[]) => Float32Array.from(v);
const detached = <T extends ArrayBufferView>(a: T): T => {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
};

/** 2 sequences × 3 positions, padded, per-sequence advantages. */
const ok = () => ({ logp: f64([-1, -2, -1, -1, -1, -3]), oldLogp: f64([-1, -2, -1, -1, -1, -3]), advantages: f64([1, -1]) });

async function outcome(p: () => Promise<unknown>): Promise<string> {
  try {
    await p();
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.message}`;
    throw e;
  }
  return 'ok';
}

type Case = [string, () => Promise<unknown>, RegExp];

const lossCases: Case[] = [
  ['input not an object', () => pg.policyLoss(null as never), /^E_DTYPE input:/],
  ['logp not a float array', () => pg.policyLoss({ ...ok(), logp: [1, 2] as never }), /^E_DTYPE input\.logp:/],
  ['oldLogp dtype', () => pg.policyLoss({ ...ok(), oldLogp: f32([-1, -2, -1, -1, -1, -3]) as never }), /^E_DTYPE input\.oldLogp:/],
  ['oldLogp length', () => pg.policyLoss({ ...ok(), oldLogp: f64([1, 2]) }), /^E_SHAPE input\.oldLogp: expected length 6/],
  ['refLogp dtype', () => pg.policyLoss({ ...ok(), refLogp: f32([0, 0, 0, 0, 0, 0]) as never }), /^E_DTYPE input\.refLogp:/],
  ['advantages dtype', () => pg.policyLoss({ ...ok(), advantages: f32([1, 2]) as never }), /^E_DTYPE input\.advantages:/],
  ['advantages length', () => pg.policyLoss({ ...ok(), advantages: f64([1, 2, 3]), width: 3 }), /^E_SHAPE input\.advantages: length 3, expected 2 \(one per sequence\) or 6/],
  ['advantages ambiguous', () => pg.policyLoss({ logp: f64([0, 0]), oldLogp: f64([0, 0]), advantages: f64([1, 2]), offsets: [0, 0, 2] }), /^E_SHAPE input\.advantages: .*set input\.advantagePerToken/],
  ['advantagePerToken with per-sequence length', () => pg.policyLoss({ ...ok(), advantagePerToken: true, width: 3 }), /^E_SHAPE input\.advantages: length 2, expected 6/],
  ['advantagePerToken not boolean', () => pg.policyLoss({ ...ok(), advantagePerToken: 1 as never }), /^E_DTYPE input\.advantagePerToken/],
  ['offsets not from 0', () => pg.policyLoss({ ...ok(), offsets: [1, 3, 6] }), /^E_SHAPE input\.offsets: must start at 0/],
  ['offsets decreasing', () => pg.policyLoss({ ...ok(), offsets: Int32Array.from([0, 4, 3, 6]), advantages: f64([1, 2, 3]) }), /^E_SHAPE input\.offsets: decreases at sequence 1/],
  ['offsets short of the length', () => pg.policyLoss({ ...ok(), offsets: [0, 3, 5] }), /^E_SHAPE input\.offsets: must end at logp\.length = 6/],
  ['offsets empty', () => pg.policyLoss({ ...ok(), offsets: [] }), /^E_SHAPE input\.offsets/],
  ['offsets fractional', () => pg.policyLoss({ ...ok(), offsets: [0, 2.5, 6] }), /^E_DTYPE input\.offsets: element 1/],
  ['offsets as Float64Array', () => pg.policyLoss({ ...ok(), offsets: f64([0, 3, 6]) as never }), /^E_DTYPE input\.offsets/],
  ['offsets with seqLen', () => pg.policyLoss({ ...ok(), offsets: [0, 3, 6], seqLen: [3, 3] }), /^E_SHAPE input\.seqLen: belongs to the padded layout/],
  ['seqLen beyond the width', () => pg.policyLoss({ ...ok(), seqLen: [3, 4] }), /^E_SHAPE input\.seqLen: element 1 is 4, more than the width 3/],
  ['seqLen negative', () => pg.policyLoss({ ...ok(), seqLen: [3, -1] }), /^E_RANGE input\.seqLen: element 1/],
  ['mask and seqLen disagree', () => pg.policyLoss({ ...ok(), seqLen: [3, 2], mask: Uint8Array.from([1, 1, 1, 1, 1, 1]) }), /^E_SHAPE input\.mask: disagrees with input\.seqLen at sequence 1, position 2/],
  ['mask length', () => pg.policyLoss({ ...ok(), mask: Uint8Array.from([1, 1]) }), /^E_SHAPE input\.mask: expected length 6/],
  ['mask type', () => pg.policyLoss({ ...ok(), mask: [1, 1, 1, 1, 1, 1] as never }), /^E_DTYPE input\.mask/],
  ['width not dividing', () => pg.policyLoss({ ...ok(), advantages: f64([1, 2, 3, 4, 5, 6]), width: 4 }), /^E_SHAPE input\.width: logp\.length = 6 is not a multiple of width 4/],
  ['width and seqLen disagree', () => pg.policyLoss({ ...ok(), seqLen: [3, 3], width: 2 }), /^E_SHAPE input\.logp: length 6, expected nSeq·width/],
  ['no way to tell the sequences', () => pg.policyLoss({ ...ok(), advantages: f64([1, 2, 3, 4, 5, 6]) }), /^E_SHAPE input: cannot tell where sequences start/],
  ['clip.low > 1', () => pg.policyLoss(ok(), { clip: { low: 1.5 } }), /^E_RANGE options\.clip\.low: expected a number in \[0, 1\], got 1\.5/],
  ['clip.high < 0', () => pg.policyLoss(ok(), { clip: { high: -0.1 } }), /^E_RANGE options\.clip\.high/],
  ['clip.dual ≤ 1', () => pg.policyLoss(ok(), { clip: { dual: 0.9 } }), /^E_RANGE options\.clip\.dual: expected a finite number > 1/],
  ['clip.dual NaN', () => pg.policyLoss(ok(), { clip: { dual: NaN } }), /^E_NONFINITE options\.clip\.dual/],
  ['clip.dual true', () => pg.policyLoss(ok(), { clip: { dual: true as never } }), /^E_DTYPE options\.clip\.dual/],
  ['clip unknown key', () => pg.policyLoss(ok(), { clip: { hi: 0.3 } as never }), /^E_RANGE options\.clip\.hi: unknown option/],
  ['ratioCap 0', () => pg.policyLoss(ok(), { ratioCap: 0 }), /^E_RANGE options\.ratioCap/],
  ['ratioCap Infinity', () => pg.policyLoss(ok(), { ratioCap: Infinity }), /^E_RANGE options\.ratioCap/],
  ['logRatioClamp negative', () => pg.policyLoss(ok(), { logRatioClamp: -1 }), /^E_RANGE options\.logRatioClamp/],
  ['kl coef negative', () => pg.policyLoss({ ...ok(), refLogp: f64([0, 0, 0, 0, 0, 0]) }, { kl: { estimator: 'k3', coef: -0.1 } }), /^E_RANGE options\.kl\.coef/],
  ['kl estimator unknown', () => pg.policyLoss({ ...ok(), refLogp: f64([0, 0, 0, 0, 0, 0]) }, { kl: { estimator: 'k4' as never, coef: 0.1 } }), /^E_RANGE options\.kl\.estimator/],
  ['kl coef missing', () => pg.policyLoss({ ...ok(), refLogp: f64([0, 0, 0, 0, 0, 0]) }, { kl: { estimator: 'k1' } as never }), /^E_DTYPE options\.kl\.coef/],
  ['kl without refLogp', () => pg.policyLoss(ok(), { kl: { estimator: 'k1', coef: 0.1 } }), /^E_SHAPE input\.refLogp: is needed with options\.kl/],
  ['kl clamp on k1', () => pg.policyLoss({ ...ok(), refLogp: f64([0, 0, 0, 0, 0, 0]) }, { kl: { estimator: 'k1', coef: 0.1, clamp: true } }), /^E_RANGE options\.kl\.clamp: only k3/],
  ['entropy coef Infinity', () => pg.policyLoss(ok(), { entropy: { values: f64([1, 1, 1, 1, 1, 1]), coef: Infinity } }), /^E_RANGE options\.entropy\.coef/],
  ['entropy values length', () => pg.policyLoss(ok(), { entropy: { values: f64([1]), coef: 0.1 } }), /^E_SHAPE options\.entropy\.values/],
  ['entropy values dtype', () => pg.policyLoss(ok(), { entropy: { values: f32([1, 1, 1, 1, 1, 1]) as never, coef: 0.1 } }), /^E_DTYPE options\.entropy\.values/],
  ['entropy aggregation unknown', () => pg.policyLoss(ok(), { entropy: { values: f64([1, 1, 1, 1, 1, 1]), coef: 0.1, aggregation: 'mean' as never } }), /^E_RANGE options\.entropy\.aggregation/],
  ['aggregation unknown', () => pg.policyLoss(ok(), { aggregation: 'seq-mean' as never }), /^E_RANGE options\.aggregation: expected one of 'token-mean'/],
  ['convention unknown', () => pg.policyLoss(ok(), { convention: 'openrlhf' as never }), /^E_RANGE options\.convention/],
  ['normalizer no mode uses', () => pg.policyLoss(ok(), { normalizers: { lossScaleFactor: 512 } }), /^E_RANGE options\.normalizers\.lossScaleFactor: is not used by aggregation 'token-mean'/],
  ['gradientAccumulation with dapo', () => pg.policyLoss(ok(), { aggregation: 'dapo', normalizers: { gradientAccumulation: 2 } }), /^E_RANGE options\.normalizers\.gradientAccumulation: is not used by aggregation 'dapo'/],
  ['dpSize fractional', () => pg.policyLoss(ok(), { normalizers: { dpSize: 1.5 } }), /^E_RANGE options\.normalizers\.dpSize: expected a positive integer/],
  ['globalTokens 0', () => pg.policyLoss(ok(), { normalizers: { globalTokens: 0 } }), /^E_RANGE options\.normalizers\.globalTokens/],
  ['normalizers unknown key', () => pg.policyLoss(ok(), { normalizers: { tokens: 5 } as never }), /^E_RANGE options\.normalizers\.tokens: unknown option/],
  ['ignoreMaskedNonFinite not boolean', () => pg.policyLoss(ok(), { ignoreMaskedNonFinite: 'yes' as never }), /^E_DTYPE options\.ignoreMaskedNonFinite/],
  ['checkFinite off', () => pg.policyLoss(ok(), { checkFinite: false } as never), /^E_RANGE options\.checkFinite: this op checks finiteness inside its one pass/],
  ['unknown option', () => pg.policyLoss(ok(), { clipRatio: 0.2 } as never), /^E_RANGE options\.clipRatio: unknown option/],
  ['unknown backend', () => pg.policyLoss(ok(), { backend: 'tpu' as never }), /^E_RANGE options\.backend/],
  ['options not an object', () => pg.policyLoss(ok(), 3 as never), /^E_DTYPE options/],
  ['detached logp', () => pg.policyLoss({ ...ok(), logp: detached(f64([1, 2, 3, 4, 5, 6])) }), /^E_SHAPE input\.logp: its ArrayBuffer is detached/],
  ['detached offsets', () => pg.policyLoss({ ...ok(), offsets: detached(Int32Array.from([0, 3, 6])) }), /^E_SHAPE input\.offsets: its ArrayBuffer is detached/],
  ['detached mask', () => pg.policyLoss({ ...ok(), mask: detached(Uint8Array.from([1, 1, 1, 1, 1, 1])) }), /^E_SHAPE input\.mask: its ArrayBuffer is detached/],
  ['detached entropy', () => pg.policyLoss(ok(), { entropy: { values: detached(f64([1, 1, 1, 1, 1, 1])), coef: 0.1 } }), /^E_SHAPE options\.entropy\.values: its ArrayBuffer is detached/],
];

const logits = () => f64([1, 2, 3, 4, 5, 6]);
const fwd = { vocab: 3, lse: f64([3.4, 6.4]) };
const logprobsCases: Case[] = [
  ['logits not floats', () => pg.tokenLogprobs(Int32Array.from([1, 2, 3]) as never, [0], { vocab: 3 }), /^E_DTYPE logits/],
  ['vocab missing', () => pg.tokenLogprobs(logits(), [0, 1], {} as never), /^E_SHAPE options\.vocab: is required/],
  ['options missing', () => pg.tokenLogprobs(logits(), [0, 1], undefined as never), /^E_SHAPE options\.vocab/],
  ['vocab 0', () => pg.tokenLogprobs(logits(), [0, 1], { vocab: 0 }), /^E_RANGE options\.vocab/],
  ['logits length', () => pg.tokenLogprobs(logits(), [0, 1, 2], { vocab: 3 }), /^E_SHAPE logits: length 6, expected targets\.length·vocab = 3·3 = 9/],
  ['target ≥ vocab', () => pg.tokenLogprobs(logits(), Int32Array.from([0, 3]), { vocab: 3 }), /^E_RANGE targets: element 1 is 3, outside \[0, 3\)/],
  ['target negative', () => pg.tokenLogprobs(logits(), [-1, 0], { vocab: 3 }), /^E_RANGE targets: element 0 is -1/],
  ['target fractional', () => pg.tokenLogprobs(logits(), [0, 0.5], { vocab: 3 }), /^E_DTYPE targets: element 1/],
  ['targets as floats', () => pg.tokenLogprobs(logits(), f64([0, 1]) as never, { vocab: 3 }), /^E_DTYPE targets/],
  ['temperature 0', () => pg.tokenLogprobs(logits(), [0, 1], { vocab: 3, temperature: 0 }), /^E_RANGE options\.temperature/],
  ['temperature NaN', () => pg.tokenLogprobs(logits(), [0, 1], { vocab: 3, temperature: NaN }), /^E_NONFINITE options\.temperature/],
  ['entropy not boolean', () => pg.tokenLogprobs(logits(), [0, 1], { vocab: 3, entropy: 1 as never }), /^E_DTYPE options\.entropy/],
  ['checkFinite off (forward)', () => pg.tokenLogprobs(logits(), [0, 1], { vocab: 3, checkFinite: false } as never), /^E_RANGE options\.checkFinite/],
  ['detached logits', () => pg.tokenLogprobs(detached(logits()), [0, 1], { vocab: 3 }), /^E_SHAPE logits: its ArrayBuffer is detached/],
  ['detached targets', () => pg.tokenLogprobs(logits(), detached(Int32Array.from([0, 1])), { vocab: 3 }), /^E_SHAPE targets: its ArrayBuffer is detached/],
  ['backward: lse missing', () => pg.tokenLogprobsBackward(logits(), [0, 1], { vocab: 3, gradLogp: f64([1, 1]) } as never), /^E_DTYPE options\.lse/],
  ['backward: lse dtype', () => pg.tokenLogprobsBackward(logits(), [0, 1], { vocab: 3, lse: f32([1, 1]) as never, gradLogp: f64([1, 1]) }), /^E_DTYPE options\.lse/],
  ['backward: lse length', () => pg.tokenLogprobsBackward(logits(), [0, 1], { vocab: 3, lse: f64([1]), gradLogp: f64([1, 1]) }), /^E_SHAPE options\.lse/],
  ['backward: lse NaN', () => pg.tokenLogprobsBackward(logits(), [0, 1], { vocab: 3, lse: f64([1, NaN]), gradLogp: f64([1, 1]) }), /^E_NONFINITE options\.lse: element 1 is NaN/],
  ['backward: no upstream gradient', () => pg.tokenLogprobsBackward(logits(), [0, 1], fwd), /^E_SHAPE options\.gradLogp: give options\.gradLogp and\/or options\.gradEntropy/],
  ['backward: gradEntropy without entropy', () => pg.tokenLogprobsBackward(logits(), [0, 1], { ...fwd, gradEntropy: f64([1, 1]) }), /^E_SHAPE options\.entropy: is needed with options\.gradEntropy/],
  ['backward: gradLogp Infinity', () => pg.tokenLogprobsBackward(logits(), [0, 1], { ...fwd, gradLogp: f64([Infinity, 1]) }), /^E_NONFINITE options\.gradLogp: element 0/],
  ['backward: target out of range', () => pg.tokenLogprobsBackward(logits(), [0, 7], { ...fwd, gradLogp: f64([1, 1]) }), /^E_RANGE targets: element 1 is 7/],
  ['backward: logits NaN', () => pg.tokenLogprobsBackward(f64([1, 2, 3, 4, NaN, 6]), [0, 1], { ...fwd, gradLogp: f64([1, 1]) }), /^E_NONFINITE logits: element 4 \(row 1, column 1\) is NaN/],
  ['backward: inPlace not boolean', () => pg.tokenLogprobsBackward(logits(), [0, 1], { ...fwd, gradLogp: f64([1, 1]), inPlace: 'yes' as never }), /^E_DTYPE options\.inPlace/],
  ['backward: in place over its own lse', () => {
    const buf = f64([1, 2, 3, 4, 5, 6, 3.4, 6.4]);
    return pg.tokenLogprobsBackward(buf.subarray(0, 6), [0, 1], { vocab: 3, lse: buf.subarray(5, 7), gradLogp: f64([1, 1]), inPlace: true });
  }, /^E_SHAPE options\.lse: overlaps the logits/],
  ['backward: checkFinite not boolean', () => pg.tokenLogprobsBackward(logits(), [0, 1], { ...fwd, gradLogp: f64([1, 1]), checkFinite: 1 as never }), /^E_DTYPE options\.checkFinite/],
];

describe('bad input throws before any kernel runs', () => {
  it.each([...lossCases, ...logprobsCases])('%s', async (_name, call, expected) => {
    run.mockClear();
    expect(await outcome(call)).toMatch(expected);
    expect(run).not.toHaveBeenCalled();
  });

  it('the mock dispatches valid input (the cases above fail for their own reason)', async () => {
    run.mockClear();
    await expect(pg.policyLoss(ok())).rejects.toThrow('a kernel was dispatched');
    await expect(pg.tokenLogprobs(logits(), [0, 1], { vocab: 3 })).rejects.toThrow('a kernel was dispatched');
    await expect(pg.tokenLogprobsBackward(logits(), [0, 1], { ...fwd, gradLogp: f64([1, 1]) })).rejects.toThrow('a kernel was dispatched');
    expect(run).toHaveBeenCalledTimes(3);
  });
});

describe('non-finite input: the kernel reports, the façade throws E_NONFINITE and returns nothing', () => {
  const mask = Uint8Array.from([1, 1, 0, 1, 1, 1]);
  const withNaN = (v: Float64Array, i: number, x = NaN) => v.map((y, k) => (k === i ? x : y));

  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['oldLogp, first bad index', () => ctx.pg.policyLoss({ ...ok(), oldLogp: withNaN(withNaN(ok().oldLogp, 5), 4) }), /^E_NONFINITE input\.oldLogp: element 4 \(sequence 1, position 1\) is NaN/],
    ['logp before oldLogp, whatever the index', () => ctx.pg.policyLoss({ ...ok(), logp: withNaN(ok().logp, 5), oldLogp: withNaN(ok().oldLogp, 0) }), /^E_NONFINITE input\.logp: element 5/],
    ['masked logp still checked by default', () => ctx.pg.policyLoss({ ...ok(), logp: withNaN(ok().logp, 2), mask }), /^E_NONFINITE input\.logp: element 2 \(sequence 0, position 2\)/],
    ['masked logp skipped with ignoreMaskedNonFinite', () => ctx.pg.policyLoss({ ...ok(), logp: withNaN(ok().logp, 2), oldLogp: withNaN(ok().oldLogp, 3, -Infinity), mask }, { ignoreMaskedNonFinite: true }), /^E_NONFINITE input\.oldLogp: element 3 \(sequence 1, position 0\) is -Infinity/],
    ['per-sequence advantages', () => ctx.pg.policyLoss({ ...ok(), advantages: f64([1, Infinity]) }), /^E_NONFINITE input\.advantages: element 1 \(sequence 1\) is Infinity/],
    ['per-sequence advantages are checked even with ignoreMaskedNonFinite', () => ctx.pg.policyLoss({ ...ok(), advantages: f64([1, NaN]), seqLen: [3, 0] }, { ignoreMaskedNonFinite: true }), /^E_NONFINITE input\.advantages: element 1/],
    ['per-token advantages', () => ctx.pg.policyLoss({ ...ok(), advantages: f64([1, 1, 1, 1, NaN, 1]), width: 3 }), /^E_NONFINITE input\.advantages: element 4 \(sequence 1, position 1\)/],
    ['refLogp with KL', () => ctx.pg.policyLoss({ ...ok(), refLogp: f64([0, 0, 0, NaN, 0, 0]) }, { kl: { estimator: 'k1', coef: 0.1 } }), /^E_NONFINITE input\.refLogp: element 3/],
    ['entropy values', () => ctx.pg.policyLoss(ok(), { entropy: { values: f64([1, 1, 1, 1, 1, NaN]), coef: 0.1 } }), /^E_NONFINITE options\.entropy\.values: element 5/],
    ['ragged: an index after an empty sequence', () => ctx.pg.policyLoss({ logp: f64([0, 0, NaN]), oldLogp: f64([0, 0, 0]), advantages: f64([1, 1, 1]), offsets: [0, 2, 2, 3], advantagePerToken: false }), /^E_NONFINITE input\.logp: element 2 \(sequence 2, position 0\)/],
    ['logits', () => ctx.pg.tokenLogprobs(f64([1, 2, 3, 4, 5, Infinity, NaN]).subarray(0, 6), [0, 1], { vocab: 3 }), /^E_NONFINITE logits: element 5 \(row 1, column 2\) is Infinity; no output is returned/],
  ];
  it.each(cases)('%s', async (_name, call, expected) => {
    expect(await outcome(call)).toMatch(expected);
  });

  it('refLogp is not checked without KL, and masked junk is accepted when ignored', async () => {
    const r = await ctx.pg.policyLoss({ ...ok(), refLogp: f64([NaN, 0, 0, 0, 0, 0]), logp: withNaN(ok().logp, 2), mask }, { ignoreMaskedNonFinite: true });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.grad[2]).toBe(0);
  });
});

describe('overflow of finite inputs', () => {
  it('an unclamped ratio that overflows is E_RANGE, not an infinite or NaN loss (found by the fuzzer)', async () => {
    const input = { logp: f32([0, -1, -1, -1, -1, -1]), oldLogp: f32([-1e30, -1, -1, -1, -1, -1]), advantages: f32([0, -1]) };
    expect(await outcome(() => ctx.pg.policyLoss(input, { convention: 'trl' }))).toMatch(/^E_RANGE logp: the loss overflowed/);
    // verl clamps the log-ratio to ±20, so the same batch is an ordinary, finite loss there.
    const r = await ctx.pg.policyLoss(input, { convention: 'verl' });
    expect(Number.isFinite(r.loss) && r.grad.every(Number.isFinite)).toBe(true);
  });
});

describe('caller-owned outputs', () => {
  it('options.out.grad is written and returned, equal to a fresh result; an aliasing or mis-sized one is refused', async () => {
    const input = { ...ok(), mask: Uint8Array.of(1, 1, 0, 1, 1, 1) };
    const fresh = await ctx.pg.policyLoss(input, { clip: { low: 0.2 } });
    const grad = new Float64Array(6).fill(7);
    const r = await ctx.pg.policyLoss(input, { clip: { low: 0.2 }, out: { grad } });
    expect(r.grad).toBe(grad);
    expect(Array.from(grad)).toEqual(Array.from(fresh.grad));
    expect(r.loss).toBe(fresh.loss);
    expect(await outcome(() => ctx.pg.policyLoss(input, { out: { grad: input.logp } }))).toMatch(/^E_SHAPE options\.out\.grad: shares memory/);
    expect(await outcome(() => ctx.pg.policyLoss(input, { out: { grad: new Float64Array(5) } }))).toMatch(/^E_SHAPE options\.out\.grad/);
    expect(await outcome(() => ctx.pg.policyLoss(input, { out: { grad: new Float32Array(6) } }))).toMatch(/^E_DTYPE options\.out\.grad/);
    expect(await outcome(() => ctx.pg.policyLoss(input, { out: { gradient: grad } as never }))).toMatch(/^E_RANGE options\.out\.gradient/);
  });
});
