/**
 * The native backend: C++17 kernels (native/src) through the N-API addon (bindings/).
 * Small calls run synchronously; from ASYNC_CUTOFF elements on they run on the libuv pool so the
 * event loop stays free while the kernel streams through memory.
 */
import { kernel, PRIORITY, type AnyKernel, type BackendFactory, type BackendInstance } from '../../core/backend.js';
import { NumkernError } from '../../core/errors.js';
import { loadNative, type NativeAddon, type NativeInfo } from './load.js';
import { nativeRelaxSolve, nativeRelaxSolveBatch, type NativeRelaxKernels } from './relax.js';

/**
 * Elements (nonzeros + rows for spmv) from which a call goes to the libuv pool. 1e5 doubles stream in
 * about 10 to 50 µs here (reference/platform.md 3), less than a worker round trip costs below that.
 */
export const ASYNC_CUTOFF = 100_000;

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
 * The addon throws TypeError/RangeError naming the argument ("colIdx: ..."). The façade validates first,
 * so reaching one means a caller bypassed it or changed an array during an async call; either way the
 * caller gets the stable NumkernError code for it.
 */
export function mapNativeError(e: unknown): unknown {
  if (!(e instanceof TypeError) && !(e instanceof RangeError)) return e;
  const argument = /^([A-Za-z]+)[:,]/.exec(e.message)?.[1];
  const code = e instanceof TypeError ? 'E_DTYPE' : argument === 'rowPtr' || argument === 'colIdx' ? 'E_CSR_INVALID' : 'E_SHAPE';
  return new NumkernError(code, e.message, { argument, cause: e });
}

async function guarded<R>(call: () => R | Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    throw mapNativeError(e);
  }
}

/** Kernels for every op of src/core/ops.ts, f32 and f64, over one loaded addon. */
export function nativeKernels(addon: NativeAddon, threads: number): AnyKernel[] {
  const big = (n: number): boolean => n >= ASYNC_CUTOFF;
  const dtypes = ['f32', 'f64'] as const;
  const relax = addon as unknown as NativeRelaxKernels;
  return [
    kernel({
      op: 'spmv',
      dtypes,
      run: ({ A, x, y }) =>
        guarded(() =>
          big(A.values.length + A.nrows)
            ? addon.spmvAsync(A.rowPtr, A.colIdx, A.values, x, y, threads)
            : addon.spmv(A.rowPtr, A.colIdx, A.values, x, y, threads),
        ),
    }),
    kernel({
      op: 'dot',
      dtypes,
      run: ({ x, y }) => guarded(() => (big(x.length) ? addon.dotAsync(x, y, threads) : addon.dot(x, y, threads))),
    }),
    kernel({
      op: 'axpy',
      dtypes,
      run: ({ alpha, x, y }) =>
        guarded(() => (big(x.length) ? addon.axpyAsync(alpha, x, y, threads) : addon.axpy(alpha, x, y, threads))),
    }),
    kernel({
      op: 'nrm2',
      dtypes,
      run: ({ x }) => guarded(() => (big(x.length) ? addon.nrm2Async(x, threads) : addon.nrm2(x, threads))),
    }),
    kernel({
      op: 'segmentedMoments',
      dtypes,
      run: ({ values, offsets, ddof, sum, mean, variance }) =>
        guarded(() =>
          big(values.length + offsets.length)
            ? addon.segmentedMomentsAsync(values, offsets, ddof, sum, mean, variance, threads)
            : addon.segmentedMoments(values, offsets, ddof, sum, mean, variance, threads),
        ),
    }),
    // Chunked on the libuv pool with abort and progress between chunks (./relax.ts).
    kernel({ op: 'relaxSolve', dtypes, run: (args, ctl) => guarded(() => nativeRelaxSolve(relax, threads, args, ctl)) }),
    kernel({ op: 'relaxSolveBatch', dtypes, run: (args, ctl) => guarded(() => nativeRelaxSolveBatch(relax, threads, args, ctl)) }),
  ];
}

export const nativeBackend: BackendFactory = {
  name: 'native',
  async init(options): Promise<BackendInstance> {
    const { addon, reason } = loadNative();
    if (!addon) throw new Error(reason ?? 'addon not loaded');
    const info = addon.info();
    // 0 = all hardware threads; the addon caps any request at the hardware count.
    const requested = Number.isFinite(options.threads) && options.threads >= 1 ? Math.min(Math.floor(options.threads), 65536) : 0;
    const threads = requested === 0 ? info.threads : Math.min(requested, info.threads);
    return {
      name: 'native',
      priority: PRIORITY.native,
      kernels: nativeKernels(addon, requested),
      info: {
        description: describeNative(info, threads),
        threads,
        blas: info.blas,
        openmp: info.openmp,
        simd: info.simd,
        version: info.version,
      },
      // The addon stays loaded for the life of the process; a context owns nothing here.
      dispose: () => undefined,
    };
  },
};
