// Countsketch and sparse-sign: the s nonzeros of column g = rowBase + r of S₀ for each row r of the
// chunk, as out[r·s + t] = row | SIGN_BIT·(sign is −1). Words w_u = word 2s·g + u of STREAM_SPARSE;
// J = m − s + t, row = ⌊w_{2t}·(J + 1)/2³²⌋, or J when already chosen (Floyd); sign −1 iff w_{2t+1} ≥ 2³¹.
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = group_index(wid, nwg) * WG + lid;
  if (r >= p.rows) {
    return;
  }
  let s = p.s;
  let base = mul64(2u * s, p.rowBase + r);
  var cached = vec2u(0xffffffffu, 0xffffffffu);
  var blk = vec4u();
  for (var t = 0u; t < s; t++) {
    var w = vec2u();
    for (var u = 0u; u < 2u; u++) {
      let j = add64(base, 2u * t + u);
      let q = shr64(j, 2u);
      if (q.x != cached.x || q.y != cached.y) {
        blk = sk_block(q, STREAM_SPARSE);
        cached = q;
      }
      w[u] = blk[j.x & 3u];
    }
    let J = p.m - s + t;
    var row = mulhilo32(w.x, J + 1u).x;
    for (var u = 0u; u < t; u++) {
      if ((out[r * s + u] & ~SIGN_BIT) == row) {
        row = J;
        break;
      }
    }
    out[r * s + t] = row | select(0u, SIGN_BIT, w.y >= 0x80000000u);
  }
}
