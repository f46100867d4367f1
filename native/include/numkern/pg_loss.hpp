// pgPolicyLoss (src/pg/ops.ts): the fused policy-gradient loss of verl and TRL over a ragged or padded
// batch of token log-probs, its gradient ∂loss/∂logp (and ∂loss/∂H) and the logged statistics, in one
// pass (docs/pg.md §2–§4, §8, §9; verl core_algos.py compute_policy_loss / kl_penalty and TRL
// grpo_trainer.py _compute_loss, /work/shared/reference/policy-gradient.md §1–2). The per-token
// arithmetic below is shared by the CPU kernels (native/src/pg/loss.cc) and a CUDA launcher.
//
// The f64 kernel evaluates every token with policy_token<double> and kl_token<double> with the libm exp,
// in the expressions of the oracle (src/backends/js/pg/loss.ts), so each token is within ~1 ulp of it.
//
// The f32 kernel evaluates tokens in f32 lanes (exp_parts_f32, pg_logits.hpp), and so decides the clip,
// dual-clip, ratio-cap, log-ratio-clamp and k3-clamp branches from f32 values. Every token whose f32
// values lie within kGuard (relative, in log-ratio space) of a branch boundary, or outside the range
// where f32 is accurate enough (|Δ| or an unclamped |ref − logp| ≥ 80, |ℓ| ≥ 1e30, a k1/abs argument ≥
// 1e30 or a k2 one ≥ 1e15), is evaluated again in f64 (needs_f64 below). Near a boundary the f32 error
// of Δ and of e^Δ is ≤ 2 ulp + |Δ|·1 ulp ≈ 5e-6 even at |Δ| = 80, below kGuard = 1e-5, so every branch
// the f32 kernel takes is the one the f64 oracle takes on the same inputs, and the counts (clip
// fractions) are exact. Values then differ from the oracle's by f32 rounding only: per token within ~6 ulp
// (7e-7 relative) for ℓ, r, ∂ℓ and the k3 value (near k = 0 taken from the exponential's parts, which
// avoid e − k − 1's cancellation; elsewhere ≤ 3e-6). Sums are added in 16 f32 lanes over a chunk of
// kChunk = 512 tokens (32 terms a lane, ≤ 2e-6 relative), then per sequence and across sequences in f64,
// so the loss and the means are within ~1e-6 relative of the oracle's (absent cancellation between
// tokens of opposite sign, which bounds the error by 1e-6 of Σ|term| instead).
#pragma once

#include <cmath>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/pg_logits.hpp"

namespace numkern {
namespace pg {

/// Schulman's estimators, with the codes of KL_CODES in src/pg/ops.ts (KlNone: no KL term).
enum KlCode : int { KlNone = -1, KlK1 = 0, KlAbs = 1, KlK2 = 2, KlK3 = 3 };

/// The arrays checked for non-finite values, in the order of PG_LOSS_ARRAYS (src/pg/ops.ts).
enum LossArray : int { kArrLogp = 0, kArrOld = 1, kArrRef = 2, kArrAdv = 3, kArrEntropy = 4, kNumLossArrays = 5 };
inline constexpr const char* kLossArrayNames[kNumLossArrays] = {"logp", "oldLogp", "refLogp", "advantages", "entropy"};

/// PgAggregation with its denominator resolved to a number (the caller knows the batch's totals).
struct Aggregation {
  bool per_sequence_mean;
  bool floor_one;      // len_i = max(L_i, 1) (TRL), else L_i + 1e-8 (verl)
  double denominator;  // D > 0
  double scale;
};

/// w = scale / (D·len_i) for a sequence with L active positions (PgAggregation in ops.ts).
NK_HD NK_FORCEINLINE double aggregation_weight(const Aggregation& a, int64_t L) {
  const double l = static_cast<double>(L);
  const double len = !a.per_sequence_mean ? 1.0 : a.floor_one ? (l > 1.0 ? l : 1.0) : l + 1e-8;
  return a.scale / (a.denominator * len);
}

struct LossParams {
  double clip_low, clip_high, dual_clip, ratio_cap, log_ratio_clamp;
  int kl;  // KlCode
  double kl_coef;
  bool kl_clamp;
  double entropy_coef;
  Aggregation agg, entropy_agg;
  bool advantage_per_token;
  bool ignore_inactive_nonfinite;
};

// ---------------------------------------------------------------------------------------------------
// One token

/// The constants of a call in the working precision: clip range [lo, hi] = [1 − clipLow, 1 + clipHigh],
/// dual clip c, cap δ, log-ratio clamp Lc, and the k3 clamps kmax = 20, vmax = 10 (∞ without klClamp).
/// Options are numbers, never bools: an absent dual clip is c = ∞ (then −A·c < ℓ never holds), an absent
/// clamp an infinite bound. A loop-invariant bool in the token loop makes GCC unswitch it into versions
/// some of which it cannot vectorize.
template <class F>
struct RatioConsts {
  F lo, hi, c, cap, lc, kmax, vmax;
};

template <class F>
inline RatioConsts<F> ratio_consts(const LossParams& p) {
  const double c = std::isfinite(p.dual_clip) ? p.dual_clip : INFINITY;
  return RatioConsts<F>{static_cast<F>(1.0 - p.clip_low), static_cast<F>(1.0 + p.clip_high), static_cast<F>(c),
                        static_cast<F>(p.ratio_cap),      static_cast<F>(p.log_ratio_clamp),
                        static_cast<F>(p.kl_clamp ? 20.0 : INFINITY), static_cast<F>(p.kl_clamp ? 10.0 : INFINITY)};
}

/// The ratio's exponential: libm's in f64 (the oracle's Math.exp, both within 1 ulp), exp_f32_core in f32.
NK_HD NK_FORCEINLINE double ratio_exp(double x) { return exp(x); }
NK_HD NK_FORCEINLINE float ratio_exp(float x) { return exp_f32_core(x); }  // |x| < 80, else the guard

template <class F>
struct PolicyToken {
  F draw;       // logp − old
  F neg_delta;  // −Δ, Δ the clamped log-ratio
  F r;          // e^Δ
  F ell;        // the clipped loss ℓ
  F dl;         // ∂ℓ/∂logp
  int high, low, dual;  // 0 or 1
};

/// Δ = clamp(logp − old, −Lc, Lc).
template <class F>
NK_HD NK_FORCEINLINE F clamped_log_ratio(F draw, const RatioConsts<F>& k) {
  const F above = draw > -k.lc ? draw : -k.lc;
  return above < k.lc ? above : k.lc;
}

/// ℓ and ∂ℓ/∂logp of one token with advantage A (common.md semantics; verl compute_policy_loss_vanilla
/// with dual clip, TRL's δ cap on coef_1 with coef_2 clipped from the uncapped ratio). Ties l1 = l2 go to
/// l1, as in verl and Liger, so the gradient flows there.
/// Shapes chosen so a loop over tokens vectorizes: every min and max is written `a > b ? a : b` (one
/// vminps/vmaxps; it differs from Math.min/max only for NaN, which the non-finite check reports), and
/// conditions are chains of selects, not && / || (GCC keeps those as branches, "control flow in loop").
/// This is policy_token given the raw log-ratio, its clamp Δ and r = e^Δ (the f32 kernel takes the
/// exponentials in a loop of their own).
template <class F>
NK_HD NK_FORCEINLINE PolicyToken<F> policy_from_ratio(F draw, F d, F r, F A, const RatioConsts<F>& k) {
  PolicyToken<F> o;
  o.draw = draw;
  o.neg_delta = -d;
  o.r = r;
  const F rc = r < k.cap ? r : k.cap;
  const F rlo = r > k.lo ? r : k.lo;
  const F rcl = rlo < k.hi ? rlo : k.hi;
  const F nA = -A;
  const F l1 = nA * rc;
  const F l2 = nA * rcl;
  const F lc = l2 > l1 ? l2 : l1;
  const F l3 = nA * k.c;
  const bool dual = (A < F(0)) & (l3 < lc);
  o.dual = static_cast<int>(dual);
  o.ell = dual ? l3 : lc;
  // Selects pick values, never expressions: arithmetic in a select arm "could trap" (-ftrapping-math),
  // so GCC will not if-convert it without AVX-512's masked arithmetic, and the AVX2 clone stays scalar.
  // Hence the gradient's factor is selected, then multiplied (by a finite r, so 0·r = 0).
  F coef = l1 >= l2 ? nA : F(0);
  coef = dual ? F(0) : coef;
  coef = std::fabs(draw) <= k.lc ? coef : F(0);
  coef = r <= k.cap ? coef : F(0);
  o.dl = coef * r;
  // Flags as 0/1 ints combined with & (a ?: on ints becomes a conditional update, and a count of it
  // does not vectorize).
  const int clipped = static_cast<int>(l2 > l1);
  o.high = static_cast<int>(A > F(0)) & clipped;
  o.low = static_cast<int>(A < F(0)) & clipped;
  return o;
}

template <class F>
NK_HD NK_FORCEINLINE PolicyToken<F> policy_token(F logp, F old, F A, const RatioConsts<F>& k) {
  const F draw = logp - old;
  const F d = clamped_log_ratio(draw, k);
  return policy_from_ratio(draw, d, ratio_exp(d), A, k);
}

template <class F>
struct KlToken {
  F k;  // the estimator's argument: logp − ref (k1, abs, k2) or ref − logp (k3)
  F v;  // value
  F g;  // ∂v/∂logp
};

/// The KL estimator Kl of one token (common.md; verl kl_penalty, with its k3 clamps when klClamp).
/// Series (f32): near k' = 0 the k3 value and gradient come from the exponential's parts (below), where
/// e − k' − 1 and 1 − e would cancel down to the f32 exp's absolute error. f64 (Series false) uses the
/// oracle's expressions. Fma: the f32 exponential by exp_parts_f32<true> (x86-64-v4 CPUs).
template <int Kl, bool Series, bool Fma = false, class F>
NK_HD NK_FORCEINLINE KlToken<F> kl_token(F logp, F ref, const RatioConsts<F>& c) {
  KlToken<F> o;
  if constexpr (Kl == KlK3) {
    o.k = ref - logp;
    const F kabove = o.k > -c.kmax ? o.k : -c.kmax;
    const F kc = kabove < c.kmax ? kabove : c.kmax;
    F e, raw, g;
    if constexpr (Series) {
      // For |k'| ≤ ½ln2 (n = 0) the exponential's own h is e^k' − 1 − k' without the cancellation of
      // (e − k') − 1; g = 1 − e = −(k' + h). Beyond, (e − k') − 1 ≥ 0.06 loses at most 3e-6 relative.
      const ExpParts x = exp_parts_f32<Fma>(kc);
      e = x.e;
      const bool small = x.n == F(0);
      raw = pick(small, x.h, (e - kc) - F(1));
      g = pick(small, -(kc + x.h), F(1) - e);
    } else {
      e = ratio_exp(kc);
      raw = (e - kc) - F(1);
      g = F(1) - e;
    }
    // verl's clamps: the value is capped at 10, and no gradient flows where either clamp is active.
    // pick (pg_logits.hpp): with ?: GCC sinks 1 − e into a branch and the AVX2 clone stays scalar.
    o.v = raw > c.vmax ? c.vmax : raw;
    o.g = pick((raw > c.vmax) | (o.k > c.kmax) | (o.k < -c.kmax), F(0), g);
  } else {
    o.k = logp - ref;
    if constexpr (Kl == KlK1) {
      o.v = o.k;
      o.g = F(1);
    } else if constexpr (Kl == KlAbs) {
      o.v = std::fabs(o.k);
      o.g = pick(o.k != F(0), std::copysign(F(1), o.k), F(0));  // sign(d), 0 at 0 (a bit operation)
    } else {
      o.v = o.k * o.k / F(2);
      o.g = o.k;
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------
// The f32 kernel's guard (see the top of this file)

/// Relative margin around every branch boundary inside which a token is redone in f64.
constexpr double kGuard = 1e-5;

/// The boundaries in f32. An absent one (no clip, cap, dual clip or clamp) is ±∞, which no finite value
/// comes near. Ratio boundaries are compared in log-ratio space, where the f32 error is absolute.
struct Guard {
  float b_lo, b_hi, b_cap, b_c;  // log(1 − clipLow), log(1 + clipHigh), log δ, log c
  float m_ratio;                 // their margin: kGuard·max(1, |b|) over the four
  float lc, m_lc;                // |logp − old| against Lc
  float k20, k_root_hi, k_root_lo, m_k;  // verl's k3 clamps: |ref − logp| = 20, e^k − k − 1 = 10
  float kbig;                    // |ref − logp| past which an unclamped k3 leaves the f32 range
  // A cheaper, sufficient test for the CPU's AVX-512 loop (native/src/pg/loss_avx512.hpp): a token with
  // |logp − old| < r_safe and (k3) |ref − logp| < k_safe lies outside every margin above by at least
  // one more margin plus 0.1 % (make_guard), so needs_f64 is 0 for it; only a group of 16 tokens with one
  // outside those radii (a clipped token, say) takes the full test. 0 when some boundary sits at 0.
  float r_safe, k_safe;
};

/// The two roots of e^k − k − 1 = 10 (Newton from 2.5 and −11, in f64).
inline void k3_clamp_roots(double& hi, double& lo) {
  hi = 2.5;
  lo = -11.0;
  for (int i = 0; i < 60; ++i) {
    hi -= (std::exp(hi) - hi - 11.0) / (std::exp(hi) - 1.0);
    lo -= (std::exp(lo) - lo - 11.0) / (std::exp(lo) - 1.0);
  }
}

inline Guard make_guard(const LossParams& p) {
  const auto log_of = [](double b) { return b > 0 ? std::log(b) : -INFINITY; };
  const auto scale = [](double b) { return std::isfinite(b) ? std::fmax(1.0, std::fabs(b)) : 1.0; };
  Guard g;
  const double b[4] = {log_of(1.0 - p.clip_low), log_of(1.0 + p.clip_high), log_of(p.ratio_cap),
                       std::isfinite(p.dual_clip) ? log_of(p.dual_clip) : INFINITY};
  double sc = 1.0;
  for (double v : b) sc = std::fmax(sc, scale(v));
  g.b_lo = static_cast<float>(b[0]);
  g.b_hi = static_cast<float>(b[1]);
  g.b_cap = static_cast<float>(b[2]);
  g.b_c = static_cast<float>(b[3]);
  g.m_ratio = static_cast<float>(kGuard * sc);
  g.lc = static_cast<float>(p.log_ratio_clamp);
  g.m_lc = static_cast<float>(kGuard * scale(p.log_ratio_clamp));
  double rh, rl;
  k3_clamp_roots(rh, rl);
  if (p.kl_clamp) {
    g.k20 = 20.0f;
    g.k_root_hi = static_cast<float>(rh);
    g.k_root_lo = static_cast<float>(rl);
    g.kbig = INFINITY;  // |k'| ≤ 20
  } else {
    g.k20 = g.k_root_hi = g.k_root_lo = INFINITY;
    g.kbig = 80.0f;
  }
  g.m_k = static_cast<float>(kGuard * 20.0);
  // The radii of the cheaper test: 0.999 of the distance to the nearest boundary less two margins, so a
  // token inside is farther than one margin from each even after f32 rounding of d − b (≤ 1 ulp).
  double rb = 79.0;
  for (double v : b)
    if (std::isfinite(v)) rb = std::fmin(rb, std::fabs(static_cast<double>(static_cast<float>(v))) - 2.0 * g.m_ratio);
  rb = std::fmin(rb, static_cast<double>(g.lc) - 2.0 * g.m_lc);
  g.r_safe = rb > 0 ? static_cast<float>(0.999 * rb) : 0.0f;
  double kb = p.kl_clamp ? std::fmin(20.0, std::fmin(rh, -rl)) - 2.0 * g.m_k : 79.0;
  g.k_safe = kb > 0 ? static_cast<float>(0.999 * kb) : 0.0f;
  return g;
}

/// Whether the f32 parameters themselves blur two boundaries that differ in f64 (say c and 1 + clipHigh
/// within f32 resolution): no margin can then tell the f32 branches apart, so the whole call runs in f64.
inline bool f32_params_ambiguous(const LossParams& p) {
  const double b[] = {1.0 - p.clip_low, 1.0 + p.clip_high, p.dual_clip, p.ratio_cap};
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      if (b[i] != b[j] && static_cast<float>(b[i]) == static_cast<float>(b[j])) return true;
  return false;
}

/// min(s, x) as one vminps; a NaN x leaves s.
NK_HD NK_FORCEINLINE float low_of(float s, float x) { return x < s ? x : s; }

/// 1 when a token's f32 evaluation may take another branch than f64, or leave the f32 range (top of
/// file), else 0. Every test is a distance folded into one slack by low_of and read off its sign bit: the
/// loop stays free of branches and of mask chains, which GCC would otherwise thread into conditional
/// blocks it cannot vectorize. A NaN (only from non-finite input, reported) flags nothing; a slack of
/// exactly +0 (on the margin) neither.
template <int Kl>
NK_HD NK_FORCEINLINE int needs_f64(const PolicyToken<float>& t, const KlToken<float>& kl, const Guard& g) {
  const float d = -t.neg_delta;
  // A tree, not a chain, of minima: the chain's latency is what the out-of-order window has to hide.
  const float near = low_of(low_of(std::fabs(d - g.b_lo), std::fabs(d - g.b_hi)),
                            low_of(std::fabs(d - g.b_cap), std::fabs(d - g.b_c)));
  float s = low_of(low_of(near - g.m_ratio, std::fabs(std::fabs(t.draw) - g.lc) - g.m_lc),
                   low_of(80.0f - std::fabs(d), 1e30f - std::fabs(t.ell)));
  // Range: |∂ℓ| = |ℓ| wherever ∂ℓ ≠ 0 (then ℓ = l1 = −A·r); a k3 value and gradient are bounded by e^80
  // once |k| ≤ 80 (or |k'| ≤ 20); k1, abs and k2 are bounded through their argument.
  if constexpr (Kl == KlK1 || Kl == KlAbs) s = low_of(s, 1e30f - std::fabs(kl.k));
  if constexpr (Kl == KlK2) s = low_of(s, 1e15f - std::fabs(kl.k));
  if constexpr (Kl == KlK3) {
    const float ak = std::fabs(kl.k);
    float nk = std::fabs(ak - g.k20);
    nk = low_of(nk, std::fabs(kl.k - g.k_root_hi));
    nk = low_of(nk, std::fabs(kl.k - g.k_root_lo));
    s = low_of(s, nk - g.m_k);
    s = low_of(s, g.kbig - ak);
  }
  return static_cast<int>(bits_of(s) >> 31);
}

// ---------------------------------------------------------------------------------------------------
// CPU kernels (native/src/pg/loss.cc)

/// The batch as the kernel reads it (PgLayout in ops.ts). Per-token arrays hold ntok = offsets[nseq]
/// entries; ref is null without KL, entropy and grad_entropy null without the entropy term; adv holds
/// nseq entries, or ntok when advantage_per_token.
template <class T>
struct LossArrays {
  int32_t nseq;
  const int32_t* offsets;
  const int32_t* lengths;
  const uint8_t* mask;  // null: every position below lengths[i] is active
  int64_t ntok;
  const T* logp;
  const T* old;
  const T* ref;
  const T* adv;
  const T* entropy;
  T* grad;
  T* grad_entropy;
};

/// What a range of sequences contributes. The loss is policy + klCoef·kl − entropyCoef·entropy; the
/// means divide the unweighted sums by the batch's tokens.
struct LossSums {
  double policy = 0, kl = 0, entropy = 0;                          // Σ w·ℓ, Σ w·v, Σ wH·H
  double ratio = 0, neg_log_ratio = 0, kl_value = 0, entropy_value = 0;  // Σ r, Σ −Δ, Σ v, Σ H
  int64_t high = 0, low = 0, dual = 0, tokens = 0, sequences = 0;
  int64_t nonfinite[kNumLossArrays] = {-1, -1, -1, -1, -1};  // smallest index per array, −1 for none
};

/// One sequence's slot of the loss pass, written by the CPU and CUDA kernels alike and added into LossSums
/// in sequence order (so no sum depends on the thread count or the device): Σ w·ℓ, Σ w·v, Σ wH·H, Σ r,
/// Σ −Δ, Σ v, Σ H, from the sequence's unweighted sums and its weights w, wH.
constexpr int kLossSlots = 7;

NK_HD inline void write_loss_slot(double* slot, double w, double wH, double ell, double v, double h, double r,
                                  double nd) {
  slot[0] = w * ell;
  slot[1] = w * v;
  slot[2] = wH * h;
  slot[3] = r;
  slot[4] = nd;
  slot[5] = v;
  slot[6] = h;
}

inline void add_loss_slot(LossSums& out, const double* slot) {
  out.policy += slot[0];
  out.kl += slot[1];
  out.entropy += slot[2];
  out.ratio += slot[3];
  out.neg_log_ratio += slot[4];
  out.kl_value += slot[5];
  out.entropy_value += slot[6];
}

/// Sequences [s0, s1): writes grad (and grad_entropy) at every position offsets[s0] .. offsets[s1] − 1
/// and returns their sums. Sums are formed per sequence and added in sequence order, so they do not
/// depend on the thread count. Returns false, outputs unspecified, when an offset or length read now is
/// out of range (the caller checked them; they are re-checked where they are followed).
template <class T>
bool policy_loss(const LossArrays<T>& a, const LossParams& p, int32_t s0, int32_t s1, LossSums& out, int threads);

/// Σ L_i (active positions) and #{i : L_i > 0} over sequences [s0, s1): the totals that resolve the
/// 'tokens' and 'sequences' denominators before any gradient is written. False on an out-of-range offset.
bool loss_counts(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask, int64_t ntok,
                 int32_t s0, int32_t s1, int64_t& tokens, int64_t& sequences, int threads);

}  // namespace pg
}  // namespace numkern
