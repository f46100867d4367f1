// Per-segment sum, mean and variance of a ragged batch.
#include <vector>

#include "numkern/linalg.hpp"
#include "numkern/moments.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace {

constexpr size_t kGrain = 1 << 15;

template <class T>
NK_FORCEINLINE bool moments_range(int32_t s0, int32_t s1, const int32_t* offsets, size_t nvalues, const T* values,
                                  double ddof, T* sum, T* mean, T* variance) {
  bool ok = true;
  for (int32_t s = s0; s < s1; ++s) {
    // Re-read and re-check: an async caller may change offsets while this runs.
    const int64_t b = offsets[s], e = offsets[s + 1];
    const bool valid = b >= 0 && b <= e && static_cast<uint64_t>(e) <= nvalues;
    ok &= valid;
    const Moments m = valid ? segment_moments(values + b, static_cast<int32_t>(e - b), ddof) : Moments{0, 0, 0};
    sum[s] = static_cast<T>(m.sum);
    mean[s] = static_cast<T>(m.mean);
    variance[s] = static_cast<T>(m.variance);
  }
  return ok;
}

NK_CLONES bool moments_range_f32(int32_t s0, int32_t s1, const int32_t* offsets, size_t nvalues, const float* values,
                                 double ddof, float* sum, float* mean, float* variance) {
  return moments_range(s0, s1, offsets, nvalues, values, ddof, sum, mean, variance);
}
NK_CLONES bool moments_range_f64(int32_t s0, int32_t s1, const int32_t* offsets, size_t nvalues,
                                 const double* values, double ddof, double* sum, double* mean, double* variance) {
  return moments_range(s0, s1, offsets, nvalues, values, ddof, sum, mean, variance);
}
inline bool moments_range_any(int32_t s0, int32_t s1, const int32_t* o, size_t nv, const float* v, double d, float* s,
                              float* m, float* var) {
  return moments_range_f32(s0, s1, o, nv, v, d, s, m, var);
}
inline bool moments_range_any(int32_t s0, int32_t s1, const int32_t* o, size_t nv, const double* v, double d,
                              double* s, double* m, double* var) {
  return moments_range_f64(s0, s1, o, nv, v, d, s, m, var);
}

}  // namespace

template <class T>
bool segmented_moments(int32_t nseg, const int32_t* offsets, size_t nvalues, const T* values, double ddof, T* sum,
                       T* mean, T* variance, int threads) {
  if (nseg <= 0) return true;
  const int64_t span = static_cast<int64_t>(offsets[nseg]) - offsets[0];
  const size_t work = static_cast<size_t>(span > 0 ? span : 0) + static_cast<size_t>(nseg);
  const int nt = plan_threads(threads, work, kGrain);
  std::vector<int32_t> cuts;
  balanced_cuts(offsets, nseg, nt, cuts);
  std::vector<char> ok(static_cast<size_t>(nt), 1);
  parallel_run(nt, [&](int t, int) {
    ok[static_cast<size_t>(t)] = moments_range_any(cuts[static_cast<size_t>(t)], cuts[static_cast<size_t>(t) + 1],
                                                   offsets, nvalues, values, ddof, sum, mean, variance);
  });
  for (char c : ok)
    if (!c) return false;
  return true;
}

template bool segmented_moments<float>(int32_t, const int32_t*, size_t, const float*, double, float*, float*, float*,
                                       int);
template bool segmented_moments<double>(int32_t, const int32_t*, size_t, const double*, double, double*, double*,
                                        double*, int);

}  // namespace numkern
