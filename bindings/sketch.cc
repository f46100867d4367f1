// N-API glue of the sketch family (native/src/sketch, src/backends/native/sketch.ts). Every argument is
// checked here, on the JS thread, before a kernel runs; index arrays (CSR, permutations, the SRHT sample)
// are range-checked in full. The passes over A run synchronously on the caller's arrays: the TypeScript
// side slices sketchApply and the residual by rows, and runs the loops in time-bounded slices whose
// state lives in caller-owned arrays, so the event loop turns every few tens of milliseconds without an
// async copy of A. The QR also has an Async form (copies, libuv pool).
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_cuda.hpp"
#include "numkern/sketch_loops.hpp"

namespace nkb {
namespace {

using numkern::SketchOperandView;
using numkern::SketchSpec;

std::string str(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

struct Operand {
  bool f32;
  SketchOperandView<float> a32;
  SketchOperandView<double> a64;
  size_t rows() const { return f32 ? a32.rows : a64.rows; }
  size_t cols() const { return f32 ? a32.cols : a64.cols; }
  napi_typedarray_type type;
};

double int_field(Napi::Env env, const Napi::Object& o, const char* key, const std::string& name, double hi) {
  const Napi::Value v = o.Get(key);
  const double x = number_value(env, v, name + "." + key);
  if (!(x >= 0 && x <= hi) || std::floor(x) != x)
    throw_range(env, name + "." + key + ": expected an integer in [0, " + str(hi) + "], got " + str(x));
  return x;
}

template <class T>
void fill_view(SketchOperandView<T>& v, bool csr, size_t rows, size_t cols, const void* data, const int32_t* rp,
               const int32_t* ci, const void* vals) {
  v = SketchOperandView<T>{csr, rows, cols, static_cast<const T*>(data), rp, ci, static_cast<const T*>(vals)};
}

Operand read_operand(const Napi::CallbackInfo& info, size_t idx, const char* nm, Job& job) {
  const Napi::Env env = info.Env();
  const std::string name = nm;
  if (!info[idx].IsObject()) throw_type(env, name + ": expected a dense or CSR matrix object, got " + describe(info[idx]));
  const Napi::Object o = info[idx].As<Napi::Object>();
  Operand op{};
  const double lim = 2147483647.0;
  if (o.Has("rowPtr")) {
    const size_t nrows = static_cast<size_t>(int_field(env, o, "nrows", name, lim));
    const size_t ncols = static_cast<size_t>(int_field(env, o, "ncols", name, lim));
    const ArrayArg rowPtr = typed_array_value(env, o.Get("rowPtr"), name + ".rowPtr", {napi_int32_array}, "Int32Array");
    const ArrayArg colIdx = typed_array_value(env, o.Get("colIdx"), name + ".colIdx", {napi_int32_array}, "Int32Array");
    const ArrayArg values = typed_array_value(env, o.Get("values"), name + ".values",
                                              {napi_float32_array, napi_float64_array}, "Float32Array or Float64Array");
    require_length(env, rowPtr, name + ".rowPtr", nrows + 1, "nrows + 1");
    const int32_t* rp = checked_offsets(env, job, rowPtr, nrows);
    const size_t nnz = static_cast<size_t>(rp[nrows]);
    require_csr_entries(env, name + ".rowPtr", nnz, colIdx, values);
    const int32_t* ci = job.in<int32_t>(colIdx);
    for (size_t p = static_cast<size_t>(rp[0]); p < nnz; ++p)
      if (ci[p] < 0 || static_cast<size_t>(ci[p]) >= ncols)
        throw_range(env, name + ".colIdx: colIdx[" + std::to_string(p) + "] = " + std::to_string(ci[p]) +
                             " is outside [0, " + std::to_string(ncols) + ")");
    op.f32 = values.type == napi_float32_array;
    op.type = values.type;
    const void* vals = job.in<unsigned char>(values);
    if (op.f32) fill_view(op.a32, true, nrows, ncols, nullptr, rp, ci, vals);
    else fill_view(op.a64, true, nrows, ncols, nullptr, rp, ci, vals);
  } else {
    const size_t rows = static_cast<size_t>(int_field(env, o, "rows", name, lim));
    const size_t cols = static_cast<size_t>(int_field(env, o, "cols", name, lim));
    const ArrayArg data = typed_array_value(env, o.Get("data"), name + ".data", {napi_float32_array, napi_float64_array},
                                            "Float32Array or Float64Array");
    if (cols > 0 && rows > data.length / cols) throw_range(env, name + ".data: too short for rows × cols");
    require_length(env, data, name + ".data", rows * cols, "rows × cols");
    op.f32 = data.type == napi_float32_array;
    op.type = data.type;
    const void* p = job.in<unsigned char>(data);
    if (op.f32) fill_view(op.a32, false, rows, cols, p, nullptr, nullptr, nullptr);
    else fill_view(op.a64, false, rows, cols, p, nullptr, nullptr, nullptr);
  }
  return op;
}

/// b: a float array of A's dtype and A's row count (or null when optional).
const void* read_rhs(const Napi::CallbackInfo& info, size_t idx, const char* name, const Operand& A, Job& job,
                     bool optional) {
  if (optional && info[idx].IsNull()) return nullptr;
  const ArrayArg b = typed_array(info, idx, name, {A.type}, A.f32 ? "Float32Array (A's dtype)" : "Float64Array (A's dtype)");
  require_length(info.Env(), b, name, A.rows(), "one entry per row of A");
  return job.in<unsigned char>(b);
}

ArrayArg f64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array(info, i, name, {napi_float64_array}, "Float64Array");
}

/// S's fields at info[i..i+5]: kind, m, s, key0, key1, scale.
SketchSpec read_spec(const Napi::CallbackInfo& info, size_t i) {
  SketchSpec S{};
  S.kind = static_cast<int>(integer_arg(info, i, "S.kind", 0, 4));
  S.m = static_cast<uint32_t>(integer_arg(info, i + 1, "S.m", 1, 2147483647.0));
  S.s = static_cast<uint32_t>(integer_arg(info, i + 2, "S.nnzPerCol", 0, 2147483647.0));
  S.key[0] = static_cast<uint32_t>(integer_arg(info, i + 3, "S.key0", 0, 4294967295.0));
  S.key[1] = static_cast<uint32_t>(integer_arg(info, i + 4, "S.key1", 0, 4294967295.0));
  S.scale = number_arg(info, i + 5, "S.scale");
  if (!std::isfinite(S.scale)) throw_range(info.Env(), "S.scale: must be finite");
  if ((S.kind == numkern::kSkCountSketch || S.kind == numkern::kSkSparseSign) && (S.s < 1 || S.s > S.m))
    throw_range(info.Env(), "S.nnzPerCol: must be in [1, m] for a sparse sketch, got " + std::to_string(S.s));
  return S;
}

// sketchApply(kind, m, s, key0, key1, scale, N, B, sample|null, A, rowOffset, b|null, SA, Sb|null,
//             accumulate, applyScale, threads, limit) → the first flat index of a dense A with
//             !(|a| ≤ limit), or −1 (limit 0: no screening; CSR is never screened)
// cuda.sketchApply(Async): the same arguments without threads (native/cuda/sketch.cu).
template <Target tgt>
void prepare_apply(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  SketchSpec S = read_spec(info, 0);
  const Operand A = read_operand(info, 9, "A", job);
  const double rowOffset = integer_arg(info, 10, "rowOffset", 0, 9007199254740991.0);
  const void* b = read_rhs(info, 11, "b", A, job, true);
  const ArrayArg SA = f64(info, 12, "SA");
  require_length(env, SA, "SA", static_cast<size_t>(S.m) * A.cols(), "m × cols");
  double* Sb = nullptr;
  if (!info[13].IsNull()) {
    const ArrayArg sb = f64(info, 13, "Sb");
    require_length(env, sb, "Sb", S.m, "m");
    Sb = job.inout<double>(sb);
  }
  if (b && !Sb) throw_type(env, "Sb: required when b is given");
  if (S.kind == numkern::kSkSrht) {
    const double N = integer_arg(info, 6, "S.srht.N", 1, 4294967296.0);
    const double B = integer_arg(info, 7, "S.srht.B", 1, 4294967296.0);
    const auto pow2 = [](double v) { const double l = std::log2(v); return std::floor(l) == l; };
    if (!pow2(N) || !pow2(B) || B > N) throw_range(env, "S.srht: N and B must be powers of two with B <= N");
    if (S.m > N) throw_range(env, "S.m: exceeds the SRHT's padded length N");
    if (rowOffset + static_cast<double>(A.rows()) > N) throw_range(env, "rowOffset: the block's rows pass the padded length N");
    const ArrayArg sample = uint32_array(info, 8, "S.srht.sample");
    require_length(env, sample, "S.srht.sample", S.m, "m");
    const uint32_t* sp = job.in<uint32_t>(sample);
    for (size_t k = 0; k < S.m; ++k)
      if (sp[k] >= N) throw_range(env, "S.srht.sample: sample[" + std::to_string(k) + "] is outside [0, N)");
    S.srhtN = static_cast<uint64_t>(N);
    S.srhtB = static_cast<uint64_t>(B);
    S.sample = sp;
  }
  const bool accumulate = info[14].ToBoolean();
  const bool applyScale = info[15].ToBoolean();
  const int threads = tgt == Target::Cpu ? threads_arg(info, 16) : 0;
  const double limit = number_arg(info, tgt == Target::Cpu ? 17 : 16, "limit");
  if (!(limit >= 0)) throw_range(env, "limit: must be >= 0 (0: no screening), got " + str(limit));
  double* sa = accumulate ? job.inout<double>(SA) : job.out<double>(SA);
  const uint64_t off = static_cast<uint64_t>(rowOffset);
  job.returns_number = true;
  job.run = [=]() -> double {
    int64_t bad = -1;
    if constexpr (tgt == Target::Cpu) {
      bad = A.f32 ? numkern::sketch_apply<float>(S, A.a32, off, static_cast<const float*>(b), sa, Sb, accumulate, applyScale, limit, threads)
                  : numkern::sketch_apply<double>(S, A.a64, off, static_cast<const double*>(b), sa, Sb, accumulate, applyScale, limit, threads);
    } else {
      require_cuda_device();
      if constexpr (kCudaBuilt) {
        const char* err = nullptr;
        const int rc = A.f32 ? nk_cuda_sketch_apply_f32(&S, &A.a32, off, static_cast<const float*>(b), sa, Sb, accumulate, applyScale, limit, &bad, &err)
                             : nk_cuda_sketch_apply_f64(&S, &A.a64, off, static_cast<const double*>(b), sa, Sb, accumulate, applyScale, limit, &bad, &err);
        if (rc != 0) cuda_fail(rc, err, "sketchApply");
      }
    }
    return static_cast<double>(bad);
  };
}

// sketchQr(M, rows, cols, rhs|null, R, perm, rcond, useLapack, threads) → rank
void prepare_qr(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg M = f64(info, 0, "M");
  const size_t rows = static_cast<size_t>(integer_arg(info, 1, "rows", 0, 2147483647.0));
  const size_t cols = static_cast<size_t>(integer_arg(info, 2, "cols", 0, 65536));
  if (cols > 0 && rows > M.length / cols) throw_range(env, "M: too short for rows × cols");
  require_length(env, M, "M", rows * cols, "rows × cols");
  double* rhs = nullptr;
  if (!info[3].IsNull()) {
    const ArrayArg r = f64(info, 3, "rhs");
    require_length(env, r, "rhs", rows, "rows");
    rhs = job.inout<double>(r);
  }
  const ArrayArg R = f64(info, 4, "R");
  require_length(env, R, "R", cols * cols, "cols × cols");
  const ArrayArg perm = int32_array(info, 5, "perm");
  require_length(env, perm, "perm", cols, "cols");
  const double rcond = number_arg(info, 6, "rcond");
  const bool lapack = info[7].ToBoolean();
  const int threads = threads_arg(info, 8);
  double* m = job.inout<double>(M);
  double* r = job.out<double>(R);
  int32_t* p = job.out<int32_t>(perm);
  job.returns_number = true;
  job.run = [=]() -> double { return numkern::sketch_qr(m, rows, cols, rhs, r, p, rcond, lapack, threads); };
}

// sketchResidualSq(A, b, x, acc, threads) → acc + Σ block sums of (b − A x)²
void prepare_residual(const Napi::CallbackInfo& info, Job& job) {
  const Operand A = read_operand(info, 0, "A", job);
  const void* b = read_rhs(info, 1, "b", A, job, false);
  const ArrayArg x = f64(info, 2, "x");
  require_length(info.Env(), x, "x", A.cols(), "cols of A");
  const double* px = job.in<double>(x);
  const double acc = number_arg(info, 3, "acc");
  const int threads = threads_arg(info, 4);
  job.returns_number = true;
  job.run = [=]() -> double {
    return A.f32 ? numkern::sketch_residual_sq<float>(A.a32, static_cast<const float*>(b), px, acc, threads)
                 : numkern::sketch_residual_sq<double>(A.a64, static_cast<const double*>(b), px, acc, threads);
  };
}

// sketchRowCdf(A, cdf, acc, threads) → acc + Σ ‖a_i‖², cdf[i] the running sum (rows of A)
void prepare_row_cdf(const Napi::CallbackInfo& info, Job& job) {
  const Operand A = read_operand(info, 0, "A", job);
  const ArrayArg cdf = f64(info, 1, "cdf");
  require_length(info.Env(), cdf, "cdf", A.rows(), "rows of A");
  double* pc = job.out<double>(cdf);
  const double acc = number_arg(info, 2, "acc");
  const int threads = threads_arg(info, 3);
  job.returns_number = true;
  job.run = [=]() -> double {
    return A.f32 ? numkern::sketch_row_cdf<float>(A.a32, acc, pc, threads) : numkern::sketch_row_cdf<double>(A.a64, acc, pc, threads);
  };
}

/// perm (cols entries, each in [0, cols)) and rank (≤ cols) at info[i], info[i + 1].
std::pair<const int32_t*, size_t> read_perm_rank(const Napi::CallbackInfo& info, size_t i, size_t d, Job& job) {
  const Napi::Env env = info.Env();
  const ArrayArg perm = int32_array(info, i, "perm");
  require_length(env, perm, "perm", d, "cols");
  const int32_t* pp = job.in<int32_t>(perm);
  for (size_t k = 0; k < d; ++k)
    if (pp[k] < 0 || static_cast<size_t>(pp[k]) >= d) throw_range(env, "perm: perm[" + std::to_string(k) + "] is outside [0, cols)");
  return {pp, static_cast<size_t>(integer_arg(info, i + 1, "rank", 0, static_cast<double>(d)))};
}

/// R (cols × cols Float64Array) or null at info[i].
const double* read_factor(const Napi::CallbackInfo& info, size_t i, size_t d, Job& job) {
  if (info[i].IsNull()) return nullptr;
  const ArrayArg R = f64(info, i, "R");
  require_length(info.Env(), R, "R", d * d, "cols × cols");
  return job.in<double>(R);
}

struct LoopArgs {
  Operand A;
  const void* b;
  numkern::SketchLoopInput L;
  double* x;
  double* st;
  double* work;
};

/// A, b, R, perm, rank, x, st, work at info[0..7]; work must hold `need(n, rank, d)`.
template <size_t (*Need)(size_t, size_t, size_t)>
LoopArgs read_loop(const Napi::CallbackInfo& info, Job& job, size_t scalars) {
  const Napi::Env env = info.Env();
  LoopArgs a{};
  a.A = read_operand(info, 0, "A", job);
  a.b = read_rhs(info, 1, "b", a.A, job, false);
  const size_t d = a.A.cols(), n = a.A.rows();
  const ArrayArg R = f64(info, 2, "R");
  require_length(env, R, "R", d * d, "cols × cols");
  const auto [pp, rank] = read_perm_rank(info, 3, d, job);
  const ArrayArg x = f64(info, 5, "x");
  require_length(env, x, "x", d, "cols of A");
  const ArrayArg st = f64(info, 6, "state");
  require_length(env, st, "state", scalars, "the loop's scalar slots");
  const ArrayArg work = f64(info, 7, "work");
  require_length(env, work, "work", Need(n, rank, d), "the loop's work vectors");
  a.L = numkern::SketchLoopInput{job.in<double>(R), pp, rank};
  a.x = job.inout<double>(x);
  a.st = job.inout<double>(st);
  a.work = job.inout<double>(work);
  return a;
}

// sketchLsqrRun(A, b, R, perm, rank, x, state, work, atol, btol, maxIter, budgetS, threads) → 1 when done
void prepare_lsqr(const Napi::CallbackInfo& info, Job& job) {
  const LoopArgs a = read_loop<numkern::sketch_lsqr_work>(info, job, numkern::kLsqrScalars);
  const double atol = number_arg(info, 8, "atol");
  const double btol = number_arg(info, 9, "btol");
  const int maxIter = static_cast<int>(integer_arg(info, 10, "maxIter", 0, 2147483647.0));
  const double budget = number_arg(info, 11, "budget");
  const int threads = threads_arg(info, 12);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = a.A.f32 ? numkern::sketch_lsqr_run<float>(a.A.a32, static_cast<const float*>(a.b), a.L, a.x, a.st, a.work, atol, btol, maxIter, budget, threads)
                              : numkern::sketch_lsqr_run<double>(a.A.a64, static_cast<const double*>(a.b), a.L, a.x, a.st, a.work, atol, btol, maxIter, budget, threads);
    return done ? 1 : 0;
  };
}

// sketchIterateRun(A, b, R, perm, rank, x, state, work, alpha, beta, tol, normEst, condEst, maxIter, budgetS, threads)
void prepare_iterate(const Napi::CallbackInfo& info, Job& job) {
  const LoopArgs a = read_loop<numkern::sketch_iterate_work>(info, job, numkern::kIterScalars);
  const double alpha = number_arg(info, 8, "alpha");
  const double beta = number_arg(info, 9, "beta");
  const double tol = number_arg(info, 10, "tol");
  const double normEst = number_arg(info, 11, "normEst");
  const double condEst = number_arg(info, 12, "condEst");
  const int maxIter = static_cast<int>(integer_arg(info, 13, "maxIter", 0, 2147483647.0));
  const double budget = number_arg(info, 14, "budget");
  const int threads = threads_arg(info, 15);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = a.A.f32 ? numkern::sketch_iterate_run<float>(a.A.a32, static_cast<const float*>(a.b), a.L, a.x, a.st, a.work, alpha, beta, tol, normEst, condEst, maxIter, budget, threads)
                              : numkern::sketch_iterate_run<double>(a.A.a64, static_cast<const double*>(a.b), a.L, a.x, a.st, a.work, alpha, beta, tol, normEst, condEst, maxIter, budget, threads);
    return done ? 1 : 0;
  };
}

/// What the Gram pass and the refinement share at info[0..4]: A, b, R (or null), perm, rank.
struct Factored {
  Operand A;
  const void* b;
  const double* R;
  const int32_t* perm;
  size_t rank;
  size_t n, d;
};
Factored read_factored(const Napi::CallbackInfo& info, Job& job) {
  Factored f{};
  f.A = read_operand(info, 0, "A", job);
  f.b = read_rhs(info, 1, "b", f.A, job, false);
  f.d = f.A.cols();
  f.n = f.A.rows();
  f.R = read_factor(info, 2, f.d, job);
  std::tie(f.perm, f.rank) = read_perm_rank(info, 3, f.d, job);
  return f;
}

// sketchGramWork(rows, cols, rank) → doubles of work the Gram pass needs
Napi::Value sketch_gram_work(const Napi::CallbackInfo& info) {
  const double lim = 2147483647.0;
  const size_t n = static_cast<size_t>(integer_arg(info, 0, "rows", 0, lim));
  const size_t d = static_cast<size_t>(integer_arg(info, 1, "cols", 0, lim));
  const size_t r = static_cast<size_t>(integer_arg(info, 2, "rank", 0, static_cast<double>(d)));
  return Napi::Number::New(info.Env(), static_cast<double>(numkern::sketch_gram_work(n, d, r)));
}

// sketchGramRun(A, b, R|null, perm, rank, G, c, state, work, blas, f32, budgetS, threads) → 1 when done, and
// 2 when done with G formed in f32
void prepare_gram(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const Factored f = read_factored(info, job);
  const ArrayArg G = f64(info, 5, "G");
  require_length(env, G, "G", f.rank * f.rank, "rank × rank");
  const ArrayArg c = f64(info, 6, "c");
  require_length(env, c, "c", f.rank, "rank");
  const ArrayArg st = f64(info, 7, "state");
  require_length(env, st, "state", numkern::kGramScalars, "the Gram pass's scalar slots");
  const ArrayArg work = f64(info, 8, "work");
  require_length(env, work, "work", numkern::sketch_gram_work(f.n, f.d, f.rank), "sketchGramWork(rows, cols, rank)");
  const bool blas = info[9].ToBoolean();
  const bool f32 = info[10].ToBoolean();
  const double budget = number_arg(info, 11, "budget");
  const int threads = threads_arg(info, 12);
  double* pG = job.out<double>(G);
  double* pc = job.out<double>(c);
  double* ps = job.inout<double>(st);
  double* pw = job.inout<double>(work);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = f.A.f32 ? numkern::sketch_gram_run<float>(f.A.a32, static_cast<const float*>(f.b), f.R, f.perm, f.rank, pG, pc, ps, pw, blas, f32, budget, threads)
                              : numkern::sketch_gram_run<double>(f.A.a64, static_cast<const double*>(f.b), f.R, f.perm, f.rank, pG, pc, ps, pw, blas, f32, budget, threads);
    return done ? (numkern::sketch_gram_uses_f32(blas, f32) ? 2 : 1) : 0;
  };
}

// sketchRefineRun(A, b, R|null, perm, rank, U, x, state, work, tol, normEst, condEst, maxIter, budgetS, threads) → 1 when done
void prepare_refine(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const Factored f = read_factored(info, job);
  const ArrayArg U = f64(info, 5, "U");
  require_length(env, U, "U", f.rank * f.rank, "rank × rank");
  const ArrayArg x = f64(info, 6, "x");
  require_length(env, x, "x", f.d, "cols of A");
  const ArrayArg st = f64(info, 7, "state");
  require_length(env, st, "state", numkern::kRefineScalars, "the loop's scalar slots");
  const ArrayArg work = f64(info, 8, "work");
  require_length(env, work, "work", numkern::sketch_refine_work(f.n, f.rank, f.d), "the loop's work vectors");
  const double tol = number_arg(info, 9, "tol");
  const double normEst = number_arg(info, 10, "normEst");
  const double condEst = number_arg(info, 11, "condEst");
  const int maxIter = static_cast<int>(integer_arg(info, 12, "maxIter", 0, 2147483647.0));
  const double budget = number_arg(info, 13, "budget");
  const int threads = threads_arg(info, 14);
  const double* pU = job.in<double>(U);
  double* px = job.inout<double>(x);
  double* ps = job.inout<double>(st);
  double* pw = job.inout<double>(work);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = f.A.f32 ? numkern::sketch_refine_run<float>(f.A.a32, static_cast<const float*>(f.b), f.R, pU, f.perm, f.rank, px, ps, pw, tol, normEst, condEst, maxIter, budget, threads)
                              : numkern::sketch_refine_run<double>(f.A.a64, static_cast<const double*>(f.b), f.R, pU, f.perm, f.rank, px, ps, pw, tol, normEst, condEst, maxIter, budget, threads);
    return done ? 1 : 0;
  };
}

// sketchKaczmarzRun(A, b, x, block, rowCdf, key0, key1, target, maxIter, checkEvery, state, work, budget, threads)
//   → 1 when done (on the caller's arrays, in slices: a large A is not copied for the pool)
void prepare_kaczmarz(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const Operand A = read_operand(info, 0, "A", job);
  const void* b = read_rhs(info, 1, "b", A, job, false);
  const ArrayArg x = f64(info, 2, "x");
  require_length(env, x, "x", A.cols(), "cols of A");
  const size_t block = static_cast<size_t>(integer_arg(info, 3, "block", 1, 65536));
  const ArrayArg cdf = f64(info, 4, "rowCdf");
  require_length(env, cdf, "rowCdf", A.rows(), "rows of A");
  if (A.rows() == 0) throw_range(env, "A: no rows");
  uint32_t key[2] = {static_cast<uint32_t>(integer_arg(info, 5, "key0", 0, 4294967295.0)),
                     static_cast<uint32_t>(integer_arg(info, 6, "key1", 0, 4294967295.0))};
  const double target = number_arg(info, 7, "target");
  const int maxIter = static_cast<int>(integer_arg(info, 8, "maxIter", 0, 2147483647.0));
  const int checkEvery = static_cast<int>(integer_arg(info, 9, "checkEvery", 1, 2147483647.0));
  const ArrayArg st = f64(info, 10, "state");
  require_length(env, st, "state", numkern::kRowScalars, "the loop's scalar slots");
  const ArrayArg work = f64(info, 11, "work");
  require_length(env, work, "work", numkern::sketch_kaczmarz_work(A.rows(), block), "the loop's work vectors");
  const double budget = number_arg(info, 12, "budget");
  const int threads = threads_arg(info, 13);
  double* px = job.inout<double>(x);
  const double* pc = job.in<double>(cdf);
  double* ps = job.inout<double>(st);
  double* pw = job.inout<double>(work);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = A.f32 ? numkern::sketch_kaczmarz_run<float>(A.a32, static_cast<const float*>(b), px, block, pc, key, target, maxIter, checkEvery, ps, pw, budget, threads)
                            : numkern::sketch_kaczmarz_run<double>(A.a64, static_cast<const double*>(b), px, block, pc, key, target, maxIter, checkEvery, ps, pw, budget, threads);
    return done ? 1 : 0;
  };
}

// sketchProjectRun(kind, m, s, key0, key1, scale, A, b, x, target, maxIter, state, work, budget, threads) → 1 when done
void prepare_project(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  const SketchSpec S = read_spec(info, 0);
  if (S.kind == numkern::kSkSrht) throw_range(env, "S.kind: sketch-and-project takes no SRHT");
  const Operand A = read_operand(info, 6, "A", job);
  const void* b = read_rhs(info, 7, "b", A, job, false);
  const ArrayArg x = f64(info, 8, "x");
  require_length(env, x, "x", A.cols(), "cols of A");
  const double target = number_arg(info, 9, "target");
  const int maxIter = static_cast<int>(integer_arg(info, 10, "maxIter", 0, 2147483647.0));
  const ArrayArg st = f64(info, 11, "state");
  require_length(env, st, "state", numkern::kRowScalars, "the loop's scalar slots");
  const ArrayArg work = f64(info, 12, "work");
  require_length(env, work, "work", A.rows(), "rows of A");
  const double budget = number_arg(info, 13, "budget");
  const int threads = threads_arg(info, 14);
  double* px = job.inout<double>(x);
  double* ps = job.inout<double>(st);
  double* pw = job.inout<double>(work);
  job.returns_number = true;
  job.run = [=]() -> double {
    const bool done = A.f32 ? numkern::sketch_project_run<float>(A.a32, static_cast<const float*>(b), px, S, target, maxIter, ps, pw, budget, threads)
                            : numkern::sketch_project_run<double>(A.a64, static_cast<const double*>(b), px, S, target, maxIter, ps, pw, budget, threads);
    return done ? 1 : 0;
  };
}

Napi::Value sketch_layout(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object streams = Napi::Object::New(env);
  streams.Set("gaussian", numkern::kSketchStreamGaussian);
  streams.Set("rademacher", numkern::kSketchStreamRademacher);
  streams.Set("sparse", numkern::kSketchStreamSparse);
  streams.Set("srhtSign", numkern::kSketchStreamSrhtSign);
  streams.Set("srhtPermutation", numkern::kSketchStreamSrhtPermutation);
  streams.Set("kaczmarz", numkern::kSketchStreamKaczmarz);
  streams.Set("project", numkern::kSketchStreamProject);
  o.Set("streams", streams);
  o.Set("feistelRounds", numkern::kSrhtFeistelRounds);
  o.Set("sumBlock", static_cast<double>(numkern::kSketchSumBlock));
  o.Set("lsqrScalars", numkern::kLsqrScalars);
  o.Set("iterateScalars", numkern::kIterScalars);
  o.Set("gramScalars", numkern::kGramScalars);
  o.Set("refineScalars", numkern::kRefineScalars);
  o.Set("rowScalars", numkern::kRowScalars);
  o.Set("lapack", numkern::sketch_have_lapack());
  return o;
}

}  // namespace

void register_sketch(Napi::Env env, Napi::Object exports) {
  exports.Set("sketchApply", Napi::Function::New(env, run_sync<prepare_apply<Target::Cpu>>, "sketchApply"));
  export_pair<prepare_qr>(env, exports, "sketchQr");
  exports.Set("sketchResidualSq", Napi::Function::New(env, run_sync<prepare_residual>, "sketchResidualSq"));
  exports.Set("sketchRowCdf", Napi::Function::New(env, run_sync<prepare_row_cdf>, "sketchRowCdf"));
  exports.Set("sketchLsqrRun", Napi::Function::New(env, run_sync<prepare_lsqr>, "sketchLsqrRun"));
  exports.Set("sketchIterateRun", Napi::Function::New(env, run_sync<prepare_iterate>, "sketchIterateRun"));
  exports.Set("sketchGramWork", Napi::Function::New(env, sketch_gram_work, "sketchGramWork"));
  exports.Set("sketchGramRun", Napi::Function::New(env, run_sync<prepare_gram>, "sketchGramRun"));
  exports.Set("sketchRefineRun", Napi::Function::New(env, run_sync<prepare_refine>, "sketchRefineRun"));
  exports.Set("sketchKaczmarzRun", Napi::Function::New(env, run_sync<prepare_kaczmarz>, "sketchKaczmarzRun"));
  exports.Set("sketchProjectRun", Napi::Function::New(env, run_sync<prepare_project>, "sketchProjectRun"));
  exports.Set("sketchLayout", Napi::Function::New(env, sketch_layout, "sketchLayout"));

  // ---- CUDA (native/cuda/sketch.cu): sketchApply only; the QR, residual and loops stay on the CPU ----
  export_pair<prepare_apply<Target::Cuda>>(env, cuda_exports(env, exports), "sketchApply");
}

}  // namespace nkb
