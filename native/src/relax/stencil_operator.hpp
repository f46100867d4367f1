// A stencil as the driver sees it: the per-point rows of numkern/relax_rows.hpp plus the orders in which
// the passes visit the points. Each row adds its neighbours in the CSR twin's column order −z, −y, −x,
// (diag), +x, +y, +z (src/core/stencil.ts), so a stencil and its twin give bit-identical iterates. A
// stencil reads no index array: every method here reports every index good.
#pragma once

#include <algorithm>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// Visits every (iy, ix) of an nx × ny grid so that f sees each point after its −x and −y neighbours
/// (FWD) or after its +x and +y neighbours (!FWD, the mirror image), and before the others: exactly the
/// values natural (or reverse natural) order gives it. A point waits on the one before it in its line
/// (a chain of ~20 cycles through σ), but (ix, iy) and (ix − 1, iy + 1) are independent, so LINES lines
/// advance together on a diagonal wavefront, line l lagging l columns: LINES chains in flight.
template <int LINES, bool FWD, class F>
NK_FORCEINLINE void wavefront2d(int64_t nx, int64_t ny, F&& f) {
  auto at = [&](int64_t iy, int64_t ix) {
    if constexpr (FWD) f(iy, ix);
    else f(ny - 1 - iy, nx - 1 - ix);
  };
  int64_t iy = 0;
  for (; iy + LINES <= ny; iy += LINES) {
    for (int64_t t = 0; t < nx + LINES - 1; ++t) {
      if (t >= LINES - 1 && t < nx) {
        for (int l = 0; l < LINES; ++l) at(iy + l, t - l);
      } else {
        for (int l = 0; l < LINES; ++l) {
          const int64_t ix = t - l;
          if (ix >= 0 && ix < nx) at(iy + l, ix);
        }
      }
    }
  }
  for (; iy < ny; ++iy)
    for (int64_t ix = 0; ix < nx; ++ix) at(iy, ix);
}

constexpr int kWaveLines = 4;

template <bool VAR, bool D3>
struct Sten : StencilRows<VAR, D3> {
  using Rows = StencilRows<VAR, D3>;
  using At = StencilAt;
  using Rows::A;
  using Rows::Rows;

  int64_t n() const { return A.n; }
  static constexpr bool constant_diagonal() { return !VAR; }

  NK_FORCEINLINE void relax_row(int64_t i, const double* b, double* x, double w, bool&) const {
    this->relax_at(i, this->at(i), b, x, w);
  }

  /// Calls f(i, At) for every row in natural order (or reverse), a line at a time so the neighbour flags
  /// are worked out per line instead of per row.
  template <bool FWD, class F>
  NK_FORCEINLINE void each(F&& f) const {
    const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
    for (int64_t kz = 0; kz < nz; ++kz) {
      const int64_t iz = FWD ? kz : nz - 1 - kz;
      for (int64_t ky = 0; ky < ny; ++ky) {
        const int64_t iy = FWD ? ky : ny - 1 - ky;
        const int64_t base = (iz * ny + iy) * nx;
        At a{false, false, iy > 0, iy < ny - 1, D3 && iz > 0, D3 && iz < nz - 1};
        for (int64_t kx = 0; kx < nx; ++kx) {
          const int64_t ix = FWD ? kx : nx - 1 - kx;
          a.mx = ix > 0;
          a.px = ix < nx - 1;
          f(base + ix, a);
        }
      }
    }
  }
  /// f(i, (A x)_i) for rows [i0, i1) in natural order (scratch: unused; see Csr::rows).
  template <class F>
  NK_FORCEINLINE bool rows(int64_t i0, int64_t i1, const double* x, double*, F&& f) const {
    for (int64_t i = i0; i < i1;) {
      At a = this->at(i);
      const int64_t line_end = std::min(i1, (i / A.nx + 1) * A.nx);
      for (int64_t ix = i % A.nx; i < line_end; ++i, ++ix) {
        a.mx = ix > 0;
        a.px = ix < A.nx - 1;
        f(i, this->full(i, x, a));
      }
    }
    return true;
  }

  /// Csr::rows_dot: y = A x on rows [i0, i1) and Σ x_i y_i over them in row order from 0.
  NK_FORCEINLINE bool rows_dot(int64_t i0, int64_t i1, const double* x, double* y, double& dot) const {
    double s = 0;
    rows(i0, i1, x, y, [&](int64_t i, double rs) {
      y[i] = rs;
      s += x[i] * rs;
    });
    dot = s;
    return true;
  }

  bool sweep_forward(const double* b, double* x, double w) const;
  bool sweep_backward(const double* b, double* x, double w) const;

  /// f(i, At) for every row so that each comes after its lower (FWD) or upper (!FWD) neighbours: the
  /// diagonal wavefront for the backward pass over a 2-D grid, natural order otherwise. Either order
  /// gives a triangular solve the same values. (SSOR-CG's forward pass, which reads two vectors at
  /// three points and writes two, measured 2–3× slower on the wavefront than in natural order.)
  template <bool FWD, class F>
  NK_FORCEINLINE void visit(F&& f) const {
    if constexpr (!D3 && !FWD) {
      const int64_t nx = A.nx, ny = A.ny;
      if (nx >= kWaveLines) {
        wavefront2d<kWaveLines, FWD>(nx, ny, [&](int64_t iy, int64_t ix) {
          f(iy * nx + ix, At{ix > 0, ix < nx - 1, iy > 0, iy < ny - 1, false, false});
        });
        return;
      }
    }
    each<FWD>(f);
  }
};

using Sten2c = Sten<false, false>;
using Sten2v = Sten<true, false>;
using Sten3c = Sten<false, true>;
using Sten3v = Sten<true, true>;

}  // namespace detail
}  // namespace relax
}  // namespace numkern
