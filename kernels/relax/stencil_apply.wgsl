// out := A v for a stencil operator (the q = A p of conjugate gradients). Grid-stride over n.
#include "stencil_common.wgsl"

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn constant(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var p = gid.x; p < sp.n; p += nwg.x * WG) {
    out[p] = fma(sp.diag, v[p], offsum_const(p, grid_of(p)));
  }
}

@compute @workgroup_size(WG)
fn variable(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var p = gid.x; p < sp.n; p += nwg.x * WG) {
    out[p] = fma(coefs[p], v[p], offsum_var(p, grid_of(p)));
  }
}
