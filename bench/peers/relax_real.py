"""Peers for the real-matrix relax bench (bench/suites/relax-real.ts), timed in the same run as numkern.

Usage: python3 relax_real.py spec.json   (Debian's /usr/bin/python3: python3-scipy; python3-petsc4py optional)
spec.json: {"reps": int, "matrices": [{"name", "file" (Matrix Market), "b" (little-endian f64 file),
            "plans": [{"method": "ssor-cg" | "cg" | "sor", "omega": float}]}]}
Prints one JSON object {"petsc": version or null, "why": reason PETSc is absent, "matrices": {name: {...}}}
with, per matrix, "spmv" (best seconds of SciPy's A @ x), "scipy_cg" {its, best, residual} and, when
PETSc is there, one entry per plan {its, best, median, residual} plus "gamg" {its, best, setup}.

PETSc is called as docs/peers.md says: KSPCG + PCSOR symmetric with ω (SSOR-CG), KSPCG + PCNONE (CG),
KSPRICHARDSON + PCSOR forward with ω (SOR); rtol 1e-8, atol 0, KSP_NORM_UNPRECONDITIONED (the same
true-residual test as numkern), x0 = 0. Each timing is setUp + solve on a fresh KSP with the matrix
already assembled (numkern's prepared operator is the same split), best and median of `reps` after one
warm-up. The residual reported is ‖b − A x‖₂/‖b‖₂ of the returned x.
"""
import json
import os
import sys
import time

import numpy as np
import scipy.io
import scipy.sparse
import scipy.sparse.linalg as spla


def load_petsc():
    try:
        d = '/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real'
        if os.path.isdir(d):
            os.environ.setdefault('PETSC_DIR', d)
            p = os.path.join(d, 'lib/python3/dist-packages')
            if p not in sys.path:
                sys.path.append(p)
        import petsc4py
        petsc4py.init([])
        from petsc4py import PETSc
        return PETSc, None
    except Exception as e:  # noqa: BLE001 - any import failure means "no PETSc peer"
        return None, f'{type(e).__name__}: {e}'


# A solve is repeated at least `reps` times and for at least MIN_SECONDS (at most MAX_REPS times): a
# best of three sub-millisecond solves on a shared machine measures the load. numkern's side
# (bench/suites/relax-real.ts) uses the same rule.
MIN_SECONDS = 0.1
MAX_REPS = 50


def timed(reps, f):
    f()
    ts = []
    out = None
    while len(ts) < reps or (sum(ts) < MIN_SECONDS and len(ts) < MAX_REPS):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[0], ts[len(ts) // 2], out


def petsc_solve(PETSc, M, bv, plan, reps):
    method = plan['method']
    omega = float(plan.get('omega', 1.0))
    x = bv.duplicate()

    # petsc4py 3.18 has no PC.setSOR*: SOR's sweep type and ω go through the options database, under a
    # prefix of this plan's own.
    prefix = f'nk_{method.replace("-", "_")}_'
    opts = PETSc.Options()
    if method in ('sor', 'ssor-cg'):
        opts[f'{prefix}pc_sor_omega'] = omega
        opts[f'{prefix}pc_sor_forward' if method == 'sor' else f'{prefix}pc_sor_symmetric'] = None

    def run():
        ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
        ksp.setOptionsPrefix(prefix)
        ksp.setOperators(M)
        pc = ksp.getPC()
        ksp.setType('richardson' if method == 'sor' else 'cg')
        pc.setType('sor' if method in ('sor', 'ssor-cg') else 'gamg' if method == 'gamg' else 'none')
        ksp.setFromOptions()
        if method == 'sor':
            # Richardson's fast path (PCApplyRichardson_SOR) ignores rtol and runs max_it sweeps; any
            # monitor turns it off, so each sweep is followed by the residual test numkern also runs.
            ksp.setMonitor(lambda *_: None)
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=1e-8, atol=0.0, max_it=100000)
        ksp.setInitialGuessNonzero(False)
        ksp.setUp()
        x.set(0.0)
        ksp.solve(bv, x)
        its = ksp.getIterationNumber()
        ksp.destroy()
        return its

    best, median, its = timed(reps, run)
    return best, median, its, x.getArray().copy()


def main():
    spec = json.load(open(sys.argv[1]))
    reps = int(spec.get('reps', 3))
    PETSc, why = load_petsc()
    out = {'petsc': None if PETSc is None else '.'.join(map(str, PETSc.Sys.getVersion())), 'why': why, 'matrices': {}}
    for m in spec['matrices']:
        A = scipy.sparse.csr_matrix(scipy.io.mmread(m['file']))
        A.sort_indices()
        b = np.fromfile(m['b'], dtype='<f8')
        nb = float(np.linalg.norm(b))
        rel = lambda x: float(np.linalg.norm(b - A @ x)) / nb  # noqa: E731
        res = {}
        xs = np.sin(np.arange(A.shape[1], dtype=np.float64))
        best, _, _ = timed(max(reps, 20), lambda: A @ xs)
        res['spmv'] = best
        count = [0]

        def cb(_):
            count[0] += 1

        def scipy_cg():
            count[0] = 0
            x, _ = spla.cg(A, b, tol=1e-8, atol=0.0, maxiter=100000, callback=cb)
            return x

        best, median, x = timed(reps, scipy_cg)
        res['scipy_cg'] = {'its': count[0], 'best': best, 'median': median, 'residual': rel(x)}
        if PETSc is not None:
            M = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType), A.data), comm=PETSc.COMM_SELF)
            M.assemble()
            bv = PETSc.Vec().createWithArray(b.copy(), comm=PETSc.COMM_SELF)
            for plan in m['plans'] + [{'method': 'gamg'}]:
                key = plan['method'] if plan['method'] != 'sor' else 'sor'
                try:
                    best, median, its, x = petsc_solve(PETSc, M, bv, plan, reps)
                    res[key] = {'its': its, 'best': best, 'median': median, 'residual': rel(x), 'omega': plan.get('omega')}
                except Exception as e:  # noqa: BLE001 - a solver PETSc refuses is reported, not fatal
                    res[key] = {'error': f'{type(e).__name__}: {e}'}
            M.destroy()
            bv.destroy()
        out['matrices'][m['name']] = res
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
