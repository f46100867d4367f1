// sor-redblack sweeps: any colouring followed through its order array, and a stencil coloured as the
// checkerboard relaxed by parity (redblack.cc explains the fused pass).
#pragma once

#include <type_traits>

#include "numkern/relax.hpp"
#include "stencil_operator.hpp"

namespace numkern {
namespace relax {
namespace detail {

template <class Op>
struct IsStencil : std::false_type {};
template <bool VAR, bool D3>
struct IsStencil<Sten<VAR, D3>> : std::true_type {};

/// Whether the colouring is exactly the checkerboard in multicolorOrdering's layout. The order array
/// is compared entry by entry, so any other colouring keeps the generic path and its own order.
template <bool VAR, bool D3>
bool checkerboard(const Sten<VAR, D3>& S, const Coloring& col);

/// `sweeps` (one, or two on a 2-D grid) red-black sweeps of a stencil whose colouring is the
/// checkerboard (checkerboard() said so), on up to nt threads.
template <bool VAR, bool D3>
void checker_sweep(const Sten<VAR, D3>& S, const double* b, double* x, double w, int nt, int sweeps);

/// One multicolour sweep: colours in order, rows of a colour split statically between threads. False,
/// and the sweep cut short, when the offsets are not a partition of [0, n) as read or an order entry
/// is not a row (that row is skipped).
template <class Op>
bool colour_sweep(const Op& A, const Coloring& col, const double* b, double* x, double w, int nt);

}  // namespace detail
}  // namespace relax
}  // namespace numkern
