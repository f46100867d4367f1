// Bindings for the relaxation solvers (native/include/numkern/relax.hpp): argument checks, then the
// chunked driver. Everything arrives in f64 (the TS side widens f32 operands once per operator).
//
//   relaxStep(op, coloring, b, x, work, settings, state, maxUpdates, threads?) -> status
//   relaxBatch(systems, settings, out, threads?) -> undefined
// and their ...Async twins. op is {rowPtr, colIdx, values} (CSR) or {shape: Int32Array, variable,
// diag, offdiag} (stencil; offdiag direction-major, 2·dim values or 2·dim·n); coloring is
// {order, offsets} or undefined; settings is [method, omega, tol, relative, maxIter, checkEvery];
// state holds numkern::relax::StateSlot; work holds work_vectors(method)·n doubles.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "numkern/kernels.hpp"
#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"

namespace nkb {
namespace {

namespace rx = numkern::relax;

std::string str(int64_t v) { return std::to_string(v); }

/// A typed array held in a property, named "<owner>.<key>" in errors.
ArrayArg prop_array(Napi::Env env, const Napi::Object& o, const std::string& name, const char* key,
                    napi_typedarray_type type, const char* expected) {
  return typed_array_value(env, o.Get(key), name + "." + key, {type}, expected);
}

ArrayArg f64_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  return typed_array_value(env, v, name, {napi_float64_array}, "Float64Array");
}

double number_arg_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw_type(env, name + ": expected a number, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(env, name + ": expected a finite number");
  return d;
}

Napi::Object object_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsTypedArray() || v.IsArray()) throw_type(env, name + ": expected an object, got " + describe(v));
  return v.As<Napi::Object>();
}

/// One checked operator. The CSR diagonal is located when the job runs (off the JS thread).
struct OpArg {
  bool stencil = false;
  rx::CsrOp csr{};
  rx::StencilOp sten{};
  int32_t n = 0;
};

OpArg read_op(Napi::Env env, const Napi::Value& v, const std::string& name, std::vector<Napi::Object>& keep) {
  const Napi::Object o = object_value(env, v, name);
  OpArg op;
  if (o.Has("rowPtr")) {
    const ArrayArg rowPtr = prop_array(env, o, name, "rowPtr", napi_int32_array, "Int32Array");
    const ArrayArg colIdx = prop_array(env, o, name, "colIdx", napi_int32_array, "Int32Array");
    const ArrayArg values = prop_array(env, o, name, "values", napi_float64_array, "Float64Array");
    const int32_t n = static_cast<int32_t>(offsets_count(env, rowPtr, name + ".rowPtr", "nrows", "rows"));
    const int32_t* rp = rowPtr.as<int32_t>();
    if (rp[0] != 0) throw_range(env, name + ".rowPtr: rowPtr[0] = " + str(rp[0]) + " should be 0");
    require_monotone(env, rp, static_cast<size_t>(n), name + ".rowPtr", "rowPtr");
    const size_t nnz = static_cast<size_t>(rp[n]);
    require_csr_entries(env, name + ".rowPtr", nnz, colIdx, values);
    const int32_t* ci = colIdx.as<int32_t>();
    // The matrix is square (n × n): every column index must address x.
    for (size_t p = 0; p < nnz; ++p)
      if (ci[p] < 0 || ci[p] >= n)
        throw_range(env, name + ".colIdx: colIdx[" + str(static_cast<int64_t>(p)) + "] = " + str(ci[p]) +
                             " is outside [0, " + str(n) + ")");
    op.csr = rx::CsrOp{n, rp, ci, values.as<double>(), nullptr, nullptr};
    op.n = n;
    keep.insert(keep.end(), {rowPtr.object, colIdx.object, values.object});
    return op;
  }
  if (!o.Has("shape")) throw_type(env, name + ": expected a CSR {rowPtr, colIdx, values} or stencil {shape, variable, diag, offdiag}");
  const ArrayArg shape = prop_array(env, o, name, "shape", napi_int32_array, "Int32Array");
  if (shape.length != 2 && shape.length != 3)
    throw_range(env, name + ".shape: length " + str(static_cast<int64_t>(shape.length)) + " should be 2 or 3");
  const int dim = static_cast<int>(shape.length);
  const int32_t* sh = shape.as<int32_t>();
  int64_t n64 = 1;
  for (int a = 0; a < dim; ++a) {
    if (sh[a] < 1) throw_range(env, name + ".shape: shape[" + str(a) + "] = " + str(sh[a]) + " should be >= 1");
    n64 *= sh[a];
    if (n64 > std::numeric_limits<int32_t>::max()) throw_range(env, name + ".shape: more than 2^31 − 1 nodes");
  }
  const Napi::Value variable = o.Get("variable");
  if (!variable.IsBoolean()) throw_type(env, name + ".variable: expected a boolean, got " + describe(variable));
  const bool var = variable.As<Napi::Boolean>().Value();
  const ArrayArg diag = prop_array(env, o, name, "diag", napi_float64_array, "Float64Array");
  const ArrayArg off = prop_array(env, o, name, "offdiag", napi_float64_array, "Float64Array");
  const size_t per = var ? static_cast<size_t>(n64) : 1;
  require_length(env, diag, (name + ".diag").c_str(), per, var ? "one per node" : "one constant");
  require_length(env, off, (name + ".offdiag").c_str(), per * 2 * static_cast<size_t>(dim),
                 var ? "2·dim arrays of one per node, direction-major" : "one per direction (2·dim)");
  rx::StencilOp s{};
  s.dim = dim;
  s.nx = sh[0];
  s.ny = sh[1];
  s.nz = dim == 3 ? sh[2] : 1;
  s.n = static_cast<int32_t>(n64);
  s.variable = var;
  if (var) {
    s.vdiag = diag.as<double>();
    s.voff = off.as<double>();
  } else {
    s.cdiag = diag.as<double>()[0];
    for (int d = 0; d < 2 * dim; ++d) {
      s.coff[d] = off.as<double>()[d];
      // The oracle's CSR twin drops a constant zero coupling; 0·x is not nothing once x overflows.
      if (s.coff[d] == 0) throw_range(env, name + ".offdiag: constant coupling " + str(d) + " is zero; pass the CSR form");
    }
  }
  op.stencil = true;
  op.sten = s;
  op.n = s.n;
  keep.insert(keep.end(), {shape.object, diag.object, off.object});
  return op;
}

/// Colour classes: offsets from 0 to n, nondecreasing; order a permutation of [0, n).
struct ColArg {
  bool present = false;
  rx::Coloring c{};
};

ColArg read_coloring(Napi::Env env, const Napi::Value& v, const std::string& name, int32_t n, bool needed,
                     std::vector<Napi::Object>& keep) {
  ColArg out;
  if (v.IsUndefined() || v.IsNull()) {
    if (needed) throw_type(env, name + ": sor-redblack needs {order, offsets}, got " + describe(v));
    return out;
  }
  const Napi::Object o = object_value(env, v, name);
  const ArrayArg order = prop_array(env, o, name, "order", napi_int32_array, "Int32Array");
  const ArrayArg offsets = prop_array(env, o, name, "offsets", napi_int32_array, "Int32Array");
  require_length(env, order, (name + ".order").c_str(), static_cast<size_t>(n), "one entry per row");
  if (offsets.length < 1 || offsets.length - 1 > static_cast<size_t>(n) + 1)
    throw_range(env, name + ".offsets: length " + str(static_cast<int64_t>(offsets.length)) + " should be colors + 1 in [1, n + 2]");
  const int32_t* off = offsets.as<int32_t>();
  const int32_t colors = static_cast<int32_t>(offsets.length - 1);
  if (off[0] != 0) throw_range(env, name + ".offsets: offsets[0] = " + str(off[0]) + " should be 0");
  for (int32_t c = 0; c < colors; ++c)
    if (off[c + 1] < off[c]) throw_range(env, name + ".offsets: not monotone at " + str(c + 1));
  if (off[colors] != n) throw_range(env, name + ".offsets: offsets[colors] = " + str(off[colors]) + " should be n = " + str(n));
  const int32_t* ord = order.as<int32_t>();
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int32_t q = 0; q < n; ++q) {
    const int32_t i = ord[q];
    if (i < 0 || i >= n) throw_range(env, name + ".order: order[" + str(q) + "] = " + str(i) + " is outside [0, " + str(n) + ")");
    if (seen[static_cast<size_t>(i)]) throw_range(env, name + ".order: row " + str(i) + " appears twice (not a permutation)");
    seen[static_cast<size_t>(i)] = true;
  }
  // Rows of one colour are relaxed concurrently: two rows coupled inside a colour would race.
  out.present = true;
  out.c = rx::Coloring{ord, off, colors};
  keep.insert(keep.end(), {order.object, offsets.object});
  return out;
}

rx::Settings read_settings(Napi::Env env, const ArrayArg& a) {
  require_length(env, a, "settings", 6, "[method, omega, tol, relative, maxIter, checkEvery]");
  const double* v = a.as<double>();
  const auto integer = [&](double x, double lo, double hi, const char* what) {
    if (!(x >= lo && x <= hi) || std::floor(x) != x)
      throw_range(env, std::string("settings: ") + what + " = " + std::to_string(x) + " should be an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  };
  rx::Settings s{};
  s.method = static_cast<int>(integer(v[0], 0, 6, "method"));
  s.omega = v[1];
  if (!std::isfinite(s.omega)) throw_range(env, "settings: omega is not finite");
  s.tol = v[2];
  if (!(s.tol >= 0) || !std::isfinite(s.tol)) throw_range(env, "settings: tol should be finite and >= 0");
  s.relative = integer(v[3], 0, 1, "relative") == 1;
  s.max_iter = static_cast<int64_t>(integer(v[4], 0, 9007199254740991.0, "maxIter"));
  s.check_every = static_cast<int64_t>(integer(v[5], 1, 9007199254740991.0, "checkEvery"));
  return s;
}

/// Runs one chunk of one system; the CSR diagonal is found here, on the worker.
int run_system(const OpArg& op, const rx::Settings& s, const ColArg& col, const double* b, double* x, double* work,
               double* state, int64_t max_updates, int threads) {
  const int64_t n = op.n;
  rx::Work w = rx::work_layout(s.method, work, n);
  const rx::Coloring* c = col.present ? &col.c : nullptr;
  if (op.stencil) return rx::relax_step(op.sten, s, c, b, x, w, state, max_updates, threads);
  std::vector<int32_t> diag_pos(static_cast<size_t>(n));
  std::vector<double> diag(static_cast<size_t>(n));
  rx::CsrOp A = op.csr;
  rx::csr_find_diagonal(A.n, A.row_ptr, A.col_idx, A.values, diag_pos.data(), diag.data());
  A.diag_pos = diag_pos.data();
  A.diag = diag.data();
  return rx::relax_step(A, s, c, b, x, w, state, max_updates, threads);
}

void check_state(Napi::Env env, const ArrayArg& st, const std::string& name, const rx::Settings& s) {
  require_length(env, st, name.c_str(), rx::kStateLen, "numkern::relax::StateSlot");
  const double* v = st.as<double>();
  if (!(v[rx::kStarted] == 0 || v[rx::kStarted] == 1)) throw_range(env, name + ": started slot should be 0 or 1");
  const double k = v[rx::kIter];
  if (!(k >= 0 && k <= static_cast<double>(s.max_iter)) || std::floor(k) != k)
    throw_range(env, name + ": iteration slot should be an integer in [0, maxIter]");
  const double status = v[rx::kStatus];
  if (!(status >= 0 && status <= 3) || std::floor(status) != status) throw_range(env, name + ": status slot should be 0..3");
}

Job prepare_step(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Job job;
  job.returns_number = true;
  const ArrayArg settings = typed_array(info, 5, "settings", {napi_float64_array}, "Float64Array");
  const rx::Settings s = read_settings(env, settings);
  const OpArg op = read_op(env, info[0], "op", job.keep);
  const ColArg col = read_coloring(env, info[1], "coloring", op.n, s.method == rx::SorRedBlack, job.keep);
  const ArrayArg b = f64_value(env, info[2], "b");
  const ArrayArg x = f64_value(env, info[3], "x");
  const ArrayArg work = f64_value(env, info[4], "work");
  const ArrayArg state = f64_value(env, info[6], "state");
  const size_t n = static_cast<size_t>(op.n);
  require_length(env, b, "b", n, "one entry per row");
  require_length(env, x, "x", n, "one entry per row");
  const size_t nvec = static_cast<size_t>(rx::work_vectors(s.method));
  require_length(env, work, "work", nvec * n, nvec == 1 ? "n (r)" : nvec == 3 ? "3n (r, p, q)" : "6n (r, r̂, p̂, At, t, v)");
  check_state(env, state, "state", s);
  const int64_t max_updates = static_cast<int64_t>(integer_arg(info, 7, "maxUpdates", 1, 9007199254740991.0));
  const int threads = threads_arg(info, 8);
  job.keep.insert(job.keep.end(), {b.object, x.object, work.object, state.object, settings.object});
  const double* pb = b.as<double>();
  double* px = x.as<double>();
  double* pw = work.as<double>();
  double* ps = state.as<double>();
  job.run = [op, s, col, pb, px, pw, ps, max_updates, threads]() -> double {
    return run_system(op, s, col, pb, px, pw, ps, max_updates, threads);
  };
  return job;
}

/// Many small systems in one call: threads across systems, each system single-threaded, so a system's
/// result is the one relaxStep would give it.
Job prepare_batch(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Job job;
  if (!info[0].IsArray()) throw_type(env, "systems: expected an Array, got " + describe(info[0]));
  const Napi::Array arr = info[0].As<Napi::Array>();
  const ArrayArg settings = typed_array(info, 1, "settings", {napi_float64_array}, "Float64Array");
  const rx::Settings base = read_settings(env, settings);
  const ArrayArg out = f64_value(env, info[2], "out");
  const uint32_t count = arr.Length();
  require_length(env, out, "out", static_cast<size_t>(count) * rx::kStateLen, "kStateLen (" + std::to_string(rx::kStateLen) + ") per system");
  const int threads = threads_arg(info, 3);

  struct Sys {
    OpArg op;
    ColArg col;
    rx::Settings s;
    const double* b;
    double* x;
  };
  auto systems = std::make_shared<std::vector<Sys>>();
  systems->reserve(count);
  size_t total = 0;
  for (uint32_t k = 0; k < count; ++k) {
    const std::string name = "systems[" + std::to_string(k) + "]";
    const Napi::Object o = object_value(env, arr.Get(k), name);
    Sys sys;
    sys.op = read_op(env, o.Get("op"), name + ".op", job.keep);
    sys.s = base;
    sys.s.omega = number_arg_value(env, o.Get("omega"), name + ".omega");
    sys.col = read_coloring(env, o.Get("coloring"), name + ".coloring", sys.op.n, base.method == rx::SorRedBlack, job.keep);
    const ArrayArg b = f64_value(env, o.Get("b"), name + ".b");
    const ArrayArg x = f64_value(env, o.Get("x"), name + ".x");
    require_length(env, b, (name + ".b").c_str(), static_cast<size_t>(sys.op.n), "one entry per row");
    require_length(env, x, (name + ".x").c_str(), static_cast<size_t>(sys.op.n), "one entry per row");
    sys.b = b.as<double>();
    sys.x = x.as<double>();
    job.keep.insert(job.keep.end(), {b.object, x.object});
    total += static_cast<size_t>(sys.op.n);
    systems->push_back(sys);
  }
  job.keep.insert(job.keep.end(), {out.object, settings.object});
  double* po = out.as<double>();
  job.run = [systems, po, threads, total]() -> double {
    const size_t m = systems->size();
    const int nt = numkern::plan_threads(threads, std::max(total, m), 1024);
    numkern::parallel_run(nt, [&](int t, int T) {
      // Interleaved so neighbouring (similar-sized) systems land on different threads.
      for (size_t k = static_cast<size_t>(t); k < m; k += static_cast<size_t>(T)) {
        const Sys& sys = (*systems)[k];
        const size_t n = static_cast<size_t>(sys.op.n);
        std::vector<double> work(static_cast<size_t>(rx::work_vectors(sys.s.method)) * n);
        double* st = po + k * rx::kStateLen;
        std::fill(st, st + rx::kStateLen, 0.0);
        run_system(sys.op, sys.s, sys.col, sys.b, sys.x, work.data(), st, std::numeric_limits<int64_t>::max(), 1);
      }
    });
    return 0;
  };
  return job;
}

}  // namespace

void register_relax(Napi::Env env, Napi::Object exports) {
  export_pair<prepare_step>(env, exports, "relaxStep");
  export_pair<prepare_batch>(env, exports, "relaxBatch");
}

}  // namespace nkb
