/**
 * The pg family on the CUDA backend (src/backends/cuda/pg.ts, exports.cuda of bindings/pg.cc,
 * native/cuda/pg.cu).
 *
 * Without a device (the build machines): the backend registers no pg kernel and says why, a call pinned
 * to it falls back with that reason (E_BACKEND_UNAVAILABLE under strict), and the addon's CUDA entry
 * points reject bad arguments with the CPU entry points' errors before they ask for a device (the cases
 * of addon-cases.ts), then throw "CUDA: ...".
 *
 * With a device (skipped elsewhere, run unchanged on a GPU machine): every op against the js oracle in
 * f64 and f32 at the native kernels' tolerances (addon-cases.ts TOL: the device runs the same NK_HD token
 * and element arithmetic, its f32 sums are at least as accurate: f32 groups of 8 or single tokens, then
 * f64), across estimators, aggregations, masks and layouts; more than 65,535 rows; V = 151,936; the
 * in-place backward; the first non-finite index; results repeating bit for bit.
 */
import { describe, expect, it } from 'vitest';
import type { AnyKernel, KernelSpec } from '../../src/core/backend.js';
import type { OpName } from '../../src/core/ops.js';
import { loadNative, type NativeAddon } from '../../src/backends/addon/load.js';
import { cudaBackend } from '../../src/backends/cuda/index.js';
import { cudaPg, pgKernels } from '../../src/backends/cuda/pg.js';
import { tokenLogprobs } from '../../src/backends/js/pg/logprobs.js';
import { policyLoss } from '../../src/backends/js/pg/loss.js';
import { createContext } from '../../src/index.js';
import type { PgLogprobsArgs } from '../../src/pg/ops.js';
import { argumentChecks, expectLossClose, fresh, logprobsAgainstOracle, nonFiniteReports, lossArgs, LOSS_CASES, logitsCase, make, TOL, type LossOptions } from './addon-cases.js';

const { addon: loaded } = loadNative();
const info = loaded?.info();
const cudaAvailable = !!info && info.cuda.compiled && info.cuda.devices > 0;
// Without a device, or built without CUDA: the entry points exist either way and check before they refuse.
const noDevice = !!info && info.cuda.devices === 0;

const spec = <K extends OpName>(list: AnyKernel[], op: K): KernelSpec<K> => list.find((k) => k.op === op) as unknown as KernelSpec<K>;

describe.skipIf(cudaAvailable)('pg on the cuda backend without a device', () => {
  it('registers no pg kernel, and a pinned call falls back with the reason (strict: E_BACKEND_UNAVAILABLE)', async () => {
    const ctx = await createContext();
    try {
      const st = ctx.status().find((s) => s.name === 'cuda')!;
      expect(st.available).toBe(false);
      expect(st.reason).toMatch(/^(no CUDA device|built without CUDA|addon|NUMKERN_)/);
      expect((st.kernels ?? []).filter((k) => k.startsWith('pg'))).toEqual([]);
      const V = 7;
      const logits = Float32Array.from({ length: 3 * V }, (_, k) => Math.sin(k));
      const targets = Int32Array.of(0, 3, 6);
      const got = await ctx.pg.tokenLogprobs(logits, targets, { vocab: V, backend: 'cuda' });
      expect(got.backend).not.toBe('cuda');
      const fb = ctx.fallbacks().at(-1)!;
      expect(fb).toMatchObject({ op: 'pgTokenLogprobs', dtype: 'f32', requested: 'cuda' });
      expect(fb.reason).toContain(st.reason!);
      await expect(ctx.pg.tokenLogprobs(logits, targets, { vocab: V, backend: 'cuda', strict: true })).rejects.toMatchObject({
        code: 'E_BACKEND_UNAVAILABLE',
      });
    } finally {
      await ctx.dispose();
    }
  });
});

describe.runIf(noDevice)('pg CUDA entry points without a device (the addon, without the façade)', () => {
  const pg = cudaPg((loaded as NativeAddon).cuda);
  argumentChecks(pg, true);

  it('the log-prob entry points and the async twins throw "CUDA: ..." once the arguments pass', async () => {
    const x = new Float64Array(2 * 5);
    const t = Int32Array.of(0, 4);
    const o = (): Float64Array => new Float64Array(2);
    expect(() => pg.pgTokenLogprobs(x, t, 5, 1, o(), o(), null)).toThrow(/^CUDA: /);
    expect(() => pg.pgTokenLogprobsBackward(x, t, 5, 1, o(), null, o(), null, x)).toThrow(/^CUDA: /);
    await expect(pg.pgTokenLogprobsAsync(x, t, 5, 1, o(), o(), o())).rejects.toThrow(/^CUDA: /);
    await expect(pg.pgTokenLogprobsBackwardAsync(x, t, 5, 1, o(), null, o(), null, new Float64Array(10))).rejects.toThrow(/^CUDA: /);
    await expect(pg.pgLossCountsAsync(Int32Array.of(0, 2), Int32Array.of(2), null, new Float64Array(2))).rejects.toThrow(/^CUDA: /);
  });

  it('a stale addon without them loses the family on cuda, naming what is missing', () => {
    const stale = { ...(loaded as NativeAddon).cuda, pgPolicyLossAsync: undefined } as unknown as NativeAddon['cuda'];
    expect(() => cudaPg(stale)).toThrow(/^addon lacks the pg CUDA entry points pgPolicyLossAsync \(stale build/);
  });
});

describe.runIf(cudaAvailable)('pg CUDA kernels against the js oracle', async () => {
  const inst = cudaAvailable ? await cudaBackend.init({ allowSoftwareAdapter: false, threads: 0 }) : null;
  const kernels = inst ? pgKernels(inst.handle) : [];
  const loss = spec(kernels, 'pgPolicyLoss');
  const forward = spec(kernels, 'pgTokenLogprobs');
  const backward = spec(kernels, 'pgTokenLogprobsBackward');

  const cases: [string, Omit<LossOptions, 'dtype'>][] = [
    ...LOSS_CASES,
    ['many short sequences, k3 clamped', { nSeq: 5000, T: 9, seed: 7 }],
    ['long sequences', { nSeq: 3, T: 70_000, seed: 8, kl: 'k2' }],
  ];
  for (const dtype of ['f64', 'f32'] as const) {
    for (const [name, o] of cases) {
      it(`pgPolicyLoss ${dtype}: ${name}`, async () => {
        const args = lossArgs({ ...o, dtype });
        const oracleArgs = fresh(args);
        const want = policyLoss(oracleArgs);
        const got = await loss.run(args, {});
        expectLossClose(got, want, args, oracleArgs, TOL[dtype]);
        // Deterministic: a second run gives the same bits.
        const again = fresh(args);
        expect(await loss.run(again, {})).toEqual(got);
        expect(again.grad).toEqual(args.grad);
      });
    }
  }

  it('pgPolicyLoss reports the first non-finite array and index, as the oracle', () => nonFiniteReports(loss));

  for (const dtype of ['f64', 'f32'] as const) {
    for (const [N, V, tau] of [[7, 1, 1], [11, 2049, 0.6], [3, 32000, 1], [2, 151_936, 0.8], [70_000, 3, 1.3]] as const) {
      it(`pgTokenLogprobs and backward ${dtype}, N=${N}, V=${V}, τ=${tau}`, () => logprobsAgainstOracle(forward, backward, dtype, N, V, tau));
    }
  }

  it('pgTokenLogprobs: the smallest non-finite index; rows far apart in range are summed exactly', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const N = 9;
      const V = 1500;
      const { logits, targets } = logitsCase(dtype, N, V, 5);
      logits[6 * V + 1000] = -Infinity;
      logits[7 * V + 3] = NaN;
      const args: PgLogprobsArgs = { logits, targets, vocab: V, temperature: 1, logp: make(dtype, N), lse: make(dtype, N), entropy: null };
      expect(await forward.run(args, {})).toBe(tokenLogprobs({ ...args, logp: make(dtype, N), lse: make(dtype, N) }));
      expect(await forward.run(args, {})).toBe(6 * V + 1000);
    }
    const x = new Float32Array(600);
    x[5] = 3e38;
    x[300] = -3e38;
    const a: PgLogprobsArgs = { logits: x, targets: Int32Array.of(5), vocab: 600, temperature: 1, logp: make('f32', 1), lse: make('f32', 1), entropy: make('f32', 1) };
    const w: PgLogprobsArgs = { ...a, logp: make('f32', 1), lse: make('f32', 1), entropy: make('f32', 1) };
    expect(await forward.run(a, {})).toBe(-1);
    expect(tokenLogprobs(w)).toBe(-1);
    expect([a.logp[0], a.lse[0]]).toEqual([w.logp[0], w.lse[0]]);
  });
});
