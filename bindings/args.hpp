// N-API glue shared by every family's bindings: argument readers that name the argument in every error,
// and the Job machinery that runs one prepared kernel call either on the calling thread or in an
// AsyncWorker.
//
// A binding is written once as `void prepare_x(const Napi::CallbackInfo&, Job&)`: it reads and checks
// every argument on the JS thread, asks the job for the memory of each typed array it hands the kernel
// (job.in / job.out / job.inout), and stores a closure that touches no N-API in job.run. run_sync<prepare_x>
// calls the closure at once; run_async<prepare_x> runs it on the libuv pool and returns a Promise.
//
// Why an async job works on copies (job.in / out / inout), not on the caller's arrays:
// while the closure runs on the pool, JS keeps running and may detach any argument's ArrayBuffer
// (structuredClone(buf, {transfer: [buf]}), postMessage, ArrayBuffer.prototype.transfer). The backing
// store then belongs to the new ArrayBuffer, and is freed as soon as that one is collected. References
// to the views, or to the old ArrayBuffers, do not prevent this: the old buffer no longer owns the
// memory, and Node-API has no way to pin a backing store or to make a buffer non-detachable. So an
// async job copies what it reads into memory it owns before it is queued (on the JS thread, where
// nothing can interleave), lets the kernel write into memory it owns, and copies results back when it
// settles, again on the JS thread, after checking that the destination is still attached and still
// the length it was. A caller who detaches an argument mid-call gets a TypeError naming it, never a
// write into freed memory. The copies cost one pass over the arguments, which is why calls below
// ASYNC_CUTOFF-sized work run synchronously (no JS can run during a synchronous call, so it uses the
// caller's memory directly). A family whose async calls repeat over the same large inputs (the relax
// solver's chunks) keeps those inputs in native memory of its own between calls instead.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nkb {

// ---------------------------------------------------------------------------------------------------
// Errors

enum class ErrorKind { Plain, Type, Range };

/// Thrown by a job's closure (off the JS thread, so no N-API); turned into a JS error on the JS thread.
struct KernelError : std::runtime_error {
  ErrorKind kind;
  int cuda_code;     // the cudaError_t (or numkern code) for CUDA failures, 0 otherwise
  bool device_lost;  // a sticky CUDA error: the device context is unusable for the rest of the process
  KernelError(ErrorKind k, const std::string& msg, int code = 0, bool lost = false)
      : std::runtime_error(msg), kind(k), cuda_code(code), device_lost(lost) {}
};

inline Napi::Error make_error(Napi::Env env, const KernelError& e) {
  Napi::Error err = e.kind == ErrorKind::Type    ? Napi::TypeError::New(env, e.what())
                    : e.kind == ErrorKind::Range ? Napi::Error(Napi::RangeError::New(env, e.what()))
                                                 : Napi::Error::New(env, e.what());
  if (e.cuda_code != 0) {
    err.Set("cudaError", Napi::Number::New(env, e.cuda_code));
    err.Set("deviceLost", Napi::Boolean::New(env, e.device_lost));
  }
  return err;
}

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

// ---------------------------------------------------------------------------------------------------
// Argument readers

inline const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: break;  // types newer than this list (Float16Array)
  }
  return "TypedArray";
}

inline size_t element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array: return 8;
    default: break;
  }
  // Only the types above pass the readers' type checks, so no staged array has another.
  return 1;
}

/// What a JS value is, for error messages.
inline std::string describe(const Napi::Value& v) {
  if (v.IsTypedArray()) return typed_array_name(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsArray()) return "Array";
  if (v.IsArrayBuffer()) return "ArrayBuffer";
  if (v.IsDataView()) return "DataView";
  if (v.IsFunction()) return "function";
  return "object";
}

/// A JS handle that owns p (deleted by the finalizer), tagged `tag`. Its `bytes` of native memory are told
/// to the GC, which does not see them (without this a loop of large solves would collect too late), and
/// untold when the GC finalizes the handle unless counted(*p) says a release has untold them already.
template <class T, class Counted>
Napi::External<T> owned_external(Napi::Env env, T* p, int64_t bytes, const napi_type_tag* tag, Counted counted) {
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  Napi::External<T> ext = Napi::External<T>::New(env, p, [bytes, counted](Napi::Env e, T* q) {
    if (counted(*q)) Napi::MemoryManagement::AdjustExternalMemory(e, -bytes);
    delete q;
  });
  ext.TypeTag(tag);
  return ext;
}

/// What a handle from owned_external with `tag` holds, or a TypeError: "<name>: expected <what>, got …".
template <class T>
T& external_value(Napi::Env env, const Napi::Value& v, const napi_type_tag* tag, const std::string& name,
                  const char* what) {
  if (!v.IsExternal() || !v.As<Napi::External<T>>().CheckTypeTag(tag))
    throw Napi::TypeError::New(env, name + ": expected " + what + ", got " + describe(v));
  return *v.As<Napi::External<T>>().Data();
}

/// A typed-array argument: its element type, element count and first element (byteOffset applied).
/// `data` is the caller's memory: hand it to a kernel only through Job::in/out/inout.
struct ArrayArg {
  Napi::Object object;
  napi_typedarray_type type;
  size_t length;
  void* data;
  std::string name;

  size_t bytes() const { return length * element_size(type); }

  /// The caller's memory, for reading during prepare (never from a job's closure).
  template <class T>
  const T* peek() const {
    return static_cast<const T*>(data);
  }
};

/// A typed array's current element type, length and memory; false when its ArrayBuffer is detached.
inline bool typed_array_info(napi_env env, napi_value v, napi_typedarray_type* type, size_t* length, void** data) {
  napi_value buffer;
  size_t byte_offset;
  if (napi_get_typedarray_info(env, v, type, length, data, &buffer, &byte_offset) != napi_ok) return false;
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok) return false;
  return !detached;
}

/// The typed array `v`, one of the `allowed` types. `name` says where it came from ("x", "op.rowPtr").
inline ArrayArg typed_array_value(Napi::Env env, const Napi::Value& v, const std::string& name,
                                  std::initializer_list<napi_typedarray_type> allowed, const char* expected) {
  if (!v.IsTypedArray()) throw_type(env, name + ": expected " + expected + ", got " + describe(v));
  ArrayArg a{v.As<Napi::Object>(), napi_int8_array, 0, nullptr, name};
  // A detached view reads as empty, which would surface as a misleading length error.
  if (!typed_array_info(env, v, &a.type, &a.length, &a.data))
    throw_type(env, name + ": its ArrayBuffer is detached (transferred or detached before the call)");
  bool ok = false;
  for (napi_typedarray_type t : allowed) ok |= t == a.type;
  if (!ok) throw_type(env, name + ": expected " + expected + ", got " + typed_array_name(a.type));
  if (a.length > 0 && a.data == nullptr) throw_type(env, name + ": its ArrayBuffer has no memory");
  return a;
}

inline ArrayArg typed_array(const Napi::CallbackInfo& info, size_t i, const char* name,
                            std::initializer_list<napi_typedarray_type> allowed, const char* expected) {
  return typed_array_value(info.Env(), info[i], name, allowed, expected);
}

/// Float32Array or Float64Array.
inline ArrayArg float_array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array(info, i, name, {napi_float32_array, napi_float64_array}, "Float32Array or Float64Array");
}

/// A float array of the same element type as `like` (all float arrays of one call share one dtype).
inline ArrayArg float_array_like(const Napi::CallbackInfo& info, size_t i, const char* name, const ArrayArg& like,
                                 const char* like_name) {
  const ArrayArg a = float_array(info, i, name);
  if (a.type != like.type)
    throw_type(info.Env(), std::string(name) + ": expected " + typed_array_name(like.type) + " to match " + like_name +
                               ", got " + typed_array_name(a.type));
  return a;
}

inline ArrayArg int32_array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array(info, i, name, {napi_int32_array}, "Int32Array");
}

inline ArrayArg uint32_array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return typed_array(info, i, name, {napi_uint32_array}, "Uint32Array");
}

inline void require_length(Napi::Env env, const ArrayArg& a, const std::string& name, size_t n, const std::string& why) {
  if (a.length != n)
    throw_range(env, name + ": length " + std::to_string(a.length) + " should be " + std::to_string(n) + " (" + why +
                         ")");
}

// Offsets arrays (CSR rowPtr, segment offsets): every binding that takes one checks it the same
// way, so the same mistake reads the same from every entry point.

/// How many pieces an offsets array delimits (its length − 1), at most what int32 indices reach.
/// `count` and `unit` name them in the messages ("nrows" and "rows").
inline size_t offsets_count(Napi::Env env, const ArrayArg& a, const std::string& name, const char* count,
                            const char* unit) {
  if (a.length < 1) throw_range(env, name + ": length must be " + count + " + 1 >= 1, got 0");
  if (a.length - 1 > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    throw_range(env, name + ": more than 2^31 − 1 " + unit);
  return a.length - 1;
}

/// Throws unless p[0 .. n] never decreases; `key` is the array as the message indexes it.
inline void require_monotone(Napi::Env env, const int32_t* p, size_t n, const std::string& name, const char* key) {
  for (size_t i = 0; i < n; ++i)
    if (p[i + 1] < p[i])
      throw_range(env, name + ": not monotone: " + key + "[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
                           " > " + key + "[" + std::to_string(i + 1) + "] = " + std::to_string(p[i + 1]));
}

/// Throws unless colIdx and values hold the nnz = rowPtr[nrows] entries the row pointers address.
inline void require_csr_entries(Napi::Env env, const std::string& name, size_t nnz, const ArrayArg& colIdx,
                                const ArrayArg& values) {
  if (nnz > colIdx.length)
    throw_range(env, name + ": rowPtr[nrows] = " + std::to_string(nnz) + " exceeds colIdx length " +
                         std::to_string(colIdx.length));
  if (nnz > values.length)
    throw_range(env, name + ": rowPtr[nrows] = " + std::to_string(nnz) + " exceeds values length " +
                         std::to_string(values.length));
}

inline double number_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw_type(env, name + ": expected a number, got " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

inline double number_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return number_value(info.Env(), info[i], name);
}

/// An integer in [lo, hi]; `fallback` when the argument is undefined and fallback >= lo.
inline double integer_arg(const Napi::CallbackInfo& info, size_t i, const char* name, double lo, double hi,
                          double fallback = -1) {
  if (info[i].IsUndefined() && fallback >= lo) return fallback;
  const double v = number_arg(info, i, name);
  if (!(v >= lo && v <= hi) || std::floor(v) != v) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%s: expected an integer in [%.17g, %.17g], got %.17g", name, lo, hi, v);
    throw_range(info.Env(), buf);
  }
  return v;
}

/// The optional `threads` argument: 0 (the default) means all hardware threads.
inline int threads_arg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int>(integer_arg(info, i, "threads", 0, 65536, 0));
}

// ---------------------------------------------------------------------------------------------------
// Jobs

/// One prepared kernel call. Not copyable: it owns the staged copies of an async call.
class Job {
 public:
  explicit Job(bool async) : async_(async) {}
  Job(Job&&) = default;
  Job& operator=(Job&&) = default;

  /// The kernel call. Runs without N-API (possibly on a worker thread); throws KernelError on failure.
  std::function<double()> run;
  /// Whether the JS result is the number run() returns (else undefined).
  bool returns_number = false;
  /// Runs on the JS thread once the call is over, whether run() succeeded or threw, before the Promise
  /// settles (async) or the call returns (sync): for state the binding holds while the kernel runs.
  std::function<void()> after;

  bool async() const { return async_; }

  /// Memory the closure only reads: the caller's (sync) or a copy taken now (async). Validate through
  /// the returned pointer, so what was checked is what the kernel reads.
  template <class T>
  const T* in(const ArrayArg& a) {
    return static_cast<const T*>(stage(a, true, false));
  }
  /// Memory the closure writes in full without reading: the caller's, or a zeroed buffer copied back
  /// when the job succeeds.
  template <class T>
  T* out(const ArrayArg& a) {
    return static_cast<T*>(stage(a, false, true));
  }
  /// Memory the closure reads and writes: the caller's, or a copy copied back when the job succeeds.
  template <class T>
  T* inout(const ArrayArg& a) {
    return static_cast<T*>(stage(a, true, true));
  }

  /// Copies the results of an async job back into the caller's arrays. Returns "" or, when a
  /// destination was detached or resized meanwhile, a message naming it (the others are still written).
  std::string write_back(Napi::Env env) {
    std::string lost;
    for (Staged& s : staged_) {
      if (!s.view) continue;
      napi_typedarray_type type;
      size_t length = 0;
      void* data = nullptr;
      const bool attached = typed_array_info(env, s.view.Value(), &type, &length, &data);
      if (!attached || type != s.type || length * element_size(type) != s.bytes || data == nullptr) {
        if (lost.empty())
          lost = s.name + ": its ArrayBuffer was " + (attached ? "resized" : "detached") +
                 " during the call, so the result was not written to it";
        continue;
      }
      std::memcpy(data, s.copy.get(), s.bytes);
    }
    return lost;
  }

 private:
  struct Staged {
    std::string name;
    napi_typedarray_type type;
    size_t bytes;
    std::unique_ptr<unsigned char[]> copy;
    Napi::ObjectReference view;  // set when the copy is written back
  };

  void* stage(const ArrayArg& a, bool read, bool write) {
    const size_t bytes = a.bytes();
    if (!async_ || bytes == 0) return a.data;
    Staged s{a.name, a.type, bytes, std::unique_ptr<unsigned char[]>(new unsigned char[bytes]), Napi::ObjectReference()};
    if (read) std::memcpy(s.copy.get(), a.data, bytes);
    else std::memset(s.copy.get(), 0, bytes);
    if (write) s.view = Napi::Persistent(a.object);
    void* p = s.copy.get();
    staged_.push_back(std::move(s));
    return p;
  }

  bool async_;
  std::vector<Staged> staged_;
};

using Prepare = void (*)(const Napi::CallbackInfo&, Job&);

/// An offsets array (CSR rowPtr, segment offsets) of n + 1 entries as the kernel will read it
/// (job.in), checked on that memory: p[0] >= 0 and never decreasing.
inline const int32_t* checked_offsets(Napi::Env env, Job& job, const ArrayArg& a, size_t n) {
  const int32_t* p = job.in<int32_t>(a);
  if (p[0] < 0) throw_range(env, a.name + ": " + a.name + "[0] = " + std::to_string(p[0]) + " is negative");
  require_monotone(env, p, n, a.name, a.name.c_str());
  return p;
}

inline Napi::Value settle(Napi::Env env, const Job& job, double value) {
  return job.returns_number ? Napi::Value(Napi::Number::New(env, value)) : env.Undefined();
}

/// Calls P, turning a C++ failure other than a JS error (std::bad_alloc for a staged copy, say) into a
/// JS Error: only Napi::Error may cross back into Node-API.
template <Prepare P>
void prepare(const Napi::CallbackInfo& info, Job& job) {
  try {
    P(info, job);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

template <Prepare P>
Napi::Value run_sync(const Napi::CallbackInfo& info) {
  Job job(false);
  prepare<P>(info, job);
  double value = 0;
  try {
    value = job.run();
  } catch (const KernelError& e) {
    if (job.after) job.after();
    throw make_error(info.Env(), e);
  } catch (const std::exception& e) {
    if (job.after) job.after();
    throw Napi::Error::New(info.Env(), e.what());
  }
  if (job.after) job.after();
  return settle(info.Env(), job, value);
}

class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, Job job)
      : Napi::AsyncWorker(env, "numkern"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      value_ = job_.run();
    } catch (const KernelError& e) {
      failure_.reset(new KernelError(e));
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    if (job_.after) job_.after();
    const std::string lost = job_.write_back(Env());
    if (lost.empty()) deferred_.Resolve(settle(Env(), job_, value_));
    else deferred_.Reject(Napi::TypeError::New(Env(), lost).Value());
  }

  // A failed job's outputs are unspecified, so nothing is written back.
  void OnError(const Napi::Error& e) override {
    if (job_.after) job_.after();
    deferred_.Reject(failure_ ? make_error(Env(), *failure_).Value() : e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  double value_ = 0;
  std::unique_ptr<KernelError> failure_;
};

template <Prepare P>
Napi::Value run_async(const Napi::CallbackInfo& info) {
  // A Promise-returning function reports every failure, argument errors included, as a rejection.
  Job job(true);
  try {
    prepare<P>(info, job);
  } catch (const Napi::Error& e) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(info.Env());
    d.Reject(e.Value());
    return d.Promise();
  }
  auto* worker = new JobWorker(info.Env(), std::move(job));
  const Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

/// Exports name and nameAsync for one prepared binding.
template <Prepare P>
void export_pair(Napi::Env env, Napi::Object target, const std::string& name) {
  target.Set(name, Napi::Function::New(env, run_sync<P>, name));
  target.Set(name + "Async", Napi::Function::New(env, run_async<P>, name + "Async"));
}

}  // namespace nkb
