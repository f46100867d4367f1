// The inner loop of a batched stationary solve (included by batch_jacobi.wgsl and
// batch_redblack.wgsl, which define `sweep`). Workgroup memory: the iterate at wv[cur ..], the
// right-hand side at wv[CAP ..]. The loop mirrors the single-system device loop in
// src/backends/webgpu/relax.ts: test at the oracle's check points, stop at the inner tolerance,
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
  return wg_sum(acc, lid);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let s = system_index(wid, nwg);
  if (s >= bp.count) {
    return;
  }
  let sys = systems[s];
  if (sys.budget == 0u) {
    return;
  }
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
    let atEnd = k == sys.budget;
    if (is_check(sys, k)) {
      norm2 = residual2(sys, lid, cur);
      if (norm2 <= sys.eta2) {
        flag = END_TOLERANCE;
        break;
      }
      if (!(norm2 <= sys.div2)) {
        flag = END_DIVERGED;
        break;
      }
      if (norm2 < best) {
        best = norm2;
        kBest = k;
      } else if (k - kBest >= bp.stall) {
        flag = END_STALLED;
        break;
      }
      if (atEnd) {
        flag = END_BUDGET;
        break;
      }
    } else if (atEnd) {
      flag = END_PAUSED;
      break;
    }
  }

  for (var i = lid; i < sys.n; i += WG) {
    vecs[sys.vecOff + i] = wv[cur + i];
  }
  if (lid == 0u) {
    outcomes[s] = Outcome(norm2, k, flag, 0u);
  }
}
