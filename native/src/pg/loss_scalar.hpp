// The pieces of pgPolicyLoss on the CPU that both of its passes use, and its f64 pass (included once, by
// native/src/pg/loss.cc, which says how the work is laid out): the chunk and slot constants, the
// per-call state, the non-finite bookkeeping and the token in f64 (the f64 inputs' path and the f32
// pass's redo of the tokens its guard flags).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/pg_loss.hpp"

#include "numkern/x86_intrinsics.hpp"

namespace numkern {
namespace pg {
namespace {

constexpr int32_t kChunk = 512;
// Tokens per thread below which waking another thread costs more than it saves.
constexpr size_t kGrain = 1 << 15;

template <class T>
NK_FORCEINLINE bool finite_value(T x) {
  return (x < T(0) ? -x : x) <= std::numeric_limits<T>::max();
}

/// A sequence's range and length as read now, or false when out of range (pg_loss.hpp: re-checked here).
inline bool sequence_range(const int32_t* offsets, const int32_t* lengths, int64_t ntok, int32_t i, int64_t& off,
                           int64_t& width, int64_t& len) {
  const int64_t o0 = offsets[i], o1 = offsets[i + 1], l = lengths[i];
  if (!(o0 >= 0 && o0 <= o1 && o1 <= ntok && l >= 0 && l <= o1 - o0)) return false;
  off = o0;
  width = o1 - o0;
  len = l;
  return true;
}

NK_CLONES int64_t count_nonzero(const uint8_t* m, int64_t n) {
  int64_t total = 0;
  for (int64_t b = 0; b < n; b += 1 << 16) {
    const int32_t e = static_cast<int32_t>(std::min<int64_t>(n - b, 1 << 16));
    int32_t c = 0;
    for (int32_t j = 0; j < e; ++j) c += m[b + j] != 0;
    total += c;
  }
  return total;
}

#if NK_HAVE_CLONES
/// count_nonzero with one byte test and a popcount per 64 bytes: GCC's own x86-64-v4 clone widens the
/// bytes to 32-bit counters (17 instructions per 64 bytes, a few per cent of the loss pass).
__attribute__((target("arch=x86-64-v4"))) int64_t count_nonzero_v4(const uint8_t* m, int64_t n) {
  int64_t total = 0, j = 0;
  for (; j + 64 <= n; j += 64) {
    const __m512i v = _mm512_loadu_si512(m + j);
    total += __builtin_popcountll(_mm512_test_epi8_mask(v, v));
  }
  for (; j < n; ++j) total += m[j] != 0;
  return total;
}
#endif

/// Active positions of a sequence: its first len positions, less the masked ones.
inline int64_t active_count(const uint8_t* mask, int64_t off, int64_t len) {
  if (!mask) return len;
#if NK_HAVE_CLONES
  if (cpu_x86_64_v4()) return count_nonzero_v4(mask + off, len);
#endif
  return count_nonzero(mask + off, len);
}

/// What one thread accumulates besides the per-sequence slots.
struct Partial {
  int64_t high = 0, low = 0, dual = 0, tokens = 0, sequences = 0;
  int64_t bad[kNumLossArrays] = {-1, -1, -1, -1, -1};
  bool ok = true;
};

inline void note_bad(Partial& P, int k, int64_t index) {
  if (P.bad[k] < 0) P.bad[k] = index;  // positions are visited in increasing order
}

/// The per-call constants every sequence uses.
struct Call {
  LossParams p;
  RatioConsts<float> rk32;
  RatioConsts<double> rk64;
  Guard guard;
};

// ---------------------------------------------------------------------------------------------------
// One token in f64 (the f64 kernel, and the f32 tokens the guard sends back)

struct TokenF64 {
  double ell, dl, r, nd, v, g;
  int high, low, dual;
};

template <int Kl>
NK_FORCEINLINE TokenF64 token_f64_kl(double x, double o, double A, double ref, const Call& c) {
  const PolicyToken<double> t = policy_token(x, o, A, c.rk64);
  TokenF64 out{t.ell, t.dl, t.r, t.neg_delta, 0.0, 0.0, t.high, t.low, t.dual};
  if constexpr (Kl != KlNone) {
    const KlToken<double> k = kl_token<Kl, false>(x, ref, c.rk64);
    out.v = k.v;
    out.g = k.g;
  }
  return out;
}

inline TokenF64 token_f64(double x, double o, double A, double ref, const Call& c) {
  switch (c.p.kl) {
    case KlK1: return token_f64_kl<KlK1>(x, o, A, ref, c);
    case KlAbs: return token_f64_kl<KlAbs>(x, o, A, ref, c);
    case KlK2: return token_f64_kl<KlK2>(x, o, A, ref, c);
    case KlK3: return token_f64_kl<KlK3>(x, o, A, ref, c);
    default: return token_f64_kl<KlNone>(x, o, A, ref, c);
  }
}

/// grad of an active token: w·(∂ℓ + klCoef·g) (no KL term without an estimator).
inline double token_grad(const TokenF64& t, double w, const LossParams& p) {
  return w * (p.kl == KlNone ? t.dl : t.dl + p.kl_coef * t.g);
}

/// The sequence's unweighted sums and counts.
struct SeqAcc {
  double ell = 0, v = 0, h = 0, r = 0, nd = 0;
};

inline void add_token(SeqAcc& s, Partial& P, const TokenF64& t) {
  s.ell += t.ell;
  s.v += t.v;
  s.r += t.r;
  s.nd += t.nd;
  P.high += t.high;
  P.low += t.low;
  P.dual += t.dual;
}

/// The sequence the thread is on.
template <class T>
struct Seq {
  int32_t i;
  int64_t off, width, len, L;
  double w, wH;
  const uint8_t* mask;  // at off, or null
};

/// Every position of one sequence in f64, token by token (T = double; T = float when the f32 guard
/// cannot work, f32_params_ambiguous).
template <class T>
void sequence_scalar(const LossArrays<T>& a, const Call& c, const Seq<T>& q, SeqAcc& s, Partial& P) {
  const LossParams& p = c.p;
  const bool ign = p.ignore_inactive_nonfinite;
  const double gE = -p.entropy_coef * q.wH;
  const double Aseq = p.advantage_per_token ? 0.0 : static_cast<double>(a.adv[q.i]);
  for (int64_t t = 0; t < q.width; ++t) {
    const int64_t k = q.off + t;
    const bool act = t < q.len && (!q.mask || q.mask[t] != 0);
    const T xv = a.logp[k], ov = a.old[k];
    const T rv = p.kl != KlNone ? a.ref[k] : T(0);
    const T av = p.advantage_per_token ? a.adv[k] : T(0);
    if (act || !ign) {
      if (!finite_value(xv)) note_bad(P, kArrLogp, k);
      if (!finite_value(ov)) note_bad(P, kArrOld, k);
      if (p.kl != KlNone && !finite_value(rv)) note_bad(P, kArrRef, k);
      if (p.advantage_per_token && !finite_value(av)) note_bad(P, kArrAdv, k);
      if (a.entropy && !finite_value(a.entropy[k])) note_bad(P, kArrEntropy, k);
    }
    if (a.grad_entropy) a.grad_entropy[k] = act ? static_cast<T>(gE) : T(0);
    if (!act) {
      a.grad[k] = T(0);
      continue;
    }
    const double A = p.advantage_per_token ? static_cast<double>(av) : Aseq;
    const TokenF64 tk = token_f64(xv, ov, A, rv, c);
    a.grad[k] = static_cast<T>(token_grad(tk, q.w, p));
    add_token(s, P, tk);
    if (a.entropy) s.h += static_cast<double>(a.entropy[k]);
  }
}

}  // namespace
}  // namespace pg
}  // namespace numkern
