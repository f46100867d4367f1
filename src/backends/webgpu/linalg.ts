/**
 * The shared primitives (src/linalg/ops.ts) on the WebGPU backend, f32 only (kernels/core/*.wgsl).
 *
 * Any single binding is limited to maxStorageBufferBindingSize (128 MiB on lavapipe), so every
 * kernel walks its input in chunks that fit one binding, one submit per chunk, checking the abort
 * signal between submits. Reductions leave per-workgroup partials that the host adds in f64.
 * Outputs are written into the caller's arrays only after the last chunk, so a device lost halfway
 * leaves them as they were and the engine can rerun the op elsewhere.
 */
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import { NumkernError } from '../../core/errors.js';
import type { OpArgs } from '../../core/ops.js';
import type { FloatArray } from '../../core/types.js';
import { STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from './buffers.js';
import type { GpuRuntime } from './dispatch.js';
import { copyToStaging, readF32, readInto } from './readback.js';

/**
 * Auto-dispatch hand-off sizes (elements, nonzeros or stencil work). A submit plus a read-back costs
 * tens of microseconds on a discrete GPU, in which a CPU core streams ~2^18 f32 elements, so smaller
 * calls stay on the CPU (tfjs hands off below 1000 elements for the same reason). No hardware adapter
 * was available to measure the crossover: these are estimates, overridable per context
 * (createContext({thresholds})).
 */
const MIN_STREAMING = 1 << 18;

/** Below this mean piece length one invocation per segment beats a mostly idle workgroup. */
const PER_THREAD_MAX_MEAN = 32;
/** Enough workgroups to fill a large GPU; more only adds partials. Keeps reductions 1-D. */
const MAX_REDUCE_GROUPS = 1024;

export function linalgKernels(rt: GpuRuntime): AnyKernel[] {
  return [
    // WGSL leaves NaN and ±Inf arithmetic to the implementation: no claim that they propagate (src/linalg/ops.ts).
    kernel({ op: 'spmv', dtypes: ['f32'], minSize: MIN_STREAMING, run: (args, ctl) => spmv(rt, args, ctl).then(() => false) }),
    kernel({ op: 'dot', dtypes: ['f32'], minSize: MIN_STREAMING, run: (args, ctl) => dot(rt, args, ctl) }),
    kernel({ op: 'axpy', dtypes: ['f32'], minSize: MIN_STREAMING, run: (args, ctl) => axpy(rt, args, ctl) }),
    kernel({ op: 'nrm2', dtypes: ['f32'], minSize: MIN_STREAMING, run: (args, ctl) => nrm2(rt, args, ctl) }),
    kernel({ op: 'segmentedMoments', dtypes: ['f32'], minSize: MIN_STREAMING, run: (args, ctl) => segmentedMoments(rt, args, ctl) }),
  ];
}

function f32(a: FloatArray, name: string): Float32Array {
  if (!(a instanceof Float32Array)) {
    throw new NumkernError('E_DTYPE', `${name}: the webgpu backend computes in f32 only, got a ${a.constructor.name}`, { argument: name });
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// axpy

async function axpy(rt: GpuRuntime, args: OpArgs<'axpy'>, ctl: KernelControl): Promise<void> {
  const x = f32(args.x, 'x');
  const y = f32(args.y, 'y');
  const n = x.length;
  if (n === 0) return;
  await rt.guard('axpy', ctl.signal, async (lease) => {
    const pipeline = await rt.pipeline('core/axpy.wgsl');
    const chunk = Math.min(n, rt.bindingElements(4));
    // y is also an input: with several chunks the results wait in a scratch array, so y changes
    // only once every chunk has succeeded (a fallback after device loss must see the original y).
    const out = chunk < n ? new Float32Array(n) : y;
    const xb = lease.acquire(chunk * 4, STORAGE_IN);
    const yb = lease.acquire(chunk * 4, STORAGE_OUT);
    const staging = lease.acquire(chunk * 4, STAGING);
    const ub = lease.acquire(16, UNIFORM);
    const params = new ArrayBuffer(16);
    new Float32Array(params)[1] = args.alpha;
    for (let off = 0; off < n; off += chunk) {
      const len = Math.min(chunk, n - off);
      new Uint32Array(params)[0] = len;
      // One submit per chunk, so rewriting the uniform is ordered after the previous chunk's use.
      rt.device.queue.writeBuffer(ub, 0, params);
      rt.write(xb, x.subarray(off, off + len), 'x');
      rt.write(yb, y.subarray(off, off + len), 'y');
      const enc = rt.device.createCommandEncoder();
      rt.dispatch(enc, pipeline, [ub, { buffer: xb, size: len * 4 }, { buffer: yb, size: len * 4 }], Math.ceil(len / rt.workgroupSize));
      copyToStaging(enc, yb, staging, len * 4);
      rt.submit(enc, ctl.signal);
      await readInto(staging, out.subarray(off, off + len));
    }
    if (out !== y) y.set(out);
  });
}

// ---------------------------------------------------------------------------------------------
// dot and nrm2: per-workgroup partials, one staging region per chunk, merged on the host in f64

async function reducePartials(
  rt: GpuRuntime, op: 'dot' | 'nrm2', inputs: readonly Float32Array[], partialFloats: number, ctl: KernelControl,
): Promise<Float32Array> {
  const n = inputs[0]!.length;
  const file = op === 'dot' ? 'core/dot_partial.wgsl' : 'core/nrm2_partial.wgsl';
  return rt.guard(op, ctl.signal, async (lease) => {
    const pipeline = await rt.pipeline(file);
    const chunk = Math.min(n, rt.bindingElements(4));
    const chunks = Math.ceil(n / chunk);
    const groups = Math.min(Math.ceil(chunk / rt.workgroupSize), MAX_REDUCE_GROUPS);
    const partialBytes = groups * partialFloats * 4;
    const inBufs = inputs.map(() => lease.acquire(chunk * 4, STORAGE_IN));
    const partials = lease.acquire(partialBytes, STORAGE_OUT);
    const staging = lease.acquire(chunks * partialBytes, STAGING);
    const ub = lease.acquire(16, UNIFORM);
    const params = new Uint32Array(4);
    for (let c = 0; c < chunks; c++) {
      const off = c * chunk;
      const len = Math.min(chunk, n - off);
      params[0] = len;
      rt.device.queue.writeBuffer(ub, 0, params);
      inputs.forEach((a, i) => rt.write(inBufs[i]!, a.subarray(off, off + len), i === 0 ? 'x' : 'y'));
      const enc = rt.device.createCommandEncoder();
      rt.dispatch(enc, pipeline, [ub, ...inBufs.map((buffer) => ({ buffer, size: len * 4 })), partials], groups);
      copyToStaging(enc, partials, staging, partialBytes, 0, c * partialBytes);
      rt.submit(enc, ctl.signal);
    }
    return readF32(staging, chunks * groups * partialFloats);
  });
}

async function dot(rt: GpuRuntime, args: OpArgs<'dot'>, ctl: KernelControl): Promise<number> {
  const x = f32(args.x, 'x');
  const y = f32(args.y, 'y');
  if (x.length === 0) return 0;
  const partials = await reducePartials(rt, 'dot', [x, y], 1, ctl);
  let s = 0;
  for (let i = 0; i < partials.length; i++) s += partials[i]!;
  return s;
}

async function nrm2(rt: GpuRuntime, args: OpArgs<'nrm2'>, ctl: KernelControl): Promise<number> {
  const x = f32(args.x, 'x');
  if (x.length === 0) return 0;
  const partials = await reducePartials(rt, 'nrm2', [x], 2, ctl);
  // Each partial is (scale, ssq) with norm scale·√ssq; merging onto the largest scale in f64
  // keeps every ratio ≤ 1 and so cannot overflow.
  let scale = 0;
  for (let i = 0; i < partials.length; i += 2) scale = Math.max(scale, partials[i]!);
  if (scale === 0) return 0;
  let ssq = 0;
  for (let i = 0; i < partials.length; i += 2) {
    const r = partials[i]! / scale;
    ssq += partials[i + 1]! * r * r;
  }
  return scale * Math.sqrt(ssq);
}

// ---------------------------------------------------------------------------------------------
// spmv: blocks of rows whose rowPtr, colIdx and values slices each fit one binding

interface RowBlock {
  readonly r0: number;
  readonly r1: number;
}

function planRowBlocks(rowPtr: Int32Array, nrows: number, maxElems: number): RowBlock[] {
  const blocks: RowBlock[] = [];
  let r0 = 0;
  while (r0 < nrows) {
    const nzStart = rowPtr[r0]!;
    // rowPtr slice of the block holds rows + 1 entries.
    let lo = r0;
    let hi = Math.min(nrows, r0 + maxElems - 1);
    // Largest r1 in [r0, hi] with rowPtr[r1] − rowPtr[r0] ≤ maxElems (rowPtr is non-decreasing).
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (rowPtr[mid]! - nzStart <= maxElems) lo = mid;
      else hi = mid - 1;
    }
    if (lo === r0) {
      throw new NumkernError(
        'E_RANGE',
        `A: row ${r0} has ${rowPtr[r0 + 1]! - nzStart} nonzeros, more than one webgpu binding holds (${maxElems} f32); ` +
          'use the native or js backend for this matrix',
        { argument: 'A' },
      );
    }
    blocks.push({ r0, r1: lo });
    r0 = lo;
  }
  return blocks;
}

async function spmv(rt: GpuRuntime, args: OpArgs<'spmv'>, ctl: KernelControl): Promise<void> {
  const { A } = args;
  const values = f32(A.values, 'A.values');
  const x = f32(args.x, 'x');
  const y = f32(args.y, 'y');
  const { nrows, rowPtr, colIdx } = A;
  const maxElems = rt.bindingElements(4);
  if (x.length > maxElems) {
    throw new NumkernError(
      'E_RANGE',
      `x: ${x.length} f32 (${x.length * 4} bytes) exceed the webgpu binding limit of ${rt.bindingBytes} bytes; ` +
        'spmv needs x in one binding, so run this matrix on the native or js backend',
      { argument: 'x' },
    );
  }
  if (nrows === 0) return;
  if (colIdx.length === 0) {
    y.fill(0);
    return;
  }
  const blocks = planRowBlocks(rowPtr, nrows, maxElems);
  await rt.guard('spmv', ctl.signal, async (lease) => {
    const pipeline = await rt.pipeline('core/spmv_csr.wgsl');
    let maxRows = 0;
    let maxNnz = 0;
    for (const b of blocks) {
      maxRows = Math.max(maxRows, b.r1 - b.r0);
      maxNnz = Math.max(maxNnz, rowPtr[b.r1]! - rowPtr[b.r0]!);
    }
    const xb = lease.upload(x);
    const rowBuf = lease.acquire((maxRows + 1) * 4, STORAGE_IN);
    const colBuf = lease.acquire(maxNnz * 4, STORAGE_IN);
    const valBuf = lease.acquire(maxNnz * 4, STORAGE_IN);
    const yb = lease.acquire(maxRows * 4, STORAGE_OUT);
    const staging = lease.acquire(maxRows * 4, STAGING);
    const ub = lease.acquire(16, UNIFORM);
    const params = new Uint32Array(4);
    const q = rt.device.queue;
    for (const { r0, r1 } of blocks) {
      const rows = r1 - r0;
      const nz0 = rowPtr[r0]!;
      const nz1 = rowPtr[r1]!;
      params[0] = rows;
      params[1] = nz0;
      q.writeBuffer(ub, 0, params);
      rt.write(rowBuf, rowPtr.subarray(r0, r1 + 1), 'A.rowPtr');
      if (nz1 > nz0) {
        rt.write(colBuf, colIdx.subarray(nz0, nz1), 'A.colIdx');
        rt.write(valBuf, values.subarray(nz0, nz1), 'A.values');
      }
      const enc = rt.device.createCommandEncoder();
      rt.dispatch(
        enc, pipeline,
        [ub, { buffer: rowBuf, size: (rows + 1) * 4 }, { buffer: colBuf, size: (nz1 - nz0) * 4 },
          { buffer: valBuf, size: (nz1 - nz0) * 4 }, { buffer: xb, size: x.length * 4 }, { buffer: yb, size: rows * 4 }],
        Math.ceil(rows / rt.workgroupSize),
      );
      copyToStaging(enc, yb, staging, rows * 4);
      rt.submit(enc, ctl.signal);
      // y is output only, so blocks may land in it one by one.
      await readInto(staging, y.subarray(r0, r1));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// segmentedMoments: pieces of segments per chunk, merged per segment on the host

interface MomentChunk {
  /** First value of the chunk. */
  readonly v0: number;
  /** Values in the chunk. */
  readonly count: number;
  /** Segment of each piece. */
  readonly segs: Int32Array;
  /** Piece boundaries relative to v0 (pieces + 1 entries). */
  readonly local: Uint32Array;
}

/**
 * Cuts the non-empty segments into chunks of at most maxValues values and maxPieces pieces. A
 * segment longer than what is left of a chunk is split; its pieces are merged on the host.
 */
function planMomentChunks(offsets: Int32Array, maxValues: number, maxPieces: number): MomentChunk[] {
  const nseg = offsets.length - 1;
  const chunks: MomentChunk[] = [];
  let s = 0;
  let pos = nseg > 0 ? offsets[0]! : 0;
  const segs: number[] = [];
  const local: number[] = [];
  for (;;) {
    while (s < nseg && pos >= offsets[s + 1]!) {
      s++;
      if (s < nseg) pos = offsets[s]!;
    }
    if (s >= nseg) break;
    const v0 = pos;
    segs.length = 0;
    local.length = 0;
    local.push(0);
    let used = 0;
    while (s < nseg && segs.length < maxPieces && used < maxValues) {
      const end = offsets[s + 1]!;
      if (pos >= end) {
        s++;
        if (s < nseg) pos = offsets[s]!;
        continue;
      }
      const take = Math.min(end - pos, maxValues - used);
      segs.push(s);
      used += take;
      local.push(used);
      pos += take;
    }
    chunks.push({ v0, count: used, segs: Int32Array.from(segs), local: Uint32Array.from(local) });
  }
  return chunks;
}

async function segmentedMoments(rt: GpuRuntime, args: OpArgs<'segmentedMoments'>, ctl: KernelControl): Promise<void> {
  const values = f32(args.values, 'values');
  const sumOut = f32(args.sum, 'sum');
  const meanOut = f32(args.mean, 'mean');
  const varOut = f32(args.variance, 'variance');
  const { offsets, ddof } = args;
  const nseg = Math.max(0, offsets.length - 1);
  if (nseg === 0) return;
  // Output is one vec4f per piece; the offsets slice (pieces + 1 u32) then fits as well.
  const chunks = planMomentChunks(offsets, rt.bindingElements(4), Math.floor(rt.bindingBytes / 16));
  // Per-segment running (count, mean, M2, sum) in f64, merged piece by piece (Chan et al. 1979).
  const cnt = new Float64Array(nseg);
  const mu = new Float64Array(nseg);
  const m2 = new Float64Array(nseg);
  const tot = new Float64Array(nseg);

  if (chunks.length > 0) {
    await rt.guard('segmentedMoments', ctl.signal, async (lease) => {
      let maxValues = 0;
      let maxPieces = 0;
      for (const c of chunks) {
        maxValues = Math.max(maxValues, c.count);
        maxPieces = Math.max(maxPieces, c.segs.length);
      }
      const offBuf = lease.acquire((maxPieces + 1) * 4, STORAGE_IN);
      const valBuf = lease.acquire(maxValues * 4, STORAGE_IN);
      const momBuf = lease.acquire(maxPieces * 16, STORAGE_OUT);
      const staging = lease.acquire(maxPieces * 16, STAGING);
      const ub = lease.acquire(16, UNIFORM);
      const host = new Float32Array(maxPieces * 4);
      const params = new Uint32Array(4);
      for (const c of chunks) {
        const pieces = c.segs.length;
        const perThread = c.count / pieces < PER_THREAD_MAX_MEAN;
        const pipeline = await rt.pipeline('core/segmented_moments.wgsl', perThread ? 'per_thread' : 'per_group');
        params[0] = pieces;
        rt.device.queue.writeBuffer(ub, 0, params);
        rt.device.queue.writeBuffer(offBuf, 0, c.local);
        rt.write(valBuf, values.subarray(c.v0, c.v0 + c.count), 'values');
        const enc = rt.device.createCommandEncoder();
        rt.dispatch(
          enc, pipeline,
          [ub, { buffer: offBuf, size: (pieces + 1) * 4 }, { buffer: valBuf, size: c.count * 4 }, { buffer: momBuf, size: pieces * 16 }],
          perThread ? Math.ceil(pieces / rt.workgroupSize) : pieces,
        );
        copyToStaging(enc, momBuf, staging, pieces * 16);
        rt.submit(enc, ctl.signal);
        await readInto(staging, host.subarray(0, pieces * 4));
        for (let p = 0; p < pieces; p++) {
          const s = c.segs[p]!;
          const n = c.local[p + 1]! - c.local[p]!;
          const d1 = host[4 * p + 2]!;
          // Corrected two-pass: the residual sum d1 fixes the f32 mean and cancels its error in M2.
          const meanP = host[4 * p + 1]! + d1 / n;
          const m2P = Math.max(0, host[4 * p + 3]! - (d1 * d1) / n);
          const na = cnt[s]!;
          if (na === 0) {
            mu[s] = meanP;
            m2[s] = m2P;
          } else {
            const nTot = na + n;
            const delta = meanP - mu[s]!;
            mu[s] = mu[s]! + (delta * n) / nTot;
            m2[s] = m2[s]! + m2P + (delta * delta * na * n) / nTot;
          }
          cnt[s] = na + n;
          tot[s] = tot[s]! + host[4 * p]!;
        }
      }
    });
  }
  for (let s = 0; s < nseg; s++) {
    const n = cnt[s]!;
    sumOut[s] = tot[s]!;
    meanOut[s] = n > 0 ? mu[s]! : 0;
    varOut[s] = n > ddof ? m2[s]! / (n - ddof) : 0;
  }
}
