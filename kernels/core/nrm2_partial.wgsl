// Per-workgroup partials of ‖x‖₂ in scaled form (scale, ssq) with ‖part‖₂ = scale·√ssq, the
// LAPACK dnrm2 recurrence: every square is of a ratio ≤ 1, so no finite f32 input overflows or
// loses its tiny entries to underflow of x². The host merges the partials in f64.

override WG: u32 = 256;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec2f>;

var<workgroup> sh: array<vec2f, WG>;

// Merges two (scale, ssq) pairs onto the larger scale; ratios ≤ 1 keep every product finite.
fn merge(a: vec2f, b: vec2f) -> vec2f {
  let s = max(a.x, b.x);
  if (s == 0.0) {
    return vec2f(0.0, 0.0);
  }
  let ra = a.x / s;
  let rb = b.x / s;
  return vec2f(s, a.y * ra * ra + b.y * rb * rb);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  var acc = vec2f(0.0, 0.0);
  let stride = nwg.x * WG;
  for (var i = wid.x * WG + lid; i < p.n; i += stride) {
    acc = merge(acc, vec2f(abs(x[i]), 1.0));
  }
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      sh[lid] = merge(sh[lid], sh[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[wid.x] = sh[0];
  }
}
