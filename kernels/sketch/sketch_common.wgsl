// The entries of the sketches (docs/sketch.md §2), generated from Philox words exactly as the js oracle
// (src/backends/js/sketch/operator.ts) does. Shared snippet: expects the prelude's SketchParams bound as
// `p` (for the key). Word indices reach 2^53, so they travel as (lo, hi) pairs.
#include "../core/philox.wgsl"
#include "../core/grid.wgsl"

// a·b as (lo, hi).
fn mul64(a: u32, b: u32) -> vec2u {
  let r = mulhilo32(a, b);
  return vec2u(r.y, r.x);
}

fn add64(a: vec2u, b: u32) -> vec2u {
  let lo = a.x + b;
  return vec2u(lo, a.y + select(0u, 1u, lo < b));
}

// a >> sh for 0 < sh < 32.
fn shr64(a: vec2u, sh: u32) -> vec2u {
  return vec2u((a.x >> sh) | (a.y << (32u - sh)), a.y >> sh);
}

// Philox block q of `stream` under the sketch's key: counter (q_lo, q_hi, stream, 0).
fn sk_block(q: vec2u, stream: u32) -> vec4u {
  return philox4x32(vec4u(q.x, q.y, stream, 0u), vec2u(p.key0, p.key1));
}

// Word j of `stream`.
fn sk_word(j: vec2u, stream: u32) -> u32 {
  let b = sk_block(shr64(j, 2u), stream);
  return b[j.x & 3u];
}

const TWO_NEG_32: f32 = 2.3283064365386963e-10;
const TWO_NEG_29: f32 = 1.862645149230957e-9;
const QUARTER_PI: f32 = 0.7853981633974483;
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.4286067653301870e-6;

// 2·atanh(z) = z·2(1 + z²/3 + z⁴/5 + ...), for |z| ≤ 1/3 (nine terms: (1/9)^9/19 < 2^-30).
fn two_atanh(z: f32) -> f32 {
  let z2 = z * z;
  var s = 1.0 / 19.0;
  s = s * z2 + 1.0 / 17.0;
  s = s * z2 + 1.0 / 15.0;
  s = s * z2 + 1.0 / 13.0;
  s = s * z2 + 1.0 / 11.0;
  s = s * z2 + 1.0 / 9.0;
  s = s * z2 + 1.0 / 7.0;
  s = s * z2 + 1.0 / 5.0;
  s = s * z2 + 1.0 / 3.0;
  return 2.0 * z * (s * z2 + 1.0);
}

// −ln u, u = (w + 0.5)·2^-32, to a few ulp relative in f32 (WGSL's log promises only an absolute 2^-21
// near 1, where −ln u is small). Below 1/2: exponent and mantissa split, ln m = 2 atanh((m−1)/(m+1)).
// From 1/2 on: δ = 1 − u comes exactly from the integer, −ln(1 − δ) = 2 atanh(δ/(2 − δ)).
fn neg_log_unit(w: u32) -> f32 {
  if (w < 0x80000000u) {
    let u = (f32(w) + 0.5) * TWO_NEG_32;
    let bits = bitcast<u32>(u);
    var e = i32(bits >> 23u) - 126;
    var mnt = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    if (mnt < 0.70710678) {
      mnt = mnt * 2.0;
      e = e - 1;
    }
    let lnm = two_atanh((mnt - 1.0) / (mnt + 1.0));
    let fe = f32(e);
    return -((fe * LN2_HI) + (fe * LN2_LO + lnm));
  }
  let d = (f32(0xffffffffu - w) + 0.5) * TWO_NEG_32;
  return two_atanh(d / (2.0 - d));
}

fn sin_poly(t: f32) -> f32 {
  let t2 = t * t;
  var s = 1.0 / 362880.0;
  s = s * t2 - 1.0 / 5040.0;
  s = s * t2 + 1.0 / 120.0;
  s = s * t2 - 1.0 / 6.0;
  return t + t * t2 * s;
}

fn cos_poly(t: f32) -> f32 {
  let t2 = t * t;
  var c = -1.0 / 3628800.0;
  c = c * t2 + 1.0 / 40320.0;
  c = c * t2 - 1.0 / 720.0;
  c = c * t2 + 1.0 / 24.0;
  c = c * t2 - 0.5;
  return 1.0 + t2 * c;
}

// (cos θ, sin θ), θ = 2π·(w + 0.5)·2^-32, reduced exactly on the integer: octant o = w >> 29 and the
// offset inside it (from its nearer end), so the polynomials see t ∈ (0, π/4) and no large argument.
fn cos_sin_unit(w: u32) -> vec2f {
  let o = w >> 29u;
  let f = w & 0x1fffffffu;
  var q = o >> 1u;
  var t: f32;
  var sg = 1.0;
  if ((o & 1u) == 0u) {
    t = (f32(f) + 0.5) * TWO_NEG_29 * QUARTER_PI;
  } else {
    t = (f32(0x1fffffffu - f) + 0.5) * TWO_NEG_29 * QUARTER_PI;
    q = (q + 1u) & 3u;
    sg = -1.0;
  }
  let ct = cos_poly(t);
  let st = sg * sin_poly(t);
  switch (q) {
    case 0u: { return vec2f(ct, st); }
    case 1u: { return vec2f(-st, ct); }
    case 2u: { return vec2f(-ct, -st); }
    default: { return vec2f(st, -ct); }
  }
}

// The Philox block holding entry (k, g) of a dense kind, j = g·m + k: Gaussian numbers come four to a
// block (block ⌊j/4⌋), Rademacher signs 128 (word ⌊j/32⌋, block ⌊j/128⌋).
fn dense_index(k: u32, g: u32) -> vec2u {
  return add64(mul64(g, p.m), k);
}

fn dense_block_of(j: vec2u, kind: u32) -> vec2u {
  return select(shr64(j, 7u), shr64(j, 2u), kind == KIND_GAUSSIAN);
}

// Unscaled Gaussian number j from its block b: Box–Muller on words (2·pair, 2·pair + 1), pair = lane/2,
// cos for an even lane, sin for an odd one.
fn gaussian_from(b: vec4u, j: vec2u) -> f32 {
  let lane = j.x & 3u;
  let pair = lane >> 1u;
  let w1 = select(b.x, b.z, pair == 1u);
  let w2 = select(b.y, b.w, pair == 1u);
  let rad = sqrt(2.0 * neg_log_unit(w1));
  let cs = cos_sin_unit(w2);
  return rad * select(cs.x, cs.y, (lane & 1u) == 1u);
}

// Unscaled Rademacher entry j from its block b: −1 iff bit j mod 32 of word ⌊j/32⌋ is set.
fn rademacher_from(b: vec4u, j: vec2u) -> f32 {
  let w = b[(j.x >> 5u) & 3u];
  return select(1.0, -1.0, ((w >> (j.x & 31u)) & 1u) == 1u);
}
