// Batched conjugate gradients: one workgroup per system, the whole inner solve of a refinement
// round in workgroup memory (e, r, p, q at wv[0 ..], wv[CAP ..], wv[2·CAP ..], wv[3·CAP ..]).
// The recurrence residual r·r decides the inner test, as in the oracle's krylov(); pᵀAp ≤ 0 is a
// breakdown (A not SPD).
#include "batch_common.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let s = group_index(wid, nwg);
  if (!has_round(s)) {
    return;
  }
  let sys = systems[s];
  let n = sys.n;
  let R = CAP;
  let P = 2u * CAP;
  let Q = 3u * CAP;
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) {
    let ri = vecs[sys.vecOff + i];
    wv[i] = 0.0;
    wv[R + i] = ri;
    wv[P + i] = ri;
    acc = fma(ri, ri, acc);
  }
  var rr = workgroup_sum_uniform(acc, lid);

  var k = 0u;
  var flag = END_PAUSED;
  var norm2 = rr;
  var best = 3.0e38;
  var kBest = 0u;
  loop {
    for (var i = lid; i < n; i += WG) {
      let sd = row_split(sys, i, P);
      wv[Q + i] = fma(sd.y, wv[P + i], sd.x);
    }
    workgroupBarrier();
    acc = 0.0;
    for (var i = lid; i < n; i += WG) {
      acc = fma(wv[P + i], wv[Q + i], acc);
    }
    let pq = workgroup_sum_uniform(acc, lid);
    if (rr != 0.0 && !(pq > 0.0)) {
      flag = END_BREAKDOWN;
      break;
    }
    // An exactly zero residual makes the remaining steps no-ops until the next test.
    let alpha = select(rr / pq, 0.0, rr == 0.0);
    acc = 0.0;
    for (var i = lid; i < n; i += WG) {
      wv[i] = fma(alpha, wv[P + i], wv[i]);
      let ri = fma(-alpha, wv[Q + i], wv[R + i]);
      wv[R + i] = ri;
      acc = fma(ri, ri, acc);
    }
    let rrNew = workgroup_sum_uniform(acc, lid);
    k += 1u;
    if (is_check(sys, k)) {
      norm2 = rrNew;
      flag = check_end(sys, k, norm2, &best, &kBest);
      if (flag != 0u) {
        break;
      }
    } else if (k == sys.budget) {
      flag = END_PAUSED;
      break;
    }
    let beta = select(rrNew / rr, 0.0, rr == 0.0);
    rr = rrNew;
    for (var i = lid; i < n; i += WG) {
      wv[P + i] = fma(beta, wv[P + i], wv[R + i]);
    }
    workgroupBarrier();
  }

  // Breakdown leaves e as it was after the last completed step, like the oracle's x.
  end_round(sys, s, lid, 0u, Outcome(norm2, k, flag, 0u));
}
