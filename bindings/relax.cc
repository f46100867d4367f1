// Bindings of the relax family (native/include/numkern/relax.hpp): solver sessions that own their data.
//
//   relaxLayout() -> {methods, work, state, status}      the tables the TS side checks at load
//   relaxCreate(systems, settings) -> RelaxSession       copies every system into native memory
//   relaxAdvance(session, maxUpdates, threads?) -> running systems left  (and relaxAdvanceAsync)
//   relaxRead(session, k, state, x?)                     system k's state vector, and its x in x's dtype
//   relaxRelease(session)                                frees the copies now rather than at GC
//   relaxOperator(op) -> RelaxOperator                   one native copy of op that sessions share
//   relaxOperatorRelease(op)                             drops it now (a prepared operator's dispose)
//
// systems[k] is {op, coloring?, b, x, omega}: op is a RelaxOperator, or CSR {rowPtr, colIdx, values} or a stencil {shape:
// Int32Array, variable, diag, offdiag} (constant: diag of 1 and offdiag of 2·dim values; variable: diag of
// n and offdiag an Array of 2·dim arrays of n, in direction order −x, +x, −y, +y, −z, +z); coloring is
// {order, offsets} or undefined; b and x (x0) are f32 or f64, as are the operator's values: everything
// is widened to f64 once, here, and the solve iterates in f64 as the js oracle does. settings is
// [method, omega, tol, relative, maxIter, checkEvery] (omega is taken from each system).
//
// cuda.relaxCreate / cuda.relaxAdvance[Async] are the same calls for a session whose systems live on the
// device (native/cuda/relax.cu, methods numkern::relax::cuda_method): relaxCreate checks everything the
// CPU one does, before it asks for a device; relaxRead copies x back from the device; relaxRelease frees
// the device copies too. A session is advanced only by the advance of its own kind.
//
// Why a session: a solve runs as many chunks (relax_step keeps everything it needs between chunks in the
// state vector and the work vectors), and each chunk of a large solve runs on the libuv pool while JS
// runs. Copying the operator into native memory once per solve, rather than staging it for every chunk
// (args.hpp), makes a chunk cost only its sweeps, finds the CSR diagonal once, and means nothing JS does
// to its arrays mid-solve (detaching them, writing out-of-range indices) can reach the kernels: the
// solve sees the matrix as it was when it started. maxUpdates (one budget per system) bounds a chunk.
#include <algorithm>
#include <cmath>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.hpp"
#include "cuda.hpp"
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
  rx::StencilOp sten{};
  std::vector<int32_t> row_ptr, col_idx, diag_pos;
  std::vector<double> values, diag, coeffs;

  size_t bytes() const {
    // Derived later: the diagonal, and SSOR-CG's split (about one more copy of the entries).
    const size_t later = stencil ? 0 : static_cast<size_t>(n) * (sizeof(int32_t) + sizeof(double)) + col_idx.size() * (sizeof(int32_t) + sizeof(double));
    return (row_ptr.size() + col_idx.size()) * sizeof(int32_t) + (values.size() + diag.size() + coeffs.size()) * sizeof(double) + later;
  }

  /// The CSR operator with its diagonal, or null when a row stores none (a broken invariant: the copies
  /// were checked when they were made and nothing writes them).
  const rx::CsrOp* csr_ready() {
    std::call_once(diag_once_, [this] {
      const int64_t nnz = static_cast<int64_t>(col_idx.size());
      diag_pos.resize(static_cast<size_t>(n));
      diag.resize(static_cast<size_t>(n));
      diag_ok_ = rx::csr_find_diagonal(n, row_ptr.data(), col_idx.data(), values.data(), diag_pos.data(), diag.data(), nnz);
      csr_ = rx::CsrOp{n, row_ptr.data(), col_idx.data(), values.data(), diag_pos.data(), diag.data(), nnz};
    });
    return diag_ok_ ? &csr_ : nullptr;
  }

  /// SSOR-CG's split of the operator (csr_ready() must have succeeded), made by the first solve on a
  /// thread count and shared by every later chunk and solve: the copies never change, so neither does it.
  /// Shared, not borrowed: a solve on another thread count may replace it while this one still runs.
  std::shared_ptr<const rx::CsrSsorSplit> ssor_split(int threads) {
    const std::lock_guard<std::mutex> lock(split_mutex_);
    if (!split_ || !rx::csr_ssor_split_fits(*split_, n, threads)) split_ = rx::csr_ssor_split(csr_, threads);
    return split_;
  }

 private:
  std::once_flag diag_once_;
  bool diag_ok_ = false;
  rx::CsrOp csr_{};
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
    if (!op.As<Napi::External<OperatorRef>>().CheckTypeTag(&kOperatorTag))
      throw_type(env, name + ".op: expected an operator from relaxOperator, got another native object");
    sys->op = *op.As<Napi::External<OperatorRef>>().Data();
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

/// The systems' device copies (a CUDA build with a device; the caller checked both).
template <Target tgt>
void to_device(Napi::Env env, Session& session) {
  if constexpr (tgt == Target::Cuda && kCudaBuilt) {
    for (size_t k = 0; k < session.systems.size(); ++k) {
      System& sys = *session.systems[k];
      Operator& op = *sys.op;
      const rx::CsrOp* csr = op.stencil ? nullptr : op.csr_ready();
      if (!op.stencil && csr == nullptr)
        throw_range(env, "systems[" + std::to_string(k) + "].op: a row stores no diagonal entry");
      NkCudaRelax* h = nullptr;
      const char* err = nullptr;
      const int rc = nk_cuda_relax_create(csr, op.stencil ? &op.sten : nullptr, sys.colored ? &sys.coloring : nullptr,
                                          &sys.s, sys.b.data(), sys.x.data(), &h, &err);
      if (rc != 0) cuda_fail(rc, err, "relaxCreate");
      sys.dev = std::shared_ptr<NkCudaRelax>(h, nk_cuda_relax_free);
    }
    session.cuda = true;
    session.batched = session.systems.size() > 1 && rx::cuda_batch_method(session.systems.front()->s.method) &&
                      std::all_of(session.systems.begin(), session.systems.end(),
                                  [](const std::unique_ptr<System>& sys) { return sys->n() <= rx::kCudaBatchRows; });
  } else {
    (void)env;
    (void)session;
  }
}

template <Target tgt>
Napi::Value relax_create(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type(env, "systems: expected an Array, got " + describe(info[0]));
  const Napi::Array arr = info[0].As<Napi::Array>();
  const ArrayArg settings = typed_array(info, 1, "settings", {napi_float64_array}, "Float64Array");
  const rx::Settings base = read_settings(env, settings);
  if (tgt == Target::Cuda && !rx::cuda_method(base.method))
    throw_range(env, std::string("settings: method '") + kMethods[base.method].name +
                         "' has no CUDA kernel");
  auto session = std::make_shared<Session>();
  const uint32_t count = arr.Length();
  session->systems.reserve(count);
  for (uint32_t k = 0; k < count; ++k) {
    session->systems.push_back(read_system(env, arr.Get(k), "systems[" + std::to_string(k) + "]", base));
    session->bytes += static_cast<int64_t>(session->systems.back()->bytes());
  }
  if constexpr (tgt == Target::Cuda) {
    // Every argument is checked: only now does a missing device matter.
    try {
      require_cuda_device();
      to_device<tgt>(env, *session);
    } catch (const KernelError& e) {
      throw make_error(env, e);
    }
  }
  // The GC does not see native memory; without this a loop of large solves would collect too late.
  Napi::MemoryManagement::AdjustExternalMemory(env, session->bytes);
  auto* ref = new SessionRef(session);
  Napi::External<SessionRef> ext = Napi::External<SessionRef>::New(env, ref, [](Napi::Env e, SessionRef* r) {
    if (!(*r)->released) Napi::MemoryManagement::AdjustExternalMemory(e, -(*r)->bytes);
    delete r;
  });
  ext.TypeTag(&kSessionTag);
  return ext;
}

/// The session behind argument i, not released, not busy.
SessionRef session_arg(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Env env = info.Env();
  const Napi::Value v = info[i];
  if (!v.IsExternal() || !v.As<Napi::External<SessionRef>>().CheckTypeTag(&kSessionTag))
    throw_type(env, "session: expected a session from relaxCreate, got " + describe(v));
  SessionRef s = *v.As<Napi::External<SessionRef>>().Data();
  if (s->released) throw_type(env, "session: already released");
  if (s->busy) throw_type(env, "session: busy (an async advance has not settled)");
  return s;
}

/// Advances one system by at most max_updates updates. The CSR diagonal is located the first time the
/// operator is used, on whichever thread runs this (the pool for a large solve).
int advance(System& sys, int64_t max_updates, int threads) {
  rx::Work w = rx::work_layout(sys.s.method, sys.work.data(), sys.n());
  const rx::Coloring* c = sys.colored ? &sys.coloring : nullptr;
  Operator& op = *sys.op;
  if (op.stencil) return rx::relax_step(op.sten, sys.s, c, sys.b.data(), sys.x.data(), w, sys.state, max_updates, threads);
  const rx::CsrOp* A = op.csr_ready();
  if (A == nullptr) {
    sys.state[rx::kStatus] = rx::BadIndex;
    return rx::BadIndex;
  }
  const std::shared_ptr<const rx::CsrSsorSplit> split = sys.s.method == rx::SsorCg ? op.ssor_split(threads) : nullptr;
  return rx::relax_step(*A, sys.s, c, sys.b.data(), sys.x.data(), w, sys.state, max_updates, threads, split.get());
}

/// Advances the running systems `live` of a CUDA session on the device: in one launch when the session
/// is batched, else one system after another (one stream; each launch already covers the device).
template <Target tgt>
void advance_device(Session& session, const std::vector<size_t>& live, const std::vector<int64_t>& updates) {
  if constexpr (tgt == Target::Cuda && kCudaBuilt) {
    const char* err = nullptr;
    if (session.batched) {
      std::vector<NkCudaRelax*> hs;
      std::vector<double*> states;
      std::vector<int64_t> budget;
      for (const size_t k : live) {
        hs.push_back(session.systems[k]->dev.get());
        states.push_back(session.systems[k]->state);
        budget.push_back(updates[k]);
      }
      const int rc = nk_cuda_relax_step_batch(hs.data(), static_cast<int32_t>(hs.size()), states.data(), budget.data(), &err);
      if (rc != 0) cuda_fail(rc, err, "relaxAdvance");
      return;
    }
    for (const size_t k : live) {
      System& sys = *session.systems[k];
      const int rc = nk_cuda_relax_step(sys.dev.get(), sys.state, updates[k], &err);
      if (rc != 0) cuda_fail(rc, err, "relaxAdvance");
    }
  } else {
    (void)session;
    (void)live;
    (void)updates;
  }
}

template <Target tgt>
void prepare_advance(const Napi::CallbackInfo& info, Job& job) {
  const Napi::Env env = info.Env();
  SessionRef session = session_arg(info, 0);
  if (session->cuda != (tgt == Target::Cuda))
    throw_type(env, session->cuda ? "session: its systems are on the device; advance it with cuda.relaxAdvance"
                                  : "session: its systems are on the host; advance it with relaxAdvance");
  const size_t m = session->systems.size();
  const ArrayArg budget = typed_array(info, 1, "maxUpdates", {napi_float64_array}, "Float64Array");
  require_length(env, budget, "maxUpdates", m, "one budget per system");
  auto updates = std::make_shared<std::vector<int64_t>>(m);
  for (size_t k = 0; k < m; ++k) {
    const double u = budget.peek<double>()[k];
    if (!(u >= 1 && u <= 9007199254740991.0) || std::floor(u) != u)
      throw_range(env, "maxUpdates: maxUpdates[" + std::to_string(k) + "] should be an integer >= 1");
    (*updates)[k] = static_cast<int64_t>(u);
  }
  const int threads = tgt == Target::Cpu ? threads_arg(info, 2) : 0;
  job.returns_number = true;
  session->busy = true;
  job.after = [session]() { session->busy = false; };
  job.run = [session, updates, threads, m]() -> double {
    std::vector<size_t> live;
    size_t rows = 0;
    for (size_t k = 0; k < m; ++k)
      if (session->systems[k]->running()) {
        live.push_back(k);
        rows += static_cast<size_t>(session->systems[k]->n());
      }
    if constexpr (tgt == Target::Cuda) {
      advance_device<tgt>(*session, live, *updates);
    } else if (live.size() == 1) {
      advance(*session->systems[live[0]], (*updates)[live[0]], threads);
    } else if (live.size() > 1) {
      // Threads across systems, each system on one thread: a system's iterates never depend on the
      // thread count, so each gets what solving it alone would give.
      const size_t L = live.size();
      const int nt = numkern::plan_threads(threads, std::max(rows, L), 1024);
      // An exception must not leave an OpenMP region: each part keeps its first one for rethrowing here.
      std::vector<std::exception_ptr> failed(static_cast<size_t>(nt));
      numkern::parallel_run(nt, [&](int t, int T) {
        try {
          // Interleaved so neighbouring (similar-sized) systems land on different threads.
          for (size_t j = static_cast<size_t>(t); j < L; j += static_cast<size_t>(T))
            advance(*session->systems[live[j]], (*updates)[live[j]], 1);
        } catch (...) {
          failed[static_cast<size_t>(t)] = std::current_exception();
        }
      });
      for (const std::exception_ptr& e : failed)
        if (e) std::rethrow_exception(e);
    }
    double running = 0;
    for (size_t k = 0; k < m; ++k) {
      const System& sys = *session->systems[k];
      // The kernels re-check every index they follow. The session's copies were checked when it was made
      // and nothing writes them, so this means a broken invariant, reported as the bad index it is.
      if (sys.status() == rx::BadIndex)
        throw KernelError(ErrorKind::Range, "colIdx: changed during the solve of system " + std::to_string(k) +
                                                " (an index left its range); x is unspecified");
      running += sys.running() ? 1 : 0;
    }
    return running;
  };
}

/// sys.x := the device's iterate.
template <Target tgt>
void read_device_x(Napi::Env env, System& sys) {
  if constexpr (tgt == Target::Cuda && kCudaBuilt) {
    const char* err = nullptr;
    const int rc = nk_cuda_relax_read(sys.dev.get(), sys.x.data(), &err);
    if (rc != 0) {
      try {
        cuda_fail(rc, err, "relaxRead");
      } catch (const KernelError& e) {
        throw make_error(env, e);
      }
    }
  } else {
    (void)env;
    (void)sys;
  }
}

Napi::Value relax_read(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const SessionRef session = session_arg(info, 0);
  const double k = integer_arg(info, 1, "k", 0, std::max<double>(0, static_cast<double>(session->systems.size()) - 1));
  if (session->systems.empty()) throw_range(env, "k: the session has no systems");
  System& sys = *session->systems[static_cast<size_t>(k)];
  const ArrayArg state = typed_array(info, 2, "state", {napi_float64_array}, "Float64Array");
  require_length(env, state, "state", rx::kStateLen, "numkern::relax::StateSlot");
  std::copy_n(sys.state, rx::kStateLen, static_cast<double*>(state.data));
  if (!info[3].IsUndefined()) {
    const ArrayArg x = float_value(env, info[3], "x");
    require_length(env, x, "x", static_cast<size_t>(sys.n()), "one entry per row");
    if (session->cuda) read_device_x<Target::Cuda>(env, sys);
    // Rounded to nearest as Float32Array.prototype.set rounds.
    if (x.type == napi_float32_array) std::transform(sys.x.begin(), sys.x.end(), static_cast<float*>(x.data),
                                                     [](double v) { return static_cast<float>(v); });
    else std::copy(sys.x.begin(), sys.x.end(), static_cast<double*>(x.data));
  }
  return env.Undefined();
}

Napi::Value relax_release(const Napi::CallbackInfo& info) {
  const SessionRef session = session_arg(info, 0);
  session->systems.clear();
  session->systems.shrink_to_fit();
  session->released = true;
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -session->bytes);
  return info.Env().Undefined();
}

/// relaxOperator(op) -> a native copy of op that sessions share (a prepared operator's).
Napi::Value relax_operator(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto op = std::make_shared<Operator>();
  read_op(env, info[0], "op", *op);
  const int64_t bytes = static_cast<int64_t>(op->bytes());
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  auto* ref = new OperatorRef(op);
  Napi::External<OperatorRef> ext = Napi::External<OperatorRef>::New(env, ref, [bytes](Napi::Env e, OperatorRef* r) {
    if (*r) Napi::MemoryManagement::AdjustExternalMemory(e, -bytes);
    delete r;
  });
  ext.TypeTag(&kOperatorTag);
  return ext;
}

/// relaxOperatorRelease(op): drops the handle's hold now (a running session keeps its own until it ends).
Napi::Value relax_operator_release(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Value v = info[0];
  if (!v.IsExternal() || !v.As<Napi::External<OperatorRef>>().CheckTypeTag(&kOperatorTag))
    throw_type(env, "op: expected an operator from relaxOperator, got " + describe(v));
  OperatorRef& ref = *v.As<Napi::External<OperatorRef>>().Data();
  if (ref) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(ref->bytes()));
    ref.reset();
  }
  return env.Undefined();
}

}  // namespace

void register_relax(Napi::Env env, Napi::Object exports) {
  exports.Set("relaxLayout", Napi::Function::New(env, relax_layout, "relaxLayout"));
  exports.Set("relaxCreate", Napi::Function::New(env, relax_create<Target::Cpu>, "relaxCreate"));
  export_pair<prepare_advance<Target::Cpu>>(env, exports, "relaxAdvance");
  exports.Set("relaxRead", Napi::Function::New(env, relax_read, "relaxRead"));
  exports.Set("relaxRelease", Napi::Function::New(env, relax_release, "relaxRelease"));
  exports.Set("relaxOperator", Napi::Function::New(env, relax_operator, "relaxOperator"));
  exports.Set("relaxOperatorRelease", Napi::Function::New(env, relax_operator_release, "relaxOperatorRelease"));
  // The device's: create and advance of their own; the others are the same calls (a session's operator
  // copy is shared by host and device sessions alike).
  Napi::Object cuda = cuda_exports(env, exports);
  cuda.Set("relaxLayout", Napi::Function::New(env, relax_layout, "relaxLayout"));
  cuda.Set("relaxCreate", Napi::Function::New(env, relax_create<Target::Cuda>, "relaxCreate"));
  export_pair<prepare_advance<Target::Cuda>>(env, cuda, "relaxAdvance");
  cuda.Set("relaxRead", Napi::Function::New(env, relax_read, "relaxRead"));
  cuda.Set("relaxRelease", Napi::Function::New(env, relax_release, "relaxRelease"));
  cuda.Set("relaxOperator", Napi::Function::New(env, relax_operator, "relaxOperator"));
  cuda.Set("relaxOperatorRelease", Napi::Function::New(env, relax_operator_release, "relaxOperatorRelease"));
}

}  // namespace nkb
