// First policy-loss pass when a mask is given: L_i = active positions of each sequence, which every
// aggregation weight needs before a single gradient can be written (src/pg/ops.ts: PgAggregation).
// Each invocation takes COUNT_WORDS mask words (4·COUNT_WORDS consecutive positions) and adds its
// run to counts[i] once per sequence it touches, so there are about T/16 atomics, not T.
#include "loss_common.wgsl"
#include "../core/grid.wgsl"

@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = invocation_index(gid, nwg, WG);
  let k0 = t * COUNT_WORDS * 4u;
  if (k0 >= lp.count) {
    return;
  }
  let k1 = min(k0 + COUNT_WORDS * 4u, lp.count);
  var i = seq_of(lp.base + k0);
  var run = 0u;
  for (var kl = k0; kl < k1; kl += 1u) {
    let k = lp.base + kl;
    let j = seq_advance(i, k);
    if (j != i) {
      if (run != 0u) {
        atomicAdd(&counts[i], run);
      }
      run = 0u;
      i = j;
    }
    if (is_active(i, k, kl)) {
      run += 1u;
    }
  }
  if (run != 0u) {
    atomicAdd(&counts[i], run);
  }
}
