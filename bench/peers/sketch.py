"""Peers for the sketch bench (bench/suites/sketch.ts): dense f64 least squares on the bench's own problem,
timed in the same run as numkern (docs/peers.md §2 has the survey's figures for these methods).

Usage: python3 sketch.py n d b.f64 reps [ill]   (Debian's /usr/bin/python3: python3-numpy, python3-scipy)
A is regenerated here bit for bit from its definition (bench/suites/sketch.ts, `entry`):
    A[i, j] = (fmix32(i·d + j + 0x9E3779B9 mod 2³²) + 0.5)·2⁻³¹ − 1   (MurmurHash3's 32-bit finalizer)
and b (n little-endian f64) is read from the file the bench wrote, so both sides solve the same problem.
With `ill`, A's last column becomes A[:, 0] + 1e-8·A[:, d − 1] (the bench's ill-conditioned variant,
κ ≈ 1e8 that no column scaling removes; the same f64 operations as the bench's).
Prints one JSON object: for each method {"best": s, "residual": ‖b − A x‖₂}, plus the BLAS in use.
Methods: LAPACK dgels (Householder QR least squares, the accuracy reference), numpy lstsq (gelsd, SVD),
normal equations + Cholesky (fast, squares κ), and sketch-and-solve with SciPy's CountSketch, m = 10d
(scipy.linalg.clarkson_woodruff_transform, unscaled ±1, which does not change the least-squares solution).
"""
import json
import sys
import time

import numpy as np
import scipy.linalg as sla


def fmix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def make_a(n, d):
    A = np.empty((n, d))
    step = max(1, (1 << 22) // d)
    with np.errstate(over='ignore'):
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            idx = (np.arange(r0 * d, r1 * d, dtype=np.uint64) + np.uint64(0x9E3779B9)) & np.uint64(0xFFFFFFFF)
            h = fmix32(idx.astype(np.uint32))
            A[r0:r1] = ((h.astype(np.float64) + 0.5) * 2.0 ** -31 - 1.0).reshape(r1 - r0, d)
    return A


def best_of(reps, f):
    best = float('inf')
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    n, d, bfile, reps = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    A = make_a(n, d)
    if len(sys.argv) > 5 and sys.argv[5] == 'ill':
        A[:, d - 1] = A[:, 0] + 1e-8 * A[:, d - 1]
    b = np.fromfile(bfile, dtype='<f8')
    assert b.shape == (n,)
    res = lambda x: float(np.linalg.norm(b - A @ x))
    out = {}

    def dgels():
        # A and b copied: dgels overwrites both (the copies are part of what a user pays).
        out = sla.lapack.dgels(A, b)  # (lqr, x, info); some SciPy versions add a work array
        x, info = out[-2], out[-1]
        assert info == 0
        return x[:d]
    t, x = best_of(reps, dgels)
    out['dgels'] = {'best': t, 'residual': res(x)}

    t, x = best_of(reps, lambda: np.linalg.lstsq(A, b, rcond=None)[0])
    out['gelsd'] = {'best': t, 'residual': res(x)}

    def normal():
        c = sla.cho_factor(A.T @ A)
        return sla.cho_solve(c, A.T @ b)
    t, x = best_of(reps, normal)
    out['normal'] = {'best': t, 'residual': res(x)}

    m = 10 * d
    rng = np.random.default_rng(0)

    def countsketch():
        Ab = np.column_stack([A, b])
        try:
            SAb = sla.clarkson_woodruff_transform(Ab, m, rng=rng)
        except TypeError:  # SciPy < 1.15 names it seed
            SAb = sla.clarkson_woodruff_transform(Ab, m, seed=rng)
        return np.linalg.lstsq(SAb[:, :d], SAb[:, d], rcond=None)[0]
    t, x = best_of(reps, countsketch)
    out['countsketch'] = {'best': t, 'residual': res(x)}

    try:
        from threadpoolctl import threadpool_info
        out['blas'] = ', '.join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in threadpool_info())
    except ImportError:
        out['blas'] = 'unknown (threadpoolctl absent)'
    print(json.dumps(out))


if __name__ == '__main__':
    main()
