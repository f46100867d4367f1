// Double-f32 ("double-word", float-float) arithmetic (included, not a kernel itself). A value is
// vec2f(hi, lo) with hi = fl(hi + lo): about 48 significant bits in f32's exponent range, which
// is what lets CG on the device track f64 CG on ill-conditioned matrices (docs/relax.md §9).
// Algorithms and error bounds: Joldes, Muller, Popescu, "Tight and rigorous error bounds for basic
// building blocks of double-word arithmetic", ACM TOMS 44 (2017), named as there; u = 2⁻²⁴.
// Error-free transformations need every operation rounded as written. Shader compilers may
// simplify float algebra (on lavapipe, plain 2Sum lost its error term, as if (a + b) − a became b,
// and fma was not fused), so the differences that recover rounding errors go through DF_ONE, a 1
// read from a uniform that no compiler can fold; 2Prod uses Dekker's split, not an fma.
// Contracting a product into an fma changes none of these results. The device test
// (test/relax/webgpu-refinement.test.ts) pins a dot product to 1e-12 of Σ|x·y| against f64.

// 1.0, loaded from DfParams.one by every entry point (df_begin) before any df_ call.
var<private> DF_ONE: f32;

fn df_begin(one: f32) {
  DF_ONE = one;
}

// Knuth's 2Sum: s + e = a + b exactly.
fn df_two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  let bb = s * DF_ONE - a;
  return vec2f(s, (a - (s - bb) * DF_ONE) + (b - bb));
}

// Fast2Sum (Dekker), for |a| ≥ |b| or a = 0.
fn df_fast_two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  return vec2f(s, b - (s * DF_ONE - a));
}

// Veltkamp's split: a = h + l exactly, each half 12 significant bits (|a| < 2¹¹⁴, far past any
// scaled vector or matrix entry the device sees).
fn df_split(a: f32) -> vec2f {
  let c = 4097.0 * a;
  let h = c * DF_ONE - (c - a);
  return vec2f(h, a - h * DF_ONE);
}

// Dekker's 2Prod: p + e = a·b exactly (the half products are exact).
fn df_two_prod(a: f32, b: f32) -> vec2f {
  let p = a * b;
  let x = df_split(a);
  let y = df_split(b);
  return vec2f(p, ((x.x * y.x - p * DF_ONE) + x.x * y.y + x.y * y.x) + x.y * y.y);
}

// AccurateDWPlusDW: relative error ≤ 3u².
fn df_add(x: vec2f, y: vec2f) -> vec2f {
  let s = df_two_sum(x.x, y.x);
  let t = df_two_sum(x.y, y.y);
  let v = df_fast_two_sum(s.x, s.y + t.x);
  return df_fast_two_sum(v.x, t.y + v.y);
}

// DWTimesDW1 (the form without fma): relative error O(u²).
fn df_mul(x: vec2f, y: vec2f) -> vec2f {
  let c = df_two_prod(x.x, y.x);
  return df_fast_two_sum(c.x, c.y + (x.x * y.y + x.y * y.x));
}

// DWDivDW2, with y·t formed without fma: relative error O(u²).
fn df_div(x: vec2f, y: vec2f) -> vec2f {
  let t = x.x / y.x;
  let c = df_two_prod(y.x, t);
  let r = df_fast_two_sum(c.x, c.y + y.y * t);
  let d = (x.x - r.x) + (x.y - r.y);
  return df_fast_two_sum(t, d / y.x);
}
