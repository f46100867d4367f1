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
import { philoxFill, type Context } from '../../src/index.js';
import { uniform01 } from '../../src/core/philox.js';
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

/** `n` deterministic uniforms in (0, 1) from the package's own Philox (seed 7, stream `stream`). */
function uniforms(n: number, stream: number): Float64Array {
  return Float64Array.from(philoxFill(7, stream, 0, new Uint32Array(n)), uniform01);
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
      const u = uniforms(4 * n, 1);
      const logp = alloc(dtype, n);
      const oldLogp = alloc(dtype, n);
      const refLogp = alloc(dtype, n);
      const entropy = alloc(dtype, n);
      for (let k = 0; k < n; k++) {
        logp[k] = -3 * u[4 * k]!;
        oldLogp[k] = logp[k]! + 0.6 * (u[4 * k + 1]! - 0.5);
        refLogp[k] = logp[k]! + 0.4 * (u[4 * k + 2]! - 0.5);
        entropy[k] = 5 * u[4 * k + 3]!;
      }
      // Each row: its first 40–100 % of positions are the response, 10 % of them masked out.
      const m = uniforms(n, 2);
      const s = uniforms(2 * SEQS, 3);
      const mask = new Uint8Array(n);
      const advantages = alloc(dtype, SEQS);
      for (let i = 0; i < SEQS; i++) {
        const len = Math.floor(WIDTH * (0.4 + 0.6 * s[2 * i]!));
        for (let t = 0; t < len; t++) mask[i * WIDTH + t] = m[i * WIDTH + t]! < 0.9 ? 1 : 0;
        advantages[i] = 2 * s[2 * i + 1]! - 1;
      }
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
  const logits = alloc(dtype, ROWS * VOCAB);
  logits.set(uniforms(ROWS * VOCAB, 4).map((v) => 8 * (v - 0.5)));
  return { logits, targets: Int32Array.from(uniforms(ROWS, 5), (v) => Math.floor(v * VOCAB)) };
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
      const g = uniforms(2 * ROWS, 6);
      const gradLogp = alloc(dtype, ROWS);
      const gradEntropy = alloc(dtype, ROWS);
      for (let n = 0; n < ROWS; n++) {
        gradLogp[n] = g[2 * n]! - 0.5;
        gradEntropy[n] = g[2 * n + 1]! - 0.5;
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
