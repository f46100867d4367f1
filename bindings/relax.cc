// Bindings of the relax family (native/include/numkern/relax.hpp): solver sessions that own their data.
//
//   relaxLayout() -> {methods, work, state, status}      the tables the TS side checks at load
//   relaxCreate(systems, settings) -> RelaxSession       copies every system into native memory
//   relaxAdvance(session, maxUpdates, threads?) -> running systems left  (and relaxAdvanceAsync)
//   relaxRead(session, k, state, x?)                     system k's state vector, and its x in x's dtype
//   relaxRelease(session)                                frees the copies now rather than at GC
//   relaxOperator(op) -> RelaxOperator                   one native copy of op that sessions share
//   relaxOperatorRelease(op)                             drops it now (a prepared operator's dispose)
//   relaxOperatorSame(op, csr) -> boolean                whether op copies exactly these CSR arrays
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
#include "numkern/linalg.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_cuda.hpp"

#include "relax_system.hpp"

namespace nkb {
namespace {

namespace rx = numkern::relax;

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
  // relaxRelease untells a session's bytes when it releases it.
  return owned_external(env, new SessionRef(session), session->bytes, &kSessionTag,
                        [](const SessionRef& r) { return !r->released; });
}

/// The session behind argument i, not released, not busy.
SessionRef session_arg(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Env env = info.Env();
  SessionRef s = external_value<SessionRef>(env, info[i], &kSessionTag, "session", "a session from relaxCreate");
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
  const std::shared_ptr<const rx::CsrSsorSplit> split = sys.s.method == rx::SsorCg ? op.ssor_split(threads, !sys.owns_op && op.split_lanes) : nullptr;
  rx::CsrOp csr = *A;
  if (rx::products_every_update(sys.s.method)) csr.lanes = op.lanes();
  return rx::relax_step(csr, sys.s, c, sys.b.data(), sys.x.data(), w, sys.state, max_updates, threads, split.get());
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

/// relaxOperator(op, splitLanes = true) -> a native copy of op that sessions share (a prepared operator's,
/// or the kept copy of the last plain CSR solve: splitLanes false, see Operator::split_lanes).
Napi::Value relax_operator(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  auto op = std::make_shared<Operator>();
  read_op(env, info[0], "op", *op);
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsBoolean()) throw_type(env, "splitLanes: expected a boolean, got " + describe(info[1]));
    op->split_lanes = info[1].As<Napi::Boolean>().Value();
  }
  // relaxOperatorRelease untells the operator's bytes when it drops the handle's hold.
  return owned_external(env, new OperatorRef(op), static_cast<int64_t>(op->bytes()), &kOperatorTag,
                        [](const OperatorRef& r) { return static_cast<bool>(r); });
}

/// relaxOperatorSame(op, csr) -> whether op (from relaxOperator, not released) is a copy of exactly the CSR
/// arrays {rowPtr, colIdx, values}: a plain solve of the same matrix as the last one may then share it.
/// The arrays are only read, synchronously; a broken one is simply not the same.
Napi::Value relax_operator_same(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const OperatorRef& ref = external_value<OperatorRef>(env, info[0], &kOperatorTag, "op", "an operator from relaxOperator");
  const Napi::Object o = object_value(env, info[1], "csr");
  if (!ref || !o.Has("rowPtr")) return Napi::Boolean::New(env, false);
  const ArrayArg rowPtr = prop_array(env, o, "csr", "rowPtr", napi_int32_array, "Int32Array");
  const ArrayArg colIdx = prop_array(env, o, "csr", "colIdx", napi_int32_array, "Int32Array");
  const ArrayArg values = float_value(env, o.Get("values"), "csr.values");
  return Napi::Boolean::New(env, ref->same_csr(rowPtr, colIdx, values));
}

/// relaxOperatorRelease(op): drops the handle's hold now (a running session keeps its own until it ends).
Napi::Value relax_operator_release(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  OperatorRef& ref = external_value<OperatorRef>(env, info[0], &kOperatorTag, "op", "an operator from relaxOperator");
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
  exports.Set("relaxOperatorSame", Napi::Function::New(env, relax_operator_same, "relaxOperatorSame"));
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
  cuda.Set("relaxOperatorSame", Napi::Function::New(env, relax_operator_same, "relaxOperatorSame"));
}

}  // namespace nkb
