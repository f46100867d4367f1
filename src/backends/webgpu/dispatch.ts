/**
 * What every kernel call shares: encoding a compute dispatch (folded into two dimensions past
 * maxComputeWorkgroupsPerDimension), per-call buffer leases, host-to-device writes through the one
 * checked path (upload.ts), and the guard that turns device loss into
 * NumkernError('E_DEVICE_LOST') so the engine can fall back to another backend.
 */
import { NumkernError, throwIfAborted } from '../../core/errors.js';
import { BufferPool, STORAGE_IN } from './buffers.js';
import type { GpuDevice } from './device.js';
import { PipelineView, type PipelineSpec } from './pipelines.js';
import { writeView } from './upload.js';
import type { WgslPrelude } from './wgsl-layout.js';

/**
 * Splits `count` workgroups into (x, y) with x ≤ maxPerDim. Kernels compute their linear index as
 * wid.y · nwg.x + wid.x and ignore the x·y − count surplus.
 */
export function foldWorkgroups(count: number, maxPerDim: number): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const y = Math.ceil(count / maxPerDim);
  if (y > maxPerDim) {
    throw new NumkernError('E_RANGE', `webgpu: ${count} workgroups exceed ${maxPerDim}² even in two dimensions`);
  }
  return [Math.ceil(count / y), y];
}

/** A buffer bound in full, or its first `size` bytes. */
export type Binding = GPUBuffer | { readonly buffer: GPUBuffer; readonly size: number };

/** Encodes one compute pass: pipeline, bind group 0 with `bindings` at 0, 1, 2, ..., and `workgroups` folded. */
export function encodeDispatch(
  device: GPUDevice, encoder: GPUCommandEncoder, pipeline: GPUComputePipeline,
  bindings: readonly Binding[], workgroups: number, maxPerDim: number,
): void {
  if (workgroups === 0) return;
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bindings.map((b, binding) =>
      'buffer' in b
        ? { binding, resource: { buffer: b.buffer, size: Math.max(4, b.size) } }
        : { binding, resource: { buffer: b } },
    ),
  });
  const [x, y] = foldWorkgroups(workgroups, maxPerDim);
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y);
  pass.end();
}

/** Buffers one kernel call holds; all go back to the pool when the call ends, after its last submit. */
export class Lease {
  private readonly held: GPUBuffer[] = [];

  constructor(private readonly rt: GpuRuntime) {}

  acquire(bytes: number, usage: number): GPUBuffer {
    const b = this.rt.pool.acquire(bytes, usage);
    this.held.push(b);
    return b;
  }

  /**
   * A storage buffer holding `data` (at least 16 bytes, so an empty array still binds), written
   * through writeView: `name` is the argument it came from, for the error a detached array gets.
   */
  upload(data: ArrayBufferView, name = 'input'): GPUBuffer {
    const b = this.acquire(data.byteLength, STORAGE_IN);
    this.rt.write(b, data, name);
    return b;
  }

  end(): void {
    for (const b of this.held) this.rt.pool.release(b);
    this.held.length = 0;
  }
}

export interface RuntimeConfig {
  /** Invocations per workgroup for every kernel (power of two). */
  readonly workgroupSize: number;
  /** Bytes one binding may hold: the device limit, or less when the caller asked for smaller chunks. */
  readonly bindingBytes: number;
  /** Free pooled bytes kept for reuse. */
  readonly maxPooledBytes: number;
}

/**
 * One context's view of a (shared) device: the device's pipeline cache, this context's buffer pool
 * and chunking configuration. dispose() frees what the context holds on the device and releases
 * its handle; the device itself outlives it (device.ts).
 */
export class GpuRuntime {
  readonly device: GPUDevice;
  readonly pipelines: PipelineView;
  readonly pool: BufferPool;
  readonly workgroupSize: number;
  readonly bindingBytes: number;
  private readonly disposers: (() => void)[] = [];

  constructor(readonly gpu: GpuDevice, config: RuntimeConfig) {
    this.device = gpu.device;
    this.pipelines = new PipelineView(gpu.pipelines);
    this.pool = new BufferPool(gpu.device, config.maxPooledBytes);
    this.workgroupSize = config.workgroupSize;
    this.bindingBytes = config.bindingBytes;
    // Releasing the handle (dispose(), or a caller that releases the GpuDevice itself) frees
    // everything this runtime keeps on the device, which the other contexts go on using.
    gpu.onRelease(() => {
      let failure: unknown = null;
      for (const d of this.disposers.splice(0).reverse()) {
        try {
          d();
        } catch (e) {
          failure ??= e;
        }
      }
      this.pipelines.clear();
      this.pool.close();
      if (failure !== null) throw failure;
    });
  }

  /**
   * Registers what a family keeps on the device for this runtime (an upload cache), to free when the
   * runtime is disposed; later registrations are freed first.
   */
  onDispose(dispose: () => void): void {
    this.disposers.push(dispose);
  }

  /** Frees this runtime's buffers and caches and releases its hold on the device. Idempotent. */
  dispose(): void {
    this.gpu.release();
  }

  /**
   * Writes a caller's array into `target` at byte `offset`: the upload path every kernel uses
   * (upload.ts: SharedArrayBuffer views are copied first, a detached view throws E_SHAPE naming `name`).
   */
  write(target: GPUBuffer, data: ArrayBufferView, name: string, offset = 0): void {
    writeView(this.device.queue, target, offset, data, name);
  }

  /** Elements of `bytesPerElement` that fit one binding. */
  bindingElements(bytesPerElement: number): number {
    return Math.floor(this.bindingBytes / bytesPerElement);
  }

  /** The pipeline of `file`'s entry point at this runtime's workgroup size, with a family's generated prelude if given. */
  pipeline(file: string, entryPoint = 'main', prelude?: WgslPrelude): Promise<GPUComputePipeline> {
    const spec: PipelineSpec = { file, entryPoint, constants: { WG: this.workgroupSize }, ...(prelude ? { prelude } : {}) };
    return this.pipelines.get(spec);
  }

  dispatch(encoder: GPUCommandEncoder, pipeline: GPUComputePipeline, bindings: readonly Binding[], workgroups: number): void {
    encodeDispatch(this.device, encoder, pipeline, bindings, workgroups, this.gpu.limits.maxComputeWorkgroupsPerDimension);
  }

  /**
   * Submits one command buffer after checking the signal, so an abort lands between submits, and
   * the handle, so a call still running when its context is disposed (or its device is lost) stops
   * at its next submit.
   */
  submit(encoder: GPUCommandEncoder, signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    const lost = this.gpu.lostReason();
    if (lost !== null) throw this.lostError(lost);
    this.device.queue.submit([encoder.finish()]);
  }

  lostError(reason: string, cause?: unknown): NumkernError {
    return new NumkernError('E_DEVICE_LOST', `webgpu: ${reason}`, { argument: 'webgpu', cause });
  }

  /**
   * Runs one kernel call, after any other call on the device has ended: refuses a lost device,
   * scopes validation and out-of-memory errors to the call, hands the body a buffer lease that ends
   * with it, and classifies failures. Any failure on a device that is (or within a moment reports
   * itself) lost becomes E_DEVICE_LOST; so does an out-of-memory error, so the op moves to a CPU
   * backend; a validation error is a bug in this backend and surfaces as a plain Error.
   */
  async guard<T>(op: string, signal: AbortSignal | undefined, body: (lease: Lease) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    // Calls on one device take turns (GpuDevice.serial): the error scopes below are the device's.
    return this.gpu.serial(signal, () => this.guarded(op, signal, body));
  }

  private async guarded<T>(op: string, signal: AbortSignal | undefined, body: (lease: Lease) => Promise<T>): Promise<T> {
    const lost = this.gpu.lostReason();
    if (lost !== null) throw this.lostError(lost);

    const uncapturedBefore = this.gpu.uncapturedErrors;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const lease = new Lease(this);
    let value: T | undefined;
    let failure: unknown = null;
    let failed = false;
    try {
      value = await body(lease);
    } catch (e) {
      failure = e;
      failed = true;
    } finally {
      lease.end();
    }
    const validation = await this.device.popErrorScope().catch(() => null);
    const oom = await this.device.popErrorScope().catch(() => null);

    if (failed && failure instanceof NumkernError && failure.code !== 'E_DEVICE_LOST') throw failure;
    const lostNow = this.gpu.lostReason() ?? (failed ? await this.gpu.waitLost(100) : null);
    if (lostNow !== null) throw this.lostError(`${op}: ${lostNow}`, failure ?? undefined);
    if (oom) {
      this.gpu.markLost(`out of GPU memory in ${op}: ${oom.message}`);
      throw this.lostError(`${op}: out of GPU memory: ${oom.message}`);
    }
    if (validation) throw new Error(`webgpu: ${op}: validation error: ${validation.message}`);
    if (this.gpu.uncapturedErrors !== uncapturedBefore) {
      throw new Error(`webgpu: ${op}: uncaptured device error: ${this.gpu.lastUncapturedError}`);
    }
    if (failed) {
      const name = failure instanceof Error ? failure.name : '';
      if (failure instanceof NumkernError || (name !== 'AbortError' && name !== 'OperationError')) throw failure;
      // A map that fails with neither loss nor validation error leaves the device unusable for this
      // backend's purposes; recording it as lost lets the engine move on. Other failures (a WGSL
      // compile error, a missing kernels/ file) are bugs and propagate unchanged.
      const why = `${name}: ${(failure as Error).message || 'no message'}`;
      this.gpu.markLost(`${op} failed: ${why}`);
      throw this.lostError(`${op} failed: ${why}`, failure);
    }
    return value as T;
  }
}
