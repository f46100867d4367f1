// SRHT, the sampled rows of a transformed block: G[k, c] = Y[lo[k], c] for the `count` sampled rows
// (lo[k] = p_k mod B; the host applies the block sign (−1)^popcount(⌊p_k/B⌋ & h) and adds in f64).
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> lo: array<u32>;
@group(0) @binding(3) var<storage, read_write> G: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * WG + lid;
  if (q >= p.count * p.cols) {
    return;
  }
  let k = q / p.cols;
  let c = q % p.cols;
  G[q] = Y[lo[k] * p.cols + c];
}
