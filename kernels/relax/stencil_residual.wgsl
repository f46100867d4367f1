// Per-workgroup partial sums of ‖rhs − A v‖² on a stencil grid, for the convergence test every
// checkEvery updates. The residual is formed and squared on the fly: nothing of size n is written.
// The host launches at most a few thousand workgroups (grid-stride) and finishes the sum on the
// device (scalars.wgsl), so only the final value crosses the bus.
#include "stencil_common.wgsl"
#include "../core/workgroup_reduce.wgsl"

@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn finish(acc: f32, lid: u32, wid: u32) {
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    partials[wid] = total;
  }
}

@compute @workgroup_size(WG)
fn constant(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
            @builtin(num_workgroups) nwg: vec3u) {
  let d = sp.diag;
  var acc = 0.0;
  for (var p = wid.x * WG + lid; p < sp.n; p += nwg.x * WG) {
    let r = rhs[p] - fma(d, v[p], offsum_const(p, grid_of(p)));
    acc = fma(r, r, acc);
  }
  finish(acc, lid, wid.x);
}

@compute @workgroup_size(WG)
fn variable(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
            @builtin(num_workgroups) nwg: vec3u) {
  var acc = 0.0;
  for (var p = wid.x * WG + lid; p < sp.n; p += nwg.x * WG) {
    let r = rhs[p] - fma(coefs[p], v[p], offsum_var(p, grid_of(p)));
    acc = fma(r, r, acc);
  }
  finish(acc, lid, wid.x);
}
