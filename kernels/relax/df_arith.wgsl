// Double-f32 ("double-word", float-float) arithmetic (included, not a kernel itself). A value is
// vec2f(hi, lo) with hi = fl(hi + lo): about 48 significant bits in f32's exponent range, which
// is what lets CG on the device track f64 CG on ill-conditioned matrices (docs/relax.md §9).
// Algorithms and error bounds: Joldes, Muller, Popescu, "Tight and rigorous error bounds for basic
// building blocks of double-word arithmetic", ACM TOMS 44 (2017), numbered as there; u = 2⁻²⁴.
// Error-free transformations need every operation rounded as written: no reassociation, and fma
// fused (the device test pins ~1e-14 agreement with f64, which fails if either is broken).

// Knuth's 2Sum: s + e = a + b exactly.
fn df_two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  let bb = s - a;
  return vec2f(s, (a - (s - bb)) + (b - bb));
}

// Fast2Sum (Dekker), for |a| ≥ |b| or a = 0.
fn df_fast_two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  return vec2f(s, b - (s - a));
}

// 2Prod with an fma: p + e = a·b exactly.
fn df_two_prod(a: f32, b: f32) -> vec2f {
  let p = a * b;
  return vec2f(p, fma(a, b, -p));
}

// Algorithm 6 (AccurateDWPlusDW): relative error ≤ 3u².
fn df_add(x: vec2f, y: vec2f) -> vec2f {
  let s = df_two_sum(x.x, y.x);
  let t = df_two_sum(x.y, y.y);
  let v = df_fast_two_sum(s.x, s.y + t.x);
  return df_fast_two_sum(v.x, t.y + v.y);
}

// Algorithm 12 (DWTimesDW3): relative error ≤ 4u².
fn df_mul(x: vec2f, y: vec2f) -> vec2f {
  let c = df_two_prod(x.x, y.x);
  let t = fma(x.x, y.y, x.y * y.y);
  return df_fast_two_sum(c.x, c.y + fma(x.y, y.x, t));
}

// Algorithm 17 (DWDivDW2) with Algorithm 9 (DWTimesFP3) for y·t: relative error ≤ 15u² + O(u³).
fn df_div(x: vec2f, y: vec2f) -> vec2f {
  let t = x.x / y.x;
  let c = df_two_prod(y.x, t);
  let r = df_fast_two_sum(c.x, fma(y.y, t, c.y));
  let d = (x.x - r.x) + (x.y - r.y);
  return df_fast_two_sum(t, d / y.x);
}
