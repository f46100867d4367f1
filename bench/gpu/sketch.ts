/**
 * GPU bench cases of the sketch family (bench/gpu/case.ts): ctx.sketch.apply of a dense A and b for
 * every kind, pinned (strict) to the GPU backend under test, each checked against the CPU result first.
 * A is n × d with n = 2^17 rows (the SRHT then has two permutation blocks of 2^16 rows; --quick: 2^12); bytes = A and b
 * read once plus S·A and S·b written once, the traffic of a bandwidth-bound sketch.
 *
 * Check: SA entry (k, j) sums n terms S₀[k, i]·a_ij; two backends summing them in any order, each term
 * rounded once, agree within 2·γ_{n+1}(u)·Σ_i |S₀[k, i]·a_ij| (Higham, Accuracy and Stability §4.2), with
 * |S₀| ≤ 6.8 (Gaussian; 1 otherwise) times the scale, plus 16u·|term| for the Gaussian's libm ulps.
 * u is the backend's working precision: 2⁻⁵³ (native, cuda: f64 sums), 2⁻²⁴ for f32 data (webgpu sums in f32).
 */
import { philoxFill, type Context, type SketchKind } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import type { GpuCase, PreparedCase } from './case.js';

/** bench/gpu/run.ts --quick sets this before it imports the case lists: sizes that a software adapter takes. */
const QUICK = process.env.NUMKERN_GPU_BENCH_QUICK === '1';
const N = QUICK ? 1 << 12 : 1 << 17;
const D = QUICK ? 16 : 64;
const M = QUICK ? 64 : 256;

/** Deterministic values in [−1, 1) from the package's own Philox (stream 0x62656e63, 'benc'). */
function values(n: number, seed: number): Float64Array {
  const w = philoxFill(seed, 0x62656e63, 0, new Uint32Array(n));
  return Float64Array.from(w, (x) => x / 2147483648 - 1);
}

interface Applied {
  data: Float64Array;
  Sb: Float64Array | null;
}

function sketchCase(kind: SketchKind, dtype: 'f32' | 'f64'): GpuCase {
  const el = dtype === 'f32' ? 4 : 8;
  return {
    family: 'sketch',
    name: `apply ${kind} ${N}×${D} → ${M}`,
    dtype,
    bytes: (N * D + N) * el + (M * D + M) * 8,
    async prepare(ctx: Context): Promise<PreparedCase> {
      const a64 = values(N * D, 1);
      const b64 = values(N, 2);
      const A = { rows: N, cols: D, data: dtype === 'f32' ? Float32Array.from(a64) : a64 };
      const b = dtype === 'f32' ? Float32Array.from(b64) : b64;
      // Σ_i |a_ij| per column and Σ_i |b_i|: each entry's terms are bounded by these times max|S₀|.
      const colAbs = new Float64Array(D + 1);
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < D; j++) colAbs[j] += Math.abs(A.data[i * D + j]!);
        colAbs[D] += Math.abs(b[i]!);
      }
      const scale = kind === 'countsketch' ? 1 : kind === 'sparse-sign' ? 1 / Math.sqrt(8) : 1 / Math.sqrt(M);
      const cap = (kind === 'gaussian' ? 6.8 : 1) * scale;
      const u = dtype === 'f32' ? 2 ** -24 : 2 ** -53;
      const gamma = ((N + 1) * u) / (1 - (N + 1) * u);
      const rel = 2 * gamma + (kind === 'gaussian' ? 16 * u : 0);
      return {
        async run(backend: BackendName): Promise<Applied> {
          const r = await ctx.sketch.apply(A, { kind, m: M, seed: 7, b, backend, strict: true });
          return { data: r.data, Sb: r.Sb ?? null };
        },
        check(result: unknown, reference: unknown): string | null {
          const got = result as Applied;
          const want = reference as Applied;
          for (let q = 0; q < M * (D + 1); q++) {
            const k = Math.floor(q / (D + 1));
            const j = q % (D + 1);
            const g = j < D ? got.data[k * D + j]! : got.Sb![k]!;
            const w = j < D ? want.data[k * D + j]! : want.Sb![k]!;
            const bound = rel * cap * colAbs[j]! + 1e-300;
            if (!(Math.abs(g - w) <= bound)) return `S·${j < D ? 'A' : 'b'}[${k}, ${j}] = ${g}, CPU ${w}: |Δ| > ${bound.toExponential(2)}`;
          }
          return null;
        },
      };
    },
  };
}

const KINDS: SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];

export const cases: GpuCase[] = [...KINDS.map((k) => sketchCase(k, 'f64')), ...KINDS.map((k) => sketchCase(k, 'f32'))];
