/**
 * relaxSolveBatch on the WebGPU backend: many small independent systems (the Learning-to-Relax
 * experiments solve sequences of 10×10 grids, n = 100: reference/relax.md §5) in one dispatch per
 * refinement round. Each system gets one workgroup that runs its whole inner solve in workgroup
 * memory (kernels/relax/batch_*.wgsl), with its own ω, operator (CSR or stencil, mixed freely) and
 * stopping state; the host keeps one f64 refinement loop per system (relax.ts: Refiner), so the
 * semantics are those of a single webgpu solve: same methods, same Algorithm-1 counting at the
 * oracle's check points, same inner tolerance, stall and divergence rules.
 *
 * Differences from a single solve:
 *  - A round makes at most BATCH_ROUND_UPDATES updates per system, so one dispatch stays short
 *    (a GPU watchdog kills long ones) and the abort signal is checked between rounds. A round that
 *    stops at this cap between check points makes no test; the next round goes on from the f64
 *    re-anchored x (for CG it restarts).
 *  - A system must fit workgroup memory (batchCapacity: the method's vectors in
 *    maxComputeWorkgroupStorageSize); accepts() refuses a batch with a larger one, and the
 *    dispatcher runs the batch on a CPU backend.
 *  - The packed operands of a batch must each fit one storage binding.
 *  - onProgress reports, after each round, the largest iteration count and the largest current
 *    residual among the systems still running.
 * Operands are packed and uploaded once per call; only the scaled residuals and the per-system
 * round parameters travel per round.
 */
import type { KernelControl } from '../../core/backend.js';
import { multicolorOrdering } from '../../core/coloring.js';
import { throwIfAborted } from '../../core/errors.js';
import type { OpArgs, OpResult, RelaxMethod } from '../../core/ops.js';
import { operatorRows } from '../../core/operator.js';
import { isStencil } from '../../core/types.js';
import { align16, STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from './buffers.js';
import { foldWorkgroups, type GpuRuntime } from './dispatch.js';
import { readInto } from './readback.js';
import {
  f32Trouble, GPU_METHODS, hostResidual, Progress, Refiner, SEQUENTIAL_REASON, stallUpdates, stencilCoefs, type RoundEnd,
} from './relax.js';

type BatchArgs = OpArgs<'relaxSolveBatch'>;

/** Invocations per system: enough for the paper's n = 100 grids, more would mostly idle. */
const BATCH_WG = 128;
/** Updates per system per dispatch (see the header). */
export const BATCH_ROUND_UPDATES = 2048;
/** u32/f32 words of one System descriptor (batch_common.wgsl). */
const SYSTEM_WORDS = 28;
/** Length-CAP f32 vectors each batched method keeps in workgroup memory. */
const VECTORS: Readonly<Record<string, number>> = { 'jacobi': 3, 'sor-redblack': 2, 'cg': 4 };
const FILES: Readonly<Record<string, string>> = {
  'jacobi': 'relax/batch_jacobi.wgsl',
  'sor-redblack': 'relax/batch_redblack.wgsl',
  'cg': 'relax/batch_cg.wgsl',
};
/** Outcome.flag values of batch_common.wgsl, by number. */
const ENDS: readonly (RoundEnd | undefined)[] = [undefined, 'tolerance', 'diverged', 'stalled', 'budget', 'paused', 'breakdown'];
const KIND = { csr: 0, stencilConstant: 1, stencilVariable: 2 } as const;

export function batchWorkgroupSize(rt: GpuRuntime): number {
  return Math.min(BATCH_WG, rt.workgroupSize);
}

/** The longest system `method` can hold in workgroup memory on this device. */
export function batchCapacity(rt: GpuRuntime, method: RelaxMethod): number {
  const vectors = VECTORS[method];
  if (vectors === undefined) return 0;
  // The vectors, the reduction scratch (one f32 per invocation) and the reduction result, each
  // laid out on 16-byte boundaries.
  const free = rt.gpu.limits.maxComputeWorkgroupStorageSize - align16(4 * batchWorkgroupSize(rt)) - 16;
  return Math.max(0, Math.floor(free / (16 * vectors)) * 4);
}

interface Totals {
  readonly vec: number;
  readonly ints: number;
  readonly floats: number;
}

export function relaxBatchAccepts(rt: GpuRuntime, args: BatchArgs): string | null {
  const { systems, options } = args;
  const method = options.method;
  if (!GPU_METHODS.includes(method)) return `method '${method}': ${SEQUENTIAL_REASON}`;
  const cap = batchCapacity(rt, method);
  let vec = 0;
  let ints = 0;
  let floats = 0;
  for (let k = 0; k < systems.length; k++) {
    const A = systems[k]!.A;
    const n = operatorRows(A);
    if (n > cap) {
      return `systems[${k}]: ${n} unknowns exceed the ${cap} that one workgroup holds for ${method} ` +
        `(maxComputeWorkgroupStorageSize ${rt.gpu.limits.maxComputeWorkgroupStorageSize} bytes); solve it alone or on a CPU backend`;
    }
    const bad = f32Trouble(A, `systems[${k}].A`);
    if (bad) return bad;
    const t = packedSize(A, method);
    vec += n;
    ints += t.ints;
    floats += t.floats;
  }
  const limit = rt.bindingBytes;
  const over = (what: string, bytes: number) => (bytes > limit ? `batch: ${what} take ${bytes} bytes, more than one webgpu binding holds (${limit})` : null);
  const perDim = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
  if (systems.length > perDim * perDim) return `batch: ${systems.length} systems exceed ${perDim}² workgroups`;
  return over('the right-hand sides', 4 * vec) ?? over('the integer operands', 4 * ints) ?? over('the f32 operands', 4 * floats) ??
    over('the system descriptors', 4 * SYSTEM_WORDS * systems.length);
}

/** Words a system adds to the packed integer and float operands (colour classes bounded by n). */
function packedSize(A: BatchArgs['systems'][number]['A'], method: RelaxMethod): Omit<Totals, 'vec'> {
  if (isStencil(A)) {
    return { ints: 0, floats: A.coeffs.kind === 'variable' ? (1 + 2 * A.shape.length) * operatorRows(A) : 0 };
  }
  const n = A.nrows;
  const nnz = A.colIdx.length;
  return { ints: n + 1 + nnz + (method === 'sor-redblack' ? 2 * n + 1 : 0), floats: nnz };
}

interface Packed {
  readonly desc: ArrayBuffer;
  readonly ints: Int32Array;
  readonly floats: Float32Array;
  readonly vecOffsets: Int32Array;
  readonly totalN: number;
  readonly maxN: number;
}

/** Lays every system's operator out in the descriptors and the two packed operand arrays. */
function pack(args: BatchArgs): Packed {
  const { systems, options } = args;
  const method = options.method;
  const count = systems.length;
  const desc = new ArrayBuffer(4 * SYSTEM_WORDS * count);
  const u = new Uint32Array(desc);
  const f = new Float32Array(desc);
  const colourings = systems.map((s) => (method === 'sor-redblack' && !isStencil(s.A) ? multicolorOrdering(s.A) : null));
  let intWords = 0;
  let floatWords = 0;
  systems.forEach((s, k) => {
    const A = s.A;
    if (isStencil(A)) {
      if (A.coeffs.kind === 'variable') floatWords += (1 + 2 * A.shape.length) * operatorRows(A);
    } else {
      intWords += A.nrows + 1 + A.colIdx.length + (colourings[k] ? A.nrows + colourings[k]!.colors + 1 : 0);
      floatWords += A.colIdx.length;
    }
  });
  const ints = new Int32Array(Math.max(intWords, 4));
  const floats = new Float32Array(Math.max(floatWords, 4));
  const vecOffsets = new Int32Array(count + 1);
  let io = 0;
  let fo = 0;
  let maxN = 0;
  systems.forEach((s, k) => {
    const A = s.A;
    const n = operatorRows(A);
    const w = k * SYSTEM_WORDS;
    vecOffsets[k + 1] = vecOffsets[k]! + n;
    maxN = Math.max(maxN, n);
    u[w] = n;
    u[w + 5] = vecOffsets[k]!;
    f[w + 16] = s.omega;
    if (isStencil(A)) {
      const [nx, ny, nz = 1] = A.shape as number[];
      u.set([nx!, ny!, nz], w + 2);
      const c = A.coeffs;
      if (c.kind === 'constant') {
        u[w + 1] = KIND.stencilConstant;
        f[w + 19] = c.diag;
        f.set(c.offdiag, w + 20);
      } else {
        u[w + 1] = KIND.stencilVariable;
        u[w + 11] = fo;
        const coefs = stencilCoefs(A);
        floats.set(coefs, fo);
        fo += coefs.length;
      }
    } else {
      u[w + 1] = KIND.csr;
      u.set([n, 1, 1], w + 2);
      u[w + 6] = io;
      ints.set(A.rowPtr, io);
      io += n + 1;
      u[w + 7] = io;
      ints.set(A.colIdx, io);
      io += A.colIdx.length;
      u[w + 11] = fo;
      floats.set(A.values, fo);
      fo += A.colIdx.length;
      const col = colourings[k];
      if (col) {
        u[w + 8] = io;
        ints.set(col.order, io);
        io += n;
        u[w + 9] = io;
        ints.set(col.offsets, io);
        io += col.colors + 1;
        u[w + 10] = col.colors;
      }
    }
  });
  return { desc, ints, floats, vecOffsets, totalN: vecOffsets[count]!, maxN };
}

export async function webgpuRelaxSolveBatch(rt: GpuRuntime, args: BatchArgs, ctl: KernelControl): Promise<OpResult<'relaxSolveBatch'>> {
  const { systems, options } = args;
  const refiners = systems.map((s) => new Refiner(hostResidual(s.A), s.b, s.x, options));
  if (refiners.some((r) => r.running)) {
    await rt.guard('relaxSolveBatch', ctl.signal, async (lease) => {
      const method = options.method;
      const packed = pack(args);
      const count = systems.length;
      const wg = batchWorkgroupSize(rt);
      // Power-of-two capacities keep the number of pipeline variants small across batches.
      let cap = 32;
      while (cap < packed.maxN) cap *= 2;
      cap = Math.min(cap, batchCapacity(rt, method));
      const pipeline = await rt.pipelines.get({ file: FILES[method]!, entryPoint: 'main', constants: { WG: wg, CAP: cap } });
      const q = rt.device.queue;
      const upload = (data: ArrayBufferView, usage: number) => {
        const b = lease.acquire(data.byteLength, usage);
        q.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
        return b;
      };
      const descBuf = lease.acquire(packed.desc.byteLength, STORAGE_IN);
      const intBuf = upload(packed.ints, STORAGE_IN);
      const floatBuf = upload(packed.floats, STORAGE_IN);
      const vecBytes = Math.max(4, packed.totalN * 4);
      const vecBuf = lease.acquire(vecBytes, STORAGE_OUT);
      const outBuf = lease.acquire(count * 16, STORAGE_OUT);
      const vecStaging = lease.acquire(vecBytes, STAGING);
      const outStaging = lease.acquire(count * 16, STAGING);
      const params = upload(new Uint32Array([count, options.checkEvery, stallUpdates(options.checkEvery), 0]), UNIFORM);
      const group = rt.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: params } },
          { binding: 1, resource: { buffer: descBuf, size: packed.desc.byteLength } },
          { binding: 2, resource: { buffer: intBuf, size: packed.ints.byteLength } },
          { binding: 3, resource: { buffer: floatBuf, size: packed.floats.byteLength } },
          { binding: 4, resource: { buffer: vecBuf, size: vecBytes } },
          { binding: 5, resource: { buffer: outBuf, size: count * 16 } },
        ],
      });
      const [gx, gy] = foldWorkgroups(count, rt.gpu.limits.maxComputeWorkgroupsPerDimension);
      const u = new Uint32Array(packed.desc);
      const f = new Float32Array(packed.desc);
      const vecs = new Float32Array(Math.max(1, packed.totalN));
      const outHost = new ArrayBuffer(count * 16);
      const outU = new Uint32Array(outHost);
      const progress = new Progress(ctl);

      while (refiners.some((r) => r.running)) {
        throwIfAborted(ctl.signal);
        refiners.forEach((r, k) => {
          const w = k * SYSTEM_WORDS;
          if (!r.running) {
            u[w + 12] = 0;
            return;
          }
          const plan = r.plan(vecs.subarray(packed.vecOffsets[k]!, packed.vecOffsets[k + 1]!), BATCH_ROUND_UPDATES);
          u[w + 12] = plan.budget;
          u[w + 13] = plan.phase;
          u[w + 14] = plan.last ? 1 : 0;
          f[w + 17] = plan.eta2;
          f[w + 18] = plan.div2;
        });
        q.writeBuffer(descBuf, 0, packed.desc);
        q.writeBuffer(vecBuf, 0, vecs.buffer, 0, packed.totalN * 4);
        const enc = rt.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(gx, gy);
        pass.end();
        enc.copyBufferToBuffer(vecBuf, 0, vecStaging, 0, packed.totalN * 4);
        enc.copyBufferToBuffer(outBuf, 0, outStaging, 0, count * 16);
        rt.submit(enc, ctl.signal);
        await readInto(vecStaging, vecs.subarray(0, packed.totalN));
        await readInto(outStaging, new Uint8Array(outHost));

        let iteration = 0;
        let worst = 0;
        refiners.forEach((r, k) => {
          if (!r.running) return;
          const end = ENDS[outU[4 * k + 2]!];
          if (end === undefined) throw new Error(`webgpu: relaxSolveBatch: system ${k} reported no outcome (flag ${outU[4 * k + 2]})`);
          r.apply(vecs.subarray(packed.vecOffsets[k]!, packed.vecOffsets[k + 1]!), outU[4 * k + 1]!, end);
          iteration = Math.max(iteration, r.iterations);
          if (r.running) worst = Math.max(worst, r.nrm);
        });
        progress.tick(iteration, worst, true);
      }
    });
  }
  return refiners.map((r, k) => r.finish(systems[k]!.x));
}
