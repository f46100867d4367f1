// PairLayout (pair_layout.hpp says what it is): the split of the rows, their storage order, and the
// waits of every run.
#include "pair_layout.hpp"

#include <algorithm>

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// Halves shorter than this cost more in waiting than they overlap.
constexpr int32_t kMinHalfChain = 32;

/// Copies the entries [q0, q1) of a natural part to the end of a storage part, columns renumbered.
void copy_part(const CsrSplit::Part& from, int32_t q0, int32_t q1, const std::vector<int32_t>& sto,
               std::vector<int32_t>& col, std::vector<double>& val) {
  for (int32_t q = q0; q < q1; ++q) {
    col.push_back(sto[static_cast<size_t>(from.col[q])]);
    val.push_back(from.val[q]);
  }
}

}  // namespace

std::unique_ptr<PairLayout> pair_layout(const CsrSplit& S, const double* diag) {
  const int32_t n = static_cast<int32_t>(S.n);
  // Chains: row i continues the chain of row i − 1 when it reads it (the last entry of its lower part).
  std::vector<int32_t> start;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t q1 = S.lower.ptr[i + 1];
    if (!(q1 > S.lower.ptr[i] && S.lower.col[q1 - 1] == i - 1)) start.push_back(i);
  }
  const int32_t chains = static_cast<int32_t>(start.size());
  if (chains < 2 || n / chains < 2 * kMinHalfChain) return nullptr;
  start.push_back(n);

  auto P = std::make_unique<PairLayout>();
  P->n = n;
  std::vector<uint8_t> owner(static_cast<size_t>(n));
  for (int32_t c = 0; c < chains; ++c) {
    const int32_t mid = start[c] + (start[c + 1] - start[c]) / 2;
    std::fill(owner.begin() + start[c], owner.begin() + mid, uint8_t{0});
    std::fill(owner.begin() + mid, owner.begin() + start[c + 1], uint8_t{1});
  }
  P->n0 = static_cast<int32_t>(std::count(owner.begin(), owner.end(), uint8_t{0}));
  P->sto.resize(static_cast<size_t>(n));
  for (int32_t i = 0, next[2] = {0, P->n0}; i < n; ++i) P->sto[static_cast<size_t>(i)] = next[owner[i]]++;

  // The storage split: row k (natural i) takes i's lower entries at k and its upper ones at n − 1 − k,
  // in the natural split's order.
  std::vector<int32_t>& nat = P->nat;
  nat.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) nat[static_cast<size_t>(P->sto[static_cast<size_t>(i)])] = i;
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
    const int32_t i = n - 1 - nat[static_cast<size_t>(n - 1 - pos)];
    copy_part(S.upper, S.upper.ptr[i], S.upper.ptr[i + 1], P->sto, P->upper_col, P->upper_val);
    P->upper_ptr[pos + 1] = static_cast<int32_t>(P->upper_col.size());
  }

  // Runs, and what each waits for: the other thread's rows its forward rows read (all below them in
  // natural order, so finished first by any thread that waits the same way) and its backward rows read.
  for (int32_t i = 0; i < n;) {
    const uint8_t t = owner[i];
    int32_t e = i;
    while (e < n && owner[e] == t) ++e;
    const int o = 1 - t;
    PairLayout::Run r{i, P->sto[static_cast<size_t>(i)], e - i, P->begin(o), P->end(o)};
    for (int32_t k = r.k0; k < r.k0 + r.len; ++k) {
      for (int32_t q = P->lower_ptr[k]; q < P->lower_ptr[k + 1]; ++q)
        if ((P->lower_col[q] < P->n0) != (t == 0)) r.need_fwd = std::max(r.need_fwd, P->lower_col[q] + 1);
      for (int32_t q = P->upper_ptr[n - 1 - k]; q < P->upper_ptr[n - k]; ++q)
        if ((P->upper_col[q] < P->n0) != (t == 0)) r.need_bwd = std::min(r.need_bwd, P->upper_col[q]);
    }
    P->mine[t].push_back(static_cast<int32_t>(P->runs.size()));
    P->runs.push_back(r);
    i = e;
  }
  return P;
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
