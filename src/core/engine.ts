/**
 * Backend resolution (ONNX Runtime style: memoized init, one recorded reason per backend)
 * and kernel dispatch (tfjs style: kernels keyed by (op, dtype, backend), per-kernel fallback).
 * Core never imports a backend: backends register factories here (src/backends/register.ts).
 */
import type { AnyKernel, BackendFactory, BackendInfo, BackendInitOptions, BackendInstance, KernelControl, KernelList, KernelSpec } from './backend.js';
import { NumkernError, throwIfAborted } from './errors.js';
import type { OpArgs, OpName, OpResult } from './ops.js';
import { BACKEND_NAMES, type BackendName, type DType } from './types.js';

const factories = new Map<BackendName, BackendFactory>();

/** Called once per backend by src/backends/register.ts. Re-registering replaces (tests mock loaders this way). */
export function registerBackend<H>(factory: BackendFactory<H>): void {
  factories.set(factory.name, factory as BackendFactory);
}

/** Per backend, the function that lists one family's kernels over that backend's handle. */
export type FamilyKernelLists = Partial<Record<BackendName, KernelList<never>>>;

const families = new Map<string, FamilyKernelLists>();

/**
 * Called once per family by src/families.ts. A context created afterwards asks every backend it
 * initializes for the family's kernels; a backend without a list for it simply registers none, and
 * dispatch falls back.
 */
export function registerFamilyKernels(family: string, lists: FamilyKernelLists): void {
  families.set(family, lists);
}

export type Thresholds = Partial<Record<OpName, Partial<Record<BackendName, number>>>>;

export interface ContextOptions {
  /** Backends this context may use; default all. Further restricted by NUMKERN_BACKENDS. */
  backends?: readonly BackendName[];
  /** Throw E_BACKEND_UNAVAILABLE instead of falling back when a pinned backend cannot run an op. */
  strict?: boolean;
  /** Per-op, per-backend minimum problem size for auto dispatch (overrides the kernels' measured defaults). */
  thresholds?: Thresholds;
  /** Register a software WebGPU adapter (lavapipe); default true, ranked below native. */
  allowSoftwareAdapter?: boolean;
  /** Threads for CPU kernels; default 0 = all. */
  threads?: number;
}

export interface BackendStatus {
  readonly name: BackendName;
  readonly available: boolean;
  /** Not started yet: it starts at the first call that may use it, or with ctx.start(). */
  readonly deferred?: boolean;
  /** Why the backend is not available (or was lost); absent when available. */
  readonly reason?: string;
  readonly priority?: number;
  readonly info?: BackendInfo;
  /** `op:dtype` pairs the backend registered. */
  readonly kernels?: readonly string[];
  /** Families whose kernel list failed on this (available) backend, with the reason. */
  readonly families?: Readonly<Record<string, string>>;
}

export interface FallbackRecord {
  readonly op: OpName;
  readonly dtype: DType;
  readonly requested: BackendName;
  readonly used: BackendName;
  readonly reason: string;
}

export interface DispatchRequest extends KernelControl {
  readonly dtype: DType;
  /** Problem size in the op's unit (elements, nonzeros); compared against thresholds under auto dispatch. */
  readonly size: number;
  readonly backend?: BackendName | 'auto';
  readonly strict?: boolean;
}

export interface Dispatched<R> {
  readonly value: R;
  readonly backend: BackendName;
}

/** One backend's place in a context: its live instance (or why there is none) and its kernels. */
export interface Slot {
  readonly name: BackendName;
  instance: BackendInstance | null;
  reason: string | null;
  readonly kernels: Map<string, AnyKernel>;
  readonly familyReasons: Record<string, string>;
  /** A backend started at first use (BackendFactory.maxPriority); null once started, or when started with the context. */
  deferred: Deferred | null;
}

interface Deferred {
  /** The factory's maxPriority: auto dispatch starts the backend only where it could outrank the started ones. */
  readonly bound: number;
  readonly factory: BackendFactory;
  readonly options: BackendInitOptions;
  starting: Promise<void> | null;
}

const DEFERRED_REASON = 'not started: starts at the first call that may use it, or with ctx.start()';

const MAX_FALLBACK_RECORDS = 256;

function envBackends(): Set<BackendName> | null {
  const raw = process.env.NUMKERN_BACKENDS;
  if (!raw) return null;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!BACKEND_NAMES.includes(n as BackendName)) {
      throw new NumkernError('E_RANGE', `NUMKERN_BACKENDS: unknown backend '${n}' (expected ${BACKEND_NAMES.join(', ')})`, {
        argument: 'NUMKERN_BACKENDS',
      });
    }
  }
  return new Set(names as BackendName[]);
}

export class Engine {
  readonly strict: boolean;
  private readonly slots: Slot[];
  private readonly thresholds: Thresholds;
  private readonly fallbackLog: FallbackRecord[] = [];
  private disposed = false;
  private readonly keys = new Map<DType, Map<OpName, string>>();

  protected constructor(slots: Slot[], options: ContextOptions) {
    this.slots = slots;
    this.strict = options.strict ?? false;
    this.thresholds = options.thresholds ?? {};
  }

  /** Initializes every permitted backend once, concurrently; failures become recorded reasons, never throws for them. */
  protected static async initSlots(options: ContextOptions): Promise<Slot[]> {
    const wanted = new Set<BackendName>(options.backends ?? BACKEND_NAMES);
    for (const n of wanted) {
      if (!BACKEND_NAMES.includes(n)) {
        throw new NumkernError('E_RANGE', `options.backends: unknown backend '${String(n)}'`, { argument: 'options.backends' });
      }
    }
    const env = envBackends();
    const initOptions = { allowSoftwareAdapter: options.allowSoftwareAdapter ?? true, threads: options.threads ?? 0 };
    // A backend the caller named is started now; one it merely did not exclude may wait for first use.
    const named = options.backends !== undefined;
    return Promise.all(
      BACKEND_NAMES.map(async (name): Promise<Slot> => {
        const slot: Slot = { name, instance: null, reason: null, kernels: new Map(), familyReasons: {}, deferred: null };
        const factory = factories.get(name);
        const bound = named ? undefined : factory?.maxPriority?.(initOptions);
        if (!wanted.has(name)) slot.reason = 'not in options.backends';
        else if (env && !env.has(name)) slot.reason = `excluded by NUMKERN_BACKENDS=${process.env.NUMKERN_BACKENDS}`;
        else if (!factory) slot.reason = 'no factory registered';
        else if (bound !== undefined) {
          slot.reason = DEFERRED_REASON;
          slot.deferred = { bound, factory, options: initOptions, starting: null };
        } else await Engine.startSlot(slot, factory, initOptions);
        return slot;
      }),
    );
  }

  /** Initializes a slot's backend and collects every family's kernels on it; a failure becomes the slot's reason. */
  private static async startSlot(slot: Slot, factory: BackendFactory, options: BackendInitOptions): Promise<void> {
    try {
      const instance = await factory.init(options);
      slot.instance = instance;
      slot.reason = null;
      for (const [family, lists] of families) {
        const list = lists[slot.name];
        if (!list) continue;
        try {
          for (const k of list(instance.handle as never)) for (const d of k.dtypes) slot.kernels.set(`${k.op}:${d}`, k);
        } catch (e) {
          slot.familyReasons[family] = e instanceof Error ? e.message : String(e);
        }
      }
    } catch (e) {
      slot.reason = e instanceof Error ? e.message : String(e);
    }
  }

  /** Starts a deferred backend once (concurrent callers share the start); a context disposed meanwhile releases it at once. */
  private startDeferred(slot: Slot): Promise<void> {
    const d = slot.deferred!;
    d.starting ??= Engine.startSlot(slot, d.factory, d.options).then(async () => {
      slot.deferred = null;
      if (!this.disposed) return;
      const inst = slot.instance;
      slot.instance = null;
      slot.kernels.clear();
      slot.reason = 'context disposed';
      if (inst) await inst.dispose();
    });
    return d.starting;
  }

  /** Starts every backend still waiting for first use (`numkern info` does, to report them all). */
  async start(): Promise<void> {
    await Promise.all(this.slots.filter((s) => s.deferred).map((s) => this.startDeferred(s)));
  }

  /** For every backend: available or why not, its priority, what it reported about itself and the kernels it registered. */
  status(): BackendStatus[] {
    return this.slots.map((s) => {
      this.refresh(s);
      return s.instance
        ? {
          name: s.name, available: true, priority: s.instance.priority, info: s.instance.info, kernels: [...s.kernels.keys()],
          ...(Object.keys(s.familyReasons).length > 0 ? { families: { ...s.familyReasons } } : {}),
        }
        : { name: s.name, available: false, reason: s.reason ?? 'unknown', ...(s.deferred ? { deferred: true } : {}) };
    });
  }

  /** The fallbacks dispatch took, newest last (bounded). */
  fallbacks(): readonly FallbackRecord[] {
    return this.fallbackLog;
  }

  /** Backends that are up, highest priority first. */
  available(): BackendName[] {
    return this.ordered().map((s) => s.name);
  }

  /** Whether `backend` is up, registered `op` for `dtype` and, given `args`, accepts them. */
  supports<K extends OpName>(backend: BackendName, op: K, dtype: DType, args?: OpArgs<K>): boolean {
    const s = this.slots.find((x) => x.name === backend)!;
    this.refresh(s);
    const k = s.kernels.get(`${op}:${dtype}`) as KernelSpec<K> | undefined;
    return s.instance !== null && k !== undefined && (args === undefined || (k.accepts?.(args) ?? null) === null);
  }

  async run<K extends OpName>(op: K, args: OpArgs<K>, req: DispatchRequest): Promise<Dispatched<OpResult<K>>> {
    if (this.disposed) throw new NumkernError('E_BACKEND_UNAVAILABLE', 'context: already disposed', { argument: 'context' });
    throwIfAborted(req.signal);
    const requested = req.backend ?? 'auto';
    const strict = req.strict ?? this.strict;
    const key = this.keyOf(op, req.dtype);

    const refusal = (s: Slot): string | null => (s.kernels.get(key) as KernelSpec<K> | undefined)?.accepts?.(args) ?? null;
    const runnable = (s: Slot) => s.kernels.has(key) && refusal(s) === null;
    // Deferred backends this call may use: the pinned one, or under auto each that could outrank every
    // started backend able to run it. Their kernels are known only once started.
    const waits = (s: Slot) => s.deferred !== null && (requested === 'auto' || s.name === requested);
    if (this.slots.some(waits)) {
      const waiting = this.slots.filter(waits);
      const best = requested === 'auto' ? this.ordered().find((s) => runnable(s) && req.size >= this.minSize(op, s, key)) : undefined;
      const floor = best ? best.instance!.priority : -Infinity;
      await Promise.all(waiting.filter((s) => requested !== 'auto' || s.deferred!.bound > floor).map((s) => this.startDeferred(s)));
      throwIfAborted(req.signal);
    }
    // The backends to try in turn. A pinned backend that can run the op is tried alone first; the rest
    // are listed only if it fails (a call per op should not pay for a list it almost never reads).
    let first: Slot | undefined;
    let rest: () => Slot[];
    if (requested === 'auto') {
      const candidates = this.ordered().filter((s) => runnable(s) && req.size >= this.minSize(op, s, key));
      first = candidates[0];
      rest = () => candidates.slice(1);
    } else {
      const pinned = this.slots.find((s) => s.name === requested);
      if (!pinned) throw new NumkernError('E_RANGE', `options.backend: unknown backend '${String(requested)}'`, { argument: 'options.backend' });
      this.refresh(pinned);
      const why = !pinned.instance ? `${requested} unavailable: ${pinned.reason}`
        : !pinned.kernels.has(key) ? `${requested} has no ${key} kernel`
        : refusal(pinned) === null ? null : `${requested} ${key}: ${refusal(pinned)}`;
      if (why) {
        if (strict) throw new NumkernError('E_BACKEND_UNAVAILABLE', `${op}: ${why}`, { argument: 'options.backend' });
        const candidates = this.ordered().filter(runnable);
        first = candidates[0];
        if (first) this.record({ op, dtype: req.dtype, requested, used: first.name, reason: why });
        rest = () => candidates.slice(1);
      } else {
        first = pinned;
        rest = () => this.ordered().filter((s) => s !== pinned && runnable(s));
      }
    }
    if (!first) {
      const reasons = this.slots.map((s) => `[${s.name}] ${s.instance ? `no ${key} kernel` : s.reason}`).join(', ');
      throw new NumkernError('E_BACKEND_UNAVAILABLE', `${op}: no backend can run ${key}. ${reasons}`, { argument: op });
    }

    let lastError: unknown;
    let later: Slot[] | null = null;
    for (let slot: Slot | undefined = first, i = 0; slot; slot = (later ??= rest())[i++]) {
      const k = slot.kernels.get(key)!;
      try {
        const value = (await k.run(args as never, req)) as OpResult<K>;
        return { value, backend: slot.name };
      } catch (e) {
        // A lost device takes its backend out of rotation; the op retries on the next candidate.
        if (e instanceof NumkernError && e.code === 'E_DEVICE_LOST') {
          // The list of the rest is taken before the lost backend leaves it (as the whole list was).
          later ??= rest();
          this.markLost(slot, e.message);
          if (strict && requested !== 'auto') throw e;
          const next = later[i];
          if (next) this.record({ op, dtype: req.dtype, requested: slot.name, used: next.name, reason: e.message });
          lastError = e;
          continue;
        }
        throw e;
      }
    }
    throw lastError;
  }

  /** `${op}:${dtype}`, the kernel key, made once per pair (a fresh string per call is hashed per lookup). */
  private keyOf(op: OpName, dtype: DType): string {
    let byOp = this.keys.get(dtype);
    if (!byOp) this.keys.set(dtype, (byOp = new Map()));
    let k = byOp.get(op);
    if (k === undefined) byOp.set(op, (k = `${op}:${dtype}`));
    return k;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.slots.map(async (s) => {
      // One still starting releases itself when its start ends (start()); one never started has nothing to release.
      if (s.deferred) {
        const starting = s.deferred.starting;
        if (!starting) {
          s.deferred = null;
          s.reason = 'context disposed';
        }
        return starting ?? undefined;
      }
      const inst = s.instance;
      s.instance = null;
      s.reason = 'context disposed';
      s.kernels.clear();
      if (inst) await inst.dispose();
    }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  private minSize(op: OpName, slot: Slot, key: string): number {
    return this.thresholds[op]?.[slot.name] ?? slot.kernels.get(key)?.minSize ?? 0;
  }

  private ordered(): Slot[] {
    for (const s of this.slots) this.refresh(s);
    return this.slots.filter((s) => s.instance).sort((a, b) => b.instance!.priority - a.instance!.priority);
  }

  private refresh(slot: Slot): void {
    const lost = slot.instance?.lostReason?.();
    if (lost) this.markLost(slot, lost);
  }

  private markLost(slot: Slot, reason: string): void {
    const inst = slot.instance;
    slot.instance = null;
    slot.kernels.clear();
    slot.reason = `lost after init: ${reason}`;
    if (inst) void Promise.resolve(inst.dispose()).catch(() => undefined);
  }

  private record(r: FallbackRecord): void {
    this.fallbackLog.push(r);
    if (this.fallbackLog.length > MAX_FALLBACK_RECORDS) this.fallbackLog.shift();
  }
}
