// Bindings of the core family (native/include/numkern/core.hpp): info() about the build and the
// machine, the Philox stream, the machine-ceiling probes of the bench, and the stderr capture the webgpu
// backend puts around Dawn's adapter request.
#include <string>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/core.hpp"
#include "numkern/philox.hpp"
#include "stderr_capture.hpp"

#ifndef NUMKERN_VERSION
#define NUMKERN_VERSION "0.0.0"
#endif

namespace nkb {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 − 1

/// {version, threads, openmp, blas, simd, cuda: {compiled, devices, error}}
Napi::Value info(const Napi::CallbackInfo& call) {
  const Napi::Env env = call.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", NUMKERN_VERSION);
  o.Set("threads", numkern::hardware_threads());
  o.Set("openmp", numkern::openmp_enabled());
  const char* blas = numkern::blas_config();
  o.Set("blas", blas ? Napi::Value(Napi::String::New(env, blas)) : env.Null());
  o.Set("simd", numkern::simd_variant());

  Napi::Object cuda = Napi::Object::New(env);
  int devices = 0;
  const char* err = nullptr;
  const int rc = nk_cuda_device_count(&devices, &err);
  cuda.Set("compiled", nk_cuda_compiled() != 0);
  cuda.Set("devices", devices);
  cuda.Set("error", rc != 0 ? Napi::Value(Napi::String::New(env, err ? err : "unknown CUDA error")) : env.Null());
  o.Set("cuda", cuda);
  return o;
}

// ---- Philox (stream definition in native/include/numkern/philox.hpp) ----

Napi::Value philox4x32(const Napi::CallbackInfo& info) {
  const ArrayArg ctr = uint32_array(info, 0, "counter");
  const ArrayArg key = uint32_array(info, 1, "key");
  require_length(info.Env(), ctr, "counter", 4, "four 32-bit counter words");
  require_length(info.Env(), key, "key", 2, "two 32-bit key words");
  Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), 4);
  numkern::philox4x32(ctr.peek<uint32_t>(), key.peek<uint32_t>(), out.Data());
  return out;
}

void prepare_philox_fill(const Napi::CallbackInfo& info, Job& job) {
  const ArrayArg key = uint32_array(info, 0, "key");
  require_length(info.Env(), key, "key", 2, "two 32-bit key words");
  const uint32_t stream = static_cast<uint32_t>(integer_arg(info, 1, "stream", 0, 4294967295.0));
  const uint64_t start = static_cast<uint64_t>(integer_arg(info, 2, "start", 0, kMaxSafeInteger));
  const ArrayArg out = uint32_array(info, 3, "out");
  if (static_cast<double>(start) + static_cast<double>(out.length) > kMaxSafeInteger + 1)
    throw_range(info.Env(), "start: start + out.length exceeds 2^53");
  const uint32_t k[2] = {key.peek<uint32_t>()[0], key.peek<uint32_t>()[1]};
  const size_t n = out.length;
  uint32_t* po = job.out<uint32_t>(out);
  job.run = [=]() -> double {
    numkern::philox_fill(k, stream, start, n, po);
    return 0;
  };
}

// ---- machine-ceiling probes ----

void prepare_triad(const Napi::CallbackInfo& info, Job& job) {
  const ArrayArg a = typed_array(info, 0, "a", {napi_float64_array}, "Float64Array");
  const ArrayArg b = typed_array(info, 1, "b", {napi_float64_array}, "Float64Array");
  const ArrayArg c = typed_array(info, 2, "c", {napi_float64_array}, "Float64Array");
  require_length(info.Env(), b, "b", a.length, "a.length");
  require_length(info.Env(), c, "c", a.length, "a.length");
  const double scalar = number_arg(info, 3, "scalar");
  const int threads = threads_arg(info, 4);
  const int reps = static_cast<int>(integer_arg(info, 5, "reps", 1, 1e6, 1));
  const size_t n = a.length;
  double* pa = job.out<double>(a);
  const double* pb = job.in<double>(b);
  const double* pc = job.in<double>(c);
  job.returns_number = true;
  job.run = [=]() -> double { return numkern::triad(n, pa, pb, pc, scalar, reps, threads); };
}

void prepare_gemm_gflops(const Napi::CallbackInfo& info, Job& job) {
  // 8192² doubles × 3 matrices is 1.5 GiB, the most a probe should take.
  const int n = static_cast<int>(integer_arg(info, 0, "n", 1, 8192));
  const int threads = threads_arg(info, 1);
  const int reps = static_cast<int>(integer_arg(info, 2, "reps", 1, 1000, 3));
  job.returns_number = true;
  job.run = [=]() -> double { return numkern::gemm_gflops(n, threads, reps); };
}

/// warmHeap(bytes) -> bytes touched (numkern::warm_heap), on the calling thread: the main thread's
/// arena is the one a synchronous solve allocates from.
Napi::Value warm_heap(const Napi::CallbackInfo& info) {
  const double bytes = integer_arg(info, 0, "bytes", 0, 1 << 30);
  return Napi::Number::New(info.Env(), static_cast<double>(numkern::warm_heap(static_cast<size_t>(bytes))));
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("philox4x32", Napi::Function::New(env, philox4x32, "philox4x32"));
  exports.Set("warmHeap", Napi::Function::New(env, warm_heap, "warmHeap"));
  export_pair<prepare_philox_fill>(env, exports, "philoxFill");
  export_pair<prepare_triad>(env, exports, "triad");
  export_pair<prepare_gemm_gflops>(env, exports, "gemmGflops");
  exports.Set("stderrCaptureBegin", Napi::Function::New(env, stderr_capture_begin, "stderrCaptureBegin"));
  exports.Set("stderrCaptureEnd", Napi::Function::New(env, stderr_capture_end, "stderrCaptureEnd"));
  cuda_exports(env, exports);
}

}  // namespace nkb
