// The fused policy-loss pass over one chunk of positions (semantics: src/pg/ops.ts and
// docs/pg.md; verl core_algos.py compute_policy_loss_vanilla, TRL grpo_trainer.py _compute_loss).
// For every position it writes ∂loss/∂logp (0 where inactive) and, with entropy, ∂loss/∂H; it
// reports the smallest non-finite index per checked input (atomicMin into the status words); and
// each workgroup leaves one LossPartial record (Σ w·ℓ, Σ w·v, Σ wH·H, the statistics' sums and the
// clip counts) that the host adds in f64.
//
// A workgroup covers WG·LOSS_ITEMS consecutive positions, invocation lid those at lid + j·WG. The
// denominators come from the status words (Σ L_i, #{L_i > 0}) and L_i from counts, both complete
// before this pass runs (active_counts and active_totals, or the host when there is no mask).
#include "loss_common.wgsl"
#include "kl.wgsl"
#include "../core/grid.wgsl"

@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>;
// grad at [0, count), gradEntropy at [outGradH, outGradH + count).
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<LossPartial>;

var<workgroup> wg_v4: array<vec4f, WG>;

// Σ over the workgroup of each invocation's x, in invocation 0 (the others get 0), in the same
// log2(WG)-deep order as core/workgroup_reduce.wgsl. Call from uniform control flow.
fn wg_sum4(x: vec4f, lid: u32) -> vec4f {
  wg_v4[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      wg_v4[lid] += wg_v4[lid + s];
    }
    workgroupBarrier();
  }
  var total = vec4f(0.0);
  if (lid == 0u) {
    total = wg_v4[0];
  }
  return total;
}

fn tok_f32(off: u32, kl: u32) -> f32 {
  return bitcast<f32>(tok[off + kl]);
}

fn report(slot: u32, k: u32) {
  atomicMin(&status[slot], k);
}

// scale / (D · len_i) (PgAggregation): D from the code, len_i from L and the length floor.
fn weight(denom: u32, lenCode: u32, value: f32, scale: f32, L: u32, tokens: u32, sequences: u32) -> f32 {
  var d = value;
  if (denom == DENOM_TOKENS) {
    d = f32(max(tokens, 1u));
  } else if (denom == DENOM_SEQUENCES) {
    d = f32(max(sequences, 1u));
  } else if (denom == DENOM_ALL_SEQUENCES) {
    d = f32(max(lp.nSeq, 1u));
  }
  var len = 1.0;
  if (lenCode == LEN_EPS) {
    len = f32(L) + 1e-8;
  } else if (lenCode == LEN_ONE) {
    len = f32(max(L, 1u));
  }
  return scale / (d * len);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  // Depends only on the workgroup: a uniform early return.
  let g = group_index(wid, nwg);
  if (g >= lp.groups) {
    return;
  }
  let tokens = atomicLoad(&status[STATUS_TOKENS]);
  let sequences = atomicLoad(&status[STATUS_SEQUENCES]);

  // Per-sequence advantages are checked once, by the first chunk's dispatch.
  if (lp.checkSeqAdv != 0u) {
    for (var s = g * WG + lid; s < lp.nSeq; s += lp.groups * WG) {
      if (!finite_bits(bitcast<u32>(seqs[s].adv))) {
        report(NF_ADVANTAGES, s);
      }
    }
  }

  // (policy, kl, entropy term, ratio), (approxKl, kl value, entropy, clip high), (clip low, dual, -, -)
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  let first = g * WG * LOSS_ITEMS + lid;
  var i = -1i;
  if (first < lp.count) {
    i = seq_of(lp.base + first);
  }
  for (var j = 0u; j < LOSS_ITEMS; j += 1u) {
    let kl = first + j * WG;
    if (kl >= lp.count) {
      break;
    }
    let k = lp.base + kl;
    i = seq_advance(i, k);
    let on = is_active(i, k, kl);

    let lpBits = tok[lp.offLogp + kl];
    let oldBits = tok[lp.offOld + kl];
    if (on || lp.ignoreInactive == 0u) {
      if (!finite_bits(lpBits)) { report(NF_LOGP, k); }
      if (!finite_bits(oldBits)) { report(NF_OLD_LOGP, k); }
      if (lp.hasRef != 0u && !finite_bits(tok[lp.offRef + kl])) { report(NF_REF_LOGP, k); }
      if (lp.advPerToken != 0u && !finite_bits(tok[lp.offAdv + kl])) { report(NF_ADVANTAGES, k); }
      if (lp.hasEntropy != 0u && !finite_bits(tok[lp.offEnt + kl])) { report(NF_ENTROPY, k); }
    }
    if (!on) {
      grads[kl] = 0.0;
      if (lp.hasEntropy != 0u) {
        grads[lp.outGradH + kl] = 0.0;
      }
      continue;
    }

    let lpv = bitcast<f32>(lpBits);
    var A = seqs[i].adv;
    if (lp.advPerToken != 0u) {
      A = tok_f32(lp.offAdv, kl);
    }
    let L = counts[i];
    let w = weight(lp.denom, lp.len, lp.denomValue, lp.scale, L, tokens, sequences);

    // PPO clip, TRL's ratio cap and verl's dual clip; ties go to l1 (verl, Liger).
    let draw = lpv - bitcast<f32>(oldBits);
    var dlt = draw;
    if (lp.clampOn != 0u) {
      dlt = clamp(draw, -lp.logClamp, lp.logClamp);
    }
    let r = exp(dlt);
    var rc = r;
    if (lp.capOn != 0u) {
      rc = min(r, lp.ratioCap);
    }
    let l1 = -A * rc;
    let l2 = -A * clamp(r, lp.clipLo, lp.clipHi);
    let lc = max(l1, l2);
    var ell = lc;
    var dual = false;
    if (lp.dualOn != 0u && A < 0.0) {
      let l3 = -A * lp.dualC;
      dual = l3 < lc;
      ell = min(l3, lc);
    }
    var dl = 0.0;
    let inClamp = lp.clampOn == 0u || abs(draw) <= lp.logClamp;
    let underCap = lp.capOn == 0u || r <= lp.ratioCap;
    if (l1 >= l2 && !dual && inClamp && underCap) {
      dl = -A * r;
    }
    let clipped = l2 > l1;

    var v = 0.0;
    if (lp.hasRef != 0u) {
      let t = kl_term(lp.klCode, lp.klClamp != 0u, lpv, tok_f32(lp.offRef, kl));
      v = t.x;
      dl += lp.klCoef * t.y;
    }
    grads[kl] = w * dl;

    var h = 0.0;
    var wH = 0.0;
    if (lp.hasEntropy != 0u) {
      h = tok_f32(lp.offEnt, kl);
      wH = weight(lp.denomH, lp.lenH, lp.denomValueH, lp.scaleH, L, tokens, sequences);
      grads[lp.outGradH + kl] = -lp.entCoef * wH;
    }

    a0 += vec4f(w * ell, w * v, wH * h, r);
    a1 += vec4f(-dlt, v, h, select(0.0, 1.0, A > 0.0 && clipped));
    a2 += vec4f(select(0.0, 1.0, A < 0.0 && clipped), select(0.0, 1.0, dual), 0.0, 0.0);
  }

  let s0 = wg_sum4(a0, lid);
  let s1 = wg_sum4(a1, lid);
  let s2 = wg_sum4(a2, lid);
  if (lid == 0u) {
    var rec: LossPartial;
    rec.policy = s0.x;
    rec.kl = s0.y;
    rec.ent = s0.z;
    rec.ratio = s0.w;
    rec.approxKl = s1.x;
    rec.klValue = s1.y;
    rec.entropy = s1.z;
    rec.clipHigh = s1.w;
    rec.clipLow = s2.x;
    rec.clipDual = s2.y;
    rec._pad0 = 0.0;
    rec._pad1 = 0.0;
    partials[g] = rec;
  }
}
