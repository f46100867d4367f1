// Indices in a grid that dispatch.ts (foldWorkgroups) folded into two dimensions because one dimension
// is capped at 65,535 workgroups: the grid's rows hold nwg.x workgroups each.

// The linear index of this workgroup.
fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// The linear index of this invocation, for workgroups of `wg` invocations along x.
fn invocation_index(gid: vec3u, nwg: vec3u, wg: u32) -> u32 {
  return gid.y * nwg.x * wg + gid.x;
}
