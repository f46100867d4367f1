// Batched damped Jacobi: one workgroup per system, the whole inner solve of a refinement round in
// workgroup memory, ping-ponging the iterate between wv[0 ..] and wv[2·CAP ..]. Same update as
// stencil_jacobi.wgsl and csr_jacobi.wgsl.
#include "batch_stationary.wgsl"

fn sweep(sys: System, lid: u32, cur: u32) -> u32 {
  let dst = select(0u, 2u * CAP, cur == 0u);
  let w = sys.omega;
  for (var i = lid; i < sys.n; i += WG) {
    let sd = row_split(sys, i, cur);
    let ei = wv[cur + i];
    wv[dst + i] = fma(w, (wv[CAP + i] - fma(sd.y, ei, sd.x)) / sd.y, ei);
  }
  workgroupBarrier();
  return dst;
}
