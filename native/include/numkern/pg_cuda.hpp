// C entry points of the pg family's CUDA kernels (native/cuda/pg.cu), under the conventions of
// cuda_api.hpp (host pointers in and out, 0 or an error code with a static message). Defined only in a
// CUDA build. Each takes what the CPU kernel of the same name takes (pg_loss.hpp, pg_logits.hpp), less
// the thread count, and returns the same results; kNkBadIndex stands for the CPU kernels' "an offset,
// length or target read now is out of range" (false or −2 there).
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/cuda_api.hpp"
#include "numkern/pg_loss.hpp"

extern "C" {

/// loss_counts over sequences [s0, s1): Σ L_i and #{i : L_i > 0}.
int nk_cuda_pg_loss_counts(int32_t nseq, const int32_t* offsets, const int32_t* lengths, const uint8_t* mask,
                           int64_t ntok, int32_t s0, int32_t s1, int64_t* tokens, int64_t* sequences, const char** err);

/// policy_loss over sequences [s0, s1): grad (and grad_entropy) at their positions, and their sums.
int nk_cuda_pg_policy_loss_f32(const numkern::pg::LossArrays<float>* a, const numkern::pg::LossParams* p, int32_t s0,
                               int32_t s1, numkern::pg::LossSums* out, const char** err);
int nk_cuda_pg_policy_loss_f64(const numkern::pg::LossArrays<double>* a, const numkern::pg::LossParams* p, int32_t s0,
                               int32_t s1, numkern::pg::LossSums* out, const char** err);

/// token_logprobs: *first_bad = −1, or the smallest flat index of a non-finite logit.
int nk_cuda_pg_token_logprobs_f32(const float* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                  double temperature, float* logp, float* lse, float* entropy, int64_t* first_bad,
                                  const char** err);
int nk_cuda_pg_token_logprobs_f64(const double* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                  double temperature, double* logp, double* lse, double* entropy, int64_t* first_bad,
                                  const char** err);

/// token_logprobs_backward; grad may be logits itself (in place).
int nk_cuda_pg_token_logprobs_backward_f32(const float* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                           double temperature, const float* lse, const float* entropy,
                                           const float* gradLogp, const float* gradEntropy, float* grad,
                                           const char** err);
int nk_cuda_pg_token_logprobs_backward_f64(const double* logits, int64_t nrows, int64_t vocab, const int32_t* targets,
                                           double temperature, const double* lse, const double* entropy,
                                           const double* gradLogp, const double* gradEntropy, double* grad,
                                           const char** err);

}  // extern "C"
