// Per-workgroup partial sums of ‖rhs − A v‖² for a CSR matrix (the convergence test every
// checkEvery updates); the residual is formed and squared on the fly. scalars.wgsl finishes the sum
// on the device. Grid-stride over rows, at most a few thousand workgroups.
#include "csr_common.wgsl"
#include "../core/workgroup_reduce.wgsl"

@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  var acc = 0.0;
  for (var i = wid.x * WG + lid; i < cp.n; i += nwg.x * WG) {
    let sd = row_split(i);
    let r = rhs[i] - fma(sd.y, v[i], sd.x);
    acc = fma(r, r, acc);
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    partials[wid.x] = total;
  }
}
