// Workgroup tree sum of double-f32 values (included, not a kernel itself): workgroup_reduce.wgsl's
// log2(WG)-deep order with df_add. The including file declares WG (a power of two) and includes
// df_arith.wgsl. Call from uniform control flow: it holds barriers.

var<workgroup> df_red: array<vec2f, WG>;

// Σ over the workgroup of each invocation's `x`, valid in invocation 0.
fn df_workgroup_sum(x: vec2f, lid: u32) -> vec2f {
  df_red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      df_red[lid] = df_add(df_red[lid], df_red[lid + s]);
    }
    workgroupBarrier();
  }
  var total = vec2f(0.0);
  if (lid == 0u) {
    total = df_red[0];
  }
  return total;
}
