// Gaussian and Rademacher sketches, fused: SA[k, c] += Σ_r S₀[k, rowBase + r]·A[r, c] over this chunk's
// rows, in increasing row order, on top of what SA holds (earlier chunks). A workgroup owns DENSE_KT
// rows of S and WG columns: per tile of WG rows of A, its invocations generate the KT·WG entries of S
// once into workgroup memory (one Philox block each), then each adds them into its column's KT sums.
// SA holds rows [kBase, kBase + kCount) of the output. Grid: ⌈kCount/KT⌉·colTiles workgroups, folded.
#include "sketch_common.wgsl"

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> p: SketchParams;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> SA: array<f32>;

var<workgroup> tile: array<f32, DENSE_KT * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = group_index(wid, nwg);
  // Uniform per workgroup: a surplus workgroup of the folded grid leaves before any barrier.
  if (gi >= p.groups) {
    return;
  }
  let kt0 = (gi / p.colTiles) * DENSE_KT;
  let c = (gi % p.colTiles) * WG + lid;
  let live = c < p.cols;
  var acc = array<f32, DENSE_KT>();
  for (var t = 0u; t < DENSE_KT; t++) {
    let kl = kt0 + t;
    if (live && kl < p.kCount) {
      acc[t] = SA[kl * p.cols + c];
    }
  }
  for (var r0 = 0u; r0 < p.rows; r0 += WG) {
    let r = r0 + lid;
    // The KT entries of row r are consecutive numbers j: they share Philox blocks (at most three).
    var cq = vec2u(0xffffffffu, 0xffffffffu);
    var cb = vec4u();
    let stream = select(STREAM_RADEMACHER, STREAM_GAUSSIAN, p.kind == KIND_GAUSSIAN);
    for (var t = 0u; t < DENSE_KT; t++) {
      let kl = kt0 + t;
      var v = 0.0;
      if (r < p.rows && kl < p.kCount) {
        let j = dense_index(p.kBase + kl, p.rowBase + r);
        let q = dense_block_of(j, p.kind);
        if (q.x != cq.x || q.y != cq.y) {
          cb = sk_block(q, stream);
          cq = q;
        }
        if (p.kind == KIND_GAUSSIAN) {
          v = gaussian_from(cb, j);
        } else {
          v = rademacher_from(cb, j);
        }
      }
      tile[t * WG + lid] = v;
    }
    workgroupBarrier();
    let n = min(WG, p.rows - r0);
    if (live) {
      for (var i = 0u; i < n; i++) {
        let a = A[(r0 + i) * p.cols + c];
        for (var t = 0u; t < DENSE_KT; t++) {
          acc[t] = acc[t] + tile[t * WG + i] * a;
        }
      }
    }
    workgroupBarrier();
  }
  for (var t = 0u; t < DENSE_KT; t++) {
    let kl = kt0 + t;
    if (live && kl < p.kCount) {
      SA[kl * p.cols + c] = acc[t];
    }
  }
}
