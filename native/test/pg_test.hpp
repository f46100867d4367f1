// Standalone checks of the pg kernels (numkern/pg_loss.hpp, numkern/pg_logits.hpp), included by
// native_test.cc: the vectorized exponentials against libm, the policy loss in f32 and f64 against a
// plain f64 transcription of the semantics (tokens placed on every branch boundary included, where the
// f32 kernel must redo them in f64), non-finite reporting, thread invariance, index re-checks, and the
// streaming log-softmax forward and backward (in place too).
#pragma once

#undef NDEBUG  // plain asserts, never compiled out
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "numkern/pg_logits.hpp"
#include "numkern/pg_loss.hpp"

namespace pg_test {

using namespace numkern::pg;

/// Deterministic uniforms in [0, 1) (mulberry32, as test/support/backends.ts).
struct Rng {
  uint32_t a;
  double operator()() {
    a += 0x6d2b79f5u;
    uint32_t t = a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return static_cast<double>(t ^ (t >> 14)) / 4294967296.0;
  }
};

inline bool near_rel(double a, double b, double rtol, double atol) {
  return std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

// ---- exponentials ----

inline void test_exp() {
  double worst32 = 0, worst2 = 0, worst2_fma = 0, worst64 = 0, worst2_64 = 0, worst_h = 0;
  for (int i = 0; i <= 200000; ++i) {
    const double x = -87.0 + 175.0 * i / 200000.0;
    const float xf = static_cast<float>(x);
    const double ref = std::exp(static_cast<double>(xf));
    worst32 = std::max({worst32, std::fabs(exp_f32_core(xf) - ref) / ref, std::fabs(exp_f32(xf) - ref) / ref,
                        std::fabs(exp_f32_core<true>(xf) - ref) / ref});
    const float uf = static_cast<float>(-126.0 + 253.0 * i / 200000.0);
    const double ref2 = std::exp2(static_cast<double>(uf));
    worst2 = std::max(worst2, std::fabs(exp2_f32(uf) - ref2) / ref2);
    const float uf0 = static_cast<float>(-126.0 * i / 200000.0 - 1e-9 * i);  // exp2_f32_fma's domain, u ≤ 0
    const double ref0 = std::exp2(static_cast<double>(uf0));
    worst2_fma = std::max(worst2_fma, std::fabs(exp2_f32_fma(uf0) - ref0) / ref0);
    const double xd = -700.0 + 1400.0 * i / 200000.0 + 1e-7 * i;
    worst64 = std::max(worst64, std::fabs(exp_f64(xd) - std::exp(xd)) / std::exp(xd));
    const double ud = -1000.0 + 2000.0 * i / 200000.0 + 1e-7 * i;
    worst2_64 = std::max(worst2_64, std::fabs(exp2_f64(ud) - std::exp2(ud)) / std::exp2(ud));
    // h = e^x − 1 − x without cancellation for |x| ≤ ½ln2 (the k3 KL value near 0).
    const float hx = static_cast<float>(-0.34 + 0.68 * i / 200000.0);
    if (hx != 0.0f) {
      const double href = std::expm1(static_cast<double>(hx)) - static_cast<double>(hx);
      const ExpParts p = exp_parts_f32(hx), pf = exp_parts_f32<true>(hx);  // unfused and fused (x86-64-v4)
      assert(p.n == 0.0f && pf.n == 0.0f);
      worst_h = std::max({worst_h, std::fabs(p.h - href) / href, std::fabs(pf.h - href) / href});
    }
  }
  assert(worst32 < 2.5e-7);    // ≤ ~2 ulp
  assert(worst2 < 3.0e-7);
  assert(worst2_fma < 3.0e-7);  // the AVX-512 forward's (pg_logits.hpp): within 3 ulp
  // Ties f = ±½ of exp2_f32: the value at ½ is exactly twice the one at −½.
  assert(exp2_f32(0.5f) == 2.0f * exp2_f32(-0.5f));
  // exp2_f32_fma: exact at integers, then p·2^n rounded once into the subnormals (as vscalefps), 0 far below.
  for (int k = -149; k <= 0; ++k) assert(exp2_f32_fma(static_cast<float>(k)) == std::ldexp(1.0f, k));
  for (const float u : {-126.7f, -131.3f, -140.01f, -149.5f, -149.99f}) {
    const float f = u - std::floor(u);
    const float p = exp2_f32_fma(f);  // 2^f, in [1, 2)
    assert(exp2_f32_fma(u) == std::ldexp(p, static_cast<int>(std::floor(u))));
  }
  assert(exp2_f32_fma(-150.0f) == 0.0f && exp2_f32_fma(-200.0f) == 0.0f && exp2_f32_fma(-1e30f) == 0.0f);
  assert(std::isnan(exp2_f32_fma(NAN)) && std::isnan(exp2_f32_fma(-INFINITY)));
  assert(worst64 < 4.5e-16);   // ≤ 2 ulp
  assert(worst2_64 < 4.5e-16);
  assert(worst_h < 4.0e-7);
  assert(exp_f32(-100.0f) == 0.0f && exp2_f32(-200.0f) == 0.0f && exp_f64(-800.0) == 0.0);
  assert(exp2_f32(0.0f) == 1.0f && exp_f32_core(0.0f) == 1.0f && exp_f64(0.0) == 1.0);
  std::printf("pg exp: f32 %.2g, exp2 f32 %.2g (fused %.2g), f64 %.2g, exp2 f64 %.2g, k3 h %.2g (max relative error)\n",
              worst32, worst2, worst2_fma, worst64, worst2_64, worst_h);
}

// ---- policy loss ----

/// A batch: padded (offsets i·T) with ragged lengths and a mask, logp/old/ref/advantages/entropy.
struct Batch {
  int32_t nseq = 0;
  std::vector<int32_t> offsets, lengths;
  std::vector<uint8_t> mask;
  std::vector<double> logp, old, ref, adv, entropy;
  bool adv_per_token = false;
};

inline Batch make_batch(int32_t nseq, int32_t T, uint32_t seed, bool adv_per_token) {
  Rng r{seed};
  Batch b;
  b.nseq = nseq;
  b.adv_per_token = adv_per_token;
  b.offsets.resize(static_cast<size_t>(nseq) + 1);
  for (int32_t i = 0; i <= nseq; ++i) b.offsets[static_cast<size_t>(i)] = i * T;
  for (int32_t i = 0; i < nseq; ++i) b.lengths.push_back(i % 5 == 4 ? 0 : static_cast<int32_t>(T * (0.3 + 0.7 * r())));
  const size_t n = static_cast<size_t>(nseq) * static_cast<size_t>(T);
  for (size_t k = 0; k < n; ++k) {
    b.mask.push_back(r() < 0.85 ? 1 : 0);
    const double lp = -3.0 * r();
    b.logp.push_back(lp);
    b.old.push_back(lp + 0.5 * (r() - 0.5));
    b.ref.push_back(lp + 0.3 * (r() - 0.5));
    b.entropy.push_back(4.0 * r());
  }
  const size_t na = adv_per_token ? n : static_cast<size_t>(nseq);
  for (size_t k = 0; k < na; ++k) b.adv.push_back(2.0 * r() - 1.0);
  return b;
}

/// f32-rounded copy, so the f64 reference sees exactly what the f32 kernel reads.
inline void round_to_f32(Batch& b) {
  for (auto* v : {&b.logp, &b.old, &b.ref, &b.adv, &b.entropy})
    for (double& x : *v) x = static_cast<double>(static_cast<float>(x));
}

struct Ref {
  LossSums sums;
  std::vector<double> grad, gent;
};

/// The semantics (common.md), written out token by token in f64 with libm's exp.
inline Ref reference(const Batch& b, const LossParams& p, bool with_entropy = true) {
  Ref out;
  const size_t n = b.logp.size();
  out.grad.assign(n, 0.0);
  out.gent.assign(n, 0.0);
  LossSums& s = out.sums;
  const double lo = 1 - p.clip_low, hi = 1 + p.clip_high, c = p.dual_clip, cap = p.ratio_cap, Lc = p.log_ratio_clamp;
  for (int32_t i = 0; i < b.nseq; ++i) {
    const int64_t off = b.offsets[static_cast<size_t>(i)];
    int64_t L = 0;
    for (int64_t t = 0; t < b.lengths[static_cast<size_t>(i)]; ++t) L += b.mask[static_cast<size_t>(off + t)] != 0;
    const double w = aggregation_weight(p.agg, L), wH = aggregation_weight(p.entropy_agg, L);
    s.tokens += L;
    s.sequences += L > 0;
    for (int64_t t = 0; t < b.lengths[static_cast<size_t>(i)]; ++t) {
      const size_t k = static_cast<size_t>(off + t);
      if (!b.mask[k]) continue;
      const double A = b.adv_per_token ? b.adv[k] : b.adv[static_cast<size_t>(i)];
      const double draw = b.logp[k] - b.old[k];
      const double d = std::min(std::max(draw, -Lc), Lc);
      const double r = std::exp(d), rc = std::min(r, cap);
      const double l1 = -A * rc, l2 = -A * std::min(std::max(r, lo), hi);
      const double lc = std::max(l1, l2);
      double ell = lc;
      bool dual = false;
      if (A < 0 && std::isfinite(c)) {
        const double l3 = -A * c;
        ell = std::min(l3, lc);
        dual = l3 < lc;
      }
      const double dl = (l1 >= l2 && !dual && std::fabs(draw) <= Lc && r <= cap) ? -A * r : 0.0;
      double v = 0, g = 0;
      if (p.kl == KlK1) {
        v = b.logp[k] - b.ref[k];
        g = 1;
      } else if (p.kl == KlAbs) {
        const double dd = b.logp[k] - b.ref[k];
        v = std::fabs(dd);
        g = dd > 0 ? 1 : dd < 0 ? -1 : 0;
      } else if (p.kl == KlK2) {
        const double dd = b.logp[k] - b.ref[k];
        v = dd * dd / 2;
        g = dd;
      } else if (p.kl == KlK3) {
        const double kk = b.ref[k] - b.logp[k];
        const double kc = p.kl_clamp ? std::min(std::max(kk, -20.0), 20.0) : kk;
        const double e = std::exp(kc);
        const double raw = e - kc - 1;
        v = p.kl_clamp ? std::min(raw, 10.0) : raw;
        g = (p.kl_clamp && (std::fabs(kk) > 20 || raw > 10)) ? 0.0 : 1 - e;
      }
      out.grad[k] = w * (dl + (p.kl == KlNone ? 0.0 : p.kl_coef * g));
      out.gent[k] = -p.entropy_coef * wH;
      s.policy += w * ell;
      s.kl += w * v;
      const double H = with_entropy ? b.entropy[k] : 0.0;
      s.entropy += wH * H;
      s.ratio += r;
      s.neg_log_ratio += -d;
      s.kl_value += v;
      s.entropy_value += H;
      s.high += A > 0 && l2 > l1;
      s.low += A < 0 && l2 > l1;
      s.dual += dual;
    }
  }
  return out;
}

template <class T>
struct Run {
  LossSums sums;
  std::vector<T> grad, gent;
  bool ok;
};

template <class T>
Run<T> run_loss(const Batch& b, const LossParams& p, bool with_entropy, int threads, int32_t s0 = 0, int32_t s1 = -1) {
  const std::vector<T> logp(b.logp.begin(), b.logp.end()), old(b.old.begin(), b.old.end()),
      ref(b.ref.begin(), b.ref.end()), adv(b.adv.begin(), b.adv.end()), ent(b.entropy.begin(), b.entropy.end());
  Run<T> out;
  out.grad.assign(logp.size(), T(-7));
  out.gent.assign(logp.size(), T(-7));
  const LossArrays<T> a{b.nseq,       b.offsets.data(), b.lengths.data(), b.mask.data(),
                        static_cast<int64_t>(logp.size()), logp.data(), old.data(),
                        p.kl == KlNone ? nullptr : ref.data(), adv.data(), with_entropy ? ent.data() : nullptr,
                        out.grad.data(), with_entropy ? out.gent.data() : nullptr};
  out.ok = policy_loss<T>(a, p, s0, s1 < 0 ? b.nseq : s1, out.sums, threads);
  return out;
}

inline LossParams verl_params(int kl) {
  LossParams p{};
  p.clip_low = 0.2;
  p.clip_high = 0.28;
  p.dual_clip = 3.0;
  p.ratio_cap = INFINITY;
  p.log_ratio_clamp = 20.0;
  p.kl = kl;
  p.kl_coef = 0.05;
  p.kl_clamp = true;
  p.entropy_coef = 0.01;
  p.agg = Aggregation{true, false, 1.0, 1.0};
  p.entropy_agg = Aggregation{false, false, 1.0, 1.0};
  p.advantage_per_token = false;
  p.ignore_inactive_nonfinite = false;
  return p;
}

/// Resolves the 'tokens' denominator the way the TS side does (loss_counts first).
inline void resolve(const Batch& b, LossParams& p) {
  int64_t tokens, seqs;
  const bool ok = loss_counts(b.nseq, b.offsets.data(), b.lengths.data(), b.mask.data(),
                              static_cast<int64_t>(b.logp.size()), 0, b.nseq, tokens, seqs, 1);
  assert(ok);
  p.agg.denominator = static_cast<double>(std::max<int64_t>(seqs, 1));
  p.entropy_agg.denominator = static_cast<double>(std::max<int64_t>(tokens, 1));
}

template <class T>
void check_against(const Run<T>& got, const Ref& ref, const Batch& b, double rtol, double atol) {
  assert(got.ok);
  const LossSums &g = got.sums, &r = ref.sums;
  assert(g.tokens == r.tokens && g.sequences == r.sequences);
  assert(g.high == r.high && g.low == r.low && g.dual == r.dual);
  for (int k = 0; k < kNumLossArrays; ++k) assert(g.nonfinite[k] == -1);
  const double pairs[][2] = {{g.policy, r.policy},   {g.kl, r.kl},
                             {g.entropy, r.entropy}, {g.ratio, r.ratio},
                             {g.neg_log_ratio, r.neg_log_ratio}, {g.kl_value, r.kl_value},
                             {g.entropy_value, r.entropy_value}};
  for (const auto& q : pairs) {
    if (!near_rel(q[0], q[1], rtol, atol * (1 + std::fabs(r.ratio))))
      std::printf("pg sums differ (slot %d): %.17g vs reference %.17g\n", static_cast<int>(&q - pairs), q[0], q[1]);
    assert(near_rel(q[0], q[1], rtol, atol * (1 + std::fabs(r.ratio))));
  }
  for (size_t k = 0; k < b.logp.size(); ++k) {
    assert(near_rel(static_cast<double>(got.grad[k]), ref.grad[k], rtol, atol));
    // The gradient is zero exactly where the reference's is (same branches).
    assert((got.grad[k] == T(0)) == (ref.grad[k] == 0.0));
  }
}

inline void test_loss_accuracy() {
  for (int kl : {KlNone, KlK1, KlAbs, KlK2, KlK3})
    for (bool per_token : {false, true}) {
      Batch b = make_batch(37, 300, 11u + static_cast<uint32_t>(kl + 1) * 7u + per_token, per_token);
      LossParams p = verl_params(kl);
      p.advantage_per_token = per_token;
      resolve(b, p);
      check_against(run_loss<double>(b, p, true, 0), reference(b, p), b, 1e-12, 1e-15);
      round_to_f32(b);
      check_against(run_loss<float>(b, p, true, 0), reference(b, p), b, 2e-5, 1e-9);
    }
  // TRL's conventions: no dual clip, no log-ratio clamp, a ratio cap, unclamped k3, TRL length floor.
  Batch b = make_batch(23, 257, 99u, false);
  LossParams p = verl_params(KlK3);
  p.dual_clip = INFINITY;
  p.log_ratio_clamp = INFINITY;
  p.ratio_cap = 1.1;
  p.kl_clamp = false;
  p.agg = Aggregation{true, true, 1.0, 0.5};
  resolve(b, p);
  check_against(run_loss<double>(b, p, false, 0), reference(b, p, false), b, 1e-12, 1e-15);
  round_to_f32(b);
  check_against(run_loss<float>(b, p, false, 0), reference(b, p, false), b, 2e-5, 1e-9);
}

/// Tokens whose ratio or KL argument sits on a branch boundary (and a hair either side): the f32 kernel
/// must take the f64 reference's branch at each, which only the guard's f64 redo can.
inline void test_loss_boundaries() {
  const LossParams base = verl_params(KlK3);
  double root_hi, root_lo;
  k3_clamp_roots(root_hi, root_lo);
  const double bounds[] = {std::log(0.8), std::log(1.28), std::log(3.0), std::log(1.1), 20.0, -20.0};
  const double kbounds[] = {20.0, -20.0, root_hi, root_lo};
  Batch b;
  b.nseq = 1;
  std::vector<double> deltas;
  for (double x : bounds)
    for (double e : {-1e-6, -1e-7, -3e-8, 0.0, 3e-8, 1e-7, 1e-6}) deltas.push_back(x + e);
  for (double kx : kbounds)
    for (double e : {-1e-6, -1e-7, 0.0, 1e-7, 1e-6}) deltas.push_back(kx + e);
  const size_t n = deltas.size() * 2;
  b.offsets = {0, static_cast<int32_t>(n)};
  b.lengths = {static_cast<int32_t>(n)};
  b.mask.assign(n, 1);
  b.adv = {0.7};
  for (size_t k = 0; k < deltas.size(); ++k)
    for (int sgn : {1, -1}) {
      const double lp = -1.5;
      const bool kl_case = k >= std::size(bounds) * 7;
      b.logp.push_back(lp);
      b.old.push_back(kl_case ? lp - 0.1 : lp - sgn * deltas[k]);
      b.ref.push_back(kl_case ? lp + sgn * deltas[k] : lp);
      b.entropy.push_back(1.0);
    }
  round_to_f32(b);
  for (double A : {0.7, -0.7}) {
    b.adv = {A};
    for (double cap : {static_cast<double>(INFINITY), 1.1}) {
      LossParams p = base;
      p.ratio_cap = cap;
      resolve(b, p);
      check_against(run_loss<float>(b, p, true, 1), reference(b, p), b, 2e-5, 1e-9);
    }
  }
}

inline void test_loss_threads_and_ranges() {
  Batch b = make_batch(301, 700, 5u, false);
  LossParams p = verl_params(KlK3);
  resolve(b, p);
  round_to_f32(b);
  const Run<float> one = run_loss<float>(b, p, true, 1), all = run_loss<float>(b, p, true, 0);
  assert(one.ok && all.ok);
  assert(one.sums.policy == all.sums.policy && one.sums.kl == all.sums.kl && one.sums.ratio == all.sums.ratio);
  assert(one.grad == all.grad && one.gent == all.gent);
  const Run<double> d1 = run_loss<double>(b, p, true, 1), d2 = run_loss<double>(b, p, true, 0);
  assert(d1.sums.policy == d2.sums.policy && d1.grad == d2.grad);
  // Two ranges cover the batch: each writes its own positions, and the counts add up.
  const Run<float> lo = run_loss<float>(b, p, true, 0, 0, 150), hi = run_loss<float>(b, p, true, 0, 150, 301);
  assert(lo.ok && hi.ok);
  const size_t cut = static_cast<size_t>(b.offsets[150]);
  for (size_t k = 0; k < b.logp.size(); ++k) assert((k < cut ? lo.grad[k] : hi.grad[k]) == one.grad[k]);
  assert(lo.sums.tokens + hi.sums.tokens == one.sums.tokens && lo.sums.high + hi.sums.high == one.sums.high);
}

inline void test_loss_nonfinite() {
  Batch b = make_batch(9, 64, 3u, true);
  LossParams p = verl_params(KlK2);
  p.advantage_per_token = true;
  resolve(b, p);
  // An inactive NaN in oldLogp (position 1 of sequence 4, which has length 0) and an active Inf in refLogp.
  const size_t inactive = static_cast<size_t>(b.offsets[4]) + 1;
  size_t active = 0;
  for (size_t k = static_cast<size_t>(b.offsets[6]); k < static_cast<size_t>(b.offsets[7]); ++k)
    if (b.mask[k] && static_cast<int64_t>(k - b.offsets[6]) < b.lengths[6]) {
      active = k;
      break;
    }
  b.old[inactive] = NAN;
  b.ref[active] = -INFINITY;
  for (bool f32 : {true, false}) {
    const LossSums s = f32 ? run_loss<float>(b, p, true, 0).sums : run_loss<double>(b, p, true, 0).sums;
    assert(s.nonfinite[kArrOld] == static_cast<int64_t>(inactive) && s.nonfinite[kArrRef] == static_cast<int64_t>(active));
    assert(s.nonfinite[kArrLogp] == -1 && s.nonfinite[kArrAdv] == -1 && s.nonfinite[kArrEntropy] == -1);
  }
  p.ignore_inactive_nonfinite = true;
  for (bool f32 : {true, false}) {
    const LossSums s = f32 ? run_loss<float>(b, p, true, 0).sums : run_loss<double>(b, p, true, 0).sums;
    assert(s.nonfinite[kArrOld] == -1 && s.nonfinite[kArrRef] == static_cast<int64_t>(active));
  }
  // Per-sequence advantages are all checked, empty sequences included.
  Batch c = make_batch(9, 64, 4u, false);
  LossParams q = verl_params(KlNone);
  resolve(c, q);
  c.adv[4] = NAN;
  q.ignore_inactive_nonfinite = true;
  assert(run_loss<float>(c, q, false, 0).sums.nonfinite[kArrAdv] == 4);
  assert(run_loss<double>(c, q, false, 0).sums.nonfinite[kArrAdv] == 4);
}

inline void test_loss_bad_index() {
  Batch b = make_batch(4, 16, 8u, false);
  LossParams p = verl_params(KlNone);
  resolve(b, p);
  b.lengths[2] = 17;  // longer than its row
  assert(!run_loss<float>(b, p, false, 0).ok && !run_loss<double>(b, p, false, 0).ok);
  b.lengths[2] = 3;
  b.offsets[3] = 70;  // past the arrays (64)
  b.offsets[4] = 70;
  assert(!run_loss<float>(b, p, false, 0).ok);
  int64_t t, s;
  assert(!loss_counts(b.nseq, b.offsets.data(), b.lengths.data(), b.mask.data(), 64, 0, 4, t, s, 0));
  b.offsets[3] = 48;
  b.offsets[4] = 64;
  assert(run_loss<float>(b, p, false, 0, 1, 3).ok && !run_loss<float>(b, p, false, 0, 3, 5).ok);
}

// ---- token log-probs ----

struct RowRef {
  double lse, logp, H;
};

inline RowRef row_reference(const double* x, int64_t V, int32_t tgt, double tau) {
  double m = -INFINITY;
  for (int64_t j = 0; j < V; ++j) m = std::max(m, x[j] / tau);
  // H as log S − Σ e·(z − m)/S, which lse − Σ p·z equals without its cancellation on peaked rows (there
  // the oracle's form loses ~1e-14 absolute, more than 1e-12 of a tiny H).
  // The maximal terms (exactly 1 each) are added last, so the small ones are not rounded away first.
  double rest = 0, top = 0, Sy = 0;
  for (int64_t j = 0; j < V; ++j) {
    const double y = x[j] / tau - m, e = std::exp(y);
    if (y == 0) top += 1;
    else rest += e;
    Sy += e * y;
  }
  const double S = rest + top, lse = m + std::log(S);
  return RowRef{lse, x[tgt] / tau - lse, std::log(S) - Sy / S};
}

template <class T>
void test_logprobs_dtype(double tol) {
  for (const int64_t V : {int64_t{1}, int64_t{7}, int64_t{2048}, int64_t{5000}, int64_t{40961}}) {
    const int64_t N = 13;
    Rng r{static_cast<uint32_t>(V)};
    std::vector<double> xd(static_cast<size_t>(N * V));
    for (size_t k = 0; k < xd.size(); ++k) xd[k] = 6.0 * (r() - 0.5) + (k % 97 == 0 ? 9.0 : 0.0);
    // One peaked row: its entropy is tiny and must keep its relative accuracy.
    for (int64_t j = 0; j < V; ++j) xd[static_cast<size_t>(3 * V + j)] = j == 0 ? 25.0 : 0.01 * r();
    for (double& v : xd) v = static_cast<double>(static_cast<T>(v));
    std::vector<T> x(xd.begin(), xd.end());
    std::vector<int32_t> tg(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) tg[static_cast<size_t>(n)] = static_cast<int32_t>((n * 7919) % V);
    for (const double tau : {1.0, 0.7}) {
      std::vector<T> lp(N), ls(N), H(N), lp1(N), ls1(N), H1(N);
      assert(token_logprobs<T>(x.data(), N, V, tg.data(), tau, lp.data(), ls.data(), H.data(), 0) == -1);
      assert(token_logprobs<T>(x.data(), N, V, tg.data(), tau, lp1.data(), ls1.data(), H1.data(), 1) == -1);
      assert(lp == lp1 && ls == ls1 && H == H1);
      for (int64_t n = 0; n < N; ++n) {
        const RowRef ref = row_reference(xd.data() + n * V, V, tg[static_cast<size_t>(n)], tau);
        const double scale = 1.0 + std::fabs(ref.lse);
        assert(std::fabs(lp[n] - ref.logp) <= tol * scale);
        assert(std::fabs(ls[n] - ref.lse) <= tol * scale);
        // Relative, down to the absolute floor that 1 + δ in f64 leaves log S (a row peaked enough that
        // H < 1e-13 is known to a few 1e-16 in any f64 arithmetic).
        const double h_floor = sizeof(T) == 8 ? 4e-15 : 1e-12;
        assert(std::fabs(H[n] - ref.H) <= tol * std::fabs(ref.H) + h_floor);
      }
      // Without entropy: the same logp and lse.
      std::vector<T> lp2(N), ls2(N);
      assert(token_logprobs<T>(x.data(), N, V, tg.data(), tau, lp2.data(), ls2.data(), nullptr, 0) == -1);
      for (int64_t n = 0; n < N; ++n) assert(std::fabs(lp2[n] - lp[n]) <= tol * (1 + std::fabs(ls[n])));

      // Backward, out of place and in place, against the formula in f64.
      std::vector<T> gl(N), gh(N), g(x.size());
      for (int64_t n = 0; n < N; ++n) {
        gl[n] = static_cast<T>(r() - 0.5);
        gh[n] = static_cast<T>(r() - 0.5);
      }
      for (int mode = 0; mode < 3; ++mode) {
        const T* gLp = mode == 1 ? nullptr : gl.data();
        const T* gHp = mode == 2 ? nullptr : gh.data();
        assert(token_logprobs_backward<T>(x.data(), N, V, tg.data(), tau, ls.data(), H.data(), gLp, gHp, g.data(), 0));
        std::vector<T> inplace = x;
        assert(token_logprobs_backward<T>(inplace.data(), N, V, tg.data(), tau, ls.data(), H.data(), gLp, gHp,
                                          inplace.data(), 1));
        assert(inplace == g);
        for (int64_t n = 0; n < N; ++n) {
          const double L = ls[n], Hn = H[n], a = gLp ? gLp[n] : 0.0, h = gHp ? gHp[n] : 0.0;
          double mag = 0;
          for (int64_t j = 0; j < V; ++j) {
            const double lpj = xd[static_cast<size_t>(n * V + j)] / tau - L, p = std::exp(lpj);
            mag = std::max(mag, (std::fabs(a) * p + std::fabs(h) * p * (std::fabs(lpj) + std::fabs(Hn))) / tau);
          }
          for (int64_t j = 0; j < V; ++j) {
            const double lpj = xd[static_cast<size_t>(n * V + j)] / tau - L, p = std::exp(lpj);
            const double want = (a * ((j == tg[static_cast<size_t>(n)]) - p) - h * p * (lpj + Hn)) / tau;
            // x/τ − lse cancels to |lse|·eps in f64 (the kernel splits τ·lse and loses less): an
            // absolute error the reference itself carries.
            const double floor = 8e-16 * (1 + std::fabs(L)) * (std::fabs(a) + std::fabs(h)) * p / tau;
            assert(std::fabs(g[static_cast<size_t>(n * V + j)] - want) <=
                   tol * (std::fabs(want) + mag + std::fabs(a) / tau) + floor);
          }
        }
      }
    }
    // Non-finite logits: the smallest flat index, whichever thread meets it.
    std::vector<T> bad = x;
    bad[static_cast<size_t>(5 * V + V / 2)] = static_cast<T>(-INFINITY);
    bad[static_cast<size_t>(9 * V)] = static_cast<T>(NAN);
    std::vector<T> lp(N), ls(N), H(N);
    for (int th : {0, 1}) {
      assert(token_logprobs<T>(bad.data(), N, V, tg.data(), 1.0, lp.data(), ls.data(), H.data(), th) == 5 * V + V / 2);
      assert(token_logprobs<T>(bad.data(), N, V, tg.data(), 1.0, lp.data(), ls.data(), nullptr, th) == 5 * V + V / 2);
    }
    // A bad target is an error, never a read.
    std::vector<int32_t> badt = tg;
    badt[7] = static_cast<int32_t>(V);
    assert(token_logprobs<T>(x.data(), N, V, badt.data(), 1.0, lp.data(), ls.data(), H.data(), 0) == -2);
    std::vector<T> g(x.size());
    assert(!token_logprobs_backward<T>(x.data(), N, V, badt.data(), 1.0, ls.data(), H.data(), lp.data(), nullptr,
                                       g.data(), 0));
  }
}

#include "pg_avx512_test.hpp"  // (inside pg_test: uses Batch, run_loss and the cases above)

inline void run_all() {
  test_exp();
  test_loss_accuracy();
  test_loss_boundaries();
  test_loss_threads_and_ranges();
  test_loss_nonfinite();
  test_loss_bad_index();
  test_logprobs_dtype<double>(1e-12);
  test_logprobs_dtype<float>(1e-5);
  test_forward_avx512_same_bits();
  test_loss_avx512_same_bits();
  std::printf("pg: all checks passed\n");
}

}  // namespace pg_test
