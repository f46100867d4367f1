// Countsketch and sparse-sign: SA[k, c] += Σ ±A[r, c] over the entries of bucket k (the chunk's rows r
// whose column of S has a nonzero in row k, listed by the host in increasing r, sign in SIGN_BIT), on
// top of what SA holds. One workgroup per (row k of this k-range, WG columns); grid kCount·colTiles.
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> ptr: array<u32>;
@group(0) @binding(3) var<storage, read> entries: array<u32>;
@group(0) @binding(4) var<storage, read_write> SA: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = group_index(wid, nwg);
  if (gi >= p.groups) {
    return;
  }
  let kl = gi / p.colTiles;
  let c = (gi % p.colTiles) * WG + lid;
  if (c >= p.cols) {
    return;
  }
  let k = p.kBase + kl;
  var acc = SA[kl * p.cols + c];
  let e1 = ptr[k + 1u];
  for (var e = ptr[k]; e < e1; e++) {
    let v = entries[e];
    let a = A[(v & ~SIGN_BIT) * p.cols + c];
    acc = acc + select(a, -a, (v & SIGN_BIT) != 0u);
  }
  SA[kl * p.cols + c] = acc;
}
