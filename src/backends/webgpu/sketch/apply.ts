/**
 * sketchApply on the WebGPU backend (kernels/sketch/*.wgsl): SA := scale·(S₀·A_block), Sb likewise, in
 * f32 on the device with S₀ generated from Philox inside the kernels — the entries are the oracle's
 * (src/backends/js/sketch/operator.ts) bit for bit for the integer-derived kinds, and the Gaussian's to a
 * few f32 ulps (an f32 Box–Muller with exact integer range reduction; docs/sketch.md §2.1).
 *
 * - gaussian, rademacher: dense_apply, one fused pass per row chunk; each SA entry is a sum over the
 *   rows in increasing order, carried from chunk to chunk in the device buffer.
 * - countsketch, sparse-sign: sparse_columns writes each row's s (row, sign) pairs; the host lists the
 *   rows of every bucket k in increasing order (a stable counting sort, O(n·s)), and bucket_sum adds
 *   ±A[r, :] bucket by bucket: the oracle's order per entry, no atomics, thread-count independent.
 * - srht: per permutation block h and column panel, srht_scatter (signs and Feistel permutation),
 *   log₂B srht_fwht stages, srht_gather of the m sampled rows; the host multiplies by the block sign
 *   (−1)^popcount(p_hi & h) and adds the blocks in f64, in increasing h (docs/sketch.md §2.3).
 *
 * b rides along as column `cols` of an augmented [A | b] that the host packs per chunk in f32 (CSR rows
 * are densified per chunk). Every buffer is bounded by one binding: rows of A by chunk, rows of SA by
 * k-range, the SRHT's B × w panel by its width. The scale is applied once at the end, in f64, and the
 * caller's SA and Sb are written only after the last submit succeeded (a device lost halfway leaves
 * them as they were for the engine's fallback).
 *
 * Precision: every product and sum is f32 (unit roundoff u = 2⁻²⁴): an entry of SA is within
 * γ_k(u)·Σ|S₀ terms| of the exact sum (Higham §4.2), k the terms it adds (the rows of the block, for the
 * SRHT log₂B + n/B) — what test/sketch/webgpu.test.ts checks.
 */
import type { KernelControl } from '../../../core/backend.js';
import type { FloatArray } from '../../../core/types.js';
import { isCsr, operandCols, operandRows, type SketchApplyArgs, type SketchOperand } from '../../../sketch/ops.js';
import { STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import type { GpuRuntime, Lease } from '../dispatch.js';
import { copyToStaging, readInto } from '../readback.js';
import { DENSE_KT, KIND_GAUSSIAN, KIND_RADEMACHER, SIGN_BIT, SKETCH_PARAMS, sketchPipeline, sketchWorkgroupBytes } from './layout.js';

const F32_MAX = 3.4028234663852886e38;

type Params = Partial<Record<keyof typeof SKETCH_PARAMS.at, number>>;

function writeParams(rt: GpuRuntime, ub: GPUBuffer, values: Params): void {
  const words = new Uint32Array(SKETCH_PARAMS.words);
  for (const [k, v] of Object.entries(values)) words[SKETCH_PARAMS.at[k as keyof typeof SKETCH_PARAMS.at]] = v! >>> 0;
  rt.device.queue.writeBuffer(ub, 0, words);
}

/** Largest |S₀ entry| a kind can produce (the Gaussian's: √(−2 ln 2⁻³³) ≈ 6.8). */
function maxEntry(kind: SketchApplyArgs['S']['kind']): number {
  return kind === 'gaussian' ? 6.8 : 1;
}

/**
 * Why these arguments cannot run here, or null: a row, a bucket table or an SRHT panel over one binding,
 * workgroup memory, or values whose f32 sums could overflow.
 */
export function applyTrouble(rt: GpuRuntime, args: SketchApplyArgs): string | null {
  const { S, A, b } = args;
  // An f64 caller whose SA is the answer (apply, sketch-and-solve) gets f64 sums on a CPU backend; only a
  // preconditioner (allowF32) may come from this backend's f32 products.
  const f64 = (isCsr(A) ? A.values : A.data) instanceof Float64Array;
  if (f64 && !args.allowF32) return 'f64 operand whose S·A is the result: WGSL has no f64, so only a preconditioner sketch (allowF32) runs here';
  const need = sketchWorkgroupBytes(rt.workgroupSize);
  if (need > rt.gpu.limits.maxComputeWorkgroupStorageSize) {
    return `workgroup size ${rt.workgroupSize} needs ${need} bytes of workgroup memory, the device has ${rt.gpu.limits.maxComputeWorkgroupStorageSize}`;
  }
  const total = operandCols(A) + (b ? 1 : 0);
  const maxWords = rt.bindingElements(4);
  if (total > maxWords) return `A: a row of ${total} f32 exceeds one webgpu binding (${rt.bindingBytes} bytes)`;
  if (S.kind === 'countsketch' || S.kind === 'sparse-sign') {
    if (S.m + 1 > maxWords) return `m = ${S.m}: the bucket table of ${S.m + 1} u32 exceeds one webgpu binding`;
    if (S.nnzPerCol > maxWords) return `nnzPerCol = ${S.nnzPerCol} exceeds one webgpu binding`;
  }
  if (S.kind === 'srht') {
    const { B } = S.srht!;
    if (B > maxWords) return `the SRHT block of ${B} rows exceeds one webgpu binding (${rt.bindingBytes} bytes)`;
    if (S.m > maxWords) return `m = ${S.m} sampled rows exceed one webgpu binding`;
  }
  // f32 range: the largest sum is at most rows·max|S₀|·max|a|.
  const data = isCsr(A) ? A.values : A.data;
  let big = 0;
  for (let i = 0; i < data.length; i++) big = Math.max(big, Math.abs(data[i]!));
  if (b) for (let i = 0; i < b.length; i++) big = Math.max(big, Math.abs(b[i]!));
  const rows = operandRows(A);
  if (big * maxEntry(S.kind) * Math.max(rows, 1) >= F32_MAX / 2) {
    return `values up to ${big.toExponential(2)} could overflow f32 sums over ${rows} rows; the webgpu backend computes in f32`;
  }
  return null;
}

/** Rows [r0, r1) of [A | b] as f32, row-major, columns [c0, c1) (c = d is b). */
function packRows(A: SketchOperand, b: FloatArray | null, r0: number, r1: number, c0: number, c1: number): Float32Array {
  const d = operandCols(A);
  const w = c1 - c0;
  const out = new Float32Array((r1 - r0) * w);
  if (isCsr(A)) {
    const { rowPtr, colIdx, values } = A;
    for (let i = r0; i < r1; i++) {
      const o = (i - r0) * w - c0;
      for (let q = rowPtr[i]!; q < rowPtr[i + 1]!; q++) {
        const c = colIdx[q]!;
        if (c >= c0 && c < c1) out[o + c] = values[q]!;
      }
    }
  } else {
    const data = A.data;
    const cEnd = Math.min(c1, d);
    if (c0 === 0 && cEnd === d && w === d) {
      out.set(data.subarray(r0 * d, r1 * d));
    } else {
      for (let i = r0; i < r1; i++) {
        const o = (i - r0) * w - c0;
        for (let c = c0; c < cEnd; c++) out[o + c] = data[i * d + c]!;
      }
    }
  }
  if (b && c1 > d) for (let i = r0; i < r1; i++) out[(i - r0) * w + (d - c0)] = b[i]!;
  return out;
}

export async function webgpuSketchApply(rt: GpuRuntime, args: SketchApplyArgs, ctl: KernelControl): Promise<void> {
  const { S, A, b, SA, Sb } = args;
  const d = operandCols(A);
  const total = d + (b ? 1 : 0);
  const out = new Float64Array(S.m * total);
  if (operandRows(A) > 0 && total > 0) {
    await rt.guard('sketchApply', ctl.signal, async (lease) => {
      if (S.kind === 'srht') await srht(rt, lease, args, total, out, ctl);
      else await rowChunked(rt, lease, args, total, out, ctl);
    });
  }
  const c = S.scale;
  for (let k = 0; k < S.m; k++) {
    for (let j = 0; j < d; j++) SA[k * d + j] = out[k * total + j]! * c;
    if (Sb) Sb[k] = out[k * total + d]! * c;
  }
}

/** Gaussian, Rademacher and the sparse kinds: k-ranges of SA that fit a binding, row chunks of A within each. */
async function rowChunked(rt: GpuRuntime, lease: Lease, args: SketchApplyArgs, total: number, out: Float64Array, ctl: KernelControl): Promise<void> {
  const { S, A, b, rowOffset } = args;
  const n = operandRows(A);
  const m = S.m;
  const WG = rt.workgroupSize;
  const maxWords = rt.bindingElements(4);
  const sparse = S.kind === 'countsketch' || S.kind === 'sparse-sign';
  const s = S.nnzPerCol;
  const rowsPerChunk = Math.max(1, Math.min(n, Math.floor(maxWords / total), sparse ? Math.floor(maxWords / s) : Infinity));
  const kPerRange = Math.max(1, Math.min(m, Math.floor(maxWords / total)));
  const colTiles = Math.ceil(total / WG);
  const ub = lease.acquire(SKETCH_PARAMS.bytes, UNIFORM);
  const Abuf = lease.acquire(rowsPerChunk * total * 4, STORAGE_IN);
  const SAbuf = lease.acquire(kPerRange * total * 4, STORAGE_OUT);
  const staging = lease.acquire(kPerRange * total * 4, STAGING);
  const common = { m, cols: total, key0: S.key0, key1: S.key1, colTiles, s };
  const chunks: [number, number][] = [];
  for (let r0 = 0; r0 < n; r0 += rowsPerChunk) chunks.push([r0, Math.min(n, r0 + rowsPerChunk)]);

  if (!sparse) {
    const pipeline = await sketchPipeline(rt, 'dense_apply.wgsl');
    const kind = S.kind === 'gaussian' ? KIND_GAUSSIAN : KIND_RADEMACHER;
    for (let kBase = 0; kBase < m; kBase += kPerRange) {
      const kCount = Math.min(kPerRange, m - kBase);
      const groups = Math.ceil(kCount / DENSE_KT) * colTiles;
      const bytes = kCount * total * 4;
      let enc = rt.device.createCommandEncoder();
      enc.clearBuffer(SAbuf, 0, bytes);
      for (const [r0, r1] of chunks) {
        if (chunks.length > 1 || kBase === 0) rt.write(Abuf, packRows(A, b, r0, r1, 0, total), 'A');
        writeParams(rt, ub, { ...common, rows: r1 - r0, rowBase: rowOffset + r0, kBase, kCount, groups, kind });
        rt.dispatch(enc, pipeline, [ub, { buffer: Abuf, size: (r1 - r0) * total * 4 }, { buffer: SAbuf, size: bytes }], groups);
        // One submit per chunk: the next chunk's upload and uniform are ordered after this dispatch.
        rt.submit(enc, ctl.signal);
        enc = rt.device.createCommandEncoder();
      }
      copyToStaging(enc, SAbuf, staging, bytes);
      rt.submit(enc, ctl.signal);
      await readRange(staging, out, kBase, kCount, total);
    }
    return;
  }

  const colPipe = await sketchPipeline(rt, 'sparse_columns.wgsl');
  const sumPipe = await sketchPipeline(rt, 'bucket_sum.wgsl');
  const colBuf = lease.acquire(rowsPerChunk * s * 4, STORAGE_OUT);
  const colStaging = lease.acquire(rowsPerChunk * s * 4, STAGING);
  const ptrBuf = lease.acquire((m + 1) * 4, STORAGE_IN);
  const entBuf = lease.acquire(rowsPerChunk * s * 4, STORAGE_IN);
  // The chunks' bucket lists, built once (the columns of S depend only on the global rows).
  const lists: { ptr: Uint32Array; entries: Uint32Array }[] = [];
  for (const [r0, r1] of chunks) {
    const rows = r1 - r0;
    writeParams(rt, ub, { ...common, rows, rowBase: rowOffset + r0 });
    const enc = rt.device.createCommandEncoder();
    rt.dispatch(enc, colPipe, [ub, { buffer: colBuf, size: rows * s * 4 }], Math.ceil(rows / WG));
    copyToStaging(enc, colBuf, colStaging, rows * s * 4);
    rt.submit(enc, ctl.signal);
    const cols = new Uint32Array(rows * s);
    await readInto(colStaging, cols);
    lists.push(bucketLists(cols, rows, s, m));
  }
  for (let kBase = 0; kBase < m; kBase += kPerRange) {
    const kCount = Math.min(kPerRange, m - kBase);
    const groups = kCount * colTiles;
    const bytes = kCount * total * 4;
    let enc = rt.device.createCommandEncoder();
    enc.clearBuffer(SAbuf, 0, bytes);
    for (let c = 0; c < chunks.length; c++) {
      const [r0, r1] = chunks[c]!;
      const { ptr, entries } = lists[c]!;
      rt.write(Abuf, packRows(A, b, r0, r1, 0, total), 'A');
      rt.write(ptrBuf, ptr, 'S');
      rt.write(entBuf, entries, 'S');
      writeParams(rt, ub, { ...common, rows: r1 - r0, rowBase: rowOffset + r0, kBase, kCount, groups });
      rt.dispatch(enc, sumPipe, [
        ub, { buffer: Abuf, size: (r1 - r0) * total * 4 }, { buffer: ptrBuf, size: (m + 1) * 4 },
        { buffer: entBuf, size: Math.max(entries.length, 1) * 4 }, { buffer: SAbuf, size: bytes },
      ], groups);
      rt.submit(enc, ctl.signal);
      enc = rt.device.createCommandEncoder();
    }
    copyToStaging(enc, SAbuf, staging, bytes);
    rt.submit(enc, ctl.signal);
    await readRange(staging, out, kBase, kCount, total);
  }
}

/** Bucket k's entries (local row | SIGN_BIT when −1) in increasing row order: a stable counting sort. */
export function bucketLists(cols: Uint32Array, rows: number, s: number, m: number): { ptr: Uint32Array; entries: Uint32Array } {
  const ptr = new Uint32Array(m + 1);
  for (let q = 0; q < rows * s; q++) ptr[(cols[q]! & ~SIGN_BIT) + 1]++;
  for (let k = 0; k < m; k++) ptr[k + 1] += ptr[k]!;
  const fill = ptr.slice(0, m);
  const entries = new Uint32Array(rows * s);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < s; t++) {
      const v = cols[r * s + t]!;
      entries[fill[(v & ~SIGN_BIT) >>> 0]!++] = (r | (v & SIGN_BIT)) >>> 0;
    }
  }
  return { ptr, entries };
}

async function readRange(staging: GPUBuffer, out: Float64Array, kBase: number, kCount: number, total: number): Promise<void> {
  const got = new Float32Array(kCount * total);
  await readInto(staging, got);
  out.set(got, kBase * total);
}

/** The SRHT: per block h and column panel, scatter, FWHT stages, gather; blocks added on the host in f64. */
async function srht(rt: GpuRuntime, lease: Lease, args: SketchApplyArgs, total: number, out: Float64Array, ctl: KernelControl): Promise<void> {
  const { S, A, b, rowOffset } = args;
  const { B, sample } = S.srht!;
  const m = S.m;
  const n = operandRows(A);
  const WG = rt.workgroupSize;
  const bits = Math.round(Math.log2(B));
  const half = Math.ceil(bits / 2);
  const w = Math.max(1, Math.min(total, Math.floor(rt.bindingElements(4) / B)));
  const scatter = await sketchPipeline(rt, 'srht_scatter.wgsl');
  const fwht = await sketchPipeline(rt, 'srht_fwht.wgsl');
  const gather = await sketchPipeline(rt, 'srht_gather.wgsl');
  const pLo = new Uint32Array(m);
  const pHi = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    pHi[k] = Math.floor(sample[k]! / B);
    pLo[k] = sample[k]! - pHi[k]! * B;
  }
  const Xbuf = lease.acquire(B * w * 4, STORAGE_IN);
  const Ybuf = lease.acquire(B * w * 4, STORAGE_OUT);
  const loBuf = lease.upload(pLo, 'S.srht.sample');
  const Gbuf = lease.acquire(m * w * 4, STORAGE_OUT);
  const staging = lease.acquire(m * w * 4, STAGING);
  // One uniform per FWHT stage plus scatter/gather's, so one submit carries a whole panel.
  const stages = bits;
  const ubs = Array.from({ length: stages + 1 }, () => lease.acquire(SKETCH_PARAMS.bytes, UNIFORM));
  const G = new Float32Array(m * w);
  const first = Math.floor(rowOffset / B);
  const last = Math.floor((rowOffset + n - 1) / B);
  for (let h = first; h <= last; h++) {
    const g0 = Math.max(rowOffset, h * B);
    const g1 = Math.min(rowOffset + n, (h + 1) * B);
    const count = g1 - g0;
    const sign = new Float64Array(m);
    for (let k = 0; k < m; k++) sign[k] = parity(pHi[k]!, h) ? -1 : 1;
    for (let c0 = 0; c0 < total; c0 += w) {
      const c1 = Math.min(total, c0 + w);
      const wc = c1 - c0;
      const common = { m, cols: wc, key0: S.key0, key1: S.key1, h, bits, half, count: m };
      rt.write(Xbuf, packRows(A, b, g0 - rowOffset, g1 - rowOffset, c0, c1), 'A');
      writeParams(rt, ubs[0]!, { ...common, rows: count, rowBase: g0 });
      for (let st = 0; st < stages; st++) writeParams(rt, ubs[st + 1]!, { ...common, stride: 2 ** st });
      const enc = rt.device.createCommandEncoder();
      enc.clearBuffer(Ybuf, 0, B * wc * 4);
      rt.dispatch(enc, scatter, [ubs[0]!, { buffer: Xbuf, size: count * wc * 4 }, { buffer: Ybuf, size: B * wc * 4 }], Math.ceil(count / WG));
      for (let st = 0; st < stages; st++) {
        rt.dispatch(enc, fwht, [ubs[st + 1]!, { buffer: Ybuf, size: B * wc * 4 }], Math.ceil((B / 2) * wc / WG));
      }
      rt.dispatch(enc, gather, [ubs[0]!, { buffer: Ybuf, size: B * wc * 4 }, { buffer: loBuf, size: m * 4 }, { buffer: Gbuf, size: m * wc * 4 }], Math.ceil(m * wc / WG));
      copyToStaging(enc, Gbuf, staging, m * wc * 4);
      rt.submit(enc, ctl.signal);
      const g = G.subarray(0, m * wc);
      await readInto(staging, g);
      for (let k = 0; k < m; k++) {
        const sg = sign[k]!;
        const o = k * total + c0;
        for (let t = 0; t < wc; t++) out[o + t] += sg * g[k * wc + t]!;
      }
    }
  }
}

/** popcount(hi & h) mod 2 for non-negative integers below 2³¹. */
function parity(hi: number, h: number): number {
  let x = (hi & h) >>> 0;
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}
