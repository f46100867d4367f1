// CUDA launchers of the pg family (numkern/pg_cuda.hpp): the active counts and the fused policy loss
// (pg_loss.hpp), the streaming token log-probs and their backward (pg_logits.hpp, pg_element.hpp). The
// per-token and per-element arithmetic is the NK_HD code of those headers, which the CPU kernels run
// too; this file holds launch geometry and memory movement only. Compiled with --fmad=false
// (CMakeLists.txt), as the CPU kernels are with -ffp-contract=off, so that arithmetic rounds alike on
// both (the f32 loss tokens and the backward's elements give the CPU's bits; libm's exp/log may differ
// in the last ulp).
//
// Geometry: one block of kThreads per sequence (loss, counts) or per row (log-probs), blocks walking
// rows or sequences with a grid stride on gridDim.x, 64-bit element indices: N past 65,535 rows and
// N·V past 2^31 need nothing special.
//
// Determinism: a block reduces its threads' values in a fixed tree (warp shuffles, then the warps in
// order, block_fold.cuh); the loss's per-sequence sums go back to the host, which adds them in sequence
// order as the CPU kernel does. Only integer minima (first non-finite index) use atomics. So every
// result repeats bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "block_fold.cuh"
#include "common.cuh"
#include "numkern/pg_cuda.hpp"
#include "numkern/pg_element.hpp"
#include "numkern/pg_logits.hpp"
#include "numkern/pg_loss.hpp"

namespace numkern {
namespace pg {
/// A row state across a warp (block_fold finds it by argument-dependent lookup).
__device__ LseState shfl_down(LseState v, int o) {
  return LseState{nkcu::shfl_down(v.M, o), nkcu::shfl_down(v.S, o), nkcu::shfl_down(v.T, o)};
}
}  // namespace pg
}  // namespace numkern

namespace {

namespace pg = numkern::pg;
using nkcu::DeviceArray;
using nkcu::kThreads;

// Blocks per launch: rows or sequences beyond are taken by the grid stride.
constexpr int64_t kMaxBlocks = 16384;
// Elements a forward thread loads before summing them (pg_element.hpp: a group).
constexpr int kGroup = 8;
// Elements a backward thread loads before writing them (independent loads in flight; the in-place
// call aliases input and output, so the compiler cannot hoist loads over stores by itself).
constexpr int kUnroll = 4;
constexpr unsigned long long kNone = ~0ull;

unsigned blocks_for(int64_t units) { return static_cast<unsigned>(std::max<int64_t>(1, std::min(units, kMaxBlocks))); }

int bad_index(const char* what, const char** err) {
  if (err) *err = what;
  return kNkBadIndex;
}

// ---- block reductions (block_fold.cuh) of the pg types ----

using nkcu::Add;
using nkcu::block_fold;
using nkcu::broadcast;
using nkcu::Max;
using nkcu::Min;
using nkcu::shfl_down;

/// A sequence's sums: Σℓ, Σv, ΣH, Σr, Σ−Δ and the high, low and dual clip counts.
struct SeqAcc {
  double ell, v, h, r, nd;
  int high, low, dual;
};
__device__ SeqAcc shfl_down(SeqAcc a, int o) {
  return SeqAcc{shfl_down(a.ell, o),  shfl_down(a.v, o),   shfl_down(a.h, o),   shfl_down(a.r, o),
                shfl_down(a.nd, o),   shfl_down(a.high, o), shfl_down(a.low, o), shfl_down(a.dual, o)};
}

struct AddAcc {
  __device__ SeqAcc operator()(SeqAcc a, SeqAcc b) const {
    return SeqAcc{a.ell + b.ell, a.v + b.v, a.h + b.h, a.r + b.r, a.nd + b.nd, a.high + b.high, a.low + b.low, a.dual + b.dual};
  }
};
struct Merge {
  __device__ pg::LseState operator()(pg::LseState a, pg::LseState b) const { return pg::lse_merge(a, b); }
};

template <class T>
__device__ bool finite_value(T x) {
  return isfinite(static_cast<double>(x));
}

// ---------------------------------------------------------------------------------------------------
// Active counts and the policy loss. Sequences are relative to the call's range: offsets start at 0 and
// the per-token arrays at the range's first position.

struct Layout {
  int32_t ns;
  const int32_t* off;   // ns + 1, off[0] = 0 when well formed
  const int32_t* len;   // ns
  const uint8_t* mask;  // null: none
  int64_t ntok;         // positions in the range
};

/// A sequence's range as read now, or false (pg_loss.hpp: re-checked where followed).
__device__ bool sequence_range(const Layout& l, int64_t i, int64_t& o0, int64_t& width, int64_t& len) {
  o0 = l.off[i];
  const int64_t o1 = l.off[i + 1], n = l.len[i];
  width = o1 - o0;
  len = n;
  return o0 >= 0 && o0 <= o1 && o1 <= l.ntok && n >= 0 && n <= width;
}

__global__ void counts_kernel(Layout l, int32_t* L, int* bad) {
  for (int64_t i = blockIdx.x; i < l.ns; i += gridDim.x) {
    int64_t o0, width, len;
    if (!sequence_range(l, i, o0, width, len)) {  // the same for every thread of the block
      if (threadIdx.x == 0) {
        *bad = 1;
        L[i] = 0;
      }
      continue;
    }
    int c = 0;
    if (l.mask) {
      for (int64_t t = threadIdx.x; t < len; t += kThreads) c += l.mask[o0 + t] != 0;
    } else if (threadIdx.x == 0) {
      c = static_cast<int>(len);
    }
    c = block_fold(c, Add{});
    if (threadIdx.x == 0) L[i] = c;
  }
}

template <class T>
struct LossDev {
  const T *logp, *old, *ref, *adv, *ent;
  T *grad, *gent;
};

/// The per-call constants of the loss.
struct LossConsts {
  pg::LossParams p;
  pg::RatioConsts<float> rk32;
  pg::RatioConsts<double> rk64;
  pg::Guard guard;
  bool f32_tokens;  // f32 tokens with the f64 redo (pg_loss.hpp); false: every token in f64
  int64_t pos0;     // the range's first position and sequence, for the non-finite indices
  int32_t seq0;
};

/// One token in f64 (the f64 kernel, and the f32 tokens the guard sends back): ℓ, ∂ℓ, r, −Δ and the
/// KL value and gradient, as the CPU kernel's token_f64.
template <int Kl>
__device__ void token_f64(double x, double o, double A, double ref, const LossConsts& c, pg::PolicyToken<double>& t,
                          pg::KlToken<double>& k) {
  t = pg::policy_token(x, o, A, c.rk64);
  k = pg::KlToken<double>{0.0, 0.0, 0.0};
  if constexpr (Kl != pg::KlNone) k = pg::kl_token<Kl, false>(x, ref, c.rk64);
}

/// A token's terms added to its sequence's (the sums in f64, whatever the token's precision).
template <class F>
__device__ void add_token(SeqAcc& s, const pg::PolicyToken<F>& pt, const pg::KlToken<F>& kt) {
  s.ell += pt.ell;
  s.v += kt.v;
  s.r += pt.r;
  s.nd += pt.neg_delta;
  s.high += pt.high;
  s.low += pt.low;
  s.dual += pt.dual;
}

template <int Kl, class T>
__global__ void loss_kernel(Layout l, LossDev<T> a, LossConsts c, const int32_t* L, double* slots, int* clips,
                            unsigned long long* bad) {
  const pg::LossParams& p = c.p;
  const bool ign = p.ignore_inactive_nonfinite, adv_tok = p.advantage_per_token;
  for (int64_t i = blockIdx.x; i < l.ns; i += gridDim.x) {
    int64_t o0, width, len;
    if (!sequence_range(l, i, o0, width, len)) continue;  // counts_kernel reported it
    const double w = pg::aggregation_weight(p.agg, L[i]);
    const double wH = pg::aggregation_weight(p.entropy_agg, L[i]);
    const double gE = -p.entropy_coef * wH;
    const T Aseq = adv_tok ? T(0) : a.adv[i];
    SeqAcc s{0, 0, 0, 0, 0, 0, 0, 0};
    unsigned long long first[pg::kNumLossArrays] = {kNone, kNone, kNone, kNone, kNone};
    bool any_bad = false;
    for (int64_t t = threadIdx.x; t < width; t += kThreads) {
      const int64_t k = o0 + t;
      const bool act = t < len && (!l.mask || l.mask[k] != 0);
      const T xv = a.logp[k], ov = a.old[k];
      const T rv = Kl != pg::KlNone ? a.ref[k] : T(0);
      const T av = adv_tok ? a.adv[k] : Aseq;
      const T hv = a.ent ? a.ent[k] : T(0);
      if (act || !ign) {
        // A thread visits its positions in increasing order, so its first hit per array is its minimum.
        const auto note = [&](int arr, bool ok) {
          if (!ok && first[arr] == kNone) first[arr] = static_cast<unsigned long long>(k);
          any_bad |= !ok;
        };
        note(pg::kArrLogp, finite_value(xv));
        note(pg::kArrOld, finite_value(ov));
        if (Kl != pg::KlNone) note(pg::kArrRef, finite_value(rv));
        if (adv_tok) note(pg::kArrAdv, finite_value(av));
        if (a.ent) note(pg::kArrEntropy, finite_value(hv));
      }
      if (a.gent) a.gent[k] = act ? static_cast<T>(gE) : T(0);
      if (!act) {
        a.grad[k] = T(0);
        continue;
      }
      if (a.ent) s.h += static_cast<double>(hv);
      if constexpr (std::is_same_v<T, float>) {
        if (c.f32_tokens) {
          const pg::PolicyToken<float> pt = pg::policy_token(xv, ov, av, c.rk32);
          pg::KlToken<float> kt{0.0f, 0.0f, 0.0f};
          if constexpr (Kl != pg::KlNone) kt = pg::kl_token<Kl, true>(xv, rv, c.rk32);
          if (!pg::needs_f64<Kl>(pt, kt, c.guard)) {
            // As the CPU's f32 pass: the weight and KL coefficient rounded to f32, then one product.
            const float gsum = Kl != pg::KlNone ? pt.dl + static_cast<float>(p.kl_coef) * kt.g : pt.dl;
            a.grad[k] = static_cast<float>(w) * gsum;
            add_token(s, pt, kt);
            continue;
          }
        }
      }
      pg::PolicyToken<double> pt;
      pg::KlToken<double> kt;
      token_f64<Kl>(static_cast<double>(xv), static_cast<double>(ov), static_cast<double>(av), static_cast<double>(rv),
                    c, pt, kt);
      a.grad[k] = static_cast<T>(w * (Kl != pg::KlNone ? pt.dl + p.kl_coef * kt.g : pt.dl));
      add_token(s, pt, kt);
    }
    s = block_fold(s, AddAcc{});
    if (threadIdx.x == 0) {
      pg::write_loss_slot(slots + i * pg::kLossSlots, w, wH, s.ell, s.v, s.h, s.r, s.nd);
      clips[i * 3] = s.high;
      clips[i * 3 + 1] = s.low;
      clips[i * 3 + 2] = s.dual;
      if (!adv_tok && !finite_value(Aseq)) atomicMin(bad + pg::kArrAdv, static_cast<unsigned long long>(c.seq0 + i));
    }
    if (__syncthreads_or(any_bad)) {
      for (int arr = 0; arr < pg::kNumLossArrays; ++arr) {
        const unsigned long long m = block_fold(first[arr], Min{});
        if (threadIdx.x == 0 && m != kNone) atomicMin(bad + arr, m + static_cast<unsigned long long>(c.pos0));
      }
    }
  }
}

/// The range's layout on the device: offsets shifted to start at the range's first position.
struct RangeLayout {
  DeviceArray<int32_t> off, len;
  DeviceArray<uint8_t> mask;
  Layout l{};
};

int upload_layout(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask, int64_t ntok,
                  int32_t s0, int32_t s1, RangeLayout& r, int64_t& pos0, const char** err) {
  if (!(s0 >= 0 && s0 <= s1 && s1 <= nseq)) return bad_index("offsets, lengths: changed while pg ran", err);
  const int32_t ns = s1 - s0;
  const int64_t o0 = offsets[s0], o1 = offsets[s1];
  if (!(o0 >= 0 && o0 <= o1 && o1 <= ntok)) return bad_index("offsets, lengths: changed while pg ran", err);
  std::vector<int32_t> off(static_cast<size_t>(ns) + 1);
  for (int32_t i = 0; i <= ns; ++i) off[static_cast<size_t>(i)] = static_cast<int32_t>(offsets[s0 + i] - o0);
  NK_CUDA_TRY(r.off.upload(off.data(), off.size()));
  NK_CUDA_TRY(r.len.upload(lengths + s0, static_cast<size_t>(ns)));
  if (mask) NK_CUDA_TRY(r.mask.upload(mask + o0, static_cast<size_t>(o1 - o0)));
  r.l = Layout{ns, r.off.p, r.len.p, mask ? r.mask.p : nullptr, o1 - o0};
  pos0 = o0;
  return 0;
}

/// L_i of the range's sequences (into L, on the device), or kNkBadIndex.
int active_counts(const RangeLayout& r, DeviceArray<int32_t>& L, const char** err) {
  DeviceArray<int> d_bad;
  NK_CUDA_TRY(L.alloc(static_cast<size_t>(r.l.ns)));
  NK_CUDA_TRY(d_bad.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bad.p, 0, sizeof(int)));
  counts_kernel<<<blocks_for(r.l.ns), kThreads>>>(r.l, L.p, d_bad.p);
  NK_CUDA_TRY(cudaGetLastError());
  int bad = 0;
  NK_CUDA_TRY(d_bad.download(&bad, 1));
  return bad ? bad_index("offsets, lengths: changed while pg ran", err) : 0;
}

int loss_counts(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask, int64_t ntok,
                int32_t s0, int32_t s1, int64_t* tokens, int64_t* sequences, const char** err) {
  *tokens = 0;
  *sequences = 0;
  if (s0 == s1 && s0 >= 0 && s1 <= nseq) return 0;
  RangeLayout r;
  int64_t pos0 = 0;
  int rc = upload_layout(nseq, offsets, lengths, mask, ntok, s0, s1, r, pos0, err);
  if (rc) return rc;
  DeviceArray<int32_t> L;
  if ((rc = active_counts(r, L, err))) return rc;
  std::vector<int32_t> h(static_cast<size_t>(r.l.ns));
  NK_CUDA_TRY(L.download(h.data(), h.size()));
  for (const int32_t v : h) {
    *tokens += v;
    *sequences += v > 0;
  }
  return 0;
}

template <int Kl, class T>
void launch_loss(const RangeLayout& r, const LossDev<T>& a, const LossConsts& c, const int32_t* L, double* slots,
                 int* clips, unsigned long long* bad) {
  loss_kernel<Kl, T><<<blocks_for(r.l.ns), kThreads>>>(r.l, a, c, L, slots, clips, bad);
}

template <class T>
int policy_loss(const pg::LossArrays<T>& a, const pg::LossParams& p, int32_t s0, int32_t s1, pg::LossSums& out,
                const char** err) {
  out = pg::LossSums{};
  if (s0 == s1 && s0 >= 0 && s1 <= a.nseq) return 0;
  RangeLayout r;
  int64_t pos0 = 0;
  int rc = upload_layout(a.nseq, a.offsets, a.lengths, a.mask, a.ntok, s0, s1, r, pos0, err);
  if (rc) return rc;
  const size_t nt = static_cast<size_t>(r.l.ntok), ns = static_cast<size_t>(r.l.ns);
  const bool kl = p.kl != pg::KlNone;
  DeviceArray<T> logp, old, ref, adv, ent, grad, gent;
  NK_CUDA_TRY(logp.upload(a.logp + pos0, nt));
  NK_CUDA_TRY(old.upload(a.old + pos0, nt));
  if (kl) NK_CUDA_TRY(ref.upload(a.ref + pos0, nt));
  if (p.advantage_per_token) NK_CUDA_TRY(adv.upload(a.adv + pos0, nt));
  else NK_CUDA_TRY(adv.upload(a.adv + s0, ns));
  if (a.entropy) NK_CUDA_TRY(ent.upload(a.entropy + pos0, nt));
  NK_CUDA_TRY(grad.alloc(nt));
  if (a.grad_entropy) NK_CUDA_TRY(gent.alloc(nt));
  DeviceArray<int32_t> L;
  if ((rc = active_counts(r, L, err))) return rc;
  DeviceArray<double> slots;
  DeviceArray<int> clips;
  DeviceArray<unsigned long long> bad;
  NK_CUDA_TRY(slots.alloc(ns * pg::kLossSlots));
  NK_CUDA_TRY(clips.alloc(ns * 3));
  NK_CUDA_TRY(bad.alloc(pg::kNumLossArrays));
  NK_CUDA_TRY(cudaMemset(bad.p, 0xff, pg::kNumLossArrays * sizeof(unsigned long long)));

  const LossDev<T> d{logp.p, old.p, kl ? ref.p : nullptr, adv.p, a.entropy ? ent.p : nullptr, grad.p,
                     a.grad_entropy ? gent.p : nullptr};
  const LossConsts c{p,    pg::ratio_consts<float>(p), pg::ratio_consts<double>(p), pg::make_guard(p),
                     std::is_same_v<T, float> && !pg::f32_params_ambiguous(p), pos0, s0};
  switch (p.kl) {
    case pg::KlK1: launch_loss<pg::KlK1>(r, d, c, L.p, slots.p, clips.p, bad.p); break;
    case pg::KlAbs: launch_loss<pg::KlAbs>(r, d, c, L.p, slots.p, clips.p, bad.p); break;
    case pg::KlK2: launch_loss<pg::KlK2>(r, d, c, L.p, slots.p, clips.p, bad.p); break;
    case pg::KlK3: launch_loss<pg::KlK3>(r, d, c, L.p, slots.p, clips.p, bad.p); break;
    default: launch_loss<pg::KlNone>(r, d, c, L.p, slots.p, clips.p, bad.p); break;
  }
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(grad.download(a.grad + pos0, nt));
  if (a.grad_entropy) NK_CUDA_TRY(gent.download(a.grad_entropy + pos0, nt));
  std::vector<int32_t> hL(ns);
  std::vector<double> hs(ns * pg::kLossSlots);
  std::vector<int> hc(ns * 3);
  unsigned long long hb[pg::kNumLossArrays];
  NK_CUDA_TRY(L.download(hL.data(), ns));
  NK_CUDA_TRY(slots.download(hs.data(), hs.size()));
  NK_CUDA_TRY(clips.download(hc.data(), hc.size()));
  NK_CUDA_TRY(bad.download(hb, pg::kNumLossArrays));
  // In sequence order, as the CPU kernel adds its per-sequence slots.
  for (size_t i = 0; i < ns; ++i) {
    pg::add_loss_slot(out, hs.data() + i * pg::kLossSlots);
    out.high += hc[i * 3];
    out.low += hc[i * 3 + 1];
    out.dual += hc[i * 3 + 2];
    out.tokens += hL[i];
    out.sequences += hL[i] > 0;
  }
  for (int k = 0; k < pg::kNumLossArrays; ++k) out.nonfinite[k] = hb[k] == kNone ? -1 : static_cast<int64_t>(hb[k]);
  return 0;
}

}  // namespace

#include "pg_logprobs.cuh"

extern "C" {

int nk_cuda_pg_loss_counts(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask,
                           int64_t ntok, int32_t s0, int32_t s1, int64_t* tokens, int64_t* sequences, const char** err) {
  return loss_counts(nseq, offsets, lengths, mask, ntok, s0, s1, tokens, sequences, err);
}
int nk_cuda_pg_policy_loss_f32(const numkern::pg::LossArrays<float>* a, const numkern::pg::LossParams* p, int32_t s0,
                               int32_t s1, numkern::pg::LossSums* out, const char** err) {
  return policy_loss(*a, *p, s0, s1, *out, err);
}
int nk_cuda_pg_policy_loss_f64(const numkern::pg::LossArrays<double>* a, const numkern::pg::LossParams* p, int32_t s0,
                               int32_t s1, numkern::pg::LossSums* out, const char** err) {
  return policy_loss(*a, *p, s0, s1, *out, err);
}
int nk_cuda_pg_token_logprobs_f32(const float* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                  double temperature, float* logp, float* lse, float* entropy, int64_t* first_bad,
                                  const char** err) {
  return token_logprobs(logits, nrows, vocab, targets, temperature, logp, lse, entropy, first_bad, err);
}
int nk_cuda_pg_token_logprobs_f64(const double* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                  double temperature, double* logp, double* lse, double* entropy, int64_t* first_bad,
                                  const char** err) {
  return token_logprobs(logits, nrows, vocab, targets, temperature, logp, lse, entropy, first_bad, err);
}
int nk_cuda_pg_token_logprobs_backward_f32(const float* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                           double temperature, const float* lse, const float* entropy,
                                           const float* gradLogp, const float* gradEntropy, float* grad,
                                           const char** err) {
  return token_logprobs_backward(logits, nrows, vocab, targets, temperature, lse, entropy, gradLogp, gradEntropy, grad,
                                 err);
}
int nk_cuda_pg_token_logprobs_backward_f64(const double* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                           double temperature, const double* lse, const double* entropy,
                                           const double* gradLogp, const double* gradEntropy, double* grad,
                                           const char** err) {
  return token_logprobs_backward(logits, nrows, vocab, targets, temperature, lse, entropy, gradLogp, gradEntropy, grad,
                                 err);
}

}  // extern "C"
