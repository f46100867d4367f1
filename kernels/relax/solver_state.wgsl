// The scalars a device-resident solve keeps on the device (included, not a kernel itself). The host
// reads the first 24 bytes at a convergence check and nothing else until the round ends.
struct SolverState {
  // squared residual norm at the last check (stationary) or the recurrence r·r (CG)
  norm2: f32,
  // CG: r·r of the current residual
  rr: f32,
  alpha: f32,
  beta: f32,
  // CG: updates completed since the round started (a breakdown stops the count)
  k: u32,
  // CG: FLAG_BREAKDOWN once pᵀAp ≤ 0 (A not SPD); later steps change nothing
  flag: u32,
  _pad0: u32,
  _pad1: u32,
}

const FLAG_BREAKDOWN: u32 = 1u;
