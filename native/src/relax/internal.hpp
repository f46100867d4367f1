// What every part of the relax kernels shares (native/src/relax/*.cc; public API in
// numkern/relax.hpp, per-row arithmetic in numkern/relax_rows.hpp).
#pragma once

#include <atomic>
#include <cstddef>

namespace numkern {
namespace relax {
namespace detail {

// Rows per thread below which a fork costs more than the pass it splits (measured on 5-point rows).
constexpr size_t kRowGrain = 16384;
// The same grain in units of work, an entry or a row's end each: a 5-point row is six. A CSR pass's work
// is its entries plus its rows, so a matrix with long rows (a structural one: 60 a row) forks at fewer
// rows than a grid does, and a 5-point CSR matrix where it did before.
constexpr size_t kRowUnits = 6;
constexpr size_t kWorkGrain = kRowUnits * kRowGrain;

/// Set by whichever thread met a bad index (relax.hpp: the solve then stops with BadIndex). Stored to
/// only when an index was bad, so while every index is good it costs a never-taken branch.
class BadIndexFlag {
 public:
  void note(bool ok) {
    if (!ok) set_.store(true, std::memory_order_relaxed);
  }
  bool set() const { return set_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> set_{false};
};

// The operators the driver runs on (csr_operator.hpp, stencil_operator.hpp). A template over the
// operator that lives in one .cc file is instantiated there for each: X(Op) once per operator.
#define NK_RELAX_FOR_EACH_OP(X) X(Csr) X(Sten2c) X(Sten2v) X(Sten3c) X(Sten3v)

}  // namespace detail
}  // namespace relax
}  // namespace numkern
