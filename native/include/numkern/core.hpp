// The core family (native/src/core): what every other family leans on or the package reports about
// itself: build facts, the Philox stream, and the machine-ceiling probes of the bench. Thread planning
// and the fork-join team live in parallel.hpp. No Node headers: the bindings and the standalone test
// call these directly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/parallel.hpp"

namespace numkern {

// ---- build facts (sysinfo.cc) ----

/// "OpenBLAS 0.3.21 ..." from openblas_get_config(), or nullptr when built without BLAS.
const char* blas_config();
/// The target_clones variant the dynamic loader picked for this CPU: "x86-64-v4", "avx2" or "default".
const char* simd_variant();

// ---- the C heap (heap.cc) ----

/// Touches `bytes` of the calling thread's malloc arena and frees them, so that the allocations of a
/// process's first solves find faulted pages instead of paying a page fault per 4 KiB (about 10 µs on
/// the development VM: a first solve on a 4096-row FEM matrix faulted ~100 pages, 1.5× a warm solve).
/// With glibc it first raises the dynamic mmap and trim thresholds (a mapped block freed unused), so the
/// touched block comes from the heap and stays there after free; elsewhere it is harmless. Returns
/// the bytes touched.
size_t warm_heap(size_t bytes);

// ---- random numbers (philox.cc) ----

/// out[i] = word(start + i) of the Philox stream (key, stream) defined in philox.hpp.
void philox_fill(const uint32_t key[2], uint32_t stream, uint64_t start, size_t n, uint32_t* out);

// ---- machine-ceiling probes for the bench (probes.cc) ----

/// STREAM triad a = b + s·c over n doubles, `reps` times; returns the best time of one pass in seconds.
/// STREAM counts 24 bytes per element (two reads, one write, no write-allocate).
double triad(size_t n, double* a, const double* b, const double* c, double s, int reps, int threads);

/// C = A·B for row-major n×n matrices with the builtin blocked kernel (used by gemm_gflops when the
/// build has no BLAS, and checked by the standalone test in every build).
void gemm_builtin(int n, const double* A, const double* B, double* C, int threads);

/// GFLOP/s (2n³ flops per product) of the best of `reps` n×n products C = A·B: dgemm from OpenBLAS when
/// built with it, else the builtin blocked kernel. The BLAS thread count is set to the planned count.
double gemm_gflops(int n, int threads, int reps);

}  // namespace numkern
