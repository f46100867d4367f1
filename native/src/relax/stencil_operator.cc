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

/// Natural-order (FWD) or reverse-order SOR sweep, a line at a time.
template <bool VAR, bool D3, bool FWD>
NK_CLONES void sten_sweep_lines(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const Sten<VAR, D3> S(op);
  S.template each<FWD>([&](int64_t i, const StencilAt& a) { S.template relax_at<FWD>(i, a, b, x, w); });
}

/// The wavefront for a constant 2-D stencil wide enough to hold its lines, line order otherwise.
template <bool VAR, bool D3, bool FWD>
void sten_sweep(const StencilOp& A, const double* b, double* x, double w) {
  if constexpr (!VAR && !D3) {
    if (A.nx >= kWaveLines) return sten2c_sweep_fast<FWD>(A, b, x, w);
  }
  sten_sweep_lines<VAR, D3, FWD>(A, b, x, w);
}

}  // namespace

template <bool VAR, bool D3>
bool Sten<VAR, D3>::sweep_forward(const double* b, double* x, double w) const {
  sten_sweep<VAR, D3, true>(A, b, x, w);
  return true;
}

template <bool VAR, bool D3>
bool Sten<VAR, D3>::sweep_backward(const double* b, double* x, double w) const {
  sten_sweep<VAR, D3, false>(A, b, x, w);
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
