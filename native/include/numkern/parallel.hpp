// Threads for the CPU kernels of every family: how many (plan_threads, native/src/core/parallel.cc, the
// one place that decides it) and the fork-join team that runs them (OpenMP when the build has it,
// std::thread otherwise).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(NUMKERN_HAVE_OPENMP)
#include <omp.h>
#endif

namespace numkern {

/// Hardware threads this process may run on (its CPU affinity mask), at least 1.
int hardware_threads();
/// Threads to use for `work` items when the caller asked for `requested` (0 = all): never more than the
/// hardware threads, and at most one per `grain` items so small calls stay on the calling thread.
int plan_threads(int requested, size_t work, size_t grain);
/// Whether the kernels were built with OpenMP (else std::thread).
bool openmp_enabled();

/// The first exception a team member threw, rethrown on the calling thread once the team has joined:
/// an exception may not leave an OpenMP region or a std::thread (either ends the process), and a part's
/// std::bad_alloc must reach the addon's glue as any other failure does.
class TeamFailure {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
};

/// Calls f(tid, nt) once for every tid in [0, nt). Each call owns a disjoint part of the work, derived
/// from (tid, nt) alone, so the caller's partition decides the result and the runtime never does. A part
/// that throws does not stop the others; the first exception is rethrown here after the join.
template <class F>
void parallel_run(int nt, F&& f) {
  if (nt <= 1) {
    f(0, 1);
    return;
  }
  TeamFailure failure;
#if defined(NUMKERN_HAVE_OPENMP)
  // The team may come back smaller than asked (OMP_DYNAMIC, thread limits); the parts of the missing
  // members are run by the members that exist, so the partition stays the requested one.
#pragma omp parallel num_threads(nt)
  {
    const int got = omp_get_num_threads();
    for (int t = omp_get_thread_num(); t < nt; t += got) failure.run([&] { f(t, nt); });
  }
#else
  std::vector<std::thread> team;
  team.reserve(static_cast<size_t>(nt - 1));
  int started = 1;
  try {
    for (; started < nt; ++started) team.emplace_back([&failure, &f, started, nt] { failure.run([&] { f(started, nt); }); });
  } catch (...) {
    // Thread creation failed (resource limits): run the remaining parts here.
  }
  for (int t = started; t < nt; ++t) failure.run([&] { f(t, nt); });
  failure.run([&] { f(0, nt); });
  for (auto& th : team) th.join();
#endif
  failure.rethrow();
}

/// Runs f(0) and f(1) on two threads at the same time, for parts that wait on each other (a pipeline).
/// Returns false, having run neither, when two threads cannot be had: the caller then runs the work
/// sequentially. (parallel_run may run parts one after another, which would deadlock such parts.) A
/// part that throws is rethrown here, but its partner may be waiting on it: pipeline parts allocate
/// nothing and throw nothing once started (the relax pair passes).
template <class F>
bool run_pair(F&& f) {
  TeamFailure failure;
#if defined(NUMKERN_HAVE_OPENMP)
  bool paired = false;
#pragma omp parallel num_threads(2)
  {
    if (omp_get_num_threads() == 2) {
      if (omp_get_thread_num() == 0) paired = true;
      failure.run([&] { f(omp_get_thread_num()); });
    }
  }
  failure.rethrow();
  return paired;
#else
  std::thread other;
  try {
    other = std::thread([&failure, &f] { failure.run([&] { f(1); }); });
  } catch (...) {
    return false;
  }
  failure.run([&] { f(0); });
  other.join();
  failure.rethrow();
  return true;
#endif
}

/// [begin, end) of part t of nt for n items in contiguous equal ranges.
inline void even_split(size_t n, int t, int nt, size_t& begin, size_t& end) {
  begin = n * static_cast<size_t>(t) / static_cast<size_t>(nt);
  end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(nt);
}

/// Cuts 0 = cuts[0] <= cuts[1] <= ... <= cuts[nt] = n so that part t, rows [cuts[t], cuts[t+1]), holds
/// about the same nnz + rows as the others (a row costs its nonzeros plus one for the row itself). ptr is
/// a CSR row pointer or a ragged offsets array of n + 1 entries; the cost ptr[r] + r is nondecreasing
/// for valid input, so a binary search finds each cut. The cuts are forced nondecreasing afterwards, so
/// even an index array that changes underneath yields disjoint parts (only the balance suffers).
inline void balanced_cuts(const int32_t* ptr, int32_t n, int nt, std::vector<int32_t>& cuts) {
  cuts.assign(static_cast<size_t>(nt) + 1, 0);
  cuts[static_cast<size_t>(nt)] = n;
  if (n <= 0) return;
  const int64_t base = static_cast<int64_t>(ptr[0]);
  const int64_t total = static_cast<int64_t>(ptr[n]) - base + n;
  for (int t = 1; t < nt; ++t) {
    const int64_t target = total * t / nt;
    int32_t lo = cuts[static_cast<size_t>(t) - 1], hi = n;  // first r with cost(r) >= target
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo) / 2;
      const int64_t cost = static_cast<int64_t>(ptr[mid]) - base + mid;
      if (cost < target) lo = mid + 1; else hi = mid;
    }
    cuts[static_cast<size_t>(t)] = lo;
  }
}

}  // namespace numkern
