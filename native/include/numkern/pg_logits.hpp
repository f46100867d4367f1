// pgTokenLogprobs and pgTokenLogprobsBackward (src/pg/ops.ts): per-row log-softmax of a [N × V] logits
// matrix at temperature τ, without ever storing the softmax (docs/pg.md §5, §6), and the elementwise
// arithmetic the CPU kernels (native/src/pg/logits.cc) and a CUDA launcher share. Also the exponentials
// of the pg family: plain arithmetic that GCC vectorizes inside every target_clones variant with the same
// result (numkern_core is built with -ffp-contract=off, and no expression here is reassociated), so a
// result never depends on the clone that ran.
//
// Forward, per row: z = x/τ, lse = max z + log Σ e^(z − max z), logp = z[target] − lse,
// H = lse − Σ p·z. The row is cut into blocks of kLogitsBlock elements that stay in L1: a first pass
// finds the block maximum m_b, a second sums S_b = Σ 2^u and T_b = Σ 2^u·u with u = (x − m_b)·(log2 e/τ),
// in f32 lanes for f32 logits (f64 for f64). Blocks are folded into a running (M, S, T) in f64, in block
// order (one rescale per block, lse_fold), so the result depends on V only, never on the thread count.
// With T in nats relative to M, H = log S − T/S: two non-negative terms, so a peaked row (H → 0) keeps
// its relative accuracy instead of cancelling lse against Σ p·z.
//
// Error bound of the f32 kernel (inputs f32; reference: the oracle's f64 on the same inputs). Each term
// 2^u is within 2.5 ulp (2^-24 units) of its value at the u it is given (exp2_f32; exp2_f32_fma on
// x86-64-v4 CPUs within 3, and its T adds e·u in one rounding instead of two), and u = (x − m_b)·c carries
// 1.5 ulp of relative error, which moves 2^u by |u|·ln2·1.5 ulp. A lane adds kLogitsBlock/16 = 128 terms
// in f32 (the block's maximal elements, exactly 1 each, are counted apart), then blocks fold in f64. So S
// and T are within (4 + E_p|u| + 128)·2^-24 relative — the 128 a worst case, ~√128 in practice, i.e.
// ≈ 1e-6 typical and 8e-6 worst. lse gets that as an absolute error, logp the same (z[target] and the
// fold are f64), H the same relative error. The backward's p = e^(x/τ − lse) (lse as stored, in the
// dtype) is within 3 ulp + |log p|·1.5 ulp; the target element is computed in f64. f64: the same
// structure with exp2_f64 (≤ 1 ulp + |u|·1 ulp), ~1e-15 relative.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "numkern/common.hpp"

namespace numkern {
namespace pg {

// ---------------------------------------------------------------------------------------------------
// Bit casts (vectorizable: GCC folds the memcpy into a register move)

NK_HD NK_FORCEINLINE uint32_t bits_of(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
NK_HD NK_FORCEINLINE float float_of(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}
NK_HD NK_FORCEINLINE uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
NK_HD NK_FORCEINLINE double double_of(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

/// c ? a : b by bit masks. For a select whose arm is computed only for it: GCC turns such a ?: into a
/// branch, sinks the arm's arithmetic into it, and then cannot if-convert the loop without AVX-512's
/// masked arithmetic (the arithmetic "could trap" under -ftrapping-math), so the AVX2 clone stays scalar.
NK_HD NK_FORCEINLINE float pick(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return float_of((bits_of(a) & m) | (bits_of(b) & ~m));
}
NK_HD NK_FORCEINLINE double pick(bool c, double a, double b) {
  const uint64_t m = uint64_t{0} - static_cast<uint64_t>(c);
  return double_of((bits_of(a) & m) | (bits_of(b) & ~m));
}

// ---------------------------------------------------------------------------------------------------
// Exponentials. Each writes 2^n as the bits (n + bias) << mantissa-width, taken from the low bits of
// t = v + (1.5·2^mant + bias): adding that constant rounds v to the integer n and leaves n + bias in
// t's low mantissa bits (the classic "magic number" rounding; round-to-nearest, as every target runs).
// No lookup tables (a gather is slower than the polynomial on every clone) and no FMA (see above).

constexpr float kMagicF = 12583039.0f;             // 1.5·2^23 + 127
constexpr double kMagicD = 6755399441056767.0;     // 1.5·2^52 + 1023

/// 2^u in f32: 2^f·2^n with n = round(u), f = u − n ∈ [−½, ½] (exact), and 2^f = 1 + f·q(f), q of
/// degree 4 (a relative minimax fit, 9.2e-8 before rounding; 2^0 = 1 exactly). Within 2.5 ulp for
/// −126 ≤ u ≤ 127. The exponent n + 127 is clamped to [0, 254] as an integer (vpmaxsd/vpminsd: no float
/// compares, which GCC turns into masks over the whole polynomial): 0 below −126.5 (no subnormals),
/// 2^127·2^f at most; NaN and ±∞ give NaN (f = u − n is NaN), which callers use to spot them.
NK_HD NK_FORCEINLINE float exp2_f32(float u) {
  const float t = u + kMagicF;
  const float n = t - kMagicF;
  const float f = u - n;
  // Estrin's scheme, not Horner's: a shorter dependency chain, which is what limits the block loops (their
  // independent iterations wait in the scheduler behind it).
  const float f2 = f * f;
  const float q = (0.693147003650665f + f * 0.240222424268723f) +
                  f2 * ((0.0555073395371437f + f * 0.00967151392251253f) + f2 * 0.00132647145073861f);
  // t's low mantissa bits hold n + 127 for |u| < 2^22 (beyond, f is not small and the result is garbage
  // that the callers' range never reaches: |u| ≤ 2^22 would need logits 4e6/τ apart in one row).
  int32_t e = static_cast<int32_t>(bits_of(t)) - 0x4B400000;
  e = e > 0 ? e : 0;
  e = e < 254 ? e : 254;
  return (1.0f + f * q) * float_of(static_cast<uint32_t>(e) << 23);
}

/// 2^u in f32 for u ≤ 0 on x86-64-v4 CPUs (the f32 forward's AVX-512 path, native/src/pg/logits.cc, and
/// the portable loop it is tested against): 2^f·2^n with n = floor(u), f = u − n ∈ [0, 1) (exact), and
/// 2^f = 1 + f·q(f), q of degree 4 (a relative minimax fit on [0, 1], 7.0e-8 before rounding) in
/// Horner's form, five fused multiply-adds; then p·2^n rounded once, to a subnormal below 2^−126 and to 0
/// below 2^−150 (vscalefps). That is exp2_f32's reduction on a floor instead of a round: vreduceps gives
/// f in one instruction and vscalefps takes u itself (it floors its exponent operand), so no n is formed
/// and no clamp masks the polynomial (the forward is bound by its vector operations, docs/pg.md §5).
/// Within 3 ulp (2^-24 units; measured 2.85) for −126 ≤ u ≤ 0. −∞ and NaN give NaN here (f = u − n is
/// NaN); vreduceps may give the AVX-512 path 0 for −∞ instead (its blocks spot a −∞ logit another way).
/// Elsewhere the plain exp2_f32 runs, so f32 log-probs may differ in the last ulps between an AVX-512
/// machine and one without (docs/pg.md §5).
NK_HD NK_FORCEINLINE float exp2_f32_fma(float u) {
  const float n = floorf(u);
  const float f = u - n;
  float p = fmaf(0.00187183299567550421f, f, 0.00900773797184228897f);
  p = fmaf(p, f, 0.0558050721883773804f);
  p = fmaf(p, f, 0.240164190530776978f);
  p = fmaf(p, f, 0.693151056766510010f);
  p = fmaf(p, f, 1.0f);
  // p·2^n in one rounding: p·2^(n+64) is exact (a normal number for n ≥ −160), and the product with 2^−64
  // rounds it, as vscalefps does; below n = −160 the result is 0 either way. (The select sends NaN to −160.)
  const float nc = n > -160.0f ? n : -160.0f;
  const float up = float_of(static_cast<uint32_t>(static_cast<int32_t>(nc) + 64 + 127) << 23);
  return (p * up) * 5.42101086242752217e-20f;  // 2^−64
}

/// e^x = 2^n·(1 + r + h) in f32, with the parts: n = round(x/ln2) and r = x − n·ln2 (Cody–Waite, ln2
/// split so n·C1 is exact; r = x exactly when n = 0), h = r²·p(r) ≈ e^r − 1 − r with p a relative minimax
/// fit of degree 4 (1.3e-7). e is within 2 ulp; for n = 0, h is e^x − 1 − x within ~3 ulp of itself (no
/// cancellation, which the k3 KL value needs near x = 0). Valid for −87.33 ≤ x ≤ 88.37, garbage outside.
/// Fma: n, r and p by fused multiply-adds (the f32 loss kernels on x86-64-v4 CPUs, native/src/pg/loss.cc:
/// 6 operations fewer; each rounds once where the plain form rounds twice, so within the same bounds,
/// which native/test/pg_test.hpp checks for both). Results may then differ from the plain form's in
/// the last ulps, and n may differ by one at a tie of x/ln2 (either n is a valid reduction).
struct ExpParts {
  float e, h, n;
};

template <bool Fma = false>
NK_HD NK_FORCEINLINE ExpParts exp_parts_f32(float x) {
  float t, n, r, p;
  if constexpr (Fma) {
    t = fmaf(x, 1.44269504088896341f, kMagicF);
    n = t - kMagicF;
    r = fmaf(n, 2.12194440e-4f, fmaf(-n, 0.693359375f, x));
    p = fmaf(r, fmaf(r, fmaf(r, fmaf(r, 0.001390127930790186f, 0.008363140746951103f), 0.04166685417294502f),
                     0.16666577756404877f),
             0.5f);
  } else {
    t = x * 1.44269504088896341f + kMagicF;
    n = t - kMagicF;
    r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    p = 0.5f + r * (0.16666577756404877f + r * (0.04166685417294502f + r * (0.008363140746951103f + r * 0.001390127930790186f)));
  }
  const float h = (r * r) * p;
  return ExpParts{(1.0f + (r + h)) * float_of(bits_of(t) << 23), h, n};
}

/// e^x in f32 for −87.33 ≤ x ≤ 88.37 (exp_parts_f32), unguarded.
template <bool Fma = false>
NK_HD NK_FORCEINLINE float exp_f32_core(float x) {
  return exp_parts_f32<Fma>(x).e;
}

/// e^x in f32 for any x: exp_parts_f32 with the exponent n + 127 clamped to [0, 254] as an integer (as
/// exp2_f32, and for the same reason): 0 below −87.7 (no subnormals), at most 2^127·e^r, NaN for NaN.
NK_HD NK_FORCEINLINE float exp_f32(float x) {
  const float t = x * 1.44269504088896341f + kMagicF;
  const float n = t - kMagicF;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  const float p =
      0.5f + r * (0.16666577756404877f + r * (0.04166685417294502f + r * (0.008363140746951103f + r * 0.001390127930790186f)));
  int32_t e = static_cast<int32_t>(bits_of(t)) - 0x4B400000;
  e = e > 0 ? e : 0;
  e = e < 254 ? e : 254;
  return (1.0f + (r + (r * r) * p)) * float_of(static_cast<uint32_t>(e) << 23);
}

/// The shared tail of exp_f64 and exp2_f64: e^r by its Taylor series to r¹³ (Horner), times 2^n, with t
/// the magic-number sum that holds n in its low bits and the exponent clamped as an integer to [0, 2046].
NK_HD NK_FORCEINLINE double exp_series_scaled(double t, double r) {
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = 1.0 / 479001600.0 + r * p;
  p = 1.0 / 39916800.0 + r * p;
  p = 1.0 / 3628800.0 + r * p;
  p = 1.0 / 362880.0 + r * p;
  p = 1.0 / 40320.0 + r * p;
  p = 1.0 / 5040.0 + r * p;
  p = 1.0 / 720.0 + r * p;
  p = 1.0 / 120.0 + r * p;
  p = 1.0 / 24.0 + r * p;
  p = 1.0 / 6.0 + r * p;
  p = 0.5 + r * p;
  p = 1.0 + r * p;
  int64_t e = static_cast<int64_t>(bits_of(t)) - 0x4338000000000000LL;
  e = e > 0 ? e : 0;
  e = e < 2046 ? e : 2046;
  return (1.0 + r * p) * double_of(static_cast<uint64_t>(e) << 52);
}

/// e^x in f64: Cody–Waite with fdlibm's split of ln2 (n·ln2_hi exact for |n| < 2^21), then the Taylor
/// series of degree 13 on |r| ≤ ½ln2 (truncation 4e-18). Within 1 ulp plus the Horner rounding
/// (measured ≤ 2 ulp, native/test/pg_test.hpp); the exponent clamped as an integer to [0, 2046] (as
/// exp2_f32): 0 below −708.4 (no subnormals), NaN for NaN.
NK_HD NK_FORCEINLINE double exp_f64(double x) {
  const double t = x * 1.4426950408889634 + kMagicD;
  const double n = t - kMagicD;
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  return exp_series_scaled(t, r);
}

/// 2^u in f64: as exp2_f32, reduced in base 2 (f = u − n exact, then e^(f·ln2) by the series above),
/// the exponent clamped as an integer to [0, 2046]: 0 below −1022.5, NaN for NaN and ±∞.
NK_HD NK_FORCEINLINE double exp2_f64(double u) {
  const double t = u + kMagicD;
  const double n = t - kMagicD;
  const double r = (u - n) * 0.69314718055994531;
  return exp_series_scaled(t, r);
}

NK_HD NK_FORCEINLINE float exp2_any(float u) { return exp2_f32(u); }
NK_HD NK_FORCEINLINE double exp2_any(double u) { return exp2_f64(u); }
NK_HD NK_FORCEINLINE float exp_any(float x) { return exp_f32(x); }
NK_HD NK_FORCEINLINE double exp_any(double x) { return exp_f64(x); }

// ---------------------------------------------------------------------------------------------------
// Forward: the running log-sum-exp of a row

/// Elements per block: 8 KiB of f32 (16 KiB of f64) stay in L1 between the max pass and the sum pass.
constexpr size_t kLogitsBlock = 2048;

/// A row's running sums, relative to its running maximum M (in z = x/τ units, nats):
/// S = Σ e^(z − M), T = Σ e^(z − M)·(z − M) ≤ 0. Empty: M = −∞, S = T = 0.
struct LseState {
  double M;
  double S;
  double T;
};

NK_HD NK_FORCEINLINE LseState lse_empty() { return LseState{-INFINITY, 0.0, 0.0}; }

/// Folds one block (its maximum mb in z units, and Sb, Tb relative to it, Tb in nats) into the running
/// state: the side with the smaller maximum is rescaled by e^(its M − the larger M), once per block, and
/// its T shifted by (its M − the larger M)·S (T is relative to the maximum).
NK_HD NK_FORCEINLINE LseState lse_fold(LseState a, double mb, double Sb, double Tb) {
  if (!(Sb > 0)) return a;  // an empty block
  if (!(a.S > 0)) return LseState{mb, Sb, Tb};
  if (mb > a.M) {
    const double d = a.M - mb;  // < 0
    const double f = exp(d);
    return LseState{mb, a.S * f + Sb, (a.T + d * a.S) * f + Tb};
  }
  const double d = mb - a.M;  // ≤ 0
  const double f = exp(d);
  return LseState{a.M, a.S + Sb * f, a.T + (Tb + d * Sb) * f};
}

/// lse, logp = z_target − lse and H = log S − T/S of a finished row.
struct RowResult {
  double lse;
  double logp;
  double entropy;
};

NK_HD NK_FORCEINLINE RowResult lse_finish(LseState s, double z_target) {
  const double ls = log(s.S);
  const double lse = s.M + ls;
  return RowResult{lse, z_target - lse, ls - s.T / s.S};
}

// ---------------------------------------------------------------------------------------------------
// Backward: ∂x_j = (gL·(δ_{j,target} − p_j) − gH·p_j·(log p_j + H)) / τ, p_j = e^(x_j/τ − lse)

/// The per-row constants of the backward: log p_j = ((x_j − c_hi) − c_lo)·inv_tau with c = τ·lse split
/// into c_hi + c_lo in T (so x_j − c_hi is exact where p_j matters, x_j near c), and
/// ∂x_j = p_j·(a + b·log p_j) off the target, a = −(gL + gH·H)/τ, b = −gH/τ.
template <class T>
struct BackwardRow {
  T c_hi, c_lo, inv_tau, a, b;
};

template <class T>
NK_HD NK_FORCEINLINE BackwardRow<T> backward_row(double lse, double H, double gL, double gH, double tau) {
  const double c = tau * lse;
  const T c_hi = static_cast<T>(c);
  const T c_lo = static_cast<T>(c - static_cast<double>(c_hi));
  return BackwardRow<T>{c_hi, c_lo, static_cast<T>(1.0 / tau), static_cast<T>(-(gL + gH * H) / tau),
                        static_cast<T>(-gH / tau)};
}

/// ∂x_j off the target. With gH = 0 the b term vanishes (HasH = false skips it, and a NaN-free b·log p).
template <bool HasH, class T>
NK_HD NK_FORCEINLINE T backward_element(T x, const BackwardRow<T>& k) {
  const T lp = ((x - k.c_hi) - k.c_lo) * k.inv_tau;
  const T p = exp_any(lp);
  return HasH ? p * (k.a + k.b * lp) : p * k.a;
}

/// ∂x at the target, in f64 from the oracle's formula, with 1 − p as −expm1(log p) (no cancellation as
/// p → 1).
NK_HD NK_FORCEINLINE double backward_target(double x, double lse, double H, double gL, double gH, double tau) {
  const double lp = x / tau - lse;
  const double p = exp(lp);
  return (gL * -expm1(lp) - gH * p * (lp + H)) / tau;
}

// ---------------------------------------------------------------------------------------------------
// CPU kernels (native/src/pg/logits.cc). `threads` is a request (parallel.hpp); rows are split in
// contiguous equal ranges and never share a sum, so no result depends on the thread count.

/// Whether the f32 forward (token_logprobs) runs its AVX-512 block loop (written with intrinsics; the
/// CPU supports x86-64-v4 and use_portable_kernels has not turned it off). It computes the operations of
/// the portable loop with exp2_f32_fma in the same order, and that loop compiled for x86-64-v4 is what
/// the portable kernels run on such a CPU, so the results are the same bits either way. (CPUs without
/// x86-64-v4 run exp2_f32, unfused: their bits may differ in the last ulps, docs/pg.md §5.)
bool avx512_kernels();
// numkern::cpu_x86_64_v4() (common.hpp): on such a CPU the f32 kernels of the pg family fuse their
// multiply-adds (exp2_f32_fma, exp_parts_f32<true>), whatever use_portable_kernels says.
/// Test hook (native/test/pg_test.hpp): true runs the portable loop (GCC's clones) even where the
/// AVX-512 one could run. Process-wide; not for concurrent use with running kernels.
void use_portable_kernels(bool on);

/// Fills logp[n], lse[n] and, when entropy is not null, entropy[n] for rows n < nrows of the row-major
/// [nrows × vocab] logits. Returns −1, or the smallest flat index of a non-finite logit (outputs are then
/// unspecified), or −2 when a target is outside [0, vocab) (checked again here, never followed).
template <class T>
int64_t token_logprobs(const T* logits, int64_t nrows, int64_t vocab, const int32_t* targets, double temperature,
                       T* logp, T* lse, T* entropy, int threads);

/// grad[n·V + j] = ∂L/∂x of row n (formula above); gradLogp / gradEntropy null count as 0 (entropy may be
/// null iff gradEntropy is). grad may be logits itself (in place), but no other overlap. Returns false
/// when a target is outside [0, vocab) (grad is then unspecified).
template <class T>
bool token_logprobs_backward(const T* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                             double temperature, const T* lse, const T* entropy, const T* gradLogp,
                             const T* gradEntropy, T* grad, int threads);

}  // namespace pg
}  // namespace numkern
