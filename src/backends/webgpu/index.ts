/**
 * The WebGPU backend: a Dawn device, its pipeline cache and buffer pool (the GpuRuntime every family's
 * kernel list is built from). Each family lists its kernels in its own file (./linalg.ts,
 * ./relax/kernels.ts), wired by src/families.ts.
 *
 * WGSL has no f64, so kernels register f32 only; f64 calls go to a CPU backend. The relax solvers are
 * the exception: they take f32 and f64 by mixed-precision refinement.
 */
import { PRIORITY, type BackendFactory, type BackendInitOptions, type BackendInstance } from '../../core/backend.js';
import { dawnMessages, onlySoftwareVulkan, vulkanSetupNote } from './adapter.js';
import { describeAdapter, openGpuDevice, type GpuLimits } from './device.js';
import { GpuRuntime } from './dispatch.js';

export { GpuRuntime } from './dispatch.js';
export { foldWorkgroups } from './dispatch.js';
export { webgpuPhiloxFill } from './philox.js';

export interface WebGpuBackendOptions {
  /**
   * Caps the bytes a single binding may hold below the device's maxStorageBufferBindingSize,
   * which makes the kernels chunk smaller inputs (tests force chunking with a few KiB instead of
   * allocating 128 MiB). Rounded down to a multiple of 16; at least 64. Without it the
   * environment variable NUMKERN_WEBGPU_MAX_BINDING_BYTES is read, then the device limit applies.
   */
  readonly maxBindingBytes?: number;
  /** Invocations per workgroup for every kernel: a power of two within the device limits. Default 256. */
  readonly workgroupSize?: number;
  /** Options for Dawn's create(), e.g. ['backend=vulkan']. */
  readonly dawnOptions?: readonly string[];
  /** Bytes of released buffers kept for reuse. Default 256 MiB. */
  readonly maxPooledBytes?: number;
}

export interface WebGpuBackendInstance extends BackendInstance<GpuRuntime> {
  /** The device, pipeline cache and buffer pool behind the kernels (tests and tools inspect them). */
  readonly runtime: GpuRuntime;
}

export interface WebGpuBackendFactory extends BackendFactory<GpuRuntime> {
  init(options: BackendInitOptions): Promise<WebGpuBackendInstance>;
}

const DEFAULT_WORKGROUP = 256;
const DEFAULT_POOLED_BYTES = 256 * 2 ** 20;
const MIN_BINDING_BYTES = 64;

export function createWebgpuBackend(options: WebGpuBackendOptions = {}): WebGpuBackendFactory {
  return {
    name: 'webgpu',
    // Known without opening Vulkan: where every reachable driver is lavapipe, the adapter can only be a
    // software one, ranked below native, so a default context starts WebGPU only for a call native can't run.
    maxPriority: () => (onlySoftwareVulkan() ? PRIORITY.webgpuSoftware : PRIORITY.webgpuHardware),
    async init(init: BackendInitOptions): Promise<WebGpuBackendInstance> {
      const requestedBinding = options.maxBindingBytes ?? envBindingBytes();
      if (requestedBinding !== undefined && !(Number.isInteger(requestedBinding) && requestedBinding >= MIN_BINDING_BYTES)) {
        throw new Error(`webgpu: maxBindingBytes must be an integer ≥ ${MIN_BINDING_BYTES}, got ${requestedBinding}`);
      }
      const gpu = await openGpuDevice({ dawnOptions: options.dawnOptions, allowSoftwareAdapter: init.allowSoftwareAdapter });
      try {
        const workgroupSize = pickWorkgroupSize(options.workgroupSize, gpu.limits);
        const bindingBytes =
          Math.floor(Math.min(requestedBinding ?? Infinity, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) / 16) * 16;
        const runtime = new GpuRuntime(gpu, {
          workgroupSize,
          bindingBytes,
          maxPooledBytes: options.maxPooledBytes ?? DEFAULT_POOLED_BYTES,
        });
        return makeInstance(runtime);
      } catch (e) {
        gpu.destroy();
        throw e;
      }
    },
  };
}

/** The factory src/backends/register.ts registers. */
export const webgpuBackend: WebGpuBackendFactory = createWebgpuBackend();

function envBindingBytes(): number | undefined {
  const raw = process.env.NUMKERN_WEBGPU_MAX_BINDING_BYTES;
  return raw === undefined || raw === '' ? undefined : Number(raw);
}

function pickWorkgroupSize(requested: number | undefined, limits: GpuLimits): number {
  // nrm2 keeps WG vec2f and segmentedMoments 2·WG f32 in workgroup memory: 8·WG bytes at most.
  const fits = (wg: number) =>
    wg <= limits.maxComputeInvocationsPerWorkgroup && wg <= limits.maxComputeWorkgroupSizeX && 8 * wg <= limits.maxComputeWorkgroupStorageSize;
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || (requested & (requested - 1)) !== 0 || !fits(requested)) {
      throw new Error(`webgpu: workgroupSize must be a power of two within the device limits, got ${requested}`);
    }
    return requested;
  }
  let wg = DEFAULT_WORKGROUP;
  while (wg > 1 && !fits(wg)) wg >>= 1;
  return wg;
}

function makeInstance(rt: GpuRuntime): WebGpuBackendInstance {
  const gpu = rt.gpu;
  const a = gpu.adapter;
  let disposed = false;
  return {
    name: 'webgpu',
    priority: a.software ? PRIORITY.webgpuSoftware : PRIORITY.webgpuHardware,
    runtime: rt,
    handle: rt,
    info: {
      description: `webgpu: ${describeAdapter(a)}${vulkanSetupNote() ? `; ${vulkanSetupNote()}` : ''}`,
      software: a.software,
      fallbackAdapter: a.fallback,
      vendor: a.vendor,
      architecture: a.architecture,
      device: a.device,
      adapterDescription: a.description,
      limits: { ...gpu.limits },
      workgroupSize: rt.workgroupSize,
      bindingBytes: rt.bindingBytes,
      // Dawn's own warnings (lavapipe's reduced limits, say), kept here instead of on the user's stderr.
      ...(dawnMessages().length > 0 ? { dawnMessages: dawnMessages() } : {}),
    },
    lostReason: () => (disposed ? null : gpu.lostReason()),
    dispose(): void {
      if (disposed) return;
      disposed = true;
      // Frees this context's buffers and uploads and releases its hold on the shared device.
      rt.dispose();
    },
  };
}

