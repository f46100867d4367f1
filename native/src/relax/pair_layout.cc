// PairLayout (pair_layout.hpp says what it is): the split of the rows between the threads, their storage
// order, and the waits of every run.
#include "pair_layout.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// Halves shorter than this cost more in waiting than they overlap.
constexpr int32_t kMinHalfChain = 32;
/// Rows per run at most: a run waits for every row of the other thread it reads, so a long stretch of
/// one thread's rows is cut into runs that each wait only for the rows near them.
constexpr int32_t kMaxRun = 1024;
/// A split is used when the passes' simulated two-thread time beats one thread's by this factor.
constexpr double kMinGain = 1.25;
/// What a hand-over between the threads costs, in the simulation's units (a row costs 2 + its entries):
/// about one cache line's trip between two cores.
constexpr double kHandOver = 64;

/// Copies the entries [q0, q1) of a natural part to the end of a storage part, columns renumbered.
void copy_part(const CsrSplit::Part& from, int32_t q0, int32_t q1, const std::vector<int32_t>& sto,
               std::vector<int32_t>& col, std::vector<double>& val) {
  for (int32_t q = q0; q < q1; ++q) {
    col.push_back(sto[static_cast<size_t>(from.col[q])]);
    val.push_back(from.val[q]);
  }
}

/// Natural row i's upper part: the natural split stores it at n − 1 − i (csr_triangles.hpp).
inline int32_t upper_begin(const CsrSplit& S, int32_t i) { return S.upper.ptr[S.n - 1 - i]; }
inline int32_t upper_end(const CsrSplit& S, int32_t i) { return S.upper.ptr[S.n - i]; }

/// The owners by chains: row i continues the chain of row i − 1 when it reads it (the last entry of its
/// lower part); thread 0 owns the first half of every chain. Empty where the chains are too few or too
/// short (no grid lines to halve).
std::vector<uint8_t> chain_owner(const CsrSplit& S) {
  const int32_t n = static_cast<int32_t>(S.n);
  std::vector<int32_t> start;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t q1 = S.lower.ptr[i + 1];
    if (!(q1 > S.lower.ptr[i] && S.lower.col[q1 - 1] == i - 1)) start.push_back(i);
  }
  const int32_t chains = static_cast<int32_t>(start.size());
  if (chains < 2 || n / chains < 2 * kMinHalfChain) return {};
  start.push_back(n);
  std::vector<uint8_t> owner(static_cast<size_t>(n));
  for (int32_t c = 0; c < chains; ++c) {
    const int32_t mid = start[c] + (start[c + 1] - start[c]) / 2;
    std::fill(owner.begin() + start[c], owner.begin() + mid, uint8_t{0});
    std::fill(owner.begin() + mid, owner.begin() + start[c + 1], uint8_t{1});
  }
  return owner;
}

/// Breadth-first distances from s in the matrix graph, whose edges are the split's entries (a row's
/// lower part reaches the rows before it, its upper part those after); −1: not reached. queue: scratch.
void distances(const CsrSplit& S, int32_t s, std::vector<int32_t>& d, std::vector<int32_t>& queue) {
  const int32_t n = static_cast<int32_t>(S.n);
  d.assign(static_cast<size_t>(n), -1);
  queue.resize(static_cast<size_t>(n));
  size_t head = 0, tail = 0;
  d[static_cast<size_t>(s)] = 0;
  queue[tail++] = s;
  const auto reach = [&](int32_t w, int32_t dv) {
    if (d[static_cast<size_t>(w)] < 0) {
      d[static_cast<size_t>(w)] = dv + 1;
      queue[tail++] = w;
    }
  };
  while (head < tail) {
    const int32_t v = queue[head++], dv = d[static_cast<size_t>(v)];
    for (int32_t q = S.lower.ptr[v]; q < S.lower.ptr[v + 1]; ++q) reach(S.lower.col[q], dv);
    for (int32_t q = upper_begin(S, v); q < upper_end(S, v); ++q) reach(S.upper.col[q], dv);
  }
}

/// Owners from cuts of the matrix graph, for any local numbering (a mesh generator's Z-order, a
/// bandwidth-reducing one). Row 0 (s) is where the forward pass's wavefronts start, the row farthest from
/// it where they end; the rows midway between the two form a front, whose two ends p and q a double sweep
/// along it finds. Two coordinates, d_s − d_p and d_s − d_q (on a grid numbered from a corner: the column
/// and the line), each raised to its running maximum along the forward pass's reads and cut at the
/// median, the lower half to thread 0. Thread 0's rows are then closed under the reads, so thread 0 never
/// waits in the forward pass, nor thread 1 in the backward one: one thread leads, the other follows, as
/// on the chains' halves. (Cut before the maximum is taken, the closure would have to move rows to
/// thread 1, down every read that crosses the cut the wrong way: 46 % of a 2-D FEM mesh's rows and 15 %
/// of a 3-D one's stayed with thread 0. A cut along the diagonal, d_p − d_q, has both threads wait for
/// each other all along it.) None for a graph that is not connected.
std::vector<std::vector<uint8_t>> cut_owners(const CsrSplit& S) {
  const int32_t n = static_cast<int32_t>(S.n);
  std::vector<int32_t> ds, dp, dq, queue;  // d_s, then the distances from p and from q
  distances(S, 0, ds, queue);
  if (std::find(ds.begin(), ds.end(), -1) != ds.end()) return {};
  distances(S, static_cast<int32_t>(std::max_element(ds.begin(), ds.end()) - ds.begin()), dp, queue);
  std::vector<int32_t> mid;
  for (int32_t v = 0; v < n; ++v)
    if (std::abs(ds[static_cast<size_t>(v)] - dp[static_cast<size_t>(v)]) <= 1) mid.push_back(v);
  // The front's farthest member from a given row, twice: from any member, then from that end.
  const auto farthest_mid = [&](const std::vector<int32_t>& d) {
    return *std::max_element(mid.begin(), mid.end(), [&](int32_t a, int32_t b) { return d[static_cast<size_t>(a)] < d[static_cast<size_t>(b)]; });
  };
  distances(S, mid.front(), dq, queue);
  distances(S, farthest_mid(dq), dp, queue);
  distances(S, farthest_mid(dp), dq, queue);
  std::vector<std::vector<uint8_t>> owners;
  std::vector<int32_t>& rows = queue;
  std::vector<int32_t> f(static_cast<size_t>(n));
  for (const std::vector<int32_t>* d : {&dp, &dq}) {
    // The coordinate, raised to its running maximum over every row's forward reads (in natural order:
    // they come first), so that it never falls along a read; its lower half, ties by row number, is
    // then closed under the reads, and holds half the rows.
    for (int32_t i = 0; i < n; ++i) {
      int32_t c = ds[static_cast<size_t>(i)] - (*d)[static_cast<size_t>(i)];
      for (int32_t q = S.lower.ptr[i]; q < S.lower.ptr[i + 1]; ++q) c = std::max(c, f[static_cast<size_t>(S.lower.col[q])]);
      f[static_cast<size_t>(i)] = c;
    }
    const auto before = [&](int32_t u, int32_t v) {
      return f[static_cast<size_t>(u)] < f[static_cast<size_t>(v)] || (f[static_cast<size_t>(u)] == f[static_cast<size_t>(v)] && u < v);
    };
    std::iota(rows.begin(), rows.end(), 0);
    std::nth_element(rows.begin(), rows.begin() + n / 2, rows.end(), before);
    std::vector<uint8_t> owner(static_cast<size_t>(n), uint8_t{1});
    for (int32_t k = 0; k < n / 2; ++k) owner[static_cast<size_t>(rows[static_cast<size_t>(k)])] = 0;
    owners.push_back(std::move(owner));
  }
  return owners;
}

/// The layout of `owner` without the storage parts: storage order, runs (at most kMaxRun rows), and
/// their waits, read from the natural split.
std::unique_ptr<PairLayout> plan(const CsrSplit& S, const std::vector<uint8_t>& owner) {
  const int32_t n = static_cast<int32_t>(S.n);
  auto P = std::make_unique<PairLayout>();
  P->n = n;
  P->n0 = static_cast<int32_t>(std::count(owner.begin(), owner.end(), uint8_t{0}));
  P->sto.resize(static_cast<size_t>(n));
  for (int32_t i = 0, next[2] = {0, P->n0}; i < n; ++i) P->sto[static_cast<size_t>(i)] = next[owner[i]]++;
  P->nat.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) P->nat[static_cast<size_t>(P->sto[static_cast<size_t>(i)])] = i;
  // Each run waits for the other thread's rows its forward rows read (all below them in natural order,
  // so finished first by any thread that waits the same way) and those its backward rows read.
  for (int32_t i = 0; i < n;) {
    const uint8_t t = owner[static_cast<size_t>(i)];
    int32_t e = i;
    while (e < n && e - i < kMaxRun && owner[static_cast<size_t>(e)] == t) ++e;
    const int o = 1 - t;
    PairLayout::Run r{i, P->sto[static_cast<size_t>(i)], e - i, P->begin(o), P->end(o)};
    for (int32_t j = i; j < e; ++j) {
      for (int32_t q = S.lower.ptr[j]; q < S.lower.ptr[j + 1]; ++q)
        if (owner[static_cast<size_t>(S.lower.col[q])] != t) r.need_fwd = std::max(r.need_fwd, P->sto[static_cast<size_t>(S.lower.col[q])] + 1);
      for (int32_t q = upper_begin(S, j); q < upper_end(S, j); ++q)
        if (owner[static_cast<size_t>(S.upper.col[q])] != t) r.need_bwd = std::min(r.need_bwd, P->sto[static_cast<size_t>(S.upper.col[q])]);
    }
    P->mine[t].push_back(static_cast<int32_t>(P->runs.size()));
    P->runs.push_back(r);
    i = e;
  }
  return P;
}

/// One thread's time over both passes divided by the two threads' (the passes only: the step's blocks
/// are shared as the threads come for them), in a model where a row costs 2 + its part's entries and a
/// wait ends kHandOver after the other thread finished the run it waited for.
double simulated_gain(const CsrSplit& S, const PairLayout& P) {
  const size_t nruns = P.runs.size();
  std::vector<double> cost_f(nruns, 0.0), cost_b(nruns, 0.0), done(nruns);
  double serial = 0;
  for (size_t k = 0; k < nruns; ++k) {
    const PairLayout::Run& r = P.runs[k];
    cost_f[k] = 2.0 * r.len + S.lower.ptr[r.i0 + r.len] - S.lower.ptr[r.i0];
    cost_b[k] = 2.0 * r.len + upper_end(S, r.i0) - upper_begin(S, r.i0 + r.len - 1);
    serial += cost_f[k] + cost_b[k];
  }
  // The run of thread o holding storage position k.
  const auto run_at = [&](int o, int32_t k) {
    const std::vector<int32_t>& mine = P.mine[o];
    const auto it = std::upper_bound(mine.begin(), mine.end(), k, [&](int32_t pos, int32_t m) { return pos < P.runs[static_cast<size_t>(m)].k0; });
    return static_cast<size_t>(*(it - 1));
  };
  // A pass: each thread's runs in order (backward: from its last); done[run] is when it was finished
  // (−1: not yet).
  const auto pass = [&](bool forward, const std::vector<double>& cost, double t0) {
    std::fill(done.begin(), done.end(), -1.0);
    size_t next[2] = {0, 0};
    double clock[2] = {t0, t0};
    for (bool moved = true; moved;) {
      moved = false;
      for (int t = 0; t < 2; ++t) {
        const std::vector<int32_t>& mine = P.mine[t];
        for (; next[t] < mine.size(); ++next[t]) {
          const size_t m = static_cast<size_t>(mine[forward ? next[t] : mine.size() - 1 - next[t]]);
          const PairLayout::Run& r = P.runs[m];
          const int o = 1 - t;
          double start = clock[t];
          if (forward ? r.need_fwd > P.begin(o) : r.need_bwd < P.end(o)) {
            const double ready = done[run_at(o, forward ? r.need_fwd - 1 : r.need_bwd)];
            if (ready < 0) break;
            start = std::max(start, ready + kHandOver);
          }
          clock[t] = done[m] = start + cost[m];
          moved = true;
        }
      }
    }
    return std::max(clock[0], clock[1]);
  };
  const double backward = pass(false, cost_b, 0);
  return serial / pass(true, cost_f, backward + kHandOver);
}

}  // namespace

std::unique_ptr<PairLayout> pair_layout(const CsrSplit& S, const double* diag) {
  const int32_t n = static_cast<int32_t>(S.n);
  if (n < 2) return nullptr;
  // The chains' halves where the numbering has grid lines (the split measured on grids), else a cut
  // across the fronts; either only where the simulated passes gain.
  std::unique_ptr<PairLayout> P;
  double best = kMinGain;
  const auto consider = [&](const std::vector<uint8_t>& owner) {
    std::unique_ptr<PairLayout> candidate = plan(S, owner);
    const double gain = simulated_gain(S, *candidate);
    if (gain >= best) {
      best = gain;
      P = std::move(candidate);
    }
  };
  if (const std::vector<uint8_t> owner = chain_owner(S); !owner.empty()) consider(owner);
  if (!P)
    for (const std::vector<uint8_t>& owner : cut_owners(S)) consider(owner);
  if (!P) return nullptr;

  // The storage split: row k (natural i) takes i's lower entries at k and its upper ones at n − 1 − k,
  // in the natural split's order.
  const std::vector<int32_t>& nat = P->nat;
  P->lower_ptr.assign(static_cast<size_t>(n) + 1, 0);
  P->upper_ptr.assign(static_cast<size_t>(n) + 1, 0);
  P->lower_col.reserve(static_cast<size_t>(S.lower.ptr[n]));
  P->lower_val.reserve(static_cast<size_t>(S.lower.ptr[n]));
  P->upper_col.reserve(static_cast<size_t>(S.upper.ptr[n]));
  P->upper_val.reserve(static_cast<size_t>(S.upper.ptr[n]));
  P->diag.resize(static_cast<size_t>(n));
  for (int32_t k = 0; k < n; ++k) {
    const int32_t i = nat[static_cast<size_t>(k)];
    copy_part(S.lower, S.lower.ptr[i], S.lower.ptr[i + 1], P->sto, P->lower_col, P->lower_val);
    P->lower_ptr[k + 1] = static_cast<int32_t>(P->lower_col.size());
    P->diag[static_cast<size_t>(k)] = diag[i];
  }
  for (int32_t pos = 0; pos < n; ++pos) {  // position n − 1 − k holds storage row k
    const int32_t i = nat[static_cast<size_t>(n - 1 - pos)];
    copy_part(S.upper, upper_begin(S, i), upper_end(S, i), P->sto, P->upper_col, P->upper_val);
    P->upper_ptr[pos + 1] = static_cast<int32_t>(P->upper_col.size());
  }
  return P;
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
