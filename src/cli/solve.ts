/** `numkern solve A.mtx [b.mtx]`: one solve from Matrix Market files, reported as a line or JSON. */
import { parseArgs } from 'node:util';
import type { Context } from '../context.js';
import { fail } from '../core/errors.js';
import { readMatrixMarket } from '../core/matrix-market.js';
import type { BackendName, CsrMatrix, FloatArray } from '../core/types.js';
import type { RelaxMethod } from '../relax/ops.js';
import { checkOperator } from '../relax/validate.js';
import { ProgressBar } from './progress.js';

export const SOLVE_USAGE = `solve A.mtx [b.mtx] [--method ssor-cg] [--omega 1] [--tol 1e-8] [--criterion relative]
        [--max-iter 10000] [--backend auto] [--dtype f64] [--out x.mtx] [--json] [--progress]
                            one solve from Matrix Market files (b defaults to ones): prints
                            iterations, residual, time and backend`;

export async function solveCommand(ctx: Context, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      method: { type: 'string' }, omega: { type: 'string' }, tol: { type: 'string' }, criterion: { type: 'string' },
      'max-iter': { type: 'string' }, backend: { type: 'string' }, dtype: { type: 'string' }, out: { type: 'string' },
      json: { type: 'boolean' }, progress: { type: 'boolean' },
    },
  });
  if (positionals.length < 1 || positionals.length > 2) {
    process.stderr.write(`usage: numkern ${SOLVE_USAGE}\n`);
    return 2;
  }
  const dtype = (values.dtype ?? 'f64') as 'f64' | 'f32';
  if (dtype !== 'f64' && dtype !== 'f32') fail('E_RANGE', '--dtype', `expected f64 or f32, got '${values.dtype}'`);
  const num = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === '' || Number.isNaN(x)) fail('E_DTYPE', name, `expected a number, got '${v}'`);
    return x;
  };
  const a = await readMatrixMarket(positionals[0]!, { dtype });
  if (a.kind !== 'coordinate') fail('E_SHAPE', positionals[0]!, 'A must be a sparse (coordinate) Matrix Market file');
  const A = a.matrix as CsrMatrix;
  // Messages about the file's matrix count rows from 1, as the file does.
  checkOperator(A, positionals[0]!, { indexBase: 1 });
  let b: FloatArray;
  if (positionals[1]) {
    const bf = await readMatrixMarket(positionals[1], { dtype });
    b = bf.kind === 'array' ? bf.matrix.data : denseOf(bf.matrix as CsrMatrix);
  } else {
    b = dtype === 'f32' ? new Float32Array(A.nrows).fill(1) : new Float64Array(A.nrows).fill(1);
  }
  const maxIter = num(values['max-iter'], '--max-iter') ?? 10000;
  const bar = new ProgressBar(values.method ?? 'ssor-cg', maxIter, values.progress ?? (process.stderr.isTTY === true && !values.json));
  const r = await ctx.solve(A, b, {
    method: values.method as RelaxMethod | undefined,
    omega: num(values.omega, '--omega'),
    tol: num(values.tol, '--tol'),
    criterion: values.criterion as 'relative' | 'absolute' | undefined,
    maxIter,
    backend: values.backend as BackendName | 'auto' | undefined,
    onProgress: (p) => bar.update(p.iteration, p.residualNorm === undefined ? '' : `‖r‖ ${p.residualNorm.toExponential(2)}`),
  });
  bar.done();
  if (values.out) {
    const { writeMatrixMarketFile } = await import('../core/matrix-market.js');
    await writeMatrixMarketFile(values.out, { rows: r.x.length, cols: 1, data: r.x });
  }
  const summary = {
    n: A.nrows, nnz: A.colIdx.length, method: r.method, omega: r.omega, iterations: r.iterations, converged: r.converged, diverged: r.diverged,
    stop: r.stop, stopDetail: r.stopDetail,
    residualNorm: r.residualNorm, relativeResidual: r.initialResidualNorm > 0 ? r.residualNorm / r.initialResidualNorm : 0,
    seconds: r.seconds, backend: r.backend,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `${r.method} ω=${r.omega} on ${A.nrows}×${A.ncols} (nnz ${A.colIdx.length}): ${r.converged ? 'converged' : r.diverged ? 'DIVERGED' : 'NOT converged'} ` +
      `in ${r.iterations} iterations, ‖b−Ax‖ = ${r.residualNorm.toExponential(3)} (relative ${summary.relativeResidual.toExponential(3)}), ` +
      `${(r.seconds * 1e3).toFixed(1)} ms on ${r.backend}\n${r.converged ? '' : `  ${r.stopDetail}\n`}`,
    );
  }
  return r.converged ? 0 : 3;
}

function denseOf(m: CsrMatrix): FloatArray {
  if (m.ncols !== 1) fail('E_SHAPE', 'b', `expected a single column, got ${m.nrows}×${m.ncols}`);
  const out = m.values instanceof Float32Array ? new Float32Array(m.nrows) : new Float64Array(m.nrows);
  for (let i = 0; i < m.nrows; i++) if (m.rowPtr[i + 1]! > m.rowPtr[i]!) out[i] = m.values[m.rowPtr[i]!]!;
  return out;
}
