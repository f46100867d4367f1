/**
 * Loads the N-API addon (bindings/, native/) without ever throwing. Shared by the native and cuda
 * backends (neither imports the other); the addon is loaded once per process: the result carries either the
 * addon or the reason it is missing, which `status()` and `numkern info` report.
 *
 * Search order, first file that loads wins (prebuildify's layout, resolved here rather than through
 * node-gyp-build so the package needs no loader dependency):
 *   1. `NUMKERN_NATIVE_PATH` (absolute, or relative to the working directory) when set; nothing else is tried
 *   2. `<root>/prebuilds/<platform>-<arch>/numkern.cuda.napi.node`, only when an NVIDIA device node
 *      exists: the CUDA build (`npm run prebuilds` where nvcc exists) is loaded only where it can be used
 *   3. `<root>/prebuilds/<platform>-<arch>/numkern.napi.node` (the CPU build shipped in the package)
 *   4. `<root>/build/Release/numkern.node` (built by `npm run build:native` or the install script)
 * except that a local build newer than the prebuild comes first: in a checkout where both exist, the
 * developer's last build is the one meant (an installed package has a build/ only when no prebuild loaded).
 * `<root>` is the package root: this file runs from `src/backends/addon/` (vitest, tsx) or
 * `dist/backends/addon/` (after tsc), three levels below it either way.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BoundScan, CsrScan, FiniteScan } from '../../core/validate.js';

type Float = Float32Array | Float64Array;

/** What `info()` reports about the build and the machine. */
export interface NativeInfo {
  /** Package version the addon was built from. */
  readonly version: string;
  /** Hardware threads this process may use (its CPU affinity mask). */
  readonly threads: number;
  /** Threads come from OpenMP (else std::thread). */
  readonly openmp: boolean;
  /** `openblas_get_config()` plus the kernels OpenBLAS picked for this CPU, or null without BLAS. */
  readonly blas: string | null;
  /** The target_clones variant active on this CPU: 'x86-64-v4' (AVX-512), 'avx2' or 'default'. */
  readonly simd: string;
  readonly cuda: {
    /** The addon was built with nvcc. */
    readonly compiled: boolean;
    /** Devices the CUDA runtime sees (0 without a driver). */
    readonly devices: number;
    /** Why there is no device (`cudaGetErrorString`), or why CUDA was not built; null when devices > 0. */
    readonly error: string | null;
  };
}

/**
 * The CPU kernels. Every call re-checks its arguments and throws TypeError/RangeError naming the
 * argument; all float arrays of one call share one dtype. `threads`: 0 or omitted = all hardware
 * threads. Results never depend on the thread count. The `...Async` twins run on the libuv pool,
 * return a Promise, and report every failure (argument errors included) as a rejection.
 */
export interface NativeKernels {
  /**
   * Whether the arrays form a canonical CSR matrix passing `checks` (bindings/linalg.cc); core's checkCsr
   * uses it for its pass (src/core/validate.ts), on up to `threads` threads (default 1; 0 = all).
   * Optional: a build older than it lacks it.
   */
  csrCheck?: (...args: [...Parameters<CsrScan>, threads?: number]) => boolean;
  /** An owned lane layout of an f64 CSR matrix (numkern/csr_lanes.hpp), or null where it declines (bindings/linalg.cc). Optional, as csrCheck. */
  csrLanes?: (rowPtr: Int32Array, colIdx: Int32Array, values: Float64Array, ncols: number) => object | null;
  /** y = A x on a csrLanes layout, synchronous. */
  spmvLanes?: (lanes: object, x: Float64Array, y: Float64Array, threads?: number) => void;
  /** Touches `bytes` of the calling thread's C heap and frees them (numkern/core.hpp warm_heap); returns the bytes touched. Optional, as csrCheck. */
  warmHeap?: (bytes: number) => number;
  /** The index of the first NaN or ±Inf in a, or −1 (bindings/linalg.cc); core's checkFinite uses it. Optional, as csrCheck. */
  firstNonFinite?: FiniteScan;
  /** The index of the first entry with !(|a_i| <= bound), or −1 (bindings/linalg.cc); core's withinBound uses it. Optional, as csrCheck. */
  firstBeyond?: BoundScan;
  /** y := A x for CSR A (nrows = rowPtr.length − 1, ncols = x.length); f32 accumulates in float, f64 in double. */
  spmv<T extends Float>(rowPtr: Int32Array, colIdx: Int32Array, values: T, x: T, y: T, threads?: number): void;
  spmvAsync<T extends Float>(rowPtr: Int32Array, colIdx: Int32Array, values: T, x: T, y: T, threads?: number): Promise<void>;
  /** Σ x_i y_i, accumulated in double. */
  dot<T extends Float>(x: T, y: T, threads?: number): number;
  dotAsync<T extends Float>(x: T, y: T, threads?: number): Promise<number>;
  /** y := α x + y (α rounded to the dtype first, as BLAS saxpy/daxpy). */
  axpy<T extends Float>(alpha: number, x: T, y: T, threads?: number): void;
  axpyAsync<T extends Float>(alpha: number, x: T, y: T, threads?: number): Promise<void>;
  /** ‖x‖₂ in double, safe against overflow and underflow. */
  nrm2(x: Float, threads?: number): number;
  nrm2Async(x: Float, threads?: number): Promise<number>;
  /** Per-segment sum, mean, variance (two-pass, divisor count − ddof) of values[offsets[s] .. offsets[s+1]). */
  segmentedMoments<T extends Float>(values: T, offsets: Int32Array, ddof: number, sum: T, mean: T, variance: T, threads?: number): void;
  segmentedMomentsAsync<T extends Float>(values: T, offsets: Int32Array, ddof: number, sum: T, mean: T, variance: T, threads?: number): Promise<void>;
}

/** The CUDA kernels: same arguments as the CPU ones without `threads`; they throw (or reject) "CUDA: ..." without a device. */
export interface NativeCudaKernels {
  spmv<T extends Float>(rowPtr: Int32Array, colIdx: Int32Array, values: T, x: T, y: T): void;
  spmvAsync<T extends Float>(rowPtr: Int32Array, colIdx: Int32Array, values: T, x: T, y: T): Promise<void>;
  dot<T extends Float>(x: T, y: T): number;
  dotAsync<T extends Float>(x: T, y: T): Promise<number>;
  axpy<T extends Float>(alpha: number, x: T, y: T): void;
  axpyAsync<T extends Float>(alpha: number, x: T, y: T): Promise<void>;
  nrm2(x: Float): number;
  nrm2Async(x: Float): Promise<number>;
  segmentedMoments<T extends Float>(values: T, offsets: Int32Array, ddof: number, sum: T, mean: T, variance: T): void;
  segmentedMomentsAsync<T extends Float>(values: T, offsets: Int32Array, ddof: number, sum: T, mean: T, variance: T): Promise<void>;
}

/** A CUDA failure: `cudaError` is the cudaError_t, `deviceLost` true when the context is unusable from now on. */
export interface NativeCudaError extends Error {
  readonly cudaError?: number;
  readonly deviceLost?: boolean;
}

export interface NativeAddon extends NativeKernels {
  info(): NativeInfo;
  /** Philox4x32-10 block function (Random123): 4 counter words and 2 key words to 4 output words. */
  philox4x32(counter: Uint32Array, key: Uint32Array): Uint32Array;
  /**
   * out[i] = word(start + i) of the stream (key, stream), where word(j) is word j mod 4 of
   * philox4x32((b mod 2^32, floor(b / 2^32), stream, 0), key) with b = floor(j / 4)
   * (native/include/numkern/philox.hpp). stream: integer in [0, 2^32); start: integer, start + out.length <= 2^53.
   */
  philoxFill(key: Uint32Array, stream: number, start: number, out: Uint32Array): void;
  philoxFillAsync(key: Uint32Array, stream: number, start: number, out: Uint32Array): Promise<void>;
  /** STREAM triad a = b + scalar·c, best of `reps` (default 1) passes, in seconds. STREAM counts 24 bytes per element. */
  triad(a: Float64Array, b: Float64Array, c: Float64Array, scalar: number, threads?: number, reps?: number): number;
  triadAsync(a: Float64Array, b: Float64Array, c: Float64Array, scalar: number, threads?: number, reps?: number): Promise<number>;
  /** GFLOP/s of the best of `reps` (default 3) n×n double products: OpenBLAS dgemm when linked, else the builtin kernel. */
  gemmGflops(n: number, threads?: number, reps?: number): number;
  gemmGflopsAsync(n: number, threads?: number, reps?: number): Promise<number>;
  readonly cuda: NativeCudaKernels;
  /**
   * Points file descriptor 2 at a temporary file (bindings/stderr_capture.hpp); false when it could not
   * or a capture is open. Optional: a build older than it lacks both.
   */
  stderrCaptureBegin?(): boolean;
  /** Restores file descriptor 2 and returns what was written to it meanwhile; null when none was open. */
  stderrCaptureEnd?(): string | null;
}

export interface NativeLoadResult {
  readonly addon: NativeAddon | null;
  /** Why the addon is unavailable; null when it loaded. */
  readonly reason: string | null;
  /** The file that loaded (or that was tried last). */
  readonly path: string | null;
  /** Where the loaded file came from, for `numkern info`; null when nothing loaded. */
  readonly source: AddonSource | null;
}

export type AddonSource = 'NUMKERN_NATIVE_PATH' | 'prebuild (CUDA)' | 'prebuild' | 'local build';

/**
 * Functions whose absence means the file is a stale or foreign build. A family's own entry points are
 * checked by its kernel list instead (familyExports), so a stale build loses that family, not the addon.
 */
const REQUIRED_EXPORTS = ['info', 'spmv', 'spmvAsync', 'dot', 'axpy', 'nrm2', 'segmentedMoments', 'philox4x32', 'philoxFill', 'triad', 'gemmGflops'] as const;

/** Which of `names` the addon lacks (as functions). */
export function missingExports(addon: object, names: readonly string[]): string[] {
  return names.filter((k) => typeof Reflect.get(addon, k) !== 'function');
}

/**
 * The addon as a family's typed entry points (`T`, declared in that family's backend file), after
 * checking that every one of `names` is there. Throws the reason otherwise, which the engine records
 * as the family being unavailable on the backend.
 */
export function familyExports<T extends object>(addon: NativeAddon, family: string, names: readonly (keyof T & string)[]): NativeAddon & T {
  if (typeof addon !== 'object' || addon === null) throw new Error(`no addon to take the ${family} entry points from`);
  if (hasExports<T>(addon, names)) return addon;
  throw new Error(`addon lacks the ${family} entry points ${missingExports(addon, names).join(', ')} (stale build? run npm run rebuild:native)`);
}

function hasExports<T extends object>(addon: NativeAddon, names: readonly (keyof T & string)[]): addon is NativeAddon & T {
  return missingExports(addon, names).length === 0;
}

export const packageRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The prebuild folder for this platform (prebuildify naming); scripts/prebuilds.mjs writes it. */
export function prebuildDir(root: string = packageRoot): string {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
}

/** An NVIDIA driver is installed and has created a device node: only then is the CUDA build worth loading. */
export function nvidiaDevicePresent(): boolean {
  return process.platform === 'linux' && (existsSync('/dev/nvidia0') || existsSync('/dev/dxg'));
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

function candidates(root: string): { file: string; source: AddonSource }[] {
  const pre = prebuildDir(root);
  const prebuilds: { file: string; source: AddonSource }[] = [
    ...(nvidiaDevicePresent() ? [{ file: path.join(pre, 'numkern.cuda.napi.node'), source: 'prebuild (CUDA)' as const }] : []),
    { file: path.join(pre, 'numkern.napi.node'), source: 'prebuild' },
  ];
  const local = { file: path.join(root, 'build', 'Release', 'numkern.node'), source: 'local build' as const };
  const newestPrebuild = Math.max(...prebuilds.map((p) => mtime(p.file)));
  return mtime(local.file) > newestPrebuild && newestPrebuild >= 0 ? [local, ...prebuilds] : [...prebuilds, local];
}

function tryLoad(file: string): { addon: NativeAddon | null; reason: string | null } {
  try {
    const mod = createRequire(import.meta.url)(file) as Partial<NativeAddon> | null;
    const missing = mod ? missingExports(mod, REQUIRED_EXPORTS) : [...REQUIRED_EXPORTS];
    if (missing.length > 0 || typeof mod?.cuda !== 'object') {
      const what = missing.length > 0 ? missing.join(', ') : 'cuda';
      return { addon: null, reason: `addon at ${file} lacks ${what} (stale build? run npm run rebuild:native)` };
    }
    return { addon: mod as NativeAddon, reason: null };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { addon: null, reason: `addon at ${file} failed to load: ${msg}` };
  }
}

/** Loads without caching: tests use it with a changed environment. */
export function loadNativeUncached(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot): NativeLoadResult {
  const override = env.NUMKERN_NATIVE_PATH;
  if (override) {
    const file = path.resolve(override);
    if (!existsSync(file)) return { addon: null, reason: `NUMKERN_NATIVE_PATH=${override}: no such file`, path: file, source: null };
    const r = tryLoad(file);
    return { ...r, path: file, source: r.addon ? 'NUMKERN_NATIVE_PATH' : null };
  }
  let lastFailure: NativeLoadResult | null = null;
  for (const { file, source } of candidates(root)) {
    if (!existsSync(file)) continue;
    const r = tryLoad(file);
    if (r.addon) return { ...r, path: file, source };
    lastFailure = { ...r, path: file, source: null };
  }
  return lastFailure ?? {
    addon: null,
    reason: 'addon not built: build/Release/numkern.node missing (run npm run build:native)',
    path: null,
    source: null,
  };
}

let cached: NativeLoadResult | null = null;

/** Loads once per process (a native module cannot be unloaded anyway) and remembers the outcome. */
export function loadNative(): NativeLoadResult {
  cached ??= loadNativeUncached();
  return cached;
}
