// out[i] = philox4x32(ctr + i, key), with ctr + i a 128-bit addition (carry across words), so a
// fill of any range matches the CPU generator element by element.
#include "philox.wgsl"
#include "grid.wgsl"

override WG: u32 = 256;

struct Params {
  ctr: vec4u,
  key: vec2u,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4u>;

fn add128(c: vec4u, i: u32) -> vec4u {
  let x = c.x + i;
  let cx = select(0u, 1u, x < i);
  let y = c.y + cx;
  let cy = select(0u, 1u, y < cx);
  let z = c.z + cy;
  let cz = select(0u, 1u, z < cy);
  return vec4u(x, y, z, c.w + cz);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation_index(gid, nwg, WG);
  if (i < p.n) {
    out[i] = philox4x32(add128(p.ctr, i), p.key);
  }
}
