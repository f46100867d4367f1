// Per-workgroup partial sums of x·y over one chunk. The host adds the partials in f64, so the f32
// rounding error is that of a grid-stride run plus a log2(WG)-deep tree, not of an n-term sum.
// The host launches at most a few thousand workgroups, so the dispatch stays one-dimensional.
#include "workgroup_reduce.wgsl"

override WG: u32 = 256;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  var acc = 0.0;
  let stride = nwg.x * WG;
  for (var i = wid.x * WG + lid; i < p.n; i += stride) {
    acc = fma(x[i], y[i], acc);
  }
  let total = workgroup_sum(acc, lid);
  if (lid == 0u) {
    partials[wid.x] = total;
  }
}
