"""Peers for the pg bench (bench/suites/pg.ts): GRPO advantages + clipped loss + k3 KL + ∂loss/∂logp on one
batch, in numpy (one thread) and as one fused numba loop (1 and 2 threads), timed in the same run as numkern.

Usage: python3 pg_loss.py B G T [reps]   (Debian's /usr/bin/python3: python3-numpy, python3-numba)
Prints one JSON object: {"numpy": {"best": s, "median": s}, "numba1": ..., "numba2": ..., "loss": {...}}.
The definitions are docs/pg.md's with verl's defaults: eps 1e-6 on the std, clip 0.2 / 0.28, dual clip 3,
log-ratio clamp 20, k3 with verl's clamps and coefficient 1e-3, token-mean over the batch.
"""
import json
import sys
import time

import numpy as np

CLIP_LOW, CLIP_HIGH, DUAL, KL_COEF = 0.2, 0.28, 3.0, 1e-3


def advantages(rewards, G):
    r = rewards.reshape(-1, G).astype(np.float64)
    mu = r.mean(axis=1, keepdims=True)
    sd = r.std(axis=1, ddof=1, keepdims=True)
    return ((r - mu) / (sd + 1e-6)).reshape(-1).astype(np.float32)


def numpy_step(logp, old, ref, mask, rewards, G):
    adv = advantages(rewards, G)
    A = adv[:, None]
    d = np.clip(logp - old, -20, 20)
    ratio = np.exp(d)
    l1 = -A * ratio
    l2 = -A * np.clip(ratio, 1 - CLIP_LOW, 1 + CLIP_HIGH)
    lc = np.maximum(l1, l2)
    l3 = -A * DUAL
    dual = (A < 0) & (l3 < lc)
    per_tok = np.where(dual, l3, lc)
    k = np.clip(ref - logp, -20, 20)
    e = np.exp(k)
    kl = np.minimum(e - k - 1, 10)
    m = mask.astype(np.float32)
    ntok = max(float(m.sum()), 1.0)
    loss = float(((per_tok + KL_COEF * kl) * m).sum(dtype=np.float64) / ntok)
    g = np.where((l1 >= l2) & ~dual & (np.abs(logp - old) <= 20), -A * ratio, 0) + KL_COEF * np.where(np.abs(ref - logp) <= 20, 1 - e, 0)
    grad = (g * m / ntok).astype(np.float32)
    return loss, grad, adv


def make_numba():
    import numba

    @numba.njit(parallel=True, fastmath=False, cache=False)
    def fused(logp, old, ref, mask, adv, grad, partial):
        N, T = logp.shape
        ntok = 0.0
        for i in range(N):
            for t in range(T):
                ntok += mask[i, t]
        ntok = max(ntok, 1.0)
        for i in numba.prange(N):
            A = adv[i]
            s = 0.0
            for t in range(T):
                if not mask[i, t]:
                    grad[i, t] = 0.0
                    continue
                raw = logp[i, t] - old[i, t]
                d = min(max(raw, -20.0), 20.0)
                r = np.exp(d)
                l1 = -A * r
                l2 = -A * min(max(r, 1 - CLIP_LOW), 1 + CLIP_HIGH)
                lc = max(l1, l2)
                l3 = -A * DUAL
                dual = A < 0 and l3 < lc
                ell = l3 if dual else lc
                kr = ref[i, t] - logp[i, t]
                k = min(max(kr, -20.0), 20.0)
                e = np.exp(k)
                kl = min(e - k - 1, 10.0)
                g = -A * r if (l1 >= l2 and not dual and abs(raw) <= 20) else 0.0
                if abs(kr) <= 20 and e - k - 1 <= 10:
                    g += KL_COEF * (1 - e)
                grad[i, t] = g / ntok
                s += ell + KL_COEF * kl
            partial[i] = s
        return partial.sum() / ntok

    def step(logp, old, ref, mask, rewards, G, grad, partial):
        adv = advantages(rewards, G)
        return fused(logp, old, ref, mask, adv, grad, partial), grad, adv

    return numba, step


def timed(fn, reps):
    fn()  # warm-up (and numba's compile)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return {"best": ts[0], "median": ts[len(ts) // 2]}


def main():
    B, G, T = (int(v) for v in sys.argv[1:4])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    N = B * G
    rng = np.random.default_rng(1)
    logp = (-rng.random((N, T), dtype=np.float32) * 3).astype(np.float32)
    old = (logp + rng.normal(0, 0.1, (N, T))).astype(np.float32)
    ref = (logp + rng.normal(0, 0.1, (N, T))).astype(np.float32)
    lengths = rng.integers(T // 4, T + 1, N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    rewards = rng.integers(0, 2, N).astype(np.float32)
    out = {"shape": [B, G, T], "tokens": int(mask.sum())}
    loss_np = numpy_step(logp, old, ref, mask, rewards, G)[0]
    out["numpy"] = timed(lambda: numpy_step(logp, old, ref, mask, rewards, G), reps)
    out["loss"] = {"numpy": loss_np}
    try:
        numba, step = make_numba()
        grad = np.empty_like(logp)
        partial = np.empty(N, dtype=np.float64)
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            out[f"numba{threads}"] = timed(lambda: step(logp, old, ref, mask, rewards, G, grad, partial), reps)
        out["loss"]["numba"] = float(step(logp, old, ref, mask, rewards, G, grad, partial)[0])
    except ImportError as e:
        out["numbaError"] = str(e)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
