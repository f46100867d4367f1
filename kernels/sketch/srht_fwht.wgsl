// SRHT, one stage of the fast Walsh–Hadamard transform of Y (B rows × cols, row-major), half-length
// `stride`: for each pair (i, i + stride) with i mod 2·stride < stride and each column, (x, y) := (x + y,
// x − y) — the oracle's butterflies (src/backends/js/sketch/srht.ts: fwht), stage by stage, one
// dispatch each. Invocation q < (B/2)·cols: pair ⌊q/cols⌋, column q mod cols.
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * WG + lid;
  let B = 1u << p.bits;
  if (q >= (B >> 1u) * p.cols) {
    return;
  }
  let pair = q / p.cols;
  let c = q % p.cols;
  let st = p.stride;
  let i = (pair / st) * 2u * st + (pair % st);
  let a = i * p.cols + c;
  let b = (i + st) * p.cols + c;
  let x = Y[a];
  let y = Y[b];
  Y[a] = x + y;
  Y[b] = x - y;
}
