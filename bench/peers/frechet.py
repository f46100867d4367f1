"""Peer for the frechet bench (bench/suites/frechet.ts): Loki prediction in numpy, timed in the same run as numkern.

Usage: python3 frechet.py B K N DIM [reps] [chunk]   (Debian's /usr/bin/python3 with python3-numpy)
Threads come from OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, set by the caller before numpy loads.
Prints one JSON object:
  {"shape": [B, K, N, DIM], "threads": t, "blas": "...",
   "matrix": {"best": s, "median": s},   # P @ D2 by sgemm, argmin over N, chunked over N (B x chunk scores at a time)
   "embed": {"best": s, "median": s},    # the barycenter trick: argmin_y ||e_y||^2 - 2 <e_y, m>, m = P E_obs / sum(P)
   "agree": fraction of rows where both give the same label (D2 built from the same embeddings)}
This is docs/peers.md §4's measurement: float32 throughout, chunk 8192, argmin's first index on ties.
"""
import json
import os
import sys
import time

import numpy as np


def timed(fn, reps):
    fn()  # warm-up: page in the operands, let BLAS spin up its threads
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return {"best": ts[0], "median": ts[len(ts) // 2]}


def matrix_argmin(P, D2, chunk):
    B, N = P.shape[0], D2.shape[1]
    best = np.full(B, np.inf, dtype=np.float32)
    arg = np.zeros(B, dtype=np.int64)
    for j0 in range(0, N, chunk):
        s = P @ D2[:, j0:j0 + chunk]
        a = np.argmin(s, axis=1)
        v = s[np.arange(B), a]
        better = v < best  # strict: an equal score in a later chunk has a larger id
        best[better] = v[better]
        arg[better] = a[better] + j0
    return arg


def embed_argmin(P, E, E_obs, norms):
    m = (P @ E_obs) / P.sum(axis=1, keepdims=True)
    return np.argmin(norms[None, :] - 2.0 * (m @ E.T), axis=1)


def blas_name():
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.25
        return cfg["Build Dependencies"]["blas"]["name"]
    except Exception:  # older numpy prints instead of returning
        return "unknown"


def main():
    B, K, N, DIM = (int(v) for v in sys.argv[1:5])
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    chunk = int(sys.argv[6]) if len(sys.argv) > 6 else 8192
    rng = np.random.default_rng(1)
    E = rng.standard_normal((N, DIM), dtype=np.float32)
    observed = rng.choice(N, K, replace=False)
    E_obs = E[observed]
    norms = (E.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
    # D2[k, j] = ||e_obs_k - e_j||^2, built in row blocks to keep the temporaries small.
    D2 = np.empty((K, N), dtype=np.float32)
    for k0 in range(0, K, 64):
        blk = E_obs[k0:k0 + 64]
        D2[k0:k0 + 64] = np.maximum((blk ** 2).sum(axis=1)[:, None] + norms[None, :] - 2.0 * (blk @ E.T), 0)
    P = rng.random((B, K), dtype=np.float32) ** 4
    out = {"shape": [B, K, N, DIM], "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "blas": blas_name(), "chunk": chunk}
    out["matrix"] = timed(lambda: matrix_argmin(P, D2, chunk), reps)
    out["embed"] = timed(lambda: embed_argmin(P, E, E_obs, norms), reps)
    out["agree"] = float((matrix_argmin(P, D2, chunk) == embed_argmin(P, E, E_obs, norms)).mean())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
