/**
 * Matrix Market (NIST exchange format) reader and the canonical COO → CSR builder; the writer is
 * ./matrix-market-write.ts (re-exported here).
 *
 * Reading: `matrix coordinate|array`, fields real / integer / pattern, symmetry general /
 * symmetric / skew-symmetric. Coordinate files become canonical CSR (duplicates summed,
 * columns strictly increasing, symmetric storage expanded); array files become row-major
 * dense matrices. Syntax and count errors are E_PARSE, indices or sizes outside what the
 * size line or Int32 indexing allow are E_RANGE, inf/nan values are E_NONFINITE; every
 * message names `line N`. readMatrixMarket also reads gzip files (`.mtx.gz`) and streams files
 * too large for one JS string.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { allocF64, allocFloat, allocI32 } from './alloc.js';
import { NumkernError, fail } from './errors.js';
import type { CsrMatrix, DenseMatrix, FloatArray } from './types.js';

export type MatrixMarketField = 'real' | 'integer' | 'pattern';
export type MatrixMarketSymmetry = 'general' | 'symmetric' | 'skew-symmetric';

export interface MatrixMarketReadOptions {
  /** Element type of the result; default 'f64'. f32 results sum duplicates in f64 and round once. */
  dtype?: 'f64' | 'f32';
}

export interface MatrixMarketHeader {
  readonly field: MatrixMarketField;
  readonly symmetry: MatrixMarketSymmetry;
  /** Header comment lines, without the leading '%' (and one following space). */
  readonly comments: readonly string[];
}

export type MatrixMarketData<T extends FloatArray = FloatArray> =
  | (MatrixMarketHeader & { readonly kind: 'coordinate'; readonly matrix: CsrMatrix<T> })
  | (MatrixMarketHeader & { readonly kind: 'array'; readonly matrix: DenseMatrix<T> });

export interface MatrixMarketWriteOptions {
  /** Write only the lower triangle under `symmetric`; the matrix must be exactly symmetric (E_SHAPE otherwise). */
  symmetric?: boolean;
  /** Written as header comment lines, one per line of the string. */
  comment?: string;
  /** Default 'real'. 'integer' requires integer values; 'pattern' writes structure only (sparse only). */
  field?: MatrixMarketField;
}

/** Largest dimension or entry count that Int32 indices and row pointers can hold. */
const MAX_INT32 = 2147483647;
/**
 * Rows + columns a coordinate file may declare beyond what its entries fill: the CSR form keeps a row
 * pointer per row and its sort a count per column, whatever the entries, so a 60-byte size line claiming
 * 10⁹ rows over two entries had the reader allocate ~12 GB and run 57 s. Up to the floor any shape is
 * read; past it, at most SPARSE_DIMS_PER_ENTRY rows and columns per declared entry.
 */
const SPARSE_DIM_FLOOR = 1 << 22;
const SPARSE_DIMS_PER_ENTRY = 64;

export function checkDim(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_INT32) {
    fail('E_RANGE', name, `must be an integer in [0, 2^31 - 1], got ${String(n)}`);
  }
  return n;
}

/**
 * Canonical CSR from coordinate triplets: duplicates summed (in f64, in input order, then
 * stored once in the dtype of `vals`), columns strictly increasing per row, explicit zeros
 * kept. Two stable counting sorts (by column, then by row), so O(nnz + nrows + ncols) and
 * deterministic. Inputs are not modified.
 */
export function csrFromCoo<T extends FloatArray>(
  nrows: number,
  ncols: number,
  rows: Int32Array,
  cols: Int32Array,
  vals: T,
): CsrMatrix<T> {
  checkDim(nrows, 'nrows');
  checkDim(ncols, 'ncols');
  if (!(rows instanceof Int32Array)) fail('E_DTYPE', 'rows', 'expected an Int32Array');
  if (!(cols instanceof Int32Array)) fail('E_DTYPE', 'cols', 'expected an Int32Array');
  if (!(vals instanceof Float64Array) && !(vals instanceof Float32Array)) fail('E_DTYPE', 'vals', 'expected a Float64Array or Float32Array');
  const nnz = rows.length;
  if (cols.length !== nnz) fail('E_SHAPE', 'cols', `length ${cols.length} differs from rows.length ${nnz}`);
  if (vals.length !== nnz) fail('E_SHAPE', 'vals', `length ${vals.length} differs from rows.length ${nnz}`);
  for (let k = 0; k < nnz; k++) {
    const r = rows[k];
    const c = cols[k];
    if (r < 0 || r >= nrows) fail('E_RANGE', `rows[${k}]`, `row ${r} outside [0, ${nrows})`);
    if (c < 0 || c >= ncols) fail('E_RANGE', `cols[${k}]`, `column ${c} outside [0, ${ncols})`);
    if (!Number.isFinite(vals[k])) fail('E_NONFINITE', `vals[${k}]`, `value is ${vals[k]}`);
  }

  // Pass 1: entry ids bucketed by column, stable.
  const colStart = allocI32(ncols + 1, 'ncols');
  for (let k = 0; k < nnz; k++) colStart[cols[k] + 1]++;
  for (let c = 0; c < ncols; c++) colStart[c + 1] += colStart[c];
  const byCol = allocI32(nnz, 'rows');
  for (let k = 0; k < nnz; k++) byCol[colStart[cols[k]]++] = k;

  // Pass 2: walking byCol in column order and bucketing by row leaves each row sorted by column,
  // with duplicates adjacent and in input order.
  const rowStart = allocI32(nrows + 1, 'nrows');
  for (let k = 0; k < nnz; k++) rowStart[rows[k] + 1]++;
  for (let r = 0; r < nrows; r++) rowStart[r + 1] += rowStart[r];
  const cursor = rowStart.slice(0, nrows);
  const order = allocI32(nnz, 'rows');
  for (let t = 0; t < nnz; t++) {
    const k = byCol[t];
    order[cursor[rows[k]]++] = k;
  }

  // Pass 3: merge duplicates in place into (colOut, valOut).
  const colOut = byCol; // free after pass 2
  const valOut = allocFloat(vals, nnz, 'vals');
  const rowPtr = allocI32(nrows + 1, 'nrows');
  let w = 0;
  for (let r = 0; r < nrows; r++) {
    rowPtr[r] = w;
    const end = rowStart[r + 1];
    let t = rowStart[r];
    while (t < end) {
      const k = order[t];
      const c = cols[k];
      let acc = vals[k];
      t++;
      while (t < end && cols[order[t]] === c) {
        acc += vals[order[t]];
        t++;
      }
      colOut[w] = c;
      valOut[w] = acc;
      w++;
    }
  }
  rowPtr[nrows] = w;
  for (let k = 0; k < w; k++) {
    if (!Number.isFinite(valOut[k])) fail('E_NONFINITE', 'vals', 'summing duplicate entries overflowed');
  }
  return {
    nrows,
    ncols,
    rowPtr,
    colIdx: w === nnz ? colOut : colOut.slice(0, w),
    values: (w === nnz ? valOut : valOut.slice(0, w)) as T,
  };
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */
/* ------------------------------------------------------------------------------------------ */

const MAX_TOKENS = 8;

function isBlank(c: number): boolean {
  // space, tab, CR (CRLF files), vertical tab, form feed
  return c === 32 || c === 9 || c === 13 || c === 11 || c === 12;
}

/**
 * Line cursor over the text, given as chunks that each end at a line break (readMatrixMarket streams
 * files larger than one JS string, ~512 MiB, this way); token bounds are kept as offsets into the
 * current chunk, so data lines allocate nothing but value slices. A consumed chunk is dropped.
 */
class Scanner {
  pos = 0;
  lineNo = 0;
  s: string;
  private chunk = 0;
  /** Characters in the chunks after the current one. */
  private later = 0;
  /** End offset of the current line, before any '\r'. */
  lineEnd = 0;
  ntok = 0;
  readonly ts = new Int32Array(MAX_TOKENS);
  readonly te = new Int32Array(MAX_TOKENS);

  constructor(private readonly chunks: string[]) {
    this.s = chunks[0] ?? '';
    for (let c = 1; c < chunks.length; c++) this.later += chunks[c]!.length;
    if (this.s.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  /** Characters not yet scanned. */
  remaining(): number {
    return Math.max(0, this.s.length - this.pos) + this.later;
  }

  /** Tokenizes the next physical line; false at end of text. */
  physical(): boolean {
    while (this.pos >= this.s.length) {
      if (this.chunk + 1 >= this.chunks.length) return false;
      this.chunks[this.chunk++] = '';
      this.s = this.chunks[this.chunk]!;
      this.later -= this.s.length;
      this.pos = 0;
    }
    const s = this.s;
    const n = s.length;
    this.lineNo++;
    let p = this.pos;
    let end = s.indexOf('\n', p);
    if (end < 0) end = n;
    this.pos = end + 1;
    this.lineEnd = end > p && s.charCodeAt(end - 1) === 13 ? end - 1 : end;
    let k = 0;
    while (p < end) {
      if (isBlank(s.charCodeAt(p))) {
        p++;
        continue;
      }
      const start = p;
      while (p < end && !isBlank(s.charCodeAt(p))) p++;
      if (k < MAX_TOKENS) {
        this.ts[k] = start;
        this.te[k] = p;
      }
      k++;
    }
    this.ntok = k;
    return true;
  }

  /** Next line that is neither blank nor a '%' comment; comment text goes to `comments` when given. */
  next(comments?: string[]): boolean {
    while (this.physical()) {
      if (this.ntok === 0) continue;
      if (this.s.charCodeAt(this.ts[0]) === 37 /* % */) {
        if (comments) comments.push(this.commentText());
        continue;
      }
      return true;
    }
    return false;
  }

  private commentText(): string {
    let p = this.ts[0] + 1;
    if (p < this.lineEnd && this.s.charCodeAt(p) === 32) p++;
    return p < this.lineEnd ? this.s.slice(p, this.lineEnd) : '';
  }

  tok(i: number): string {
    return this.s.slice(this.ts[i], this.te[i]);
  }

  /** A token for an error message, cut short so a fuzzed megabyte token does not end up in the message. */
  show(i: number): string {
    const t = this.s.slice(this.ts[i], Math.min(this.te[i], this.ts[i] + 40));
    return JSON.stringify(this.te[i] - this.ts[i] > 40 ? `${t}...` : t);
  }

  where(): string {
    return `line ${this.lineNo}`;
  }

  /** Non-negative decimal integer of at most 15 digits (exact in f64); E_PARSE otherwise. */
  uint(i: number, what: string): number {
    const s = this.s;
    const a = this.ts[i];
    const b = this.te[i];
    if (b - a > 15) {
      if (isDigits(s, a, b)) fail('E_RANGE', this.where(), `${what} ${this.show(i)} is too large`);
      fail('E_PARSE', this.where(), `expected a non-negative integer for ${what}, got ${this.show(i)}`);
    }
    let v = 0;
    for (let p = a; p < b; p++) {
      const d = s.charCodeAt(p) - 48;
      if (d < 0 || d > 9) fail('E_PARSE', this.where(), `expected a non-negative integer for ${what}, got ${this.show(i)}`);
      v = v * 10 + d;
    }
    return v;
  }

  /** 1-based index in [1, dim], returned 0-based. */
  index(i: number, dim: number, what: string): number {
    const v = this.uint(i, what);
    if (v < 1 || v > dim) fail('E_RANGE', this.where(), `${what} ${v} outside 1..${dim}`);
    return v - 1;
  }

  value(i: number, field: MatrixMarketField): number {
    const t = this.tok(i);
    if (!(field === 'integer' ? INTEGER_RE : REAL_RE).test(t)) {
      if (NONFINITE_RE.test(t)) fail('E_NONFINITE', this.where(), `value ${this.show(i)} is not finite`);
      fail('E_PARSE', this.where(), `expected ${field === 'integer' ? 'an integer' : 'a real number'}, got ${this.show(i)}`);
    }
    const v = Number(t);
    if (!Number.isFinite(v)) fail('E_NONFINITE', this.where(), `value ${this.show(i)} overflows f64`);
    return v;
  }
}

function isDigits(s: string, a: number, b: number): boolean {
  for (let p = a; p < b; p++) {
    const d = s.charCodeAt(p) - 48;
    if (d < 0 || d > 9) return false;
  }
  return b > a;
}

// Unambiguous alternatives keep these linear on long fuzzed tokens (no nested quantifier backtracking).
const REAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_RE = /^[+-]?\d+$/;
const NONFINITE_RE = /^[+-]?(?:nan|inf|infinity)$/i;

function parseBanner(sc: Scanner): { format: 'coordinate' | 'array'; field: MatrixMarketField; symmetry: MatrixMarketSymmetry } {
  if (!sc.physical() || sc.ntok === 0 || sc.tok(0).toLowerCase() !== '%%matrixmarket') {
    fail('E_PARSE', 'line 1', 'missing "%%MatrixMarket" banner');
  }
  if (sc.ntok !== 5) fail('E_PARSE', 'line 1', `banner needs 5 words (%%MatrixMarket matrix <format> <field> <symmetry>), got ${sc.ntok}`);
  const object = sc.tok(1).toLowerCase();
  const format = sc.tok(2).toLowerCase();
  const field = sc.tok(3).toLowerCase();
  const symmetry = sc.tok(4).toLowerCase();
  if (object !== 'matrix') fail('E_PARSE', 'line 1', `object ${sc.show(1)} is not supported, expected "matrix"`);
  if (format !== 'coordinate' && format !== 'array') fail('E_PARSE', 'line 1', `format ${sc.show(2)} is not "coordinate" or "array"`);
  if (field === 'complex') fail('E_PARSE', 'line 1', 'complex matrices are not supported (fields: real, integer, pattern)');
  if (field !== 'real' && field !== 'integer' && field !== 'pattern') {
    fail('E_PARSE', 'line 1', `field ${sc.show(3)} is not "real", "integer" or "pattern"`);
  }
  if (symmetry === 'hermitian') fail('E_PARSE', 'line 1', 'hermitian symmetry is not supported (it implies a complex field)');
  if (symmetry !== 'general' && symmetry !== 'symmetric' && symmetry !== 'skew-symmetric') {
    fail('E_PARSE', 'line 1', `symmetry ${sc.show(4)} is not "general", "symmetric" or "skew-symmetric"`);
  }
  if (format === 'array' && field === 'pattern') fail('E_PARSE', 'line 1', 'the array format cannot have a pattern field');
  if (field === 'pattern' && symmetry === 'skew-symmetric') fail('E_PARSE', 'line 1', 'a pattern matrix cannot be skew-symmetric');
  return { format, field, symmetry };
}

/** csrFromCoo on entries already checked line by line; the only failure left is an overflowing duplicate sum. */
function sumDuplicates(m: number, n: number, rows: Int32Array, cols: Int32Array, vals: Float64Array): CsrMatrix<Float64Array> {
  try {
    return csrFromCoo(m, n, rows, cols, vals);
  } catch (e) {
    if (e instanceof NumkernError && e.code === 'E_NONFINITE') {
      throw new NumkernError('E_NONFINITE', 'text: duplicate entries sum to a non-finite value', { argument: 'text', cause: e });
    }
    throw e;
  }
}

function toDtype(values: Float64Array, dtype: 'f64' | 'f32', what: string): FloatArray {
  if (dtype === 'f64') return values;
  const out = new Float32Array(values);
  for (let k = 0; k < out.length; k++) {
    if (!Number.isFinite(out[k])) fail('E_NONFINITE', what, `value ${values[k]} overflows f32`);
  }
  return out;
}

export function parseMatrixMarket(text: string, opts: { dtype: 'f32' }): MatrixMarketData<Float32Array>;
export function parseMatrixMarket(text: string, opts?: { dtype?: 'f64' }): MatrixMarketData<Float64Array>;
export function parseMatrixMarket(text: string, opts?: MatrixMarketReadOptions): MatrixMarketData;
export function parseMatrixMarket(text: string, opts?: MatrixMarketReadOptions): MatrixMarketData {
  if (typeof text !== 'string') fail('E_DTYPE', 'text', `expected a string, got ${typeof text}`);
  return parseMatrixMarketChunks([text], opts);
}

/** The parser proper, over text in chunks that each end at a line break (the last may not); consumed chunks are emptied. */
export function parseMatrixMarketChunks(chunks: string[], opts?: MatrixMarketReadOptions): MatrixMarketData {
  const dtype = opts?.dtype ?? 'f64';
  if (dtype !== 'f64' && dtype !== 'f32') fail('E_DTYPE', 'opts.dtype', `expected 'f64' or 'f32', got ${String(dtype)}`);

  const sc = new Scanner(chunks);
  const { format, field, symmetry } = parseBanner(sc);
  const comments: string[] = [];
  if (!sc.next(comments)) fail('E_PARSE', `line ${sc.lineNo + 1}`, 'missing size line (file truncated?)');

  const sizeTokens = format === 'coordinate' ? 3 : 2;
  if (sc.ntok !== sizeTokens) {
    fail('E_PARSE', sc.where(), `size line needs ${sizeTokens === 3 ? '3 integers (rows cols entries)' : '2 integers (rows cols)'}, got ${sc.ntok} fields`);
  }
  const m = sc.uint(0, 'row count');
  const n = sc.uint(1, 'column count');
  if (m > MAX_INT32 || n > MAX_INT32) fail('E_RANGE', sc.where(), `dimensions ${m} x ${n} exceed 2^31 - 1`);
  if (symmetry !== 'general' && m !== n) fail('E_PARSE', sc.where(), `a ${symmetry} matrix must be square, got ${m} x ${n}`);
  const header = { field, symmetry, comments };
  // The shortest possible entry line bounds how many entries the rest of the text can hold;
  // checking before allocating keeps a lying size line from requesting gigabytes.
  const remaining = sc.remaining() + 1;

  if (format === 'coordinate') {
    const nnz = sc.uint(2, 'entry count');
    const minLine = field === 'pattern' ? 4 : 6;
    if (nnz > Math.floor(remaining / minLine)) {
      fail('E_PARSE', sc.where(), `size line declares ${nnz} entries but the rest of the file cannot hold them (truncated?)`);
    }
    if (m + n > Math.max(SPARSE_DIM_FLOOR, SPARSE_DIMS_PER_ENTRY * nnz)) {
      fail('E_RANGE', sc.where(), `size line declares ${m} x ${n} for ${nnz} entries: past ${SPARSE_DIM_FLOOR} rows + columns, ` +
        `at most ${SPARSE_DIMS_PER_ENTRY} per entry are read (the CSR form stores a pointer per row, filled or not)`);
    }
    const mirror = symmetry !== 'general';
    const cap = mirror ? 2 * nnz : nnz;
    const rows = allocI32(cap, sc.where());
    const cols = allocI32(cap, sc.where());
    const vals = allocF64(cap, sc.where());
    const want = field === 'pattern' ? 2 : 3;
    let k = 0;
    for (let e = 0; e < nnz; e++) {
      if (!sc.next()) fail('E_PARSE', `line ${sc.lineNo}`, `expected ${nnz} entries, found ${e} (file truncated?)`);
      if (sc.ntok !== want) {
        fail('E_PARSE', sc.where(), `expected ${want} fields (${want === 2 ? 'row col' : 'row col value'}), got ${sc.ntok}`);
      }
      const i = sc.index(0, m, 'row index');
      const j = sc.index(1, n, 'column index');
      const v = field === 'pattern' ? 1 : sc.value(2, field);
      if (dtype === 'f32' && !Number.isFinite(Math.fround(v))) fail('E_NONFINITE', sc.where(), `value ${v} overflows f32`);
      if (symmetry === 'skew-symmetric' && i === j && v !== 0) {
        fail('E_PARSE', sc.where(), `skew-symmetric matrix has a nonzero diagonal entry (${i + 1}, ${j + 1})`);
      }
      rows[k] = i;
      cols[k] = j;
      vals[k] = v;
      k++;
      // Either triangle is accepted and mirrored (as common readers do); the format stores only one.
      if (mirror && i !== j) {
        rows[k] = j;
        cols[k] = i;
        vals[k] = symmetry === 'skew-symmetric' ? -v : v;
        k++;
      }
    }
    if (sc.next()) fail('E_PARSE', sc.where(), `more entries than the ${nnz} declared on the size line`);
    const csr = sumDuplicates(m, n, rows.subarray(0, k), cols.subarray(0, k), vals.subarray(0, k));
    const values = toDtype(csr.values, dtype, 'text');
    return { kind: 'coordinate', ...header, matrix: { nrows: m, ncols: n, rowPtr: csr.rowPtr, colIdx: csr.colIdx, values } };
  }

  const count = symmetry === 'general' ? m * n : symmetry === 'symmetric' ? (m * (m + 1)) / 2 : (m * (m - 1)) / 2;
  if (count > Math.floor(remaining / 2)) {
    fail('E_PARSE', sc.where(), `size line declares ${count} values but the rest of the file cannot hold them (truncated?)`);
  }
  const data = allocF64(m * n, sc.where());
  let seen = 0;
  const read = (): number => {
    if (!sc.next()) fail('E_PARSE', `line ${sc.lineNo}`, `expected ${count} values, found ${seen} (file truncated?)`);
    if (sc.ntok !== 1) fail('E_PARSE', sc.where(), `expected 1 value per line, got ${sc.ntok} fields`);
    const v = sc.value(0, field);
    if (dtype === 'f32' && !Number.isFinite(Math.fround(v))) fail('E_NONFINITE', sc.where(), `value ${v} overflows f32`);
    seen++;
    return v;
  };
  // The file is column-major; the result is row-major.
  for (let j = 0; j < n; j++) {
    if (symmetry === 'general') {
      for (let i = 0; i < m; i++) data[i * n + j] = read();
    } else {
      const skew = symmetry === 'skew-symmetric';
      for (let i = skew ? j + 1 : j; i < m; i++) {
        const v = read();
        data[i * n + j] = v;
        data[j * n + i] = skew ? -v : v;
      }
    }
  }
  if (sc.next()) fail('E_PARSE', sc.where(), `more values than the ${count} the size line implies`);
  return { kind: 'array', ...header, matrix: { rows: m, cols: n, data: toDtype(data, dtype, 'text') } };
}

export function ioError(path: string | URL, action: string, e: unknown): never {
  const p = String(path);
  const why = e instanceof Error ? e.message : String(e);
  throw new NumkernError('E_IO', `${p}: cannot ${action} (${why})`, { argument: p, cause: e });
}

export async function readMatrixMarket(path: string | URL, opts: { dtype: 'f32' }): Promise<MatrixMarketData<Float32Array>>;
export async function readMatrixMarket(path: string | URL, opts?: { dtype?: 'f64' }): Promise<MatrixMarketData<Float64Array>>;
export async function readMatrixMarket(path: string | URL, opts?: MatrixMarketReadOptions): Promise<MatrixMarketData>;
export async function readMatrixMarket(path: string | URL, opts: MatrixMarketReadOptions = {}): Promise<MatrixMarketData> {
  if (opts.dtype !== undefined && opts.dtype !== 'f64' && opts.dtype !== 'f32') {
    fail('E_DTYPE', 'opts.dtype', `expected 'f64' or 'f32', got ${String(opts.dtype)}`);
  }
  const chunks = await readMatrixMarketText(path);
  try {
    return parseMatrixMarketChunks(chunks, opts);
  } catch (e) {
    // Parse errors name a line; add the file so a batch job's log says which one.
    if (e instanceof NumkernError) throw new NumkernError(e.code, `${String(path)}: ${e.message}`, { argument: e.argument, cause: e });
    throw e;
  }
}

/** Files up to this size are read as one string; larger ones (and every gzip file) are streamed in chunks. */
const WHOLE_FILE_BYTES = 256 * 2 ** 20;
/** Characters per chunk when streaming: well under V8's string limit (2^29 − 24 characters). */
const CHUNK_CHARS = 64 * 2 ** 20;

/**
 * The file's text as chunks that each end at a line break. gzip input (detected by its magic bytes,
 * whatever the name) is inflated through zlib as it streams; a plain file above WHOLE_FILE_BYTES is
 * read in CHUNK_CHARS pieces, so neither is limited by the longest JS string. Text past maxChars (half
 * the machine's memory: the parsed arrays need about as much again) is refused as it streams, so a
 * small gzip file that inflates to gigabytes of text ends in E_RANGE, not in the OOM killer. The
 * limits are parameters for tests, which stream small files.
 */
export async function readMatrixMarketText(
  path: string | URL, chunkChars: number = CHUNK_CHARS, wholeFileBytes: number = WHOLE_FILE_BYTES,
  maxChars: number = totalmem() / 2,
): Promise<string[]> {
  let gzip = false;
  let size = 0;
  try {
    const fh = await open(path, 'r');
    try {
      size = (await fh.stat()).size;
      const magic = Buffer.alloc(2);
      const { bytesRead } = await fh.read(magic, 0, 2, 0);
      gzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    } finally {
      await fh.close();
    }
    if (!gzip && size <= wholeFileBytes) return [await readFile(path, 'utf8')];
  } catch (e) {
    ioError(path, 'read', e);
  }
  const chunks: string[] = [];
  const decoder = new StringDecoder('utf8');
  let pending: string[] = [];
  let pendingChars = 0;
  // Cuts the pending text into chunks of about chunkChars that end at a line break; the tail of an
  // unfinished line waits for the next read (or, at the end, becomes the last chunk).
  const flush = (final: boolean) => {
    const text = pending.join('');
    let pos = 0;
    while (text.length - pos >= chunkChars) {
      let cut = text.lastIndexOf('\n', pos + chunkChars - 1) + 1;
      if (cut <= pos) cut = text.indexOf('\n', pos + chunkChars) + 1;
      if (cut <= 0) break;
      chunks.push(text.slice(pos, cut));
      pos = cut;
    }
    if (final && pos < text.length) {
      chunks.push(text.slice(pos));
      pos = text.length;
    }
    pending = pos < text.length ? [text.slice(pos)] : [];
    pendingChars = text.length - pos;
  };
  try {
    const source = createReadStream(path, { highWaterMark: 4 * 2 ** 20 });
    const stream = gzip ? source.pipe(createGunzip()) : source;
    source.on('error', (e) => stream.destroy(e));
    let total = 0;
    for await (const buf of stream as AsyncIterable<Buffer>) {
      const piece = decoder.write(buf);
      total += piece.length;
      if (total > maxChars) {
        stream.destroy();
        fail('E_RANGE', String(path), `its text passes ${maxChars} characters (${gzip ? 'inflated, ' : ''}half this machine's memory) before it ends; it would not fit once parsed`);
      }
      pending.push(piece);
      pendingChars += piece.length;
      if (pendingChars >= chunkChars) flush(false);
    }
    pending.push(decoder.end());
    flush(true);
  } catch (e) {
    if (e instanceof NumkernError) throw e;
    ioError(path, gzip ? 'read (gzip)' : 'read', e);
  }
  return chunks;
}

export { writeMatrixMarket, writeMatrixMarketFile } from './matrix-market-write.js';
