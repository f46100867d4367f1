// Per-workgroup partial sums of x·y in double-f32 (finished by df_cg_scalars.wgsl). Grid-stride;
// the host launches at most a few thousand workgroups.
#include "df_arith.wgsl"

override WG: u32 = 256;

#include "df_reduce.wgsl"

@group(0) @binding(0) var<uniform> dp: DfParams;
@group(0) @binding(1) var<storage, read> x: array<vec2f>;
@group(0) @binding(2) var<storage, read> y: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec2f>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  df_begin(dp.one);
  var acc = vec2f(0.0);
  for (var i = wid.x * WG + lid; i < dp.n; i += nwg.x * WG) {
    acc = df_add(acc, df_mul(x[i], y[i]));
  }
  let total = df_workgroup_sum(acc, lid);
  if (lid == 0u) {
    partials[wid.x] = total;
  }
}
