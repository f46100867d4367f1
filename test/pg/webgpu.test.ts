/**
 * The pg kernels on the WebGPU backend on their own (src/backends/webgpu/pg/) against the js oracle
 * (src/backends/js/pg.ts) on the same f32 inputs: row chunking, more than 65,535 rows in one
 * dispatch, a 151,936-token vocabulary, the in-place backward, non-finite reporting,
 * SharedArrayBuffer inputs and outputs, buffer release. test/pg/conformance.test.ts holds the generic
 * conformance of every backend. Without an adapter the suite skips (unless NUMKERN_REQUIRE names
 * webgpu); `node test/support/run-tests.mjs test/pg/webgpu.test.ts` installs lavapipe where needed.
 *
 * Tolerances (u = 2^-24; the oracle's own error, of order 2^-53, is negligible):
 *  - Log-probs, per row (forwardTolerances). z = x·fl(1/τ) is within 2u|z| of the oracle's x/τ
 *    (exact at τ = 1): lse and logp move by at most that in max|z| (1-Lipschitz in the ∞-norm), H
 *    by 2H times it (Σ_j |∂H/∂z_j| = Σ p_j|log p_j + H| ≤ 2H). s = Σ e^(z−m) adds positive terms in
 *    a chain of ⌈V/WG⌉ per invocation then a log2(WG)-deep tree: relative error ≤ S·u, S = ⌈V/WG⌉ +
 *    log2 WG (Higham, Accuracy and Stability §4.2). Each e^d errs by ≤ (3 + 2|d|) ulp (WGSL's
 *    bound), which weighted by p_j adds ≤ (3 + 2H)u to s (E_p(m − z) = H − log s ≤ H); log adds
 *    ≤ 8u(1 + ln V); lse = m + log s and logp = (z_t − m) − log s round each operand once. H =
 *    log s + (−b/s) adds two non-negative terms, b a same-signed sum with error S·u plus exp errors
 *    ≤ (3 + 2·max|d|) ulp, relative to |b/s| ≤ H. Observed on lavapipe: 0.05–0.3 of the bound for
 *    lse and logp, below 0.1 for H (whose exp term is pessimistic).
 *  - Backward: log p_j = z_j − lse errs by ≤ u(3|z_j| + |lse|), so p_j by that relatively plus the
 *    exp's ulps; ∂x_j = (gL(δ − p_j) − gH·p_j(log p_j + H))/τ then errs by ≤ 16u·(|gL| + |gH|(1 +
 *    |log p_j| + |H|))·(p_j(1 + |z_j| + |lse|) + δ_jt)/τ, plus 2^-126 times the same upstream scale
 *    (WGSL may flush subnormal results to zero).
 *  - Policy loss (magnitudes, expectLossClose): every per-position quantity is within 16u·(2 + |Δ| +
 *    |k|) relative of the oracle's (exp's 3 + 2|x| ulp, the rounded bounds and coefficients, the
 *    weight scale/(D·len_i) from two roundings), and the clipped loss is bounded by its branch:
 *    |ℓ| ≤ A(1 + clipHigh) for A ≥ 0, |A|·min(max(rc, 1 + clipHigh), c) otherwise. Each workgroup
 *    sums WG·LOSS_ITEMS positions as LOSS_ITEMS-term chains then a log2(WG)-deep tree and the host
 *    adds the partials in f64, so a sum errs by ≤ (LOSS_ITEMS + log2 WG + 16)·u·Σ|term| (Higham
 *    §3.1, γ_k), Σ|term| computed in f64 from the inputs. Gradients are per position: the same
 *    relative bound on w·(|A|·r + klCoef·|g|). Observed: 0.002–0.03 of the bound for sums, 0.1 for
 *    gradients.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import type { OpArgs, OpName, OpResult } from '../../src/core/ops.js';
import { pgKernels as jsPgKernels } from '../../src/backends/js/pg.js';
import { createWebgpuBackend, webgpuBackend, type WebGpuBackendInstance } from '../../src/backends/webgpu/index.js';
import { LOSS_ITEMS } from '../../src/backends/webgpu/pg/layout.js';
import { pgKernels } from '../../src/backends/webgpu/pg/kernels.js';
import type { PgAggregation, PgLossArgs, PgLossOutcome } from '../../src/pg/ops.js';
import { openForFile, randomArray, rng } from '../support/backends.js';

const u = 2 ** -24;
/** The smallest normal f32. */
const FLT_MIN = 2 ** -126;
const initOptions = { allowSoftwareAdapter: true, threads: 0 };
const { main, track } = await openForFile(() => webgpuBackend.init(initOptions));

async function open(options: Parameters<typeof createWebgpuBackend>[0]): Promise<WebGpuBackendInstance> {
  return track(await createWebgpuBackend(options).init(initOptions));
}

type Op = 'pgPolicyLoss' | 'pgTokenLogprobs' | 'pgTokenLogprobsBackward';

function gpu<K extends Op>(b: WebGpuBackendInstance, name: K): KernelSpec<K> {
  return pgKernels(b.runtime).find((k) => k.op === name) as unknown as KernelSpec<K>;
}

async function oracle<K extends OpName & Op>(name: K, args: OpArgs<K>): Promise<OpResult<K>> {
  const k = jsPgKernels().find((x) => x.op === name) as unknown as KernelSpec<K>;
  return k.run(args, {});
}

async function run<K extends Op>(b: WebGpuBackendInstance, name: K, args: OpArgs<K>, signal?: AbortSignal): Promise<OpResult<K>> {
  const k = gpu(b, name);
  expect(k.accepts!(args)).toBeNull();
  return k.run(args, { signal });
}

/** A copy of `a` whose memory is a SharedArrayBuffer. */
function shared<T extends Float32Array | Int32Array | Uint8Array>(a: T): T {
  const C = a.constructor as new (buf: SharedArrayBuffer) => T;
  const out = new C(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

// ------------------------------------------------------------------------------------------------
// token log-probs

type Rows = { logits: Float32Array; targets: Int32Array; vocab: number };

/** N rows of V logits spread over ±spread, with a few peaked rows (one logit far above the rest). */
function rows(N: number, V: number, seed: number, spread = 8): Rows {
  const logits = randomArray(N * V, seed, 'f32', -spread, spread);
  const r = rng(seed + 1);
  const targets = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    targets[n] = Math.floor(r() * V);
    if (n % 5 === 1) logits[n * V + Math.floor(r() * V)] = 4 * spread;
  }
  return { logits, targets, vocab: V };
}

type Fwd = { logp: Float32Array; lse: Float32Array; entropy: Float32Array; bad: number };

async function forward(b: WebGpuBackendInstance | null, x: Rows, temperature: number): Promise<Fwd> {
  const N = x.targets.length;
  const out = { logp: new Float32Array(N), lse: new Float32Array(N), entropy: new Float32Array(N) };
  const args = { ...x, temperature, ...out };
  const bad = b ? await run(b, 'pgTokenLogprobs', args) : await oracle('pgTokenLogprobs', args);
  return { ...out, bad };
}

/** The header's bounds for row n: lse, logp and H against the oracle's values `want`. */
function forwardTolerances(wg: number, x: Rows, temperature: number, want: Fwd, n: number): Record<'logp' | 'lse' | 'entropy', number> {
  const V = x.vocab;
  const S = Math.ceil(V / wg) + Math.log2(wg);
  const row = x.logits.subarray(n * V, (n + 1) * V);
  const m = row.reduce((a, v) => Math.max(a, v / temperature), -Infinity);
  const lo = row.reduce((a, v) => Math.min(a, v / temperature), Infinity);
  const zmax = Math.max(Math.abs(m), Math.abs(lo));
  const zr = temperature === 1 ? 0 : 2 * zmax;
  const H = want.entropy[n]!;
  const lse = want.lse[n]!;
  const zt = x.logits[n * V + x.targets[n]!]! / temperature;
  const lseTol = u * (S + 16 + 2 * H + 8 * Math.log(V + 1) + 2 * Math.abs(lse) + zr);
  return {
    lse: lseTol,
    logp: lseTol + u * (2 * Math.abs(zt - m) + 2 * Math.abs(want.logp[n]!) + zr),
    entropy: u * (S + 16 + 8 * Math.log(V + 1) + H * (2 * S + 8 + 2 * (m - lo) + 2 * zr)),
  };
}

function expectForwardClose(b: WebGpuBackendInstance, x: Rows, temperature: number, got: Fwd, want: Fwd): void {
  for (let n = 0; n < x.targets.length; n++) {
    const tol = forwardTolerances(b.runtime.workgroupSize, x, temperature, want, n);
    for (const key of ['logp', 'lse', 'entropy'] as const) {
      const w = want[key][n]!;
      if (!(Math.abs(got[key][n]! - w) <= tol[key])) expect.fail(`${key}[${n}] (V=${x.vocab}): ${got[key][n]} vs ${w} (tol ${tol[key]})`);
    }
  }
}

async function checkForward(b: WebGpuBackendInstance, x: Rows, temperature: number): Promise<Fwd> {
  const got = await forward(b, x, temperature);
  const want = await forward(null, x, temperature);
  expect(got.bad).toBe(-1);
  expectForwardClose(b, x, temperature, got, want);
  return want;
}

type Upstream = { gradLogp: Float32Array | null; gradEntropy: Float32Array | null };

function upstream(N: number, seed: number, which: 'logp' | 'entropy' | 'both'): Upstream {
  return {
    gradLogp: which === 'entropy' ? null : randomArray(N, seed, 'f32', -2, 2),
    gradEntropy: which === 'logp' ? null : randomArray(N, seed + 1, 'f32', -2, 2),
  };
}

function backwardArgs(x: Rows, temperature: number, f: Fwd, g: Upstream, gradLogits: Float32Array): OpArgs<'pgTokenLogprobsBackward'> {
  return { ...x, temperature, lse: f.lse, entropy: f.entropy, ...g, gradLogits };
}

function expectBackwardClose(x: Rows, temperature: number, f: Fwd, g: Upstream, got: Float32Array, want: Float32Array): void {
  const V = x.vocab;
  for (let n = 0; n < x.targets.length; n++) {
    const gL = g.gradLogp ? Math.abs(g.gradLogp[n]!) : 0;
    const gH = g.gradEntropy ? Math.abs(g.gradEntropy[n]!) : 0;
    const lse = f.lse[n]!;
    const H = f.entropy[n]!;
    for (let j = 0; j < V; j++) {
      const z = x.logits[n * V + j]! / temperature;
      const lp = z - lse;
      const p = Math.exp(lp);
      const hot = j === x.targets[n] ? 1 : 0;
      const scale = (gL + gH * (1 + Math.abs(lp) + Math.abs(H))) / temperature;
      // WGSL may flush subnormals to zero: p_j below 2^-126 can come back as 0.
      const tol = scale * (16 * u * (p * (1 + Math.abs(z) + Math.abs(lse)) + hot) + FLT_MIN);
      const k = n * V + j;
      if (!(Math.abs(got[k]! - want[k]!) <= tol)) expect.fail(`gradLogits[${n}, ${j}] (V=${V}): ${got[k]} vs ${want[k]} (tol ${tol})`);
    }
  }
}

describe.skipIf(!main)('webgpu pgTokenLogprobs', () => {
  const b = () => main!;

  it.each([
    [3, 1, 1], [5, 7, 0.7], [4, 255, 1], [4, 256, 1.3], [4, 257, 0.7], [6, 1000, 1], [40, 32_000, 0.9],
  ])('N=%i V=%i τ=%f against the oracle', async (N, V, tau) => {
    await checkForward(b(), rows(N, V, 10 + V), tau);
  });

  it('omits entropy when it is null, and writes nothing past the rows', async () => {
    const x = rows(3, 300, 20);
    const logp = new Float32Array(3);
    const lse = new Float32Array(4).fill(7);
    expect(await run(b(), 'pgTokenLogprobs', { ...x, temperature: 1, logp, lse: lse.subarray(0, 3), entropy: null })).toBe(-1);
    const want = await forward(null, x, 1);
    expect(lse[3]).toBe(7);
    for (let n = 0; n < 3; n++) expect(Math.abs(logp[n]! - want.logp[n]!)).toBeLessThan(1e-5);
  });

  it('folds more than 65,535 rows into one dispatch (V = 8)', async () => {
    const N = 70_001;
    expect(N).toBeGreaterThan(b().runtime.gpu.limits.maxComputeWorkgroupsPerDimension);
    await checkForward(b(), rows(N, 8, 30), 1);
  });

  it('reports the smallest flat index of a non-finite logit', async () => {
    const x = rows(6, 333, 40);
    x.logits[4 * 333 + 17] = Infinity;
    x.logits[4 * 333 + 5] = NaN;
    x.logits[5 * 333] = -Infinity;
    expect((await forward(b(), x, 1)).bad).toBe(4 * 333 + 5);
    x.logits[333 + 332] = NaN;
    expect((await forward(b(), x, 1)).bad).toBe(333 + 332);
  });

  it('takes SharedArrayBuffer inputs and outputs', async () => {
    const x = rows(5, 700, 50);
    const want = await forward(null, x, 0.8);
    const out = { logp: shared(new Float32Array(5)), lse: shared(new Float32Array(5)), entropy: shared(new Float32Array(5)) };
    const bad = await run(b(), 'pgTokenLogprobs', { logits: shared(x.logits), targets: shared(x.targets), vocab: 700, temperature: 0.8, ...out });
    expect(bad).toBe(-1);
    expectForwardClose(b(), x, 0.8, { ...out, bad }, want);
  });

  it('refuses targets outside the vocabulary before anything runs', async () => {
    const x = rows(3, 10, 60);
    x.targets[2] = 10;
    await expect(forward(b(), x, 1)).rejects.toMatchObject({ name: 'NumkernError', code: 'E_RANGE', argument: 'targets' });
  });

  it('refuses f64 logits and a row larger than a binding through accepts', async () => {
    const k = gpu(b(), 'pgTokenLogprobs');
    const N = 2;
    const f64 = { logits: new Float64Array(2 * N), targets: new Int32Array(N), vocab: 2, temperature: 1, logp: new Float64Array(N), lse: new Float64Array(N), entropy: null };
    expect(k.accepts!(f64)).toMatch(/f32 only/);
    const V = b().runtime.bindingBytes / 4 + 1;
    expect(k.accepts!({ ...f64, logits: new Float32Array(0), vocab: V })).toMatch(/binding limit/);
  });
});

/** The device's backward into a fresh array against the oracle's. */
async function checkBackward(b: WebGpuBackendInstance, x: Rows, tau: number, f: Fwd, g: Upstream): Promise<void> {
  const got = new Float32Array(x.logits.length);
  const want = new Float32Array(x.logits.length);
  await run(b, 'pgTokenLogprobsBackward', backwardArgs(x, tau, f, g, got));
  await oracle('pgTokenLogprobsBackward', backwardArgs(x, tau, f, g, want));
  expectBackwardClose(x, tau, f, g, got, want);
}

describe.skipIf(!main)('webgpu pgTokenLogprobsBackward', () => {
  const b = () => main!;

  it.each([
    [3, 1, 1, 'both', 8], [5, 7, 0.7, 'logp', 8], [4, 256, 1, 'entropy', 8], [4, 257, 1.3, 'both', 8], [3, 5000, 0.9, 'both', 8],
    // p_j down to e^-180: subnormal gradients, which the device may flush to zero.
    [4, 5000, 1.3, 'both', 60],
  ] as const)('N=%i V=%i τ=%f upstream %s, logits in ±%i, against the oracle', async (N, V, tau, which, spread) => {
    const x = rows(N, V, 100 + V, spread);
    await checkBackward(b(), x, tau, await forward(null, x, tau), upstream(N, 200 + V, which));
  });

  it('in place (gradLogits = logits) gives the out-of-place result bit for bit', async () => {
    const x = rows(9, 1001, 300);
    const f = await forward(null, x, 1.1);
    const g = upstream(9, 301, 'both');
    const apart = new Float32Array(x.logits.length);
    await run(b(), 'pgTokenLogprobsBackward', backwardArgs(x, 1.1, f, g, apart));
    const inPlace = x.logits.slice();
    await run(b(), 'pgTokenLogprobsBackward', backwardArgs({ ...x, logits: inPlace }, 1.1, f, g, inPlace));
    expect(inPlace).toEqual(apart);
  });

  it('takes SharedArrayBuffer inputs, in place too', async () => {
    const x = rows(4, 300, 310);
    const f = await forward(null, x, 1);
    const g = upstream(4, 311, 'both');
    const want = new Float32Array(x.logits.length);
    await oracle('pgTokenLogprobsBackward', backwardArgs(x, 1, f, g, want));
    const sx = shared(x.logits);
    await run(b(), 'pgTokenLogprobsBackward', {
      logits: sx, targets: shared(x.targets), vocab: 300, temperature: 1, lse: shared(f.lse), entropy: shared(f.entropy),
      gradLogp: shared(g.gradLogp!), gradEntropy: shared(g.gradEntropy!), gradLogits: sx,
    });
    expectBackwardClose(x, 1, f, g, sx, want);
  });

  it('folds more than 65,535 rows into one dispatch (V = 4)', async () => {
    const x = rows(66_000, 4, 320);
    await checkBackward(b(), x, 1, await forward(null, x, 1), upstream(66_000, 321, 'both'));
  });
});

describe.skipIf(!main)('webgpu pg log-probs at V = 151,936 (Qwen vocabulary)', () => {
  const V = 151_936;
  const x = rows(5, V, 400, 12);

  it('matches the oracle in one binding, and in chunks of two rows (3 chunks)', async () => {
    const want = await checkForward(main!, x, 1);
    const small = await open({ maxBindingBytes: 2 * V * 4 + 64 });
    expect(Math.floor(small.runtime.bindingBytes / (4 * V))).toBe(2);
    const got = await forward(small, x, 1);
    expect(got.bad).toBe(-1);
    expectForwardClose(small, x, 1, got, want);
    // Chunking changes no row's arithmetic: the same rows give the same bits.
    const whole = await forward(main!, x, 1);
    expect(got.logp).toEqual(whole.logp);
    expect(got.entropy).toEqual(whole.entropy);

    const g = upstream(5, 401, 'both');
    const ref = new Float32Array(x.logits.length);
    await oracle('pgTokenLogprobsBackward', backwardArgs(x, 1, want, g, ref));
    const inPlace = x.logits.slice();
    await run(small, 'pgTokenLogprobsBackward', backwardArgs({ ...x, logits: inPlace }, 1, want, g, inPlace));
    expectBackwardClose(x, 1, want, g, inPlace, ref);
  });

  it('reports a non-finite logit in a later chunk by its flat index', async () => {
    const small = await open({ maxBindingBytes: 2 * V * 4 + 64 });
    const y = { ...x, logits: x.logits.slice() };
    y.logits[3 * V + 151_000] = NaN;
    y.logits[4 * V + 2] = Infinity;
    expect((await forward(small, y, 1)).bad).toBe(3 * V + 151_000);
  });

  it('releases every buffer of a call to the pool, and reuses them', async () => {
    const small = await open({ maxBindingBytes: 2 * V * 4 + 64, maxPooledBytes: 64 * 2 ** 20 });
    await forward(small, x, 1);
    const before = small.runtime.pool.stats();
    expect(before.pooled).toBeGreaterThan(0);
    await forward(small, x, 1);
    const after = small.runtime.pool.stats();
    expect(after).toMatchObject({ created: before.created, pooled: before.pooled, pooledBytes: before.pooledBytes });
  });
});

// ------------------------------------------------------------------------------------------------
// policy loss

const TOKEN_MEAN: PgAggregation = { perSequenceMean: false, lengthFloor: 'eps', denominator: 'tokens', scale: 1 };

type LossCase = {
  nSeq: number; maxWidth: number; seed: number; padded?: boolean; mask?: boolean; perToken?: boolean;
  kl?: PgLossArgs['klEstimator']; entropy?: boolean; over?: Partial<PgLossArgs>;
};

/** A batch in the layout of src/pg/ops.ts: ragged or padded, lengths short of the width, an empty sequence, a mask. */
function lossArgs(c: LossCase): PgLossArgs {
  const r = rng(c.seed);
  const offsets = new Int32Array(c.nSeq + 1);
  const lengths = new Int32Array(c.nSeq);
  for (let i = 0; i < c.nSeq; i++) {
    const width = c.padded ? c.maxWidth : i === 1 ? 0 : 1 + Math.floor(r() * c.maxWidth);
    offsets[i + 1] = offsets[i]! + width;
    lengths[i] = i === 2 ? 0 : c.padded || r() < 0.3 ? Math.floor(r() * (width + 1)) : width;
  }
  const T = offsets[c.nSeq]!;
  const logp = randomArray(T, c.seed + 1, 'f32', -4, -0.01);
  const oldLogp = new Float32Array(T);
  const refLogp = new Float32Array(T);
  // Ratios spread over and past both clip bounds, some past the dual clip and the log-ratio clamp.
  for (let k = 0; k < T; k++) {
    const d = r() < 0.02 ? (r() < 0.5 ? -1 : 1) * (3 + 25 * r()) : 0.6 * (r() - 0.5);
    oldLogp[k] = logp[k]! - d;
    refLogp[k] = logp[k]! + (r() < 0.05 ? 30 * (r() - 0.5) : 0.2 * (r() - 0.5));
  }
  const mask = c.mask ? Uint8Array.from({ length: T }, () => (r() < 0.85 ? 1 + Math.floor(r() * 3) : 0)) : null;
  const advantages = c.perToken ? randomArray(T, c.seed + 2, 'f32', -2, 2) : randomArray(c.nSeq, c.seed + 2, 'f32', -2, 2);
  const entropy = c.entropy ? randomArray(T, c.seed + 3, 'f32', 0, 4) : null;
  return {
    offsets, lengths, mask, logp, oldLogp, refLogp: c.kl ? refLogp : null, advantages, advantagePerToken: c.perToken ?? false,
    clipLow: 0.2, clipHigh: 0.28, dualClip: 3, ratioCap: Infinity, logRatioClamp: 20,
    klEstimator: c.kl ?? null, klCoef: c.kl ? 0.05 : 0, klClamp: true,
    entropy, entropyCoef: c.entropy ? 0.01 : 0, aggregation: TOKEN_MEAN, entropyAggregation: TOKEN_MEAN,
    ignoreInactiveNonFinite: false, grad: new Float32Array(T), gradEntropy: c.entropy ? new Float32Array(T) : null,
    ...c.over,
  };
}

const withOutputs = (a: PgLossArgs): PgLossArgs => ({
  ...a, grad: new Float32Array(a.grad.length), gradEntropy: a.gradEntropy ? new Float32Array(a.gradEntropy.length) : null,
});

/** Σ|term| per loss part and per statistic, in f64 from the inputs: the scale of each sum's error (header). */
function magnitudes(a: PgLossArgs, want: PgLossOutcome) {
  const nSeq = a.lengths.length;
  const L = new Array<number>(nSeq).fill(0);
  const act: [number, number][] = [];
  for (let i = 0; i < nSeq; i++) {
    for (let k = a.offsets[i]!; k < a.offsets[i + 1]!; k++) {
      if (k - a.offsets[i]! >= a.lengths[i]! || (a.mask && a.mask[k] === 0)) continue;
      act.push([i, k]);
      L[i]!++;
    }
  }
  const weight = (g: PgAggregation, i: number) => {
    const D = g.denominator === 'tokens' ? Math.max(want.stats.tokens, 1) : g.denominator === 'sequences' ? Math.max(want.stats.sequences, 1)
      : g.denominator === 'all-sequences' ? Math.max(nSeq, 1) : g.denominator;
    return g.scale / (D * (g.perSequenceMean ? Math.max(L[i]!, 1) : 1));
  };
  const m = { policy: 0, kl: 0, ent: 0, ratio: 0, logRatio: 0, klValue: 0, entropy: 0 };
  const grad = new Float64Array(a.grad.length);
  const slack = new Float64Array(a.grad.length);
  for (const [i, k] of act) {
    const A = a.advantagePerToken ? a.advantages[k]! : a.advantages[i]!;
    const d = Math.min(Math.abs(a.logp[k]! - a.oldLogp[k]!), a.logRatioClamp);
    const r = Math.exp(d);
    const rc = Math.min(r, a.ratioCap);
    // |ℓ| ≤ A·(1 + clipHigh) for A ≥ 0 (min of the two branches), else |A|·max(rc, 1 + clipHigh), at most |A|·c under the dual clip.
    const ell = A >= 0 ? A * Math.min(rc, 1 + a.clipHigh) : -A * Math.min(Math.max(rc, 1 + a.clipHigh), a.dualClip);
    // KL operands: |d| for k1/abs/k2 (value d²/2 for k2), e^k + |k| + 1 for k3 (k clamped to ±20 under klClamp).
    const dr = a.refLogp ? a.refLogp[k]! - a.logp[k]! : 0;
    const kc = a.klClamp ? Math.max(-20, Math.min(20, dr)) : dr;
    const est = a.klEstimator;
    const v = est === 'k3' ? Math.exp(kc) + Math.abs(kc) + 1 : est === 'k2' ? dr * dr : Math.abs(dr);
    const gk = est === 'k3' ? Math.exp(kc) + 1 : est === 'k2' ? Math.abs(dr) : 1;
    const grow = 2 + d + Math.abs(kc);
    const w = weight(a.aggregation, i);
    m.policy += w * ell * grow;
    m.kl += w * v * grow;
    m.ent += weight(a.entropyAggregation, i) * (a.entropy ? a.entropy[k]! : 0);
    m.ratio += r * grow;
    m.logRatio += d;
    m.klValue += v * grow;
    m.entropy += a.entropy ? a.entropy[k]! : 0;
    grad[k] = w * (Math.abs(A) * r + a.klCoef * gk) * grow;
    slack[k] = weight(a.entropyAggregation, i) * a.entropyCoef;
  }
  return { ...m, grad, slack };
}

function expectLossClose(b: WebGpuBackendInstance, a: PgLossArgs, gotArgs: PgLossArgs, got: PgLossOutcome, want: PgLossOutcome): void {
  expect(got.nonFinite).toEqual(want.nonFinite);
  expect(got.stats.tokens).toBe(want.stats.tokens);
  expect(got.stats.sequences).toBe(want.stats.sequences);
  const mag = magnitudes(a, want);
  const K = (LOSS_ITEMS + Math.log2(b.runtime.workgroupSize) + 16) * u;
  const n = Math.max(want.stats.tokens, 1);
  const close = (what: string, g: number, w: number, scale: number) => {
    const tol = K * scale + 1e-300;
    if (!(Math.abs(g - w) <= tol)) expect.fail(`${what}: ${g} vs ${w} (tol ${tol})`);
  };
  close('policyLoss', got.stats.policyLoss, want.stats.policyLoss, mag.policy);
  close('klLoss', got.stats.klLoss, want.stats.klLoss, a.klCoef * mag.kl);
  close('entropyLoss', got.stats.entropyLoss, want.stats.entropyLoss, a.entropyCoef * mag.ent);
  close('loss', got.loss, want.loss, mag.policy + a.klCoef * mag.kl + a.entropyCoef * mag.ent);
  close('ratioMean', got.stats.ratioMean, want.stats.ratioMean, mag.ratio / n);
  close('approxKl', got.stats.approxKl, want.stats.approxKl, mag.logRatio / n);
  close('klMean', got.stats.klMean, want.stats.klMean, mag.klValue / n);
  close('entropyMean', got.stats.entropyMean, want.stats.entropyMean, mag.entropy / n);
  // A clip decision can differ from the oracle's only where r lies within a few ulps of a bound: at most one here.
  for (const key of ['clipFracHigh', 'clipFracLow', 'clipFracDual'] as const) {
    if (!(Math.abs(got.stats[key] - want.stats[key]) * n <= 1 + 1e-9)) expect.fail(`${key}: ${got.stats[key]} vs ${want.stats[key]} over ${n} tokens`);
  }
  for (let k = 0; k < a.grad.length; k++) {
    const tol = K * mag.grad[k]! + 1e-300;
    if (!(Math.abs(gotArgs.grad[k]! - a.grad[k]!) <= tol)) expect.fail(`grad[${k}]: ${gotArgs.grad[k]} vs ${a.grad[k]} (tol ${tol})`);
    if (a.gradEntropy) {
      const t2 = 4 * u * mag.slack[k]! + 1e-300;
      if (!(Math.abs(gotArgs.gradEntropy![k]! - a.gradEntropy[k]!) <= t2)) expect.fail(`gradEntropy[${k}]: ${gotArgs.gradEntropy![k]} vs ${a.gradEntropy[k]}`);
    }
  }
}

/** Runs the oracle on `a` (filling a.grad) and the device on a copy of its outputs; compares. */
async function checkLoss(b: WebGpuBackendInstance, a: PgLossArgs): Promise<{ got: PgLossOutcome; gotArgs: PgLossArgs; want: PgLossOutcome }> {
  const want = await oracle('pgPolicyLoss', a);
  const gotArgs = withOutputs(a);
  const got = await run(b, 'pgPolicyLoss', gotArgs);
  expectLossClose(b, a, gotArgs, got, want);
  return { got, gotArgs, want };
}

const AGGREGATIONS: [string, PgAggregation][] = [
  ['token-mean', TOKEN_MEAN],
  ['seq-mean-token-mean (verl, eps)', { perSequenceMean: true, lengthFloor: 'eps', denominator: 'sequences', scale: 1 }],
  ['seq-mean-token-sum', { perSequenceMean: false, lengthFloor: 'eps', denominator: 'sequences', scale: 2 }],
  ['TRL grpo (one, all sequences)', { perSequenceMean: true, lengthFloor: 'one', denominator: 'all-sequences', scale: 1 }],
  ['fixed denominator 4096', { perSequenceMean: false, lengthFloor: 'one', denominator: 4096, scale: 0.5 }],
];

describe.skipIf(!main)('webgpu pgPolicyLoss', () => {
  const b = () => main!;

  it.each(AGGREGATIONS)('aggregation %s, with mask, k3 KL and entropy', async (_name, aggregation) => {
    const { want } = await checkLoss(b(), lossArgs({
      nSeq: 37, maxWidth: 90, seed: 1, mask: true, kl: 'k3', entropy: true, over: { aggregation, entropyAggregation: aggregation },
    }));
    // The data reach every branch: both clip bounds and the dual clip.
    expect(Math.min(want.stats.clipFracHigh, want.stats.clipFracLow, want.stats.clipFracDual)).toBeGreaterThan(0);
  });

  it.each(['k1', 'abs', 'k2', 'k3'] as const)('KL %s, padded, no mask, per-token advantages', async (kl) => {
    await checkLoss(b(), lossArgs({ nSeq: 12, maxWidth: 300, seed: 2, padded: true, perToken: true, kl }));
  });

  it('TRL settings: no log-ratio clamp, no dual clip, ratio cap δ = 4, unclamped k3', async () => {
    await checkLoss(b(), lossArgs({
      nSeq: 20, maxWidth: 200, seed: 3, mask: true, kl: 'k3',
      over: { dualClip: Infinity, ratioCap: 4, logRatioClamp: Infinity, klClamp: false, clipLow: 0.2, clipHigh: 0.2 },
    }));
  });

  it('entropy aggregated differently from the policy term', async () => {
    await checkLoss(b(), lossArgs({ nSeq: 25, maxWidth: 64, seed: 4, mask: true, entropy: true, over: { entropyAggregation: AGGREGATIONS[1]![1] } }));
  });

  it('no active position at all: zero loss and statistics, zero gradients', async () => {
    const a = lossArgs({ nSeq: 6, maxWidth: 20, seed: 5, mask: true, entropy: true });
    a.mask!.fill(0);
    const { got, gotArgs } = await checkLoss(b(), a);
    expect(got.stats.tokens).toBe(0);
    expect(got.loss).toBe(0);
    expect(gotArgs.grad.every((g) => g === 0)).toBe(true);
  });

  it('empty batches: no sequences, and sequences without positions', async () => {
    const none = lossArgs({ nSeq: 0, maxWidth: 1, seed: 6 });
    expect((await checkLoss(b(), none)).got.loss).toBe(0);
    const hollow = lossArgs({ nSeq: 4, maxWidth: 1, seed: 6, over: { offsets: new Int32Array(5), lengths: new Int32Array(4), grad: new Float32Array(0) } });
    expect((await checkLoss(b(), { ...hollow, logp: new Float32Array(0), oldLogp: new Float32Array(0) })).got.stats.sequences).toBe(0);
  });

  it('reports the first array in PG_LOSS_ARRAYS order, at its smallest index', async () => {
    const a = lossArgs({ nSeq: 30, maxWidth: 80, seed: 7, mask: true, kl: 'k2', entropy: true, perToken: true });
    const T = a.logp.length;
    const cases: [keyof PgLossArgs, number][][] = [
      [['entropy', 3], ['refLogp', T - 1], ['oldLogp', T - 2], ['oldLogp', 40]],
      [['entropy', 0], ['advantages', 9]],
      [['logp', T - 1], ['logp', 500], ['oldLogp', 1]],
    ];
    for (const edits of cases) {
      const c: Record<string, unknown> = { ...a };
      for (const [name, k] of edits) {
        c[name] = (c[name] as Float32Array).slice();
        (c[name] as Float32Array)[k] = k % 2 ? NaN : -Infinity;
      }
      const args = c as unknown as PgLossArgs;
      const want = await oracle('pgPolicyLoss', withOutputs(args));
      expect(want.nonFinite).not.toBeNull();
      expect((await run(b(), 'pgPolicyLoss', withOutputs(args))).nonFinite).toEqual(want.nonFinite);
    }
    // Per-sequence advantages: every entry is checked.
    const seqAdv = lossArgs({ nSeq: 30, maxWidth: 80, seed: 8 });
    const adv = seqAdv.advantages.slice();
    adv[2] = NaN;
    adv[17] = Infinity;
    expect((await run(b(), 'pgPolicyLoss', { ...seqAdv, advantages: adv })).nonFinite).toEqual({ array: 'advantages', index: 2 });
  });

  it('ignoreInactiveNonFinite skips inactive positions only', async () => {
    const a = lossArgs({ nSeq: 10, maxWidth: 50, seed: 9, mask: true });
    const inactive = a.mask!.findIndex((m) => m === 0);
    const logp = a.logp.slice();
    logp[inactive] = NaN;
    expect((await run(b(), 'pgPolicyLoss', withOutputs({ ...a, logp }))).nonFinite).toEqual({ array: 'logp', index: inactive });
    const quiet = await run(b(), 'pgPolicyLoss', withOutputs({ ...a, logp, ignoreInactiveNonFinite: true }));
    expect(quiet.nonFinite).toBeNull();
  });

  it('takes SharedArrayBuffer inputs and outputs', async () => {
    const a = lossArgs({ nSeq: 15, maxWidth: 100, seed: 10, mask: true, kl: 'k3', entropy: true });
    const want = await oracle('pgPolicyLoss', a);
    const s: PgLossArgs = {
      ...a, offsets: shared(a.offsets), lengths: shared(a.lengths), mask: shared(a.mask!), logp: shared(a.logp as Float32Array),
      oldLogp: shared(a.oldLogp as Float32Array), refLogp: shared(a.refLogp as Float32Array), advantages: shared(a.advantages as Float32Array),
      entropy: shared(a.entropy as Float32Array), grad: shared(new Float32Array(a.grad.length)), gradEntropy: shared(new Float32Array(a.grad.length)),
    };
    expectLossClose(b(), a, s, await run(b(), 'pgPolicyLoss', s), want);
  });

  it('in chunks (binding capped at 4 KiB): the same loss and gradients, mask counted over every chunk first', async () => {
    const small = await open({ maxBindingBytes: 4096 });
    for (const mask of [true, false]) {
      const a = lossArgs({ nSeq: 80, maxWidth: 150, seed: 11, mask, kl: 'k3', entropy: true, perToken: !mask });
      expect(a.logp.length).toBeGreaterThan(3 * 1024);
      const { gotArgs } = await checkLoss(small, a);
      const whole = withOutputs(a);
      await run(b(), 'pgPolicyLoss', whole);
      // Gradients are per position: chunking leaves their arithmetic unchanged.
      expect(gotArgs.grad).toEqual(whole.grad);
      expect(gotArgs.gradEntropy).toEqual(whole.gradEntropy);
    }
  });

  it('releases its buffers to the pool and reuses them; rejects an aborted signal', async () => {
    const a = lossArgs({ nSeq: 20, maxWidth: 100, seed: 12, mask: true, entropy: true });
    await run(b(), 'pgPolicyLoss', withOutputs(a));
    const before = b().runtime.pool.stats();
    await run(b(), 'pgPolicyLoss', withOutputs(a));
    const after = b().runtime.pool.stats();
    expect(after).toMatchObject({ created: before.created, pooled: before.pooled });
    const ac = new AbortController();
    ac.abort('stop');
    await expect(run(b(), 'pgPolicyLoss', withOutputs(a), ac.signal)).rejects.toMatchObject({ name: 'NumkernError', code: 'E_ABORTED' });
  });

  it('refuses f64 through accepts (f64 falls back to a CPU backend)', () => {
    const a = lossArgs({ nSeq: 3, maxWidth: 5, seed: 13 });
    expect(gpu(b(), 'pgPolicyLoss').accepts!({ ...a, logp: Float64Array.from(a.logp) })).toMatch(/f32 only/);
  });
});
