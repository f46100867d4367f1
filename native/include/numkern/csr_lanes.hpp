// A trusted CSR matrix laid out for SpMV across rows (SELL-8 without sorting, i.e. σ = 1): each AVX-512
// lane sums one row, eight rows at a time, so one vector multiply and one masked add do a step of eight
// rows' sums while every row keeps its own sequential order (ascending stored order from +0, no fused
// multiply-add: numkern_core is built with -ffp-contract=off), the oracle's order. The result is the
// same bits as csr_row_sum_trusted (relax_rows.hpp) or the plain-CSR spmv, row for row.
//
// Why (docs/relax.md §7.1): the scalar row loop issues three loads per entry (column, value, x) and is
// bound by the load ports (~1 cycle an entry on Zen 5, whatever the number of rows in flight). Here a
// step of eight entries is one 512-bit value load, four 64-bit loads of column pairs and eight x loads:
// ~1.6 loads an entry; on the bench's FEM matrices the kernel takes 0.71–0.78× the time of the two-row
// loop. Hardware gathers (vgatherdpd) were measured no faster than the scalar loop on this CPU, and
// sorting rows by length (σ > 1) did not pay for its permuted stores, so neither is used.
//
// Only a private, immutable copy whose every index was checked when it was made may be laid out so
// (relax.hpp CsrOp::trusted): the kernel follows column indices unchecked. Host only (the CUDA launchers
// keep their one-thread-per-row loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace numkern {

/// Rows per chunk: the f64 lanes of one AVX-512 vector.
constexpr int32_t kCsrLanes = 8;

/// Chunk c holds rows [8c, 8c + 8); its slot k holds entry k (in stored order) of each of those rows,
/// lane l at col/val[8·(slot[c] + k) + l]. A chunk has as many slots as its longest row; a shorter row's
/// (or a row past n's) remaining lanes hold column 0 and value 0 and are masked out of the sum (len), so a
/// non-finite x_0 never reaches a row that does not store column 0.
struct CsrLanes {
  int32_t n = 0;
  int64_t ncols = 0;  // the length x must have; csr_lanes() sets n (square), csr_lanes_checked() the checked bound
  std::vector<int32_t> slot;  // chunks + 1 offsets, in slots
  std::vector<int32_t> len;   // 8 per chunk: each lane's row length (0 past n)
  std::vector<int32_t> col;
  std::vector<double> val;

  size_t bytes() const {
    return (slot.size() + len.size() + col.size()) * sizeof(int32_t) + val.size() * sizeof(double);
  }
};

/// Whether csr_lanes() lays matrices out on this CPU: it has AVX-512 (x86-64-v4). Elsewhere the
/// two-row scalar loop is the faster one, and callers keep it.
bool csr_lanes_supported();

/// The lane layout of an n-row CSR matrix whose row_ptr (0 .. nnz, nondecreasing) and columns ([0, n))
/// were checked, or null when !csr_lanes_supported(), n <= 0, or the padding of its chunks would add
/// more than half the stored entries (rows of very different lengths side by side).
std::unique_ptr<CsrLanes> csr_lanes(int32_t n, const int32_t* row_ptr, const int32_t* col_idx,
                                    const double* values);

/// y[i] = (A x)_i for rows i in [i0, i1) ⊆ [0, n), each row summed in its stored order from +0; x has n
/// entries. Other entries of y are not written. portable: the scalar loop over the same layout (the same
/// bits; for the standalone test on any CPU).
void csr_lanes_rows(const CsrLanes& L, int32_t i0, int32_t i1, const double* x, double* y, bool portable = false);

/// The layout of any CSR matrix after checking it is canonical (csr_canonical, linalg.hpp: rowPtr[n] =
/// entries, columns in [0, ncols)); null when the check fails or csr_lanes() declines. For a caller whose arrays were
/// validated elsewhere (a prepared operator's snapshot): native code re-checks what it will follow unchecked.
std::unique_ptr<CsrLanes> csr_lanes_checked(int32_t n, const int32_t* row_ptr, size_t entries, const int32_t* col_idx,
                                            const double* values, int64_t ncols);

/// y = A x over all n rows on up to `threads` threads, each taking whole chunks: every row is summed as
/// csr_lanes_rows sums it, so the bits do not depend on the thread count.
void csr_lanes_spmv(const CsrLanes& L, const double* x, double* y, int threads);

/// csr_lanes_rows, and returns Σ x_i·y_i over the same rows in row order from +0, each product rounded
/// before it is added: a block of xᵀA x as CG's pᵀA p sums it (relax.hpp: blocks of kSumBlock rows),
/// taken while the row sums are still in a register instead of in a second pass over x and y.
double csr_lanes_rows_dot(const CsrLanes& L, int32_t i0, int32_t i1, const double* x, double* y,
                          bool portable = false);

}  // namespace numkern
