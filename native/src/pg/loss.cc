// pgPolicyLoss on the CPU (numkern/pg_loss.hpp has the contract, the per-token arithmetic and the f32
// error analysis).
//
// Layout of the work: threads take contiguous ranges of sequences balanced by tokens (balanced_cuts),
// and each sequence is summed on its own (f64, chunk by chunk in a fixed order) into a per-sequence
// slot; the slots are added in sequence order at the end, so no sum depends on the thread count. A
// sequence first counts its active positions L_i (the mask over its first lengths[i] positions), which
// fixes its aggregation weights, then makes one pass over its positions writing grad as it goes.
//
// The f32 pass works on chunks of kChunk positions (the chunk's inputs and scratch stay in L1), with the
// next chunk prefetched as it goes. Three branch-free loops that GCC vectorizes in every clone (16 f32
// lanes on AVX-512): the positions' activity, the exponentials (left in scratch), then the loss terms,
// the guard and grad, whose sums are added in 16 explicit lanes as they are formed (the order is in the
// source, so every clone rounds alike). On an x86-64-v4 CPU one loop in AVX-512 intrinsics does the work
// of all three for whole groups of 16 (loss_avx512.hpp), with the same bits, and another writes the zeros
// and checks the inputs of the positions after a chunk's last active one. Then the rare tokens the
// guard flagged are redone in f64, and a chunk whose non-finite flag is up is scanned for the first bad
// index of each array.
//
// The loops are shaped for GCC's vectorizer (checked with -fopt-info-vec on GCC 12 for every clone):
// selects between computed values, never && / || or a ?: with arithmetic in an arm (see pick in
// pg_logits.hpp), no bool invariants, no counter that shares a value with a select, and #pragma GCC
// ivdep where the arrays are many. Break one of these and the loop quietly stays scalar (~10× slower).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/pg_loss.hpp"

#include "loss_scalar.hpp"

namespace numkern {
namespace pg {
namespace {

// ---------------------------------------------------------------------------------------------------
// The f32 pass

#if defined(__GNUC__)
#define NK_LAMBDA_INLINE __attribute__((always_inline))
#else
#define NK_LAMBDA_INLINE
#endif

struct alignas(64) Scratch {
  float draw[kChunk], r[kChunk], kv[kChunk], kg[kChunk], kk[kChunk], A[kChunk];
  int32_t fix[kChunk], act[kChunk];
  uint8_t ones[kChunk];
};

/// Prefetches the line kChunk elements after p (Write: for writing).
template <int Write, class E>
NK_FORCEINLINE void prefetch_ahead(const E* p) {
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + kChunk * sizeof(E)), Write, 3);
}

struct ChunkFlags {
  int32_t high, low, dual, fix, bad;
};

/// One line of every stream kChunk positions past position j0 of the chunk (the token loops call it once
/// per 16 positions; chunk_f32 says why the prefetches are spread through the loop).
template <int Kl, bool Ent>
NK_FORCEINLINE void prefetch_streams(int32_t j0, const uint8_t* m, const float* x, const float* o, const float* rf,
                                     const float* H, const float* grad, const float* gent) {
  prefetch_ahead<0>(x + j0);
  prefetch_ahead<0>(o + j0);
  if constexpr (Kl != KlNone) prefetch_ahead<0>(rf + j0);
  if constexpr (Ent) {
    prefetch_ahead<0>(H + j0);
    prefetch_ahead<1>(gent + j0);
  }
  prefetch_ahead<1>(grad + j0);
  prefetch_ahead<0>(m + j0);
}

}  // namespace
}  // namespace pg
}  // namespace numkern

#if NK_HAVE_CLONES
#include "loss_avx512.hpp"
#endif

namespace numkern {
namespace pg {
namespace {

/// Phase 1 over n positions starting at sequence position t0 (pointers at that position). Fma: the
/// exponentials in fused multiply-adds (exp_parts_f32<true>; x86-64-v4 only). Avx: the token loop's
/// whole groups of 16 by token_groups_avx512 (loss_avx512.hpp; x86-64-v4 only), the same bits.
template <int Kl, bool Ent, bool Fma, bool Avx = false>
NK_FORCEINLINE ChunkFlags chunk_f32(int32_t n, int32_t lim, const uint8_t* __restrict m, const float* __restrict x,
                                    const float* __restrict o, const float* __restrict rf, const float* __restrict A,
                                    const float* __restrict H, float* __restrict grad, float* __restrict gent,
                                    const Call& c, float w, float klc, float gE, Scratch& scratch, SeqAcc& acc) {
  // grad and the scratch overlap nothing the loops read (the binding refuses overlaps).
  float* __restrict s_draw = scratch.draw;
  float* __restrict s_r = scratch.r;
  float* __restrict s_kv = scratch.kv;
  float* __restrict s_kg = scratch.kg;
  float* __restrict s_kk = scratch.kk;
  int32_t* __restrict s_fix = scratch.fix;
  int32_t* __restrict s_act = scratch.act;
  const RatioConsts<float> rk = c.rk32;
  // Activity first, in a loop of its own: a byte load in the main loop makes GCC take 64 positions per
  // iteration (one vector of bytes), four times the registers the body has, and it spills.
  // (The AVX-512 loop reads the mask and forms the exponentials itself: only the tail after its groups
  // needs s_act and the scratch.)
  const int32_t n16 = Avx ? (n & ~15) : 0;
  for (int32_t j = n16; j < n; ++j) s_act[j] = j < lim ? (m[j] != 0 ? 1 : 0) : 0;
  // The exponentials (the ratio's and the KL term's) in a short loop of their own. One loop for all of a
  // token's work would be ~150 instructions per vector around a ~200-cycle dependency chain: the
  // out-of-order window holds too few iterations to hide it (measured 2× slower; with the fused-multiply-
  // add exponentials and the sums in lanes, 1.03 against 0.85 ns per position, one core, in cache).
  // ivdep: no position's writes reach another position's reads. Without it GCC wants more runtime alias
  // checks than it allows (10) even with __restrict, and leaves the loop scalar.
#pragma GCC ivdep
  for (int32_t j = n16; j < n; ++j) {
    const float draw = x[j] - o[j];
    s_draw[j] = draw;
    s_r[j] = exp_f32_core<Fma>(clamped_log_ratio(draw, rk));  // ratio_exp (pg_loss.hpp), maybe fused
    if constexpr (Kl != KlNone) {
      const KlToken<float> kt = kl_token<Kl, true, Fma>(x[j], rf[j], rk);
      s_kv[j] = kt.v;
      s_kg[j] = kt.g;
      s_kk[j] = kt.k;
    }
  }
  const Guard gd = c.guard;
  const bool ign = c.p.ignore_inactive_nonfinite;
  const bool adv_tok = c.p.advantage_per_token;
  // Loop-invariant flags as bits, not bools: a select on an invariant bool (or a reduction under an
  // `if`) keeps GCC from vectorizing the loop.
  const int adv_bit = adv_tok ? 1 : 0;
  const int all_bit = ign ? 0 : 1;
  // One position's terms: grad (and gradEntropy) written, the summands returned (0 where not summed).
  struct Terms {
    float ell, r, nd, kv, h;
    int32_t high, low, dual, bad;
  };
  const auto token = [&](int32_t j) NK_LAMBDA_INLINE {
    const int act = s_act[j];
    const float draw = s_draw[j], av = A[j];
    const PolicyToken<float> pt = policy_from_ratio(draw, clamped_log_ratio(draw, rk), s_r[j], av, rk);
    KlToken<float> kt{0.0f, 0.0f, 0.0f};
    if constexpr (Kl != KlNone) kt = KlToken<float>{s_kk[j], s_kv[j], s_kg[j]};
    // Evaluated for every position, then selected: an operand of ?: is evaluated only when chosen, and
    // GCC will not speculate f32 arithmetic that "could trap" without AVX-512's masks.
    const int fix = needs_f64<Kl>(pt, kt, gd) & act;
    const int ok = act & (fix ^ 1);
    const float gsum = Kl != KlNone ? pt.dl + klc * kt.g : pt.dl;
    // pick, not ?: (pg_logits.hpp): inactive positions get exactly 0 whatever their inputs hold.
    grad[j] = pick(act != 0, w * gsum, 0.0f);
    s_fix[j] = fix;  // not also counted here: a second use of fix keeps the loop scalar
    Terms o;
    o.ell = pick(ok != 0, pt.ell, 0.0f);
    o.r = pick(ok != 0, pt.r, 0.0f);
    o.nd = pick(ok != 0, pt.neg_delta, 0.0f);
    o.kv = Kl != KlNone ? pick(ok != 0, kt.v, 0.0f) : 0.0f;
    o.high = ok & pt.high;
    o.low = ok & pt.low;
    o.dual = ok & pt.dual;
    // Non-finite input, at every position or only at active ones (ignoreInactiveNonFinite), shows as a
    // NaN in x − x of a difference it enters (logp − old, the KL argument, H): one flag for the chunk,
    // which the scan after it resolves (a finite pair whose difference overflows is flagged too, and
    // the scan finds nothing).
    const int chk = act | all_bit;
    float z = draw - draw;
    if constexpr (Kl != KlNone) z += kt.k - kt.k;
    o.h = 0.0f;
    if constexpr (Ent) {
      const float hv = H[j];
      o.h = pick(act != 0, hv, 0.0f);
      gent[j] = pick(act != 0, gE, 0.0f);
      z += hv - hv;
    }
    o.bad = (static_cast<int>(!(z == 0.0f)) | (static_cast<int>(!finite_value(av)) & adv_bit)) & chk;
    return o;
  };
  // The sums in 16 lanes, added as they are formed (the order is spelled out, so every clone rounds
  // alike), then the lanes in f64 in lane order, then a tail of n mod 16 positions in f64.
  float l_ell[16] = {}, l_r[16] = {}, l_nd[16] = {}, l_kv[16] = {}, l_h[16] = {};
  int32_t l_high[16] = {}, l_low[16] = {}, l_dual[16] = {}, l_bad[16] = {};
  int32_t j0 = 0;
  struct {
    int32_t high = 0, low = 0, dual = 0, bad = 0;
  } avx;
#if NK_HAVE_CLONES
  if constexpr (Avx) {
    // Without a ratio cap (verl's default) the short path leaves out its two operations (policy_lanes).
    const auto groups = rk.cap == std::numeric_limits<float>::infinity() ? token_groups_avx512<Kl, Ent, true>
                                                                          : token_groups_avx512<Kl, Ent, false>;
    const GroupTally t = groups(n16, lim, m, x, o, rf, A, H, grad, gent, s_fix, rk, gd, w, klc, gE, adv_tok, !ign,
                                l_ell, l_r, l_nd, l_kv, l_h);
    avx.high = t.high;
    avx.low = t.low;
    avx.dual = t.dual;
    avx.bad = t.bad;
    j0 = n16;
  }
#endif
  for (; !Avx && j0 + 16 <= n; j0 += 16) {
    // One line of every stream kChunk positions ahead (this sequence's next chunk, or the next
    // sequence's first), spread over the loop: the chunk's passes alternate between memory and
    // arithmetic, and the hardware prefetcher, seeing short streams interleaved with scratch traffic,
    // does not run far enough ahead on its own. A burst of the whole next chunk's lines at the start of
    // each chunk measured ~15% slower from memory (the core waits on its miss buffers). A prefetch
    // never faults, so running past an array's end is harmless (the address is formed as an integer).
    prefetch_streams<Kl, Ent>(j0, m, x, o, rf, H, grad, gent);
#pragma GCC unroll 1  // keeps the lanes a loop GCC vectorizes (fully unrolled, they stay scalar)
#pragma GCC ivdep
    for (int k = 0; k < 16; ++k) {
      const Terms o = token(j0 + k);
      l_ell[k] += o.ell;
      l_r[k] += o.r;
      l_nd[k] += o.nd;
      if constexpr (Kl != KlNone) l_kv[k] += o.kv;
      if constexpr (Ent) l_h[k] += o.h;
      l_high[k] += o.high;
      l_low[k] += o.low;
      l_dual[k] += o.dual;
      l_bad[k] |= o.bad;
    }
  }
  double t_ell = 0, t_r = 0, t_nd = 0, t_kv = 0, t_h = 0;
  int32_t nh = avx.high, nl = avx.low, ndu = avx.dual, bad = avx.bad;
  for (; j0 < n; ++j0) {
    const Terms o = token(j0);
    t_ell += static_cast<double>(o.ell);
    t_r += static_cast<double>(o.r);
    t_nd += static_cast<double>(o.nd);
    t_kv += static_cast<double>(o.kv);
    t_h += static_cast<double>(o.h);
    nh += o.high;
    nl += o.low;
    ndu += o.dual;
    bad |= o.bad;
  }
  double d_ell = 0, d_r = 0, d_nd = 0, d_kv = 0, d_h = 0;
  for (int k = 0; k < 16; ++k) {
    d_ell += static_cast<double>(l_ell[k]);
    d_r += static_cast<double>(l_r[k]);
    d_nd += static_cast<double>(l_nd[k]);
    d_kv += static_cast<double>(l_kv[k]);
    d_h += static_cast<double>(l_h[k]);
    nh += l_high[k];
    nl += l_low[k];
    ndu += l_dual[k];
    bad |= l_bad[k];
  }
  acc.ell += d_ell + t_ell;
  acc.r += d_r + t_r;
  acc.nd += d_nd + t_nd;
  if constexpr (Kl != KlNone) acc.v += d_kv + t_kv;
  if constexpr (Ent) acc.h += d_h + t_h;
  int32_t nfix = 0;
  for (int32_t j = 0; j < n; ++j) nfix |= s_fix[j];
  return ChunkFlags{nh, nl, ndu, nfix, bad};
}

/// Positions [0, live) of a chunk hold every active one: live = 0 when none is, else one past the last
/// active position (mask bytes below lim, read 8 at a time from the end).
NK_FORCEINLINE int32_t live_prefix(const uint8_t* m, int32_t lim, bool has_mask) {
  if (!has_mask || lim <= 0) return lim > 0 ? lim : 0;
  int32_t j = lim;
  for (; j >= 8; j -= 8) {
    uint64_t w;
    std::memcpy(&w, m + j - 8, sizeof w);
    if (w != 0) break;
  }
  while (j > 0 && m[j - 1] == 0) --j;
  return j;
}

/// Positions [j0, n) of a chunk that are all inactive: grad (and gradEntropy) 0, and the chunk's
/// non-finite flag as chunk_f32 would raise it there (only when inactive positions are checked).
template <int Kl, bool Ent>
NK_FORCEINLINE int32_t inactive_tail(int32_t j0, int32_t n, const float* __restrict x, const float* __restrict o,
                                     const float* __restrict rf, const float* __restrict A,
                                     const float* __restrict H, float* __restrict grad, float* __restrict gent,
                                     bool check, bool adv_tok) {
  for (int32_t j = j0; j < n; ++j) grad[j] = 0.0f;
  if constexpr (Ent)
    for (int32_t j = j0; j < n; ++j) gent[j] = 0.0f;
  if (!check) return 0;
  const int adv_bit = adv_tok ? 1 : 0;
  int32_t bad = 0;
  for (int32_t j = j0; j < n; ++j) {
    const float draw = x[j] - o[j];
    float z = draw - draw;
    if constexpr (Kl != KlNone) {
      const float k = Kl == KlK3 ? rf[j] - x[j] : x[j] - rf[j];
      z += k - k;
    }
    if constexpr (Ent) z += H[j] - H[j];
    bad |= static_cast<int>(!(z == 0.0f)) | (static_cast<int>(!finite_value(A[j])) & adv_bit);
  }
  return bad;
}

template <int Kl, bool Ent, bool Fma, bool Avx = false>
NK_FORCEINLINE void sequence_f32_body(const LossArrays<float>& a, const Call& c, const Seq<float>& q, SeqAcc& acc,
                                      Partial& P, Scratch& s) {
  const LossParams& p = c.p;
  const float w = static_cast<float>(q.w);
  const float klc = static_cast<float>(p.kl_coef);
  const float gE = static_cast<float>(-p.entropy_coef * q.wH);
  const bool adv_tok = p.advantage_per_token;
  if (!adv_tok) {
    const float Aseq = a.adv[q.i];
    const int32_t fill = static_cast<int32_t>(std::min<int64_t>(kChunk, q.width));
    for (int32_t j = 0; j < fill; ++j) s.A[j] = Aseq;
  }
  for (int64_t t0 = 0; t0 < q.width; t0 += kChunk) {
    const int32_t n = static_cast<int32_t>(std::min<int64_t>(kChunk, q.width - t0));
    const int32_t lim = static_cast<int32_t>(std::max<int64_t>(0, std::min<int64_t>(q.len - t0, kChunk)));
    const int64_t k0 = q.off + t0;
    const uint8_t* m = q.mask ? q.mask + t0 : s.ones;
    const float* A = adv_tok ? a.adv + k0 : s.A;
    const float* rf = Kl != KlNone ? a.ref + k0 : nullptr;
    const float* H = Ent ? a.entropy + k0 : nullptr;
    float* gent = Ent ? a.grad_entropy + k0 : nullptr;
    // Only the positions up to the last active one, rounded up to whole 16-lane groups, go through the
    // token arithmetic: the padding after it adds exactly 0 to every lane, so the sums are the same bits
    // as a pass over the whole chunk (lanes start at +0 and never hold −0), at the cost of a mask scan.
    const int32_t live = live_prefix(m, lim, q.mask != nullptr);
    const int32_t ne = std::min(n, (live + 15) & ~15);
    ChunkFlags f{0, 0, 0, 0, 0};
    if (ne > 0) {
      f = chunk_f32<Kl, Ent, Fma, Avx>(ne, lim, m, a.logp + k0, a.old + k0, rf, A, H, a.grad + k0, gent, c, w, klc, gE, s,
                                  acc);
    }
    if (ne < n) {
#if NK_HAVE_CLONES
      if constexpr (Avx)
        f.bad |= inactive_tail_avx512<Kl, Ent>(ne, n, m, a.logp + k0, a.old + k0, rf, A, H, a.grad + k0, gent,
                                               !p.ignore_inactive_nonfinite, adv_tok);
      else
#endif
        f.bad |= inactive_tail<Kl, Ent>(ne, n, a.logp + k0, a.old + k0, rf, A, H, a.grad + k0, gent,
                                        !p.ignore_inactive_nonfinite, adv_tok);
    }
    P.high += f.high;
    P.low += f.low;
    P.dual += f.dual;
    if (f.fix > 0) {
      for (int32_t j = 0; j < ne; ++j) {
        if (!s.fix[j]) continue;
        const int64_t k = k0 + j;
        const double ref = Kl != KlNone ? static_cast<double>(a.ref[k]) : 0.0;
        const TokenF64 tk = token_f64(a.logp[k], a.old[k], A[j], ref, c);
        a.grad[k] = static_cast<float>(token_grad(tk, q.w, p));
        add_token(acc, P, tk);
      }
    }
    if (f.bad != 0) {
      const bool ign = p.ignore_inactive_nonfinite;
      for (int32_t j = 0; j < n; ++j) {
        const bool act = j < lim && m[j] != 0;
        if (!act && ign) continue;
        const int64_t k = k0 + j;
        if (!finite_value(a.logp[k])) note_bad(P, kArrLogp, k);
        if (!finite_value(a.old[k])) note_bad(P, kArrOld, k);
        if (Kl != KlNone && !finite_value(a.ref[k])) note_bad(P, kArrRef, k);
        if (adv_tok && !finite_value(a.adv[k])) note_bad(P, kArrAdv, k);
        if (Ent && !finite_value(a.entropy[k])) note_bad(P, kArrEntropy, k);
      }
    }
  }
}

// One clone set per (estimator, entropy) pair: target_clones does not apply to templates. On an
// x86-64-v4 CPU the exponentials fuse their multiply-adds (cpu_x86_64_v4, pg_logits.hpp): a function of
// its own compiled for that target (the clones' x86-64-v4 member is then never called); elsewhere the
// clones run the unfused exponentials. So f32 results may differ in the last ulps between the two kinds
// of CPU (docs/pg.md §2), never between runs or thread counts on one.
using SequenceF32 = void (*)(const LossArrays<float>&, const Call&, const Seq<float>&, SeqAcc&, Partial&, Scratch&);
#if NK_HAVE_CLONES
#define NK_PG_SEQ_V4(name, KL, ENT)                                                                          \
  __attribute__((target("arch=x86-64-v4"))) void name##_v4(const LossArrays<float>& a, const Call& c,         \
                                                           const Seq<float>& q, SeqAcc& acc, Partial& P,     \
                                                           Scratch& s) {                                     \
    sequence_f32_body<KL, ENT, true, true>(a, c, q, acc, P, s);                                              \
  }                                                                                                          \
  __attribute__((target("arch=x86-64-v4"))) void name##_v4p(const LossArrays<float>& a, const Call& c,        \
                                                            const Seq<float>& q, SeqAcc& acc, Partial& P,    \
                                                            Scratch& s) {                                    \
    sequence_f32_body<KL, ENT, true, false>(a, c, q, acc, P, s);                                             \
  }
// On x86-64-v4: the AVX-512 token loop, or (test hook use_portable_kernels) the portable loop compiled for
// the same target, which it matches bit for bit.
#define NK_PG_PICK(name) (cpu_x86_64_v4() ? (avx512_kernels() ? name##_v4 : name##_v4p) : name)
#else
#define NK_PG_SEQ_V4(name, KL, ENT)
#define NK_PG_PICK(name) name
#endif
#define NK_PG_SEQ(name, KL, ENT)                                                                             \
  NK_CLONES void name(const LossArrays<float>& a, const Call& c, const Seq<float>& q, SeqAcc& acc, Partial& P, \
                      Scratch& s) {                                                                          \
    sequence_f32_body<KL, ENT, false>(a, c, q, acc, P, s);                                                   \
  }                                                                                                          \
  NK_PG_SEQ_V4(name, KL, ENT)
NK_PG_SEQ(seq_none, KlNone, false)
NK_PG_SEQ(seq_none_h, KlNone, true)
NK_PG_SEQ(seq_k1, KlK1, false)
NK_PG_SEQ(seq_k1_h, KlK1, true)
NK_PG_SEQ(seq_abs, KlAbs, false)
NK_PG_SEQ(seq_abs_h, KlAbs, true)
NK_PG_SEQ(seq_k2, KlK2, false)
NK_PG_SEQ(seq_k2_h, KlK2, true)
NK_PG_SEQ(seq_k3, KlK3, false)
NK_PG_SEQ(seq_k3_h, KlK3, true)
#undef NK_PG_SEQ
#undef NK_PG_SEQ_V4

SequenceF32 pick_f32(int kl, bool ent) {
  switch (kl) {
    case KlK1: return ent ? NK_PG_PICK(seq_k1_h) : NK_PG_PICK(seq_k1);
    case KlAbs: return ent ? NK_PG_PICK(seq_abs_h) : NK_PG_PICK(seq_abs);
    case KlK2: return ent ? NK_PG_PICK(seq_k2_h) : NK_PG_PICK(seq_k2);
    case KlK3: return ent ? NK_PG_PICK(seq_k3_h) : NK_PG_PICK(seq_k3);
    default: return ent ? NK_PG_PICK(seq_none_h) : NK_PG_PICK(seq_none);
  }
}
#undef NK_PG_PICK

template <class T>
struct SequenceRunner {
  SequenceF32 f32 = nullptr;  // the vector pass, or null for the token-by-token one
  void operator()(const LossArrays<T>& a, const Call& c, const Seq<T>& q, SeqAcc& acc, Partial& P, Scratch& s) const {
    if constexpr (std::is_same_v<T, float>) {
      if (f32) {
        f32(a, c, q, acc, P, s);
        return;
      }
    }
    (void)s;
    sequence_scalar(a, c, q, acc, P);
  }
};

}  // namespace

template <class T>
bool policy_loss(const LossArrays<T>& a, const LossParams& p, int32_t s0, int32_t s1, LossSums& out, int threads) {
  out = LossSums{};
  if (!(s0 >= 0 && s0 <= s1 && s1 <= a.nseq)) return false;
  const int32_t ns = s1 - s0;
  if (ns == 0) return true;
  const int64_t o0 = a.offsets[s0], o1 = a.offsets[s1];
  if (!(o0 >= 0 && o0 <= o1 && o1 <= a.ntok)) return false;

  const Call c{p, ratio_consts<float>(p), ratio_consts<double>(p), make_guard(p)};
  SequenceRunner<T> run;
  if constexpr (std::is_same_v<T, float>) {
    if (!f32_params_ambiguous(p)) run.f32 = pick_f32(p.kl, a.entropy != nullptr);
  }

  const int nt = plan_threads(threads, static_cast<size_t>(o1 - o0) + static_cast<size_t>(ns), kGrain);
  std::vector<int32_t> cuts;
  balanced_cuts(a.offsets + s0, ns, nt, cuts);
  std::vector<double> slots(static_cast<size_t>(ns) * kLossSlots);
  std::vector<Partial> parts(static_cast<size_t>(nt));
  parallel_run(nt, [&](int t, int) {
    Partial& P = parts[static_cast<size_t>(t)];
    Scratch s;
    std::memset(s.ones, 1, sizeof s.ones);
    for (int32_t i = s0 + cuts[static_cast<size_t>(t)]; i < s0 + cuts[static_cast<size_t>(t) + 1]; ++i) {
      Seq<T> q;
      q.i = i;
      if (!sequence_range(a.offsets, a.lengths, a.ntok, i, q.off, q.width, q.len)) {
        P.ok = false;
        return;
      }
      q.mask = a.mask ? a.mask + q.off : nullptr;
      q.L = active_count(a.mask, q.off, q.len);
      q.w = aggregation_weight(p.agg, q.L);
      q.wH = aggregation_weight(p.entropy_agg, q.L);
      if (!p.advantage_per_token && !finite_value(a.adv[i])) note_bad(P, kArrAdv, i);
      SeqAcc acc;
      run(a, c, q, acc, P, s);
      P.tokens += q.L;
      P.sequences += q.L > 0;
      double* slot = slots.data() + static_cast<size_t>(i - s0) * kLossSlots;
      write_loss_slot(slot, q.w, q.wH, acc.ell, acc.v, acc.h, acc.r, acc.nd);
    }
  });
  for (const Partial& P : parts) {
    if (!P.ok) return false;
    out.high += P.high;
    out.low += P.low;
    out.dual += P.dual;
    out.tokens += P.tokens;
    out.sequences += P.sequences;
    for (int k = 0; k < kNumLossArrays; ++k)
      if (P.bad[k] >= 0 && (out.nonfinite[k] < 0 || P.bad[k] < out.nonfinite[k])) out.nonfinite[k] = P.bad[k];
  }
  for (int32_t j = 0; j < ns; ++j) add_loss_slot(out, slots.data() + static_cast<size_t>(j) * kLossSlots);
  return true;
}

bool loss_counts(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask, int64_t ntok,
                 int32_t s0, int32_t s1, int64_t& tokens, int64_t& sequences, int threads) {
  tokens = 0;
  sequences = 0;
  if (!(s0 >= 0 && s0 <= s1 && s1 <= nseq)) return false;
  const int32_t ns = s1 - s0;
  if (ns == 0) return true;
  const int64_t o0 = offsets[s0], o1 = offsets[s1];
  if (!(o0 >= 0 && o0 <= o1 && o1 <= ntok)) return false;
  // Only the mask is read: a pass over one byte per position, split like the loss. The mask comes from
  // memory (the loss pass before it streamed far more than the caches hold), where one thread reads ~40
  // GB/s: 8.4M positions took 0.21 ms on one thread, 0.10 ms on two. Two threads also leave the team
  // awake for the loss pass that follows (its threads spin, not sleep, between the two): the 256×16×2048
  // loss took ~0.3 ms less after it (C++ driver, 8 alternated rounds). (An earlier 0.10 ms on one thread
  // was a mask still in cache.)
  const size_t grain = kGrain * 8;
  const int nt = plan_threads(threads, mask ? static_cast<size_t>(o1 - o0) : static_cast<size_t>(ns), grain);
  std::vector<int32_t> cuts;
  balanced_cuts(offsets + s0, ns, nt, cuts);
  std::vector<Partial> parts(static_cast<size_t>(nt));
  parallel_run(nt, [&](int t, int) {
    Partial& P = parts[static_cast<size_t>(t)];
    for (int32_t i = s0 + cuts[static_cast<size_t>(t)]; i < s0 + cuts[static_cast<size_t>(t) + 1]; ++i) {
      int64_t off, width, len;
      if (!sequence_range(offsets, lengths, ntok, i, off, width, len)) {
        P.ok = false;
        return;
      }
      const int64_t L = active_count(mask, off, len);
      P.tokens += L;
      P.sequences += L > 0;
    }
  });
  for (const Partial& P : parts) {
    if (!P.ok) return false;
    tokens += P.tokens;
    sequences += P.sequences;
  }
  return true;
}

template bool policy_loss<float>(const LossArrays<float>&, const LossParams&, int32_t, int32_t, LossSums&, int);
template bool policy_loss<double>(const LossArrays<double>&, const LossParams&, int32_t, int32_t, LossSums&, int);

}  // namespace pg
}  // namespace numkern
