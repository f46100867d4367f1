// Bindings of the linalg family (native/include/numkern/linalg.hpp, native/cuda/linalg.cu): argument
// checks, then one call into the CPU kernel or its CUDA twin. Each kernel's arguments are read by one
// function shared by its CPU and CUDA entry points.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/csr_lanes.hpp"
#include "numkern/linalg.hpp"
#include "numkern/linalg_cuda.hpp"

namespace nkb {
namespace {

std::string str(size_t v) { return std::to_string(v); }

// ---- spmv ----

struct SpmvArgs {
  int32_t nrows, nnz;
  uint32_t ncols;
  const int32_t* rowPtr;
  const int32_t* colIdx;
  bool f32;
  const void* values;
  const void* x;
  void* y;
};

SpmvArgs read_spmv(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg rowPtr = int32_array(info, 0, "rowPtr");
  const ArrayArg colIdx = int32_array(info, 1, "colIdx");
  const ArrayArg values = float_array(info, 2, "values");
  const ArrayArg x = float_array_like(info, 3, "x", values, "values");
  const ArrayArg y = float_array_like(info, 4, "y", values, "values");
  const size_t nrows = offsets_count(env, rowPtr, "rowPtr", "nrows", "rows");
  require_length(env, y, "y", nrows, "one entry per row: rowPtr.length − 1");
  const int32_t* rp = checked_offsets(env, job, rowPtr, nrows);
  const size_t nnz = static_cast<size_t>(rp[nrows]);
  require_csr_entries(env, "rowPtr", nnz, colIdx, values);
  if (x.length == 0 && nnz > 0) throw_range(env, "x: empty, but the matrix has " + str(nnz) + " nonzeros");
  // colIdx is range-checked inside the kernel pass (numkern/csr.hpp), which saves a sweep over it.
  const size_t max_cols = static_cast<size_t>(std::numeric_limits<int32_t>::max()) + 1;  // colIdx is int32
  return SpmvArgs{static_cast<int32_t>(nrows), static_cast<int32_t>(nnz),
                  static_cast<uint32_t>(std::min(x.length, max_cols)),
                  rp, job.in<int32_t>(colIdx), values.type == napi_float32_array, job.in<unsigned char>(values),
                  job.in<unsigned char>(x), job.out<unsigned char>(y)};
}

/// Names the first bad index after a kernel reported one.
std::string spmv_index_message(const SpmvArgs& a) {
  for (int32_t k = 0; k < a.nnz; ++k) {
    const int32_t c = a.colIdx[k];
    if (c < 0 || static_cast<uint32_t>(c) >= a.ncols)
      return "colIdx: colIdx[" + std::to_string(k) + "] = " + std::to_string(c) + " is outside [0, " +
             std::to_string(a.ncols) + ") (x.length)";
  }
  return "rowPtr, colIdx: changed while spmv ran; y is unspecified";
}

template <Target tgt>
void prepare_spmv(const Napi::CallbackInfo& info, Job& job) {
  const SpmvArgs a = read_spmv(info, job);
  const int threads = tgt == Target::Cpu ? threads_arg(info, 5) : 0;
  job.run = [a, threads]() -> double {
    bool ok = true;
    if constexpr (tgt == Target::Cpu) {
      ok = a.f32 ? numkern::spmv<float>(a.nrows, a.rowPtr, a.colIdx, static_cast<const float*>(a.values), a.nnz,
                                        a.ncols, static_cast<const float*>(a.x), static_cast<float*>(a.y), threads)
                 : numkern::spmv<double>(a.nrows, a.rowPtr, a.colIdx, static_cast<const double*>(a.values), a.nnz,
                                         a.ncols, static_cast<const double*>(a.x), static_cast<double*>(a.y), threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc =
            a.f32 ? nk_cuda_spmv_f32(a.nrows, a.rowPtr, a.colIdx, static_cast<const float*>(a.values), a.nnz, a.ncols,
                                     static_cast<const float*>(a.x), static_cast<float*>(a.y), &err)
                  : nk_cuda_spmv_f64(a.nrows, a.rowPtr, a.colIdx, static_cast<const double*>(a.values), a.nnz,
                                     a.ncols, static_cast<const double*>(a.x), static_cast<double*>(a.y), &err);
        if (rc == kNkBadIndex) ok = false;
        else if (rc != 0) cuda_fail(rc, err, "spmv");
      }
    }
    if (!ok) throw KernelError(ErrorKind::Range, spmv_index_message(a));
    return 0;
  };
}

// ---- dot, axpy, nrm2 ----

template <Target tgt>
void prepare_dot(const Napi::CallbackInfo& info, Job& job) {
  const ArrayArg x = float_array(info, 0, "x");
  const ArrayArg y = float_array_like(info, 1, "y", x, "x");
  require_length(info.Env(), y, "y", x.length, "x.length");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 2) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = job.in<unsigned char>(x);
  const void* py = job.in<unsigned char>(y);
  job.returns_number = true;
  job.run = [=]() -> double {
    double out = 0;
    if constexpr (tgt == Target::Cpu) {
      out = f32 ? numkern::dot<float>(n, static_cast<const float*>(px), static_cast<const float*>(py), threads)
                : numkern::dot<double>(n, static_cast<const double*>(px), static_cast<const double*>(py), threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc = f32 ? nk_cuda_dot_f32(n, static_cast<const float*>(px), static_cast<const float*>(py), &out, &err)
                           : nk_cuda_dot_f64(n, static_cast<const double*>(px), static_cast<const double*>(py), &out, &err);
        if (rc != 0) cuda_fail(rc, err, "dot");
      }
    }
    return out;
  };
}

template <Target tgt>
void prepare_axpy(const Napi::CallbackInfo& info, Job& job) {
  const double alpha = number_arg(info, 0, "alpha");
  const ArrayArg x = float_array(info, 1, "x");
  const ArrayArg y = float_array_like(info, 2, "y", x, "x");
  require_length(info.Env(), y, "y", x.length, "x.length");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 3) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = job.in<unsigned char>(x);
  void* py = job.inout<unsigned char>(y);
  job.run = [=]() -> double {
    if constexpr (tgt == Target::Cpu) {
      if (f32) numkern::axpy<float>(n, static_cast<float>(alpha), static_cast<const float*>(px), static_cast<float*>(py), threads);
      else numkern::axpy<double>(n, alpha, static_cast<const double*>(px), static_cast<double*>(py), threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc = f32 ? nk_cuda_axpy_f32(n, static_cast<float>(alpha), static_cast<const float*>(px),
                                              static_cast<float*>(py), &err)
                           : nk_cuda_axpy_f64(n, alpha, static_cast<const double*>(px), static_cast<double*>(py), &err);
        if (rc != 0) cuda_fail(rc, err, "axpy");
      }
    }
    return 0;
  };
}

template <Target tgt>
void prepare_nrm2(const Napi::CallbackInfo& info, Job& job) {
  const ArrayArg x = float_array(info, 0, "x");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 1) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = job.in<unsigned char>(x);
  job.returns_number = true;
  job.run = [=]() -> double {
    double out = 0;
    if constexpr (tgt == Target::Cpu) {
      out = f32 ? numkern::nrm2<float>(n, static_cast<const float*>(px), threads)
                : numkern::nrm2<double>(n, static_cast<const double*>(px), threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc = f32 ? nk_cuda_nrm2_f32(n, static_cast<const float*>(px), &out, &err)
                           : nk_cuda_nrm2_f64(n, static_cast<const double*>(px), &out, &err);
        if (rc != 0) cuda_fail(rc, err, "nrm2");
      }
    }
    return out;
  };
}

// ---- segmented moments ----

template <Target tgt>
void prepare_moments(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg values = float_array(info, 0, "values");
  const ArrayArg offsets = int32_array(info, 1, "offsets");
  const double ddof = number_arg(info, 2, "ddof");
  const ArrayArg sum = float_array_like(info, 3, "sum", values, "values");
  const ArrayArg mean = float_array_like(info, 4, "mean", values, "values");
  const ArrayArg variance = float_array_like(info, 5, "variance", values, "values");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 6) : 0;
  if (!(ddof >= 0) || std::isinf(ddof)) throw_range(env, "ddof: expected a finite number >= 0");
  const size_t nseg = offsets_count(env, offsets, "offsets", "nsegments", "segments");
  require_length(env, sum, "sum", nseg, "one entry per segment: offsets.length − 1");
  require_length(env, mean, "mean", nseg, "one entry per segment: offsets.length − 1");
  require_length(env, variance, "variance", nseg, "one entry per segment: offsets.length − 1");
  const int32_t* off = checked_offsets(env, job, offsets, nseg);
  if (static_cast<size_t>(off[nseg]) > values.length)
    throw_range(env, "offsets: offsets[" + str(nseg) + "] = " + std::to_string(off[nseg]) + " exceeds values length " +
                         str(values.length));

  const bool f32 = values.type == napi_float32_array;
  const int32_t ns = static_cast<int32_t>(nseg);
  const size_t nv = values.length;
  const void* pv = job.in<unsigned char>(values);
  void* ps = job.out<unsigned char>(sum);
  void* pm = job.out<unsigned char>(mean);
  void* pvar = job.out<unsigned char>(variance);
  job.run = [=]() -> double {
    bool ok = true;
    if constexpr (tgt == Target::Cpu) {
      ok = f32 ? numkern::segmented_moments<float>(ns, off, nv, static_cast<const float*>(pv), ddof,
                                                   static_cast<float*>(ps), static_cast<float*>(pm),
                                                   static_cast<float*>(pvar), threads)
               : numkern::segmented_moments<double>(ns, off, nv, static_cast<const double*>(pv), ddof,
                                                    static_cast<double*>(ps), static_cast<double*>(pm),
                                                    static_cast<double*>(pvar), threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc =
            f32 ? nk_cuda_segmented_moments_f32(ns, off, nv, static_cast<const float*>(pv), ddof,
                                                static_cast<float*>(ps), static_cast<float*>(pm),
                                                static_cast<float*>(pvar), &err)
                : nk_cuda_segmented_moments_f64(ns, off, nv, static_cast<const double*>(pv), ddof,
                                                static_cast<double*>(ps), static_cast<double*>(pm),
                                                static_cast<double*>(pvar), &err);
        if (rc == kNkBadIndex) ok = false;
        else if (rc != 0) cuda_fail(rc, err, "segmentedMoments");
      }
    }
    if (!ok) throw KernelError(ErrorKind::Range, "offsets: changed while segmentedMoments ran; outputs are unspecified");
    return 0;
  };
}

// ---- CSR check ----

/// csrCheck(rowPtr, colIdx, values, ncols, {finite, bound, positiveDiagonal}, threads = 1): whether the
/// arrays form a canonical CSR matrix passing those checks (numkern::csr_canonical; CsrScanChecks in
/// src/core/validate.ts). Synchronous, on the caller's memory; a shape it cannot read is `false` too,
/// and the façade's own scan then names what is wrong.
Napi::Value csr_check(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const ArrayArg rowPtr = int32_array(info, 0, "rowPtr");
  const ArrayArg colIdx = int32_array(info, 1, "colIdx");
  const ArrayArg values = float_array(info, 2, "values");
  const double ncols = number_arg(info, 3, "ncols");
  if (info.Length() < 5 || !info[4].IsObject()) return Napi::Boolean::New(env, false);
  const Napi::Object checks = info[4].As<Napi::Object>();
  const Napi::Value finiteArg = checks.Get("finite"), boundArg = checks.Get("bound"), diagArg = checks.Get("positiveDiagonal");
  if (!finiteArg.IsBoolean() || !boundArg.IsNumber() || !diagArg.IsBoolean()) return Napi::Boolean::New(env, false);
  const double bound = boundArg.As<Napi::Number>().DoubleValue();
  const int flags = (finiteArg.As<Napi::Boolean>().Value() ? numkern::kCsrFinite : 0) |
                    (std::isfinite(bound) ? numkern::kCsrBounded : 0) |
                    (diagArg.As<Napi::Boolean>().Value() ? numkern::kCsrPositiveDiagonal : 0);
  const size_t max32 = static_cast<size_t>(std::numeric_limits<int32_t>::max());
  if (rowPtr.length == 0 || rowPtr.length - 1 > max32 || colIdx.length > max32 || values.length != colIdx.length ||
      !(ncols >= 0 && ncols <= static_cast<double>(max32)) || std::isnan(bound))
    return Napi::Boolean::New(env, false);
  const auto nrows = static_cast<int32_t>(rowPtr.length - 1);
  const auto nnz = static_cast<int32_t>(colIdx.length);
  const auto* rp = static_cast<const int32_t*>(rowPtr.data);
  const auto* ci = static_cast<const int32_t*>(colIdx.data);
  const auto nc = static_cast<int64_t>(ncols);
  const int threads = info.Length() > 5 ? threads_arg(info, 5) : 1;
  const bool ok =
      values.type == napi_float32_array
          ? numkern::csr_canonical<float>(nrows, rp, nnz, ci, static_cast<const float*>(values.data), nc, flags, bound, threads)
          : numkern::csr_canonical<double>(nrows, rp, nnz, ci, static_cast<const double*>(values.data), nc, flags, bound, threads);
  return Napi::Boolean::New(env, ok);
}

/// firstNonFinite(a): the index of a's first NaN or ±Inf, or -1 (numkern::first_nonfinite). Synchronous, on
/// the caller's memory; checkFinite (src/core/validate.ts) names the element from the index.
Napi::Value first_non_finite(const Napi::CallbackInfo& info) {
  const ArrayArg a = float_array(info, 0, "a");
  const int64_t i = a.type == napi_float32_array ? numkern::first_nonfinite(a.length, static_cast<const float*>(a.data))
                                                 : numkern::first_nonfinite(a.length, static_cast<const double*>(a.data));
  return Napi::Number::New(info.Env(), static_cast<double>(i));
}

/// firstBeyond(a, bound): the index of a's first entry with !(|a_i| <= bound) — NaN, ±Inf or a magnitude
/// past bound — or -1 (numkern::first_beyond). Synchronous, on the caller's memory; core's withinBound
/// (src/core/validate.ts) accepts an array from it and leaves naming a failure to the JS checks.
Napi::Value first_beyond(const Napi::CallbackInfo& info) {
  const ArrayArg a = float_array(info, 0, "a");
  const double bound = number_arg(info, 1, "bound");
  const int64_t i = a.type == napi_float32_array ? numkern::first_beyond(a.length, static_cast<const float*>(a.data), bound)
                                                 : numkern::first_beyond(a.length, static_cast<const double*>(a.data), bound);
  return Napi::Number::New(info.Env(), static_cast<double>(i));
}

// ---- copyBandwidth (device only): the ceiling bench/gpu rates kernels against ----

/// cuda.copyBandwidth(bytes, reps) -> GB/s of a device-to-device cudaMemcpy (each byte read and written).
template <Target tgt>
void prepare_copy_bandwidth(const Napi::CallbackInfo& info, Job& job) {
  const double bytes = integer_arg(info, 0, "bytes", 1, 1099511627776.0);
  const double reps = integer_arg(info, 1, "reps", 1, 1 << 20);
  job.returns_number = true;
  job.run = [bytes, reps]() -> double {
    require_cuda_device();
    double gbps = 0;
    if constexpr (tgt == Target::Cuda && kCudaBuilt) {
      const char* err = nullptr;
      const int rc = nk_cuda_copy_gbps(static_cast<size_t>(bytes), static_cast<int>(reps), &gbps, &err);
      if (rc != 0) cuda_fail(rc, err, "copyBandwidth");
    }
    return gbps;
  };
}

template <Target tgt>
void export_linalg(Napi::Env env, Napi::Object target) {
  export_pair<prepare_spmv<tgt>>(env, target, "spmv");
  export_pair<prepare_dot<tgt>>(env, target, "dot");
  export_pair<prepare_axpy<tgt>>(env, target, "axpy");
  export_pair<prepare_nrm2<tgt>>(env, target, "nrm2");
  export_pair<prepare_moments<tgt>>(env, target, "segmentedMoments");
}

// ---- the lane layout of a prepared operator's snapshot (numkern/csr_lanes.hpp) ----

const napi_type_tag kLanesTag = {0x6e756d6b65726e5fULL, 0x6373724c616e6573ULL};  // "numkern_csrLanes"

/// csrLanes(rowPtr, colIdx, values: Float64Array, ncols): an owned lane layout of the matrix (its entries
/// copied, every index checked here), or null where csr_lanes_checked declines (no AVX-512, padding, a
/// bad index). Synchronous: the arrays are only read while it runs.
Napi::Value csr_lanes_create(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const ArrayArg rowPtr = int32_array(info, 0, "rowPtr");
  const ArrayArg colIdx = int32_array(info, 1, "colIdx");
  const ArrayArg values = typed_array(info, 2, "values", {napi_float64_array}, "Float64Array");
  const double ncols = integer_arg(info, 3, "ncols", 0, static_cast<double>(std::numeric_limits<int32_t>::max()));
  const size_t max32 = static_cast<size_t>(std::numeric_limits<int32_t>::max());
  if (rowPtr.length < 2 || rowPtr.length - 1 > max32 || colIdx.length > max32 || values.length != colIdx.length)
    return env.Null();
  std::unique_ptr<numkern::CsrLanes> L = numkern::csr_lanes_checked(
      static_cast<int32_t>(rowPtr.length - 1), static_cast<const int32_t*>(rowPtr.data), colIdx.length,
      static_cast<const int32_t*>(colIdx.data), static_cast<const double*>(values.data), static_cast<int64_t>(ncols));
  if (!L) return env.Null();
  const int64_t bytes = static_cast<int64_t>(L->bytes());
  return owned_external(env, L.release(), bytes, &kLanesTag, [](const numkern::CsrLanes&) { return true; });
}

/// spmvLanes(lanes, x, y, threads): y = A x on a layout from csrLanes, f64, synchronous (the façade takes
/// this path for products small enough to run in one call). x needs ncols entries, y one per row.
Napi::Value spmv_lanes(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const numkern::CsrLanes& L =
      external_value<numkern::CsrLanes>(env, info[0], &kLanesTag, "lanes", "a layout from csrLanes");
  const ArrayArg x = typed_array(info, 1, "x", {napi_float64_array}, "Float64Array");
  const ArrayArg y = typed_array(info, 2, "y", {napi_float64_array}, "Float64Array");
  require_length(env, y, "y", static_cast<size_t>(L.n), "one entry per row");
  require_length(env, x, "x", static_cast<size_t>(L.ncols), "ncols");
  const int threads = threads_arg(info, 3);
  numkern::csr_lanes_spmv(L, static_cast<const double*>(x.data), static_cast<double*>(y.data), threads);
  return env.Undefined();
}

}  // namespace

void register_linalg(Napi::Env env, Napi::Object exports) {
  exports.Set("csrCheck", Napi::Function::New(env, csr_check, "csrCheck"));
  exports.Set("csrLanes", Napi::Function::New(env, csr_lanes_create, "csrLanes"));
  exports.Set("spmvLanes", Napi::Function::New(env, spmv_lanes, "spmvLanes"));
  exports.Set("firstNonFinite", Napi::Function::New(env, first_non_finite, "firstNonFinite"));
  exports.Set("firstBeyond", Napi::Function::New(env, first_beyond, "firstBeyond"));
  export_linalg<Target::Cpu>(env, exports);
  export_linalg<Target::Cuda>(env, cuda_exports(env, exports));
  export_pair<prepare_copy_bandwidth<Target::Cuda>>(env, cuda_exports(env, exports), "copyBandwidth");
}

}  // namespace nkb
