// Every family's registration function, called in list order when the addon loads (addon.cc). The list
// is generated from NUMKERN_FAMILIES in CMakeLists.txt (numkern_families.inc: one NK_FAMILY(f) for each
// family with a bindings/f.cc), so a family is added in one place; bindings/f.cc defines
// `void nkb::register_f(Napi::Env, Napi::Object exports)` and adds its functions to the exports.
#pragma once

#include <napi.h>

namespace nkb {

#define NK_FAMILY(f) void register_##f(Napi::Env env, Napi::Object exports);
#include "numkern_families.inc"
#undef NK_FAMILY

inline void register_families(Napi::Env env, Napi::Object exports) {
#define NK_FAMILY(f) register_##f(env, exports);
#include "numkern_families.inc"
#undef NK_FAMILY
}

}  // namespace nkb
