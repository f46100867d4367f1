// The inner loop of a batched stationary solve (included by batch_jacobi.wgsl and
// batch_redblack.wgsl, which define `sweep`). Workgroup memory: the iterate at wv[cur ..], the
// right-hand side at wv[CAP ..]. The loop mirrors the single-system device loop in
// src/backends/webgpu/relax/device-solve.ts: test at the oracle's check points, stop at the inner tolerance,
// the divergence limit, a stall, or the round's update budget.
#include "batch_common.wgsl"

// ‖rhs − A e‖² for the iterate at wv[cur ..] (uniform).
fn residual2(sys: System, lid: u32, cur: u32) -> f32 {
  var acc = 0.0;
  for (var i = lid; i < sys.n; i += WG) {
    let sd = row_split(sys, i, cur);
    let r = wv[CAP + i] - fma(sd.y, wv[cur + i], sd.x);
    acc = fma(r, r, acc);
  }
  return workgroup_sum_uniform(acc, lid);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let s = group_index(wid, nwg);
  if (!has_round(s)) {
    return;
  }
  let sys = systems[s];
  for (var i = lid; i < sys.n; i += WG) {
    wv[CAP + i] = vecs[sys.vecOff + i];
    wv[i] = 0.0;
  }
  workgroupBarrier();

  var cur = 0u;
  var k = 0u;
  var flag = END_PAUSED;
  var norm2 = 0.0;
  var best = 3.0e38;
  var kBest = 0u;
  loop {
    cur = sweep(sys, lid, cur);
    k += 1u;
    if (is_check(sys, k)) {
      norm2 = residual2(sys, lid, cur);
      flag = check_end(sys, k, norm2, &best, &kBest);
      if (flag != 0u) {
        break;
      }
    } else if (k == sys.budget) {
      flag = END_PAUSED;
      break;
    }
  }

  end_round(sys, s, lid, cur, Outcome(norm2, k, flag, 0u));
}
