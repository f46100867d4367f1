// Moments of the pieces of a ragged batch: piece s holds values[offsets[s] .. offsets[s+1]).
// Output per piece: (sum, m, Σ(v − m), Σ(v − m)²) with m = sum / count rounded to f32.
// The host turns these into mean = m + Σ(v − m)/count and M2 = Σ(v − m)² − (Σ(v − m))²/count
// (the corrected two-pass algorithm, Chan, Golub & LeVeque 1983), which cancels the error of the
// f32 mean, and merges pieces of a segment that was split across chunks.
// Empty pieces never reach the device: the host skips them.
//
// Two entry points, same bindings: per_group gives each piece a workgroup (long pieces),
// per_thread gives each piece one invocation (many short pieces, where a workgroup would idle).

override WG: u32 = 256;

struct Params {
  npieces: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> moments: array<vec4f>;

var<workgroup> shA: array<f32, WG>;
var<workgroup> shB: array<f32, WG>;

@compute @workgroup_size(WG)
fn per_group(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
             @builtin(num_workgroups) nwg: vec3u) {
  // The piece index depends only on the workgroup, so this early return is uniform.
  let s = wid.y * nwg.x + wid.x;
  if (s >= p.npieces) {
    return;
  }
  let start = offsets[s];
  let end = offsets[s + 1u];

  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    acc += values[i];
  }
  shA[lid] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      shA[lid] += shA[lid + h];
    }
    workgroupBarrier();
  }
  let total = shA[0];
  let m = total / f32(end - start);

  var d1 = 0.0;
  var d2 = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let d = values[i] - m;
    d1 += d;
    d2 = fma(d, d, d2);
  }
  // Every invocation has read shA[0] above; the barrier keeps the next writes behind those reads.
  workgroupBarrier();
  shA[lid] = d1;
  shB[lid] = d2;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      shA[lid] += shA[lid + h];
      shB[lid] += shB[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    moments[s] = vec4f(total, m, shA[0], shB[0]);
  }
}

@compute @workgroup_size(WG)
fn per_thread(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = gid.y * nwg.x * WG + gid.x;
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
