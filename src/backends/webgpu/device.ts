/**
 * Device bootstrap for the WebGPU backend (Dawn through the optional npm package `webgpu`).
 *
 * The package is imported lazily so that a machine without it loses only this backend, the adapter
 * is classified as hardware or software, and the device is requested with the adapter's own maxima
 * for the limits the kernels depend on (the WebGPU defaults, e.g. 128 MiB per binding, would
 * otherwise apply even on a 24 GB card).
 *
 * One Dawn device per process and option set, shared by every context: each context holds a
 * GpuDevice handle, and its dispose() releases the handle, not the device. A device per context
 * made teardown cost grow with the number of contexts ever created: Dawn keeps destroyed devices
 * until the process exits (exit took 1.4 s after 20 create/solve/dispose cycles, 56 s after
 * 1,000, with RSS growing by ~0.6 MB a cycle), and every context compiled its pipelines again.
 * When the last handle goes the device stays open, idle, for the next context (an idle device
 * does not hold the event loop open, and closing it would bring the per-cycle cost back), along
 * with its pipeline cache. Buffers are per context and freed when its handle is released.
 *
 * Device loss is recorded the moment Dawn reports it, so kernels and the engine can ask for it.
 * A lost device is dropped from the share: every context on it reports the loss, and the next
 * context opens a fresh device. A loss a kernel infers (out of memory, a failed map) is recorded
 * on that context's handle only.
 */
import { throwIfAborted } from '../../core/errors.js';
import {
  describeAdapter, errorText, LIMIT_NAMES, noAdapterReason, prepareVulkan, quietDawn, summarizeAdapter, type AdapterSummary, type GpuLimits,
} from './adapter.js';
import { PipelineCache } from './pipelines.js';

export { describeAdapter, summarizeAdapter, type AdapterSummary, type GpuLimits } from './adapter.js';

export interface OpenOptions {
  /** Options for the package's create(), e.g. ['backend=vulkan']. Never 'backend=null': it runs nothing. */
  readonly dawnOptions?: readonly string[];
  /** Refuse a software adapter before a device is requested. */
  readonly allowSoftwareAdapter: boolean;
  /**
   * A device of this context's own, destroyed when its handle is released. Only for isolating a
   * context whose device will be destroyed on purpose (tests of device loss): a loss of the shared
   * device reaches every context on it.
   */
  readonly exclusive?: boolean;
}

/** One Dawn device and what lives as long as it; shared by the GpuDevice handles of several contexts. */
interface DeviceEntry {
  readonly device: GPUDevice;
  readonly adapter: AdapterSummary;
  readonly limits: GpuLimits;
  readonly pipelines: PipelineCache;
  /** Its key in `sharedDevices`, or null for an exclusive device. */
  readonly key: string | null;
  refs: number;
  lost: string | null;
  readonly lostPromise: Promise<string>;
  uncapturedErrors: number;
  lastUncapturedError: string | null;
  /** Settles when the last call queued by serial() has ended. */
  tail: Promise<void>;
  /** Calls queued by serial() and not yet ended. */
  pending: number;
}

/** Resolves when `p` settles, or throws E_ABORTED as soon as `signal` fires. */
async function settledOrAborted(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  if (typeof signal?.addEventListener !== 'function') {
    await p;
    throwIfAborted(signal);
    return;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
  throwIfAborted(signal);
}

/**
 * A context's hold on a device: what the kernels use, and what dispose() releases. Loss inferred by
 * a kernel (markLost) stays on this handle; a loss Dawn reports reaches every handle on the device.
 */
export class GpuDevice {
  private ownLoss: string | null = null;
  private released = false;
  private readonly releaseHooks: (() => void)[] = [];

  constructor(private readonly entry: DeviceEntry) {
    entry.refs++;
  }

  get device(): GPUDevice {
    return this.entry.device;
  }

  get adapter(): AdapterSummary {
    return this.entry.adapter;
  }

  get limits(): GpuLimits {
    return this.entry.limits;
  }

  /** The device's pipeline cache, shared with every context on it. */
  get pipelines(): PipelineCache {
    return this.entry.pipelines;
  }

  /** Validation or internal errors raised outside any error scope: a backstop the kernels check. */
  get uncapturedErrors(): number {
    return this.entry.uncapturedErrors;
  }

  get lastUncapturedError(): string | null {
    return this.entry.lastUncapturedError;
  }

  /** Contexts holding this handle's device (tests and tools inspect it). */
  get sharedBy(): number {
    return this.entry.refs;
  }

  /** Why the device stopped working for this context, or null while it works. */
  lostReason(): string | null {
    return this.ownLoss ?? this.entry.lost;
  }

  /** Records a loss first noticed by a kernel (a failed map, out of memory) before, or instead of, Dawn's report. */
  markLost(reason: string): void {
    if (this.ownLoss === null) this.ownLoss = reason;
  }

  /** Resolves with the loss reason if the device is reported lost within `ms`, else null. */
  async waitLost(ms: number): Promise<string | null> {
    const now = this.lostReason();
    if (now !== null) return now;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
    });
    try {
      return await Promise.race([this.entry.lostPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `body` once every call queued before it on this device (from any context) has ended. Error
   * scopes and the uncaptured-error count are per device, so two calls interleaved across an await
   * would pop each other's scopes: an out-of-memory error could land on the wrong call and leave
   * the failing one reading a buffer that was never written. A call waiting its turn still honours
   * its abort signal. Never nest: a body that waits on another serial() of its device deadlocks.
   */
  async serial<T>(signal: AbortSignal | undefined, body: () => Promise<T>): Promise<T> {
    const e = this.entry;
    const before = e.tail;
    const idle = e.pending === 0;
    e.pending++;
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    // The next call waits for this one and, through `before`, for everything queued earlier.
    e.tail = before.then(() => mine);
    try {
      if (!idle) await settledOrAborted(before, signal);
      return await body();
    } finally {
      e.pending--;
      done();
    }
  }

  /** Runs `hook` when the handle is released, before the device may go: per-context buffers are freed there. */
  onRelease(hook: () => void): void {
    if (this.released) throw new Error('webgpu: onRelease after release');
    this.releaseHooks.push(hook);
  }

  /**
   * Ends this context's hold: its release hooks run (freeing its buffers), then the device is
   * destroyed if it was exclusive or is lost, and otherwise stays open for the other contexts and
   * the next one. Idempotent.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.markLost('device released by dispose()');
    let failure: unknown = null;
    for (const hook of this.releaseHooks.splice(0)) {
      try {
        hook();
      } catch (e) {
        failure ??= e;
      }
    }
    const e = this.entry;
    e.refs--;
    if (e.refs === 0 && (e.key === null || e.lost !== null)) e.device.destroy();
    if (failure !== null) throw failure;
  }

  /** Same as release(): kept for callers written when each context owned its device. */
  destroy(): void {
    this.release();
  }
}

/**
 * One Dawn instance per process and option set, never released: Dawn schedules event processing on
 * the instance from a timer, and an instance collected while that timer is pending aborts the process
 * at exit (seen with webgpu 0.6.2: std::system_error from InstanceBase::ProcessEvents). A kept
 * instance does not hold the process open.
 */
const instances = new Map<string, GPU>();

/** The shared devices, by Dawn option set (settled or being opened). */
const sharedDevices = new Map<string, Promise<DeviceEntry>>();

/** Loads `webgpu`, picks an adapter and opens (or joins) a device; throws Error with the precise reason otherwise. */
export async function openGpuDevice(options: OpenOptions): Promise<GpuDevice> {
  prepareVulkan(options.dawnOptions ?? []);
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
      gpu = quietDawn(() => mod.create([...(options.dawnOptions ?? [])]));
    } catch (e) {
      throw new Error(`webgpu: create() failed: ${errorText(e)}`);
    }
    instances.set(key, gpu);
  }
  if (options.exclusive) return new GpuDevice(await openEntry(gpu, null, options.allowSoftwareAdapter));

  for (;;) {
    const pending = sharedDevices.get(key);
    if (!pending) {
      const opening = openEntry(gpu, key, options.allowSoftwareAdapter);
      sharedDevices.set(key, opening);
      opening.catch(() => {
        if (sharedDevices.get(key) === opening) sharedDevices.delete(key);
      });
      return new GpuDevice(await opening);
    }
    let entry: DeviceEntry | null = null;
    try {
      entry = await pending;
    } catch {
      // Another context's open failed, perhaps on its own terms (it refused a software adapter):
      // its promise is gone from the map, and the next pass opens on this caller's.
    }
    if (entry && entry.lost === null) {
      if (entry.adapter.software && !options.allowSoftwareAdapter) throw new Error(softwareRefusal(entry.adapter));
      return new GpuDevice(entry);
    }
    if (sharedDevices.get(key) === pending) sharedDevices.delete(key);
  }
}

function softwareRefusal(a: AdapterSummary): string {
  return `webgpu: only a software adapter is available (${describeAdapter(a)}) and allowSoftwareAdapter is false`;
}

async function openEntry(gpu: GPU, key: string | null, allowSoftwareAdapter: boolean): Promise<DeviceEntry> {
  let adapter: GPUAdapter | null;
  try {
    // Never forceFallbackAdapter: Dawn answers null for it even when lavapipe is the only adapter.
    adapter = await quietDawn(() => gpu.requestAdapter({ powerPreference: 'high-performance' }));
  } catch (e) {
    throw new Error(`webgpu: requestAdapter() failed: ${errorText(e)}`);
  }
  if (!adapter) throw new Error(noAdapterReason());

  const summary = summarizeAdapter(adapter);
  if (summary.software && !allowSoftwareAdapter) throw new Error(softwareRefusal(summary));

  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'numkern' });
  } catch (e) {
    throw new Error(`webgpu: requestDevice() failed on ${describeAdapter(summary)}: ${errorText(e)}`);
  }
  const limits = Object.fromEntries(LIMIT_NAMES.map((n) => [n, device.limits[n]])) as unknown as GpuLimits;
  const entry: DeviceEntry = {
    device,
    adapter: summary,
    limits,
    pipelines: new PipelineCache(device),
    key,
    refs: 0,
    lost: null,
    lostPromise: device.lost.then((info) => {
      entry.lost ??= `device lost (${info.reason}): ${info.message || 'no message'}`;
      // Contexts opened from now on get a fresh device; those on this one see the loss.
      if (key !== null) {
        void sharedDevices.get(key)?.then((current) => {
          if (current === entry) sharedDevices.delete(key);
        }, () => undefined);
      }
      return entry.lost;
    }),
    uncapturedErrors: 0,
    lastUncapturedError: null,
    tail: Promise.resolve(),
    pending: 0,
  };
  device.addEventListener('uncapturederror', (ev) => {
    entry.uncapturedErrors++;
    entry.lastUncapturedError = errorText((ev as GPUUncapturedErrorEvent).error?.message ?? ev);
  });
  return entry;
}
