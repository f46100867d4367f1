// C entry points of the relax family's CUDA kernels (native/cuda/relax.cu), under the conventions of
// cuda_api.hpp, except that a solve keeps its data on the device between calls: create copies one
// system there, step advances it as relax_step does (relax.hpp: same state vector, same statuses,
// chunked by max_updates), read copies x back. Defined only in a CUDA build.
//
// Methods: those the device runs as the CPU does, row for row with the same NK_HD arithmetic
// (relax_rows.hpp): the row-parallel 'jacobi', 'sor-redblack', 'cg' and 'jacobi-cg', and the
// natural-ordering sweeps 'gauss-seidel', 'sor' and 'ssor' level by level (relax_levels.hpp: rows of one
// level are independent; the same bits as the sequential sweep), and 'ssor-cg', whose triangular passes
// run level by level too (a CSR matrix's columns must increase in every row). SSOR-CG is not batched
// (nk_cuda_relax_step_batch): each system runs its own launches.
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/cuda_api.hpp"
#include "numkern/relax.hpp"

/// One system on the device: its operator, vectors and solver scalars. Opaque.
struct NkCudaRelax;

namespace numkern {
namespace relax {
/// Whether the device has a kernel for `method` (the list above).
constexpr bool cuda_method(int method) {
  return method == Jacobi || method == SorRedBlack || method == Cg || method == JacobiCg || method == GaussSeidel ||
         method == Sor || method == Ssor || method == SsorCg;
}
/// Whether nk_cuda_relax_step_batch runs `method` (all device methods but ssor-cg).
constexpr bool cuda_batch_method(int method) { return cuda_method(method) && method != SsorCg; }
/// Whether `method` is a natural-ordering sweep, run on the device level by level.
NK_HD constexpr bool cuda_level_method(int method) { return method == GaussSeidel || method == Sor || method == Ssor; }
/// Largest system of a batch solved in one launch (nk_cuda_relax_step_batch): one block of threads per
/// system loops over its rows, so a batch is many systems of at most a few sweeps' worth of a block's work.
constexpr int64_t kCudaBatchRows = 1 << 16;
}  // namespace relax
}  // namespace numkern

extern "C" {

/// Copies one system to the device: exactly one of csr (diag_pos and diag set, every index checked by
/// the caller) and sten; coloring for sor-redblack (order of n rows, offsets of colors + 1); b and x0
/// of n doubles. *out is freed by nk_cuda_relax_free. s->method must satisfy cuda_method().
int nk_cuda_relax_create(const numkern::relax::CsrOp* csr, const numkern::relax::StencilOp* sten,
                         const numkern::relax::Coloring* coloring, const numkern::relax::Settings* s, const double* b,
                         const double* x, NkCudaRelax** out, const char** err);
/// relax_step on the device: advances by at most max_updates updates, reading back only the scalars of
/// a residual test (every checkEvery updates) or of the chunk's end. state as relax.hpp's StateSlot.
int nk_cuda_relax_step(NkCudaRelax* h, double* state, int64_t max_updates, const char** err);
/// Advances m systems (each created alone, never advanced by nk_cuda_relax_step, n <= kCudaBatchRows)
/// in one launch, one block each: system k by at most max_updates[k] updates, states[k] as in
/// nk_cuda_relax_step. Updates, tests and statuses are nk_cuda_relax_step's; the sums are block-wide.
int nk_cuda_relax_step_batch(NkCudaRelax* const* hs, int32_t m, double* const* states, const int64_t* max_updates,
                             const char** err);
/// Copies the current iterate (n doubles) to x.
int nk_cuda_relax_read(NkCudaRelax* h, double* x, const char** err);
void nk_cuda_relax_free(NkCudaRelax* h);

}  // extern "C"
