/** `numkern solve A.mtx [b.mtx]`: one solve from Matrix Market files, reported as a line or JSON. */
import { parseArgs } from 'node:util';
import type { Context } from '../context.js';
import { fail } from '../core/errors.js';
import { readMatrixMarket, writeMatrixMarketFile, type MatrixMarketData } from '../core/matrix-market.js';
import type { BackendName, CsrMatrix, DenseMatrix, FloatArray } from '../core/types.js';
import type { RelaxMethod } from '../relax/ops.js';
import { checkOperator } from '../relax/validate.js';
import { fallbackNote, type FallbackNote } from './fallback.js';
import { plural, ProgressBar, toleranceFraction } from './progress.js';

export const SOLVE_USAGE = `solve A.mtx[.gz] [b.mtx] [--method ssor-cg] [--omega 1] [--tol 1e-8] [--criterion relative]
        [--max-iter 10000] [--backend auto] [--dtype f64] [--out x.mtx] [--json] [--progress]
                            one solve from Matrix Market files (sparse coordinate or dense array;
                            gzip read as is; b defaults to ones): prints iterations, residual,
                            time and backend`;

export const SOLVE_OPTIONS = {
  method: { type: 'string' }, omega: { type: 'string' }, tol: { type: 'string' }, criterion: { type: 'string' },
  'max-iter': { type: 'string' }, backend: { type: 'string' }, dtype: { type: 'string' }, out: { type: 'string' },
  json: { type: 'boolean' }, progress: { type: 'boolean' },
} as const;

/** The CG-type methods: they need A symmetric positive definite (docs/relax.md §1.4). */
const CG_METHODS = new Set(['cg', 'ssor-cg']);

export async function solveCommand(ctx: Context, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SOLVE_OPTIONS });
  if (positionals.length < 1 || positionals.length > 2) {
    process.stderr.write(`numkern solve: expected A.mtx and optionally b.mtx, got ${positionals.length} files\nusage: numkern ${SOLVE_USAGE}\n`);
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
  const file = positionals[0]!;
  const a = await readMatrixMarket(file, { dtype });
  const A = operatorOf(a);
  // Messages about the file's matrix count rows from 1, as the file does.
  checkOperator(A, file, { indexBase: 1 });
  const method = values.method ?? 'ssor-cg';
  const warnings: string[] = [];
  // A 'general' file may still hold a symmetric matrix (many are stored that way): warn only when it is not.
  if (CG_METHODS.has(method) && a.symmetry !== 'symmetric' && !isSymmetric(A)) {
    warnings.push(
      `${file} is a ${a.symmetry} (unsymmetric) matrix: ${method} needs a symmetric positive definite matrix and may stall ` +
      'or diverge on it (use --method sor or jacobi)',
    );
  }
  for (const w of warnings) process.stderr.write(`numkern solve: warning: ${w}\n`);
  let b: FloatArray;
  if (positionals[1]) {
    const bf = await readMatrixMarket(positionals[1], { dtype });
    b = bf.kind === 'array' ? columnOfDense(bf.matrix, positionals[1]) : columnOfCsr(bf.matrix, positionals[1]);
  } else {
    b = dtype === 'f32' ? new Float32Array(A.nrows).fill(1) : new Float64Array(A.nrows).fill(1);
  }
  const maxIter = num(values['max-iter'], '--max-iter') ?? 10000;
  const tol = num(values.tol, '--tol');
  const criterion = values.criterion as 'relative' | 'absolute' | undefined;
  // x0 = 0, so r0 = b: the bar runs from ‖b‖ down to the target the solver stops at.
  let bsq = 0;
  for (let i = 0; i < b.length; i++) bsq += b[i]! * b[i]!;
  const r0 = Math.sqrt(bsq);
  const target = criterion === 'absolute' ? (tol ?? 1e-8) : (tol ?? 1e-8) * r0;
  const bar = new ProgressBar(method, values.progress ?? (process.stderr.isTTY === true && !values.json));
  const requested = values.backend as BackendName | 'auto' | undefined;
  const before = ctx.fallbacks().length;
  const r = await ctx.solve(A, b, {
    method: values.method as RelaxMethod | undefined,
    omega: num(values.omega, '--omega'),
    tol,
    criterion,
    maxIter,
    backend: requested,
    onProgress: (p) => bar.update(
      p.residualNorm === undefined ? 0 : toleranceFraction(p.residualNorm, r0, target),
      `${plural(p.iteration, 'iteration')}${p.residualNorm === undefined ? '' : `, ‖r‖ ${p.residualNorm.toExponential(2)} → ${target.toExponential(2)}`}`,
    ),
  });
  bar.done();
  const fallback: FallbackNote | null = fallbackNote(ctx, before, requested, r.backend);
  if (values.out) {
    await writeMatrixMarketFile(values.out, { rows: r.x.length, cols: 1, data: r.x });
    // A file written is worth a line, but stdout stays one JSON document under --json.
    if (!values.json) process.stderr.write(`numkern solve: wrote x (${r.x.length} values) to ${values.out}\n`);
  }
  const summary = {
    n: A.nrows, nnz: A.colIdx.length, method: r.method, omega: r.omega, iterations: r.iterations, converged: r.converged, diverged: r.diverged,
    stop: r.stop, stopDetail: r.stopDetail,
    residualNorm: r.residualNorm, relativeResidual: r.initialResidualNorm > 0 ? r.residualNorm / r.initialResidualNorm : 0,
    seconds: r.seconds, backend: r.backend, requestedBackend: requested ?? 'auto', fallback, warnings, out: values.out ?? null,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `${r.method} ω=${r.omega} on ${A.nrows}×${A.ncols} (nnz ${A.colIdx.length}): ${r.converged ? 'converged' : r.diverged ? 'DIVERGED' : 'NOT converged'} ` +
      `in ${plural(r.iterations, 'iteration')}, ‖b−Ax‖ = ${r.residualNorm.toExponential(3)} (relative ${summary.relativeResidual.toExponential(3)}), ` +
      `${(r.seconds * 1e3).toFixed(1)} ms on ${r.backend}\n${r.converged ? '' : `  ${r.stopDetail}\n`}` +
      (fallback ? `  --backend ${fallback.requested} fell back to ${fallback.used}: ${fallback.reason}\n` : ''),
    );
  }
  return r.converged ? 0 : 3;
}

/**
 * A as CSR: a coordinate file as read; a dense (array) file with its exact zeros dropped, since the
 * solvers take sparse operators (a dense SPD system is still solved, at dense cost).
 */
function operatorOf(a: MatrixMarketData): CsrMatrix {
  if (a.kind === 'coordinate') return a.matrix;
  const { rows, cols, data } = a.matrix;
  let nnz = 0;
  for (let k = 0; k < data.length; k++) if (data[k] !== 0) nnz++;
  const rowPtr = new Int32Array(rows + 1);
  const colIdx = new Int32Array(nnz);
  const values = data instanceof Float32Array ? new Float32Array(nnz) : new Float64Array(nnz);
  let w = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = data[i * cols + j]!;
      if (v !== 0) {
        colIdx[w] = j;
        values[w++] = v;
      }
    }
    rowPtr[i + 1] = w;
  }
  return { nrows: rows, ncols: cols, rowPtr, colIdx, values };
}

/** A equals its transpose exactly; CSR columns are strictly increasing per row, so (j, i) is found by bisection. */
function isSymmetric(A: CsrMatrix): boolean {
  if (A.nrows !== A.ncols) return false;
  const { rowPtr, colIdx, values } = A;
  for (let i = 0; i < A.nrows; i++) {
    for (let k = rowPtr[i]!; k < rowPtr[i + 1]!; k++) {
      const j = colIdx[k]!;
      if (j === i) continue;
      let lo = rowPtr[j]!;
      let hi = rowPtr[j + 1]! - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (colIdx[mid]! < i) lo = mid + 1;
        else hi = mid;
      }
      if (lo > hi || colIdx[lo] !== i || values[lo] !== values[k]) return false;
    }
  }
  return true;
}

function columnOfDense(m: DenseMatrix, name: string): FloatArray {
  if (m.cols !== 1) fail('E_SHAPE', name, `expected a single column, got ${m.rows}×${m.cols}`);
  return m.data;
}

function columnOfCsr(m: CsrMatrix, name: string): FloatArray {
  if (m.ncols !== 1) fail('E_SHAPE', name, `expected a single column, got ${m.nrows}×${m.ncols}`);
  const out = m.values instanceof Float32Array ? new Float32Array(m.nrows) : new Float64Array(m.nrows);
  for (let i = 0; i < m.nrows; i++) if (m.rowPtr[i + 1]! > m.rowPtr[i]!) out[i] = m.values[m.rowPtr[i]!]!;
  return out;
}
