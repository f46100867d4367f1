/**
 * frechetTopk on the WebGPU backend, f32: the fused "score tile + running top-k" of
 * kernels/frechet/score_topk.wgsl, then merge_topk.wgsl folding each label chunk's candidates into a
 * running result per row, both in one submit per (row chunk, label chunk) (plan.ts says how a call
 * is cut). The B×N scores are never stored; the host reads back B·topk entries and decodes them.
 *
 * Precision: each score is one fma chain over k in ascending order in f32, then + bias[j] (one more
 * rounding), so |ŝ − s| ≤ γ_(K+1)·(|bias[j]| + Σ_k |W[b,k]·M(k,j)|) with γ_n = n·u/(1 − n·u), u = 2⁻²⁴
 * (Higham, Accuracy and Stability, §3.1). Exact ties (equal computed scores) go to the smaller label
 * id; a NaN score (only from overflow: the façade checks the inputs) ranks after every number.
 */
import type { KernelControl } from '../../../core/backend.js';
import { NumkernError } from '../../../core/errors.js';
import type { FloatArray } from '../../../core/types.js';
import type { FrechetTopkArgs } from '../../../frechet/ops.js';
import { FRECHET_LAYOUT_CODES } from '../../../frechet/ops.js';
import { STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import type { GpuRuntime } from '../dispatch.js';
import { copyToStaging, readInto } from '../readback.js';
import { EMPTY_KEY, FRECHET_PARAMS, keyScore, mergePipeline, scorePipeline, TILE_ROWS } from './layout.js';
import { planTopk } from './plan.js';

function f32(a: FloatArray, name: string): Float32Array {
  if (!(a instanceof Float32Array)) {
    throw new NumkernError('E_DTYPE', `${name}: the webgpu backend computes in f32 only, got a ${a.constructor.name}`, { argument: name });
  }
  return a;
}

/** The façade has checked the shapes; a device must not read past a caller's array all the same. */
function need(a: { length: number }, n: number, name: string): void {
  if (a.length < n) throw new NumkernError('E_SHAPE', `${name}: length ${a.length}, expected at least ${n}`, { argument: name });
}

export async function webgpuFrechetTopk(rt: GpuRuntime, args: FrechetTopkArgs, ctl: KernelControl): Promise<void> {
  const { B, K, N, topk, layout, labelOffset, labels } = args;
  const W = f32(args.W, 'W');
  const M = f32(args.M, 'M');
  const bias = args.bias === null ? null : f32(args.bias, 'bias');
  const scores = f32(args.scores, 'scores');
  need(W, B * K, 'W');
  need(M, N * K, 'M');
  if (bias) need(bias, N, 'bias');
  need(labels, B * topk, 'labels');
  need(scores, B * topk, 'scores');
  if (B === 0) return;
  const plan = planTopk(rt, B, K, N, topk);
  if (typeof plan === 'string') throw new NumkernError('E_RANGE', `frechetTopk: ${plan}`, { argument: 'topk' });
  const { rowsPerChunk, labelsPerChunk, spanLen, spanStride, entriesPerRow } = plan;
  const layoutCode = FRECHET_LAYOUT_CODES[layout];

  await rt.guard('frechetTopk', ctl.signal, async (lease) => {
    const [scorePipe, mergePipe] = await Promise.all([scorePipeline(rt), mergePipeline(rt)]);
    const wBuf = lease.acquire(rowsPerChunk * K * 4, STORAGE_IN);
    const mBuf = lease.acquire(labelsPerChunk * K * 4, STORAGE_IN);
    const biasBuf = lease.acquire(bias ? labelsPerChunk * 4 : 16, STORAGE_IN);
    const candBuf = lease.acquire(rowsPerChunk * entriesPerRow * 8, STORAGE_OUT);
    const staging = lease.acquire(rowsPerChunk * topk * 8, STAGING);
    const ub = lease.acquire(FRECHET_PARAMS.bytes, UNIFORM);
    const params = new Uint32Array(FRECHET_PARAMS.words);
    const at = FRECHET_PARAMS.at;
    const host = new Uint32Array(rowsPerChunk * topk * 2);
    const labelChunks = Math.ceil(N / labelsPerChunk);
    const q = rt.device.queue;

    for (let b0 = 0; b0 < B; b0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, B - b0);
      rt.write(wBuf, W.subarray(b0 * K, (b0 + rows) * K), 'W');
      for (let c = 0; c < labelChunks; c++) {
        const j0 = c * labelsPerChunk;
        const nc = Math.min(labelsPerChunk, N - j0);
        // With one label chunk, M (and bias) stay on the device across row chunks.
        if (labelChunks > 1 || b0 === 0) {
          uploadLabels(rt, mBuf, M, layout === 'kn', K, N, j0, nc);
          if (bias) rt.write(biasBuf, bias.subarray(j0, j0 + nc), 'bias');
        }
        params.fill(0);
        params[at.rows] = rows;
        params[at.K] = K;
        params[at.labels] = nc;
        params[at.labelBase] = j0;
        params[at.ldm] = layout === 'kn' ? nc : K;
        params[at.spanLen] = spanLen;
        params[at.spans] = Math.ceil(nc / spanLen);
        params[at.spanStride] = spanStride;
        params[at.rowBlocks] = Math.ceil(rows / TILE_ROWS);
        params[at.topk] = topk;
        params[at.layoutCode] = layoutCode;
        params[at.hasBias] = bias ? 1 : 0;
        params[at.first] = c === 0 ? 1 : 0;
        params[at.listBase] = rowsPerChunk * topk;
        // One submit per chunk pair, so rewriting the uniform and the operands is ordered after the
        // previous pair's use (buffers.ts, reuse rule).
        q.writeBuffer(ub, 0, params);
        const enc = rt.device.createCommandEncoder();
        rt.dispatch(
          enc, scorePipe,
          [ub, { buffer: wBuf, size: rows * K * 4 }, { buffer: mBuf, size: nc * K * 4 },
            { buffer: biasBuf, size: bias ? nc * 4 : 16 }, candBuf],
          params[at.rowBlocks]! * params[at.spans]!,
        );
        rt.dispatch(enc, mergePipe, [ub, candBuf], Math.ceil(rows / rt.workgroupSize));
        if (c === labelChunks - 1) copyToStaging(enc, candBuf, staging, rows * topk * 8);
        rt.submit(enc, ctl.signal);
      }
      const out = host.subarray(0, rows * topk * 2);
      await readInto(staging, out);
      decode(out, rows * topk, b0 * topk, labelOffset, labels, scores);
    }
  });
}

/**
 * Writes labels [j0, j0 + nc) of M into `target` in the chunk layout the shader reads: 'nk' rows are
 * contiguous in M already; 'kn' is gathered as a K × nc block, one write per k (one write in all when
 * the chunk is all of M).
 */
function uploadLabels(rt: GpuRuntime, target: GPUBuffer, M: Float32Array, kn: boolean, K: number, N: number, j0: number, nc: number): void {
  if (!kn) {
    rt.write(target, M.subarray(j0 * K, (j0 + nc) * K), 'M');
    return;
  }
  if (nc === N) {
    rt.write(target, M.subarray(0, K * N), 'M');
    return;
  }
  for (let k = 0; k < K; k++) rt.write(target, M.subarray(k * N + j0, k * N + j0 + nc), 'M', k * nc * 4);
}

/** Entries (key, id) → labels (labelOffset + id) and f32 scores, at `dest` in the caller's arrays. */
function decode(
  entries: Uint32Array, count: number, dest: number, labelOffset: number, labels: Int32Array, scores: Float32Array,
): void {
  for (let e = 0; e < count; e++) {
    const key = entries[2 * e]!;
    // N ≥ topk, so every list ends full; an empty slot here is a bug, never an answer.
    if (key === EMPTY_KEY) throw new Error(`webgpu: frechetTopk left rank ${e} of its output empty`);
    labels[dest + e] = labelOffset + entries[2 * e + 1]!;
    scores[dest + e] = keyScore(key);
  }
}
