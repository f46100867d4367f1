// Batched red-black (multicolour) SOR: one workgroup per system, the whole inner solve of a
// refinement round in workgroup memory. A sweep updates one colour class at a time, a barrier
// between classes: stencil classes are the parities (i + j + k) mod 2, CSR classes come from
// multicolorOrdering (src/core/coloring.ts) through `ints`. Same update as stencil_sor_colour.wgsl.
#include "batch_stationary.wgsl"

fn relax_row(sys: System, i: u32) {
  let sd = row_split(sys, i, 0u);
  let w = sys.omega;
  wv[i] = (1.0 - w) * wv[i] + w * ((wv[CAP + i] - sd.x) / sd.y);
}

fn sweep(sys: System, lid: u32, cur: u32) -> u32 {
  if (sys.kind == KIND_CSR) {
    for (var c = 0u; c < sys.colours; c++) {
      let lo = u32(ints[sys.colourOff + c]);
      let hi = u32(ints[sys.colourOff + c + 1u]);
      for (var t = lo + lid; t < hi; t += WG) {
        relax_row(sys, u32(ints[sys.orderOff + t]));
      }
      workgroupBarrier();
    }
  } else {
    let nx = sys.nx;
    let ny = sys.ny;
    for (var c = 0u; c < 2u; c++) {
      for (var i = lid; i < sys.n; i += WG) {
        if (((i % nx) + (i / nx) % ny + i / (nx * ny)) % 2u == c) {
          relax_row(sys, i);
        }
      }
      workgroupBarrier();
    }
  }
  return cur;
}
