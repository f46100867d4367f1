/** `numkern lstsq A.mtx b.mtx`: one least-squares solve from Matrix Market files, reported as a line or JSON. */
import { parseArgs } from 'node:util';
import type { Context } from '../context.js';
import { fail } from '../core/errors.js';
import { readMatrixMarket } from '../core/matrix-market.js';
import type { BackendName, CsrMatrix, FloatArray } from '../core/types.js';
import { LSTSQ_METHODS, type LstsqMethod } from '../sketch/lstsq.js';
import type { SketchKind, SketchOperand } from '../sketch/ops.js';
import { fallbackNote } from './fallback.js';
import { plural } from './progress.js';

export const LSTSQ_OPTIONS = {
  method: { type: 'string' }, sketch: { type: 'string' }, m: { type: 'string' }, 'nnz-per-col': { type: 'string' }, seed: { type: 'string' },
  tol: { type: 'string' }, 'max-iter': { type: 'string' }, rcond: { type: 'string' }, backend: { type: 'string' }, dtype: { type: 'string' },
  out: { type: 'string' }, json: { type: 'boolean' },
} as const;

export const LSTSQ_USAGE = `lstsq A.mtx b.mtx [--method sketch-and-precondition] [--sketch sparse-sign] [--m M]
        [--nnz-per-col 8] [--seed 0] [--tol T] [--max-iter N] [--rcond R] [--backend auto]
        [--dtype f64] [--out x.mtx] [--json]
                            min ‖A x − b‖₂ for a tall A (dense array or sparse coordinate file):
                            prints the residual, iterations, rank, time and backend. Methods:
                            ${LSTSQ_METHODS.join(', ')}`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x)) fail('E_DTYPE', name, `expected a number, got '${v}'`);
  return x;
}

function column(m: CsrMatrix, name: string): FloatArray {
  if (m.ncols !== 1) fail('E_SHAPE', name, `expected a single column, got ${m.nrows}×${m.ncols}`);
  const out = m.values instanceof Float32Array ? new Float32Array(m.nrows) : new Float64Array(m.nrows);
  for (let i = 0; i < m.nrows; i++) if (m.rowPtr[i + 1]! > m.rowPtr[i]!) out[i] = m.values[m.rowPtr[i]!]!;
  return out;
}

export async function lstsqCommand(ctx: Context, argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: LSTSQ_OPTIONS });
  if (positionals.length !== 2) {
    process.stderr.write(`numkern lstsq: expected A.mtx and b.mtx, got ${positionals.length} files\nusage: numkern ${LSTSQ_USAGE}\n`);
    return 2;
  }
  const dtype = (values.dtype ?? 'f64') as 'f64' | 'f32';
  if (dtype !== 'f64' && dtype !== 'f32') fail('E_RANGE', '--dtype', `expected f64 or f32, got '${values.dtype}'`);
  const a = await readMatrixMarket(positionals[0]!, { dtype });
  const A: SketchOperand = a.matrix;
  const bf = await readMatrixMarket(positionals[1]!, { dtype });
  const b = bf.kind === 'array' ? bf.matrix.data : column(bf.matrix as CsrMatrix, positionals[1]!);
  if (bf.kind === 'array' && bf.matrix.cols !== 1) fail('E_SHAPE', positionals[1]!, `expected a single column, got ${bf.matrix.rows}×${bf.matrix.cols}`);
  const seedText = values.seed;
  if (seedText !== undefined && !/^[0-9]{1,20}$/.test(seedText)) fail('E_RANGE', '--seed', `expected a decimal integer, got '${seedText}'`);
  const requested = values.backend as BackendName | 'auto' | undefined;
  const before = ctx.fallbacks().length;
  const r = await ctx.sketch.lstsq(A, b, {
    method: values.method as LstsqMethod | undefined,
    sketch: values.sketch as SketchKind | undefined,
    m: num(values.m, '--m'),
    nnzPerCol: num(values['nnz-per-col'], '--nnz-per-col'),
    seed: seedText === undefined ? undefined : BigInt(seedText),
    tol: num(values.tol, '--tol'),
    maxIter: num(values['max-iter'], '--max-iter'),
    rcond: num(values.rcond, '--rcond'),
    backend: requested,
  });
  const fallback = fallbackNote(ctx, before, requested, r.backend);
  if (values.out) {
    const { writeMatrixMarketFile } = await import('../core/matrix-market.js');
    await writeMatrixMarketFile(values.out, { rows: r.x.length, cols: 1, data: r.x });
    if (!values.json) process.stderr.write(`numkern lstsq: wrote x (${r.x.length} values) to ${values.out}\n`);
  }
  const rows = a.kind === 'array' ? a.matrix.rows : a.matrix.nrows;
  const cols = a.kind === 'array' ? a.matrix.cols : a.matrix.ncols;
  let bsq = 0;
  for (let i = 0; i < b.length; i++) bsq += b[i]! * b[i]!;
  const summary = {
    rows, cols, method: r.method, sketch: r.sketch, iterations: r.iterations, rank: r.rank, converged: r.converged, stopReason: r.stopReason,
    residualNorm: r.residualNorm, relativeResidual: bsq > 0 ? r.residualNorm / Math.sqrt(bsq) : 0, seconds: r.seconds, backend: r.backend,
    backends: r.backends, requestedBackend: requested ?? 'auto', fallback, warnings: r.warnings, out: values.out ?? null,
  };
  if (values.json) {
    out(`${JSON.stringify(summary, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
  } else {
    const sk = r.sketch ? ` (${r.sketch.kind}, m = ${r.sketch.m}, seed ${r.sketch.seed})` : '';
    out(
      `${r.method}${sk} on ${rows}×${cols}: ${r.converged ? r.stopReason : 'NOT converged'} after ${plural(r.iterations, 'iteration')}, rank ${r.rank}, ` +
      `‖b−Ax‖ = ${r.residualNorm.toExponential(6)} (relative ${summary.relativeResidual.toExponential(3)}), ${(r.seconds * 1e3).toFixed(1)} ms on ${r.backend}\n` +
      r.warnings.map((w) => `  warning: ${w}\n`).join('') +
      (fallback ? `  --backend ${fallback.requested} fell back to ${fallback.used}: ${fallback.reason}\n` : ''),
    );
  }
  return r.converged ? 0 : 3;
}
