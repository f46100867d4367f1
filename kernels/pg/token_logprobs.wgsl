// pgTokenLogprobs on one chunk of rows: one workgroup per row of V logits, z = x/τ (x · invTemp).
// Each invocation keeps an online log-sum-exp over its stride of the row (verl kernels.py
// efficient_entropy_kernel_general_mainloop): running max m, s = Σ e^(z−m) and b = Σ e^(z−m)·(z−m),
// rescaled when m grows (once per block of BLOCK elements: with a rescale per element, which costs
// a second exp wherever any SIMD lane takes it, lavapipe ran at half the speed); the workgroup
// merges the triples in a log2(WG)-deep tree. Keeping b
// relative to the running max makes H = log s − b/s a sum of two non-negative terms, so a peaked
// row loses nothing to cancellation (lse − Σ p·z would subtract two numbers of size |z|). The
// softmax is never stored: O(1) memory per row beyond the outputs.
//
// The row index is folded over x and y (a chunk can hold far more than 65,535 rows). The first
// non-finite logit of each invocation's stride goes to an atomicMin over chunk-local flat indices
// (a chunk fits one binding, so they fit a u32); outputs are then unspecified.
#include "../core/grid.wgsl"
override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: LogprobParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> rows: array<RowOut>;
@group(0) @binding(4) var<storage, read_write> bad: array<atomic<u32>>;

var<workgroup> wg_msb: array<vec4f, WG>;

// Elements per block, WG apart. 4 and 8 ran alike on lavapipe (0.18 and 0.20 G logits/s), 16 slower.
const BLOCK: u32 = 8u;

// Merges two (m, s, b) states onto their larger max. An invocation that saw no element (V < WG)
// holds s = 0 (its m is meaningless) and merges as the identity.
fn merge(x: vec4f, y: vec4f) -> vec4f {
  if (y.y == 0.0) {
    return x;
  }
  if (x.y == 0.0) {
    return y;
  }
  let m = max(x.x, y.x);
  let ex = exp(x.x - m);
  let ey = exp(y.x - m);
  let s = x.y * ex + y.y * ey;
  let b = ex * (x.z + (x.x - m) * x.y) + ey * (y.z + (y.x - m) * y.y);
  return vec4f(m, s, b, 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = group_index(wid, nwg);
  if (row >= p.rows) {
    return;
  }
  let V = p.vocab;
  let base = row * V;
  // While s = 0 nothing has been seen and m is meaningless: no infinity needed as a start.
  var m = 0.0;
  var s = 0.0;
  var b = 0.0;
  var firstBad = NO_INDEX;
  // Blocks of BLOCK elements WG apart (each load still coalesced across the workgroup): the running
  // max moves at most once per block, so the rescale's extra exp is paid per block, not per element.
  for (var j0 = lid; j0 < V; j0 += BLOCK * WG) {
    var z: array<f32, BLOCK>;
    var bm = 0.0;
    for (var q = 0u; q < BLOCK; q += 1u) {
      // A column past the row repeats the block's first (valid) one and is weighted 0 below.
      let j = select(j0, j0 + q * WG, j0 + q * WG < V);
      let x = logits[base + j];
      if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u && firstBad == NO_INDEX) {
        firstBad = base + j;
      }
      z[q] = x * p.invTemp;
      bm = select(max(bm, z[q]), z[q], q == 0u);
    }
    if (s == 0.0) {
      m = bm;
    } else if (bm > m) {
      // Onto the new max: Σ e^(z−m')(z−m') = e^(m−m')(b + (m − m')·s).
      let e = exp(m - bm);
      b = e * (b + (m - bm) * s);
      s *= e;
      m = bm;
    }
    for (var q = 0u; q < BLOCK; q += 1u) {
      let d = z[q] - m;
      let e = select(0.0, exp(d), j0 + q * WG < V);
      s += e;
      b = fma(e, d, b);
    }
  }
  if (firstBad != NO_INDEX) {
    atomicMin(&bad[0], firstBad);
  }

  wg_msb[lid] = vec4f(m, s, b, 0.0);
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      wg_msb[lid] = merge(wg_msb[lid], wg_msb[lid + k]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let t = wg_msb[0];
    let logS = log(t.y);
    let zt = logits[base + u32(targets[row])] * p.invTemp;
    var out: RowOut;
    out.lse = t.x + logS;
    out.logp = (zt - t.x) - logS;
    out.entropy = logS - t.z / t.y;
    rows[row] = out;
  }
}
