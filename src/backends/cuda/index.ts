/**
 * The CUDA backend: the addon's CUDA entry points (native/cuda), which reuse the CPU kernels' element
 * logic. Each call copies its operands to the device and back, so every kernel runs on the libuv pool.
 */
import { kernel, PRIORITY, type AnyKernel, type BackendFactory, type BackendInstance } from '../../core/backend.js';
import { NumkernError } from '../../core/errors.js';
import { loadNative, type NativeCudaError, type NativeCudaKernels } from '../native/load.js';
import { mapNativeError } from '../native/index.js';

/**
 * Auto dispatch sends smaller problems elsewhere: below this a host-to-device round trip costs more than
 * the whole kernel on the CPU. Conservative until bench/ measures it on a GPU machine.
 */
export const CUDA_MIN_SIZE = 1 << 18;

function cudaKernels(cuda: NativeCudaKernels, onLost: (reason: string) => void): AnyKernel[] {
  const guarded = async <R>(call: () => Promise<R>): Promise<R> => {
    try {
      return await call();
    } catch (e) {
      const err = e as NativeCudaError;
      if (err instanceof Error && err.deviceLost) {
        onLost(err.message);
        throw new NumkernError('E_DEVICE_LOST', err.message, { argument: 'cuda', cause: e });
      }
      throw mapNativeError(e);
    }
  };
  const dtypes = ['f32', 'f64'] as const;
  const minSize = CUDA_MIN_SIZE;
  return [
    kernel({ op: 'spmv', dtypes, minSize, run: ({ A, x, y }) => guarded(() => cuda.spmvAsync(A.rowPtr, A.colIdx, A.values, x, y)) }),
    kernel({ op: 'dot', dtypes, minSize, run: ({ x, y }) => guarded(() => cuda.dotAsync(x, y)) }),
    kernel({ op: 'axpy', dtypes, minSize, run: ({ alpha, x, y }) => guarded(() => cuda.axpyAsync(alpha, x, y)) }),
    kernel({ op: 'nrm2', dtypes, minSize, run: ({ x }) => guarded(() => cuda.nrm2Async(x)) }),
    kernel({
      op: 'segmentedMoments',
      dtypes,
      minSize,
      run: ({ values, offsets, ddof, sum, mean, variance }) =>
        guarded(() => cuda.segmentedMomentsAsync(values, offsets, ddof, sum, mean, variance)),
    }),
  ];
}

export const cudaBackend: BackendFactory = {
  name: 'cuda',
  async init(): Promise<BackendInstance> {
    const { addon, reason } = loadNative();
    if (!addon) throw new Error(reason ?? 'addon not built');
    const { cuda } = addon.info();
    // The addon's own words: "built without CUDA (nvcc not found at build time)" or "(NUMKERN_WITH_CUDA=OFF)".
    if (!cuda.compiled) throw new Error(cuda.error ?? 'built without CUDA');
    if (cuda.devices === 0) throw new Error(`no CUDA device: ${cuda.error ?? 'cudaGetDeviceCount reports 0 devices'}`);
    let lost: string | null = null;
    return {
      name: 'cuda',
      priority: PRIORITY.cuda,
      kernels: cudaKernels(addon.cuda, (r) => {
        lost ??= r;
      }),
      info: {
        description: `CUDA, ${cuda.devices} device${cuda.devices === 1 ? '' : 's'} (static cudart)`,
        devices: cuda.devices,
      },
      lostReason: () => lost,
      dispose: () => undefined,
    };
  },
};
