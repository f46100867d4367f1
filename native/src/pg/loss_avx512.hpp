// The token loop of the f32 loss pass (chunk_f32 in loss.cc) in AVX-512 intrinsics, for x86-64-v4 CPUs
// (included once, by loss.cc). It computes, lane for lane, the operations of the portable loop compiled
// for the same target (policy_from_ratio, the guard, pick and the 16 lane sums of pg_loss.hpp and
// loss.cc), so its results are the same bits; native/test/pg_test.hpp compares the two through
// use_portable_kernels. What it does differently is only how the work is spent:
// - conditions stay in mask registers: a pick(c, v, 0) is a zero-masked operation, a sum of picked values
//   a masked add (adding a picked +0 leaves a lane unchanged: lanes start at +0 and never hold −0), and the
//   clip counts are popcounts of masks, off the vector pipes;
// - the guard is tested in two levels (pg_loss.hpp, Guard::r_safe): a cheap sufficient test per lane, and
//   the full test (needs_f64's conditions, as masks) only for a group of 16 that fails it;
// - the non-finite flag is a class test of the values whose x − x the portable loop adds up (a NaN there
//   exactly when one of them is ±∞ or NaN).
// The loop is compute-bound on two cores (loss + grad is ~17 bytes a position); these cut its vector
// instructions per 16 positions from ~130 to ~40.
#pragma once

#include "numkern/x86_intrinsics.hpp"

namespace numkern {
namespace pg {
namespace {

/// What the AVX-512 token loop adds to chunk_f32's lanes and counts.
struct GroupTally {
  int32_t high = 0, low = 0, dual = 0, bad = 0;
};

/// |x − b| < m, lanewise.
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __mmask16 near(__m512 x, float b, float m) {
  const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  return _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(x, _mm512_set1_ps(b)), absm), _mm512_set1_ps(m), _CMP_LT_OQ);
}

/// exp_parts_f32<true> (pg_logits.hpp), lanewise: the same operations in the same order.
struct ExpLanes {
  __m512 e, h, n;
};
__attribute__((target("arch=x86-64-v4"), always_inline)) inline ExpLanes exp_parts_lanes(__m512 x) {
  const __m512 magic = _mm512_set1_ps(kMagicF);
  const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
  const __m512 n = _mm512_sub_ps(t, magic);
  const __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f),
                                   _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x));
  __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(0.001390127930790186f), _mm512_set1_ps(0.008363140746951103f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.04166685417294502f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.16666577756404877f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.5f));
  const __m512 h = _mm512_mul_ps(_mm512_mul_ps(r, r), p);
  const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
  return ExpLanes{_mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(r, h)), scale), h, n};
}

/// kl_token<Kl, true, true> (pg_loss.hpp), lanewise.
struct KlLanes {
  __m512 k, v, g;
};
template <int Kl>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline KlLanes kl_lanes(__m512 x, __m512 ref,
                                                                                const RatioConsts<float>& c) {
  KlLanes o;
  const __m512 one = _mm512_set1_ps(1.0f);
  if constexpr (Kl == KlK3) {
    o.k = _mm512_sub_ps(ref, x);
    const __m512 kmax = _mm512_set1_ps(c.kmax), vmax = _mm512_set1_ps(c.vmax);
    const __m512 kc = _mm512_min_ps(_mm512_max_ps(o.k, _mm512_set1_ps(-c.kmax)), kmax);
    const ExpLanes x3 = exp_parts_lanes(kc);
    const __mmask16 small = _mm512_cmp_ps_mask(x3.n, _mm512_setzero_ps(), _CMP_EQ_OQ);
    const __m512 raw = _mm512_mask_blend_ps(small, _mm512_sub_ps(_mm512_sub_ps(x3.e, kc), one), x3.h);
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int32_t>(0x80000000u)));
    const __m512 g = _mm512_mask_blend_ps(small, _mm512_sub_ps(one, x3.e), _mm512_xor_ps(_mm512_add_ps(kc, x3.h), sign));
    o.v = _mm512_min_ps(vmax, raw);
    const __mmask16 stop = _mm512_cmp_ps_mask(raw, vmax, _CMP_GT_OQ) | _mm512_cmp_ps_mask(o.k, kmax, _CMP_GT_OQ) |
                           _mm512_cmp_ps_mask(o.k, _mm512_set1_ps(-c.kmax), _CMP_LT_OQ);
    o.g = _mm512_maskz_mov_ps(static_cast<__mmask16>(~stop), g);
  } else {
    o.k = _mm512_sub_ps(x, ref);
    if constexpr (Kl == KlK1) {
      o.v = o.k;
      o.g = one;
    } else if constexpr (Kl == KlAbs) {
      const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
      o.v = _mm512_and_ps(o.k, absm);
      // copysign(1, k), 0 at ±0.
      const __m512 sgn = _mm512_or_ps(_mm512_andnot_ps(absm, o.k), one);
      o.g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(o.k, _mm512_setzero_ps(), _CMP_NEQ_UQ), sgn);
    } else {
      o.v = _mm512_mul_ps(_mm512_mul_ps(o.k, o.k), _mm512_set1_ps(0.5f));  // = k·k/2: 0.5 is exact
      o.g = o.k;
    }
  }
  return o;
}

/// needs_f64 as a mask, for lanes whose values are finite (a non-finite input is reported by the caller,
/// whatever this says of it): a slack s of needs_f64 is < 0 exactly when its value is past its bound,
/// because a finite a − b rounds to a value of the sign of a − b.
template <int Kl>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __mmask16 needs_f64_mask(
    __m512 d, __m512 adraw, __m512 aell, __m512 k, const Guard& g) {
  const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __mmask16 f = near(d, g.b_lo, g.m_ratio) | near(d, g.b_hi, g.m_ratio) | near(d, g.b_cap, g.m_ratio) |
                near(d, g.b_c, g.m_ratio) | near(adraw, g.lc, g.m_lc);
  f |= _mm512_cmp_ps_mask(_mm512_and_ps(d, absm), _mm512_set1_ps(80.0f), _CMP_GT_OQ);
  f |= _mm512_cmp_ps_mask(aell, _mm512_set1_ps(1e30f), _CMP_GT_OQ);
  if constexpr (Kl != KlNone) {
    const __m512 ak = _mm512_and_ps(k, absm);
    if constexpr (Kl == KlK1 || Kl == KlAbs) f |= _mm512_cmp_ps_mask(ak, _mm512_set1_ps(1e30f), _CMP_GT_OQ);
    if constexpr (Kl == KlK2) f |= _mm512_cmp_ps_mask(ak, _mm512_set1_ps(1e15f), _CMP_GT_OQ);
    if constexpr (Kl == KlK3) {
      f |= near(ak, g.k20, g.m_k) | near(k, g.k_root_hi, g.m_k) | near(k, g.k_root_lo, g.m_k);
      f |= _mm512_cmp_ps_mask(ak, _mm512_set1_ps(g.kbig), _CMP_GT_OQ);
    }
  }
  return f;
}

/// The constants of a call, broadcast.
struct CallLanes {
  __m512 absm, sign, zero, lc, nlc, lo, hi, cap, c, rsafe, ksafe, big, w, klc;
};

struct PolicyLanes {
  __m512 ell, dl;
  __mmask16 aneg, apos, dual, clipped;
};

/// policy_from_ratio, operation for operation (min/max in the operand order of its selects). InRange: the
/// caller knows |logp − old| ≤ Lc on every lane that matters, so that test is left out. NoCap (only with
/// InRange): the cap δ is +∞ and the lanes that matter have a finite r, so min(r, δ) = r and r ≤ δ.
///
/// The signs of A come from its sign bits (one instruction, where A < 0 and A > 0 were two compares, which
/// issue at one a cycle): they differ from the compares only at A = ±0 and NaN, where l1 = l2 (±0) or the
/// compares with l1 and l2 are false (NaN), so no clip, dual clip or count depends on them there.
template <bool InRange, bool NoCap = false>
__attribute__((target("arch=x86-64-v4"), always_inline)) inline PolicyLanes policy_lanes(__m512 adr, __m512 rr,
                                                                                        __m512 av,
                                                                                        const CallLanes& k) {
  static_assert(InRange || !NoCap, "NoCap needs the finite ratios of the in-range path");
  PolicyLanes o;
  const __m512 nA = _mm512_xor_ps(av, k.sign);
  const __m512 l1 = _mm512_mul_ps(nA, NoCap ? rr : _mm512_min_ps(rr, k.cap));
  const __m512 l2 = _mm512_mul_ps(nA, _mm512_min_ps(_mm512_max_ps(rr, k.lo), k.hi));
  const __m512 lc = _mm512_max_ps(l2, l1);
  const __m512 l3 = _mm512_mul_ps(nA, k.c);
  o.aneg = _mm512_movepi32_mask(_mm512_castps_si512(av));
  o.apos = static_cast<__mmask16>(~o.aneg);
  o.dual = _mm512_mask_cmp_ps_mask(o.aneg, l3, lc, _CMP_LT_OQ);
  o.ell = _mm512_mask_blend_ps(o.dual, lc, l3);
  __mmask16 flows = _mm512_cmp_ps_mask(l1, l2, _CMP_GE_OQ) & static_cast<__mmask16>(~o.dual);
  if constexpr (!InRange) flows &= _mm512_cmp_ps_mask(adr, k.lc, _CMP_LE_OQ);
  if constexpr (!NoCap) flows &= _mm512_cmp_ps_mask(rr, k.cap, _CMP_LE_OQ);
  o.dl = _mm512_mul_ps(_mm512_maskz_mov_ps(flows, nA), rr);
  o.clipped = _mm512_cmp_ps_mask(l2, l1, _CMP_GT_OQ);
  return o;
}

/// The groups of 16 positions [0, n16) of a chunk (n16 a multiple of 16, lim as in chunk_f32): writes grad
/// (and gent) and fix_out (1 where a token is left to the f64 redo), adds into the lane sums, and tallies
/// the counts and flags; m the mask bytes (or ones). The exponentials are formed here, not in chunk_f32's
/// loop of their own: with the work in masks a group's chain is short enough for the out-of-order window
/// to overlap groups.
///
/// A group whose checked lanes all pass the cheap test (|logp − old| < r_safe, |k| < k_safe) takes a
/// shorter path that leaves out what that test decides: the log-ratio clamp (|logp − old| < Lc), the k3
/// clamps (|k| < 20, and the value stays below 10), the class tests of logp − old and k (finite), and,
/// when every active k has n = 0 in exp_parts_f32, the k3 value's other branch (value h, gradient
/// −(k + h)). The values it keeps are the same operations, so the bits are the same.
/// A function of its own (one call per chunk): always_inline cannot cross from the caller's target to
/// this one.
template <int Kl, bool Ent, bool NoCap>
__attribute__((target("arch=x86-64-v4"), noinline)) GroupTally token_groups_avx512(
    int32_t n16, int32_t lim, const uint8_t* __restrict m, const float* __restrict x, const float* __restrict o,
    const float* __restrict rf, const float* __restrict A, const float* __restrict H, float* __restrict grad,
    float* __restrict gent, int32_t* __restrict fix_out, const RatioConsts<float>& rk, const Guard& gd, float w,
    float klc, float gE, bool adv_tok, bool check_all, float* l_ell, float* l_r, float* l_nd, float* l_kv,
    float* l_h) {
  CallLanes k;
  k.absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  k.sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int32_t>(0x80000000u)));
  k.zero = _mm512_setzero_ps();
  k.lc = _mm512_set1_ps(rk.lc);
  k.nlc = _mm512_set1_ps(-rk.lc);
  k.lo = _mm512_set1_ps(rk.lo);
  k.hi = _mm512_set1_ps(rk.hi);
  k.cap = _mm512_set1_ps(rk.cap);
  k.c = _mm512_set1_ps(rk.c);
  k.rsafe = _mm512_set1_ps(gd.r_safe);
  k.ksafe = _mm512_set1_ps(gd.k_safe);
  k.big = _mm512_set1_ps(1e30f);
  k.w = _mm512_set1_ps(w);
  k.klc = _mm512_set1_ps(klc);
  const __m512i one = _mm512_set1_epi32(1);
  __m512 s_ell = _mm512_loadu_ps(l_ell), s_r = _mm512_loadu_ps(l_r), s_nd = _mm512_loadu_ps(l_nd);
  __m512 s_kv = _mm512_loadu_ps(l_kv), s_h = _mm512_loadu_ps(l_h);
  const __mmask16 all = check_all ? 0xFFFF : 0;
  GroupTally t;
  uint32_t bad = 0;
  for (int32_t j0 = 0; j0 < n16; j0 += 16) {
    prefetch_streams<Kl, Ent>(j0, m, x, o, rf, H, grad, gent);  // as the portable loop
    // Active: m[j] ≠ 0 and j < lim.
    const __m128i mb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m + j0));
    __mmask16 act = _mm_test_epi8_mask(mb, mb);
    const int32_t left = lim - j0;
    if (left < 16) act &= static_cast<__mmask16>(left > 0 ? (1u << left) - 1u : 0u);
    const __mmask16 watch = act | all;

    const __m512 xv = _mm512_loadu_ps(x + j0);
    const __m512 dr = _mm512_sub_ps(xv, _mm512_loadu_ps(o + j0));
    const __m512 adr = _mm512_and_ps(dr, k.absm);
    const __m512 av = _mm512_loadu_ps(A + j0);
    __m512 kk = k.zero;
    __mmask16 safe = _mm512_cmp_ps_mask(adr, k.rsafe, _CMP_LT_OQ);
    if constexpr (Kl != KlNone) {
      const __m512 ref = _mm512_loadu_ps(rf + j0);
      kk = Kl == KlK3 ? _mm512_sub_ps(ref, xv) : _mm512_sub_ps(xv, ref);  // kl_lanes's k
      const __m512 ak = _mm512_and_ps(kk, k.absm);
      if constexpr (Kl == KlK3) safe &= _mm512_cmp_ps_mask(ak, k.ksafe, _CMP_LT_OQ);
      if constexpr (Kl == KlK1 || Kl == KlAbs) safe &= _mm512_cmp_ps_mask(ak, k.big, _CMP_LE_OQ);
      if constexpr (Kl == KlK2) safe &= _mm512_cmp_ps_mask(ak, _mm512_set1_ps(1e15f), _CMP_LE_OQ);
    }

    __m512 d, rr, kv = k.zero, kg = k.zero;
    PolicyLanes pl;
    __mmask16 fix = 0, nonfinite = 0;
    if (!(watch & static_cast<__mmask16>(~safe))) {
      // Every checked lane passed: |logp − old| < r_safe < Lc, so Δ = logp − old; finite logp − old and k.
      d = dr;
      rr = exp_parts_lanes(d).e;
      pl = policy_lanes<true, NoCap>(adr, rr, av, k);
      if constexpr (Kl == KlK3) {
        // |k| < k_safe < 20: k' = k, and the value (≤ e^k − k − 1 < 10) is not capped.
        const ExpLanes x3 = exp_parts_lanes(kk);
        const __mmask16 small = _mm512_cmp_ps_mask(x3.n, k.zero, _CMP_EQ_OQ);
        if (!(act & static_cast<__mmask16>(~small))) {
          kv = x3.h;
          kg = _mm512_xor_ps(_mm512_add_ps(kk, x3.h), k.sign);
        } else {
          const KlLanes kl = kl_lanes<Kl>(xv, _mm512_loadu_ps(rf + j0), rk);
          kv = kl.v;
          kg = kl.g;
        }
      } else if constexpr (Kl != KlNone) {
        const KlLanes kl = kl_lanes<Kl>(xv, _mm512_loadu_ps(rf + j0), rk);
        kv = kl.v;
        kg = kl.g;
      }
      // The one test the cheap one does not cover: |ℓ| ≤ 1e30 (a huge advantage).
      const __m512 aell = _mm512_and_ps(pl.ell, k.absm);
      if (act & _mm512_cmp_ps_mask(aell, k.big, _CMP_GT_OQ)) fix = act & needs_f64_mask<Kl>(d, adr, aell, kk, gd);
    } else {
      d = _mm512_min_ps(_mm512_max_ps(dr, k.nlc), k.lc);
      rr = exp_parts_lanes(d).e;
      pl = policy_lanes<false>(adr, rr, av, k);
      if constexpr (Kl != KlNone) {
        const KlLanes kl = kl_lanes<Kl>(xv, _mm512_loadu_ps(rf + j0), rk);
        kv = kl.v;
        kg = kl.g;
      }
      // The guard: the cheap test, then the full one for a group with an active lane outside it.
      const __m512 aell = _mm512_and_ps(pl.ell, k.absm);
      const __mmask16 sure = safe & _mm512_cmp_ps_mask(aell, k.big, _CMP_LE_OQ);
      if (act & static_cast<__mmask16>(~sure)) fix = act & needs_f64_mask<Kl>(d, adr, aell, kk, gd);
      // 0x99: ±∞, quiet or signalling NaN (where the portable loop's x − x is NaN).
      nonfinite = _mm512_fpclass_ps_mask(dr, 0x99);
      if constexpr (Kl != KlNone) nonfinite |= _mm512_fpclass_ps_mask(kk, 0x99);
    }
    const __m512 gsum = Kl != KlNone ? _mm512_add_ps(pl.dl, _mm512_mul_ps(k.klc, kg)) : pl.dl;
    _mm512_storeu_ps(grad + j0, _mm512_maskz_mul_ps(act, k.w, gsum));
    _mm512_storeu_si512(fix_out + j0, _mm512_maskz_mov_epi32(fix, one));

    const __mmask16 ok = act & static_cast<__mmask16>(~fix);
    s_ell = _mm512_mask_add_ps(s_ell, ok, s_ell, pl.ell);
    s_r = _mm512_mask_add_ps(s_r, ok, s_r, rr);
    s_nd = _mm512_mask_sub_ps(s_nd, ok, s_nd, d);  // adds −Δ
    if constexpr (Kl != KlNone) s_kv = _mm512_mask_add_ps(s_kv, ok, s_kv, kv);
    t.high += __builtin_popcount(ok & pl.apos & pl.clipped);
    t.low += __builtin_popcount(ok & pl.aneg & pl.clipped);
    t.dual += __builtin_popcount(ok & pl.dual);

    if constexpr (Ent) {
      const __m512 hv = _mm512_loadu_ps(H + j0);
      s_h = _mm512_mask_add_ps(s_h, act, s_h, hv);
      _mm512_storeu_ps(gent + j0, _mm512_maskz_mov_ps(act, _mm512_set1_ps(gE)));
      nonfinite |= _mm512_fpclass_ps_mask(hv, 0x99);
    }
    if (adv_tok) nonfinite |= _mm512_fpclass_ps_mask(av, 0x99);
    bad |= nonfinite & watch;
  }
  _mm512_storeu_ps(l_ell, s_ell);
  _mm512_storeu_ps(l_r, s_r);
  _mm512_storeu_ps(l_nd, s_nd);
  _mm512_storeu_ps(l_kv, s_kv);
  _mm512_storeu_ps(l_h, s_h);
  t.bad = bad != 0;
  return t;
}

/// inactive_tail (loss.cc) for x86-64-v4: positions [j0, n) of a chunk, all inactive, get grad (and gent)
/// 0, and the chunk's non-finite flag is raised as the portable loop raises it (a class test of the
/// values whose x − x it adds up, as in token_groups_avx512). It prefetches as the token loop does, so the
/// streams run ahead through a sequence's padding too (the hardware prefetcher alone left the padding's
/// loads waiting on memory).
template <int Kl, bool Ent>
__attribute__((target("arch=x86-64-v4"), noinline)) int32_t inactive_tail_avx512(
    int32_t j0, int32_t n, const uint8_t* m, const float* __restrict x, const float* __restrict o,
    const float* __restrict rf, const float* __restrict A, const float* __restrict H, float* __restrict grad,
    float* __restrict gent, bool check, bool adv_tok) {
  const __m512 zero = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int32_t j = j0; j < n; j += 16) {
    prefetch_streams<Kl, Ent>(j, m, x, o, rf, H, grad, gent);
    const int32_t left = n - j;
    const __mmask16 in = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
    _mm512_mask_storeu_ps(grad + j, in, zero);
    if constexpr (Ent) _mm512_mask_storeu_ps(gent + j, in, zero);
    if (!check) continue;
    const __m512 xv = _mm512_maskz_loadu_ps(in, x + j);
    __mmask16 nf = _mm512_fpclass_ps_mask(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(in, o + j)), 0x99);
    if constexpr (Kl != KlNone) {
      const __m512 rv = _mm512_maskz_loadu_ps(in, rf + j);
      nf |= _mm512_fpclass_ps_mask(Kl == KlK3 ? _mm512_sub_ps(rv, xv) : _mm512_sub_ps(xv, rv), 0x99);
    }
    if constexpr (Ent) nf |= _mm512_fpclass_ps_mask(_mm512_maskz_loadu_ps(in, H + j), 0x99);
    if (adv_tok) nf |= _mm512_fpclass_ps_mask(_mm512_maskz_loadu_ps(in, A + j), 0x99);
    bad |= nf & in;
  }
  return bad != 0;
}

}  // namespace
}  // namespace pg
}  // namespace numkern
