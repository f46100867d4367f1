// Bindings of the pg family (native/include/numkern/pg_loss.hpp, pg_logits.hpp):
//
//   pgLayout() -> {kl, arrays, params, sums}    the tables src/backends/native/pg.ts checks at load
//   pgLossCounts(offsets, lengths, mask, out, threads?)          out[0] = Σ active, out[1] = sequences with any
//   pgPolicyLoss(offsets, lengths, mask, logp, oldLogp, refLogp, advantages, entropy, grad, gradEntropy,
//                params, sums, threads?)                          sequences [params.seqBegin, params.seqEnd)
//   pgTokenLogprobs(logits, targets, vocab, temperature, logp, lse, entropy, threads?) -> −1 or index
//   pgTokenLogprobsBackward(logits, targets, vocab, temperature, lse, entropy, gradLogp, gradEntropy,
//                           gradLogits, threads?)
//
// Each has an ...Async twin (args.hpp: checks on the JS thread, kernel on the libuv pool, on copies).
// mask, refLogp, entropy, gradEntropy, gradLogp are null when absent. params and sums are Float64Arrays
// laid out by kParams / kSums below (the TS side checks the names and slots). All float arrays of a call
// share one dtype. Outputs may not overlap any other argument, except gradLogits, which may be logits
// itself (in place): a partial overlap would make the kernel read what it already wrote.
//
// exports.cuda holds the same four (and their Async twins) without the threads argument, on the device
// (native/cuda/pg.cu, numkern/pg_cuda.hpp): checked alike, then "CUDA: ..." without a device.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/pg_cuda.hpp"
#include "numkern/pg_logits.hpp"
#include "numkern/pg_loss.hpp"

namespace nkb {
namespace {

namespace pg = numkern::pg;

std::string str(int64_t v) { return std::to_string(v); }

// ---- the tables the TS side checks ----

enum Param : int {
  kClipLow, kClipHigh, kDualClip, kRatioCap, kLogRatioClamp, kKl, kKlCoef, kKlClamp, kEntropyCoef,
  kAggPerSeq, kAggFloorOne, kAggDenominator, kAggScale,
  kEntPerSeq, kEntFloorOne, kEntDenominator, kEntScale,
  kAdvPerToken, kIgnoreInactive, kSeqBegin, kSeqEnd, kParamCount
};
constexpr const char* kParamNames[kParamCount] = {
    "clipLow",  "clipHigh",   "dualClip",  "ratioCap",  "logRatioClamp",    "kl",             "klCoef",
    "klClamp",  "entropyCoef", "aggPerSequenceMean", "aggFloorOne", "aggDenominator", "aggScale",
    "entropyAggPerSequenceMean", "entropyAggFloorOne", "entropyAggDenominator", "entropyAggScale",
    "advantagePerToken", "ignoreInactiveNonFinite", "seqBegin", "seqEnd"};

enum Sum : int {
  kPolicy, kKlSum, kEntropySum, kRatio, kNegLogRatio, kKlValue, kEntropyValue,
  kHigh, kLow, kDual, kTokens, kSequences, kNonfinite, kSumCount = kNonfinite + pg::kNumLossArrays
};
constexpr const char* kSumNames[kNonfinite] = {"policy", "kl",   "entropy", "ratio",  "negLogRatio", "klValue",
                                               "entropyValue", "high", "low",  "dual", "tokens", "sequences"};

Napi::Object slots(Napi::Env env, const char* const* names, int n) {
  Napi::Object o = Napi::Object::New(env);
  for (int i = 0; i < n; ++i) o.Set(names[i], i);
  return o;
}

Napi::Value pg_layout(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object kl = Napi::Object::New(env);
  kl.Set("k1", static_cast<int>(pg::KlK1));
  kl.Set("abs", static_cast<int>(pg::KlAbs));
  kl.Set("k2", static_cast<int>(pg::KlK2));
  kl.Set("k3", static_cast<int>(pg::KlK3));
  o.Set("kl", kl);
  Napi::Array arrays = Napi::Array::New(env, pg::kNumLossArrays);
  for (uint32_t i = 0; i < static_cast<uint32_t>(pg::kNumLossArrays); ++i) arrays.Set(i, pg::kLossArrayNames[i]);
  o.Set("arrays", arrays);
  Napi::Object params = slots(env, kParamNames, kParamCount);
  params.Set("length", static_cast<int>(kParamCount));
  o.Set("params", params);
  Napi::Object sums = slots(env, kSumNames, kNonfinite);
  sums.Set("nonfinite", static_cast<int>(kNonfinite));
  sums.Set("length", static_cast<int>(kSumCount));
  o.Set("sums", sums);
  return o;
}

// ---- argument helpers ----

bool is_null(const Napi::CallbackInfo& info, size_t i) { return info[i].IsNull() || info[i].IsUndefined(); }

/// An optional float array of the dtype of `like` (null when the argument is null or undefined).
bool optional_float(const Napi::CallbackInfo& info, size_t i, const char* name, const ArrayArg& like,
                    const char* like_name, ArrayArg& out) {
  if (is_null(info, i)) return false;
  out = float_array_like(info, i, name, like, like_name);
  return true;
}

/// Throws unless the bytes of `out` overlap none of `others` (a kernel would read what it wrote). The
/// check is on the caller's memory, so it holds for the sync call and describes the async one.
void require_disjoint(Napi::Env env, const ArrayArg& out, std::initializer_list<const ArrayArg*> others) {
  const auto lo = reinterpret_cast<uintptr_t>(out.data), hi = lo + out.bytes();
  for (const ArrayArg* a : others) {
    if (!a || a->bytes() == 0 || out.bytes() == 0) continue;
    const auto alo = reinterpret_cast<uintptr_t>(a->data), ahi = alo + a->bytes();
    if (lo < ahi && alo < hi)
      throw_range(env, out.name + ": shares memory with " + a->name + " (outputs may not overlap the other arguments)");
  }
}

double param(Napi::Env env, const double* p, int slot, bool finite) {
  const double v = p[slot];
  if (std::isnan(v) || (finite && !std::isfinite(v)))
    throw_range(env, std::string("params: ") + kParamNames[slot] + " = " + std::to_string(v) + " is not " +
                         (finite ? "a finite number" : "a number"));
  return v;
}

bool flag(Napi::Env env, const double* p, int slot) {
  const double v = p[slot];
  if (v != 0 && v != 1) throw_range(env, std::string("params: ") + kParamNames[slot] + " must be 0 or 1");
  return v == 1;
}

pg::Aggregation aggregation(Napi::Env env, const double* p, int first) {
  pg::Aggregation a{flag(env, p, first), flag(env, p, first + 1), param(env, p, first + 2, true),
                    param(env, p, first + 3, true)};
  if (!(a.denominator > 0))
    throw_range(env, std::string("params: ") + kParamNames[first + 2] + " must be > 0 (resolve it first)");
  return a;
}

/// offsets (nseq + 1 entries from 0, never decreasing, ending at ntok; ntok < 0: wherever they end, which
/// is then returned in ntok) and lengths (0 ≤ lengths[i] ≤ row width), as the kernel will read them.
/// Returns nseq.
int32_t read_layout(Napi::Env env, Job& job, const ArrayArg& offsets, const ArrayArg& lengths, int64_t& ntok,
                    const int32_t*& off, const int32_t*& len) {
  const size_t nseq = offsets_count(env, offsets, "offsets", "nSeq", "sequences");
  require_length(env, lengths, "lengths", nseq, "one per sequence: offsets.length − 1");
  off = checked_offsets(env, job, offsets, nseq);
  if (off[0] != 0) throw_range(env, "offsets: offsets[0] = " + str(off[0]) + " should be 0");
  if (ntok < 0) ntok = off[nseq];
  if (off[nseq] != ntok)
    throw_range(env, "offsets: offsets[" + str(static_cast<int64_t>(nseq)) + "] = " + str(off[nseq]) +
                         " should be the per-token length " + str(ntok));
  len = job.in<int32_t>(lengths);
  for (size_t i = 0; i < nseq; ++i)
    if (len[i] < 0 || len[i] > off[i + 1] - off[i])
      throw_range(env, "lengths: lengths[" + str(static_cast<int64_t>(i)) + "] = " + str(len[i]) +
                           " is outside [0, " + str(off[i + 1] - off[i]) + "] (its row's width)");
  return static_cast<int32_t>(nseq);
}

const uint8_t* read_mask(const Napi::CallbackInfo& info, size_t i, Job& job, int64_t ntok, ArrayArg& mask) {
  if (is_null(info, i)) return nullptr;
  mask = typed_array(info, i, "mask", {napi_uint8_array}, "Uint8Array or null");
  require_length(info.Env(), mask, "mask", static_cast<size_t>(ntok), "one per position: offsets[nSeq]");
  return job.in<uint8_t>(mask);
}

// ---- pgLossCounts ----

/// A checked call: what the CPU kernel and the device entry point both take (threads: CPU only).
struct CountsCall {
  int32_t nseq;
  const int32_t *off, *len;
  const uint8_t* m;
  int64_t ntok;
  double* out;
  int threads;
};

CountsCall read_counts(const Napi::CallbackInfo& info, Job& job, Target tgt) {
  const Napi::Env env = info.Env();
  const ArrayArg offsets = int32_array(info, 0, "offsets");
  const ArrayArg lengths = int32_array(info, 1, "lengths");
  const ArrayArg out = typed_array(info, 3, "out", {napi_float64_array}, "Float64Array");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 4) : 0;
  require_length(env, out, "out", 2, "[tokens, sequences]");
  int64_t ntok = -1;
  const int32_t *off, *len;
  const int32_t nseq = read_layout(env, job, offsets, lengths, ntok, off, len);
  ArrayArg mask{};
  const uint8_t* m = read_mask(info, 2, job, ntok, mask);
  require_disjoint(env, out, {&offsets, &lengths, m ? &mask : nullptr});
  return CountsCall{nseq, off, len, m, ntok, job.out<double>(out), threads};
}

const char* const kCountsChanged = "offsets, lengths: changed while pgLossCounts ran";

void prepare_counts(const Napi::CallbackInfo& info, Job& job) {
  const CountsCall c = read_counts(info, job, Target::Cpu);
  job.run = [c]() -> double {
    int64_t tokens = 0, sequences = 0;
    if (!pg::loss_counts(c.nseq, c.off, c.len, c.m, c.ntok, 0, c.nseq, tokens, sequences, c.threads))
      throw KernelError(ErrorKind::Range, kCountsChanged);
    c.out[0] = static_cast<double>(tokens);
    c.out[1] = static_cast<double>(sequences);
    return 0;
  };
}

// ---- pgPolicyLoss ----

template <class T>
pg::LossArrays<T> loss_arrays(int32_t nseq, const int32_t* off, const int32_t* len, const uint8_t* m, int64_t ntok,
                              const void* logp, const void* old, const void* ref, const void* adv, const void* ent,
                              void* grad, void* gent) {
  return pg::LossArrays<T>{nseq, off, len, m, ntok, static_cast<const T*>(logp), static_cast<const T*>(old),
                           static_cast<const T*>(ref), static_cast<const T*>(adv), static_cast<const T*>(ent),
                           static_cast<T*>(grad), static_cast<T*>(gent)};
}

struct LossCall {
  bool f32;
  int32_t nseq, s0, s1;
  const int32_t *off, *len;
  const uint8_t* m;
  int64_t ntok;
  const void *logp, *old, *ref, *adv, *ent;
  void *grad, *gent;
  pg::LossParams lp;
  double* sums;
  int threads;

  template <class T>
  pg::LossArrays<T> arrays() const {
    return loss_arrays<T>(nseq, off, len, m, ntok, logp, old, ref, adv, ent, grad, gent);
  }
};

LossCall read_loss(const Napi::CallbackInfo& info, Job& job, Target tgt) {
  const Napi::Env env = info.Env();
  const ArrayArg offsets = int32_array(info, 0, "offsets");
  const ArrayArg lengths = int32_array(info, 1, "lengths");
  const ArrayArg logp = float_array(info, 3, "logp");
  const ArrayArg old = float_array_like(info, 4, "oldLogp", logp, "logp");
  ArrayArg ref{}, ent{}, gent{};
  const bool has_ref = optional_float(info, 5, "refLogp", logp, "logp", ref);
  const ArrayArg adv = float_array_like(info, 6, "advantages", logp, "logp");
  const bool has_ent = optional_float(info, 7, "entropy", logp, "logp", ent);
  const ArrayArg grad = float_array_like(info, 8, "grad", logp, "logp");
  const bool has_gent = optional_float(info, 9, "gradEntropy", logp, "logp", gent);
  const ArrayArg params = typed_array(info, 10, "params", {napi_float64_array}, "Float64Array");
  const ArrayArg sums = typed_array(info, 11, "sums", {napi_float64_array}, "Float64Array");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 12) : 0;

  const int64_t ntok = static_cast<int64_t>(logp.length);
  if (logp.length > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    throw_range(env, "logp: more than 2^31 − 1 positions (offsets are Int32)");
  require_length(env, old, "oldLogp", logp.length, "logp.length");
  require_length(env, grad, "grad", logp.length, "logp.length");
  require_length(env, params, "params", kParamCount, "pgLayout().params.length");
  require_length(env, sums, "sums", kSumCount, "pgLayout().sums.length");
  const double* p = params.peek<double>();

  pg::LossParams lp{};
  lp.clip_low = param(env, p, kClipLow, true);
  lp.clip_high = param(env, p, kClipHigh, true);
  lp.dual_clip = param(env, p, kDualClip, false);
  lp.ratio_cap = param(env, p, kRatioCap, false);
  lp.log_ratio_clamp = param(env, p, kLogRatioClamp, false);
  const double kl = param(env, p, kKl, true);
  if (kl != -1 && kl != pg::KlK1 && kl != pg::KlAbs && kl != pg::KlK2 && kl != pg::KlK3)
    throw_range(env, "params: kl = " + std::to_string(kl) + " is neither −1 (none) nor a code of pgLayout().kl");
  lp.kl = static_cast<int>(kl);
  lp.kl_coef = param(env, p, kKlCoef, true);
  lp.kl_clamp = flag(env, p, kKlClamp);
  lp.entropy_coef = param(env, p, kEntropyCoef, true);
  lp.agg = aggregation(env, p, kAggPerSeq);
  lp.entropy_agg = aggregation(env, p, kEntPerSeq);
  lp.advantage_per_token = flag(env, p, kAdvPerToken);
  lp.ignore_inactive_nonfinite = flag(env, p, kIgnoreInactive);
  if (!(lp.log_ratio_clamp >= 0)) throw_range(env, "params: logRatioClamp must be >= 0");

  if (lp.kl != pg::KlNone && !has_ref) throw_type(env, "refLogp: required when params.kl names an estimator");
  if (has_ref) require_length(env, ref, "refLogp", logp.length, "logp.length");
  if (has_ent != has_gent)
    throw_type(env, std::string(has_ent ? "gradEntropy" : "entropy") + ": entropy and gradEntropy come together");
  if (has_ent) {
    require_length(env, ent, "entropy", logp.length, "logp.length");
    require_length(env, gent, "gradEntropy", logp.length, "logp.length");
  }
  ArrayArg mask{};
  const uint8_t* m = read_mask(info, 2, job, ntok, mask);
  const int32_t *off, *len;
  int64_t ntok_layout = ntok;
  const int32_t nseq = read_layout(env, job, offsets, lengths, ntok_layout, off, len);
  require_length(env, adv, "advantages", lp.advantage_per_token ? logp.length : static_cast<size_t>(nseq),
                 lp.advantage_per_token ? "one per position (advantagePerToken)" : "one per sequence");
  const double b = param(env, p, kSeqBegin, true), e = param(env, p, kSeqEnd, true);
  if (!(b >= 0 && b <= e && e <= nseq && std::floor(b) == b && std::floor(e) == e))
    throw_range(env, "params: [seqBegin, seqEnd) = [" + std::to_string(b) + ", " + std::to_string(e) +
                         ") is not a range of whole sequences in [0, " + str(nseq) + "]");
  const int32_t s0 = static_cast<int32_t>(b), s1 = static_cast<int32_t>(e);
  for (const ArrayArg* o : {&grad, has_gent ? &gent : static_cast<const ArrayArg*>(nullptr)}) {
    if (!o) continue;
    require_disjoint(env, *o, {&offsets, &lengths, m ? &mask : nullptr, &logp, &old, has_ref ? &ref : nullptr, &adv,
                               has_ent ? &ent : nullptr, &params, &sums});
  }
  if (has_gent) require_disjoint(env, gent, {&grad});
  require_disjoint(env, sums, {&offsets, &lengths, m ? &mask : nullptr, &logp, &old, has_ref ? &ref : nullptr, &adv,
                               has_ent ? &ent : nullptr, &params});

  const bool f32 = logp.type == napi_float32_array;
  const void* plogp = job.in<unsigned char>(logp);
  const void* pold = job.in<unsigned char>(old);
  const void* pref = lp.kl != pg::KlNone ? job.in<unsigned char>(ref) : nullptr;
  const void* padv = job.in<unsigned char>(adv);
  const void* pent = has_ent ? job.in<unsigned char>(ent) : nullptr;
  // inout, not out: a range call writes only its own sequences' positions, the rest must come back as
  // they were.
  void* pgrad = job.inout<unsigned char>(grad);
  void* pgent = has_gent ? job.inout<unsigned char>(gent) : nullptr;
  double* psums = job.out<double>(sums);
  return LossCall{f32, nseq, s0, s1, off, len, m, ntok, plogp, pold, pref, padv, pent, pgrad, pgent, lp, psums, threads};
}

const char* const kLossChanged = "offsets, lengths: changed while pgPolicyLoss ran; outputs are unspecified";

/// The sums vector (kSums) from a kernel's LossSums.
void write_sums(const pg::LossSums& s, double* psums) {
  const double vals[kNonfinite] = {s.policy, s.kl,   s.entropy, s.ratio, s.neg_log_ratio, s.kl_value, s.entropy_value,
                                   static_cast<double>(s.high), static_cast<double>(s.low), static_cast<double>(s.dual),
                                   static_cast<double>(s.tokens), static_cast<double>(s.sequences)};
  std::memcpy(psums, vals, sizeof vals);
  for (int k = 0; k < pg::kNumLossArrays; ++k) psums[kNonfinite + k] = static_cast<double>(s.nonfinite[k]);
}

void prepare_loss(const Napi::CallbackInfo& info, Job& job) {
  const LossCall c = read_loss(info, job, Target::Cpu);
  job.run = [c]() -> double {
    pg::LossSums s;
    const bool ok = c.f32 ? pg::policy_loss<float>(c.arrays<float>(), c.lp, c.s0, c.s1, s, c.threads)
                          : pg::policy_loss<double>(c.arrays<double>(), c.lp, c.s0, c.s1, s, c.threads);
    if (!ok) throw KernelError(ErrorKind::Range, kLossChanged);
    write_sums(s, c.sums);
    return 0;
  };
}

// ---- pgTokenLogprobs and its backward ----

struct RowsShape {
  int64_t nrows, vocab;
};

/// vocab (an integer ≥ 1 dividing logits.length, or any when logits is empty), temperature (finite, > 0)
/// and targets (one per row, each in [0, vocab), checked on the memory the kernel reads).
RowsShape read_rows(const Napi::CallbackInfo& info, Job& job, const ArrayArg& logits, const ArrayArg& targets,
                    const int32_t*& tg) {
  const Napi::Env env = info.Env();
  const double vocab = integer_arg(info, 2, "vocab", 1, 9007199254740991.0);
  const int64_t V = static_cast<int64_t>(vocab);
  if (logits.length % static_cast<size_t>(V) != 0)
    throw_range(env, "logits: length " + str(static_cast<int64_t>(logits.length)) + " is not a multiple of vocab " + str(V));
  const int64_t N = static_cast<int64_t>(logits.length) / V;
  require_length(env, targets, "targets", static_cast<size_t>(N), "one per row: logits.length / vocab");
  tg = job.in<int32_t>(targets);
  for (int64_t n = 0; n < N; ++n)
    if (tg[n] < 0 || tg[n] >= V)
      throw_range(env, "targets: targets[" + str(n) + "] = " + str(tg[n]) + " is outside [0, " + str(V) + ") (vocab)");
  return RowsShape{N, V};
}

double temperature_arg(const Napi::CallbackInfo& info) {
  const double t = number_arg(info, 3, "temperature");
  if (!(t > 0) || !std::isfinite(t)) throw_range(info.Env(), "temperature: expected a finite number > 0, got " + std::to_string(t));
  return t;
}

struct LogprobsCall {
  bool f32;
  RowsShape s;
  const int32_t* tg;
  double tau;
  const void* x;
  void *lp, *ls, *ent;
  int threads;

  template <class T>
  const T* in() const {
    return static_cast<const T*>(x);
  }
  template <class T>
  T* out(void* p) const {
    return static_cast<T*>(p);
  }
};

LogprobsCall read_logprobs(const Napi::CallbackInfo& info, Job& job, Target tgt) {
  const Napi::Env env = info.Env();
  const ArrayArg logits = float_array(info, 0, "logits");
  const ArrayArg targets = int32_array(info, 1, "targets");
  const double tau = temperature_arg(info);
  const ArrayArg logp = float_array_like(info, 4, "logp", logits, "logits");
  const ArrayArg lse = float_array_like(info, 5, "lse", logits, "logits");
  ArrayArg ent{};
  const bool has_ent = optional_float(info, 6, "entropy", logits, "logits", ent);
  const int threads = tgt == Target::Cpu ? threads_arg(info, 7) : 0;
  const int32_t* tg;
  const RowsShape s = read_rows(info, job, logits, targets, tg);
  require_length(env, logp, "logp", static_cast<size_t>(s.nrows), "one per row: logits.length / vocab");
  require_length(env, lse, "lse", static_cast<size_t>(s.nrows), "one per row: logits.length / vocab");
  if (has_ent) require_length(env, ent, "entropy", static_cast<size_t>(s.nrows), "one per row: logits.length / vocab");
  require_disjoint(env, logp, {&logits, &targets, &lse, has_ent ? &ent : nullptr});
  require_disjoint(env, lse, {&logits, &targets, has_ent ? &ent : nullptr});
  if (has_ent) require_disjoint(env, ent, {&logits, &targets});

  const bool f32 = logits.type == napi_float32_array;
  const void* x = job.in<unsigned char>(logits);
  void* plp = job.out<unsigned char>(logp);
  void* pls = job.out<unsigned char>(lse);
  void* pen = has_ent ? job.out<unsigned char>(ent) : nullptr;
  job.returns_number = true;
  return LogprobsCall{f32, s, tg, tau, x, plp, pls, pen, threads};
}

const char* const kTargetsChanged = "targets: changed while pgTokenLogprobs ran; outputs are unspecified";

void prepare_logprobs(const Napi::CallbackInfo& info, Job& job) {
  const LogprobsCall c = read_logprobs(info, job, Target::Cpu);
  job.run = [c]() -> double {
    const int64_t r =
        c.f32 ? pg::token_logprobs<float>(c.in<float>(), c.s.nrows, c.s.vocab, c.tg, c.tau, c.out<float>(c.lp),
                                          c.out<float>(c.ls), c.out<float>(c.ent), c.threads)
              : pg::token_logprobs<double>(c.in<double>(), c.s.nrows, c.s.vocab, c.tg, c.tau, c.out<double>(c.lp),
                                           c.out<double>(c.ls), c.out<double>(c.ent), c.threads);
    if (r == -2) throw KernelError(ErrorKind::Range, kTargetsChanged);
    return static_cast<double>(r);
  };
}

struct BackwardCall {
  bool f32;
  RowsShape s;
  const int32_t* tg;
  double tau;
  const void *x, *lse, *ent, *gl, *gh;
  void* grad;
  int threads;

  template <class T>
  const T* in(const void* p) const {
    return static_cast<const T*>(p);
  }
};

BackwardCall read_backward(const Napi::CallbackInfo& info, Job& job, Target tgt) {
  const Napi::Env env = info.Env();
  const ArrayArg logits = float_array(info, 0, "logits");
  const ArrayArg targets = int32_array(info, 1, "targets");
  const double tau = temperature_arg(info);
  const ArrayArg lse = float_array_like(info, 4, "lse", logits, "logits");
  ArrayArg ent{}, gl{}, gh{};
  const bool has_ent = optional_float(info, 5, "entropy", logits, "logits", ent);
  const bool has_gl = optional_float(info, 6, "gradLogp", logits, "logits", gl);
  const bool has_gh = optional_float(info, 7, "gradEntropy", logits, "logits", gh);
  const ArrayArg grad = float_array_like(info, 8, "gradLogits", logits, "logits");
  const int threads = tgt == Target::Cpu ? threads_arg(info, 9) : 0;
  if (!has_gl && !has_gh) throw_type(env, "gradLogp: gradLogp and gradEntropy are both null (nothing to propagate)");
  if (has_gh && !has_ent) throw_type(env, "entropy: required with gradEntropy (∂H needs H)");
  const int32_t* tg;
  const RowsShape s = read_rows(info, job, logits, targets, tg);
  const size_t N = static_cast<size_t>(s.nrows);
  require_length(env, lse, "lse", N, "one per row: logits.length / vocab");
  if (has_ent) require_length(env, ent, "entropy", N, "one per row: logits.length / vocab");
  if (has_gl) require_length(env, gl, "gradLogp", N, "one per row: logits.length / vocab");
  if (has_gh) require_length(env, gh, "gradEntropy", N, "one per row: logits.length / vocab");
  require_length(env, grad, "gradLogits", logits.length, "logits.length");
  const bool in_place = grad.data == logits.data;
  require_disjoint(env, grad, {in_place ? nullptr : &logits, &targets, &lse, has_ent ? &ent : nullptr,
                               has_gl ? &gl : nullptr, has_gh ? &gh : nullptr});

  const bool f32 = logits.type == napi_float32_array;
  // In place: one buffer read and written (a copy, for an async call, written back when it settles).
  void* pg_out = job.inout<unsigned char>(grad);
  const void* x = in_place ? pg_out : job.in<unsigned char>(logits);
  const void* pl = job.in<unsigned char>(lse);
  const void* pe = has_ent ? job.in<unsigned char>(ent) : nullptr;
  const void* pgl = has_gl ? job.in<unsigned char>(gl) : nullptr;
  const void* pgh = has_gh ? job.in<unsigned char>(gh) : nullptr;
  return BackwardCall{f32, s, tg, tau, x, pl, pe, pgl, pgh, pg_out, threads};
}

const char* const kBackwardChanged = "targets: changed while pgTokenLogprobsBackward ran; gradLogits is unspecified";

void prepare_backward(const Napi::CallbackInfo& info, Job& job) {
  const BackwardCall c = read_backward(info, job, Target::Cpu);
  job.run = [c]() -> double {
    const bool ok =
        c.f32 ? pg::token_logprobs_backward<float>(c.in<float>(c.x), c.s.nrows, c.s.vocab, c.tg, c.tau, c.in<float>(c.lse),
                                                   c.in<float>(c.ent), c.in<float>(c.gl), c.in<float>(c.gh),
                                                   static_cast<float*>(c.grad), c.threads)
              : pg::token_logprobs_backward<double>(c.in<double>(c.x), c.s.nrows, c.s.vocab, c.tg, c.tau,
                                                    c.in<double>(c.lse), c.in<double>(c.ent), c.in<double>(c.gl),
                                                    c.in<double>(c.gh), static_cast<double*>(c.grad), c.threads);
    if (!ok) throw KernelError(ErrorKind::Range, kBackwardChanged);
    return 0;
  };
}

}  // namespace
}  // namespace nkb

// The CUDA entry points, on the read_* functions above.
#include "pg_cuda.hpp"

namespace nkb {

void register_pg(Napi::Env env, Napi::Object exports) {
  exports.Set("pgLayout", Napi::Function::New(env, pg_layout, "pgLayout"));
  export_pair<prepare_counts>(env, exports, "pgLossCounts");
  export_pair<prepare_loss>(env, exports, "pgPolicyLoss");
  export_pair<prepare_logprobs>(env, exports, "pgTokenLogprobs");
  export_pair<prepare_backward>(env, exports, "pgTokenLogprobsBackward");
  const Napi::Object cuda = cuda_exports(env, exports);
  export_pair<prepare_counts_cuda>(env, cuda, "pgLossCounts");
  export_pair<prepare_loss_cuda>(env, cuda, "pgPolicyLoss");
  export_pair<prepare_logprobs_cuda>(env, cuda, "pgTokenLogprobs");
  export_pair<prepare_backward_cuda>(env, cuda, "pgTokenLogprobsBackward");
}

}  // namespace nkb
