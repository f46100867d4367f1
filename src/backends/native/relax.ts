/**
 * relaxSolve and relaxSolveBatch on the native backend: the addon's solver sessions on the host
 * (../addon/relax.ts drives them; bindings/relax.cc and native/src/relax* run them).
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { guarded } from '../addon/errors.js';
import { nativeRelaxSolve, nativeRelaxSolveBatch, PlainCopies, refuse, relaxAddon } from '../addon/relax.js';
import type { NativeHandle } from './index.js';

export { relaxAddon, STATE } from '../addon/relax.js';

/** The relax family's native kernels, f32 and f64 (f32 widened to f64 for the iteration). */
export function relaxKernels({ addon, threads, onDispose }: NativeHandle): AnyKernel[] {
  const relax = relaxAddon(addon);
  const plain = new PlainCopies(relax);
  onDispose?.(() => plain.release());
  const dtypes = ['f32', 'f64'] as const;
  return [
    kernel({ op: 'relaxSolve', dtypes, accepts: (args) => refuse(args.method), run: (args, ctl) => guarded(() => nativeRelaxSolve(relax, threads, args, ctl, plain)) }),
    kernel({
      op: 'relaxSolveBatch',
      dtypes,
      accepts: (args) => refuse(args.options.method),
      run: (args, ctl) => guarded(() => nativeRelaxSolveBatch(relax, threads, args, ctl)),
    }),
  ];
}
