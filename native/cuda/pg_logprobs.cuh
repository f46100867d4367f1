// The pg family's token log-probs on the device, forward and backward (included once, by native/cuda/pg.cu,
// after the loss kernels and the block folds they share): one block per row, each thread a lane of
// numkern/pg_element.hpp, the lanes folded in a fixed tree.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "block_fold.cuh"
#include "common.cuh"
#include "numkern/pg_cuda.hpp"
#include "numkern/pg_element.hpp"
#include "numkern/pg_logits.hpp"

namespace {

// ---------------------------------------------------------------------------------------------------
// Token log-probs: one block per row, each thread a lane of pg_element.hpp.

/// The row in f64, two passes (as the CPU's block_exact): the offset of its first non-finite logit (all
/// threads get it), or kNone and the row's state (thread 0's).
template <class T>
__device__ unsigned long long row_exact(const T* row, int64_t V, double tau, pg::LseState& st) {
  unsigned long long first = kNone;
  for (int64_t j = threadIdx.x; j < V; j += kThreads)
    if (!finite_value(row[j])) {
      first = static_cast<unsigned long long>(j);
      break;
    }
  first = broadcast(block_fold(first, Min{}));
  if (first != kNone) return first;
  double m = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += kThreads) m = fmax(m, static_cast<double>(row[j]) / tau);
  m = broadcast(block_fold(m, Max{}));
  double S = 0, Tt = 0;
  for (int64_t j = threadIdx.x; j < V; j += kThreads) {
    const double y = static_cast<double>(row[j]) / tau - m;
    const double e = exp(y);
    S += e;
    Tt += e * y;
  }
  S = block_fold(S, Add{});
  Tt = block_fold(Tt, Add{});
  st = pg::LseState{m, S, Tt};
  return kNone;
}

template <bool Ent, class T>
__global__ void logprobs_kernel(const T* __restrict__ x, int64_t N, int64_t V, const int32_t* __restrict__ targets,
                                double tau, T c, double cd, T* logp, T* lse, T* entropy, unsigned long long* first_bad,
                                int* bad_target) {
  const int64_t step = static_cast<int64_t>(kThreads) * kGroup;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const T* row = x + n * V;
    pg::LaneLse<T> lane = pg::lane_empty<T>();
    for (int64_t b = threadIdx.x; b < V; b += step) {
      T v[kGroup];
      int cnt = 0;
#pragma unroll
      for (int k = 0; k < kGroup; ++k) {
        const int64_t j = b + static_cast<int64_t>(k) * kThreads;
        v[k] = j < V ? row[j] : T(0);
        cnt += j < V;
      }
      pg::lane_add<Ent>(lane, v, cnt, c, cd);
    }
    pg::LseState st = pg::lane_state(lane, tau);
    unsigned long long bad_at = kNone;
    if (__syncthreads_or(!pg::lane_ok(lane))) bad_at = row_exact(row, V, tau, st);
    else st = block_fold(st, Merge{});
    if (threadIdx.x == 0) {
      const int32_t tg = targets[n];
      if (tg < 0 || tg >= V) {
        *bad_target = 1;
      } else if (bad_at != kNone) {
        atomicMin(first_bad, static_cast<unsigned long long>(n * V) + bad_at);
      } else {
        const pg::RowResult res = pg::lse_finish(st, static_cast<double>(row[tg]) / tau);
        logp[n] = static_cast<T>(res.logp);
        lse[n] = static_cast<T>(res.lse);
        if constexpr (Ent) entropy[n] = static_cast<T>(res.entropy);
      }
    }
  }
}

template <class T>
int token_logprobs(const T* logits, int64_t N, int64_t V, const int32_t* targets, double tau, T* logp, T* lse,
                   T* entropy, int64_t* first_bad, const char** err) {
  *first_bad = -1;
  if (N <= 0) return 0;
  if (V <= 0) return bad_index("targets: changed while pgTokenLogprobs ran", err);
  const size_t n = static_cast<size_t>(N), total = n * static_cast<size_t>(V);
  DeviceArray<T> d_x, d_lp, d_ls, d_h;
  DeviceArray<int32_t> d_tg;
  DeviceArray<unsigned long long> d_bad;
  DeviceArray<int> d_bt;
  NK_CUDA_TRY(d_x.upload(logits, total));
  NK_CUDA_TRY(d_tg.upload(targets, n));
  NK_CUDA_TRY(d_lp.alloc(n));
  NK_CUDA_TRY(d_ls.alloc(n));
  if (entropy) NK_CUDA_TRY(d_h.alloc(n));
  NK_CUDA_TRY(d_bad.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bad.p, 0xff, sizeof(unsigned long long)));
  NK_CUDA_TRY(d_bt.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bt.p, 0, sizeof(int)));
  const double cd = 1.4426950408889634 / tau;
  const T c = static_cast<T>(cd);
  if (entropy)
    logprobs_kernel<true, T><<<blocks_for(N), kThreads>>>(d_x.p, N, V, d_tg.p, tau, c, cd, d_lp.p, d_ls.p, d_h.p, d_bad.p,
                                                          d_bt.p);
  else
    logprobs_kernel<false, T><<<blocks_for(N), kThreads>>>(d_x.p, N, V, d_tg.p, tau, c, cd, d_lp.p, d_ls.p, nullptr,
                                                           d_bad.p, d_bt.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_lp.download(logp, n));
  NK_CUDA_TRY(d_ls.download(lse, n));
  if (entropy) NK_CUDA_TRY(d_h.download(entropy, n));
  unsigned long long bad = kNone;
  int bt = 0;
  NK_CUDA_TRY(d_bad.download(&bad, 1));
  NK_CUDA_TRY(d_bt.download(&bt, 1));
  if (bt) return bad_index("targets: changed while pgTokenLogprobs ran", err);
  *first_bad = bad == kNone ? -1 : static_cast<int64_t>(bad);
  return 0;
}

// ---- backward ----

template <bool HasH, class T>
__global__ void backward_kernel(const T* x, T* g, int64_t N, int64_t V, const int32_t* targets, double tau, const T* lse,
                                const T* entropy, const T* gradLogp, const T* gradEntropy, int* bad_target) {
  const int64_t step = static_cast<int64_t>(kThreads) * kUnroll;
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const int32_t tg = targets[n];
    if (tg < 0 || tg >= V) {  // the same for every thread of the block
      if (threadIdx.x == 0) *bad_target = 1;
      continue;
    }
    const T* row = x + n * V;
    T* out = g + n * V;
    const double xt = static_cast<double>(row[tg]);  // read before an in-place pass overwrites it
    __syncthreads();
    const double L = static_cast<double>(lse[n]);
    const double H = HasH ? static_cast<double>(entropy[n]) : 0.0;
    const double gL = gradLogp ? static_cast<double>(gradLogp[n]) : 0.0;
    const double gH = HasH ? static_cast<double>(gradEntropy[n]) : 0.0;
    const pg::BackwardRow<T> k = pg::backward_row<T>(L, H, gL, gH, tau);
    for (int64_t b = threadIdx.x; b < V; b += step) {
      T v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t j = b + static_cast<int64_t>(u) * kThreads;
        v[u] = j < V ? row[j] : T(0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t j = b + static_cast<int64_t>(u) * kThreads;
        if (j < V) out[j] = pg::backward_element<HasH>(v[u], k);
      }
    }
    __syncthreads();  // every element written before the target's overwrites its own
    if (threadIdx.x == 0) out[tg] = static_cast<T>(pg::backward_target(xt, L, H, gL, gH, tau));
  }
}

template <class T>
int token_logprobs_backward(const T* logits, int64_t N, int64_t V, const int32_t* targets, double tau, const T* lse,
                            const T* entropy, const T* gradLogp, const T* gradEntropy, T* grad, const char** err) {
  if (N <= 0) return 0;
  if (V <= 0) return bad_index("targets: changed while pgTokenLogprobsBackward ran", err);
  const size_t n = static_cast<size_t>(N), total = n * static_cast<size_t>(V);
  const bool has_h = gradEntropy != nullptr && entropy != nullptr;
  const bool in_place = static_cast<const void*>(grad) == static_cast<const void*>(logits);
  DeviceArray<T> d_x, d_g, d_ls, d_h, d_gl, d_gh;
  DeviceArray<int32_t> d_tg;
  DeviceArray<int> d_bt;
  // In place: one device buffer, read and overwritten row by row.
  if (in_place) {
    NK_CUDA_TRY(d_g.upload(grad, total));
  } else {
    NK_CUDA_TRY(d_x.upload(logits, total));
    NK_CUDA_TRY(d_g.alloc(total));
  }
  NK_CUDA_TRY(d_tg.upload(targets, n));
  NK_CUDA_TRY(d_ls.upload(lse, n));
  if (has_h) {
    NK_CUDA_TRY(d_h.upload(entropy, n));
    NK_CUDA_TRY(d_gh.upload(gradEntropy, n));
  }
  if (gradLogp) NK_CUDA_TRY(d_gl.upload(gradLogp, n));
  NK_CUDA_TRY(d_bt.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bt.p, 0, sizeof(int)));
  const T* xin = in_place ? d_g.p : d_x.p;
  const T* gl = gradLogp ? d_gl.p : nullptr;
  if (has_h)
    backward_kernel<true, T><<<blocks_for(N), kThreads>>>(xin, d_g.p, N, V, d_tg.p, tau, d_ls.p, d_h.p, gl, d_gh.p, d_bt.p);
  else
    backward_kernel<false, T><<<blocks_for(N), kThreads>>>(xin, d_g.p, N, V, d_tg.p, tau, d_ls.p, nullptr, gl, nullptr,
                                                           d_bt.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_g.download(grad, total));
  int bt = 0;
  NK_CUDA_TRY(d_bt.download(&bt, 1));
  return bt ? bad_index("targets: changed while pgTokenLogprobsBackward ran", err) : 0;
}

}  // namespace
