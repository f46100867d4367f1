// y := alpha * x + y over one chunk; one invocation per element.
// Dispatches over 65535 workgroups are folded into two dimensions by the host (dispatch.ts).
#include "grid.wgsl"

override WG: u32 = 256;

struct Params {
  n: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation_index(gid, nwg, WG);
  if (i < p.n) {
    // fma rounds once where the device fuses it, matching round(alpha*x + y) computed in f64.
    y[i] = fma(p.alpha, x[i], y[i]);
  }
}
