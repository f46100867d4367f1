// C entry point of the sketch family's CUDA kernels (native/cuda/sketch.cu), under the conventions of
// cuda_api.hpp. Defined only in a CUDA build.
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/cuda_api.hpp"
#include "numkern/sketch.hpp"

extern "C" {

/// numkern::sketch_apply on the device (docs/sketch.md §2): SA (m × A.cols) := [accumulate ? SA : 0] +
/// S₀·A_blk, Sb likewise when b is given, then × S.scale when apply_scale. All arithmetic in f64, every
/// SA entry summed over the block's rows in increasing global order (the SRHT: the oracle's butterfly
/// order, then blocks in increasing h). With limit > 0 a dense A is screened: *bad receives the first
/// flat index with !(|a| ≤ limit), else −1 (CSR: −1, not screened).
int nk_cuda_sketch_apply_f32(const numkern::SketchSpec* S, const numkern::SketchOperandView<float>* A,
                             uint64_t rowOffset, const float* b, double* SA, double* Sb, int accumulate,
                             int apply_scale, double limit, int64_t* bad, const char** err);
int nk_cuda_sketch_apply_f64(const numkern::SketchSpec* S, const numkern::SketchOperandView<double>* A,
                             uint64_t rowOffset, const double* b, double* SA, double* Sb, int accumulate,
                             int apply_scale, double limit, int64_t* bad, const char** err);

}  // extern "C"
