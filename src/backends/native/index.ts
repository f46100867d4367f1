/**
 * The native backend: C++17 kernels (native/src) through the N-API addon (bindings/). This file only
 * loads the addon and describes it; each family lists its kernels in its own file (./linalg.ts,
 * ./relax.ts), wired by src/families.ts.
 * A call on the libuv pool works on copies of its arrays (bindings/args.hpp: JS may detach them
 * meanwhile), so a family takes the pool only for work that outlasts its copies: linalg's one-pass
 * kernels run on the calling thread in slices (./linalg.ts), relax solves in native sessions (./relax.ts).
 */
import { PRIORITY, type BackendFactory, type BackendInstance } from '../../core/backend.js';
import { loadNative, type NativeAddon, type NativeInfo } from '../addon/load.js';

/** What every family's native kernel list (./linalg.ts, ./relax.ts, ...) is built from. */
export interface NativeHandle {
  readonly addon: NativeAddon;
  /** Threads requested for this context (0 = all hardware threads; the addon caps any request). */
  readonly threads: number;
  /** Runs fn when the context is disposed: a family's native memory kept for the context's later calls. */
  readonly onDispose?: (fn: () => void) => void;
}

const CLONE_NAMES: Record<string, string> = { 'x86-64-v4': 'AVX-512 (x86-64-v4)', avx2: 'AVX2', default: 'baseline' };

/** 'C++17, 2 threads, OpenMP, OpenBLAS 0.3.21, AVX-512 (x86-64-v4) clone' */
export function describeNative(info: NativeInfo, threads: number): string {
  const blas = info.blas ? info.blas.split(' ').slice(0, 2).join(' ') : 'builtin kernels (no BLAS)';
  return [
    'C++17',
    `${threads} thread${threads === 1 ? '' : 's'}`,
    info.openmp ? 'OpenMP' : 'std::thread',
    blas,
    `${CLONE_NAMES[info.simd] ?? info.simd} clone`,
  ].join(', ');
}

/**
 * C heap touched once per process when the first native context is made (numkern/core.hpp warm_heap):
 * a page the allocator hands out for the first time costs a fault, ~10 µs on the development VM, and
 * a process's first solve of a few-thousand-row matrix met 50–150 of them in its copies and work vectors
 * (fem2d-4k SSOR-CG: first solve 1.16–2.02×, median 1.48×, a warm one; with 3 MiB warmed 1.21–1.35×,
 * median 1.31×, for ~7 ms more in createContext). The pages stay in the allocator for later use.
 */
const WARM_HEAP_BYTES = 3 << 20;
let heapWarmed = false;

export const nativeBackend: BackendFactory<NativeHandle> = {
  name: 'native',
  async init(options): Promise<BackendInstance<NativeHandle>> {
    const { addon, reason } = loadNative();
    if (!addon) throw new Error(reason ?? 'addon not loaded');
    const info = addon.info();
    if (!heapWarmed) {
      heapWarmed = true;
      addon.warmHeap?.(WARM_HEAP_BYTES);
    }
    // 0 = all hardware threads; the addon caps any request at the hardware count.
    const requested = Number.isFinite(options.threads) && options.threads >= 1 ? Math.min(Math.floor(options.threads), 65536) : 0;
    const threads = requested === 0 ? info.threads : Math.min(requested, info.threads);
    const disposers: (() => void)[] = [];
    return {
      name: 'native',
      priority: PRIORITY.native,
      handle: { addon, threads: requested, onDispose: (fn) => void disposers.push(fn) },
      info: {
        description: describeNative(info, threads),
        threads,
        blas: info.blas,
        openmp: info.openmp,
        simd: info.simd,
        version: info.version,
      },
      // The addon stays loaded for the life of the process; what a context owns, its families registered.
      dispose: () => {
        for (const release of disposers.splice(0)) release();
      },
    };
  },
};
