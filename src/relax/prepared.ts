/**
 * Prepared operators: `ctx.relax.prepare(A)` validates A once and snapshots it, so a sequence of solves
 * with one matrix skips re-validation, and backends may keep what they derive from it (widened values,
 * the diagonal, split triangles and pipeline plans, colourings, device uploads) for the life of the
 * handle. The snapshot is private: the caller's later in-place edits do not reach it (they need a new
 * prepare). `dispose()` releases everything backends cached for it (device memory included).
 */
import { fail } from '../core/errors.js';
import { describe, registerPreparedCsr } from '../core/validate.js';
import { recognizeStencil } from '../core/stencil.js';
import { isStencil, type LinearOperator } from '../core/types.js';
import type { PreparedToken } from './ops.js';
import { checkOperator, operatorDtype, operatorSize } from './validate.js';

export interface PrepareOptions {
  /** Run a CSR matrix that is exactly a grid stencil's twin as that stencil (same bits, no index traffic). Default true. */
  readonly recognizeStencil?: boolean;
}

export function checkPrepareOptions(options: unknown, name = 'options'): PrepareOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) fail('E_DTYPE', name, `expected an options object, got ${describe(options)}`);
  const r = (options as { recognizeStencil?: unknown }).recognizeStencil;
  if (r !== undefined && typeof r !== 'boolean') fail('E_DTYPE', `${name}.recognizeStencil`, `expected a boolean, got ${describe(r)}`);
  return r === undefined ? {} : { recognizeStencil: r };
}

function snapshot(A: LinearOperator): LinearOperator {
  if (!isStencil(A)) return { nrows: A.nrows, ncols: A.ncols, rowPtr: A.rowPtr.slice(), colIdx: A.colIdx.slice(), values: A.values.slice() };
  const c = A.coeffs;
  const coeffs = c.kind === 'constant'
    ? { kind: 'constant' as const, diag: c.diag, offdiag: [...c.offdiag] }
    : { kind: 'variable' as const, diag: c.diag.slice(), offdiag: c.offdiag.map((a) => a.slice()) };
  return { kind: 'stencil', shape: [...A.shape], coeffs } as LinearOperator;
}

/** Whether `A` still holds exactly the values of the snapshot (same structure, same numbers). */
export function sameContent(A: LinearOperator, S: LinearOperator): boolean {
  const eq = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  };
  if (isStencil(A) !== isStencil(S)) return false;
  if (isStencil(A) && isStencil(S)) {
    const a = A.coeffs;
    const s = S.coeffs;
    if (!eq(A.shape, S.shape) || a.kind !== s.kind) return false;
    if (a.kind === 'constant' && s.kind === 'constant') return a.diag === s.diag && eq(a.offdiag, s.offdiag);
    if (a.kind === 'variable' && s.kind === 'variable') return eq(a.diag, s.diag) && a.offdiag.every((v, k) => eq(v, s.offdiag[k]!));
    return false;
  }
  const m = A as Exclude<LinearOperator, { kind: 'stencil' }>;
  const n = S as Exclude<LinearOperator, { kind: 'stencil' }>;
  return m.nrows === n.nrows && m.values.constructor === n.values.constructor && eq(m.rowPtr, n.rowPtr) && eq(m.colIdx, n.colIdx) && eq(m.values, n.values);
}

export class PreparedOperator implements PreparedToken {
  readonly kind = 'prepared';
  /** Unknowns. */
  readonly n: number;
  /** Stored entries touched by one pass: the dispatch size. */
  readonly work: number;
  /** dtype of the matrix values; null for a constant stencil (any right-hand side dtype). */
  readonly dtype: 'f32' | 'f64' | null;
  /** @internal what the kernels read: the snapshot, or the stencil it was recognized as. */
  readonly operator: LinearOperator;
  /** @internal the snapshot of A as given, which a later matrix is compared with (solveSequence). */
  readonly source: LinearOperator;
  /**
   * What prepare() recognized the CSR matrix as, when it is the exact twin of a grid stencil ("2-D
   * 5-point stencil 512×512, constant coefficients"): its solves then run the stencil kernels, which
   * compute the same bits without reading indices. Null when A runs as given.
   */
  readonly recognized: string | null;
  private releases: (() => void)[] = [];
  private isDisposed = false;

  /** @internal use ctx.relax.prepare(A). */
  constructor(A: unknown, name = 'A', options: PrepareOptions = {}) {
    const src = snapshot(checkOperator(A, name));
    const stencil = options.recognizeStencil === false || isStencil(src) ? null : recognizeStencil(src);
    this.source = src;
    this.operator = stencil ?? src;
    this.recognized = stencil === null ? null
      : `${stencil.shape.length}-D ${2 * stencil.shape.length + 1}-point stencil ${stencil.shape.join('×')}, ${stencil.coeffs.kind} coefficients`;
    const { n, work } = operatorSize(this.operator);
    this.n = n;
    this.work = work;
    // The matrix's own dtype, even when it runs as a (dtype-free) constant stencil: the right-hand sides it accepts do not change.
    this.dtype = operatorDtype(src);
    // Other ops on the same matrix (ctx.linalg.spmv(P, x)) may use the validated snapshot too.
    if (!isStencil(src)) registerPreparedCsr(this, src);
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  own(release: () => void): void {
    if (this.isDisposed) {
      release();
      return;
    }
    this.releases.push(release);
  }

  /** Releases what every backend kept for this operator; solving with it afterwards is E_RANGE. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    registerPreparedCsr(this, null);
    const rs = this.releases;
    this.releases = [];
    for (const r of rs) r();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export function isPrepared(A: unknown): A is PreparedOperator {
  return A instanceof PreparedOperator;
}

export function checkPrepared(P: PreparedOperator, name: string): PreparedOperator {
  if (P.disposed) fail('E_RANGE', name, 'this prepared operator was disposed; prepare the matrix again');
  return P;
}

