/**
 * relaxSolveBatch on the WebGPU backend: many small independent systems (the Learning-to-Relax
 * experiments solve sequences of 10×10 grids, n = 100: docs/relax.md §5) in one dispatch per
 * refinement round. Each system gets one workgroup that runs its whole inner solve in workgroup
 * memory (kernels/relax/batch_*.wgsl), with its own ω, operator (CSR or stencil, mixed freely) and
 * stopping state; the host keeps one f64 refinement loop per system (refine.ts: Refiner), so the
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
 * Operands are packed and uploaded once per call (copied out of the caller's arrays, so nothing is
 * cached across calls and an in-place edit is always seen); only the scaled residuals and the
 * per-system round parameters travel per round. The descriptor, parameter and outcome layouts are
 * layout.ts's tables, from which the shaders' declarations are generated.
 */
import type { KernelControl } from '../../../core/backend.js';
import { multicolorOrdering } from '../../../core/coloring.js';
import { throwIfAborted } from '../../../core/errors.js';
import type { OpArgs, OpResult } from '../../../core/ops.js';
import { operatorRows } from '../../../core/operator.js';
import { isStencil } from '../../../core/types.js';
import type { RelaxMethod } from '../../../relax/ops.js';
import { align16, STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import { foldWorkgroups, type GpuRuntime } from '../dispatch.js';
import { readInto } from '../readback.js';
import { f32Trouble, methodTrouble } from './accepts.js';
import { BATCH_PARAMS, BATCH_VECTORS, KIND, OUTCOME, RELAX_PRELUDE, roundEndOf, SYSTEM } from './layout.js';
import { hostResidual, Progress, Refiner, stallUpdates } from './refine.js';
import { stencilCoefs } from './uploads.js';

type BatchArgs = OpArgs<'relaxSolveBatch'>;

/** Invocations per system: enough for the paper's n = 100 grids, more would mostly idle. */
const BATCH_WG = 128;
/** Updates per system per dispatch (see the header). */
export const BATCH_ROUND_UPDATES = 2048;
const FILES: Readonly<Partial<Record<RelaxMethod, string>>> = {
  'jacobi': 'relax/batch_jacobi.wgsl',
  'sor-redblack': 'relax/batch_redblack.wgsl',
  'cg': 'relax/batch_cg.wgsl',
};
const S = SYSTEM.at;

export function batchWorkgroupSize(rt: GpuRuntime): number {
  return Math.min(BATCH_WG, rt.workgroupSize);
}

/** The longest system `method` can hold in workgroup memory on this device. */
export function batchCapacity(rt: GpuRuntime, method: RelaxMethod): number {
  const vectors = BATCH_VECTORS[method];
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
  const unsupported = methodTrouble(method);
  if (unsupported) return unsupported;
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
    over('the system descriptors', SYSTEM.bytes * systems.length);
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
  const desc = new ArrayBuffer(SYSTEM.bytes * count);
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
    const w = k * SYSTEM.words;
    vecOffsets[k + 1] = vecOffsets[k]! + n;
    maxN = Math.max(maxN, n);
    u[w + S.n] = n;
    u[w + S.vecOff] = vecOffsets[k]!;
    f[w + S.omega] = s.omega;
    if (isStencil(A)) {
      const [nx, ny, nz = 1] = A.shape as number[];
      u[w + S.nx] = nx!;
      u[w + S.ny] = ny!;
      u[w + S.nz] = nz;
      const c = A.coeffs;
      if (c.kind === 'constant') {
        u[w + S.kind] = KIND.stencilConstant;
        f[w + S.diag] = c.diag;
        f.set(c.offdiag, w + S.off);
      } else {
        u[w + S.kind] = KIND.stencilVariable;
        u[w + S.fOff] = fo;
        const coefs = stencilCoefs(A);
        floats.set(coefs, fo);
        fo += coefs.length;
      }
    } else {
      u[w + S.kind] = KIND.csr;
      u[w + S.nx] = n;
      u[w + S.ny] = 1;
      u[w + S.nz] = 1;
      u[w + S.rowOff] = io;
      ints.set(A.rowPtr, io);
      io += n + 1;
      u[w + S.colOff] = io;
      ints.set(A.colIdx, io);
      io += A.colIdx.length;
      u[w + S.fOff] = fo;
      floats.set(A.values, fo);
      fo += A.colIdx.length;
      const col = colourings[k];
      if (col) {
        u[w + S.orderOff] = io;
        ints.set(col.order, io);
        io += n;
        u[w + S.colourOff] = io;
        ints.set(col.offsets, io);
        io += col.colors + 1;
        u[w + S.colours] = col.colors;
      }
    }
  });
  return { desc, ints, floats, vecOffsets, totalN: vecOffsets[count]!, maxN };
}

export async function webgpuRelaxSolveBatch(rt: GpuRuntime, args: BatchArgs, ctl: KernelControl): Promise<OpResult<'relaxSolveBatch'>> {
  const { systems, options } = args;
  const refiners = systems.map((s, k) => new Refiner(hostResidual(s.A), s.A, s.b, s.x, options, `systems[${k}].`));
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
      const pipeline = await rt.pipelines.get({
        file: FILES[method]!, entryPoint: 'main', constants: { WG: wg, CAP: cap, NARR: BATCH_VECTORS[method]! }, prelude: RELAX_PRELUDE,
      });
      const q = rt.device.queue;
      const upload = (data: ArrayBufferView, usage: number, name: string) => {
        const b = lease.acquire(data.byteLength, usage);
        rt.write(b, data, name);
        return b;
      };
      const descBuf = lease.acquire(packed.desc.byteLength, STORAGE_IN);
      const intBuf = upload(packed.ints, STORAGE_IN, 'packed integer operands');
      const floatBuf = upload(packed.floats, STORAGE_IN, 'packed f32 operands');
      const vecBytes = Math.max(4, packed.totalN * 4);
      const outBytes = count * OUTCOME.bytes;
      const vecBuf = lease.acquire(vecBytes, STORAGE_OUT);
      const outBuf = lease.acquire(outBytes, STORAGE_OUT);
      const vecStaging = lease.acquire(vecBytes, STAGING);
      const outStaging = lease.acquire(outBytes, STAGING);
      const paramWords = new Uint32Array(align16(BATCH_PARAMS.bytes) / 4);
      paramWords[BATCH_PARAMS.at.count] = count;
      paramWords[BATCH_PARAMS.at.checkEvery] = options.checkEvery;
      paramWords[BATCH_PARAMS.at.stall] = stallUpdates(options.checkEvery);
      const params = upload(paramWords, UNIFORM, 'batch parameters');
      const group = rt.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: params } },
          { binding: 1, resource: { buffer: descBuf, size: packed.desc.byteLength } },
          { binding: 2, resource: { buffer: intBuf, size: packed.ints.byteLength } },
          { binding: 3, resource: { buffer: floatBuf, size: packed.floats.byteLength } },
          { binding: 4, resource: { buffer: vecBuf, size: vecBytes } },
          { binding: 5, resource: { buffer: outBuf, size: outBytes } },
        ],
      });
      const [gx, gy] = foldWorkgroups(count, rt.gpu.limits.maxComputeWorkgroupsPerDimension);
      const u = new Uint32Array(packed.desc);
      const f = new Float32Array(packed.desc);
      const vecs = new Float32Array(Math.max(1, packed.totalN));
      const outHost = new ArrayBuffer(outBytes);
      const outU = new Uint32Array(outHost);
      const progress = new Progress(ctl);

      while (refiners.some((r) => r.running)) {
        throwIfAborted(ctl.signal);
        refiners.forEach((r, k) => {
          const w = k * SYSTEM.words;
          if (!r.running) {
            u[w + S.budget] = 0;
            return;
          }
          const plan = r.plan(vecs.subarray(packed.vecOffsets[k]!, packed.vecOffsets[k + 1]!), BATCH_ROUND_UPDATES);
          u[w + S.budget] = plan.budget;
          u[w + S.phase] = plan.phase;
          u[w + S.last] = plan.last ? 1 : 0;
          f[w + S.eta2] = plan.eta2;
          f[w + S.div2] = plan.div2;
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
        enc.copyBufferToBuffer(outBuf, 0, outStaging, 0, outBytes);
        rt.submit(enc, ctl.signal);
        await readInto(vecStaging, vecs.subarray(0, packed.totalN));
        await readInto(outStaging, new Uint8Array(outHost));

        let iteration = 0;
        let worst = 0;
        refiners.forEach((r, k) => {
          if (!r.running) return;
          const o = k * OUTCOME.words;
          const flag = outU[o + OUTCOME.at.flag]!;
          const end = roundEndOf(flag);
          if (end === undefined) throw new Error(`webgpu: relaxSolveBatch: system ${k} reported no outcome (flag ${flag})`);
          r.apply(vecs.subarray(packed.vecOffsets[k]!, packed.vecOffsets[k + 1]!), outU[o + OUTCOME.at.updates]!, end);
          iteration = Math.max(iteration, r.iterations);
          if (r.running) worst = Math.max(worst, r.nrm);
        });
        progress.tick(iteration, worst, true);
      }
    });
  }
  return refiners.map((r, k) => r.finish(systems[k]!.x));
}
