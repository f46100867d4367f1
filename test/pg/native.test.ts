/**
 * The pg family on the native backend (bindings/pg.cc, native/src/pg/, src/backends/native/pg.ts) at
 * kernel level, against the js oracle (src/backends/js/pg/): the policy loss in f64 (to 1e-12) and f32
 * (to ~1e-5, the same clip decisions), across estimators, aggregations, masks and advantage layouts;
 * the streaming log-softmax forward and backward (in place too); results independent of the thread
 * count; slicing (the event loop turns, an abort lands between slices); non-finite reports; the table
 * check at load; and bad arguments rejected by the addon itself, naming the argument (the façade would
 * stop them first; the cases are shared with cuda.test.ts in addon-cases.ts). Skipped when the addon is not built, unless NUMKERN_REQUIRE names 'native'.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import type { OpName } from '../../src/core/ops.js';
import { NumkernError } from '../../src/core/errors.js';
import { loadNative, type NativeAddon } from '../../src/backends/addon/load.js';
import { tokenLogprobs } from '../../src/backends/js/pg/logprobs.js';
import { policyLoss } from '../../src/backends/js/pg/loss.js';
import { PARAM, SUM, checkPgLayout, pgAddon, pgKernels, type NativePgKernels, type NativePgLayout } from '../../src/backends/native/pg.js';
import type { PgLogprobsArgs } from '../../src/pg/ops.js';
import { required } from '../support/backends.js';
import { argumentChecks, expectLossClose, fresh, logprobsAgainstOracle, nonFiniteReports, lossArgs, LOSS_CASES, logitsCase, make, TOL, type F } from './addon-cases.js';

const { addon: loaded, reason } = loadNative();

describe.runIf(required().includes('native'))('native addon required by NUMKERN_REQUIRE', () => {
  it('loads', () => {
    expect(reason).toBeNull();
  });
});

function spec<K extends OpName>(list: ReturnType<typeof pgKernels>, op: K): KernelSpec<K> {
  return list.find((k) => k.op === op) as unknown as KernelSpec<K>;
}

describe.skipIf(!loaded)('native pg kernels against the js oracle', () => {
  const addon = loaded as NativeAddon;
  // A small slice, so every call below runs in several slices.
  const kernels = pgKernels({ addon, threads: 0 }, 3000);
  const loss = spec(kernels, 'pgPolicyLoss');
  const forward = spec(kernels, 'pgTokenLogprobs');
  const backward = spec(kernels, 'pgTokenLogprobsBackward');

  for (const dtype of ['f64', 'f32'] as const) {
    for (const [name, o] of LOSS_CASES) {
      it(`pgPolicyLoss ${dtype}: ${name}`, async () => {
        const args = lossArgs({ ...o, dtype });
        const oracleArgs = fresh(args);
        const want = policyLoss(oracleArgs);
        const got = await loss.run(args, {});
        expectLossClose(got, want, args, oracleArgs, TOL[dtype]);
      });
    }
  }

  it('pgPolicyLoss writes every position, inactive ones 0, and is independent of the thread count', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const a = lossArgs({ dtype, nSeq: 40, T: 700, seed: 9 });
      const outs = [];
      for (const threads of [1, 2, 0]) {
        const b = fresh(a);
        const r = await spec(pgKernels({ addon, threads }, 3000), 'pgPolicyLoss').run(b, {});
        outs.push({ r, grad: b.grad, gradEntropy: b.gradEntropy! });
      }
      for (const o of outs.slice(1)) {
        expect(o.r).toEqual(outs[0]!.r);
        expect(o.grad).toEqual(outs[0]!.grad);
        expect(o.gradEntropy).toEqual(outs[0]!.gradEntropy);
      }
      const g = outs[0]!.grad;
      for (let i = 0; i < 40; i++) {
        for (let k = a.offsets[i]!; k < a.offsets[i + 1]!; k++) {
          const active = k - a.offsets[i]! < a.lengths[i]! && a.mask![k] !== 0;
          if (!active) expect(g[k]).toBe(0);
        }
      }
    }
  });

  it('pgPolicyLoss reports the first non-finite array and index, as the oracle', () => nonFiniteReports(loss));

  for (const dtype of ['f64', 'f32'] as const) {
    for (const [N, V] of [[7, 1], [11, 2049], [3, 32000]] as const) {
      it(`pgTokenLogprobs and backward ${dtype}, N=${N}, V=${V}`, async () => {
        for (const temperature of [1, 0.6]) await logprobsAgainstOracle(forward, backward, dtype, N, V, temperature);
      });
    }
  }

  it('pgTokenLogprobs: the smallest non-finite index, across slices and threads', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const N = 9;
      const V = 1500; // two rows per 3000-logit slice
      const { logits, targets } = logitsCase(dtype, N, V, 5);
      logits[6 * V + 1000] = -Infinity;
      logits[7 * V + 3] = NaN;
      const args: PgLogprobsArgs = { logits, targets, vocab: V, temperature: 1, logp: make(dtype, N), lse: make(dtype, N), entropy: null };
      expect(tokenLogprobs({ ...args })).toBe(6 * V + 1000);
      for (const threads of [1, 2]) expect(await spec(pgKernels({ addon, threads }, 3000), 'pgTokenLogprobs').run(args, {})).toBe(6 * V + 1000);
      expect(await spec(pgKernels({ addon, threads: 0 }, 1 << 30), 'pgTokenLogprobs').run(args, {})).toBe(6 * V + 1000);
    }
  });

  it('turns the event loop between slices and honours an abort there', async () => {
    const { logits, targets } = logitsCase('f32', 64, 1000, 3);
    const args: PgLogprobsArgs = { logits, targets, vocab: 1000, temperature: 1, logp: new Float32Array(64), lse: new Float32Array(64), entropy: null };
    let turns = 0;
    let spin = true;
    const tick = (): void => {
      turns++;
      if (spin) setImmediate(tick);
    };
    setImmediate(tick);
    await forward.run(args, {});
    spin = false;
    expect(turns).toBeGreaterThan(5);
    const ac = new AbortController();
    setImmediate(() => ac.abort());
    await expect(forward.run(args, { signal: ac.signal })).rejects.toMatchObject({ code: 'E_ABORTED' });
    const lossAc = new AbortController();
    setImmediate(() => lossAc.abort());
    await expect(loss.run(lossArgs({ dtype: 'f32', nSeq: 30, T: 400, seed: 1 }), { signal: lossAc.signal })).rejects.toBeInstanceOf(NumkernError);
  });

  it('the async twins give the sync results', async () => {
    const pg = pgAddon(addon);
    const a = lossArgs({ dtype: 'f32', nSeq: 8, T: 100, seed: 21 });
    const params = new Float64Array(PARAM.length);
    params.set([0.2, 0.28, 3, Infinity, 20, 3, 0.04, 1, 0.01, 0, 0, 500, 1, 0, 0, 500, 1, 0, 0, 0, 8]);
    const run = async (async: boolean): Promise<[Float64Array, F]> => {
      const sums = new Float64Array(SUM.length);
      const grad = new Float32Array(a.logp.length);
      const gradEntropy = new Float32Array(a.logp.length);
      const f = (x: F | null): Float32Array => x as Float32Array;
      const call = [a.offsets, a.lengths, a.mask, f(a.logp), f(a.oldLogp), f(a.refLogp), f(a.advantages), f(a.entropy), grad, gradEntropy, params, sums] as const;
      if (async) await pg.pgPolicyLossAsync(...call);
      else pg.pgPolicyLoss(...call);
      return [sums, grad];
    };
    expect(await run(true)).toEqual(await run(false));
    const { logits, targets } = logitsCase('f64', 4, 300, 2);
    const out = [new Float64Array(4), new Float64Array(4), new Float64Array(4), new Float64Array(4)];
    expect(await pg.pgTokenLogprobsAsync(logits as Float64Array, targets, 300, 0.9, out[0]!, out[1]!, null)).toBe(-1);
    expect(pg.pgTokenLogprobs(logits as Float64Array, targets, 300, 0.9, out[2]!, out[3]!, null)).toBe(-1);
    expect(out[0]).toEqual(out[2]);
    const inPlace = (logits as Float64Array).slice();
    await pg.pgTokenLogprobsBackwardAsync(inPlace, targets, 300, 0.9, out[1]!, null, out[0]!, null, inPlace);
    const outOfPlace = new Float64Array(logits.length);
    pg.pgTokenLogprobsBackward(logits as Float64Array, targets, 300, 0.9, out[1]!, null, out[0]!, null, outOfPlace);
    expect(inPlace).toEqual(outOfPlace);
  });
});

describe.skipIf(!loaded)('native pg layout check', () => {
  const addon = loaded as NativeAddon;
  const layout = (): NativePgLayout => (addon as NativeAddon & NativePgKernels).pgLayout();

  it('accepts the addon, and names every difference of a foreign one', () => {
    expect(() => checkPgLayout(layout())).not.toThrow();
    expect(pgKernels({ addon, threads: 0 }).map((k) => k.op)).toEqual(['pgPolicyLoss', 'pgTokenLogprobs', 'pgTokenLogprobsBackward']);
    const l = layout();
    const skewed = { ...l, kl: { ...l.kl, k3: 4 }, arrays: ['logp', 'refLogp', 'oldLogp', 'advantages', 'entropy'], params: { ...l.params, seqEnd: 22 } };
    expect(() => checkPgLayout(skewed)).toThrow(/^pg layout mismatch .*kl\.k3 is 4 in the addon, 3 in src\/pg\/ops\.ts/);
    expect(() => checkPgLayout(skewed)).toThrow(/arrays\[1\] is refLogp in the addon, oldLogp in src\/pg\/ops\.ts.*params\.seqEnd is 22 in the addon, 20/);
    const foreign = { ...addon, pgLayout: () => skewed } as unknown as NativeAddon;
    expect(() => pgKernels({ addon: foreign, threads: 0 })).toThrow(/^pg layout mismatch/);
    const stale = { ...addon, pgTokenLogprobsBackwardAsync: undefined } as unknown as NativeAddon;
    expect(() => pgKernels({ addon: stale, threads: 0 })).toThrow(/^addon lacks the pg entry points pgTokenLogprobsBackwardAsync \(stale build/);
  });
});

describe.skipIf(!loaded)('native pg argument checks (the addon, without the façade)', () => {
  argumentChecks(pgAddon(loaded as NativeAddon));

  it('maps addon errors to NumkernError through the kernel list', async () => {
    const forward = spec(pgKernels({ addon: loaded as NativeAddon, threads: 0 }), 'pgTokenLogprobs');
    const x = new Float32Array(10);
    const args = { logits: x, targets: Int32Array.of(0, 9), vocab: 5, temperature: 1, logp: new Float32Array(2), lse: new Float32Array(2), entropy: null };
    const err = await Promise.resolve(forward.run(args, {})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NumkernError);
    expect((err as NumkernError).argument).toBe('targets');
  });
});
