// One colour of a red-black SOR sweep on a stencil grid, in place:
//   v_p ← (1 − ω)·v_p + ω·(rhs_p − σ_p) / a_pp,   σ_p = Σ_(q≠p) a_pq v_q,
// the update of src/backends/js/relax.ts. Nodes of one colour couple only to the other colour, so
// all of them update at once and the result equals the sequential sweep in colour order
// (docs/relax.md §1.1 with the red-black ordering). The colour comes from the node's parity
// (i + j + k) mod 2, computed here: no index buffers. Grid-stride over sp.slots slots.
#include "stencil_common.wgsl"

@compute @workgroup_size(WG)
fn constant(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = sp.omega;
  for (var t = gid.x; t < sp.slots; t += nwg.x * WG) {
    let p = colour_node(t);
    if (p < sp.n) {
      let s = offsum_const(p, grid_of(p));
      v[p] = (1.0 - w) * v[p] + w * ((rhs[p] - s) / sp.diag);
    }
  }
}

@compute @workgroup_size(WG)
fn variable(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = sp.omega;
  for (var t = gid.x; t < sp.slots; t += nwg.x * WG) {
    let p = colour_node(t);
    if (p < sp.n) {
      let s = offsum_var(p, grid_of(p));
      v[p] = (1.0 - w) * v[p] + w * ((rhs[p] - s) / coefs[p]);
    }
  }
}
