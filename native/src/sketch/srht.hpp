// The SRHT's CPU pass (docs/sketch.md §2.3), called by sketch_apply (native/src/sketch/apply.cc).
#pragma once

#include <cstdint>

#include "numkern/sketch.hpp"

namespace numkern {

/// SA (m × cols) += S₀·A_blk and Sb += S₀·b for the SRHT, SA and Sb holding the start values. With
/// limit > 0 a dense A is screened on the way: returns the first flat index with !(|a| ≤ limit), else −1.
template <class T>
int64_t srht_sketch(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                    double* Sb, double limit, int threads);

struct SrhtLayout;

/// The schedule for B ≤ 2¹² (native/src/sketch/srht_blocks.cc), same contract for a dense A of at least one
/// row, given the layout srht_sketch made (srht_parts.hpp).
template <class T>
int64_t srht_blocks(const SketchSpec& S, const SrhtLayout& lay, const SketchOperandView<T>& A, uint64_t off, const T* b,
                    double* SA, double* Sb, double limit, int threads);

}  // namespace numkern
