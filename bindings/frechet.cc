// Bindings of the frechet family (native/include/numkern/frechet.hpp):
//   frechetLayout() -> {layouts: {kn, nk}, engines: {auto, builtin, blas}}   the codes the TS side checks
//   frechetPlan(B, K, N, dtype, engine?, threads?) -> {tile, rows, blas, threads, variant}
//   frechetTopk(W, B, K, M, N, layout, bias, labelOffset, topk, labels, scores, begin?, end?, merge?,
//               threads?, engine?, screenW?, screenM?) -> −1, or 0 / 1 when screening W / M found a bad
//               value (numkern::frechet::topk; labels and scores are then unspecified)
//   frechetBarycenters(P, B, K, E, dim, norms, rowSums, W, shift, threads?)   the embedding reduction's
//               W (B×dim, P's dtype) and shift (B, f64) from P (B×K) and E (K×dim), norms (K), rowSums
//               (B), all f64 but P and W (numkern::frechet::barycenters)
//   cuda.frechetTopk(W, B, K, M, N, layout, bias, labelOffset, topk, labels, scores) and its Async twin:
//               native/cuda/frechet.cu over all N labels, no screening (→ −1); cuda.frechetCublas() -> null,
//               or why cuBLAS is missing
//
// frechetTopk runs on the calling thread, on the caller's arrays, and has no ...Async twin. An async
// job would have to copy M first (args.hpp: JS may detach it while the pool runs), and M is the big
// operand: a K×N distance matrix of 1000 × 325k floats is 1.3 GB, a copy that doubles the memory and,
// made on the JS thread before the job is queued, blocks the event loop for a few hundred milliseconds.
// Instead src/backends/native/frechet.ts calls it over
// consecutive ranges of whole tiles [begin, end) with merge, yielding to the event loop in between:
// each call is short, checks everything again, and the merged result has the bits of one call.
#include <cmath>
#include <limits>
#include <string>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/frechet.hpp"
#include "numkern/frechet_cuda.hpp"

namespace nkb {
namespace {

namespace fr = numkern::frechet;

constexpr double kMaxInt32 = 2147483647.0;

std::string str(size_t v) { return std::to_string(v); }

Napi::Object code_table(Napi::Env env, std::initializer_list<std::pair<const char*, int32_t>> entries) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& e : entries) o.Set(e.first, e.second);
  return o;
}

Napi::Value frechet_layout(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("layouts", code_table(env, {{"kn", static_cast<int32_t>(fr::Layout::KN)},
                                    {"nk", static_cast<int32_t>(fr::Layout::NK)}}));
  o.Set("engines", code_table(env, {{"auto", static_cast<int32_t>(fr::Engine::Auto)},
                                    {"builtin", static_cast<int32_t>(fr::Engine::Builtin)},
                                    {"blas", static_cast<int32_t>(fr::Engine::Blas)}}));
  return o;
}

fr::Engine engine_arg(const Napi::CallbackInfo& info, size_t i) {
  const auto e = static_cast<fr::Engine>(static_cast<int32_t>(integer_arg(info, i, "engine", 0, 2, 0)));
  if (e == fr::Engine::Blas && !fr::have_blas())
    throw_range(info.Env(), "engine: 2 (blas) needs an addon built with OpenBLAS, and this one has none");
  return e;
}

bool f32_dtype(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Value v = info[i];
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s != "f32" && s != "f64") throw_type(info.Env(), "dtype: expected 'f32' or 'f64', got " + describe(v));
  return s == "f32";
}

Napi::Value frechet_plan(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t B = static_cast<int64_t>(integer_arg(info, 0, "B", 0, kMaxInt32));
  const int64_t K = static_cast<int64_t>(integer_arg(info, 1, "K", 0, kMaxInt32));
  const int64_t N = static_cast<int64_t>(integer_arg(info, 2, "N", 0, kMaxInt32));
  const bool f32 = f32_dtype(info, 3);
  const fr::Engine engine = engine_arg(info, 4);
  const int threads = threads_arg(info, 5);
  const fr::Plan p = fr::plan(B, K, N, f32, engine);
  Napi::Object o = Napi::Object::New(env);
  o.Set("tile", static_cast<double>(p.tile));
  o.Set("rows", static_cast<double>(p.rows));
  o.Set("blas", p.blas);
  o.Set("threads", fr::planned_threads(p, B, 0, N, threads));
  o.Set("variant", p.blas ? "blas" : fr::builtin_variant());
  return o;
}

template <class T>
double run_topk(fr::Problem<T> p, bool screen_w, bool screen_m, fr::Engine engine, int threads) {
  p.screen_w = screen_w;
  p.screen_m = screen_m;
  return fr::topk<T>(p, engine, threads);
}

bool flag_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsUndefined() && !v.IsBoolean()) throw_type(info.Env(), std::string(name) + ": expected a boolean, got " + describe(v));
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

template <Target tgt>
void prepare_topk(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg W = float_array(info, 0, "W");
  const int64_t B = static_cast<int64_t>(integer_arg(info, 1, "B", 0, kMaxInt32));
  const int64_t K = static_cast<int64_t>(integer_arg(info, 2, "K", 0, kMaxInt32));
  const ArrayArg M = float_array_like(info, 3, "M", W, "W");
  const int64_t N = static_cast<int64_t>(integer_arg(info, 4, "N", 1, kMaxInt32));
  const int32_t layout = static_cast<int32_t>(integer_arg(info, 5, "layout", 0, 1));
  const bool has_bias = !info[6].IsNull() && !info[6].IsUndefined();
  const int64_t offset = static_cast<int64_t>(integer_arg(info, 7, "labelOffset", 0, kMaxInt32 + 1 - N));
  const int64_t topk = static_cast<int64_t>(integer_arg(info, 8, "topk", 1, static_cast<double>(N)));
  const ArrayArg labels = int32_array(info, 9, "labels");
  const ArrayArg scores = float_array_like(info, 10, "scores", W, "W");
  // The CUDA twin takes the first eleven arguments only: one call over all N labels.
  constexpr bool cpu = tgt == Target::Cpu;
  const int64_t begin = cpu ? static_cast<int64_t>(integer_arg(info, 11, "begin", 0, static_cast<double>(N), 0)) : 0;
  const int64_t end =
      cpu ? static_cast<int64_t>(integer_arg(info, 12, "end", static_cast<double>(begin), static_cast<double>(N),
                                             static_cast<double>(N)))
          : N;
  const bool merge = cpu && flag_arg(info, 13, "merge");
  const int threads = cpu ? threads_arg(info, 14) : 0;
  const fr::Engine engine = cpu ? engine_arg(info, 15) : fr::Engine::Auto;
  const bool screen_w = cpu && flag_arg(info, 16, "screenW");
  const bool screen_m = cpu && flag_arg(info, 17, "screenM");

  // Lengths in 64 bits: each factor is below 2^31, so no product overflows.
  const size_t b = static_cast<size_t>(B), k = static_cast<size_t>(K), n = static_cast<size_t>(N),
               kk = static_cast<size_t>(topk);
  require_length(env, W, "W", b * k, "B·K = " + str(b) + "·" + str(k));
  require_length(env, M, "M", k * n, "K·N = " + str(k) + "·" + str(n));
  require_length(env, labels, "labels", b * kk, "B·topk = " + str(b) + "·" + str(kk));
  require_length(env, scores, "scores", b * kk, "B·topk = " + str(b) + "·" + str(kk));
  ArrayArg bias{};
  if (has_bias) {
    bias = float_array_like(info, 6, "bias", W, "W");
    require_length(env, bias, "bias", n, "one entry per label: N");
  }
  if (!merge && end - begin < topk)
    throw_range(env, "end: [begin, end) = [" + str(static_cast<size_t>(begin)) + ", " + str(static_cast<size_t>(end)) +
                         ") holds fewer than topk = " + str(kk) + " labels, and merge is false");

  const bool f32 = W.type == napi_float32_array;
  const void* pw = job.in<unsigned char>(W);
  const void* pm = job.in<unsigned char>(M);
  const void* pb = has_bias ? job.in<unsigned char>(bias) : nullptr;
  // Read as well when merging: the running top-k of the earlier ranges.
  int32_t* pl = merge ? job.inout<int32_t>(labels) : job.out<int32_t>(labels);
  void* ps = merge ? job.inout<unsigned char>(scores) : job.out<unsigned char>(scores);
  job.returns_number = true;
  job.run = [=]() -> double {
    if constexpr (tgt == Target::Cuda) {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc =
            f32 ? nk_cuda_frechet_topk_f32(static_cast<const float*>(pw), B, K, static_cast<const float*>(pm), N, layout,
                                           static_cast<const float*>(pb), static_cast<int32_t>(offset),
                                           static_cast<int32_t>(topk), pl, static_cast<float*>(ps), &err)
                : nk_cuda_frechet_topk_f64(static_cast<const double*>(pw), B, K, static_cast<const double*>(pm), N,
                                           layout, static_cast<const double*>(pb), static_cast<int32_t>(offset),
                                           static_cast<int32_t>(topk), pl, static_cast<double*>(ps), &err);
        if (rc != 0) cuda_fail(rc, err, "frechetTopk");
      }
      return -1;  // nothing screened: the façade scans what it deferred
    }
    if (f32)
      return run_topk<float>(fr::Problem<float>{static_cast<const float*>(pw), B, K, static_cast<const float*>(pm), N,
                                         static_cast<fr::Layout>(layout), static_cast<const float*>(pb),
                                         static_cast<int32_t>(offset), static_cast<int32_t>(topk), begin, end, merge,
                                         pl, static_cast<float*>(ps)},
                             screen_w, screen_m, engine, threads);
    return run_topk<double>(fr::Problem<double>{static_cast<const double*>(pw), B, K, static_cast<const double*>(pm), N,
                                           static_cast<fr::Layout>(layout), static_cast<const double*>(pb),
                                           static_cast<int32_t>(offset), static_cast<int32_t>(topk), begin, end,
                                           merge, pl, static_cast<double*>(ps)},
                            screen_w, screen_m, engine, threads);
  };
}

void prepare_barycenters(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg P = float_array(info, 0, "P");
  const int64_t B = static_cast<int64_t>(integer_arg(info, 1, "B", 0, kMaxInt32));
  const int64_t K = static_cast<int64_t>(integer_arg(info, 2, "K", 0, kMaxInt32));
  const ArrayArg E = typed_array(info, 3, "E", {napi_float64_array}, "Float64Array");
  const int64_t dim = static_cast<int64_t>(integer_arg(info, 4, "dim", 0, kMaxInt32));
  const ArrayArg norms = typed_array(info, 5, "norms", {napi_float64_array}, "Float64Array");
  const ArrayArg sums = typed_array(info, 6, "rowSums", {napi_float64_array}, "Float64Array");
  const ArrayArg W = float_array_like(info, 7, "W", P, "P");
  const ArrayArg shift = typed_array(info, 8, "shift", {napi_float64_array}, "Float64Array");
  const int threads = threads_arg(info, 9);
  const size_t b = static_cast<size_t>(B), k = static_cast<size_t>(K), d = static_cast<size_t>(dim);
  require_length(env, P, "P", b * k, "B·K = " + str(b) + "·" + str(k));
  require_length(env, E, "E", k * d, "K·dim = " + str(k) + "·" + str(d));
  require_length(env, norms, "norms", k, "K");
  require_length(env, sums, "rowSums", b, "B");
  require_length(env, W, "W", b * d, "B·dim = " + str(b) + "·" + str(d));
  require_length(env, shift, "shift", b, "B");
  const bool f32 = P.type == napi_float32_array;
  const void* pp = job.in<unsigned char>(P);
  const double* pe = job.in<double>(E);
  const double* pn = job.in<double>(norms);
  const double* ps = job.in<double>(sums);
  void* pw = job.out<unsigned char>(W);
  double* psh = job.out<double>(shift);
  job.run = [=]() -> double {
    if (f32)
      fr::barycenters<float>(static_cast<const float*>(pp), B, K, pe, dim, pn, ps, static_cast<float*>(pw), psh, threads);
    else
      fr::barycenters<double>(static_cast<const double*>(pp), B, K, pe, dim, pn, ps, static_cast<double*>(pw), psh,
                              threads);
    return 0;
  };
}

/// cuda.frechetCublas() → null when cuBLAS opened with every symbol the kernel needs, else why not.
Napi::Value cublas_status(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if constexpr (kCudaBuilt) {
    const char* why = nullptr;
    if (nk_cuda_cublas_status(&why)) return env.Null();
    return Napi::String::New(env, why ? why : "cuBLAS unavailable");
  } else {
    return Napi::String::New(env, "built without CUDA");
  }
}

}  // namespace

void register_frechet(Napi::Env env, Napi::Object exports) {
  exports.Set("frechetLayout", Napi::Function::New(env, frechet_layout, "frechetLayout"));
  exports.Set("frechetPlan", Napi::Function::New(env, frechet_plan, "frechetPlan"));
  // Synchronous only (see the top of this file).
  exports.Set("frechetTopk", Napi::Function::New(env, run_sync<prepare_topk<Target::Cpu>>, "frechetTopk"));
  // Synchronous too: B·K·dim work, small next to the sliced frechetTopk call it precedes.
  exports.Set("frechetBarycenters", Napi::Function::New(env, run_sync<prepare_barycenters>, "frechetBarycenters"));

  // ---- CUDA (native/cuda/frechet.cu): one call over all labels, on copies (the Async form on the pool) ----
  Napi::Object cuda = cuda_exports(env, exports);
  export_pair<prepare_topk<Target::Cuda>>(env, cuda, "frechetTopk");
  cuda.Set("frechetCublas", Napi::Function::New(env, cublas_status, "frechetCublas"));
}

}  // namespace nkb
