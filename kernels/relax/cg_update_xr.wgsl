// The CG update e += α p, r −= α q with α from the device-side solver state, fused with the
// per-workgroup partials of the new r·r (finished by scalars.wgsl cg_beta). Grid-stride; the host
// launches at most a few thousand workgroups.
#include "cg_common.wgsl"
#include "../core/workgroup_reduce.wgsl"

@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> e: array<f32>;
@group(0) @binding(5) var<storage, read_write> r: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let alpha = state.alpha;
  var acc = 0.0;
  for (var i = wid.x * WG + lid; i < params.n; i += nwg.x * WG) {
    e[i] = fma(alpha, p[i], e[i]);
    let ri = fma(-alpha, q[i], r[i]);
    r[i] = ri;
    acc = fma(ri, ri, acc);
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    partials[wid.x] = total;
  }
}
