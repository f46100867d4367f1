// Finishes a reduction on the device: one workgroup adds the per-workgroup partials of the
// previous dispatch and updates the solver's scalars, so a check reads back a few bytes and the
// CG step sizes never leave the device. Entry points:
//   norm      state.norm2 = Σ partials                        (stationary convergence test)
//   cg_start  state.rr = state.norm2 = Σ partials, k = 0, no breakdown
//   cg_alpha  pq = Σ partials;  α = rr / pq, or a breakdown when pq ≤ 0 (A is not SPD)
//   cg_beta   rr' = Σ partials; β = rr' / rr, rr = norm2 = rr', k += 1
// A residual that is exactly zero makes later steps no-ops (α = β = 0) that still count, as they
// would in the oracle until its next test.
#include "solver_state.wgsl"
#include "../core/workgroup_reduce.wgsl"

override WG: u32 = 256;

struct ScalarParams {
  groups: u32,
}

@group(0) @binding(0) var<uniform> params: ScalarParams;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: SolverState;

// Σ partials[0 .. groups), valid in invocation 0.
fn total(lid: u32) -> f32 {
  var acc = 0.0;
  for (var g = lid; g < params.groups; g += WG) {
    acc += partials[g];
  }
  return workgroup_sum(acc, lid);
}

@compute @workgroup_size(WG)
fn norm(@builtin(local_invocation_index) lid: u32) {
  let t = total(lid);
  if (lid == 0u) {
    state.norm2 = t;
  }
}

@compute @workgroup_size(WG)
fn cg_start(@builtin(local_invocation_index) lid: u32) {
  let t = total(lid);
  if (lid == 0u) {
    state.norm2 = t;
    state.rr = t;
    state.alpha = 0.0;
    state.beta = 0.0;
    state.k = 0u;
    state.flag = 0u;
  }
}

@compute @workgroup_size(WG)
fn cg_alpha(@builtin(local_invocation_index) lid: u32) {
  let pq = total(lid);
  if (lid == 0u) {
    let rr = state.rr;
    if (state.flag != 0u || rr == 0.0) {
      state.alpha = 0.0;
    } else if (!(pq > 0.0)) {
      // pᵀAp ≤ 0: CG has broken down, as the oracle's krylov() detects it.
      state.flag = FLAG_BREAKDOWN;
      state.alpha = 0.0;
    } else {
      state.alpha = rr / pq;
    }
  }
}

@compute @workgroup_size(WG)
fn cg_beta(@builtin(local_invocation_index) lid: u32) {
  let rrNew = total(lid);
  if (lid == 0u) {
    if (state.flag != 0u) {
      state.beta = 0.0;
    } else {
      let rr = state.rr;
      state.beta = select(rrNew / rr, 0.0, rr == 0.0);
      state.rr = rrNew;
      state.norm2 = rrNew;
      state.k += 1u;
    }
  }
}
