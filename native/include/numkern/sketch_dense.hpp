// Small dense linear algebra of the sketch family in f64 on row-major arrays, ported from the oracle
// (src/backends/js/sketch/dense.ts): unblocked Householder QR with column pivoting (dgeqp3's pivot rule
// and Drmač–Bujanović downdating), Qᵀ/Q on a vector, triangular solves, rank, the minimum-norm solve.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace numkern {

/// Math.hypot(a, b) exactly as V8 computes it (src/builtins/math.tq: scale by the larger magnitude, Kahan
/// sum of the squares, sqrt, unscale), so the oracle's reflectors and LSQR rotations round the same here.
inline double sketch_js_hypot(double a, double b) {
  a = std::fabs(a);
  b = std::fabs(b);
  if (std::isinf(a) || std::isinf(b)) return INFINITY;
  if (std::isnan(a) || std::isnan(b)) return NAN;
  const double mx = a > b ? a : b;
  if (mx == 0) return 0;
  double sum = 0, comp = 0;
  const double v[2] = {a, b};
  for (int i = 0; i < 2; ++i) {
    const double n = v[i] / mx;
    const double summand = n * n - comp;
    const double prelim = sum + summand;
    comp = (prelim - sum) - summand;
    sum = prelim;
  }
  return std::sqrt(sum) * mx;
}

inline double sketch_col_norm(const double* M, size_t rows, size_t cols, size_t j, size_t from) {
  double scale = 0, ssq = 1;
  for (size_t i = from; i < rows; ++i) {
    const double v = M[i * cols + j];
    if (v != 0) {
      const double a = std::fabs(v);
      if (scale < a) {
        const double q = scale / a;
        ssq = 1 + ssq * (q * q);
        scale = a;
      } else {
        const double q = a / scale;
        ssq += q * q;
      }
    }
  }
  return scale * std::sqrt(ssq);
}

inline void sketch_reflect(const double* v, double tau, size_t k, size_t rows, double* y) {
  double s = 0;
  for (size_t i = k; i < rows; ++i) s += v[i] * y[i];
  const double c = tau * s;
  for (size_t i = k; i < rows; ++i) y[i] -= c * v[i];
}

/// M := its QR factors in place (M·P = Q·R); tau has min(rows, cols) entries.
inline void sketch_qr_factor(double* M, size_t rows, size_t cols, int32_t* perm, double* tau) {
  const size_t steps = std::min(rows, cols);
  const double tol3z = std::sqrt(2.220446049250313e-16);
  std::vector<double> vn1(cols), vn2(cols), w(cols), v(rows);
  for (size_t j = 0; j < cols; ++j) {
    perm[j] = static_cast<int32_t>(j);
    vn1[j] = vn2[j] = sketch_col_norm(M, rows, cols, j, 0);
  }
  for (size_t k = 0; k < steps; ++k) {
    size_t p = k;
    for (size_t j = k + 1; j < cols; ++j)
      if (vn1[j] > vn1[p]) p = j;
    if (p != k) {
      for (size_t i = 0; i < rows; ++i) std::swap(M[i * cols + p], M[i * cols + k]);
      std::swap(perm[p], perm[k]);
      vn1[p] = vn1[k];
      vn2[p] = vn2[k];
    }
    const double alpha = M[k * cols + k];
    const double xnorm = sketch_col_norm(M, rows, cols, k, k + 1);
    if (xnorm == 0) {
      tau[k] = 0;
    } else {
      const double sg = alpha > 0 ? 1.0 : alpha < 0 ? -1.0 : 1.0;
      const double beta = -sg * sketch_js_hypot(alpha, xnorm);
      tau[k] = (beta - alpha) / beta;
      const double inv = 1 / (alpha - beta);
      for (size_t i = k + 1; i < rows; ++i) M[i * cols + k] = M[i * cols + k] * inv;
      M[k * cols + k] = beta;
    }
    const double tk = tau[k];
    if (tk != 0) {
      v[k] = 1;
      for (size_t i = k + 1; i < rows; ++i) v[i] = M[i * cols + k];
      std::fill(w.begin() + static_cast<std::ptrdiff_t>(k + 1), w.end(), 0.0);
      for (size_t i = k; i < rows; ++i) {
        const double vi = v[i];
        if (vi == 0) continue;
        const double* row = M + i * cols;
        for (size_t j = k + 1; j < cols; ++j) w[j] += vi * row[j];
      }
      for (size_t i = k; i < rows; ++i) {
        const double c = tk * v[i];
        if (c == 0) continue;
        double* row = M + i * cols;
        for (size_t j = k + 1; j < cols; ++j) row[j] -= c * w[j];
      }
    }
    for (size_t j = k + 1; j < cols; ++j) {
      if (vn1[j] == 0) continue;
      const double r = std::fabs(M[k * cols + j]) / vn1[j];
      const double temp = std::max(0.0, (1 + r) * (1 - r));
      const double q = vn1[j] / vn2[j];
      const double temp2 = temp * (q * q);
      if (temp2 <= tol3z) vn1[j] = vn2[j] = sketch_col_norm(M, rows, cols, j, k + 1);
      else vn1[j] = vn1[j] * std::sqrt(temp);
    }
  }
}

inline void sketch_apply_qt(const double* M, size_t rows, size_t cols, const double* tau, double* y) {
  std::vector<double> v(rows);
  const size_t steps = std::min(rows, cols);
  for (size_t k = 0; k < steps; ++k) {
    if (tau[k] == 0) continue;
    v[k] = 1;
    for (size_t i = k + 1; i < rows; ++i) v[i] = M[i * cols + k];
    sketch_reflect(v.data(), tau[k], k, rows, y);
  }
}

inline void sketch_apply_q(const double* M, size_t rows, size_t cols, const double* tau, double* y) {
  std::vector<double> v(rows);
  const size_t steps = std::min(rows, cols);
  for (size_t kk = steps; kk-- > 0;) {
    if (tau[kk] == 0) continue;
    v[kk] = 1;
    for (size_t i = kk + 1; i < rows; ++i) v[i] = M[i * cols + kk];
    sketch_reflect(v.data(), tau[kk], kk, rows, y);
  }
}

inline int sketch_rank(const double* R, size_t cols, size_t steps, double rcond) {
  if (steps == 0) return 0;
  const double r00 = std::fabs(R[0]);
  if (!(r00 > 0)) return 0;
  size_t r = 0;
  while (r < steps && std::fabs(R[r * cols + r]) > rcond * r00) ++r;
  return static_cast<int>(r);
}

/// y[0..r) := R₁₁⁻¹ y.
inline void sketch_solve_upper(const double* R, size_t ld, size_t r, double* y) {
  for (size_t i = r; i-- > 0;) {
    double s = y[i];
    const double* row = R + i * ld;
    for (size_t j = i + 1; j < r; ++j) s -= row[j] * y[j];
    y[i] = s / row[i];
  }
}

/// y[0..r) := R₁₁⁻ᵀ y.
inline void sketch_solve_upper_t(const double* R, size_t ld, size_t r, double* y) {
  for (size_t i = 0; i < r; ++i) {
    const double* row = R + i * ld;
    const double yi = y[i] / row[i];
    y[i] = yi;
    for (size_t j = i + 1; j < r; ++j) y[j] -= row[j] * yi;
  }
}

/// Minimum-norm δ (d) of M δ = c, M q × d (oracle's minNormSolve).
inline void sketch_min_norm_solve(const double* M, size_t q, size_t d, const double* c, double rcond, double* z) {
  std::vector<double> Mt(d * q);
  for (size_t i = 0; i < q; ++i)
    for (size_t j = 0; j < d; ++j) Mt[j * q + i] = M[i * d + j];
  std::vector<int32_t> perm(q);
  const size_t steps = std::min(d, q);
  std::vector<double> tau(steps);
  sketch_qr_factor(Mt.data(), d, q, perm.data(), tau.data());
  size_t r = 0;
  const double r00 = steps > 0 ? std::fabs(Mt[0]) : 0;
  while (r < steps && r00 > 0 && std::fabs(Mt[r * q + r]) > rcond * r00) ++r;
  std::fill(z, z + d, 0.0);
  for (size_t i = 0; i < r; ++i) z[i] = c[perm[i]];
  sketch_solve_upper_t(Mt.data(), q, r, z);
  sketch_apply_q(Mt.data(), d, q, tau.data(), z);
}

}  // namespace numkern
