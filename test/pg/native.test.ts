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
import { tokenLogprobs, tokenLogprobsBackward } from '../../src/backends/js/pg/logprobs.js';
import { policyLoss } from '../../src/backends/js/pg/loss.js';
import { PARAM, SUM, checkPgLayout, pgAddon, pgKernels, type NativePgKernels, type NativePgLayout } from '../../src/backends/native/pg.js';
import type { PgLogprobsArgs, PgLogprobsBackwardArgs } from '../../src/pg/ops.js';
import { required, rng } from '../support/backends.js';
import { argumentChecks, close, expectLossClose, fresh, lossArgs, logitsCase, make, TOL, type F, type LossOptions } from './addon-cases.js';

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

  const cases: [string, Omit<LossOptions, 'dtype'>][] = [
    ['verl k3, sequence means, mask', { nSeq: 24, T: 400, seed: 1, aggregation: { perSequenceMean: true, lengthFloor: 'eps', denominator: 'sequences', scale: 1 } }],
    ['TRL k3 unclamped, ratio cap, no dual clip', { nSeq: 20, T: 300, seed: 2, trl: true, aggregation: { perSequenceMean: true, lengthFloor: 'one', denominator: 'all-sequences', scale: 0.5 } }],
    ['k1, per-token advantages, no mask', { nSeq: 16, T: 257, seed: 3, kl: 'k1', perToken: true, mask: false }],
    ['abs, no entropy, fixed denominator', { nSeq: 9, T: 500, seed: 4, kl: 'abs', entropy: false, aggregation: { perSequenceMean: false, lengthFloor: 'eps', denominator: 4096, scale: 2 } }],
    ['k2, ragged', { nSeq: 31, T: 200, seed: 5, kl: 'k2', ragged: true }],
    ['no KL', { nSeq: 12, T: 333, seed: 6, kl: null }],
  ];
  for (const dtype of ['f64', 'f32'] as const) {
    for (const [name, o] of cases) {
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

  it('pgPolicyLoss reports the first non-finite array and index, as the oracle', async () => {
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
  });

  for (const dtype of ['f64', 'f32'] as const) {
    for (const [N, V] of [[7, 1], [11, 2049], [3, 32000]] as const) {
      it(`pgTokenLogprobs and backward ${dtype}, N=${N}, V=${V}`, async () => {
        const { logits, targets } = logitsCase(dtype, N, V, N * V);
        for (const temperature of [1, 0.6]) {
          const mk = (): PgLogprobsArgs => ({ logits, targets, vocab: V, temperature, logp: make(dtype, N), lse: make(dtype, N), entropy: make(dtype, N) });
          const want = mk();
          const got = mk();
          expect(tokenLogprobs(want)).toBe(-1);
          expect(await forward.run(got, {})).toBe(-1);
          const tol = TOL[dtype];
          for (let n = 0; n < N; n++) {
            const scale = 1 + Math.abs(want.lse[n]!);
            expect(close(got.logp[n]!, want.logp[n]!, 0, tol * scale), `logp[${n}]`).toBe(true);
            expect(close(got.lse[n]!, want.lse[n]!, 0, tol * scale), `lse[${n}]`).toBe(true);
            expect(close(got.entropy![n]!, want.entropy![n]!, tol, 1e-13 * scale), `entropy[${n}] ${got.entropy![n]} vs ${want.entropy![n]}`).toBe(true);
          }
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
