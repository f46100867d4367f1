// Stencil SOR sweeps (stencil_operator.hpp): the single-threaded hot loops of SOR/SSOR/Gauss-Seidel on
// stencils, one target_clones variant per CPU level.
#include "stencil_operator.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// Constant-coefficient 2-D SOR sweep on the wavefront; the row update is relaxForward/relaxBackward
/// with the coefficients held in registers.
template <bool FWD>
NK_CLONES void sten2c_sweep_fast(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const int64_t nx = op.nx, ny = op.ny;
  const double cmx = op.coff[0], cpx = op.coff[1], cmy = op.coff[2], cpy = op.coff[3];
  const double omw = 1 - w;
  const double wd = w / op.cdiag;
  wavefront2d<kWaveLines, FWD>(nx, ny, [&](int64_t iy, int64_t ix) {
    const int64_t i = iy * nx + ix;
    double s = 0;
    if constexpr (FWD) {
      if (ix < nx - 1) s += cpx * x[i + 1];
      if (iy < ny - 1) s += cpy * x[i + nx];
      if (iy > 0) s += cmy * x[i - nx];
      if (ix > 0) s += cmx * x[i - 1];
    } else {
      if (iy > 0) s += cmy * x[i - nx];
      if (ix > 0) s += cmx * x[i - 1];
      if (iy < ny - 1) s += cpy * x[i + nx];
      if (ix < nx - 1) s += cpx * x[i + 1];
    }
    x[i] = sor_update(x[i], b[i], s, omw, wd);
  });
}

template <bool VAR, bool D3>
NK_CLONES void sten_forward(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const Sten<VAR, D3> S(op);
  S.template each<true>([&](int64_t i, const StencilAt& a) { S.relax_at(i, a, b, x, w); });
}

template <bool VAR, bool D3>
NK_CLONES void sten_backward(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const Sten<VAR, D3> S(op);
  S.template each<false>([&](int64_t i, const StencilAt& a) { S.template relax_at<false>(i, a, b, x, w); });
}

}  // namespace

template <bool VAR, bool D3>
bool Sten<VAR, D3>::sweep_forward(const double* b, double* x, double w) const {
  if constexpr (!VAR && !D3) {
    if (A.nx >= kWaveLines) {
      sten2c_sweep_fast<true>(A, b, x, w);
      return true;
    }
  }
  sten_forward<VAR, D3>(A, b, x, w);
  return true;
}

template <bool VAR, bool D3>
bool Sten<VAR, D3>::sweep_backward(const double* b, double* x, double w) const {
  if constexpr (!VAR && !D3) {
    if (A.nx >= kWaveLines) {
      sten2c_sweep_fast<false>(A, b, x, w);
      return true;
    }
  }
  sten_backward<VAR, D3>(A, b, x, w);
  return true;
}

#define NK_INSTANTIATE(S)                                                   \
  template bool S::sweep_forward(const double*, double*, double) const;     \
  template bool S::sweep_backward(const double*, double*, double) const;
NK_INSTANTIATE(Sten2c)
NK_INSTANTIATE(Sten2v)
NK_INSTANTIATE(Sten3c)
NK_INSTANTIATE(Sten3v)
#undef NK_INSTANTIATE

}  // namespace detail
}  // namespace relax
}  // namespace numkern
