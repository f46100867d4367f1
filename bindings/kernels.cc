// Bindings for the kernels: argument checks, then one call into native/src (CPU) or native/cuda.
// Each kernel's arguments are read by one function shared by its CPU and CUDA entry points.
#include <limits>
#include <string>

#include "args.hpp"
#include "numkern/cuda_api.hpp"
#include "numkern/kernels.hpp"
#include "numkern/philox.hpp"

namespace nkb {
namespace {

enum class Target { Cpu, Cuda };

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 − 1

std::string str(size_t v) { return std::to_string(v); }

// ---- CUDA failures ----

/// Throws unless a CUDA device can take work: built without CUDA, or no driver/device.
void require_cuda_device() {
  int count = 0;
  const char* err = nullptr;
  const int rc = nk_cuda_device_count(&count, &err);
  if (!nk_cuda_compiled()) throw KernelError(ErrorKind::Plain, std::string("CUDA: ") + (err ? err : "built without CUDA"));
  if (rc != 0) throw KernelError(ErrorKind::Plain, std::string("CUDA: no CUDA device: ") + (err ? err : "unknown error"), rc);
  if (count == 0) throw KernelError(ErrorKind::Plain, "CUDA: no CUDA device");
}

[[noreturn]] void cuda_fail(int code, const char* err, const char* op) {
  const bool lost = code > 0 && !nk_cuda_context_ok();
  throw KernelError(ErrorKind::Plain,
                    std::string("CUDA: ") + op + ": " + (err ? err : "unknown error") +
                        (lost ? " (the device context is lost)" : ""),
                    code, lost);
}

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
  const int32_t* rp = rowPtr.as<int32_t>();
  if (rp[0] < 0) throw_range(env, "rowPtr: rowPtr[0] = " + std::to_string(rp[0]) + " is negative");
  require_monotone(env, rp, nrows, "rowPtr", "rowPtr");
  const size_t nnz = static_cast<size_t>(rp[nrows]);
  require_csr_entries(env, "rowPtr", nnz, colIdx, values);
  if (x.length == 0 && nnz > 0) throw_range(env, "x: empty, but the matrix has " + str(nnz) + " nonzeros");
  // colIdx is range-checked inside the kernel pass (numkern/csr.hpp), which saves a sweep over it.
  job.keep = {rowPtr.object, colIdx.object, values.object, x.object, y.object};
  const size_t max_cols = static_cast<size_t>(std::numeric_limits<int32_t>::max()) + 1;  // colIdx is int32
  return SpmvArgs{static_cast<int32_t>(nrows), static_cast<int32_t>(nnz),
                  static_cast<uint32_t>(std::min(x.length, max_cols)),
                  rp, colIdx.as<int32_t>(), values.type == napi_float32_array, values.data, x.data, y.data};
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
Job prepare_spmv(const Napi::CallbackInfo& info) {
  Job job;
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
      const char* err = nullptr;
      const int rc =
          a.f32 ? nk_cuda_spmv_f32(a.nrows, a.rowPtr, a.colIdx, static_cast<const float*>(a.values), a.nnz, a.ncols,
                                   static_cast<const float*>(a.x), static_cast<float*>(a.y), &err)
                : nk_cuda_spmv_f64(a.nrows, a.rowPtr, a.colIdx, static_cast<const double*>(a.values), a.nnz, a.ncols,
                                   static_cast<const double*>(a.x), static_cast<double*>(a.y), &err);
      if (rc == kNkBadIndex) ok = false;
      else if (rc != 0) cuda_fail(rc, err, "spmv");
    }
    if (!ok) throw KernelError(ErrorKind::Range, spmv_index_message(a));
    return 0;
  };
  return job;
}

// ---- dot, axpy, nrm2 ----

template <Target tgt>
Job prepare_dot(const Napi::CallbackInfo& info) {
  const ArrayArg x = float_array(info, 0, "x");
  const ArrayArg y = float_array_like(info, 1, "y", x, "x");
  require_length(info.Env(), y, "y", x.length, "x.length");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 2) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = x.data;
  const void* py = y.data;
  Job job;
  job.returns_number = true;
  job.keep = {x.object, y.object};
  job.run = [=]() -> double {
    if constexpr (tgt == Target::Cpu) {
      return f32 ? numkern::dot<float>(n, static_cast<const float*>(px), static_cast<const float*>(py), threads)
                 : numkern::dot<double>(n, static_cast<const double*>(px), static_cast<const double*>(py), threads);
    } else {
      require_cuda_device();
      double out = 0;
      const char* err = nullptr;
      const int rc = f32 ? nk_cuda_dot_f32(n, static_cast<const float*>(px), static_cast<const float*>(py), &out, &err)
                         : nk_cuda_dot_f64(n, static_cast<const double*>(px), static_cast<const double*>(py), &out, &err);
      if (rc != 0) cuda_fail(rc, err, "dot");
      return out;
    }
  };
  return job;
}

template <Target tgt>
Job prepare_axpy(const Napi::CallbackInfo& info) {
  const double alpha = number_arg(info, 0, "alpha");
  const ArrayArg x = float_array(info, 1, "x");
  const ArrayArg y = float_array_like(info, 2, "y", x, "x");
  require_length(info.Env(), y, "y", x.length, "x.length");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 3) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = x.data;
  void* py = y.data;
  Job job;
  job.keep = {x.object, y.object};
  job.run = [=]() -> double {
    if constexpr (tgt == Target::Cpu) {
      if (f32) numkern::axpy<float>(n, static_cast<float>(alpha), static_cast<const float*>(px), static_cast<float*>(py), threads);
      else numkern::axpy<double>(n, alpha, static_cast<const double*>(px), static_cast<double*>(py), threads);
    } else {
      require_cuda_device();
      const char* err = nullptr;
      const int rc = f32 ? nk_cuda_axpy_f32(n, static_cast<float>(alpha), static_cast<const float*>(px),
                                            static_cast<float*>(py), &err)
                         : nk_cuda_axpy_f64(n, alpha, static_cast<const double*>(px), static_cast<double*>(py), &err);
      if (rc != 0) cuda_fail(rc, err, "axpy");
    }
    return 0;
  };
  return job;
}

template <Target tgt>
Job prepare_nrm2(const Napi::CallbackInfo& info) {
  const ArrayArg x = float_array(info, 0, "x");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 1) : 0;
  const bool f32 = x.type == napi_float32_array;
  const size_t n = x.length;
  const void* px = x.data;
  Job job;
  job.returns_number = true;
  job.keep = {x.object};
  job.run = [=]() -> double {
    if constexpr (tgt == Target::Cpu) {
      return f32 ? numkern::nrm2<float>(n, static_cast<const float*>(px), threads)
                 : numkern::nrm2<double>(n, static_cast<const double*>(px), threads);
    } else {
      require_cuda_device();
      double out = 0;
      const char* err = nullptr;
      const int rc = f32 ? nk_cuda_nrm2_f32(n, static_cast<const float*>(px), &out, &err)
                         : nk_cuda_nrm2_f64(n, static_cast<const double*>(px), &out, &err);
      if (rc != 0) cuda_fail(rc, err, "nrm2");
      return out;
    }
  };
  return job;
}

// ---- segmented moments ----

template <Target tgt>
Job prepare_moments(const Napi::CallbackInfo& info) {
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
  const int32_t* off = offsets.as<int32_t>();
  if (off[0] < 0) throw_range(env, "offsets: offsets[0] = " + std::to_string(off[0]) + " is negative");
  require_monotone(env, off, nseg, "offsets", "offsets");
  if (static_cast<size_t>(off[nseg]) > values.length)
    throw_range(env, "offsets: offsets[" + str(nseg) + "] = " + std::to_string(off[nseg]) + " exceeds values length " +
                         str(values.length));

  const bool f32 = values.type == napi_float32_array;
  const int32_t ns = static_cast<int32_t>(nseg);
  const size_t nv = values.length;
  const void* pv = values.data;
  void* ps = sum.data;
  void* pm = mean.data;
  void* pvar = variance.data;
  Job job;
  job.keep = {values.object, offsets.object, sum.object, mean.object, variance.object};
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
      const char* err = nullptr;
      const int rc =
          f32 ? nk_cuda_segmented_moments_f32(ns, off, nv, static_cast<const float*>(pv), ddof, static_cast<float*>(ps),
                                              static_cast<float*>(pm), static_cast<float*>(pvar), &err)
              : nk_cuda_segmented_moments_f64(ns, off, nv, static_cast<const double*>(pv), ddof,
                                              static_cast<double*>(ps), static_cast<double*>(pm),
                                              static_cast<double*>(pvar), &err);
      if (rc == kNkBadIndex) ok = false;
      else if (rc != 0) cuda_fail(rc, err, "segmentedMoments");
    }
    if (!ok) throw KernelError(ErrorKind::Range, "offsets: changed while segmentedMoments ran; outputs are unspecified");
    return 0;
  };
  return job;
}

// ---- Philox (stream definition in native/include/numkern/philox.hpp) ----

Napi::Value philox4x32(const Napi::CallbackInfo& info) {
  const ArrayArg ctr = uint32_array(info, 0, "counter");
  const ArrayArg key = uint32_array(info, 1, "key");
  require_length(info.Env(), ctr, "counter", 4, "four 32-bit counter words");
  require_length(info.Env(), key, "key", 2, "two 32-bit key words");
  Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), 4);
  numkern::philox4x32(ctr.as<uint32_t>(), key.as<uint32_t>(), out.Data());
  return out;
}

Job prepare_philox_fill(const Napi::CallbackInfo& info) {
  const ArrayArg key = uint32_array(info, 0, "key");
  require_length(info.Env(), key, "key", 2, "two 32-bit key words");
  const uint32_t stream = static_cast<uint32_t>(integer_arg(info, 1, "stream", 0, 4294967295.0));
  const uint64_t start = static_cast<uint64_t>(integer_arg(info, 2, "start", 0, kMaxSafeInteger));
  const ArrayArg out = uint32_array(info, 3, "out");
  if (static_cast<double>(start) + static_cast<double>(out.length) > kMaxSafeInteger + 1)
    throw_range(info.Env(), "start: start + out.length exceeds 2^53");
  const uint32_t k[2] = {key.as<uint32_t>()[0], key.as<uint32_t>()[1]};
  const size_t n = out.length;
  uint32_t* po = out.as<uint32_t>();
  Job job;
  job.keep = {out.object};
  job.run = [=]() -> double {
    numkern::philox_fill(k, stream, start, n, po);
    return 0;
  };
  return job;
}

// ---- machine-ceiling probes ----

Job prepare_triad(const Napi::CallbackInfo& info) {
  const ArrayArg a = typed_array(info, 0, "a", {napi_float64_array}, "Float64Array");
  const ArrayArg b = typed_array(info, 1, "b", {napi_float64_array}, "Float64Array");
  const ArrayArg c = typed_array(info, 2, "c", {napi_float64_array}, "Float64Array");
  require_length(info.Env(), b, "b", a.length, "a.length");
  require_length(info.Env(), c, "c", a.length, "a.length");
  const double scalar = number_arg(info, 3, "scalar");
  const int threads = threads_arg(info, 4);
  const int reps = static_cast<int>(integer_arg(info, 5, "reps", 1, 1e6, 1));
  const size_t n = a.length;
  double* pa = a.as<double>();
  const double* pb = b.as<double>();
  const double* pc = c.as<double>();
  Job job;
  job.returns_number = true;
  job.keep = {a.object, b.object, c.object};
  job.run = [=]() -> double { return numkern::triad(n, pa, pb, pc, scalar, reps, threads); };
  return job;
}

Job prepare_gemm_gflops(const Napi::CallbackInfo& info) {
  // 8192² doubles × 3 matrices is 1.5 GiB, the most a probe should take.
  const int n = static_cast<int>(integer_arg(info, 0, "n", 1, 8192));
  const int threads = threads_arg(info, 1);
  const int reps = static_cast<int>(integer_arg(info, 2, "reps", 1, 1000, 3));
  Job job;
  job.returns_number = true;
  job.run = [=]() -> double { return numkern::gemm_gflops(n, threads, reps); };
  return job;
}

}  // namespace

void register_kernels(Napi::Env env, Napi::Object exports) {
  export_pair<prepare_spmv<Target::Cpu>>(env, exports, "spmv");
  export_pair<prepare_dot<Target::Cpu>>(env, exports, "dot");
  export_pair<prepare_axpy<Target::Cpu>>(env, exports, "axpy");
  export_pair<prepare_nrm2<Target::Cpu>>(env, exports, "nrm2");
  export_pair<prepare_moments<Target::Cpu>>(env, exports, "segmentedMoments");
  exports.Set("philox4x32", Napi::Function::New(env, philox4x32, "philox4x32"));
  export_pair<prepare_philox_fill>(env, exports, "philoxFill");
  export_pair<prepare_triad>(env, exports, "triad");
  export_pair<prepare_gemm_gflops>(env, exports, "gemmGflops");

  Napi::Object cuda = Napi::Object::New(env);
  export_pair<prepare_spmv<Target::Cuda>>(env, cuda, "spmv");
  export_pair<prepare_dot<Target::Cuda>>(env, cuda, "dot");
  export_pair<prepare_axpy<Target::Cuda>>(env, cuda, "axpy");
  export_pair<prepare_nrm2<Target::Cuda>>(env, cuda, "nrm2");
  export_pair<prepare_moments<Target::Cuda>>(env, cuda, "segmentedMoments");
  exports.Set("cuda", cuda);
}

}  // namespace nkb
