// SSOR-CG's triangular passes level by level in AVX-512 lanes (eisenstat_lanes.hpp says what and why).
#include "eisenstat_lanes.hpp"

#include <algorithm>
#include <climits>

#include "numkern/common.hpp"
#include "numkern/relax_levels.hpp"
#include "numkern/x86_intrinsics.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

constexpr int32_t kLanes = 8;

/// Below this many rows per level on average the chained natural-order pass is as fast or faster
/// (docs/relax.md §7.1, whole prepared SSOR-CG solves, one thread: fem2d-1k, 8 rows a level, 8.9 → 9.5–9.9
/// µs an iteration in lanes; fem2d-4k, 15 a level, 1.77–1.91 → 2.01–2.02 ms; fem2d-8k-contrast, 21 a
/// level, 6.89–7.16 → 7.75–7.97 ms; the 3-D FEM matrices, 36–138 a level, 10–20 % faster in lanes).
constexpr int32_t kMinRowsPerLevel = 32;

/// Above this many rows the chained pass is faster: a level's rows lie all across the vectors, each on
/// its own page, so a pass in level order misses the caches and the TLB where natural order streams
/// (Poisson as CSR, ω = 1.9: 181² 9 % faster in lanes, 256² 6 % slower, 512² 2.4× slower).
constexpr int32_t kMaxRows = 1 << 15;

/// f(row, its lane, its first column, its first value, its length) for every row of L in chunk order (not
/// the duplicate lanes); a row's entry k is at col/val[8k].
template <class F>
void each_lane(const PassLanes& L, F&& f) {
  for (int32_t c = 0; c < L.chunks(); ++c)
    for (int32_t l = 0; l < L.live[c]; ++l) {
      const size_t lane = static_cast<size_t>(c) * kLanes + static_cast<size_t>(l);
      const size_t first = static_cast<size_t>(L.slot[c]) * kLanes + static_cast<size_t>(l);
      f(L.row[lane], lane, L.col.data() + first, L.val.data() + first, L.len[lane]);
    }
}

#if NK_HAVE_CLONES
/// The lanes of slot k that hold an entry: a compare of k with the lanes' row lengths.
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __mmask8 live_at(__m256i lens, int32_t k) {
  return _mm256_cmpgt_epi32_mask(lens, _mm256_set1_epi32(k));
}

/// What chunk c reads of a LaneScale part with k factors per lane: factor f of its lanes.
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __m512d factor(const std::vector<double>& part, int k,
                                                                               int32_t c, int f) {
  return _mm512_loadu_pd(part.data() + (static_cast<size_t>(c) * static_cast<size_t>(k) + static_cast<size_t>(f)) * kLanes);
}

// A chunk's lanes past its rows duplicate its first lane (pass_lanes), so they compute its values bit for
// bit from the same inputs: all eight lanes are stored, the duplicates rewriting the first lane's values.

__attribute__((target("arch=x86-64-v4"))) void backward_avx512(const PassLanes& L, const LaneScale& g, double beta,
                                                               const double* rh, double* ph, double* t) {
  const __m512d b = _mm512_set1_pd(beta);
  for (int32_t c = 0; c < L.chunks(); ++c) {
    const int32_t* r = L.row.data() + static_cast<int64_t>(c) * kLanes;
    const __m256i lens = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(L.len.data() + static_cast<int64_t>(c) * kLanes));
    // p = d̃_i r̂_i + β p̂_i, then s = p − Σ a_ij t_j over the row's right part, descending.
    const __m512d p = _mm512_add_pd(_mm512_mul_pd(factor(g.bwd, 2, c, 0), load8_at(r, rh)), _mm512_mul_pd(b, load8_at(r, ph)));
    __m512d s = p;
    const int32_t s0 = L.slot[c], width = L.slot[c + 1] - s0;
    const int32_t* col = L.col.data() + static_cast<int64_t>(s0) * kLanes;
    const double* val = L.val.data() + static_cast<int64_t>(s0) * kLanes;
    for (int32_t k = 0; k < width; ++k, col += kLanes, val += kLanes)
      s = _mm512_mask_sub_pd(s, live_at(lens, k), s, _mm512_mul_pd(_mm512_loadu_pd(val), load8_at(col, t)));
    store8_at(r, ph, p);
    store8_at(r, t, _mm512_mul_pd(s, factor(g.bwd, 2, c, 1)));
  }
}

__attribute__((target("arch=x86-64-v4"))) void forward_avx512(const PassLanes& L, const LaneScale& g, const double* ph,
                                                              const double* t, double* v, double* at) {
  for (int32_t c = 0; c < L.chunks(); ++c) {
    const int32_t* r = L.row.data() + static_cast<int64_t>(c) * kLanes;
    const __m256i lens = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(L.len.data() + static_cast<int64_t>(c) * kLanes));
    const __m512d p = load8_at(r, ph), ti = load8_at(r, t);
    // s = p̂_i + (a_ii − 2d̃_i) t_i − Σ a_ij v_j and lt = Σ a_ij t_j over the row's left part, ascending.
    __m512d s = _mm512_add_pd(p, _mm512_mul_pd(factor(g.fwd, 3, c, 0), ti));
    __m512d lt = _mm512_setzero_pd();
    const int32_t s0 = L.slot[c], width = L.slot[c + 1] - s0;
    const int32_t* col = L.col.data() + static_cast<int64_t>(s0) * kLanes;
    const double* val = L.val.data() + static_cast<int64_t>(s0) * kLanes;
    for (int32_t k = 0; k < width; ++k, col += kLanes, val += kLanes) {
      const __mmask8 live = live_at(lens, k);
      const __m512d aij = _mm512_loadu_pd(val);
      s = _mm512_mask_sub_pd(s, live, s, _mm512_mul_pd(aij, load8_at(col, v)));
      lt = _mm512_mask_add_pd(lt, live, lt, _mm512_mul_pd(aij, load8_at(col, t)));
    }
    store8_at(r, v, _mm512_mul_pd(s, factor(g.fwd, 3, c, 2)));
    store8_at(r, at, _mm512_add_pd(_mm512_add_pd(p, _mm512_mul_pd(factor(g.fwd, 3, c, 1), ti)), lt));
  }
}
#endif

}  // namespace

std::unique_ptr<PassLanes> pass_lanes(int32_t n, const CsrSplit::Part& part, bool fwd, bool any_cpu) {
  if (n <= 0 || !(any_cpu || cpu_x86_64_v4()) || (!any_cpu && n > kMaxRows)) return nullptr;
  // Row i's entries are part[q0, q1); the upper part stores row i at backward-pass position n − 1 − i.
  const auto range = [&](int32_t i, int32_t& q0, int32_t& q1) {
    const int32_t k = fwd ? i : n - 1 - i;
    q0 = part.ptr[k];
    q1 = part.ptr[k + 1];
  };
  for (int32_t i = 0; i < n; ++i) {
    int32_t q0, q1;
    range(i, q0, q1);
    for (int32_t q = q0; q < q1; ++q)
      if (fwd ? part.col[q] >= i : part.col[q] <= i) return nullptr;
  }
  const LevelSchedule S = level_schedule(n, fwd, [&](int64_t i, auto&& emit) {
    int32_t q0, q1;
    range(static_cast<int32_t>(i), q0, q1);
    for (int32_t q = q0; q < q1; ++q) emit(part.col[q]);
  });
  if (!any_cpu && static_cast<int64_t>(n) < kMinRowsPerLevel * S.levels()) return nullptr;

  auto L = std::make_unique<PassLanes>();
  std::vector<int32_t> rows;
  int64_t slots = 0;
  for (int64_t l = 0; l < S.levels(); ++l) {
    // Rows of similar length share a chunk, so few slots are padding.
    rows.assign(S.order.begin() + S.offsets[l], S.order.begin() + S.offsets[l + 1]);
    const auto length = [&](int32_t i) {
      int32_t q0, q1;
      range(i, q0, q1);
      return q1 - q0;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](int32_t x, int32_t y) { return length(x) > length(y); });
    for (size_t c0 = 0; c0 < rows.size(); c0 += kLanes) {
      const int32_t live = static_cast<int32_t>(std::min<size_t>(kLanes, rows.size() - c0));
      L->live.push_back(live);
      L->slot.push_back(static_cast<int32_t>(slots));
      for (int32_t l8 = 0; l8 < kLanes; ++l8) {
        const int32_t i = rows[c0 + static_cast<size_t>(l8 < live ? l8 : 0)];
        L->row.push_back(i);
        L->len.push_back(length(i));
      }
      slots += length(rows[c0]);  // the longest row of the chunk: rows are sorted by length
      if (slots > INT32_MAX / kLanes) return nullptr;
    }
  }
  // Long rows beside short ones pad their chunks with masked slots that cost loads like entries; past
  // twice the part's entries (the 2-D FEM matrices pad ~50 %) the chained pass is the better one.
  const int64_t entries = part.ptr[n];
  if (!any_cpu && slots * kLanes > 2 * entries + 64 * kLanes) return nullptr;
  L->slot.push_back(static_cast<int32_t>(slots));
  L->col.assign(static_cast<size_t>(slots) * kLanes, 0);
  L->val.assign(static_cast<size_t>(slots) * kLanes, 0.0);
  for (int32_t c = 0; c < L->chunks(); ++c)
    for (int32_t l8 = 0; l8 < kLanes; ++l8) {
      int32_t q0, q1;
      range(L->row[static_cast<size_t>(c) * kLanes + l8], q0, q1);
      for (int32_t q = q0; q < q1; ++q) {
        const size_t at = (static_cast<size_t>(L->slot[c]) + static_cast<size_t>(q - q0)) * kLanes + static_cast<size_t>(l8);
        L->col[at] = part.col[q];
        L->val[at] = part.val[q];
      }
    }
  return L;
}

LaneScale::LaneScale(const PassLanes* upper, const PassLanes* lower, const double* aii, const double* dt,
                     const double* wd) {
  // The row functions' own expressions (relax_rows.hpp), each rounded once as there.
  if (upper != nullptr) {
    bwd.resize(upper->row.size() * 2);
    for (size_t q = 0; q < upper->row.size(); ++q) {
      const size_t c = q / kLanes, l = q % kLanes, i = static_cast<size_t>(upper->row[q]);
      bwd[(2 * c) * kLanes + l] = dt[i];
      bwd[(2 * c + 1) * kLanes + l] = wd[i];
    }
  }
  if (lower != nullptr) {
    fwd.resize(lower->row.size() * 3);
    for (size_t q = 0; q < lower->row.size(); ++q) {
      const size_t c = q / kLanes, l = q % kLanes, i = static_cast<size_t>(lower->row[q]);
      fwd[(3 * c) * kLanes + l] = aii[i] - 2 * dt[i];
      fwd[(3 * c + 1) * kLanes + l] = aii[i] - dt[i];
      fwd[(3 * c + 2) * kLanes + l] = wd[i];
    }
  }
}

void lanes_backward(const PassLanes& L, const LaneScale& g, double beta, const double* rh, double* ph, double* t,
                    bool portable) {
#if NK_HAVE_CLONES
  if (!portable && cpu_x86_64_v4()) return backward_avx512(L, g, beta, rh, ph, t);
#endif
  each_lane(L, [&](int64_t i, size_t lane, const int32_t* col, const double* val, int32_t len) {
    const size_t f = (lane / kLanes * 2) * kLanes + lane % kLanes;
    const double p = g.bwd[f] * rh[i] + beta * ph[i];
    double s = p;
    for (int32_t k = 0; k < len; ++k) s -= val[k * kLanes] * t[col[k * kLanes]];
    ph[i] = p;
    t[i] = s * g.bwd[f + kLanes];
  });
}

void lanes_forward(const PassLanes& L, const LaneScale& g, const double* ph, const double* t, double* v, double* at,
                   bool portable) {
#if NK_HAVE_CLONES
  if (!portable && cpu_x86_64_v4()) return forward_avx512(L, g, ph, t, v, at);
#endif
  each_lane(L, [&](int64_t i, size_t lane, const int32_t* col, const double* val, int32_t len) {
    const size_t f = (lane / kLanes * 3) * kLanes + lane % kLanes;
    double s = ph[i] + g.fwd[f] * t[i];
    double lt = 0;
    for (int32_t k = 0; k < len; ++k) {
      s -= val[k * kLanes] * v[col[k * kLanes]];
      lt += val[k * kLanes] * t[col[k * kLanes]];
    }
    v[i] = s * g.fwd[f + 2 * kLanes];
    at[i] = ph[i] + g.fwd[f + kLanes] * t[i] + lt;
  });
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
