// CUDA glue shared by the families that have device kernels (native/cuda/<family>.cu): the entry points
// exist only in a CUDA build, so a binding calls them under `if constexpr (kCudaBuilt)` after
// require_cuda_device(), which in any other build throws the reason CUDA is missing.
#pragma once

#include <string>

#include "args.hpp"
#include "numkern/cuda_api.hpp"

namespace nkb {

#if defined(NUMKERN_HAVE_CUDA)
inline constexpr bool kCudaBuilt = true;
#else
inline constexpr bool kCudaBuilt = false;
#endif

/// Which entry point a binding template is instantiated for: the CPU kernel or the device one.
enum class Target { Cpu, Cuda };

/// Throws unless a CUDA device can take work: built without CUDA, or no driver/device.
inline void require_cuda_device() {
  int count = 0;
  const char* err = nullptr;
  const int rc = nk_cuda_device_count(&count, &err);
  if (!nk_cuda_compiled()) throw KernelError(ErrorKind::Plain, std::string("CUDA: ") + (err ? err : "built without CUDA"));
  if (rc != 0) throw KernelError(ErrorKind::Plain, std::string("CUDA: no CUDA device: ") + (err ? err : "unknown error"), rc);
  if (count == 0) throw KernelError(ErrorKind::Plain, "CUDA: no CUDA device");
}

/// A failed device call: the message says whether the context survived, and deviceLost tells JS.
[[noreturn]] inline void cuda_fail(int code, const char* err, const char* op) {
  const bool lost = code > 0 && !nk_cuda_context_ok();
  throw KernelError(ErrorKind::Plain,
                    std::string("CUDA: ") + op + ": " + (err ? err : "unknown error") +
                        (lost ? " (the device context is lost)" : ""),
                    code, lost);
}

/// exports.cuda, where every family puts its device entry points (created by the first family to ask).
inline Napi::Object cuda_exports(Napi::Env env, Napi::Object exports) {
  if (!exports.Has("cuda")) exports.Set("cuda", Napi::Object::New(env));
  return exports.Get("cuda").As<Napi::Object>();
}

}  // namespace nkb
