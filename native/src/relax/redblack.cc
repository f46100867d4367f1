// Red-black SOR (redblack.hpp).
//
// On stencils: multicolorOrdering of a stencil's twin is the checkerboard, colour (ix + iy + iz) mod 2
// with red = 0 first and rows ascending within a colour (checkerboard() makes sure of it), so the rows
// of a colour are found by parity instead of through the order array. Every neighbour of a row has the
// other colour: the rows of one colour may go in any order and on any thread, and the iterates are the
// oracle's whatever the split.
//
// A slab is a line (2-D) or a plane (3-D). The black rows of slab u see red rows of slabs u − 1, u and
// u + 1 only, and the red rows of slab u see black rows of those same slabs, still from the previous
// sweep while black lags one slab. So one pass relaxes red in slab u and then black in slab u − 1:
// x and b are read once and x written once per sweep, where two colour passes would move them twice.
// A thread owns a contiguous range of slabs; the black rows of its first and last slab need red rows
// of its neighbours' ranges and so wait for the one barrier of the sweep.
#include "redblack.hpp"

#include <algorithm>

#include "csr_operator.hpp"
#include "internal.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// relaxForward of the rows ix = p + 2j, j in [j0, j1), of one interior line: every neighbour present.
/// The pointers are the line itself, its ±y and ±z neighbour lines, its b and (VAR) its couplings
/// c0..c5 (−x, +x, −y, +y, −z, +z) and diagonal, all offset by p, so row j sits at [2j] and its ±x
/// neighbours (the other colour) at [2j ± 1]. Written this way the loop vectorizes with unit-stride
/// loads de-interleaved in registers instead of gathers; only the stores are strided.
template <bool VAR, bool D3>
NK_FORCEINLINE void checker_span(const StencilOp& A, int64_t j0, int64_t j1, double* __restrict xc,
                                 const double* __restrict xpy, const double* __restrict xmy,
                                 const double* __restrict xpz, const double* __restrict xmz,
                                 const double* __restrict bc, const double* __restrict c0, const double* __restrict c1,
                                 const double* __restrict c2, const double* __restrict c3,
                                 const double* __restrict c4, const double* __restrict c5,
                                 const double* __restrict dg, double w) {
  const double omw = 1 - w;
  if constexpr (VAR) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t k = 2 * j;
      double s = 0;
      s += c1[k] * xc[k + 1];
      s += c3[k] * xpy[k];
      if constexpr (D3) {
        s += c5[k] * xpz[k];
        s += c4[k] * xmz[k];
      }
      s += c2[k] * xmy[k];
      s += c0[k] * xc[k - 1];
      xc[k] = sor_update(xc[k], bc[k], s, omw, w / dg[k]);
    }
  } else {
    const double cmx = A.coff[0], cpx = A.coff[1], cmy = A.coff[2], cpy = A.coff[3];
    const double cmz = D3 ? A.coff[4] : 0, cpz = D3 ? A.coff[5] : 0;
    const double wd = w / A.cdiag;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t k = 2 * j;
      double s = 0;
      s += cpx * xc[k + 1];
      s += cpy * xpy[k];
      if constexpr (D3) {
        s += cpz * xpz[k];
        s += cmz * xmz[k];
      }
      s += cmy * xmy[k];
      s += cmx * xc[k - 1];
      xc[k] = sor_update(xc[k], bc[k], s, omw, wd);
    }
  }
}

/// Relaxes the rows of colour c in line (iy, iz). Rows missing a neighbour (grid faces) take the
/// generic row update, which skips the absent couplings as the CSR twin does.
template <bool VAR, bool D3>
NK_FORCEINLINE void checker_line(const Sten<VAR, D3>& S, const double* b, double* x, double w, int c, int64_t iy,
                                 int64_t iz) {
  const StencilOp& A = S.A;
  const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
  const int64_t p = (c + iy + iz) & 1;
  const int64_t base = (iz * ny + iy) * nx;
  StencilAt a{false, false, iy > 0, iy < ny - 1, D3 && iz > 0, D3 && iz < nz - 1};
  const auto edge = [&](int64_t ix) __attribute__((always_inline)) {
    a.mx = ix > 0;
    a.px = ix < nx - 1;
    S.relax_at(base + ix, a, b, x, w);
  };
  if (!(a.my && a.py && (!D3 || (a.mz && a.pz)))) {
    for (int64_t ix = p; ix < nx; ix += 2) edge(ix);
    return;
  }
  int64_t j0 = 0, j1 = (nx - p + 1) / 2;
  if (j0 < j1 && p == 0) {
    edge(0);
    j0 = 1;
  }
  if (j0 < j1 && p + 2 * (j1 - 1) == nx - 1) {
    edge(nx - 1);
    --j1;
  }
  if (j0 >= j1) return;
  const int64_t i = base + p, n = A.n, sy = S.sy, sz = S.sz;
  const double* xpz = D3 ? x + i + sz : nullptr;
  const double* xmz = D3 ? x + i - sz : nullptr;
  if constexpr (VAR) {
    const double* v = A.voff;
    checker_span<VAR, D3>(A, j0, j1, x + i, x + i + sy, x + i - sy, xpz, xmz, b + i, v + i, v + n + i,
                          v + 2 * n + i, v + 3 * n + i, D3 ? v + 4 * n + i : nullptr,
                          D3 ? v + 5 * n + i : nullptr, A.vdiag + i, w);
  } else {
    checker_span<VAR, D3>(A, j0, j1, x + i, x + i + sy, x + i - sy, xpz, xmz, b + i, nullptr, nullptr, nullptr,
                          nullptr, nullptr, nullptr, nullptr, w);
  }
}

/// One thread's share of `levels` / 2 sweeps (one or two) over its slabs [u0, u1): everything but the
/// updates near a boundary shared with another thread (first phase), or, after the barrier, those near
/// the thread's lower boundary, on both sides of it (second phase). Update l = 0, 1, 2, 3 is red and
/// black of the first sweep, then red and black of the second. It runs on slab v at step v + l: after
/// update l − 1 has reached slab v + 1 and before update l + 1 reaches v − 1, so every row sees the
/// values the sweeps in sequence give it, and x and b are read and x written once for all of them.
/// Update l ≥ 1 on the l slabs either side of a shared boundary reads rows the other thread writes.
/// In 3-D (one sweep at a time) the black line (iy, u − 1) follows the red line (iy, u) at once: its
/// other red neighbours, in planes u − 1 and u − 2, are older, and (iy, u) is the red line's only black
/// neighbour in plane u − 1. The lines used by both then come from L1.
template <bool VAR, bool D3>
NK_CLONES void checker_pass(const StencilOp& op, const double* b, double* x, double w, int64_t u0, int64_t u1,
                            int levels, bool first_phase) {
  const Sten<VAR, D3> S(op);
  const int64_t slabs = D3 ? op.nz : op.ny;
  const auto near = [&](int l, int64_t v, int64_t B) { return B > 0 && B < slabs && v >= B - l && v < B + l; };
  const int64_t lines = D3 ? op.ny : 1;
  // checker_line is called directly, not through a lambda: a lambda would be compiled for the baseline
  // target rather than this clone's, and the line kernel would lose its vector code.
  if (!first_phase) {
    const int64_t B = u0;
    if (!(B > 0 && B < slabs)) return;
    for (int l = 1; l < levels; ++l)
      for (int64_t v = std::max<int64_t>(0, B - l); v < std::min(slabs, B + l); ++v)
        for (int64_t iy = 0; iy < lines; ++iy) {
          if constexpr (D3) checker_line(S, b, x, w, l & 1, iy, v);
          else checker_line(S, b, x, w, l & 1, v, 0);
        }
    return;
  }
  for (int64_t u = u0; u < u1 + levels - 1; ++u) {
    for (int64_t iy = 0; iy < lines; ++iy) {
      for (int l = 0; l < levels; ++l) {
        const int64_t v = u - l;
        if (v < u0 || v >= u1 || (l > 0 && (near(l, v, u0) || near(l, v, u1)))) continue;
        if constexpr (D3) checker_line(S, b, x, w, l & 1, iy, v);
        else checker_line(S, b, x, w, l & 1, v, 0);
      }
    }
  }
}

/// Runs first(t, nt) for every t, then second(t, nt) for every t, in one team with a barrier between
/// the phases. The parts of a phase never wait on each other, so a team that comes back smaller than
/// asked runs the missing members' parts as parallel_run does.
template <class F1, class F2>
void two_phase_run(int nt, F1&& first, F2&& second) {
#if defined(NUMKERN_HAVE_OPENMP)
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int got = omp_get_num_threads();
      for (int t = omp_get_thread_num(); t < nt; t += got) first(t, nt);
#pragma omp barrier
      for (int t = omp_get_thread_num(); t < nt; t += got) second(t, nt);
    }
    return;
  }
#endif
  parallel_run(nt, first);
  parallel_run(nt, second);
}

}  // namespace

template <bool VAR, bool D3>
bool checkerboard(const Sten<VAR, D3>& S, const Coloring& col) {
  const StencilOp& A = S.A;
  const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
  if (col.colors < 0 || col.colors > 2) return false;
  int64_t q = 0;
  for (int c = 0; c < 2; ++c) {
    // Read once and bounded by n, the length of order: the offsets may change while this runs.
    const int64_t end = col.offsets[std::min(c + 1, col.colors)];
    if (end > A.n) return false;
    for (int64_t iz = 0; iz < nz; ++iz) {
      for (int64_t iy = 0; iy < ny; ++iy) {
        const int64_t p = (c + iy + iz) & 1;
        const int32_t m = static_cast<int32_t>((nx - p + 1) / 2);
        if (q + m > end) return false;
        const int32_t* o = col.order + q;
        const int32_t first = static_cast<int32_t>((iz * ny + iy) * nx + p);
        int32_t diff = 0;
        for (int32_t j = 0; j < m; ++j) diff |= o[j] ^ (first + 2 * j);
        if (diff != 0) return false;
        q += m;
      }
    }
    if (q != end) return false;
  }
  return true;
}

/// Each thread owns at least 2·levels slabs so that the updates held back around different boundaries
/// never touch.
template <bool VAR, bool D3>
void checker_sweep(const Sten<VAR, D3>& S, const double* b, double* x, double w, int nt, int sweeps) {
  const StencilOp& op = S.A;
  const int levels = 2 * sweeps;
  const int64_t slabs = D3 ? op.nz : op.ny;
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, slabs / (2 * levels))));
  const auto pass = [&](int k, int T, bool first_phase) {
    size_t a, e;
    even_split(static_cast<size_t>(slabs), k, T, a, e);
    checker_pass<VAR, D3>(op, b, x, w, static_cast<int64_t>(a), static_cast<int64_t>(e), levels, first_phase);
  };
  if (t <= 1) return pass(0, 1, true);
  two_phase_run(t, [&](int k, int T) { pass(k, T, true); }, [&](int k, int T) { pass(k, T, false); });
}

template <class Op>
bool colour_sweep(const Op& A, const Coloring& col, const double* b, double* x, double w, int nt) {
  const int64_t n = A.n();
  BadIndexFlag bad;
  for (int32_t c = 0; c < col.colors; ++c) {
    const int64_t q0 = col.offsets[c], q1 = col.offsets[c + 1];
    if (!(q0 >= 0 && q0 <= q1 && q1 <= n)) return false;
    const int64_t cnt = q1 - q0;
    const int t = plan_threads(nt, static_cast<size_t>(cnt), kRowGrain / 2);
    parallel_run(t, [&](int tid, int T) {
      size_t a, e;
      even_split(static_cast<size_t>(cnt), tid, T, a, e);
      bool bad_row = false;
      for (size_t q = a; q < e; ++q) {
        const int32_t i = col.order[q0 + static_cast<int64_t>(q)];
        if (static_cast<uint32_t>(i) < static_cast<uint32_t>(n)) A.relax_row(i, b, x, w, bad_row);
        else bad_row = true;
      }
      bad.note(!bad_row);
    });
    if (bad.set()) return false;
  }
  return true;
}

#define NK_INSTANTIATE_STEN(S)                                                                        \
  template bool checkerboard(const S&, const Coloring&);                                              \
  template void checker_sweep(const S&, const double*, double*, double, int, int);
NK_INSTANTIATE_STEN(Sten2c)
NK_INSTANTIATE_STEN(Sten2v)
NK_INSTANTIATE_STEN(Sten3c)
NK_INSTANTIATE_STEN(Sten3v)
#undef NK_INSTANTIATE_STEN
#define NK_INSTANTIATE_OP(Op) \
  template bool colour_sweep(const Op&, const Coloring&, const double*, double*, double, int);
NK_RELAX_FOR_EACH_OP(NK_INSTANTIATE_OP)
#undef NK_INSTANTIATE_OP

}  // namespace detail
}  // namespace relax
}  // namespace numkern
