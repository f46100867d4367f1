// Moments of the pieces of a ragged batch: piece s holds values[offsets[s] .. offsets[s+1]).
// Output per piece: (sum, m, Σ(v − m), Σ(v − m)²) with m = sum / count rounded to f32.
// The host turns these into mean = m + Σ(v − m)/count and M2 = Σ(v − m)² − (Σ(v − m))²/count
// (the corrected two-pass algorithm, Chan, Golub & LeVeque 1983), which cancels the error of the
// f32 mean, and merges pieces of a segment that was split across chunks.
// Empty pieces never reach the device: the host skips them.
//
// Two entry points, same bindings: per_group gives each piece a workgroup (long pieces),
// per_thread gives each piece one invocation (many short pieces, where a workgroup would idle).
#include "workgroup_reduce.wgsl"
#include "grid.wgsl"

override WG: u32 = 256;

struct Params {
  npieces: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> moments: array<vec4f>;

@compute @workgroup_size(WG)
fn per_group(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
             @builtin(num_workgroups) nwg: vec3u) {
  // The piece index depends only on the workgroup, so this early return is uniform.
  let s = group_index(wid, nwg);
  if (s >= p.npieces) {
    return;
  }
  let start = offsets[s];
  let end = offsets[s + 1u];

  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    acc += values[i];
  }
  // Every invocation centres its values on m below, so the total goes to all of them.
  let total = workgroup_sum_uniform(acc, lid);
  let m = total / f32(end - start);

  var d1 = 0.0;
  var d2 = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let d = values[i] - m;
    d1 += d;
    d2 = fma(d, d, d2);
  }
  let sum1 = workgroup_sum(d1, lid);
  let sum2 = workgroup_sum(d2, lid);
  if (lid == 0u) {
    moments[s] = vec4f(total, m, sum1, sum2);
  }
}

@compute @workgroup_size(WG)
fn per_thread(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = invocation_index(gid, nwg, WG);
  if (s >= p.npieces) {
    return;
  }
  let start = offsets[s];
  let end = offsets[s + 1u];
  var total = 0.0;
  for (var i = start; i < end; i++) {
    total += values[i];
  }
  let m = total / f32(end - start);
  var d1 = 0.0;
  var d2 = 0.0;
  for (var i = start; i < end; i++) {
    let d = values[i] - m;
    d1 += d;
    d2 = fma(d, d, d2);
  }
  moments[s] = vec4f(total, m, d1, d2);
}
