/**
 * Matrix Market writer: CSR as `coordinate` (general, or the lower triangle of an exactly symmetric
 * matrix), dense as `array`; fields real (shortest round-trip decimals), integer or pattern. What it
 * writes, ./matrix-market.ts reads back to the same matrix.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { fail } from './errors.js';
import { allocF64, allocI32 } from './alloc.js';
import { checkDim, ioError, type MatrixMarketField, type MatrixMarketWriteOptions } from './matrix-market.js';
import type { CsrMatrix, DenseMatrix } from './types.js';
import { checkDense } from './validate.js';

/** Shortest decimal that parses back to the same f64; '-0' keeps the sign bit. */
function formatReal(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

/** Integer digits without an exponent (String(1e21) would not read back as an integer). */
function formatInteger(v: number): string {
  return Object.is(v, -0) ? '-0' : BigInt(v).toString();
}

function checkValue(v: number, k: number, field: MatrixMarketField, name: string): void {
  if (!Number.isFinite(v)) fail('E_NONFINITE', `${name}[${k}]`, `value is ${v}`);
  if (field === 'integer' && !Number.isInteger(v)) fail('E_RANGE', `${name}[${k}]`, `${v} is not an integer (field 'integer')`);
}

function validateCsr(m: CsrMatrix, field: MatrixMarketField): void {
  checkDim(m.nrows, 'm.nrows');
  checkDim(m.ncols, 'm.ncols');
  const { nrows, ncols, rowPtr, colIdx, values } = m;
  if (!(rowPtr instanceof Int32Array)) fail('E_DTYPE', 'm.rowPtr', 'expected an Int32Array');
  if (!(colIdx instanceof Int32Array)) fail('E_DTYPE', 'm.colIdx', 'expected an Int32Array');
  if (rowPtr.length !== nrows + 1) fail('E_CSR_INVALID', 'm.rowPtr', `length ${rowPtr.length}, expected nrows + 1 = ${nrows + 1}`);
  if (rowPtr[0] !== 0) fail('E_CSR_INVALID', 'm.rowPtr', `rowPtr[0] is ${rowPtr[0]}, expected 0`);
  const nnz = rowPtr[nrows];
  if (nnz > colIdx.length) fail('E_CSR_INVALID', 'm.colIdx', `length ${colIdx.length} is less than rowPtr[nrows] = ${nnz}`);
  if (field !== 'pattern') {
    if (!(values instanceof Float64Array) && !(values instanceof Float32Array)) fail('E_DTYPE', 'm.values', 'expected a Float64Array or Float32Array');
    if (nnz > values.length) fail('E_CSR_INVALID', 'm.values', `length ${values.length} is less than rowPtr[nrows] = ${nnz}`);
  }
  // Pointers first, in O(nrows), so the entry scan below is bounded by nnz whatever a pointer holds.
  for (let r = 0; r < nrows; r++) {
    if (rowPtr[r + 1] < rowPtr[r]) fail('E_CSR_INVALID', 'm.rowPtr', `decreases at row ${r}`);
    if (rowPtr[r + 1] > nnz) fail('E_CSR_INVALID', 'm.rowPtr', `rowPtr[${r + 1}] = ${rowPtr[r + 1]} exceeds rowPtr[nrows] = ${nnz}`);
  }
  for (let r = 0; r < nrows; r++) {
    const a = rowPtr[r];
    const b = rowPtr[r + 1];
    let prev = -1;
    for (let k = a; k < b; k++) {
      const c = colIdx[k];
      if (c < 0 || c >= ncols) fail('E_CSR_INVALID', `m.colIdx[${k}]`, `column ${c} outside [0, ${ncols})`);
      if (c <= prev) fail('E_CSR_INVALID', `m.colIdx[${k}]`, `columns not strictly increasing in row ${r}`);
      prev = c;
      if (field !== 'pattern') checkValue(values[k], k, field, 'm.values');
    }
  }
}

/** Throws E_SHAPE naming the first (row, col) where the canonical CSR matrix differs from its transpose. */
function checkCsrSymmetric(m: CsrMatrix, comparePattern: boolean): void {
  const { nrows: n, rowPtr, colIdx, values } = m;
  if (m.nrows !== m.ncols) fail('E_SHAPE', 'm', `symmetric output needs a square matrix, got ${m.nrows} x ${m.ncols}`);
  const nnz = rowPtr[n];
  // Transpose by counting sort; rows are visited in order, so the transpose is canonical too.
  const tPtr = allocI32(n + 1, 'm');
  for (let k = 0; k < nnz; k++) tPtr[colIdx[k] + 1]++;
  for (let c = 0; c < n; c++) tPtr[c + 1] += tPtr[c];
  const cursor = tPtr.slice(0, n);
  const tIdx = allocI32(nnz, 'm');
  const tVal = allocF64(comparePattern ? 0 : nnz, 'm');
  for (let r = 0; r < n; r++) {
    for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
      const dst = cursor[colIdx[k]]++;
      tIdx[dst] = r;
      if (!comparePattern) tVal[dst] = values[k];
    }
  }
  for (let r = 0; r < n; r++) {
    let a = rowPtr[r];
    let b = tPtr[r];
    const aEnd = rowPtr[r + 1];
    const bEnd = tPtr[r + 1];
    while (a < aEnd || b < bEnd) {
      const ca = a < aEnd ? colIdx[a] : n;
      const cb = b < bEnd ? tIdx[b] : n;
      if (ca !== cb) {
        const c = Math.min(ca, cb);
        // ca < cb: A has (r, c) but not (c, r); otherwise A has (c, r) but not (r, c).
        const [i, j] = ca < cb ? [r, c] : [c, r];
        fail('E_SHAPE', 'm', `not symmetric: entry (${i}, ${j}) is stored but (${j}, ${i}) is not`);
      }
      if (!comparePattern && values[a] !== tVal[b]) {
        fail('E_SHAPE', 'm', `not symmetric: (${r}, ${ca}) = ${values[a]} but (${ca}, ${r}) = ${tVal[b]}`);
      }
      a++;
      b++;
    }
  }
}

function commentLines(comment: string | undefined): string[] {
  if (comment === undefined) return [];
  if (typeof comment !== 'string') fail('E_DTYPE', 'opts.comment', `expected a string, got ${typeof comment}`);
  return comment.split(/\r?\n/).map((line) => (line === '' ? '%' : `% ${line}`));
}

/** Lines per piece of text: a piece is one string of about a megabyte. */
const PIECE_LINES = 1 << 16;
/** V8's longest string on 64-bit hosts, (1 << 29) − 24 characters. */
const MAX_STRING_CHARS = 2 ** 29 - 24;

/** The lines as pieces of at most PIECE_LINES lines, each piece ending in a line break. */
function* inPieces(header: string[], lines: Iterable<string>): Generator<string> {
  yield `${header.join('\n')}\n`;
  let buf: string[] = [];
  for (const line of lines) {
    buf.push(line);
    if (buf.length === PIECE_LINES) {
      yield `${buf.join('\n')}\n`;
      buf = [];
    }
  }
  if (buf.length > 0) yield `${buf.join('\n')}\n`;
}

/**
 * Validates m and the options (throwing before anything is produced), then gives the Matrix Market text
 * as pieces, in order: the file writer streams them, so a matrix whose text is past one JavaScript
 * string (or past the heap as one array of lines: 84 M entries ended the process) is written in
 * bounded memory.
 */
export function matrixMarketPieces(m: CsrMatrix | DenseMatrix, opts: MatrixMarketWriteOptions = {}): Iterable<string> {
  const field = opts.field ?? 'real';
  if (field !== 'real' && field !== 'integer' && field !== 'pattern') {
    fail('E_RANGE', 'opts.field', `expected 'real', 'integer' or 'pattern', got ${String(field)}`);
  }
  const symmetric = opts.symmetric ?? false;
  if (typeof symmetric !== 'boolean') fail('E_DTYPE', 'opts.symmetric', `expected a boolean, got ${typeof symmetric}`);
  const fmt = field === 'integer' ? formatInteger : formatReal;
  const comments = commentLines(opts.comment);
  const sym = symmetric ? 'symmetric' : 'general';
  if (typeof m !== 'object' || m === null) return fail('E_DTYPE', 'm', 'expected a CsrMatrix or DenseMatrix');

  if ('rowPtr' in m) {
    validateCsr(m, field);
    if (symmetric) checkCsrSymmetric(m, field === 'pattern');
    const { nrows, ncols, rowPtr, colIdx, values } = m;
    // Columns are sorted, so a row's lower triangle ends at its first column past the row.
    const rowEnd = (r: number): number => {
      if (!symmetric) return rowPtr[r + 1];
      let k = rowPtr[r];
      while (k < rowPtr[r + 1] && colIdx[k] <= r) k++;
      return k;
    };
    let count = 0;
    for (let r = 0; r < nrows; r++) count += rowEnd(r) - rowPtr[r];
    const entries = function* (): Generator<string> {
      for (let r = 0; r < nrows; r++) {
        const end = rowEnd(r);
        for (let k = rowPtr[r]; k < end; k++) yield field === 'pattern' ? `${r + 1} ${colIdx[k] + 1}` : `${r + 1} ${colIdx[k] + 1} ${fmt(values[k])}`;
      }
    };
    return inPieces([`%%MatrixMarket matrix coordinate ${field} ${sym}`, ...comments, `${nrows} ${ncols} ${count}`], entries());
  }

  if ('data' in m) {
    // Finiteness is checked below, per value, together with the field's integrality.
    const { rows, cols, data } = checkDense(m, 'm', { checkFinite: false });
    if (field === 'pattern') fail('E_RANGE', 'opts.field', "'pattern' applies to sparse matrices only (the array format has no pattern field)");
    for (let k = 0; k < data.length; k++) checkValue(data[k], k, field, 'm.data');
    if (symmetric) {
      if (rows !== cols) fail('E_SHAPE', 'm', `symmetric output needs a square matrix, got ${rows} x ${cols}`);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < i; j++) {
          if (data[i * cols + j] !== data[j * cols + i]) {
            fail('E_SHAPE', 'm', `not symmetric: (${i}, ${j}) = ${data[i * cols + j]} but (${j}, ${i}) = ${data[j * cols + i]}`);
          }
        }
      }
    }
    const values = function* (): Generator<string> {
      for (let j = 0; j < cols; j++) {
        for (let i = symmetric ? j : 0; i < rows; i++) yield fmt(data[i * cols + j]);
      }
    };
    return inPieces([`%%MatrixMarket matrix array ${field} ${sym}`, ...comments, `${rows} ${cols}`], values());
  }
  return fail('E_DTYPE', 'm', 'expected a CsrMatrix ({nrows, ncols, rowPtr, colIdx, values}) or DenseMatrix ({rows, cols, data})');
}

/** The pieces as one string, or E_RANGE naming m once they pass maxChars (a parameter for tests). */
export function joinPieces(pieces: Iterable<string>, maxChars: number = MAX_STRING_CHARS): string {
  const out: string[] = [];
  let length = 0;
  for (const piece of pieces) {
    length += piece.length;
    if (length > maxChars) {
      fail('E_RANGE', 'm', `its Matrix Market text passes ${maxChars} characters, more than one JavaScript string holds: write it with writeMatrixMarketFile, which streams it`);
    }
    out.push(piece);
  }
  return out.join('');
}

/**
 * Matrix Market text for a CSR (coordinate format) or dense (array format) matrix. Real
 * values use the shortest round-trip decimal, so parseMatrixMarket gives back the same bits.
 * Under `symmetric`, only the lower triangle (row ≥ col) is written.
 */
export function writeMatrixMarket(m: CsrMatrix | DenseMatrix, opts: MatrixMarketWriteOptions = {}): string {
  return joinPieces(matrixMarketPieces(m, opts));
}

/** writeMatrixMarket to a file (UTF-8), streamed a piece at a time. Validation errors are thrown before the file is touched. */
export async function writeMatrixMarketFile(path: string | URL, m: CsrMatrix | DenseMatrix, opts: MatrixMarketWriteOptions = {}): Promise<void> {
  const pieces = matrixMarketPieces(m, opts);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'w');
    for (const piece of pieces) await fh.write(piece, null, 'utf8');
  } catch (e) {
    ioError(path, 'write', e);
  } finally {
    await fh?.close();
  }
}
