// One damped Jacobi sweep on a stencil grid, v → out:
//   out_p = v_p + ω·(rhs_p − (A v)_p) / a_pp,
// the update x ← x + ω D⁻¹(b − A x) of src/backends/js/relax.ts. Every node reads only the old
// iterate, so the host ping-pongs two buffers. Grid-stride over the n nodes.
#include "stencil_common.wgsl"

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn constant(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = sp.omega;
  let d = sp.diag;
  for (var p = gid.x; p < sp.n; p += nwg.x * WG) {
    let ax = fma(d, v[p], offsum_const(p, grid_of(p)));
    out[p] = fma(w, (rhs[p] - ax) / d, v[p]);
  }
}

@compute @workgroup_size(WG)
fn variable(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = sp.omega;
  for (var p = gid.x; p < sp.n; p += nwg.x * WG) {
    let d = coefs[p];
    let ax = fma(d, v[p], offsum_var(p, grid_of(p)));
    out[p] = fma(w, (rhs[p] - ax) / d, v[p]);
  }
}
