/**
 * Fuzzing of the pg and sketch entry points (the property of ./entry-points.ts: a finite answer of the
 * promised shape, or a NumkernError — never another exception, never a hang, never a NaN handed back).
 */
import fc from 'fast-check';
import type { Context } from '../../src/index.js';
import type { BackendName, FloatArray } from '../../src/core/types.js';

type Float = 'f32' | 'f64';
type Clean = (what: string, call: () => Promise<unknown>, check: (v: never) => boolean) => Promise<void>;

const SPECIALS = [NaN, Infinity, -Infinity, 1e30, -1e30, 1e-310, 0, -0];

const finite = (v: unknown): boolean =>
  typeof v === 'number' ? Number.isFinite(v) : v instanceof Float32Array || v instanceof Float64Array ? v.every(Number.isFinite) : true;

/** n values in [lo, hi] of one dtype, sometimes with one special value planted. */
function values(n: number, dtype: Float, lo: number, hi: number): fc.Arbitrary<FloatArray> {
  return fc.tuple(
    fc.array(fc.double({ min: lo, max: hi, noNaN: true }), { minLength: n, maxLength: n }),
    fc.option(fc.tuple(fc.nat(Math.max(0, n - 1)), fc.constantFrom(...SPECIALS)), { freq: 5 }),
  ).map(([v, special]) => {
    const a = dtype === 'f32' ? Float32Array.from(v) : Float64Array.from(v);
    if (special && n > 0) a[special[0]] = special[1];
    return a;
  });
}

export async function fuzzFamilies(ctx: Context, backend: BackendName, runs: number, seed: number, clean: Clean): Promise<void> {
  const pin = { backend };
  const params = { numRuns: Math.max(1, Math.floor(runs / 2)), seed, endOnFailure: true } as const;
  const dtype = fc.constantFrom<Float>('f32', 'f64');

  // pg.policyLoss: a padded batch of up to 4 × 6 with masks, lengths and options of every kind.
  await fc.assert(
    fc.asyncProperty(
      dtype.chain((d) => fc.tuple(
        fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 6 }),
        values(24, d, -5, 0), values(24, d, -5, 0), values(24, d, -5, 0), values(24, d, -2, 2),
        fc.array(fc.constantFrom(0, 1), { minLength: 24, maxLength: 24 }),
        fc.record({
          convention: fc.constantFrom('verl', 'trl', 'ppo', undefined),
          clip: fc.constantFrom({ low: 0.2, high: 0.28 }, { low: 0.2, dual: 3 }, { low: -1 }, { low: 0.2, dual: 0.5 }, undefined),
          kl: fc.constantFrom({ estimator: 'k3', coef: 0.001 }, { estimator: 'abs', coef: 0.1 }, { estimator: 'k9', coef: 1 }, undefined),
          aggregation: fc.constantFrom('token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum-norm', 'grpo', 'dr_grpo', 'dapo', 'mean', undefined),
          ignoreMaskedNonFinite: fc.constantFrom(true, false, 'yes', undefined),
        }, { requiredKeys: [] }),
        fc.constantFrom('padded', 'ragged', 'bad-offsets', 'per-token', 'short'),
      )),
      async ([nSeq, T, logp, old, ref, adv, maskBits, o, layout]) => {
        const n = nSeq * T;
        const cut = (a: FloatArray, k = n) => a.subarray(0, Math.min(k, a.length));
        const mask = Uint8Array.from(maskBits.slice(0, n));
        const input: Record<string, unknown> = { logp: cut(logp), oldLogp: cut(old), refLogp: o.kl ? cut(ref) : undefined, advantages: cut(adv, nSeq) };
        if (layout === 'padded') Object.assign(input, { mask, width: T });
        else if (layout === 'ragged') input.offsets = Int32Array.from({ length: nSeq + 1 }, (_, i) => i * T);
        else if (layout === 'bad-offsets') input.offsets = Int32Array.from({ length: nSeq + 1 }, (_, i) => (i === 1 ? n + 5 : i * T));
        else if (layout === 'per-token') Object.assign(input, { mask, width: T, advantages: cut(adv), advantagePerToken: true });
        else Object.assign(input, { mask: mask.subarray(0, Math.max(0, n - 1)), width: T });
        await clean('pg.policyLoss', () => ctx.pg.policyLoss(input as never, { ...o, ...pin } as never),
          (r: { loss: number; grad: FloatArray }) => finite(r.loss) && r.grad.length === n && finite(r.grad));
      },
    ),
    params,
  );

  // pg.tokenLogprobs and its backward: a few rows, targets in and out of range, hostile logits.
  await fc.assert(
    fc.asyncProperty(
      dtype.chain((d) => fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 9 }), values(45, d, -30, 30),
        fc.array(fc.integer({ min: -2, max: 10 }), { minLength: 5, maxLength: 5 }), fc.constantFrom(1, 0.7, 0, -1, NaN))),
      async ([N, V, logits, tg, temperature]) => {
        const z = logits.subarray(0, Math.min(logits.length, N * V));
        const targets = Int32Array.from(tg.slice(0, N));
        await clean('pg.tokenLogprobs', async () => {
          const f = await ctx.pg.tokenLogprobs(z, targets, { vocab: V, temperature, ...pin });
          const grad = (f.logp.constructor as Float64ArrayConstructor).from({ length: N }, (_, i) => Math.sin(i));
          const b = await ctx.pg.tokenLogprobsBackward(z, targets, { vocab: V, temperature, lse: f.lse, entropy: f.entropy, gradLogp: grad as never, gradEntropy: grad as never, ...pin });
          return [f, b] as const;
        }, ([f, b]: [{ logp: FloatArray; entropy?: FloatArray }, { gradLogits: FloatArray }]) =>
          f.logp.length === N && finite(f.logp) && finite(f.entropy) && b.gradLogits.length === N * V && finite(b.gradLogits));
      },
    ),
    params,
  );

  // pg.advantages: groups by size or by id, every estimator name (and a wrong one).
  await fc.assert(
    fc.asyncProperty(values(12, 'f64', 0, 1), fc.constantFrom(1, 2, 3, 4, 5, 0, -1), fc.constantFrom('grpo', 'rloo', 'ngrpo', 'reinforce++-baseline', 'drpo', 'gpg', undefined),
      fc.constantFrom('verl', 'trl', 'x'), async (rewards, groups, estimator, convention) => {
        await clean('pg.advantages', async () => ctx.pg.advantages(rewards, { groups, estimator, convention } as never),
          (r: { advantages: FloatArray }) => r.advantages.length === rewards.length && finite(r.advantages));
      }),
    params,
  );

  // frechet.predict over matrix and embedding metrics: weights, distances, observed ids and topk of every kind.
  await fc.assert(
    fc.asyncProperty(
      dtype.chain((d) => fc.tuple(
        fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 8 }),
        values(12, d, 0, 2), values(32, d, 0, 9),
        fc.oneof({ weight: 4, arbitrary: fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 4, maxLength: 4 }) }, fc.array(fc.integer({ min: -1, max: 9 }), { minLength: 4, maxLength: 4 })),
        fc.constantFrom(1, 1, 2, 3, 0, 9, 1.5), fc.constantFrom('matrix', 'matrix', 'embedding', 'embedding', 'sphere'),
      )),
      async ([B, K, N, w, dist, obs, topk, kind]) => {
        const P = { rows: B, cols: K, data: w.subarray(0, Math.min(w.length, B * K)) };
        const observed = Int32Array.from(obs.slice(0, K));
        const metric = kind === 'matrix' ? { kind, D: { rows: K, cols: N, data: dist.subarray(0, Math.min(dist.length, K * N)) }, observed }
          : { kind, E: { rows: N, cols: 2, data: dist.subarray(0, Math.min(dist.length, 2 * N)) }, observed };
        await clean('frechet.predict', () => ctx.frechet.predict(P, metric as never, { topk, scores: true, ...pin } as never),
          (r: { labels: Int32Array; scores?: FloatArray }) => r.labels.length === B * topk && r.labels.every((l) => l >= -1 && l < N));
      },
    ),
    params,
  );

  // sketch.apply and sketch.lstsq on small dense problems, every kind, sizes in and out of range.
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 5 }), values(150, 'f64', -3, 3), values(30, 'f64', -3, 3),
      fc.constantFrom('gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign', 'fourier'), fc.integer({ min: -1, max: 40 }),
      fc.constantFrom('sketch-and-solve', 'sketch-and-precondition', 'iterative-sketching', 'qr', 'cholesky'),
      async (rows, cols, data, b, kind, m, method) => {
        const A = { rows, cols, data: data.subarray(0, Math.min(data.length, rows * cols)) };
        const rhs = b.subarray(0, rows);
        await clean('sketch.apply', () => ctx.sketch.apply(A, { kind, m, seed: 3, ...pin } as never),
          (r: { data: FloatArray }) => finite(r.data));
        await clean('sketch.lstsq', () => ctx.sketch.lstsq(A, rhs, { method, sketch: kind, m, seed: 3, ...pin } as never),
          (r: { x: FloatArray; residualNorm: number }) => r.x.length === cols && finite(r.x) && finite(r.residualNorm));
        await clean('sketch.kaczmarz', () => ctx.sketch.kaczmarz(A, rhs, { seed: 3, maxIter: 200, ...pin } as never),
          (r: { x: FloatArray }) => r.x.length === cols && finite(r.x));
      },
    ),
    params,
  );
}
