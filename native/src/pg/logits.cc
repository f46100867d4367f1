// pgTokenLogprobs and pgTokenLogprobsBackward on the CPU (numkern/pg_logits.hpp has the contract, the
// element arithmetic and the error bound). Rows are split over threads in contiguous equal ranges; a row
// is never shared, so no result depends on the thread count.
//
// Forward: one read of the logits. Each block of kLogitsBlock elements is read from memory by the max
// pass and again from L1 by the sum pass (the AVX-512 loop runs the next block's max pass inside this
// block's sum pass); both passes keep 16 explicit lanes (the order is in the source, so every clone
// rounds alike). Non-finite logits cost nothing on the way: a NaN, +∞ or −∞ logit makes
// some u = (x − max)·c NaN or infinite, and with it 2^u and S. Such a block (or one whose u overflowed)
// is redone in f64, element by element, which either finds the first non-finite logit or sums the block
// exactly. (A single pass against the row's running maximum, redoing the blocks that raise it, measured
// no faster: the sum pass's arithmetic, not the max pass or memory, bounds the forward.)
//
// Backward: one read of the logits and one write of the gradient (the same array when in place).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/pg_logits.hpp"

#include "numkern/x86_intrinsics.hpp"

namespace numkern {
namespace pg {
namespace {

// Elements per thread below which waking another thread costs more than it saves.
constexpr size_t kGrain = 1 << 16;

// How far ahead of the sum pass the prefetches run: two blocks, not one. One block ahead, a block's
// lines arrive just as its max pass wants them and a core keeps too few misses in flight (forward, 2
// threads: 40-42 GB/s against 43-46 two blocks ahead and 42-44 three, in a standalone driver).
constexpr size_t kPrefetchAhead = 2 * kLogitsBlock;

std::atomic<bool> force_portable{false};
constexpr double kLn2 = 0.69314718055994531;

template <class T>
NK_FORCEINLINE bool finite_value(T x) {
  return (x < T(0) ? -x : x) <= std::numeric_limits<T>::max();
}

/// One block: its maximum (x units), S = Σ 2^u and T = Σ 2^u·u relative to it (u in log2 units).
struct Block {
  double mx, S, T;
  bool ok;
};

/// 2^u by exp2_f32_fma (Fma, f32 only) or exp2_any.
template <bool Fma, class T>
NK_FORCEINLINE T block_exp2(T u) {
  if constexpr (Fma) return exp2_f32_fma(u);
  else return exp2_any(u);
}

/// The 16 lanes' maximum by a fixed tree: lane k against lane k + 8, then k + 4, k + 2, k + 1, each step
/// b > a ? b : a (vmaxps(b, a)). The AVX-512 loop reduces its register by the same tree; a tree, not a
/// chain, because a block's reductions are a tenth of its time when they run as 16 dependent steps.
template <class T>
NK_FORCEINLINE T lanes_max(const T* v) {
  T a[8];
  for (int k = 0; k < 8; ++k) a[k] = v[k + 8] > v[k] ? v[k + 8] : v[k];
  for (int w = 4; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) a[k] = a[k + w] > a[k] ? a[k + w] : a[k];
  return a[0];
}

/// The 16 lanes' sum in f64 by the same tree.
template <class T>
NK_FORCEINLINE double lanes_sum(const T* v) {
  double a[8];
  for (int k = 0; k < 8; ++k) a[k] = static_cast<double>(v[k]) + static_cast<double>(v[k + 8]);
  for (int w = 4; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) a[k] = a[k] + a[k + w];
  return a[0];
}

/// The two passes over x[0 .. n), n ≥ 1, with u = (x − mx)·c, c = log2(e)/τ. Fma (f32 on x86-64-v4 only):
/// 2^u by exp2_f32_fma and T's lanes by t + e·u in one fma, the operations of block_sums_v4.
template <bool Ent, bool Fma, class T>
NK_FORCEINLINE Block block_sums(const T* x, int32_t n, T c) {
  T mx[16];
  for (int k = 0; k < 16; ++k) mx[k] = x[0];
  int32_t j = 0;
  for (; j + 16 <= n; j += 16) {
#pragma GCC unroll 1  // keeps the lanes a loop GCC vectorizes (fully unrolled, they stay scalar)
    for (int k = 0; k < 16; ++k) {
      const T v = x[j + k];
      mx[k] = v > mx[k] ? v : mx[k];
    }
  }
  T m = lanes_max(mx);
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;

  // T = Σ 2^u·u. A NaN or ±∞ logit makes some u NaN or infinite (x − max), and 2^u NaN (exp2_f32's
  // f = u − n is NaN), so S carries it to the block's check.
  // The block's maximal elements (u = 0, each adding exactly 1) are counted instead of summed: added to
  // a lane they would round away the small terms after them, and a peaked row's S − 1 (≈ its entropy)
  // would lose its relative accuracy.
  T s[16] = {}, t[16] = {};
  int32_t top[16] = {};
  j = 0;
#pragma GCC unroll 2  // two independent groups in flight per iteration (measured ~4% faster)
  for (; j + 16 <= n; j += 16) {
    // A later block's max pass reads memory while this pass computes from L1: fetch it now, or the two
    // would take turns (the hardware prefetcher sees this pass re-reading, not streaming). A prefetch
    // never faults, so running past the row's end is harmless.
    for (size_t b = 0; b < 16 * sizeof(T); b += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(x + j + kPrefetchAhead) + b, 0, 3);
#pragma GCC unroll 1
    for (int k = 0; k < 16; ++k) {
      const T u = (x[j + k] - m) * c;
      const T e = block_exp2<Fma>(u);
      const bool at_max = u == T(0);
      s[k] += pick(at_max, T(0), e);
      top[k] += static_cast<int32_t>(at_max);
      if constexpr (Ent) {
        if constexpr (Fma) t[k] = fmaf(e, u, t[k]);
        else t[k] += e * u;
      }
    }
  }
  double S = lanes_sum(s), Tt = lanes_sum(t);
  int32_t tops = 0;
  for (int k = 0; k < 16; ++k) tops += top[k];
  for (; j < n; ++j) {
    const T u = (x[j] - m) * c;
    const T e = block_exp2<Fma>(u);
    if (u == T(0)) ++tops;
    else S += static_cast<double>(e);
    if constexpr (Ent) Tt += static_cast<double>(e * u);
  }
  S += static_cast<double>(tops);
  return Block{static_cast<double>(m), S, Ent ? Tt : 0.0, finite_value(S) && finite_value(Tt)};
}

#if NK_HAVE_CLONES
/// lanes_sum of a register's 16 lanes: the same tree (lane k + 8, then k + 4, k + 2, k + 1, in f64).
__attribute__((target("arch=x86-64-v4"))) inline double lanes_sum_v4(__m512 v) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  const __m512d a = _mm512_add_pd(lo, hi);
  const __m256d b = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
  const __m128d c = _mm_add_pd(_mm256_castpd256_pd128(b), _mm256_extractf128_pd(b, 1));
  return _mm_cvtsd_f64(_mm_add_sd(c, _mm_unpackhi_pd(c, c)));
}

/// A block's maximum from its max lanes: lanes_max's tree (_mm*_max_ps(b, a) is b > a ? b : a), then
/// the elements past the last full vector, x[j .. n), in order.
__attribute__((target("arch=x86-64-v4"))) inline float block_max_v4(__m512 mxv, const float* x, int32_t j, int32_t n) {
  const __m256 m8 = _mm256_max_ps(_mm512_extractf32x8_ps(mxv, 1), _mm512_castps512_ps256(mxv));
  const __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m8, 1), _mm256_castps256_ps128(m8));
  const __m128 m2 = _mm_max_ps(_mm_movehl_ps(m4, m4), m4);
  float m = _mm_cvtss_f32(_mm_max_ss(_mm_shuffle_ps(m2, m2, 1), m2));
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

/// The max pass of a block, its max lanes started from x[0] as the portable loop starts them. Without
/// entropy the minimum rides along: a −∞ logit gives u = −∞, for which vreduceps may return 0 and
/// vscalefps then 0 (the portable loop's exp2 gives NaN), so a block holding one is sent to block_exact.
/// With entropy, T's 0·(−∞) = NaN sends it there already.
struct MaxPassV4 {
  float m = 0;
  bool no_minus_inf = true;
};

template <bool Ent>
__attribute__((target("arch=x86-64-v4"))) inline MaxPassV4 max_pass_v4(const float* x, int32_t n) {
  __m512 mxv = _mm512_set1_ps(x[0]), mnv = mxv;
  int32_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 v = _mm512_loadu_ps(x + j);
    mxv = _mm512_max_ps(v, mxv);  // v > mx ? v : mx, as the portable loop
    if constexpr (!Ent) mnv = _mm512_min_ps(v, mnv);
  }
  MaxPassV4 r;
  r.m = block_max_v4(mxv, x, j, n);
  if constexpr (!Ent) r.no_minus_inf = _mm512_cmp_ps_mask(mnv, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ) == 0;
  return r;
}

/// block_sums<Ent, Fma = true> for f32 written with AVX-512 intrinsics: the same operations in the same
/// order, lane for lane, as that portable loop compiled for x86-64-v4 (rows_f32_v4p; so the same bits,
/// native/test/pg_avx512_test.hpp checks), in fewer instructions than GCC makes of it: exp2_f32_fma's
/// f = u − floor(u) by vreduceps and p·2^floor(u) by vscalefps on u itself (the portable's floor, clamp,
/// exponent bits and two products take six more), the elements off the maximum summed by a masked add
/// and counted by a popcount of the mask on the scalar side (a vector count measured 4 % slower in
/// cache), and the maximal elements' count taken as the rest: 12 vector operations per 16 elements in
/// the sum pass. The forward is bound by them, not by memory, so each one counts (docs/pg.md §5).
/// The block's max pass (mp) came with the previous block's call: this one's sum pass also runs the next
/// block's (xn[0 .. nn), nn = 0 for none) into *next, one loop reading both, so the max pass's loads hide
/// under the sum pass's arithmetic instead of running as a loop of their own (a standalone driver: 6–8 %
/// faster on 1 and 2 threads). Each block's maximum is still its own lanes' tree, so the bits do not
/// change. Not inlined: a call per block of kLogitsBlock elements costs nothing, and a function compiled
/// for another target cannot be inlined into the portable row loop.
template <bool Ent>
__attribute__((target("arch=x86-64-v4"), noinline)) Block block_sums_v4(const float* x, int32_t n, MaxPassV4 mp,
                                                                         float c, const float* xn, int32_t nn,
                                                                         MaxPassV4* next) {
  const float m = mp.m;
  const __m512 vm = _mm512_set1_ps(m), vc = _mm512_set1_ps(c), zero = _mm512_setzero_ps();
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 c1 = _mm512_set1_ps(0.693151056766510010f), c2 = _mm512_set1_ps(0.240164190530776978f);
  const __m512 c3 = _mm512_set1_ps(0.0558050721883773804f), c4 = _mm512_set1_ps(0.00900773797184228897f);
  const __m512 c5 = _mm512_set1_ps(0.00187183299567550421f);
  __m512 s = zero, t = zero;
  __m512 mxv = _mm512_set1_ps(nn > 0 ? xn[0] : 0.0f), mnv = mxv;  // the next block's max pass
  int32_t rest = 0;  // the elements not at the maximum
  int32_t j = 0;
#pragma GCC unroll 2
  for (; j + 16 <= n; j += 16) {
    for (size_t b = 0; b < 16 * sizeof(float); b += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(x + j + kPrefetchAhead) + b, 0, 3);
    if (j + 16 <= nn) {  // the next block's max pass (false only in a row's last two blocks)
      const __m512 v = _mm512_loadu_ps(xn + j);
      mxv = _mm512_max_ps(v, mxv);  // v > mx ? v : mx, as the portable loop
      if constexpr (!Ent) mnv = _mm512_min_ps(v, mnv);
    }
    const __m512 u = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm), vc);
    const __m512 f = _mm512_reduce_ps(u, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // u − floor(u)
    __m512 p = _mm512_fmadd_ps(c5, f, c4);
    p = _mm512_fmadd_ps(p, f, c3);
    p = _mm512_fmadd_ps(p, f, c2);
    p = _mm512_fmadd_ps(p, f, c1);
    p = _mm512_fmadd_ps(p, f, one);
    const __m512 e = _mm512_scalef_ps(p, u);  // p·2^floor(u), rounded once (subnormal or 0 far below)
    // The elements off the maximum (u ≠ 0, or NaN) are summed and counted; the rest count as 1 each.
    const __mmask16 off_max = _mm512_cmp_ps_mask(u, zero, _CMP_NEQ_UQ);
    s = _mm512_mask_add_ps(s, off_max, s, e);
    rest += __builtin_popcount(static_cast<unsigned>(off_max));  // on the scalar side, off the vector pipes
    if constexpr (Ent) t = _mm512_fmadd_ps(e, u, t);
  }
  for (int32_t k = j; k + 16 <= nn; k += 16) {  // a next block longer than this one (never, in a row)
    const __m512 v = _mm512_loadu_ps(xn + k);
    mxv = _mm512_max_ps(v, mxv);
    if constexpr (!Ent) mnv = _mm512_min_ps(v, mnv);
  }
  if (nn > 0) {
    next->m = block_max_v4(mxv, xn, nn & ~15, nn);
    if constexpr (!Ent) next->no_minus_inf = _mm512_cmp_ps_mask(mnv, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ) == 0;
  }
  double S = lanes_sum_v4(s), Tt = Ent ? lanes_sum_v4(t) : 0.0;
  int32_t tops = j - rest;
  for (; j < n; ++j) {
    const float u = (x[j] - m) * c;
    const float e = exp2_f32_fma(u);
    if (u == 0.0f) ++tops;
    else S += static_cast<double>(e);
    if constexpr (Ent) Tt += static_cast<double>(e * u);
  }
  S += static_cast<double>(tops);
  return Block{static_cast<double>(m), S, Ent ? Tt : 0.0, mp.no_minus_inf && finite_value(S) && finite_value(Tt)};
}
#endif

/// The block in f64, element by element: −1 and its (max z, S, T in nats), or the offset of its first
/// non-finite element.
template <class T>
int32_t block_exact(const T* x, int32_t n, double tau, LseState& out) {
  double m = -INFINITY;
  for (int32_t j = 0; j < n; ++j) {
    if (!finite_value(x[j])) return j;
    m = std::max(m, static_cast<double>(x[j]) / tau);
  }
  double S = 0, Tt = 0;
  for (int32_t j = 0; j < n; ++j) {
    const double y = static_cast<double>(x[j]) / tau - m;
    const double e = std::exp(y);
    S += e;
    Tt += e * y;
  }
  out = LseState{m, S, Tt};
  return -1;
}

/// One row: its lse state, or the offset of its first non-finite logit (>= 0). V4: the blocks by
/// block_sums_v4 (f32 only); Fma: by block_sums<Ent, true> (f32 compiled for x86-64-v4 only).
template <bool Ent, bool V4, bool Fma, class T>
NK_FORCEINLINE int64_t row_forward(const T* x, int64_t V, double tau, LseState& st) {
  const T c = static_cast<T>(1.4426950408889634 / tau);
  const auto block_len = [V](int64_t b0) {
    return b0 < V ? static_cast<int32_t>(std::min<int64_t>(static_cast<int64_t>(kLogitsBlock), V - b0)) : 0;
  };
  st = lse_empty();
#if NK_HAVE_CLONES
  MaxPassV4 mp;
  if constexpr (V4) mp = max_pass_v4<Ent>(x, block_len(0));
#endif
  for (int64_t b0 = 0; b0 < V; b0 += static_cast<int64_t>(kLogitsBlock)) {
    const int32_t n = block_len(b0);
    Block b;
#if NK_HAVE_CLONES
    if constexpr (V4) {
      const int64_t b1 = b0 + static_cast<int64_t>(kLogitsBlock);
      MaxPassV4 next;
      b = block_sums_v4<Ent>(x + b0, n, mp, c, x + std::min(b1, V), block_len(b1), &next);
      mp = next;
    } else {
      b = block_sums<Ent, Fma>(x + b0, n, c);
    }
#else
    b = block_sums<Ent, Fma>(x + b0, n, c);
#endif
    if (b.ok) {
      st = lse_fold(st, b.mx / tau, b.S, b.T * kLn2);
      continue;
    }
    LseState e;
    const int32_t bad = block_exact(x + b0, n, tau, e);
    if (bad >= 0) return b0 + bad;
    st = lse_fold(st, e.M, e.S, e.T);
  }
  return -1;
}

struct RowsArgs {
  int64_t r0, r1, V;
  const int32_t* targets;
  double tau;
};

/// Rows [r0, r1): −1, or the smallest flat index of a non-finite logit among them, or −2 for a bad target.
template <bool Ent, bool V4 = false, bool Fma = false, class T>
NK_FORCEINLINE int64_t rows_forward(const T* logits, const RowsArgs& r, T* logp, T* lse, T* entropy) {
  for (int64_t n = r.r0; n < r.r1; ++n) {
    const int32_t tgt = r.targets[n];
    if (tgt < 0 || tgt >= r.V) return -2;
    const T* x = logits + n * r.V;
    LseState st;
    const int64_t bad = row_forward<Ent, V4, Fma>(x, r.V, r.tau, st);
    if (bad >= 0) return n * r.V + bad;
    const RowResult res = lse_finish(st, static_cast<double>(x[tgt]) / r.tau);
    logp[n] = static_cast<T>(res.logp);
    lse[n] = static_cast<T>(res.lse);
    if constexpr (Ent) entropy[n] = static_cast<T>(res.entropy);
  }
  return -1;
}

// One clone set per (dtype, entropy): target_clones does not apply to templates.
NK_CLONES int64_t rows_f32(const float* x, const RowsArgs& r, float* lp, float* ls, float*) {
  return rows_forward<false>(x, r, lp, ls, static_cast<float*>(nullptr));
}
NK_CLONES int64_t rows_f32_h(const float* x, const RowsArgs& r, float* lp, float* ls, float* h) {
  return rows_forward<true>(x, r, lp, ls, h);
}
NK_CLONES int64_t rows_f64(const double* x, const RowsArgs& r, double* lp, double* ls, double*) {
  return rows_forward<false>(x, r, lp, ls, static_cast<double*>(nullptr));
}
NK_CLONES int64_t rows_f64_h(const double* x, const RowsArgs& r, double* lp, double* ls, double* h) {
  return rows_forward<true>(x, r, lp, ls, h);
}
#if NK_HAVE_CLONES
int64_t rows_f32_v4(const float* x, const RowsArgs& r, float* lp, float* ls, float*) {
  return rows_forward<false, true, true>(x, r, lp, ls, static_cast<float*>(nullptr));
}
int64_t rows_f32_h_v4(const float* x, const RowsArgs& r, float* lp, float* ls, float* h) {
  return rows_forward<true, true, true>(x, r, lp, ls, h);
}
// The portable loop with the AVX-512 path's arithmetic (fma), compiled for x86-64-v4: what the test
// hook (use_portable_kernels) compares block_sums_v4 with, bit for bit.
__attribute__((target("arch=x86-64-v4"))) int64_t rows_f32_v4p(const float* x, const RowsArgs& r, float* lp,
                                                               float* ls, float*) {
  return rows_forward<false, false, true>(x, r, lp, ls, static_cast<float*>(nullptr));
}
__attribute__((target("arch=x86-64-v4"))) int64_t rows_f32_h_v4p(const float* x, const RowsArgs& r, float* lp,
                                                                 float* ls, float* h) {
  return rows_forward<true, false, true>(x, r, lp, ls, h);
}
#endif
inline int64_t rows(const float* x, const RowsArgs& r, float* lp, float* ls, float* h) {
#if NK_HAVE_CLONES
  if (cpu_x86_64_v4()) {
    if (avx512_kernels()) return h ? rows_f32_h_v4(x, r, lp, ls, h) : rows_f32_v4(x, r, lp, ls, h);
    return h ? rows_f32_h_v4p(x, r, lp, ls, h) : rows_f32_v4p(x, r, lp, ls, h);
  }
#endif
  return h ? rows_f32_h(x, r, lp, ls, h) : rows_f32(x, r, lp, ls, h);
}
inline int64_t rows(const double* x, const RowsArgs& r, double* lp, double* ls, double* h) {
  return h ? rows_f64_h(x, r, lp, ls, h) : rows_f64(x, r, lp, ls, h);
}

// ---- backward ----

template <bool HasH, class T>
NK_FORCEINLINE void grad_row(const T* __restrict x, T* __restrict g, int64_t V, const BackwardRow<T>& k) {
  for (int64_t j = 0; j < V; ++j) g[j] = backward_element<HasH>(x[j], k);
}
template <bool HasH, class T>
NK_FORCEINLINE void grad_row_inplace(T* x, int64_t V, const BackwardRow<T>& k) {
  for (int64_t j = 0; j < V; ++j) x[j] = backward_element<HasH>(x[j], k);
}

#define NK_PG_GRAD(T, name, H)                                                                              \
  NK_CLONES void name(const T* x, T* g, int64_t V, const BackwardRow<T>& k) {                              \
    if (x == g) grad_row_inplace<H>(g, V, k);                                                               \
    else grad_row<H>(x, g, V, k);                                                                           \
  }
NK_PG_GRAD(float, grad_f32, false)
NK_PG_GRAD(float, grad_f32_h, true)
NK_PG_GRAD(double, grad_f64, false)
NK_PG_GRAD(double, grad_f64_h, true)
#undef NK_PG_GRAD

inline void grad_any(const float* x, float* g, int64_t V, const BackwardRow<float>& k, bool h) {
  if (h) grad_f32_h(x, g, V, k);
  else grad_f32(x, g, V, k);
}
inline void grad_any(const double* x, double* g, int64_t V, const BackwardRow<double>& k, bool h) {
  if (h) grad_f64_h(x, g, V, k);
  else grad_f64(x, g, V, k);
}

}  // namespace

bool avx512_kernels() { return cpu_x86_64_v4() && !force_portable.load(std::memory_order_relaxed); }

void use_portable_kernels(bool on) { force_portable.store(on, std::memory_order_relaxed); }

template <class T>
int64_t token_logprobs(const T* logits, int64_t nrows, int64_t vocab, const int32_t* targets, double temperature,
                       T* logp, T* lse, T* entropy, int threads) {
  if (nrows <= 0) return -1;
  if (vocab <= 0) return -2;
  const int nt = plan_threads(threads, static_cast<size_t>(nrows) * static_cast<size_t>(vocab), kGrain);
  std::vector<int64_t> found(static_cast<size_t>(nt), -1);
  parallel_run(nt, [&](int t, int k) {
    size_t r0, r1;
    even_split(static_cast<size_t>(nrows), t, k, r0, r1);
    const RowsArgs r{static_cast<int64_t>(r0), static_cast<int64_t>(r1), vocab, targets, temperature};
    found[static_cast<size_t>(t)] = rows(logits, r, logp, lse, entropy);
  });
  // A bad target outranks a non-finite logit (the call is then malformed, not its data).
  int64_t out = -1;
  for (const int64_t f : found) {
    if (f == -2) return -2;
    if (f >= 0 && (out < 0 || f < out)) out = f;
  }
  return out;
}

template <class T>
bool token_logprobs_backward(const T* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                             double temperature, const T* lse, const T* entropy, const T* gradLogp,
                             const T* gradEntropy, T* grad, int threads) {
  if (nrows <= 0) return true;
  if (vocab <= 0) return false;
  const int nt = plan_threads(threads, static_cast<size_t>(nrows) * static_cast<size_t>(vocab), kGrain);
  std::vector<char> ok(static_cast<size_t>(nt), 1);
  const bool has_h = gradEntropy != nullptr && entropy != nullptr;
  parallel_run(nt, [&](int t, int k) {
    size_t r0, r1;
    even_split(static_cast<size_t>(nrows), t, k, r0, r1);
    for (size_t n = r0; n < r1; ++n) {
      const int32_t tgt = targets[n];
      if (tgt < 0 || tgt >= vocab) {
        ok[static_cast<size_t>(t)] = 0;
        return;
      }
      const T* x = logits + static_cast<int64_t>(n) * vocab;
      T* g = grad + static_cast<int64_t>(n) * vocab;
      const double L = static_cast<double>(lse[n]);
      const double H = has_h ? static_cast<double>(entropy[n]) : 0.0;
      const double gL = gradLogp ? static_cast<double>(gradLogp[n]) : 0.0;
      const double gH = has_h ? static_cast<double>(gradEntropy[n]) : 0.0;
      const double xt = static_cast<double>(x[tgt]);  // read before an in-place pass overwrites it
      grad_any(x, g, vocab, backward_row<T>(L, H, gL, gH, temperature), has_h);
      g[tgt] = static_cast<T>(backward_target(xt, L, H, gL, gH, temperature));
    }
  });
  return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
}

template int64_t token_logprobs<float>(const float*, int64_t, int64_t, const int32_t*, double, float*, float*, float*,
                                       int);
template int64_t token_logprobs<double>(const double*, int64_t, int64_t, const int32_t*, double, double*, double*,
                                        double*, int);
template bool token_logprobs_backward<float>(const float*, int64_t, int64_t, const int32_t*, double, const float*,
                                             const float*, const float*, const float*, float*, int);
template bool token_logprobs_backward<double>(const double*, int64_t, int64_t, const int32_t*, double, const double*,
                                              const double*, const double*, const double*, double*, int);

}  // namespace pg
}  // namespace numkern
