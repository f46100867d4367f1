// SSOR-CG over a PairLayout (eisenstat_pair.hpp). The row pieces are numkern/relax_rows.hpp's, on the
// storage-order split, so every row rounds as in natural order; the waits order the rows as natural order
// does wherever one row reads another.
#include "eisenstat_pair.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "blocked_sums.hpp"
#include "eisenstat.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// One thread's progress through a pass, on its own cache line.
struct alignas(64) Progress {
  std::atomic<int32_t> at{0};
};

inline void spin_pause(unsigned spins) {
  if (spins > 4096) {
    std::this_thread::yield();  // the other thread may have been descheduled
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// out[b] for blocks [b0, b1) of natural rows: Σ term[sto[i]] over the block's rows i in natural order
/// from +0 (blocked_sum's inner sums). Eight blocks at a time: one block's sum is a chain of dependent
/// adds, eight are not.
NK_CLONES void block_sums(const PairLayout& P, const double* __restrict term, size_t b0, size_t b1, double* out) {
  constexpr size_t kWays = 8;
  const int32_t* sto = P.sto.data();
  const int64_t n = P.n;
  size_t b = b0;
  for (; b + kWays <= b1 && static_cast<int64_t>(b + kWays) * kSumBlock <= n; b += kWays) {
    double s[kWays] = {};
    const int32_t* idx = sto + b * kSumBlock;
    for (int64_t p = 0; p < kSumBlock; ++p)
      for (size_t c = 0; c < kWays; ++c) s[c] += term[idx[c * kSumBlock + p]];
    std::copy(s, s + kWays, out + b);
  }
  for (; b < b1; ++b) {
    double s = 0;
    for (int64_t i = static_cast<int64_t>(b) * kSumBlock; i < std::min(n, static_cast<int64_t>(b + 1) * kSumBlock); ++i)
      s += term[sto[i]];
    out[b] = s;
  }
}

/// Blocks [b0, b1) of thread t of T.
inline void my_blocks(const PairLayout& P, int t, int T, size_t& b0, size_t& b1) {
  even_split(static_cast<size_t>(nblocks(P.n)), t, T, b0, b1);
}

/// The backward row of storage position k; prev is t of the row this thread finished just before (k + 1),
/// when first is false.
NK_FORCEINLINE double backward_row(const CsrSplit& S, const PairVectors& V, double beta, int32_t k, bool first,
                                   double prev) {
  if (first) return eisenstat_backward_row<false>(S, k, CsrSplit::At{}, V.dt[k], V.wd[k], beta, V.rh, V.ph, V.t);
  return eisenstat_backward_row<true>(S, k, CsrSplit::At{}, V.dt[k], V.wd[k], beta, V.rh, V.ph, V.t, prev);
}
NK_FORCEINLINE double forward_row(const CsrSplit& S, const double* diag, const PairVectors& V, int32_t k, bool first,
                                  double prev) {
  if (first) return eisenstat_forward_row<false>(S, k, CsrSplit::At{}, diag[k], V.dt[k], V.wd[k], V.ph, V.t, V.v, V.at);
  return eisenstat_forward_row<true>(S, k, CsrSplit::At{}, diag[k], V.dt[k], V.wd[k], V.ph, V.t, V.v, V.at, prev);
}

/// The backward rows of run r, from its last storage position down; first: the first row this thread
/// (or this natural-order walk) computes, whose predecessor is not in prev. Returns the last row's t.
NK_FORCEINLINE double backward_run(const CsrSplit& S, const PairVectors& V, double beta, const PairLayout::Run& r,
                                   bool first, double prev) {
  for (int32_t k = r.k0 + r.len - 1; k >= r.k0; --k, first = false) prev = backward_row(S, V, beta, k, first, prev);
  return prev;
}
/// The forward rows of run r in order, each storing its p̂ᵀÂp̂ term; as backward_run.
NK_FORCEINLINE double forward_run(const CsrSplit& S, const PairLayout& P, const PairVectors& V, const PairLayout::Run& r,
                                  bool first, double prev) {
  for (int32_t k = r.k0; k < r.k0 + r.len; ++k, first = false) {
    prev = forward_row(S, P.diag.data(), V, k, first, prev);
    V.term[k] = eisenstat_pq_term(V.ph[k], V.t[k], prev);
  }
  return prev;
}

/// Blocks [b0, b1) of p̂ᵀÂp̂ for part t of T, from the stored terms.
void pq_sums(const PairLayout& P, const PairVectors& V, int t, int T, double* pq_blocks) {
  size_t b0, b1;
  my_blocks(P, t, T, b0, b1);
  block_sums(P, V.term, b0, b1, pq_blocks);
}

/// Thread t's share of both passes and of the p̂ᵀ(t + v) blocks. bwd / fwd: each thread's progress (the
/// lowest storage position its backward pass has finished, one past the highest its forward pass has).
NK_CLONES void pair_lane(const PairLayout& P, const PairVectors& V, double beta, double* pq_blocks, int t,
                         Progress* bwd, Progress* fwd) {
  const int o = 1 - t;
  const CsrSplit S = P.split();
  const std::vector<int32_t>& mine = P.mine[t];
  // Runs of one thread are contiguous in storage, so a row's predecessor in the pass is the row this
  // thread computed just before: only the thread's first row is `first`.
  double prev = 0;
  for (size_t m = mine.size(); m-- > 0;) {
    const PairLayout::Run& r = P.runs[static_cast<size_t>(mine[m])];
    for (unsigned s = 0; bwd[o].at.load(std::memory_order_acquire) > r.need_bwd; ++s) spin_pause(s);
    prev = backward_run(S, V, beta, r, m + 1 == mine.size(), prev);
    bwd[t].at.store(r.k0, std::memory_order_release);
  }
  // The forward pass reads t of every row: it starts once both threads have finished the backward pass.
  for (unsigned s = 0; bwd[o].at.load(std::memory_order_acquire) > P.begin(o); ++s) spin_pause(s);
  for (size_t m = 0; m < mine.size(); ++m) {
    const PairLayout::Run& r = P.runs[static_cast<size_t>(mine[m])];
    for (unsigned s = 0; fwd[o].at.load(std::memory_order_acquire) < r.need_fwd; ++s) spin_pause(s);
    prev = forward_run(S, P, V, r, m == 0, prev);
    fwd[t].at.store(r.k0 + r.len, std::memory_order_release);
  }
  for (unsigned s = 0; fwd[o].at.load(std::memory_order_acquire) < P.end(o); ++s) spin_pause(s);
  pq_sums(P, V, t, 2, pq_blocks);
}

/// Both passes on this thread alone, in natural order (one run after another: consecutive runs are not
/// neighbours in storage, so each starts `first`), then the blocks' sums.
NK_CLONES void pair_alone(const PairLayout& P, const PairVectors& V, double beta, double* pq_blocks) {
  const CsrSplit S = P.split();
  for (size_t m = P.runs.size(); m-- > 0;) backward_run(S, V, beta, P.runs[m], true, 0);
  for (const PairLayout::Run& r : P.runs) forward_run(S, P, V, r, true, 0);
  pq_sums(P, V, 0, 1, pq_blocks);
}

/// f(i0, k0, len) for the pieces of natural rows [i0, i1) in natural order, each stored at [k0, k0 + len).
template <class F>
NK_FORCEINLINE void natural_pieces(const PairLayout& P, int64_t i0, int64_t i1, F&& f) {
  // The run holding row i0: the last run starting at or before it.
  auto r = std::upper_bound(P.runs.begin(), P.runs.end(), i0, [](int64_t i, const PairLayout::Run& run) { return i < run.i0; }) - 1;
  for (; i0 < i1; ++r) {
    const int64_t e = std::min<int64_t>(i1, r->i0 + r->len);
    f(i0, r->k0 + (i0 - r->i0), e - i0);
    i0 = e;
  }
}

/// Rows per window of the step, as in eisenstat.cc's step_rows: updated first, then summed while in L1.
constexpr int64_t kStepRun = 256;

/// The step over blocks [b0, b1) of natural rows, each block's sums in natural order into sr[b], srr[b].
NK_CLONES void step_blocks(const PairLayout& P, const PairVectors& V, double alpha, size_t b0, size_t b1, double* sr,
                           double* srr) {
  double* __restrict x = V.x;
  double* __restrict r = V.r;
  double* __restrict rh = V.rh;
  const double* __restrict t = V.t;
  const double* __restrict v = V.v;
  const double* __restrict at = V.at;
  const double* __restrict dt = V.dt;
  for (size_t b = b0; b < b1; ++b) {
    const int64_t i0 = static_cast<int64_t>(b) * kSumBlock;
    double s = 0, ss = 0;
    natural_pieces(P, i0, std::min<int64_t>(P.n, i0 + kSumBlock), [&](int64_t p0, int64_t k0, int64_t len) {
      for (int64_t j0 = 0; j0 < len; j0 += kStepRun) {
        const int64_t j1 = std::min(len, j0 + kStepRun);
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t i = p0 + j, k = k0 + j;
          x[i] = cg_step_x(x[i], alpha, t[k]);
          rh[k] = eisenstat_step_rh(rh[k], alpha, t[k], v[k]);
          r[i] = cg_step_r(r[i], alpha, at[k]);
        }
        for (int64_t j = j0; j < j1; ++j) {
          s += eisenstat_rho_term(rh[k0 + j], dt[k0 + j]);
          ss += r[p0 + j] * r[p0 + j];
        }
      }
    });
    sr[b] = s;
    srr[b] = ss;
  }
}

}  // namespace

void pair_passes(const PairLayout& P, const PairVectors& V, double beta, double* pq_blocks, bool two) {
  Progress bwd[2], fwd[2];
  for (int t = 0; t < 2; ++t) {
    bwd[t].at.store(P.end(t), std::memory_order_relaxed);
    fwd[t].at.store(P.begin(t), std::memory_order_relaxed);
  }
  if (!two || !run_pair([&](int t) { pair_lane(P, V, beta, pq_blocks, t, bwd, fwd); })) pair_alone(P, V, beta, pq_blocks);
}

void pair_step(const PairLayout& P, const PairVectors& V, double alpha, double* sr, double* srr, bool two) {
  // Blocks are taken as the threads come for them: the two cores of a VM need not run at one speed, and a
  // block's sums do not depend on which thread took it.
  const size_t nb = static_cast<size_t>(nblocks(P.n));
  std::atomic<size_t> next{0};
  const auto take = [&](int) {
    for (size_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < nb;) step_blocks(P, V, alpha, b, b + 1, sr, srr);
  };
  if (!two || !run_pair(take)) step_blocks(P, V, alpha, 0, nb, sr, srr);
}

void pair_to_storage(const PairLayout& P, double* y, double* scratch) {
  std::copy(y, y + P.n, scratch);
  for (int32_t i = 0; i < P.n; ++i) y[P.sto[static_cast<size_t>(i)]] = scratch[i];
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
