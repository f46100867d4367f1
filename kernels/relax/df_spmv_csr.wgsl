// q := A p in double-f32 for a CSR matrix whose values travel as (hi, lo) pairs, hi = fl32(a),
// lo = fl32(a − hi), so the device multiplies by A to about 48 bits, not by A rounded to f32
// (which alone costs CG on an ill-conditioned A as much as f32 vectors do: docs/relax.md §9).
// Row sums in ascending column order. Grid-stride over rows.
#include "df_arith.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> dp: DfParams;
@group(0) @binding(1) var<storage, read> rowPtr: array<i32>;
@group(0) @binding(2) var<storage, read> colIdx: array<i32>;
@group(0) @binding(3) var<storage, read> values: array<vec2f>;
@group(0) @binding(4) var<storage, read> p: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> q: array<vec2f>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  df_begin(dp.one);
  for (var i = gid.x; i < dp.n; i += nwg.x * WG) {
    var acc = vec2f(0.0);
    let end = u32(rowPtr[i + 1u]);
    for (var k = u32(rowPtr[i]); k < end; k++) {
      acc = df_add(acc, df_mul(values[k], p[u32(colIdx[k])]));
    }
    q[i] = acc;
  }
}
