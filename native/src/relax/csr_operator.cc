// CSR sweeps and the diagonal search (csr_operator.hpp).
#include "csr_operator.hpp"

#include <algorithm>
#include <limits>

namespace numkern {
namespace relax {
namespace detail {

int32_t csr_entries(const int32_t* row_ptr, int32_t n, int64_t nnz) {
  const int64_t m = nnz >= 0 ? nnz : n >= 0 ? static_cast<int64_t>(row_ptr[n]) : 0;
  return static_cast<int32_t>(std::clamp<int64_t>(m, 0, std::numeric_limits<int32_t>::max()));
}

namespace {

// The natural-order sweeps are the single-threaded hot loops of SOR/SSOR/Gauss-Seidel.
NK_CLONES bool csr_forward(const Csr& C, const double* __restrict b, double* __restrict x, double w) {
  if (C.A.trusted) {
    // A trusted copy: no index checks, and x_{i−1} from the row before (csr_relax_row_chained).
    double prev = 0;
    for (int32_t i = 0; i < C.A.n; ++i)
      prev = csr_relax_row_chained<true>(C.A.row_ptr, C.A.col_idx, C.A.values, i, C.A.diag_pos[i], C.A.diag[i], b, x, w, 1 - w, prev);
    return true;
  }
  bool bad = false;
  for (int32_t i = 0; i < C.A.n; ++i) C.relax<true>(i, b, x, w, 1 - w, bad);
  return !bad;
}

NK_CLONES bool csr_backward(const Csr& C, const double* __restrict b, double* __restrict x, double w) {
  if (C.A.trusted) {
    double prev = 0;
    for (int32_t i = C.A.n - 1; i >= 0; --i)
      prev = csr_relax_row_chained<false>(C.A.row_ptr, C.A.col_idx, C.A.values, i, C.A.diag_pos[i], C.A.diag[i], b, x, w, 1 - w, prev);
    return true;
  }
  bool bad = false;
  for (int32_t i = C.A.n - 1; i >= 0; --i) C.relax<false>(i, b, x, w, 1 - w, bad);
  return !bad;
}

}  // namespace

bool Csr::sweep_forward(const double* b, double* x, double w) const { return csr_forward(*this, b, x, w); }
bool Csr::sweep_backward(const double* b, double* x, double w) const { return csr_backward(*this, b, x, w); }

}  // namespace detail

bool csr_find_diagonal(int32_t n, const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                       int32_t* diag_pos, double* diag, int64_t nnz) {
  const int32_t entries = detail::csr_entries(row_ptr, n, nnz);
  bool ok = true;
  for (int32_t i = 0; i < n; ++i) {
    diag_pos[i] = -1;
    diag[i] = 0;
    int32_t p0, p1;
    ok &= csr_row_range(row_ptr, i, entries, p0, p1);
    for (int32_t p = p0; p < p1; ++p) {
      const int32_t c = col_idx[p];
      ok &= static_cast<uint32_t>(c) < static_cast<uint32_t>(n);
      if (c == i) {
        diag_pos[i] = p;
        diag[i] = values[p];
      }
    }
    // The caller validated a stored diagonal in every row (E_ZERO_DIAGONAL), so a row without one has
    // had its indices changed; solving on would divide by the 0 put in its place.
    ok &= diag_pos[i] >= 0;
  }
  return ok;
}

}  // namespace relax
}  // namespace numkern
