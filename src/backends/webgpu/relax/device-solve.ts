/**
 * relaxSolve on the WebGPU backend: the device loop of one system, inside the host's refinement
 * loop (refine.ts), for f32 and f64 operands.
 *
 *  - Methods: 'jacobi', 'sor-redblack' and 'cg' (accepts.ts refuses the sequential ones). CG runs
 *    in double-f32 (df_*.wgsl; a stencil as its CSR twin) and keeps its Krylov run across rounds;
 *    only a system too large for that (accepts.ts dfFits) runs it in f32, restarted each round.
 *  - The device loop needs no host round trip between checks: checkEvery updates are encoded in
 *    batches of command buffers, the check is a device reduction plus a 24- or 32-byte readback, and x
 *    (here e) is read back only when a round ends. The abort signal is checked before every submit.
 *  - Operands travel to the device once and stay between solves while their contents do not
 *    change (uploads.ts).
 *  - Uniform and state layouts come from layout.ts, which also generates their WGSL declarations.
 */
import type { KernelControl } from '../../../core/backend.js';
import { multicolorOrdering } from '../../../core/coloring.js';
import { throwIfAborted } from '../../../core/errors.js';
import { operatorRows } from '../../../core/operator.js';
import { stencilToCsr } from '../../../core/stencil.js';
import { isStencil, type CsrMatrix, type LinearOperator } from '../../../core/types.js';
import type { RelaxArgs, RelaxOutcome } from '../../../relax/ops.js';
import { align16, STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import { foldWorkgroups, type GpuRuntime, type Lease } from '../dispatch.js';
import { readInto } from '../readback.js';
import { CSR_PARAMS, DF_PARAMS, DF_STATE, relaxPipeline, SCALAR_PARAMS, SOLVER_STATE, STENCIL_PARAMS, VEC_PARAMS } from './layout.js';
import { ETA_MIN, familyOf, hostResidual, Progress, Refiner, stallUpdates, type Family, type RoundEnd, type RoundPlan } from './refine.js';
import { dfFits } from './accepts.js';
import { Pins, stencilCoefs } from './uploads.js';

/** Updates encoded per command buffer between checks: keeps an abort and a device loss prompt. */
const SUBMIT_UPDATES = 64;
/** Workgroups of a reduction's first pass; one workgroup adds their partials on the device. */
const MAX_PARTIALS = 1024;
/** Bytes of SolverState the host reads at a check: norm2 .. flag (all of DfState, whose flag is last). */
const STATE_READ_BYTES = Math.max(4 * (SOLVER_STATE.at.flag + 1), DF_STATE.bytes);

/** A CSR matrix's values as double-f32 (hi, lo) pairs: hi = fl32(a), lo = fl32(a − hi), a to about 48 bits. */
export function splitPairs(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(2 * values.length);
  for (let k = 0; k < values.length; k++) {
    const hi = Math.fround(values[k]!);
    out[2 * k] = hi;
    out[2 * k + 1] = values[k]! - hi;
  }
  return out;
}

interface Step {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  readonly workgroups: readonly [number, number];
}

type Bind = readonly [binding: number, buffer: GPUBuffer, bytes?: number];

function bindGroup(rt: GpuRuntime, pipeline: GPUComputePipeline, binds: readonly Bind[]): GPUBindGroup {
  return rt.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: binds.map(([binding, buffer, bytes]) => ({
      binding,
      resource: bytes === undefined ? { buffer } : { buffer, size: Math.max(4, bytes) },
    })),
  });
}

function encode(pass: GPUComputePassEncoder, steps: readonly Step[]): void {
  for (const s of steps) {
    pass.setPipeline(s.pipeline);
    pass.setBindGroup(0, s.group);
    pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1]);
  }
}

/** The device half of one solve: buffers, bind groups and the loop of one round. */
class DeviceSolve {
  private readonly steps: {
    /** Stationary: the dispatches of one sweep, per parity of the update count (Jacobi ping-pongs). */
    sweep: [Step[], Step[]];
    /** Stationary: residual partials of the current iterate and their sum, per parity. */
    check: [Step[], Step[]];
    /** CG: r·r of the starting residual. */
    start: Step[];
    /** CG: one step. */
    cg: Step[];
    /** Double-f32 CG: p *= (previous round's scale)/(this round's), when a round continues the previous one's direction. */
    rescale: Step[];
  } = { sweep: [[], []], check: [[], []], start: [], cg: [], rescale: [] };
  /** Double-f32 CG's uniform (DF_PARAMS: its factor rescales p), and the scale of the round before (0 before the first). */
  private dfParams: GPUBuffer | null = null;
  private readonly dfWords = new ArrayBuffer(align16(DF_PARAMS.bytes));
  private lastScale = 0;
  private iterate: [GPUBuffer, GPUBuffer] = [null!, null!];
  private rhs!: GPUBuffer;
  private r!: GPUBuffer;
  private p!: GPUBuffer;
  private state!: GPUBuffer;
  private stateStaging!: GPUBuffer;
  private stateBytes = 0;
  private eStaging!: GPUBuffer;
  private readonly stateHost = new ArrayBuffer(STATE_READ_BYTES);

  private constructor(
    private readonly rt: GpuRuntime,
    private readonly n: number,
    private readonly family: Family,
    private readonly checkEvery: number,
    /** CG in double-f32 with reliable updating: vectors are (hi, lo) pairs and rounds continue one Krylov run. */
    readonly df: boolean,
  ) {}

  /** `df`: CG in double-f32 (dfFits said the operands fit). */
  static async create(rt: GpuRuntime, lease: Lease, pins: Pins, args: RelaxArgs, df: boolean): Promise<DeviceSolve> {
    const A = args.A;
    const n = operatorRows(A);
    const family = familyOf(args.method);
    const d = new DeviceSolve(rt, n, family, args.checkEvery, df && family === 'cg');
    const wg = rt.workgroupSize;
    const perDim = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
    const spread = (count: number): [number, number] => [Math.max(1, Math.min(Math.ceil(count / wg), perDim)), 1];
    const partialGroups = Math.max(1, Math.min(Math.ceil(n / wg), MAX_PARTIALS));
    const bytes = n * 4;
    // Double-f32 vectors and partials are (hi, lo) pairs.
    const w = d.df ? 2 : 1;

    const vec = () => lease.acquire(w * bytes, STORAGE_OUT);
    // Stationary sweeps read the scaled residual from `rhs`; CG starts its r from it instead.
    if (family === 'stationary') d.rhs = lease.acquire(bytes, STORAGE_IN);
    // Jacobi ping-pongs two iterates; the in-place methods use one under both parities.
    const e0 = vec();
    d.iterate = [e0, args.method === 'jacobi' ? vec() : e0];
    const partials = lease.acquire(w * partialGroups * 4, STORAGE_OUT);
    const stateBytes = d.df ? DF_STATE.bytes : SOLVER_STATE.bytes;
    d.stateBytes = stateBytes;
    d.state = lease.acquire(stateBytes, STORAGE_OUT);
    d.stateStaging = lease.acquire(stateBytes, STAGING);
    d.eStaging = lease.acquire(w * bytes, STAGING);
    const uniform = (data: ArrayBuffer) => {
      const b = lease.acquire(data.byteLength, UNIFORM);
      rt.device.queue.writeBuffer(b, 0, data);
      return b;
    };
    const words = (struct: { words: number }) => {
      const buf = new ArrayBuffer(align16(4 * struct.words));
      return { buf, u: new Uint32Array(buf), f: new Float32Array(buf) };
    };
    const scalarWords = words(SCALAR_PARAMS);
    scalarWords.u[SCALAR_PARAMS.at.groups] = partialGroups;
    const scalarParams = uniform(scalarWords.buf);
    const sizeWords = words(VEC_PARAMS);
    sizeWords.u[VEC_PARAMS.at.n] = n;
    const sizeParams = uniform(sizeWords.buf);
    if (d.df) {
      new Uint32Array(d.dfWords).set([n, partialGroups]);
      new Float32Array(d.dfWords)[DF_PARAMS.at.one] = 1;
      d.dfParams = uniform(d.dfWords);
    }
    const scalars = async (entry: string): Promise<Step> => {
      const pipeline = await relaxPipeline(rt, 'relax/scalars.wgsl', entry);
      return { pipeline, group: bindGroup(rt, pipeline, [[0, scalarParams], [1, partials, partialGroups * 4], [2, d.state, stateBytes]]), workgroups: [1, 1] };
    };

    // The operator's dispatches: sweepFor (one stationary sweep), residualOf (the check's partials)
    // and applyOf (CG's q = A p), for a stencil or a CSR matrix.
    let sweepFor: (parity: 0 | 1) => Promise<Step[]>;
    let residualOf: (v: GPUBuffer) => Promise<Step>;
    let applyOf: (src: GPUBuffer, dst: GPUBuffer) => Promise<Step>;

    // Double-f32 CG's q = A p, on the CSR matrix or a stencil's CSR twin, values as (hi, lo) pairs.
    const dfApplyOf = async (src: GPUBuffer, dst: GPUBuffer): Promise<Step> => {
      const [rowPtr, colIdx, pairs] = dfOperands(pins, A);
      const pipeline = await relaxPipeline(rt, 'relax/df_spmv_csr.wgsl');
      // Whole buffers: a stencil twin's nnz is known only once it is built, which a cache hit skips.
      return {
        pipeline,
        group: bindGroup(rt, pipeline, [[0, d.dfParams!], [1, rowPtr], [2, colIdx], [3, pairs], [4, src, 2 * bytes], [5, dst, 2 * bytes]]),
        workgroups: spread(n),
      };
    };

    if (isStencil(A)) {
      const [nx, ny, nz = 1] = A.shape as number[];
      const c = A.coeffs;
      const entry = c.kind === 'constant' ? 'constant' : 'variable';
      const coefs = c.kind === 'variable' && !d.df ? pins.get(c, 'stencil coefficients', 'A.coeffs', [c.diag, ...c.offdiag], () => stencilCoefs(A)) : null;
      const coefBytes = c.kind === 'variable' ? (1 + c.offdiag.length) * n * 4 : 0;
      const half = Math.ceil(nx! / 2);
      const at = STENCIL_PARAMS.at;
      const params = (colour: number) => {
        const { buf, u, f } = words(STENCIL_PARAMS);
        u[at.nx] = nx!;
        u[at.ny] = ny!;
        u[at.nz] = nz;
        u[at.n] = n;
        u[at.colour] = colour;
        u[at.half] = half;
        u[at.slots] = half * ny! * nz;
        f[at.omega] = args.omega;
        if (c.kind === 'constant') {
          f[at.diag] = c.diag;
          // −x, +x, −y, +y (, −z, +z): the layout keeps them contiguous in this order.
          f.set(c.offdiag, at.offXm);
        }
        return uniform(buf);
      };
      const base = params(0);
      const colourParams = [base, params(1)];
      const common = (ub: GPUBuffer, v: GPUBuffer, withRhs: boolean): Bind[] => [
        [0, ub],
        ...(coefs ? [[1, coefs, coefBytes] as const] : []),
        ...(withRhs ? [[2, d.rhs, bytes] as const] : []),
        [3, v, bytes],
      ];
      sweepFor = async (parity) => {
        if (args.method === 'jacobi') {
          const pipeline = await relaxPipeline(rt, 'relax/stencil_jacobi.wgsl', entry);
          const [src, dst] = parity === 0 ? d.iterate : [d.iterate[1], d.iterate[0]];
          return [{ pipeline, group: bindGroup(rt, pipeline, [...common(base, src, true), [4, dst, bytes]]), workgroups: spread(n) }];
        }
        const pipeline = await relaxPipeline(rt, 'relax/stencil_sor_colour.wgsl', entry);
        return colourParams.map((ub) => ({
          pipeline, group: bindGroup(rt, pipeline, common(ub, d.iterate[0], true)), workgroups: spread(half * ny! * nz),
        }));
      };
      residualOf = async (v) => {
        const pipeline = await relaxPipeline(rt, 'relax/stencil_residual.wgsl', entry);
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, v, true), [4, partials, partialGroups * 4]]), workgroups: [partialGroups, 1] };
      };
      applyOf = async (src, dst) => {
        const pipeline = await relaxPipeline(rt, 'relax/stencil_apply.wgsl', entry);
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, src, false), [4, dst, bytes]]), workgroups: spread(n) };
      };
    } else {
      const nnz = A.colIdx.length;
      const rowPtr = pins.get(A.rowPtr, 'rowPtr', 'A.rowPtr', [A.rowPtr], () => A.rowPtr);
      const colIdx = pins.get(A.colIdx, 'colIdx', 'A.colIdx', [A.colIdx], () => A.colIdx);
      // Uploaded only by the kernels that read them: double-f32 CG reads (hi, lo) pairs instead.
      let values32: GPUBuffer | null = null;
      const values = () => (values32 ??= pins.get(A.values, 'values', 'A.values', [A.values], () => (A.values instanceof Float32Array ? A.values : Float32Array.from(A.values))));
      const at = CSR_PARAMS.at;
      const csr = (count: number, first: number) => {
        const { buf, u, f } = words(CSR_PARAMS);
        u[at.n] = n;
        u[at.count] = count;
        u[at.first] = first;
        f[at.omega] = args.omega;
        return uniform(buf);
      };
      const base = csr(n, 0);
      const common = (ub: GPUBuffer, v: GPUBuffer): Bind[] => [
        [0, ub], [1, rowPtr, (n + 1) * 4], [2, colIdx, nnz * 4], [3, values(), nnz * 4], [4, d.rhs, bytes], [5, v, bytes],
      ];
      sweepFor = async (parity) => {
        if (args.method === 'jacobi') {
          const pipeline = await relaxPipeline(rt, 'relax/csr_jacobi.wgsl');
          const [src, dst] = parity === 0 ? d.iterate : [d.iterate[1], d.iterate[0]];
          return [{ pipeline, group: bindGroup(rt, pipeline, [...common(base, src), [6, dst, bytes]]), workgroups: spread(n) }];
        }
        const colouring = multicolorOrdering(A);
        // Keyed by colIdx and checked against the contents of both: the colouring depends on both.
        const order = pins.get(A.colIdx, 'colour order', 'A', [A.rowPtr, A.colIdx], () => colouring.order);
        const pipeline = await relaxPipeline(rt, 'relax/csr_sor_colour.wgsl');
        const steps: Step[] = [];
        for (let k = 0; k < colouring.colors; k++) {
          const first = colouring.offsets[k]!;
          const count = colouring.offsets[k + 1]! - first;
          if (count === 0) continue;
          steps.push({ pipeline, group: bindGroup(rt, pipeline, [...common(csr(count, first), d.iterate[0]), [6, order, bytes]]), workgroups: spread(count) });
        }
        return steps;
      };
      residualOf = async (v) => {
        const pipeline = await relaxPipeline(rt, 'relax/csr_residual.wgsl');
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, v), [6, partials, partialGroups * 4]]), workgroups: [partialGroups, 1] };
      };
      applyOf = async (src, dst) => {
        // The core spmv kernel: one invocation per row, folded past the per-dimension limit.
        // Its Params are (nrows, nzBase): the whole matrix is one block, nzBase = 0.
        const pipeline = await rt.pipeline('core/spmv_csr.wgsl');
        return {
          pipeline,
          group: bindGroup(rt, pipeline, [[0, sizeParams], [1, rowPtr, (n + 1) * 4], [2, colIdx, nnz * 4], [3, values(), nnz * 4], [4, src, bytes], [5, dst, bytes]]),
          workgroups: foldWorkgroups(Math.ceil(n / wg), perDim),
        };
      };
    }

    if (family === 'stationary') {
      const jacobi = args.method === 'jacobi';
      const sweep0 = await sweepFor(0);
      d.steps.sweep = [sweep0, jacobi ? await sweepFor(1) : sweep0];
      const norm = await scalars('norm');
      const check0 = [await residualOf(d.iterate[0]), norm];
      d.steps.check = [check0, jacobi ? [await residualOf(d.iterate[1]), norm] : check0];
    } else {
      d.r = vec();
      d.p = vec();
      const q = vec();
      const e = d.iterate[0];
      // The same step in double-f32 or (operands too large for it) in f32: the kernels differ, not the sequence.
      const vb = w * bytes;
      const pb = w * partialGroups * 4;
      const vecParams = d.df ? d.dfParams! : sizeParams;
      const dotPipeline = d.df ? await relaxPipeline(rt, 'relax/df_dot_partial.wgsl') : await rt.pipeline('core/dot_partial.wgsl');
      const dot = (x: GPUBuffer, y: GPUBuffer): Step => ({
        pipeline: dotPipeline,
        group: bindGroup(rt, dotPipeline, [[0, vecParams], [1, x, vb], [2, y, vb], [3, partials, pb]]),
        workgroups: [partialGroups, 1],
      });
      const cgScalars = async (entry: string): Promise<Step> => {
        if (!d.df) return scalars(entry);
        const pipeline = await relaxPipeline(rt, 'relax/df_cg_scalars.wgsl', entry);
        return { pipeline, group: bindGroup(rt, pipeline, [[0, d.dfParams!], [1, partials, pb], [2, d.state, stateBytes]]), workgroups: [1, 1] };
      };
      const xr = await relaxPipeline(rt, d.df ? 'relax/df_cg_update_xr.wgsl' : 'relax/cg_update_xr.wgsl');
      const pu = await relaxPipeline(rt, d.df ? 'relax/df_cg_update_p.wgsl' : 'relax/cg_update_p.wgsl');
      d.steps.start = [dot(d.r, d.r), await cgScalars('cg_start')];
      d.steps.cg = [
        d.df ? await dfApplyOf(d.p, q) : await applyOf(d.p, q),
        dot(d.p, q),
        await cgScalars('cg_alpha'),
        {
          pipeline: xr,
          group: bindGroup(rt, xr, [[0, vecParams], [1, d.state, stateBytes], [2, d.p, vb], [3, q, vb], [4, e, vb], [5, d.r, vb], [6, partials, pb]]),
          workgroups: [partialGroups, 1],
        },
        await cgScalars('cg_beta'),
        { pipeline: pu, group: bindGroup(rt, pu, [[0, vecParams], [1, d.state, stateBytes], [2, d.r, vb], [3, d.p, vb]]), workgroups: spread(n) },
      ];
      if (d.df) {
        const pipeline = await relaxPipeline(rt, 'relax/df_scale.wgsl');
        d.steps.rescale = [{ pipeline, group: bindGroup(rt, pipeline, [[0, d.dfParams!], [1, d.p, vb]]), workgroups: spread(n) }];
      }
    }
    return d;
  }

  /**
   * One round: solve A e ≈ rhs (‖rhs‖ = 1) from e = 0 on the device, testing at the oracle's check
   * points, and read e back into `e`. Returns the updates made and why the round ended. `scale` is
   * the round's ‖r‖ (rhs = r/scale).
   *
   * Double-f32 CG (df): rhs and e are (hi, lo) pairs, and after the first round the device keeps
   * its direction p, rescaled to this round's units, so the round continues the previous round's
   * Krylov run with the recurrence residual replaced by the true one (reliable updating, refine.ts).
   */
  async round(plan: RoundPlan, rhs: Float32Array, e: Float32Array, ctl: KernelControl, progress: Progress, scale: number): Promise<{ updates: number; end: RoundEnd }> {
    const { rt, n } = this;
    const q = rt.device.queue;
    const cg = this.family === 'cg';
    const vb = (this.df ? 2 : 1) * n * 4;
    let enc = rt.device.createCommandEncoder();
    if (cg) {
      rt.write(this.r, rhs, 'rhs');
      const continuing = this.df && this.lastScale > 0;
      if (continuing) {
        // p *= (previous scale)/(this scale), as a (hi, lo) pair.
        const factor = this.lastScale / scale;
        const f = new Float32Array(this.dfWords);
        f[DF_PARAMS.at.factorHi] = factor;
        f[DF_PARAMS.at.factorLo] = factor - f[DF_PARAMS.at.factorHi]!;
        rt.write(this.dfParams!, f, 'scale');
      } else {
        enc.copyBufferToBuffer(this.r, 0, this.p, 0, vb);
      }
      if (this.df) this.lastScale = scale;
      enc.clearBuffer(this.iterate[0], 0, align16(vb));
      const pass = enc.beginComputePass();
      if (continuing) encode(pass, this.steps.rescale);
      encode(pass, this.steps.start);
      pass.end();
    } else {
      rt.write(this.rhs, rhs, 'rhs');
      enc.clearBuffer(this.iterate[0], 0, align16(n * 4));
    }
    const stall = stallUpdates(this.checkEvery);
    let k = 0;
    let best = Infinity;
    let kBest = 0;
    let end: RoundEnd = 'budget';
    let inFlight: Promise<unknown> | null = null;
    for (;;) {
      // Updates up to the next check point: a multiple of checkEvery counted from the solve's start, or the budget's end.
      const toCheck = Math.min(plan.budget, k + this.checkEvery - ((plan.phase + k) % this.checkEvery));
      while (k < toCheck) {
        const chunk = Math.min(SUBMIT_UPDATES, toCheck - k);
        const pass = enc.beginComputePass();
        for (let u = 0; u < chunk; u++) encode(pass, cg ? this.steps.cg : this.steps.sweep[(k + u) % 2 as 0 | 1]);
        k += chunk;
        if (k === toCheck && !cg) encode(pass, this.steps.check[k % 2 as 0 | 1]);
        pass.end();
        if (k === toCheck) enc.copyBufferToBuffer(this.state, 0, this.stateStaging, 0, this.stateBytes);
        rt.submit(enc, ctl.signal);
        enc = rt.device.createCommandEncoder();
        if (k < toCheck) {
          // At most two command buffers in flight: the abort check before each submit stays meaningful.
          if (inFlight) await inFlight;
          // A failure here resurfaces at the next map, which the guard classifies.
          inFlight = Promise.race([q.onSubmittedWorkDone(), rt.device.lost]).catch(() => undefined);
        }
      }
      inFlight = null;
      await readInto(this.stateStaging, new Uint8Array(this.stateHost));
      const f = new Float32Array(this.stateHost);
      const u = new Uint32Array(this.stateHost);
      // Double-f32 CG's r·r is a (hi, lo) pair, added in f64.
      const norm2 = this.df ? f[DF_STATE.at.rrHi]! + f[DF_STATE.at.rrLo]! : f[SOLVER_STATE.at.norm2]!;
      const at = this.df ? DF_STATE.at : SOLVER_STATE.at;
      if (cg && u[at.flag] !== 0) {
        // Breakdown: the device stopped counting at the step that failed.
        k = u[at.k]!;
        end = 'breakdown';
        break;
      }
      progress.tick(plan.phase + k, Math.sqrt(norm2) * scale);
      if (norm2 <= plan.eta2) {
        end = 'tolerance';
        break;
      }
      if (!(norm2 <= plan.div2)) {
        end = 'diverged';
        break;
      }
      if (norm2 < best) {
        best = norm2;
        kBest = k;
      } else if (k - kBest >= stall) {
        end = 'stalled';
        break;
      }
      if (k >= plan.budget) {
        end = plan.last ? 'budget' : 'paused';
        break;
      }
    }
    const current = this.iterate[k % 2]!;
    enc.copyBufferToBuffer(current, 0, this.eStaging, 0, vb);
    rt.submit(enc, ctl.signal);
    await readInto(this.eStaging, e);
    return { updates: k, end };
  }
}

/**
 * Double-f32 CG's matrix on the device: rowPtr, colIdx and (hi, lo) values of a CSR matrix, or of
 * a stencil's CSR twin (built only on a cache miss). A twin is keyed by the coefficient object and
 * checked against the variable coefficients' contents; a constant stencil's shape and values are
 * part of the tag, so editing them in place misses too.
 */
function dfOperands(pins: Pins, A: LinearOperator): [GPUBuffer, GPUBuffer, GPUBuffer] {
  if (!isStencil(A)) {
    return [
      pins.get(A.rowPtr, 'rowPtr', 'A.rowPtr', [A.rowPtr], () => A.rowPtr),
      pins.get(A.colIdx, 'colIdx', 'A.colIdx', [A.colIdx], () => A.colIdx),
      pins.get(A.values, 'values df32', 'A.values', [A.values], () => splitPairs(A.values)),
    ];
  }
  const c = A.coeffs;
  const sources = c.kind === 'variable' ? [c.diag, ...c.offdiag] : [];
  const tag = `csr twin ${A.shape.join('x')}${c.kind === 'constant' ? ` ${c.diag} ${c.offdiag.join(' ')}` : ''}`;
  let twin: CsrMatrix | null = null;
  const csr = () => (twin ??= stencilToCsr(A));
  return [
    pins.get(c, `${tag} rowPtr`, 'A.coeffs', sources, () => csr().rowPtr),
    pins.get(c, `${tag} colIdx`, 'A.coeffs', sources, () => csr().colIdx),
    pins.get(c, `${tag} values df32`, 'A.coeffs', sources, () => splitPairs(csr().values)),
  ];
}

export async function webgpuRelaxSolve(rt: GpuRuntime, args: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  // CG runs in double-f32 with reliable updating when its operands fit (DeviceSolve.df; refine.ts).
  const reliable = familyOf(args.method) === 'cg' && dfFits(rt, args.A);
  const refiner = new Refiner(hostResidual(args.A), args.A, args.b, args.x, args, '', reliable ? ETA_MIN.reliable : undefined);
  if (refiner.running) {
    await rt.guard('relaxSolve', ctl.signal, async (lease) => {
      const pins = Pins.of(rt, args.prepared);
      try {
        const device = await DeviceSolve.create(rt, lease, pins, args, reliable);
        // Double-f32 CG exchanges (hi, lo) pairs.
        const rhs = new Float32Array((device.df ? 2 : 1) * refiner.n);
        const e = new Float32Array(rhs.length);
        const progress = new Progress(ctl);
        while (refiner.running) {
          throwIfAborted(ctl.signal);
          const plan = refiner.plan(rhs);
          const { updates, end } = await device.round(plan, rhs, e, ctl, progress, refiner.nrm);
          refiner.apply(e, updates, end);
          progress.tick(refiner.iterations, refiner.nrm, true);
        }
      } finally {
        pins.end();
      }
    });
  }
  return refiner.finish(args.x);
}
