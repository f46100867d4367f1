// OpenBLAS's thread count for the length of a call, for every family that calls OpenBLAS (frechet's
// tiles, sketch's QR and Gram pass, the dgemm ceiling probe). OpenBLAS 0.3.21 keeps the count
// process-wide, so two families setting it from two libuv threads would race (one could restore a
// count while the other's single-threaded products run, whose bits then depend on OpenBLAS's split):
// every caller takes the one lock here, sets the count, and restores the previous one after.
#pragma once

#if defined(NUMKERN_HAVE_BLAS)
#include <mutex>

#include <cblas.h>

namespace numkern {

/// The lock every OpenBLAS thread-count change is made under (native/src/core/parallel.cc).
std::mutex& blas_threads_mutex();

/// Holds the lock and OpenBLAS at n threads while alive; on = false holds and changes nothing.
class BlasThreads {
 public:
  explicit BlasThreads(int n, bool on = true) {
    if (!on) return;
    lock_ = std::unique_lock<std::mutex>(blas_threads_mutex());
    previous_ = openblas_get_num_threads();
    openblas_set_num_threads(n);
  }
  ~BlasThreads() {
    if (lock_.owns_lock()) openblas_set_num_threads(previous_);
  }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;
  int previous_ = 1;
};

}  // namespace numkern
#endif
