// SRHT, step 1 of a block h (B = 2^bits rows) and a panel of `cols` columns: Y[π_h(l), c] = σ_g·X[r, c]
// for the chunk's rows r, g = rowBase + r the global row, l = g − h·B its place in the block. σ_g: −1
// iff bit g mod 32 of word ⌊g/32⌋ of STREAM_SRHT_SIGN is set. π_h: the Feistel network of
// docs/sketch.md §2.3 with T_r[R] = word (h·4 + r)·2^half + R of STREAM_SRHT_PERM. Y is zeroed by the host.
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

fn feistel(x0: u32) -> u32 {
  let bits = p.bits;
  if (bits == 0u) {
    return 0u;
  }
  var x = x0;
  for (var r = 0u; r < FEISTEL_ROUNDS; r++) {
    let s = select(bits - p.half, p.half, (r & 1u) == 0u);
    let t = bits - s;
    let R = x & ((1u << s) - 1u);
    let L = x >> s;
    let mask = (1u << t) - 1u;
    // (h·4 + r)·2^half + R: the low half bits of the product are 0, so R is or-ed in.
    let hr = p.h * FEISTEL_ROUNDS + r;
    var j = vec2u(hr, 0u);
    if (p.half > 0u) {
      j = vec2u(hr << p.half, hr >> (32u - p.half));
    }
    j.x = j.x | R;
    let T = sk_word(j, STREAM_SRHT_PERM);
    x = (R << t) | ((L ^ T) & mask);
  }
  return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = group_index(wid, nwg) * WG + lid;
  if (r >= p.rows) {
    return;
  }
  let g = p.rowBase + r;
  let l = g - (p.h << p.bits);
  let pos = feistel(l);
  let w = sk_word(vec2u(g >> 5u, 0u), STREAM_SRHT_SIGN);
  let neg = ((w >> (g & 31u)) & 1u) == 1u;
  for (var c = 0u; c < p.cols; c++) {
    let v = X[r * p.cols + c];
    Y[pos * p.cols + c] = select(v, -v, neg);
  }
}
