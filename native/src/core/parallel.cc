// The one place that decides how many threads a kernel uses.
#include <algorithm>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "numkern/parallel.hpp"
#include "numkern/blas_threads.hpp"

namespace numkern {

int hardware_threads() {
  // The affinity mask, not the machine's CPU count: a process pinned by taskset or a cpuset must not
  // oversubscribe the cores it was given.
  static const int n = [] {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      const int c = CPU_COUNT(&set);
      if (c > 0) return c;
    }
#endif
    const unsigned h = std::thread::hardware_concurrency();
    return h > 0 ? static_cast<int>(h) : 1;
  }();
  return n;
}

int plan_threads(int requested, size_t work, size_t grain) {
  const int hw = hardware_threads();
  // More threads than cores never helps these bandwidth-bound kernels; it only adds switching.
  int nt = requested <= 0 ? hw : std::min(requested, hw);
  if (grain > 0) {
    const size_t cap = std::max<size_t>(1, work / grain);
    if (cap < static_cast<size_t>(nt)) nt = static_cast<int>(cap);
  }
  return std::max(nt, 1);
}

bool openmp_enabled() {
#if defined(NUMKERN_HAVE_OPENMP)
  return true;
#else
  return false;
#endif
}

#if defined(NUMKERN_HAVE_BLAS)
std::mutex& blas_threads_mutex() {
  static std::mutex m;
  return m;
}
#endif

}  // namespace numkern
