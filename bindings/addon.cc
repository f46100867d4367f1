// Module entry: info() and the kernel bindings (kernels.cc).
#include "args.hpp"
#include "numkern/cuda_api.hpp"
#include "numkern/kernels.hpp"

#ifndef NUMKERN_VERSION
#define NUMKERN_VERSION "0.0.0"
#endif

namespace nkb {
/// The relaxation solver bindings (relax.cc).
void register_relax(Napi::Env env, Napi::Object exports);
}  // namespace nkb

namespace {

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, info, "info"));
  nkb::register_kernels(env, exports);
  nkb::register_relax(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(numkern, Init)
