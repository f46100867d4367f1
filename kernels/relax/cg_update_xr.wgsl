// The CG update e += α p, r −= α q with α from the device-side solver state, fused with the
// per-workgroup partials of the new r·r (finished by scalars.wgsl cg_beta). Grid-stride; the host
// launches at most a few thousand workgroups.
#include "solver_state.wgsl"

override WG: u32 = 256;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> state: SolverState;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> e: array<f32>;
@group(0) @binding(5) var<storage, read_write> r: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

var<workgroup> sh: array<f32, WG>;

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
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      sh[lid] += sh[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[wid.x] = sh[0];
  }
}
