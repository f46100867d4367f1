// The relax bindings' systems and the reading of them (included once, by bindings/relax.cc): the tables
// the TS side checks, one system owned (its operator copy, colouring, vectors and settings) and the
// functions that read a system from its JS object, checking every argument before a kernel runs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/csr_lanes.hpp"
#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_cuda.hpp"

namespace nkb {
namespace {

namespace rx = numkern::relax;

std::string str(int64_t v) { return std::to_string(v); }

// ---- the tables the TS side checks (src/backends/native/relax.ts) ----

struct Named {
  const char* name;
  int value;
};

// Method names as src/relax/ops.ts spells them; the codes are relax.hpp's.
constexpr Named kMethods[] = {{"jacobi", rx::Jacobi}, {"gauss-seidel", rx::GaussSeidel}, {"sor", rx::Sor},
                              {"ssor", rx::Ssor},     {"sor-redblack", rx::SorRedBlack}, {"cg", rx::Cg},
                              {"ssor-cg", rx::SsorCg}, {"jacobi-cg", rx::JacobiCg}};
constexpr Named kStatus[] = {{"running", rx::Running},     {"converged", rx::Converged}, {"diverged", rx::Diverged},
                             {"maxIter", rx::MaxIter},     {"breakdown", rx::Breakdown}, {"badIndex", rx::BadIndex}};
constexpr Named kState[] = {{"iter", rx::kIter},     {"nrm0", rx::kNrm0},     {"target", rx::kTarget},
                            {"nrm", rx::kNrm},       {"rz", rx::kRz},         {"status", rx::kStatus},
                            {"started", rx::kStarted}, {"final", rx::kFinal}, {"beta", rx::kBeta},
                            {"length", rx::kStateLen}};

template <size_t N>
Napi::Object table(Napi::Env env, const Named (&rows)[N]) {
  Napi::Object o = Napi::Object::New(env);
  for (const Named& r : rows) o.Set(r.name, r.value);
  return o;
}

Napi::Value relax_layout(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("methods", table(env, kMethods));
  Napi::Object work = Napi::Object::New(env);
  for (const Named& m : kMethods) work.Set(m.name, rx::work_vectors(m.value));
  o.Set("work", work);
  o.Set("state", table(env, kState));
  o.Set("status", table(env, kStatus));
  return o;
}

// ---- one system, owned ----

/// One operator's native copy. A solve makes its own; a prepared operator (relaxOperator) makes one that
/// all its solves share, so what a solve derives from it — the copy, the widening, the CSR diagonal — is
/// paid once per matrix, not once per solve. Immutable once read, except the diagonal, found once (on
/// whichever thread first needs it, under call_once, since two solves may share the operator).
struct Operator {
  int32_t n = 0;
  bool stencil = false;
  /// Whether SSOR-CG's split of a shared copy gets the passes' lane layouts (ssor_split): a prepared
  /// operator's does; the copy kept for the next plain solve of the same matrix does not, as a solve's
  /// own copy does not, so that a first solve pays no more than before.
  bool split_lanes = true;
  rx::StencilOp sten{};
  std::vector<int32_t> row_ptr, col_idx, diag_pos;
  std::vector<double> values, diag, coeffs;

  size_t bytes() const {
    // Derived later: the diagonal, and SSOR-CG's split or the lane layout of the products (about one
    // more copy of the entries each).
    const size_t later = stencil ? 0 : static_cast<size_t>(n) * (sizeof(int32_t) + sizeof(double)) + 2 * col_idx.size() * (sizeof(int32_t) + sizeof(double));
    return (row_ptr.size() + col_idx.size()) * sizeof(int32_t) + (values.size() + diag.size() + coeffs.size()) * sizeof(double) + later;
  }

  /// Whether this is a CSR copy of exactly these arrays (rowPtr, colIdx, and values as widened to f64),
  /// compared entry by entry: a kept copy may then serve another solve of the matrix.
  bool same_csr(const ArrayArg& rowPtr, const ArrayArg& colIdx, const ArrayArg& values) const {
    if (stencil || rowPtr.length != row_ptr.size() || rowPtr.length == 0) return false;
    if (std::memcmp(rowPtr.peek<int32_t>(), row_ptr.data(), row_ptr.size() * sizeof(int32_t)) != 0) return false;
    const size_t nnz = col_idx.size();
    if (colIdx.length < nnz || values.length < nnz) return false;
    if (std::memcmp(colIdx.peek<int32_t>(), col_idx.data(), nnz * sizeof(int32_t)) != 0) return false;
    if (values.type == napi_float64_array) return std::memcmp(values.peek<double>(), this->values.data(), nnz * sizeof(double)) == 0;
    const float* v = values.peek<float>();
    for (size_t p = 0; p < nnz; ++p) {
      const double w = v[p];
      if (std::memcmp(&w, &this->values[p], sizeof(double)) != 0) return false;
    }
    return true;
  }

  /// The CSR operator with its diagonal, or null when a row stores none (a broken invariant: the copies
  /// were checked when they were made and nothing writes them).
  const rx::CsrOp* csr_ready() {
    std::call_once(diag_once_, [this] {
      const int64_t nnz = static_cast<int64_t>(col_idx.size());
      diag_pos.resize(static_cast<size_t>(n));
      diag.resize(static_cast<size_t>(n));
      diag_ok_ = rx::csr_find_diagonal(n, row_ptr.data(), col_idx.data(), values.data(), diag_pos.data(), diag.data(), nnz);
      // read_op checked every index of these copies, and nothing writes them: the kernels may trust them.
      csr_ = rx::CsrOp{n, row_ptr.data(), col_idx.data(), values.data(), diag_pos.data(), diag.data(), nnz, diag_ok_};
    });
    return diag_ok_ ? &csr_ : nullptr;
  }

  /// The lane layout of the products (numkern/csr_lanes.hpp; csr_ready() must have succeeded), made by the
  /// first solve of a method that takes a product every update (rx::products_every_update) and shared by
  /// the later ones; null where the CPU has no AVX-512 or the rows' lengths differ too much. Only for
  /// those methods: it is about one more copy of the entries, whose first touch a first solve pays
  /// (~12 µs a page on the dev VM), for a residual the other methods take once per check.
  const numkern::CsrLanes* lanes() {
    std::call_once(lanes_once_, [this] { lanes_ = numkern::csr_lanes(n, row_ptr.data(), col_idx.data(), values.data()); });
    return lanes_.get();
  }

  /// SSOR-CG's split of the operator (csr_ready() must have succeeded), made by the first solve on a
  /// thread count and shared by every later chunk and solve: the copies never change, so neither does it.
  /// Shared, not borrowed: a solve on another thread count may replace it while this one still runs.
  /// lanes: with the passes' lane layouts (relax.hpp csr_ssor_split), for a prepared operator's copy, which
  /// many solves share; a solve's own copy serves one solve.
  std::shared_ptr<const rx::CsrSsorSplit> ssor_split(int threads, bool lanes) {
    const std::lock_guard<std::mutex> lock(split_mutex_);
    if (!split_ || !rx::csr_ssor_split_fits(*split_, n, threads)) split_ = rx::csr_ssor_split(csr_, threads, lanes);
    return split_;
  }

 private:
  std::once_flag diag_once_;
  bool diag_ok_ = false;
  rx::CsrOp csr_{};
  std::once_flag lanes_once_;
  std::unique_ptr<numkern::CsrLanes> lanes_;
  std::mutex split_mutex_;
  std::shared_ptr<const rx::CsrSsorSplit> split_;
};

using OperatorRef = std::shared_ptr<Operator>;

const napi_type_tag kOperatorTag = {0x6e756d6b65726e5fULL, 0x72656c61784f5052ULL};  // "numkern_relaxOPR"

/// One system of a session: its operator (owned, or shared with a prepared operator) and its own vectors.
struct System {
  OperatorRef op;
  /// Whether op is counted in the session's bytes (it is not when a prepared operator owns it).
  bool owns_op = true;
  bool colored = false;
  rx::Settings s{};
  rx::Coloring coloring{};
  std::vector<int32_t> order, offsets;
  std::vector<double> b, x, work;
  double state[rx::kStateLen] = {};
  /// The device copy (a CUDA session): x and the work vectors live there, and `x` above is refreshed
  /// from it by relaxRead.
  std::shared_ptr<NkCudaRelax> dev;

  int32_t n() const { return op->n; }
  size_t bytes() const {
    return (owns_op ? op->bytes() : 0) + (order.size() + offsets.size()) * sizeof(int32_t) +
           (b.size() + x.size() + work.size()) * sizeof(double);
  }
  int status() const { return static_cast<int>(state[rx::kStatus]); }
  bool running() const { return status() == rx::Running; }
};

struct Session {
  std::vector<std::unique_ptr<System>> systems;
  int64_t bytes = 0;
  bool released = false;
  bool cuda = false;  // systems on the device (cuda.relaxCreate)
  // A CUDA session of several small systems: every advance is one launch, a block per system
  // (nk_cuda_relax_step_batch), rather than each system's own launches in turn. Fixed at creation: a
  // system is advanced by one path only.
  bool batched = false;
  // An async advance owns the systems until its Promise settles; every other call refuses meanwhile.
  // Set and cleared on the JS thread only (prepare_advance, Job::after).
  bool busy = false;
};

using SessionRef = std::shared_ptr<Session>;

const napi_type_tag kSessionTag = {0x6e756d6b65726e5fULL, 0x72656c6178534553ULL};  // "numkern_relaxSES"

Napi::Object object_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray()) throw_type(env, name + ": expected an object, got " + describe(v));
  return v.As<Napi::Object>();
}

ArrayArg prop_array(Napi::Env env, const Napi::Object& o, const std::string& name, const char* key,
                    napi_typedarray_type type, const char* expected) {
  return typed_array_value(env, o.Get(key), name + "." + key, {type}, expected);
}

ArrayArg float_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  return typed_array_value(env, v, name, {napi_float32_array, napi_float64_array}, "Float32Array or Float64Array");
}

/// a's first `count` elements, widened to f64, appended to out.
void widen_into(const ArrayArg& a, size_t count, std::vector<double>& out) {
  const size_t at = out.size();
  out.resize(at + count);
  if (a.type == napi_float32_array) std::copy_n(a.peek<float>(), count, out.data() + at);
  else std::copy_n(a.peek<double>(), count, out.data() + at);
}

std::vector<int32_t> copy_ints(const ArrayArg& a) { return std::vector<int32_t>(a.peek<int32_t>(), a.peek<int32_t>() + a.length); }

/// Copies and checks the operator. Checks run on the copies, so what was checked is what is solved.
void read_op(Napi::Env env, const Napi::Value& v, const std::string& name, Operator& sys) {
  const Napi::Object o = object_value(env, v, name);
  if (o.Has("rowPtr")) {
    const ArrayArg rowPtr = prop_array(env, o, name, "rowPtr", napi_int32_array, "Int32Array");
    const ArrayArg colIdx = prop_array(env, o, name, "colIdx", napi_int32_array, "Int32Array");
    const ArrayArg values = float_value(env, o.Get("values"), name + ".values");
    const int32_t n = static_cast<int32_t>(offsets_count(env, rowPtr, name + ".rowPtr", "nrows", "rows"));
    sys.row_ptr = copy_ints(rowPtr);
    const int32_t* rp = sys.row_ptr.data();
    if (rp[0] != 0) throw_range(env, name + ".rowPtr: rowPtr[0] = " + str(rp[0]) + " should be 0");
    require_monotone(env, rp, static_cast<size_t>(n), name + ".rowPtr", "rowPtr");
    const size_t nnz = static_cast<size_t>(rp[n]);
    require_csr_entries(env, name + ".rowPtr", nnz, colIdx, values);
    sys.col_idx.assign(colIdx.peek<int32_t>(), colIdx.peek<int32_t>() + nnz);
    // The matrix is square (n × n): every column index must address x.
    for (size_t p = 0; p < nnz; ++p) {
      const int32_t c = sys.col_idx[p];
      if (c < 0 || c >= n)
        throw_range(env, name + ".colIdx: colIdx[" + str(static_cast<int64_t>(p)) + "] = " + str(c) +
                             " is outside [0, " + str(n) + ")");
    }
    widen_into(values, nnz, sys.values);
    sys.n = n;
    return;
  }
  if (!o.Has("shape"))
    throw_type(env, name + ": expected a CSR {rowPtr, colIdx, values} or stencil {shape, variable, diag, offdiag}");
  const ArrayArg shape = prop_array(env, o, name, "shape", napi_int32_array, "Int32Array");
  if (shape.length != 2 && shape.length != 3)
    throw_range(env, name + ".shape: length " + str(static_cast<int64_t>(shape.length)) + " should be 2 or 3");
  const int dim = static_cast<int>(shape.length);
  int32_t sh[3] = {1, 1, 1};
  int64_t n64 = 1;
  for (int a = 0; a < dim; ++a) {
    sh[a] = shape.peek<int32_t>()[a];
    if (sh[a] < 1) throw_range(env, name + ".shape: shape[" + str(a) + "] = " + str(sh[a]) + " should be >= 1");
    n64 *= sh[a];
    if (n64 > std::numeric_limits<int32_t>::max()) throw_range(env, name + ".shape: more than 2^31 − 1 nodes");
  }
  const Napi::Value variable = o.Get("variable");
  if (!variable.IsBoolean()) throw_type(env, name + ".variable: expected a boolean, got " + describe(variable));
  const bool var = variable.As<Napi::Boolean>().Value();
  const size_t n = static_cast<size_t>(n64);
  const int dirs = 2 * dim;
  const ArrayArg diag = float_value(env, o.Get("diag"), name + ".diag");
  require_length(env, diag, name + ".diag", var ? n : 1, var ? "one per node" : "one constant");
  rx::StencilOp s{};
  s.dim = dim;
  s.nx = sh[0];
  s.ny = sh[1];
  s.nz = sh[2];
  s.n = static_cast<int32_t>(n64);
  s.variable = var;
  const Napi::Value offdiag = o.Get("offdiag");
  if (var) {
    if (!offdiag.IsArray())
      throw_type(env, name + ".offdiag: expected an Array of " + str(dirs) + " coefficient arrays, got " + describe(offdiag));
    const Napi::Array arr = offdiag.As<Napi::Array>();
    if (arr.Length() != static_cast<uint32_t>(dirs))
      throw_range(env, name + ".offdiag: " + str(arr.Length()) + " arrays should be " + str(dirs) + " (2·dim directions)");
    widen_into(diag, n, sys.diag);
    sys.coeffs.reserve(n * static_cast<size_t>(dirs));
    for (int d = 0; d < dirs; ++d) {
      const std::string key = name + ".offdiag[" + str(d) + "]";
      const ArrayArg od = float_value(env, arr.Get(static_cast<uint32_t>(d)), key);
      require_length(env, od, key, n, "one per node");
      widen_into(od, n, sys.coeffs);
    }
    s.vdiag = sys.diag.data();
    s.voff = sys.coeffs.data();
  } else {
    const ArrayArg od = float_value(env, offdiag, name + ".offdiag");
    require_length(env, od, name + ".offdiag", static_cast<size_t>(dirs), "one per direction (2·dim)");
    std::vector<double> c;
    widen_into(diag, 1, c);
    widen_into(od, static_cast<size_t>(dirs), c);
    s.cdiag = c[0];
    for (int d = 0; d < dirs; ++d) {
      s.coff[d] = c[1 + d];
      // The oracle's CSR twin drops a constant zero coupling; 0·x is not nothing once x overflows.
      if (s.coff[d] == 0) throw_range(env, name + ".offdiag: constant coupling " + str(d) + " is zero; pass the CSR form");
    }
  }
  sys.stencil = true;
  sys.sten = s;
  sys.n = s.n;
}

/// Colour classes: offsets from 0 to n, nondecreasing; order a permutation of [0, n).
void read_coloring(Napi::Env env, const Napi::Value& v, const std::string& name, bool needed, System& sys) {
  if (v.IsUndefined() || v.IsNull()) {
    if (needed) throw_type(env, name + ": sor-redblack needs {order, offsets}, got " + describe(v));
    return;
  }
  const int32_t n = sys.n();
  const Napi::Object o = object_value(env, v, name);
  const ArrayArg order = prop_array(env, o, name, "order", napi_int32_array, "Int32Array");
  const ArrayArg offsets = prop_array(env, o, name, "offsets", napi_int32_array, "Int32Array");
  require_length(env, order, name + ".order", static_cast<size_t>(n), "one entry per row");
  if (offsets.length < 1 || offsets.length - 1 > static_cast<size_t>(n) + 1)
    throw_range(env, name + ".offsets: length " + str(static_cast<int64_t>(offsets.length)) +
                         " should be colors + 1 in [1, n + 2]");
  sys.offsets = copy_ints(offsets);
  sys.order = copy_ints(order);
  const int32_t* off = sys.offsets.data();
  const int32_t colors = static_cast<int32_t>(offsets.length - 1);
  if (off[0] != 0) throw_range(env, name + ".offsets: offsets[0] = " + str(off[0]) + " should be 0");
  for (int32_t c = 0; c < colors; ++c)
    if (off[c + 1] < off[c]) throw_range(env, name + ".offsets: not monotone at " + str(c + 1));
  if (off[colors] != n)
    throw_range(env, name + ".offsets: offsets[colors] = " + str(off[colors]) + " should be n = " + str(n));
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int32_t q = 0; q < n; ++q) {
    const int32_t i = sys.order[static_cast<size_t>(q)];
    if (i < 0 || i >= n)
      throw_range(env, name + ".order: order[" + str(q) + "] = " + str(i) + " is outside [0, " + str(n) + ")");
    if (seen[static_cast<size_t>(i)]) throw_range(env, name + ".order: row " + str(i) + " appears twice (not a permutation)");
    seen[static_cast<size_t>(i)] = true;
  }
  sys.colored = true;
  sys.coloring = rx::Coloring{sys.order.data(), sys.offsets.data(), colors};
}

rx::Settings read_settings(Napi::Env env, const ArrayArg& a) {
  require_length(env, a, "settings", 6, "[method, omega, tol, relative, maxIter, checkEvery]");
  const double* v = a.peek<double>();
  const auto integer = [&](double x, double lo, double hi, const char* what) {
    if (!(x >= lo && x <= hi) || std::floor(x) != x)
      throw_range(env, std::string("settings: ") + what + " = " + std::to_string(x) + " should be an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  };
  rx::Settings s{};
  s.method = static_cast<int>(integer(v[0], 0, std::size(kMethods) - 1, "method"));
  s.omega = v[1];
  if (!std::isfinite(s.omega)) throw_range(env, "settings: omega is not finite");
  s.tol = v[2];
  if (!(s.tol >= 0) || !std::isfinite(s.tol)) throw_range(env, "settings: tol should be finite and >= 0");
  s.relative = integer(v[3], 0, 1, "relative") == 1;
  s.max_iter = static_cast<int64_t>(integer(v[4], 0, 9007199254740991.0, "maxIter"));
  s.check_every = static_cast<int64_t>(integer(v[5], 1, 9007199254740991.0, "checkEvery"));
  return s;
}

std::unique_ptr<System> read_system(Napi::Env env, const Napi::Value& v, const std::string& name, const rx::Settings& base) {
  const Napi::Object o = object_value(env, v, name);
  auto sys = std::make_unique<System>();
  const Napi::Value op = o.Get("op");
  if (op.IsExternal()) {
    sys->op = external_value<OperatorRef>(env, op, &kOperatorTag, name + ".op", "an operator from relaxOperator");
    if (!sys->op) throw_type(env, name + ".op: the operator was released");
    sys->owns_op = false;
  } else {
    sys->op = std::make_shared<Operator>();
    read_op(env, op, name + ".op", *sys->op);
  }
  sys->s = base;
  const Napi::Value omega = o.Get("omega");
  sys->s.omega = number_value(env, omega, name + ".omega");
  if (!std::isfinite(sys->s.omega)) throw_range(env, name + ".omega: expected a finite number");
  read_coloring(env, o.Get("coloring"), name + ".coloring", base.method == rx::SorRedBlack, *sys);
  const size_t n = static_cast<size_t>(sys->n());
  const ArrayArg b = float_value(env, o.Get("b"), name + ".b");
  const ArrayArg x = float_value(env, o.Get("x"), name + ".x");
  require_length(env, b, name + ".b", n, "one entry per row");
  require_length(env, x, name + ".x", n, "one entry per row");
  widen_into(b, n, sys->b);
  widen_into(x, n, sys->x);
  sys->work.assign(static_cast<size_t>(rx::work_vectors(base.method)) * n, 0.0);
  return sys;
}

}  // namespace
}  // namespace nkb
