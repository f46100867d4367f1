// Second policy-loss pass when a mask is given: Σ L_i (tokens) and #{i: L_i > 0} (sequences) from
// the counts of active_counts, added into the status words the main pass reads its denominators
// from. Grid-stride over the sequences, one atomic per invocation and total.
override WG: u32 = 256;

@group(0) @binding(0) var<uniform> lp: LossParams;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> status: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  var tokens = 0u;
  var sequences = 0u;
  for (var s = gid.x; s < lp.nSeq; s += nwg.x * WG) {
    let c = counts[s];
    tokens += c;
    sequences += select(0u, 1u, c != 0u);
  }
  if (tokens != 0u) {
    atomicAdd(&status[STATUS_TOKENS], tokens);
  }
  if (sequences != 0u) {
    atomicAdd(&status[STATUS_SEQUENCES], sequences);
  }
}
