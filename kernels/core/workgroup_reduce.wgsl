// Workgroup tree sum (included, not a kernel itself). The including file declares WG, its workgroup
// size: a power of two (the host checks it), so halving reaches every element. Every kernel that
// sums across a workgroup goes through here, so all of them add in the same log2(WG)-deep order.
// Call both functions from uniform control flow: they hold barriers.

var<workgroup> wg_red: array<f32, WG>;
var<workgroup> wg_red_out: f32;

// Σ over the workgroup of each invocation's `x`, in invocation 0; the others get 0. Only invocation 0
// reads the total, so calls may follow each other without a barrier in between.
fn workgroup_sum(x: f32, lid: u32) -> f32 {
  wg_red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      wg_red[lid] += wg_red[lid + s];
    }
    workgroupBarrier();
  }
  var total = 0.0;
  if (lid == 0u) {
    total = wg_red[0];
  }
  return total;
}

// The same sum in every invocation, as a uniform value that may steer loops holding barriers. It
// travels through its own variable, not wg_red[0], which the next call overwrites before its first
// barrier: invocation 0 writes wg_red_out again only after that barrier, which every invocation
// reaches after reading it.
fn workgroup_sum_uniform(x: f32, lid: u32) -> f32 {
  let total = workgroup_sum(x, lid);
  if (lid == 0u) {
    wg_red_out = total;
  }
  return workgroupUniformLoad(&wg_red_out);
}
