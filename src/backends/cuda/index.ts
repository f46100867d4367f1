/**
 * The CUDA backend: the addon's CUDA entry points (native/cuda), which reuse the CPU kernels' element
 * logic. This file checks for a device and describes it; each family lists its kernels in its own file
 * (./linalg.ts), wired by src/families.ts. Each call copies its operands to the device and back, so
 * every kernel runs on the libuv pool.
 */
import { PRIORITY, type BackendFactory, type BackendInstance } from '../../core/backend.js';
import { NumkernError } from '../../core/errors.js';
import { mapNativeError } from '../addon/errors.js';
import { loadNative, nvidiaDevicePresent, type NativeCudaError, type NativeCudaKernels } from '../addon/load.js';

/**
 * Auto dispatch sends smaller problems elsewhere: below this a host-to-device round trip costs more than
 * the whole kernel on the CPU. Conservative until bench/ measures it on a GPU machine.
 */
export const CUDA_MIN_SIZE = 1 << 18;

/** What every family's CUDA kernel list is built from. */
export interface CudaHandle {
  readonly cuda: NativeCudaKernels;
  /** Runs a device call; a lost device takes the backend out of rotation (E_DEVICE_LOST) and the op retries elsewhere. */
  guarded<R>(call: () => Promise<R>): Promise<R>;
}

export const cudaBackend: BackendFactory<CudaHandle> = {
  name: 'cuda',
  async init(): Promise<BackendInstance<CudaHandle>> {
    const { addon, reason } = loadNative();
    if (!addon) throw new Error(reason ?? 'addon not built');
    const { cuda } = addon.info();
    // The addon's own words: "built without CUDA (nvcc not found at build time)" or "(NUMKERN_WITH_CUDA=OFF)".
    if (!cuda.compiled) throw new Error(cuda.error ?? 'built without CUDA');
    if (cuda.devices === 0) {
      // Without a driver the runtime answers "CUDA driver version is insufficient": true, but the plain
      // fact for a user on a GPU-less machine is that there is no device. Its words stay where a driver is.
      if (!nvidiaDevicePresent()) throw new Error('no CUDA device: no NVIDIA driver or device on this machine');
      throw new Error(`no CUDA device: ${cuda.error ?? 'cudaGetDeviceCount reports 0 devices'}`);
    }
    let lost: string | null = null;
    const guarded = async <R>(call: () => Promise<R>): Promise<R> => {
      try {
        return await call();
      } catch (e) {
        const err = e as NativeCudaError;
        if (err instanceof Error && err.deviceLost) {
          lost ??= err.message;
          throw new NumkernError('E_DEVICE_LOST', err.message, { argument: 'cuda', cause: e });
        }
        throw mapNativeError(e);
      }
    };
    return {
      name: 'cuda',
      priority: PRIORITY.cuda,
      handle: { cuda: addon.cuda, guarded },
      info: {
        description: `CUDA, ${cuda.devices} device${cuda.devices === 1 ? '' : 's'} (static cudart)`,
        devices: cuda.devices,
      },
      lostReason: () => lost,
      dispose: () => undefined,
    };
  },
};

/**
 * A family's CUDA entry points on addon.cuda, typed; throws (the family's reason in `status()`) when the
 * addon lacks one, as a build older than the family's .cu does.
 */
export function cudaExports<T extends object>(cuda: NativeCudaKernels, family: string, names: readonly (keyof T & string)[]): T {
  const have = cuda as unknown as Record<string, unknown>;
  const missing = names.filter((n) => typeof have[n] !== 'function');
  if (missing.length > 0) throw new Error(`addon lacks the CUDA ${family} entry points ${missing.join(', ')} (stale build? run npm run rebuild:native)`);
  return cuda as unknown as T;
}
