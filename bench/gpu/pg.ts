/**
 * GPU bench cases of the pg family (bench/gpu/case.ts), each pinned (strict) to the GPU backend under
 * test and checked against the CPU result first:
 *  - ctx.pg.policyLoss over 4096 padded sequences of 2048 positions (8.4 M tokens; --quick: 64 × 256;
 *    verl defaults, k3 KL with its clamps, entropy bonus, a mask): bytes = logp, oldLogp, refLogp,
 *    entropy and the mask read once, grad and gradEntropy written once (the advantages, one per
 *    sequence, are negligible);
 *  - ctx.pg.tokenLogprobs with entropy over 128 rows (--quick: 4) of V = 151,936 (Qwen's vocabulary):
 *    the logits read once (the per-row outputs are negligible);
 *  - ctx.pg.tokenLogprobsBackward in place on the same logits: read once and written once.
 *
 * Checks (the device arithmetic is the CPU kernels' NK_HD code; the bounds are those of the native
 * tests, test/pg/addon-cases.ts TOL): clip fractions and token counts
 * exact; loss parts and means within 2e-5 (f32) or 1e-12 (f64) relative to the loss scale; per position
 * grad within the same of max|grad|; per row lse and logp within it times 1 + |lse|, H relatively; the
 * backward per element within it of the row's largest gradient.
 */
import type { Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import type { GpuCase, PreparedCase } from './case.js';

type Dtype = 'f32' | 'f64';
type F = Float32Array | Float64Array;

const TOL: Readonly<Record<Dtype, number>> = { f32: 2e-5, f64: 1e-12 };
/** bench/gpu/run.ts --quick sets this before it imports the case lists: sizes that a software adapter takes. */
const QUICK = process.env.NUMKERN_GPU_BENCH_QUICK === '1';
const SEQS = QUICK ? 64 : 4096;
const WIDTH = QUICK ? 256 : 2048;
const ROWS = QUICK ? 4 : 128;
const VOCAB = 151_936;

/** Deterministic uniforms in [0, 1) (mulberry32, as test/support/backends.ts). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const alloc = (dtype: Dtype, n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));

/** First index where |got − want| > atol + rtol·|want|, described, or null. */
function firstMiss(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: (k: number) => number): string | null {
  for (let k = 0; k < want.length; k++) {
    const bound = atol(k) + rtol * Math.abs(want[k]!);
    if (!(Math.abs(got[k]! - want[k]!) <= bound)) return `${what}[${k}] = ${got[k]}, CPU ${want[k]}: |Δ| > ${bound.toExponential(2)}`;
  }
  return null;
}

interface LossRun {
  loss: number;
  grad: F;
  gradEntropy: F;
  stats: Record<string, number>;
}

function lossCase(dtype: Dtype): GpuCase {
  const el = dtype === 'f32' ? 4 : 8;
  const n = SEQS * WIDTH;
  return {
    family: 'pg',
    name: `policyLoss ${SEQS}×${WIDTH} k3+entropy`,
    dtype,
    bytes: n * (4 * el + 1) + n * 2 * el,
    async prepare(ctx: Context): Promise<PreparedCase> {
      const r = rng(11);
      const logp = alloc(dtype, n);
      const oldLogp = alloc(dtype, n);
      const refLogp = alloc(dtype, n);
      const entropy = alloc(dtype, n);
      // Each row: its first 40–100 % of positions are the response, 10 % of them masked out.
      const mask = new Uint8Array(n);
      for (let i = 0; i < SEQS; i++) {
        const len = Math.floor(WIDTH * (0.4 + 0.6 * r()));
        for (let t = 0; t < len; t++) mask[i * WIDTH + t] = r() < 0.9 ? 1 : 0;
      }
      for (let k = 0; k < n; k++) {
        logp[k] = -3 * r();
        oldLogp[k] = logp[k]! + 0.6 * (r() - 0.5);
        refLogp[k] = logp[k]! + 0.4 * (r() - 0.5);
        entropy[k] = 5 * r();
      }
      const advantages = alloc(dtype, SEQS);
      for (let i = 0; i < SEQS; i++) advantages[i] = 2 * r() - 1;
      const tol = TOL[dtype];
      return {
        async run(backend: BackendName): Promise<LossRun> {
          const res = await ctx.pg.policyLoss(
            { logp, oldLogp, refLogp, advantages, mask, width: WIDTH },
            { kl: { estimator: 'k3', coef: 0.04 }, entropy: { values: entropy, coef: 0.01 }, backend, strict: true },
          );
          return { loss: res.loss, grad: res.grad, gradEntropy: res.gradEntropy!, stats: { ...res.stats } };
        },
        check(result: unknown, reference: unknown): string | null {
          const got = result as LossRun;
          const want = reference as LossRun;
          for (const key of ['tokens', 'sequences', 'clipFracHigh', 'clipFracLow', 'clipFracDual']) {
            if (got.stats[key] !== want.stats[key]) return `${key} = ${got.stats[key]}, CPU ${want.stats[key]} (counts are exact)`;
          }
          const scale = Math.abs(want.stats.policyLoss!) + Math.abs(want.stats.klLoss!) + Math.abs(want.stats.entropyLoss!);
          for (const key of ['ratioMean', 'approxKl', 'klMean', 'entropyMean', 'policyLoss', 'klLoss', 'entropyLoss']) {
            const bound = tol * (key.endsWith('Loss') ? scale : 1) + tol * Math.abs(want.stats[key]!);
            if (!(Math.abs(got.stats[key]! - want.stats[key]!) <= bound)) return `${key} = ${got.stats[key]}, CPU ${want.stats[key]}`;
          }
          if (!(Math.abs(got.loss - want.loss) <= tol * scale)) return `loss = ${got.loss}, CPU ${want.loss}`;
          let gmax = 0;
          for (const v of want.grad) gmax = Math.max(gmax, Math.abs(v));
          return firstMiss('grad', got.grad, want.grad, tol, () => 1e-3 * tol * gmax) ?? firstMiss('gradEntropy', got.gradEntropy, want.gradEntropy, tol, () => 0);
        },
      };
    },
  };
}

function makeLogits(dtype: Dtype): { logits: F; targets: Int32Array } {
  const r = rng(5);
  const logits = alloc(dtype, ROWS * VOCAB);
  for (let k = 0; k < logits.length; k++) logits[k] = 8 * (r() - 0.5);
  return { logits, targets: Int32Array.from({ length: ROWS }, () => Math.floor(r() * VOCAB)) };
}

interface Rows {
  logp: F;
  lse: F;
  entropy: F;
}

function checkRows(got: Rows, want: Rows, tol: number): string | null {
  const abs = (k: number): number => tol * (1 + Math.abs(want.lse[k]!));
  return firstMiss('lse', got.lse, want.lse, 0, abs) ?? firstMiss('logp', got.logp, want.logp, 0, abs) ?? firstMiss('entropy', got.entropy, want.entropy, tol, (k) => 1e-13 * (1 + Math.abs(want.lse[k]!)));
}

function forwardCase(dtype: Dtype): GpuCase {
  const el = dtype === 'f32' ? 4 : 8;
  return {
    family: 'pg',
    name: `tokenLogprobs+entropy ${ROWS}×${VOCAB}`,
    dtype,
    bytes: ROWS * VOCAB * el,
    async prepare(ctx: Context): Promise<PreparedCase> {
      const { logits, targets } = makeLogits(dtype);
      return {
        async run(backend: BackendName): Promise<Rows> {
          const r = await ctx.pg.tokenLogprobs(logits, targets, { vocab: VOCAB, backend, strict: true });
          return { logp: r.logp, lse: r.lse, entropy: r.entropy! };
        },
        check: (result, reference) => checkRows(result as Rows, reference as Rows, TOL[dtype]),
      };
    },
  };
}

function backwardCase(dtype: Dtype): GpuCase {
  const el = dtype === 'f32' ? 4 : 8;
  return {
    family: 'pg',
    name: `tokenLogprobsBackward in place ${ROWS}×${VOCAB}`,
    dtype,
    bytes: 2 * ROWS * VOCAB * el,
    async prepare(ctx: Context): Promise<PreparedCase> {
      const { logits, targets } = makeLogits(dtype);
      // The forward's outputs (from whichever backend runs it) are the inputs every backend gets.
      const fw = await ctx.pg.tokenLogprobs(logits, targets, { vocab: VOCAB });
      const r = rng(9);
      const gradLogp = alloc(dtype, ROWS);
      const gradEntropy = alloc(dtype, ROWS);
      for (let n = 0; n < ROWS; n++) {
        gradLogp[n] = r() - 0.5;
        gradEntropy[n] = r() - 0.5;
      }
      const work = logits.slice();
      return {
        async run(backend: BackendName): Promise<F> {
          work.set(logits);
          const res = await ctx.pg.tokenLogprobsBackward(work, targets, {
            vocab: VOCAB, lse: fw.lse, entropy: fw.entropy!, gradLogp, gradEntropy, inPlace: true, checkFinite: false, backend, strict: true,
          });
          return res.gradLogits.slice();
        },
        check(result: unknown, reference: unknown): string | null {
          const got = result as F;
          const want = reference as F;
          const tol = TOL[dtype];
          for (let n = 0; n < ROWS; n++) {
            let mag = 0;
            for (let j = 0; j < VOCAB; j++) mag = Math.max(mag, Math.abs(want[n * VOCAB + j]!));
            const row = firstMiss(`gradLogits[row ${n}]`, got.subarray(n * VOCAB, (n + 1) * VOCAB), want.subarray(n * VOCAB, (n + 1) * VOCAB), tol, () => tol * mag + 1e-15);
            if (row) return row;
          }
          return null;
        },
      };
    },
  };
}

export const cases: GpuCase[] = (['f32', 'f64'] as const).flatMap((d) => [lossCase(d), forwardCase(d), backwardCase(d)]);
