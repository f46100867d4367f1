// y := A x for a block of CSR rows; one invocation per row (scalar CSR).
// The host hands over a block of rows whose column indices and values fit one binding; rowPtr
// keeps its absolute offsets and nzBase rebases them onto the block's slice.
#include "grid.wgsl"

override WG: u32 = 256;

struct Params {
  nrows: u32,
  nzBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rowPtr: array<i32>;
@group(0) @binding(2) var<storage, read> colIdx: array<i32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = invocation_index(gid, nwg, WG);
  if (row >= p.nrows) {
    return;
  }
  let start = u32(rowPtr[row]) - p.nzBase;
  let end = u32(rowPtr[row + 1u]) - p.nzBase;
  var acc = 0.0;
  for (var k = start; k < end; k++) {
    acc = fma(values[k], x[u32(colIdx[k])], acc);
  }
  y[row] = acc;
}
