// Shared part of the CG vector updates (included, not a kernel itself): the vector length and the
// device-side solver state their step sizes come from, at bindings 0 and 1.
#include "solver_state.wgsl"

override WG: u32 = 256;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> state: SolverState;
