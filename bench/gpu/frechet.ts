/**
 * GPU bench cases of the frechet family (bench/gpu/case.ts): ctx.frechet.predict with a matrix metric
 * (the fused score GEMM + running top-k over D², K×N), pinned (strict) to the GPU backend under test,
 * checked against the CPU result first. B = 1024 rows, K = 1000 observed classes (docs/frechet.md §10's
 * shape), N = 2^16 labels (--quick: 64 × 100 × 2^12); bytes = P and D read once plus the B×topk labels and
 * scores written once: a GEMM is compute-bound, so the fraction of the copy bandwidth understates a good
 * kernel, and says how far it is from streaming D at copy speed.
 *
 * Check: a score is Σ_k P[b,k]·D²[k,j] in the dtype in any order (BLAS, FMA), within γ_{K+2}(u)·Σ_k|P·D²|
 * of the exact one for either backend (Higham §3.1), so rank r's scores agree within 2·tol and its labels
 * wherever the CPU's neighbouring gaps exceed 2·tol (else either order is right).
 */
import { philoxFill, type Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import type { GpuCase, PreparedCase } from './case.js';

/** bench/gpu/run.ts --quick sets this before it imports the case lists: sizes that a software adapter takes. */
const QUICK = process.env.NUMKERN_GPU_BENCH_QUICK === '1';
const B = QUICK ? 64 : 1024;
const K = QUICK ? 100 : 1000;
const N = QUICK ? 1 << 12 : 1 << 16;
const TOPK = 5;

/** Deterministic values in [0, 1) from the package's own Philox (stream 0x62656e63, 'benc'). */
function values(n: number, seed: number): Float64Array {
  const w = philoxFill(seed, 0x62656e63, 0, new Uint32Array(n));
  return Float64Array.from(w, (x) => x / 4294967296);
}

interface Predicted {
  labels: Int32Array;
  scores: Float32Array | Float64Array;
}

function predictCase(dtype: 'f32' | 'f64'): GpuCase {
  const el = dtype === 'f32' ? 4 : 8;
  return {
    family: 'frechet',
    name: `predict matrix B=${B} K=${K} N=${N} top-${TOPK}`,
    dtype,
    bytes: (B * K + K * N) * el + B * TOPK * (4 + el),
    async prepare(ctx: Context): Promise<PreparedCase> {
      const cast = (v: Float64Array) => (dtype === 'f32' ? Float32Array.from(v) : v);
      const P = { rows: B, cols: K, data: cast(values(B * K, 3)) };
      const D = { rows: K, cols: N, data: cast(values(K * N, 4).map((x) => 1 + 9 * x)) };
      const observed = Int32Array.from({ length: K }, (_, k) => (k * 65 + 11) % N);
      const metric = { kind: 'matrix' as const, D, observed };
      // Σ_k |P[b,k]|·max D² per row: a bound on every score's magnitude in that row.
      let maxD2 = 0;
      for (let i = 0; i < D.data.length; i++) maxD2 = Math.max(maxD2, D.data[i]! * D.data[i]!);
      const rowMag = new Float64Array(B);
      for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) rowMag[b] += Math.abs(P.data[b * K + k]!) * maxD2;
      const u = dtype === 'f32' ? 2 ** -24 : 2 ** -53;
      const gamma = ((K + 2) * u) / (1 - (K + 2) * u);
      return {
        async run(backend: BackendName): Promise<Predicted> {
          const r = await ctx.frechet.predict(P, metric, { topk: TOPK, scores: true, backend, strict: true });
          return { labels: r.labels, scores: r.scores! };
        },
        check(result: unknown, reference: unknown): string | null {
          const got = result as Predicted;
          const want = reference as Predicted;
          for (let b = 0; b < B; b++) {
            const tol = 2 * gamma * rowMag[b]!;
            for (let r = 0; r < TOPK; r++) {
              const q = b * TOPK + r;
              if (!(Math.abs(got.scores[q]! - want.scores[q]!) <= 2 * tol)) return `row ${b} rank ${r}: score ${got.scores[q]}, CPU ${want.scores[q]}`;
              const before = r === 0 ? Infinity : want.scores[q]! - want.scores[q - 1]!;
              const after = r + 1 < TOPK ? want.scores[q + 1]! - want.scores[q]! : Infinity;
              if (Math.min(before, after) > 2 * tol && got.labels[q] !== want.labels[q]) return `row ${b} rank ${r}: label ${got.labels[q]}, CPU ${want.labels[q]}`;
            }
          }
          return null;
        },
      };
    },
  };
}

export const cases: GpuCase[] = [predictCase('f32'), predictCase('f64')];
