// Shared part of the batched solvers (included, not a kernel itself): many small independent
// systems, one workgroup per system, each running its whole inner solve of a refinement round in
// workgroup memory (src/backends/webgpu/relax-batch.ts). Every quantity that steers a loop is
// workgroup-uniform: descriptors come from read-only storage at the workgroup's index, and
// reductions return through workgroupUniformLoad, so barriers inside the loops are legal.
//
// The including file declares NARR, the number of length-CAP vectors it keeps in workgroup memory.
#include "../core/workgroup_reduce.wgsl"

override WG: u32 = 128;
// Longest system the pipeline holds; the host picks it per batch within the workgroup-memory limit.
override CAP: u32 = 1024;

const KIND_CSR: u32 = 0u;
const KIND_STENCIL_CONST: u32 = 1u;
const KIND_STENCIL_VAR: u32 = 2u;

// Why a system's round ended (Outcome.flag); the host mirrors these values.
const END_TOLERANCE: u32 = 1u;   // the inner residual reached η at a check
const END_DIVERGED: u32 = 2u;    // the inner residual passed the divergence limit (or is not finite)
const END_STALLED: u32 = 3u;     // no new smallest residual for `stall` updates: f32 can do no better
const END_BUDGET: u32 = 4u;      // maxIter reached, at a check
const END_PAUSED: u32 = 5u;      // the round's update cap reached between checks: no test made
const END_BREAKDOWN: u32 = 6u;   // CG: pᵀAp ≤ 0

struct System {
  n: u32,
  kind: u32,
  nx: u32,
  ny: u32,
  nz: u32,
  // this system's slice of `vecs`: the scaled residual in, the correction out
  vecOff: u32,
  // CSR: local rowPtr at ints[rowOff ..], local colIdx at ints[colOff ..], values at floats[fOff ..]
  rowOff: u32,
  colOff: u32,
  // multicolour order (local rows) at ints[orderOff ..], class bounds at ints[colourOff ..]
  orderOff: u32,
  colourOff: u32,
  colours: u32,
  // CSR values, or variable stencil coefficients at floats[fOff + d·n + p] (d = 0 the diagonal,
  // d = 1 + direction)
  fOff: u32,
  // updates allowed this round, updates made before it, and whether the budget ends at maxIter
  budget: u32,
  phase: u32,
  last: u32,
  _pad: u32,
  omega: f32,
  // squared inner tolerance and divergence limit
  eta2: f32,
  div2: f32,
  // constant stencil: diagonal and couplings −x, +x, −y, +y, −z, +z
  diag: f32,
  off: array<f32, 6>,
  _fpad0: f32,
  _fpad1: f32,
}

struct BatchParams {
  count: u32,
  checkEvery: u32,
  stall: u32,
  _pad: u32,
}

struct Outcome {
  norm2: f32,
  updates: u32,
  flag: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> bp: BatchParams;
@group(0) @binding(1) var<storage, read> systems: array<System>;
@group(0) @binding(2) var<storage, read> ints: array<i32>;
@group(0) @binding(3) var<storage, read> floats: array<f32>;
@group(0) @binding(4) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(5) var<storage, read_write> outcomes: array<Outcome>;

var<workgroup> wv: array<f32, NARR * CAP>;

// (σ_i, a_ii) for the vector at wv[src ..]: off-diagonal row sum and diagonal.
fn row_split(sys: System, i: u32, src: u32) -> vec2f {
  var s = 0.0;
  if (sys.kind == KIND_CSR) {
    var d = 0.0;
    let end = u32(ints[sys.rowOff + i + 1u]);
    for (var k = u32(ints[sys.rowOff + i]); k < end; k++) {
      let j = u32(ints[sys.colOff + k]);
      let a = floats[sys.fOff + k];
      if (j == i) {
        d = a;
      } else {
        s = fma(a, wv[src + j], s);
      }
    }
    return vec2f(s, d);
  }
  let nx = sys.nx;
  let ny = sys.ny;
  let plane = nx * ny;
  let gi = i % nx;
  let gj = (i / nx) % ny;
  let gk = i / plane;
  // Ascending column order: −z, −y, −x, +x, +y, +z.
  if (gk > 0u) {
    s = fma(coupling(sys, 4u, i), wv[src + i - plane], s);
  }
  if (gj > 0u) {
    s = fma(coupling(sys, 2u, i), wv[src + i - nx], s);
  }
  if (gi > 0u) {
    s = fma(coupling(sys, 0u, i), wv[src + i - 1u], s);
  }
  if (gi + 1u < nx) {
    s = fma(coupling(sys, 1u, i), wv[src + i + 1u], s);
  }
  if (gj + 1u < ny) {
    s = fma(coupling(sys, 3u, i), wv[src + i + nx], s);
  }
  if (gk + 1u < sys.nz) {
    s = fma(coupling(sys, 5u, i), wv[src + i + plane], s);
  }
  if (sys.kind == KIND_STENCIL_VAR) {
    return vec2f(s, floats[sys.fOff + i]);
  }
  return vec2f(s, sys.diag);
}

// Stencil coupling of node i in direction d (−x, +x, −y, +y, −z, +z); a constant stencil reads
// only its descriptor.
fn coupling(sys: System, d: u32, i: u32) -> f32 {
  if (sys.kind == KIND_STENCIL_VAR) {
    return floats[sys.fOff + (1u + d) * sys.n + i];
  }
  switch d {
    case 0u: { return sys.off[0]; }
    case 1u: { return sys.off[1]; }
    case 2u: { return sys.off[2]; }
    case 3u: { return sys.off[3]; }
    case 4u: { return sys.off[4]; }
    default: { return sys.off[5]; }
  }
}

// Whether update number k of this round is followed by a test, as in the oracle: every
// checkEvery-th update counted from the start of the solve, and the last one maxIter allows.
fn is_check(sys: System, k: u32) -> bool {
  return (sys.phase + k) % bp.checkEvery == 0u || (k == sys.budget && sys.last == 1u);
}

// The test at a check after update k, on the squared inner residual norm2: why the round ends
// there, or 0 when it goes on. `best` and `kBest` carry the smallest residual so far and the update
// that reached it, for the stall test. The solvers compute norm2 differently (a fresh residual, or
// CG's recurrence) and stop on exactly these conditions.
fn check_end(sys: System, k: u32, norm2: f32, best: ptr<function, f32>, kBest: ptr<function, u32>) -> u32 {
  if (norm2 <= sys.eta2) {
    return END_TOLERANCE;
  }
  if (!(norm2 <= sys.div2)) {
    return END_DIVERGED;
  }
  if (norm2 < *best) {
    *best = norm2;
    *kBest = k;
  } else if (k - *kBest >= bp.stall) {
    return END_STALLED;
  }
  if (k == sys.budget) {
    return END_BUDGET;
  }
  return 0u;
}

fn system_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// Whether workgroup slot s holds a system with updates to make this round; the others return at
// once (the dispatch is folded into a rectangle, and finished systems get a budget of 0).
fn has_round(s: u32) -> bool {
  return s < bp.count && systems[s].budget != 0u;
}

// Ends the round: the correction at wv[src ..] back to the system's slice of `vecs`, and its outcome.
fn end_round(sys: System, s: u32, lid: u32, src: u32, outcome: Outcome) {
  for (var i = lid; i < sys.n; i += WG) {
    vecs[sys.vecOff + i] = wv[src + i];
  }
  if (lid == 0u) {
    outcomes[s] = outcome;
  }
}
