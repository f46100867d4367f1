// Module entry: every family adds its bindings (register.hpp).
#include <napi.h>

#include "register.hpp"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nkb::register_families(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(numkern, Init)
