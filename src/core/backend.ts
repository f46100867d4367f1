import type { BackendName, DType } from './types.js';
import type { OpArgs, OpName, OpResult } from './ops.js';

/** What a long-running kernel may consult while it runs. */
export interface KernelControl {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { iteration: number; residualNorm?: number }) => void;
}

/** A kernel is data: which op, for which dtypes, the size below which auto-dispatch skips it, and how to run it. */
export interface KernelSpec<K extends OpName = OpName> {
  readonly op: K;
  readonly dtypes: readonly DType[];
  /** Auto-dispatch sends smaller problems (in the op's size unit) to the next candidate. Measured by bench/. */
  readonly minSize?: number;
  /**
   * Why this kernel cannot run these particular arguments (a method it has no parallel form of, an
   * operand over a device limit), or null when it can. The dispatcher then moves on to the next
   * candidate and records the reason, as for a missing kernel.
   */
  accepts?(args: OpArgs<K>): string | null;
  run(args: OpArgs<K>, ctl: KernelControl): Promise<OpResult<K>> | OpResult<K>;
}

/** Any kernel spec; the registry stores them untyped and dispatch restores the type by op name. */

export type AnyKernel = { [K in OpName]: KernelSpec<K> }[OpName];

export function kernel<K extends OpName>(spec: KernelSpec<K>): AnyKernel {
  return spec as unknown as AnyKernel;
}

/** Facts a backend reports about itself for `status()` and `numkern info`. */
export interface BackendInfo {
  /** One line: adapter name, thread count, BLAS, ... */
  readonly description: string;
  readonly [key: string]: unknown;
}

/**
 * One family's kernels on one backend, listed from that backend's live handle (the loaded addon and
 * its thread count, the GPU runtime, ...). Each backend keeps one such list per family in
 * `src/backends/<b>/<family>.ts`; src/families.ts hands them to the engine.
 */
export type KernelList<H> = (handle: H) => readonly AnyKernel[];

/** A live backend. Created by a factory's init; owned by one Context. */
export interface BackendInstance<H = unknown> {
  readonly name: BackendName;
  /** Higher runs first under auto dispatch. See PRIORITY. */
  readonly priority: number;
  /** What the families' kernel lists for this backend are built from. */
  readonly handle: H;
  readonly info: BackendInfo;
  /** Why the backend stopped working after init (device lost), or null while it is healthy. */
  lostReason?(): string | null;
  dispose(): Promise<void> | void;
}

export interface BackendInitOptions {
  /** Let a software WebGPU adapter (lavapipe, SwiftShader) register; it ranks below native. */
  readonly allowSoftwareAdapter: boolean;
  /** Threads for CPU kernels; 0 = all hardware threads. */
  readonly threads: number;
}

/** Registered once per backend; init throws (with the reason as message) when the backend cannot run here. */
export interface BackendFactory<H = unknown> {
  readonly name: BackendName;
  init(options: BackendInitOptions): Promise<BackendInstance<H>>;
  /**
   * The highest priority init() could give, known without starting anything. A factory that has it
   * is started at first use in a context that did not name it in options.backends (src/core/engine.ts:
   * a call pinned to it, an auto call it could outrank every started backend for, or ctx.start()), so
   * a run that never needs it never starts it (WebGPU: never opens Vulkan).
   */
  maxPriority?(options: BackendInitOptions): number;
}

/** docs/ARCHITECTURE.md §5: cuda > webgpu(hardware) > native > webgpu(software) > js. */
export const PRIORITY = {
  cuda: 100,
  webgpuHardware: 80,
  native: 60,
  webgpuSoftware: 40,
  js: 0,
} as const;
