// One damped Jacobi sweep on a CSR matrix, v → out: out_i = v_i + ω·(rhs_i − (A v)_i) / a_ii.
// Every row reads only the old iterate, so the host ping-pongs two buffers. Grid-stride over rows.
#include "csr_common.wgsl"

@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < cp.n; i += nwg.x * WG) {
    let sd = row_split(i);
    let ax = fma(sd.y, v[i], sd.x);
    out[i] = fma(cp.omega, (rhs[i] - ax) / sd.y, v[i]);
  }
}
