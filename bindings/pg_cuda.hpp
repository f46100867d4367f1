// The pg family's CUDA entry points (exports.cuda, native/cuda/pg.cu), included once by bindings/pg.cc
// after its CPU entry points, whose read_* functions they share.
#pragma once

#include "args.hpp"
#include "cuda.hpp"
#include "numkern/pg_cuda.hpp"

namespace nkb {
namespace {

// ---- the CUDA entry points (exports.cuda: native/cuda/pg.cu) ----
//
// The same arguments, less the thread count, checked by the same read_* functions before the device is
// asked for; then the device entry point, whose kNkBadIndex is the CPU kernel's "changed while it ran".

void prepare_counts_cuda(const Napi::CallbackInfo& info, Job& job) {
  const CountsCall c = read_counts(info, job, Target::Cuda);
  job.run = [c]() -> double {
    require_cuda_device();
    if constexpr (kCudaBuilt) {
      const char* err = nullptr;
      int64_t tokens = 0, sequences = 0;
      const int rc = nk_cuda_pg_loss_counts(c.nseq, c.off, c.len, c.m, c.ntok, 0, c.nseq, &tokens, &sequences, &err);
      if (rc == kNkBadIndex) throw KernelError(ErrorKind::Range, kCountsChanged);
      if (rc != 0) cuda_fail(rc, err, "pgLossCounts");
      c.out[0] = static_cast<double>(tokens);
      c.out[1] = static_cast<double>(sequences);
    }
    return 0;
  };
}

void prepare_loss_cuda(const Napi::CallbackInfo& info, Job& job) {
  const LossCall c = read_loss(info, job, Target::Cuda);
  job.run = [c]() -> double {
    require_cuda_device();
    if constexpr (kCudaBuilt) {
      const char* err = nullptr;
      pg::LossSums s;
      int rc;
      if (c.f32) {
        const pg::LossArrays<float> a = c.arrays<float>();
        rc = nk_cuda_pg_policy_loss_f32(&a, &c.lp, c.s0, c.s1, &s, &err);
      } else {
        const pg::LossArrays<double> a = c.arrays<double>();
        rc = nk_cuda_pg_policy_loss_f64(&a, &c.lp, c.s0, c.s1, &s, &err);
      }
      if (rc == kNkBadIndex) throw KernelError(ErrorKind::Range, kLossChanged);
      if (rc != 0) cuda_fail(rc, err, "pgPolicyLoss");
      write_sums(s, c.sums);
    }
    return 0;
  };
}

void prepare_logprobs_cuda(const Napi::CallbackInfo& info, Job& job) {
  const LogprobsCall c = read_logprobs(info, job, Target::Cuda);
  job.run = [c]() -> double {
    require_cuda_device();
    int64_t first = -1;
    if constexpr (kCudaBuilt) {
      const char* err = nullptr;
      const int rc =
          c.f32 ? nk_cuda_pg_token_logprobs_f32(c.in<float>(), c.s.nrows, c.s.vocab, c.tg, c.tau, c.out<float>(c.lp),
                                                c.out<float>(c.ls), c.out<float>(c.ent), &first, &err)
                : nk_cuda_pg_token_logprobs_f64(c.in<double>(), c.s.nrows, c.s.vocab, c.tg, c.tau, c.out<double>(c.lp),
                                                c.out<double>(c.ls), c.out<double>(c.ent), &first, &err);
      if (rc == kNkBadIndex) throw KernelError(ErrorKind::Range, kTargetsChanged);
      if (rc != 0) cuda_fail(rc, err, "pgTokenLogprobs");
    }
    return static_cast<double>(first);
  };
}

void prepare_backward_cuda(const Napi::CallbackInfo& info, Job& job) {
  const BackwardCall c = read_backward(info, job, Target::Cuda);
  job.run = [c]() -> double {
    require_cuda_device();
    if constexpr (kCudaBuilt) {
      const char* err = nullptr;
      const int rc =
          c.f32 ? nk_cuda_pg_token_logprobs_backward_f32(c.in<float>(c.x), c.s.nrows, c.s.vocab, c.tg, c.tau,
                                                         c.in<float>(c.lse), c.in<float>(c.ent), c.in<float>(c.gl),
                                                         c.in<float>(c.gh), static_cast<float*>(c.grad), &err)
                : nk_cuda_pg_token_logprobs_backward_f64(c.in<double>(c.x), c.s.nrows, c.s.vocab, c.tg, c.tau,
                                                         c.in<double>(c.lse), c.in<double>(c.ent), c.in<double>(c.gl),
                                                         c.in<double>(c.gh), static_cast<double*>(c.grad), &err);
      if (rc == kNkBadIndex) throw KernelError(ErrorKind::Range, kBackwardChanged);
      if (rc != 0) cuda_fail(rc, err, "pgTokenLogprobsBackward");
    }
    return 0;
  };
}

}  // namespace
}  // namespace nkb
