// One colour class of a multicolour SOR sweep on a CSR matrix, in place:
//   v_i ← (1 − ω)·v_i + ω·(rhs_i − σ_i) / a_ii   for the rows order[first .. first + count).
// The classes come from multicolorOrdering (src/core/coloring.ts): rows of one class never couple,
// so they update at once and the sweep equals the oracle's sequential one in colouring order.
// Grid-stride over the class's rows.
#include "csr_common.wgsl"

@group(0) @binding(6) var<storage, read> order: array<i32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = cp.omega;
  for (var t = gid.x; t < cp.count; t += nwg.x * WG) {
    let i = u32(order[cp.first + t]);
    let sd = row_split(i);
    v[i] = (1.0 - w) * v[i] + w * ((rhs[i] - sd.x) / sd.y);
  }
}
