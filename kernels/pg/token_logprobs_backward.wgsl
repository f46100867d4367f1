// pgTokenLogprobsBackward on one chunk of rows, in place on the device copy of the logits: one
// workgroup per row, ∂x_j = (gL·(δ_{j,target} − p_j) − gH·p_j·(log p_j + H)) / τ with
// log p_j = x_j/τ − lse and p_j = e^(log p_j) (verl torch_functional.py _fused_linear_for_ppo_bwd;
// Liger grpo_loss.py for the logp term). The host packs lse, H and the two upstream gradients per
// row (RowIn; a null upstream array is 0). Rows are folded over x and y as in token_logprobs.wgsl.
#include "../core/grid.wgsl"
override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: LogprobParams;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> rowIn: array<RowIn>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = group_index(wid, nwg);
  if (row >= p.rows) {
    return;
  }
  let V = p.vocab;
  let base = row * V;
  let r = rowIn[row];
  let t = u32(targets[row]);
  let gL = r.gradLogp * p.invTemp;
  let gH = r.gradEntropy * p.invTemp;
  for (var j = lid; j < V; j += WG) {
    let lpj = logits[base + j] * p.invTemp - r.lse;
    let pj = exp(lpj);
    var g = -gL * pj - gH * pj * (lpj + r.entropy);
    if (j == t) {
      g += gL;
    }
    logits[base + j] = g;
  }
}
