// The CG direction update p = r + β p, β from the device-side solver state. Grid-stride.
#include "cg_common.wgsl"

@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> p: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let beta = state.beta;
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    p[i] = fma(beta, p[i], r[i]);
  }
}
