/**
 * relaxSolve on the WebGPU backend, for f32 and f64 operands, by mixed-precision iterative
 * refinement (DESIGN.md, "f64 on a GPU"): the outer loop runs on the host in f64, the inner work on
 * the device in f32.
 *
 * A solve is a sequence of rounds. Each round starts from the f64 residual r = b − A x (computed
 * exactly as the oracle src/backends/js/relax.ts computes it: CSR row sums in ascending column
 * order, the 4096-blocked norm), hands the device the scaled residual r/‖r‖ in f32 (scaling keeps
 * any residual, however small, inside f32 range), lets the device solve A e ≈ r/‖r‖ from e = 0,
 * reads e back once, and sets x ← x + ‖r‖·e in f64. The f64 residual is what lets an f32 device
 * reach tolerances below f32's reach; for f32 operands the same loop runs and x is rounded to f32
 * only when it is written back.
 *
 * Semantics (the contract is the oracle's; where a GPU cannot match it exactly this says how):
 *  - Methods: 'jacobi', 'sor-redblack' and 'cg'. Natural-ordering sweeps ('sor', 'gauss-seidel',
 *    'ssor', and the SSOR preconditioner of 'ssor-cg') are sequential; accepts() refuses them and
 *    the dispatcher moves on to a CPU backend.
 *  - Convergence is decided only by the f64 true residual at the end of a round, against the
 *    oracle's target (tol·‖r_0‖ or tol). A round ends only at one of the oracle's check points
 *    (after every checkEvery-th update counted from the start of the solve, and after the last
 *    update maxIter allows), so the Algorithm-1 count keeps its meaning: the reported iterations are
 *    the device updates (sweeps or CG steps) summed over all rounds, up to the check that passed.
 *  - Inside a round the device tests its own f32 residual at those same check points and ends the
 *    round when it reaches η = max(target/‖r‖, η_min), when it passes the divergence limit, when
 *    it has stalled (no new smallest residual for max(2·checkEvery, 100) updates: f32 can do no
 *    better), or when maxIter is reached.
 *  - Stationary methods are affine, so x + e_k equals k sweeps applied to x itself: a new round
 *    continues the same iteration, re-anchored in f64, and the count tracks the oracle's up to f32
 *    rounding of the iterates. η_min = 1e-3 keeps each round well above the f32 floor (≈ κ·u₃₂).
 *    CG restarts at every round (the Krylov space is lost), so it takes somewhat more steps than
 *    the oracle; η_min = 1e-4 lets a round go as deep as the f32 recurrence residual (which the
 *    inner test uses, as the oracle's krylov() does) still tracks the true one.
 *  - Divergence: the oracle's rule, ‖r‖ > 1e8·‖r_0‖ or not finite, applied to the f64 residual at a
 *    round's end; a CG breakdown (pᵀAp ≤ 0) is divergence at once. x is then the last iterate whose
 *    f64 residual is finite (the round's start when the correction overflowed).
 *  - residualNorm is ‖b − A x‖₂ in f64 of the x handed back: for f32 operands, of the rounded x.
 *  - The device loop needs no host round trip between checks: checkEvery updates are encoded in
 *    batches of command buffers, the check is a device reduction plus a 24-byte readback, and x
 *    (here e) is read back only when a round ends. The abort signal is checked before every submit.
 *  - The caller's x changes only when the solve returns, so after a device loss the dispatcher
 *    reruns the solve elsewhere from the original x0.
 *  - Operands travel to the device once: uploads are cached per typed array (CSR rowPtr, colIdx,
 *    values, the multicolour order) and per coefficient object (variable stencils), so a sequence
 *    of solves on one A, or on shifts A + cI sharing its structure, uploads only what changed.
 *    The cache keys on identity, like the oracle's stencil and colouring caches: an array changed
 *    in place after a solve is not uploaded again.
 *  - Every operand must fit one storage binding (maxStorageBufferBindingSize, 128 MiB on lavapipe)
 *    and be representable in f32; accepts() refuses otherwise, before anything runs.
 */
import type { KernelControl } from '../../core/backend.js';
import { multicolorOrdering } from '../../core/coloring.js';
import { throwIfAborted } from '../../core/errors.js';
import { DIVERGENCE_FACTOR, type RelaxArgs, type RelaxMethod, type RelaxOutcome, type RelaxSettings } from '../../core/ops.js';
import { stencilSize } from '../../core/stencil.js';
import { isStencil, type FloatArray, type LinearOperator, type StencilOperator } from '../../core/types.js';
import { operatorRows, residual } from '../../core/operator.js';
import { align16, STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from './buffers.js';
import { foldWorkgroups, type GpuRuntime, type Lease } from './dispatch.js';
import { readInto } from './readback.js';

/** The methods with a parallel form on the device. */
export const GPU_METHODS: readonly RelaxMethod[] = ['jacobi', 'sor-redblack', 'cg'];
export const SEQUENTIAL_REASON = 'natural-ordering sweeps are sequential; webgpu runs sor-redblack, jacobi and cg';

/** Smallest inner reduction a round aims for (see the header): stationary rounds stop well above the f32 floor, CG ones as deep as f32 tracks. */
export const ETA_MIN: Readonly<Record<'stationary' | 'cg', number>> = { stationary: 1e-3, cg: 1e-4 };
/** A round has stalled after this many updates (at least) without a new smallest inner residual. */
export const STALL_MIN_UPDATES = 100;
/** Updates encoded per command buffer between checks: keeps an abort and a device loss prompt. */
const SUBMIT_UPDATES = 64;
/** Workgroups of a reduction's first pass; one workgroup adds their partials on the device. */
const MAX_PARTIALS = 1024;
/** Bytes of uploaded operands kept on the device between solves (least recently used go first). */
const UPLOAD_CACHE_BYTES = 256 * 2 ** 20;
/** Throttle for onProgress inside a round, as the oracle's Pacer. */
const PROGRESS_MS = 20;
const F32_MAX = 3.4028234663852886e38;

export type Family = 'stationary' | 'cg';

export function familyOf(method: RelaxMethod): Family {
  return method === 'cg' ? 'cg' : 'stationary';
}

export function stallUpdates(checkEvery: number): number {
  return Math.max(2 * checkEvery, STALL_MIN_UPDATES);
}

// ---------------------------------------------------------------------------------------------
// Host side: the f64 residual in the oracle's order, and the refinement loop's bookkeeping

/** b − A x into r in f64, returning ‖r‖₂ (blocked sum), operation for operation as the oracle. */
export type Residual = (b: FloatArray, x: Float64Array, r: Float64Array) => number;

export function hostResidual(A: LinearOperator): Residual {
  return (b, x, r) => residual(A, b, x, r);
}

/** Why a device round ended; the batch kernels report the same reasons as numbers (batch_common.wgsl). */
export type RoundEnd = 'tolerance' | 'diverged' | 'stalled' | 'budget' | 'paused' | 'breakdown';

/** What the device needs for one round besides the scaled residual. */
export interface RoundPlan {
  /** Squared inner tolerance, relative to the scaled residual (norm 1). */
  readonly eta2: number;
  /** Squared inner divergence limit: 1e8·‖r_0‖ in units of this round's ‖r‖. */
  readonly div2: number;
  /** Updates this round may make. */
  readonly budget: number;
  /** Updates made before this round (check points are counted from the start of the solve). */
  readonly phase: number;
  /** Whether the budget ends at maxIter, whose last update is followed by a test. */
  readonly last: boolean;
}

/** The outer, f64 half of a solve: residuals, targets, the x update and the oracle's tests. */
export class Refiner {
  readonly n: number;
  readonly nrm0: number;
  readonly target: number;
  /** ‖b − A x‖ of the current x. */
  nrm: number;
  iterations = 0;
  state: 'running' | 'converged' | 'diverged' | 'stopped';
  private x: Float64Array;
  private r: Float64Array;
  private xTry: Float64Array;
  private rTry: Float64Array;
  private readonly etaMin: number;

  constructor(
    private readonly residual: Residual,
    private readonly b: FloatArray,
    x0: FloatArray,
    private readonly s: RelaxSettings,
  ) {
    this.n = b.length;
    this.x = Float64Array.from(x0);
    this.r = new Float64Array(this.n);
    this.xTry = new Float64Array(this.n);
    this.rTry = new Float64Array(this.n);
    this.etaMin = ETA_MIN[familyOf(s.method)];
    this.nrm0 = residual(b, this.x, this.r);
    this.nrm = this.nrm0;
    this.target = s.criterion === 'relative' ? s.tol * this.nrm0 : s.tol;
    // Algorithm 1: the test before the first update.
    this.state = this.nrm0 <= this.target ? 'converged' : s.maxIter === 0 ? 'stopped' : 'running';
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Writes r/‖r‖ into `rhs` (f32) and returns the round's plan; `cap` bounds the round's updates. */
  plan(rhs: Float32Array, cap = Infinity): RoundPlan {
    const scale = this.nrm;
    for (let i = 0; i < this.n; i++) rhs[i] = this.r[i]! / scale;
    const remaining = this.s.maxIter - this.iterations;
    const budget = Math.min(remaining, cap);
    const eta = Math.max(this.target / scale, this.etaMin);
    const div = (DIVERGENCE_FACTOR * this.nrm0) / scale;
    return { eta2: Math.min(eta * eta, F32_MAX), div2: Math.min(div * div, F32_MAX), budget, phase: this.iterations, last: budget === remaining };
  }

  /** Applies a round's correction e (scaled by the round's ‖r‖) after `updates` device updates. */
  apply(e: Float32Array, updates: number, end: RoundEnd): void {
    this.iterations += updates;
    const scale = this.nrm;
    let finite = true;
    for (let i = 0; i < this.n; i++) {
      const v = this.x[i]! + scale * e[i]!;
      this.xTry[i] = v;
      if (!Number.isFinite(v)) finite = false;
    }
    const nrmTry = finite ? this.residual(this.b, this.xTry, this.rTry) : Number.NaN;
    if (!Number.isFinite(nrmTry)) {
      // Overflowed: keep the last finite iterate and its residual.
      this.state = 'diverged';
      return;
    }
    [this.x, this.xTry] = [this.xTry, this.x];
    [this.r, this.rTry] = [this.rTry, this.r];
    this.nrm = nrmTry;
    if (end === 'breakdown') {
      this.state = 'diverged';
      return;
    }
    // A round paused between check points makes no test (Algorithm 1 counts tests at check points only).
    if (end === 'paused') return;
    if (this.nrm <= this.target) this.state = 'converged';
    else if (!(this.nrm <= DIVERGENCE_FACTOR * this.nrm0)) this.state = 'diverged';
    else if (this.iterations >= this.s.maxIter) this.state = 'stopped';
  }

  /** Writes x into the caller's array (rounding to its dtype) and returns the outcome. */
  finish(out: FloatArray): RelaxOutcome {
    out.set(this.x);
    let residualNorm = this.nrm;
    if (!(out instanceof Float64Array)) {
      // The residual of the x handed back, not of its f64 original.
      for (let i = 0; i < this.n; i++) this.xTry[i] = out[i]!;
      residualNorm = this.residual(this.b, this.xTry, this.rTry);
    }
    return {
      iterations: this.iterations,
      residualNorm,
      initialResidualNorm: this.nrm0,
      converged: this.state === 'converged',
      diverged: this.state === 'diverged',
    };
  }
}

/** onProgress at most every PROGRESS_MS inside rounds (always at a round's end). */
export class Progress {
  private last = performance.now();
  constructor(private readonly ctl: KernelControl) {}

  tick(iteration: number, residualNorm: number, force = false): void {
    if (!this.ctl.onProgress) return;
    const now = performance.now();
    if (!force && now - this.last < PROGRESS_MS) return;
    this.last = now;
    this.ctl.onProgress({ iteration, residualNorm });
  }
}

// ---------------------------------------------------------------------------------------------
// What the device can take: binding limits and f32 range

/** Why `A` cannot be handed to an f32 device, or null. Cached per operand array. */
const f32Verdicts = new WeakMap<object, string | null>();

export function f32Trouble(A: LinearOperator, name = 'A'): string | null {
  if (isStencil(A)) {
    const c = A.coeffs;
    if (c.kind === 'constant') {
      if (Math.fround(c.diag) === 0 || !Number.isFinite(Math.fround(c.diag))) return `${name}: diagonal ${c.diag} is not representable in f32`;
      const bad = c.offdiag.findIndex((v) => !Number.isFinite(Math.fround(v)));
      return bad < 0 ? null : `${name}: coupling ${c.offdiag[bad]} is beyond f32 range`;
    }
    return cachedVerdict(c, () => {
      for (let p = 0; p < c.diag.length; p++) {
        const d = Math.fround(c.diag[p]!);
        if (d === 0 || !Number.isFinite(d)) return `${name}: diagonal entry ${p} (${c.diag[p]}) is not representable in f32`;
      }
      for (const a of c.offdiag) {
        for (let p = 0; p < a.length; p++) if (!Number.isFinite(Math.fround(a[p]!))) return `${name}: coupling ${a[p]} at node ${p} is beyond f32 range`;
      }
      return null;
    });
  }
  // f32 values are representable by construction (the façade guarantees finite, positive diagonals).
  if (A.values instanceof Float32Array) return null;
  const values = A.values;
  return cachedVerdict(values, () => {
    for (let i = 0; i < A.nrows; i++) {
      for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) {
        const v = Math.fround(values[p]!);
        if (!Number.isFinite(v)) return `${name}: entry (${i}, ${A.colIdx[p]}) = ${values[p]} is beyond f32 range`;
        if (v === 0 && A.colIdx[p] === i) return `${name}: diagonal entry ${i} (${values[p]}) rounds to 0 in f32`;
      }
    }
    return null;
  });
}

function cachedVerdict(key: object, scan: () => string | null): string | null {
  if (f32Verdicts.has(key)) return f32Verdicts.get(key)!;
  const v = scan();
  f32Verdicts.set(key, v);
  return v;
}

/** Why one system's operands exceed a binding, or null. */
export function bindingTrouble(rt: GpuRuntime, A: LinearOperator, name = 'A'): string | null {
  const limit = rt.bindingBytes;
  const n = operatorRows(A);
  const over = (what: string, count: number) =>
    count * 4 > limit ? `${what}: ${count} 32-bit words (${count * 4} bytes) exceed the webgpu binding limit of ${limit} bytes` : null;
  if (isStencil(A)) {
    return over(`${name} vectors`, n) ?? (A.coeffs.kind === 'variable' ? over(`${name}.coeffs`, (1 + 2 * A.shape.length) * n) : null);
  }
  return over(`${name} vectors`, n) ?? over(`${name}.rowPtr`, n + 1) ?? over(`${name}.colIdx`, A.colIdx.length);
}

export function relaxAccepts(rt: GpuRuntime, args: RelaxArgs): string | null {
  if (!GPU_METHODS.includes(args.method)) return `method '${args.method}': ${SEQUENTIAL_REASON}`;
  return bindingTrouble(rt, args.A) ?? f32Trouble(args.A);
}

// ---------------------------------------------------------------------------------------------
// Operands on the device, cached between solves

interface Upload {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** What the upload was built from besides its key (e.g. the rowPtr a colouring belongs to). */
  readonly with: object | null;
  pins: number;
  /** Evicted or replaced while pinned: destroyed when the last solve using it ends. */
  orphan: boolean;
}

/** Counters of the operand upload cache, for tests and tools. */
export interface UploadStats {
  /** Operands uploaded (cache misses). */
  readonly uploads: number;
  /** Operands found on the device already. */
  readonly hits: number;
  /** Bytes held. */
  readonly bytes: number;
}

/**
 * Uploaded operands per runtime, keyed by the array (or coefficient object) they were made from and
 * a tag. The WeakMap forgets entries whose key is collected; the LRU set bounds the device memory
 * they hold and is where buffers are destroyed. Entries in use by a running solve are pinned.
 */
class UploadCache {
  private readonly entries = new WeakMap<object, Map<string, Upload>>();
  private readonly lru = new Set<Upload>();
  private bytes = 0;
  private uploads = 0;
  private hits = 0;

  constructor(private readonly device: GPUDevice, private readonly capacity: number) {}

  /** The buffer for (key, tag), uploading make()'s data on a miss; pinned until unpin(). */
  get(key: object, tag: string, withObj: object | null, make: () => ArrayBufferView): Upload {
    let byTag = this.entries.get(key);
    const hit = byTag?.get(tag);
    if (hit && hit.with === withObj && !hit.orphan) {
      this.lru.delete(hit);
      this.lru.add(hit);
      hit.pins++;
      this.hits++;
      return hit;
    }
    if (hit) {
      byTag!.delete(tag);
      this.release(hit);
    }
    const data = make();
    const bytes = align16(Math.max(data.byteLength, 16));
    this.evict(bytes);
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE_IN, label: `numkern relax ${tag}` });
    if (data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    const up: Upload = { buffer, bytes, with: withObj, pins: 1, orphan: false };
    if (!byTag) this.entries.set(key, (byTag = new Map()));
    byTag.set(tag, up);
    this.lru.add(up);
    this.bytes += bytes;
    this.uploads++;
    return up;
  }

  unpin(up: Upload): void {
    up.pins--;
    if (up.pins === 0 && up.orphan) up.buffer.destroy();
  }

  stats(): UploadStats {
    return { uploads: this.uploads, hits: this.hits, bytes: this.bytes };
  }

  /**
   * Forgets an upload: its buffer is destroyed now, or when the solves using it end. An entry left
   * in the WeakMap is an orphan from then on, which get() treats as a miss.
   */
  private release(up: Upload): void {
    if (!this.lru.delete(up)) return;
    this.bytes -= up.bytes;
    up.orphan = true;
    if (up.pins === 0) up.buffer.destroy();
  }

  /** Least recently used first, skipping what running solves hold, until `incoming` fits. */
  private evict(incoming: number): void {
    for (const up of this.lru) {
      if (this.bytes + incoming <= this.capacity) return;
      if (up.pins === 0) this.release(up);
    }
  }
}

const uploadCaches = new WeakMap<GpuRuntime, UploadCache>();

function uploadCache(rt: GpuRuntime): UploadCache {
  let c = uploadCaches.get(rt);
  if (!c) uploadCaches.set(rt, (c = new UploadCache(rt.device, UPLOAD_CACHE_BYTES)));
  return c;
}

export function uploadStats(rt: GpuRuntime): UploadStats {
  return uploadCache(rt).stats();
}

/** Pins held by one solve; all released when it ends. */
export class Pins {
  private readonly held: Upload[] = [];
  constructor(private readonly cache: UploadCache) {}

  static of(rt: GpuRuntime): Pins {
    return new Pins(uploadCache(rt));
  }

  get(key: object, tag: string, withObj: object | null, make: () => ArrayBufferView): GPUBuffer {
    const up = this.cache.get(key, tag, withObj, make);
    this.held.push(up);
    return up.buffer;
  }

  end(): void {
    for (const up of this.held) this.cache.unpin(up);
    this.held.length = 0;
  }
}

/** Stencil coefficients for the device, direction-major: [diag | −x | +x | −y | +y (| −z | +z)]. */
export function stencilCoefs(S: StencilOperator): Float32Array {
  const c = S.coeffs;
  const n = stencilSize(S);
  if (c.kind !== 'variable') throw new Error('stencilCoefs: constant coefficients travel as uniforms');
  const out = new Float32Array((1 + c.offdiag.length) * n);
  out.set(c.diag, 0);
  c.offdiag.forEach((a, d) => out.set(a, (1 + d) * n));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The device loop of one system

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
  } = { sweep: [[], []], check: [[], []], start: [], cg: [] };
  private iterate: [GPUBuffer, GPUBuffer] = [null!, null!];
  private rhs!: GPUBuffer;
  private r!: GPUBuffer;
  private p!: GPUBuffer;
  private state!: GPUBuffer;
  private stateStaging!: GPUBuffer;
  private eStaging!: GPUBuffer;
  private readonly stateHost = new ArrayBuffer(24);

  private constructor(
    private readonly rt: GpuRuntime,
    private readonly n: number,
    private readonly family: Family,
    private readonly checkEvery: number,
  ) {}

  static async create(rt: GpuRuntime, lease: Lease, pins: Pins, args: RelaxArgs): Promise<DeviceSolve> {
    const A = args.A;
    const n = operatorRows(A);
    const family = familyOf(args.method);
    const d = new DeviceSolve(rt, n, family, args.checkEvery);
    const wg = rt.workgroupSize;
    const perDim = rt.gpu.limits.maxComputeWorkgroupsPerDimension;
    const spread = (count: number): [number, number] => [Math.max(1, Math.min(Math.ceil(count / wg), perDim)), 1];
    const partialGroups = Math.max(1, Math.min(Math.ceil(n / wg), MAX_PARTIALS));
    const bytes = n * 4;

    const vec = () => lease.acquire(bytes, STORAGE_OUT);
    // Stationary sweeps read the scaled residual from `rhs`; CG starts its r from it instead.
    if (family === 'stationary') d.rhs = lease.acquire(bytes, STORAGE_IN);
    // Jacobi ping-pongs two iterates; the in-place methods use one under both parities.
    const e0 = vec();
    d.iterate = [e0, args.method === 'jacobi' ? vec() : e0];
    const partials = lease.acquire(partialGroups * 4, STORAGE_OUT);
    d.state = lease.acquire(32, STORAGE_OUT);
    d.stateStaging = lease.acquire(32, STAGING);
    d.eStaging = lease.acquire(bytes, STAGING);
    const uniform = (data: ArrayBuffer) => {
      const b = lease.acquire(data.byteLength, UNIFORM);
      rt.device.queue.writeBuffer(b, 0, data);
      return b;
    };
    const scalarParams = uniform(new Uint32Array([partialGroups, 0, 0, 0]).buffer);
    const sizeParams = uniform(new Uint32Array([n, 0, 0, 0]).buffer);
    const scalars = async (entry: string): Promise<Step> => {
      const pipeline = await rt.pipeline('relax/scalars.wgsl', entry);
      return { pipeline, group: bindGroup(rt, pipeline, [[0, scalarParams], [1, partials, partialGroups * 4], [2, d.state, 32]]), workgroups: [1, 1] };
    };

    // The operator's dispatches: sweepFor (one stationary sweep), residualOf (the check's partials)
    // and applyOf (CG's q = A p), for a stencil or a CSR matrix.
    let sweepFor: (parity: 0 | 1) => Promise<Step[]>;
    let residualOf: (v: GPUBuffer) => Promise<Step>;
    let applyOf: (src: GPUBuffer, dst: GPUBuffer) => Promise<Step>;

    if (isStencil(A)) {
      const [nx, ny, nz = 1] = A.shape as number[];
      const c = A.coeffs;
      const entry = c.kind === 'constant' ? 'constant' : 'variable';
      const coefs = c.kind === 'variable' ? pins.get(c, 'stencil coefficients', null, () => stencilCoefs(A)) : null;
      const coefBytes = c.kind === 'variable' ? (1 + c.offdiag.length) * n * 4 : 0;
      const half = Math.ceil(nx! / 2);
      const params = (colour: number) => {
        const buf = new ArrayBuffer(80);
        const u = new Uint32Array(buf);
        const f = new Float32Array(buf);
        u.set([nx!, ny!, nz, n, colour, half, half * ny! * nz, 0]);
        f[8] = args.omega;
        if (c.kind === 'constant') {
          f[9] = c.diag;
          f.set(c.offdiag.slice(0, 4), 12);
          if (c.offdiag.length === 6) f.set(c.offdiag.slice(4, 6), 16);
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
          const pipeline = await rt.pipeline('relax/stencil_jacobi.wgsl', entry);
          const [src, dst] = parity === 0 ? d.iterate : [d.iterate[1], d.iterate[0]];
          return [{ pipeline, group: bindGroup(rt, pipeline, [...common(base, src, true), [4, dst, bytes]]), workgroups: spread(n) }];
        }
        const pipeline = await rt.pipeline('relax/stencil_sor_colour.wgsl', entry);
        return colourParams.map((ub) => ({
          pipeline, group: bindGroup(rt, pipeline, common(ub, d.iterate[0], true)), workgroups: spread(half * ny! * nz),
        }));
      };
      residualOf = async (v) => {
        const pipeline = await rt.pipeline('relax/stencil_residual.wgsl', entry);
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, v, true), [4, partials, partialGroups * 4]]), workgroups: [partialGroups, 1] };
      };
      applyOf = async (src, dst) => {
        const pipeline = await rt.pipeline('relax/stencil_apply.wgsl', entry);
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, src, false), [4, dst, bytes]]), workgroups: spread(n) };
      };
    } else {
      const nnz = A.colIdx.length;
      const rowPtr = pins.get(A.rowPtr, 'rowPtr', null, () => A.rowPtr);
      const colIdx = pins.get(A.colIdx, 'colIdx', null, () => A.colIdx);
      const values = pins.get(A.values, 'values', null, () => (A.values instanceof Float32Array ? A.values : Float32Array.from(A.values)));
      const csr = (count: number, first: number) => {
        const buf = new ArrayBuffer(32);
        new Uint32Array(buf).set([n, count, first, 0]);
        new Float32Array(buf)[4] = args.omega;
        return uniform(buf);
      };
      const base = csr(n, 0);
      const common = (ub: GPUBuffer, v: GPUBuffer): Bind[] => [
        [0, ub], [1, rowPtr, (n + 1) * 4], [2, colIdx, nnz * 4], [3, values, nnz * 4], [4, d.rhs, bytes], [5, v, bytes],
      ];
      sweepFor = async (parity) => {
        if (args.method === 'jacobi') {
          const pipeline = await rt.pipeline('relax/csr_jacobi.wgsl');
          const [src, dst] = parity === 0 ? d.iterate : [d.iterate[1], d.iterate[0]];
          return [{ pipeline, group: bindGroup(rt, pipeline, [...common(base, src), [6, dst, bytes]]), workgroups: spread(n) }];
        }
        const colouring = multicolorOrdering(A);
        // Keyed by colIdx and checked against rowPtr: the colouring depends on both.
        const order = pins.get(A.colIdx, 'colour order', A.rowPtr, () => colouring.order);
        const pipeline = await rt.pipeline('relax/csr_sor_colour.wgsl');
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
        const pipeline = await rt.pipeline('relax/csr_residual.wgsl');
        return { pipeline, group: bindGroup(rt, pipeline, [...common(base, v), [6, partials, partialGroups * 4]]), workgroups: [partialGroups, 1] };
      };
      applyOf = async (src, dst) => {
        // The core spmv kernel: one invocation per row, folded past the per-dimension limit.
        // Its Params are (nrows, nzBase): the whole matrix is one block, nzBase = 0.
        const pipeline = await rt.pipeline('core/spmv_csr.wgsl');
        return {
          pipeline,
          group: bindGroup(rt, pipeline, [[0, sizeParams], [1, rowPtr, (n + 1) * 4], [2, colIdx, nnz * 4], [3, values, nnz * 4], [4, src, bytes], [5, dst, bytes]]),
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
      const dotPipeline = await rt.pipeline('core/dot_partial.wgsl');
      const dot = (x: GPUBuffer, y: GPUBuffer): Step => ({
        pipeline: dotPipeline,
        group: bindGroup(rt, dotPipeline, [[0, sizeParams], [1, x, bytes], [2, y, bytes], [3, partials, partialGroups * 4]]),
        workgroups: [partialGroups, 1],
      });
      const xr = await rt.pipeline('relax/cg_update_xr.wgsl');
      const pu = await rt.pipeline('relax/cg_update_p.wgsl');
      d.steps.start = [dot(d.r, d.r), await scalars('cg_start')];
      d.steps.cg = [
        await applyOf(d.p, q),
        dot(d.p, q),
        await scalars('cg_alpha'),
        {
          pipeline: xr,
          group: bindGroup(rt, xr, [[0, sizeParams], [1, d.state, 32], [2, d.p, bytes], [3, q, bytes], [4, e, bytes], [5, d.r, bytes], [6, partials, partialGroups * 4]]),
          workgroups: [partialGroups, 1],
        },
        await scalars('cg_beta'),
        { pipeline: pu, group: bindGroup(rt, pu, [[0, sizeParams], [1, d.state, 32], [2, d.r, bytes], [3, d.p, bytes]]), workgroups: spread(n) },
      ];
    }
    return d;
  }

  /**
   * One round: solve A e ≈ rhs (‖rhs‖ = 1) from e = 0 on the device, testing at the oracle's check
   * points, and read e back into `e`. Returns the updates made and why the round ended.
   */
  async round(plan: RoundPlan, rhs: Float32Array, e: Float32Array, ctl: KernelControl, progress: Progress, scale: number): Promise<{ updates: number; end: RoundEnd }> {
    const { rt, n } = this;
    const q = rt.device.queue;
    const cg = this.family === 'cg';
    let enc = rt.device.createCommandEncoder();
    if (cg) {
      q.writeBuffer(this.r, 0, rhs);
      enc.copyBufferToBuffer(this.r, 0, this.p, 0, n * 4);
      enc.clearBuffer(this.iterate[0], 0, align16(n * 4));
      const pass = enc.beginComputePass();
      encode(pass, this.steps.start);
      pass.end();
    } else {
      q.writeBuffer(this.rhs, 0, rhs);
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
        if (k === toCheck) enc.copyBufferToBuffer(this.state, 0, this.stateStaging, 0, 32);
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
      const norm2 = f[0]!;
      if (cg && u[5] !== 0) {
        // Breakdown: the device stopped counting at the step that failed.
        k = u[4]!;
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
    enc.copyBufferToBuffer(current, 0, this.eStaging, 0, n * 4);
    rt.submit(enc, ctl.signal);
    await readInto(this.eStaging, e);
    return { updates: k, end };
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel

export async function webgpuRelaxSolve(rt: GpuRuntime, args: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const refiner = new Refiner(hostResidual(args.A), args.b, args.x, args);
  if (refiner.running) {
    await rt.guard('relaxSolve', ctl.signal, async (lease) => {
      const pins = Pins.of(rt);
      try {
        const device = await DeviceSolve.create(rt, lease, pins, args);
        const rhs = new Float32Array(refiner.n);
        const e = new Float32Array(refiner.n);
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
