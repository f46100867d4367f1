// Schulman's KL estimators against the reference policy (included, not a kernel itself), value and
// ∂/∂logp, as the contract states them (src/pg/ops.ts, docs/pg.md §KL; verl core_algos.py
// kl_penalty). KL_* codes are generated from ops.ts's KL_CODES.
//
// k3 is e^k − k − 1 with k = ref − logp, mostly evaluated where k is tiny (the policies are close):
// computed as written, f32 loses every digit to cancellation there (k = 1e-4 gives 5e-9 from terms
// of size 1). Below |k| = 1 the value and 1 − e^k come from their Taylor series instead (terms to
// k^12/12!: truncation below 2^-30 relative); above, the direct forms lose at most a few ulps.

// e^x − 1 − x.
fn exp_m1_mx(x: f32) -> f32 {
  if (abs(x) < 1.0) {
    var p = 1.0 / 479001600.0;
    p = fma(p, x, 1.0 / 39916800.0);
    p = fma(p, x, 1.0 / 3628800.0);
    p = fma(p, x, 1.0 / 362880.0);
    p = fma(p, x, 1.0 / 40320.0);
    p = fma(p, x, 1.0 / 5040.0);
    p = fma(p, x, 1.0 / 720.0);
    p = fma(p, x, 1.0 / 120.0);
    p = fma(p, x, 1.0 / 24.0);
    p = fma(p, x, 1.0 / 6.0);
    p = fma(p, x, 0.5);
    return x * x * p;
  }
  return exp(x) - 1.0 - x;
}

// e^x − 1.
fn exp_m1(x: f32) -> f32 {
  if (abs(x) < 1.0) {
    return x + exp_m1_mx(x);
  }
  return exp(x) - 1.0;
}

// (value, ∂value/∂logp) of estimator `code` at logp = lpv, ref = rf.
fn kl_term(code: u32, clampOn: bool, lpv: f32, rf: f32) -> vec2f {
  let d = lpv - rf;
  switch code {
    case KL_K1: {
      return vec2f(d, 1.0);
    }
    case KL_ABS: {
      return vec2f(abs(d), sign(d));
    }
    case KL_K2: {
      return vec2f(0.5 * d * d, d);
    }
    default: {
      // KL_K3 (the host sends no other code).
      let k = rf - lpv;
      var kc = k;
      if (clampOn) {
        kc = clamp(k, -20.0, 20.0);
      }
      let raw = exp_m1_mx(kc);
      var v = raw;
      var g = -exp_m1(kc);
      if (clampOn) {
        v = min(raw, 10.0);
        if (abs(k) > 20.0 || raw > 10.0) {
          g = 0.0;
        }
      }
      return vec2f(v, g);
    }
  }
}
