/**
 * Device bootstrap for the WebGPU backend (Dawn through the optional npm package `webgpu`).
 *
 * One GpuDevice wraps one GPUDevice: the package is imported lazily so that a machine without it
 * loses only this backend, the adapter is classified as hardware or software, and the device is
 * requested with the adapter's own maxima for the limits the kernels depend on (the WebGPU
 * defaults, e.g. 128 MiB per binding, would otherwise apply even on a 24 GB card).
 * Device loss is recorded the moment Dawn reports it, so kernels and the engine can ask for it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The limits the kernels size their chunks and dispatches by. */
export interface GpuLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** The adapter says it is a fallback adapter (lavapipe and SwiftShader do). */
  readonly fallback: boolean;
  /** A CPU rasterizer rather than a GPU, by isFallbackAdapter, architecture or name. */
  readonly software: boolean;
}

export interface OpenOptions {
  /** Options for the package's create(), e.g. ['backend=vulkan']. Never 'backend=null': it runs nothing. */
  readonly dawnOptions?: readonly string[];
  /** Refuse a software adapter before a device is requested. */
  readonly allowSoftwareAdapter: boolean;
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
] as const satisfies readonly (keyof GpuLimits)[];

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  // Older Dawn builds exposed the flag on the adapter itself rather than on info.
  const legacy = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const fallback = info.isFallbackAdapter === true || legacy === true;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    fallback,
    software: fallback || info.architecture === 'software' || SOFTWARE_NAMES.test(text),
  };
}

/** One line naming the adapter, e.g. "mesa software llvmpipe-llvm-15-0-6-256-bits- (llvmpipe: Mesa 25.0.7) [software]". */
export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  const desc = a.description && a.description !== a.device ? ` (${a.description})` : '';
  return `${name}${desc}${a.software ? ' [software]' : ''}`;
}

/**
 * Dawn prints why it found no adapter on stderr, out of JavaScript's reach, and unloads the Vulkan
 * loader again when it finds no driver. Whether the loader is installed tells the two usual causes
 * apart: no Vulkan at all, or a loader with no driver Dawn accepts (Debian 12's Mesa 22 lavapipe
 * is rejected).
 */
function vulkanLoaderPresent(): boolean | null {
  if (process.platform !== 'linux') return null;
  const lib = 'libvulkan.so.1';
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib',
    `/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
  ];
  if (dirs.some((d) => existsSync(join(d, lib)))) return true;
  try {
    // The dynamic linker's cache lists every library ldconfig knows, as plain strings.
    return readFileSync('/etc/ld.so.cache').includes(lib);
  } catch {
    return null;
  }
}

function noAdapterReason(): string {
  const hint =
    'On a machine without a GPU, install lavapipe from Mesa >= 23 (test/support/setup-lavapipe.sh needs no root) ' +
    'and start Node with VK_DRIVER_FILES=<dir>/lvp_icd.json and LD_LIBRARY_PATH=<dir>/usr/lib/<multiarch>.';
  const loader = vulkanLoaderPresent();
  const cause =
    loader === false
      ? "Couldn't load Vulkan: libvulkan.so.1 is not installed"
      : loader === true
        ? `the Vulkan loader found no driver Dawn accepts (VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? 'unset'}; ` +
          'Mesa < 23 lavapipe is rejected); Dawn printed the details on stderr'
        : 'Dawn printed the cause on stderr';
  return `webgpu: requestAdapter() returned no adapter: ${cause}. ${hint}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export class GpuDevice {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly limits: GpuLimits;
  /** Validation or internal errors raised outside any error scope: a backstop the kernels check. */
  uncapturedErrors = 0;
  lastUncapturedError: string | null = null;
  private gpu: GPU | null;
  private lost: string | null = null;
  private readonly lostPromise: Promise<string>;

  constructor(gpu: GPU, device: GPUDevice, adapter: AdapterSummary, limits: GpuLimits) {
    this.gpu = gpu;
    this.device = device;
    this.adapter = adapter;
    this.limits = limits;
    this.lostPromise = device.lost.then((info) => {
      this.markLost(`device lost (${info.reason}): ${info.message || 'no message'}`);
      return this.lost!;
    });
    device.addEventListener('uncapturederror', (ev) => {
      this.uncapturedErrors++;
      this.lastUncapturedError = errorText((ev as GPUUncapturedErrorEvent).error?.message ?? ev);
    });
  }

  /** Why the device stopped working, or null while it works. */
  lostReason(): string | null {
    return this.lost;
  }

  /** Records a loss first noticed by a kernel (a failed map) before Dawn's lost promise settles. */
  markLost(reason: string): void {
    if (this.lost === null) this.lost = reason;
  }

  /** Resolves with the loss reason if the device is reported lost within `ms`, else null. */
  async waitLost(ms: number): Promise<string | null> {
    if (this.lost !== null) return this.lost;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
    });
    try {
      return await Promise.race([this.lostPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Destroys the device (Dawn unmaps its buffers) and drops the GPU object so Node can exit. */
  destroy(): void {
    if (this.gpu === null) return;
    this.markLost('device destroyed by dispose()');
    this.device.destroy();
    this.gpu = null;
  }
}

/** Loads `webgpu`, picks an adapter and opens a device; throws Error with the precise reason otherwise. */
/**
 * One Dawn instance per process and option set, never released: Dawn schedules event processing on
 * the instance from a timer, and an instance collected while that timer is pending aborts the process
 * at exit (seen with webgpu 0.6.2: std::system_error from InstanceBase::ProcessEvents). Devices are
 * still per context and destroyed by dispose(); a kept instance does not hold the process open.
 */
const instances = new Map<string, GPU>();

export async function openGpuDevice(options: OpenOptions): Promise<GpuDevice> {
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new Error(`webgpu: the optional package 'webgpu' failed to load (${errorText(e)}); install it with npm install webgpu`);
  }
  for (const opt of options.dawnOptions ?? []) {
    // Dawn's null backend returns an adapter whose dispatches do nothing: results would be garbage.
    if (/^backend\s*=\s*null$/i.test(opt)) throw new Error(`webgpu: refusing Dawn option '${opt}': the null backend executes nothing`);
  }
  const key = JSON.stringify(options.dawnOptions ?? []);
  let gpu = instances.get(key) ?? null;
  if (!gpu) {
    try {
      gpu = mod.create([...(options.dawnOptions ?? [])]);
    } catch (e) {
      throw new Error(`webgpu: create() failed: ${errorText(e)}`);
    }
    instances.set(key, gpu);
  }
  let adapter: GPUAdapter | null;
  try {
    // Never forceFallbackAdapter: Dawn answers null for it even when lavapipe is the only adapter.
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new Error(`webgpu: requestAdapter() failed: ${errorText(e)}`);
  }
  if (!adapter) throw new Error(noAdapterReason());

  const summary = summarizeAdapter(adapter);
  if (summary.software && !options.allowSoftwareAdapter) {
    throw new Error(`webgpu: only a software adapter is available (${describeAdapter(summary)}) and allowSoftwareAdapter is false`);
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'numkern' });
  } catch (e) {
    throw new Error(`webgpu: requestDevice() failed on ${describeAdapter(summary)}: ${errorText(e)}`);
  }
  const limits = Object.fromEntries(LIMIT_NAMES.map((n) => [n, device.limits[n]])) as unknown as GpuLimits;
  return new GpuDevice(gpu, device, summary, limits);
}
