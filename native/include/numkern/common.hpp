// Macros shared by the CPU kernels, the CUDA launchers and the standalone test.
#pragma once

// Element logic is written once and compiled for both the host and the device.
#if defined(__CUDACC__)
#define NK_HD __host__ __device__
#else
#define NK_HD
#endif

// Function multi-versioning for the hot loops: the dynamic loader's ifunc resolver picks the best clone
// for the CPU at load time, so one prebuilt binary serves every x86-64 machine (never -march=native,
// docs/platform.md 1.11). target_clones needs GCC and glibc ifunc; everywhere else the plain function is used.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && defined(__linux__)
#define NK_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#define NK_HAVE_CLONES 1
#else
#define NK_CLONES
#define NK_HAVE_CLONES 0
#endif

// Bodies shared by several clones must be inlined into each clone to be compiled for its target.
#if defined(__GNUC__) && !defined(__CUDACC__)
#define NK_FORCEINLINE inline __attribute__((always_inline))
#else
#define NK_FORCEINLINE inline
#endif

#if !defined(__CUDACC__)
namespace numkern {
/// Whether the CPU runs x86-64-v4 (AVX-512 and FMA): the explicit AVX-512 loops may run (the pg family's
/// f32 kernels, the lane-layout SpMV). One answer per process. False where clones are not built.
inline bool cpu_x86_64_v4() {
#if NK_HAVE_CLONES
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4") != 0;
  }();
  return has;
#else
  return false;
#endif
}
}  // namespace numkern
#endif
