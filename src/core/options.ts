import type { KernelControl } from '../core/backend.js';
import type { BackendName } from '../core/types.js';
import { fail } from '../core/errors.js';
import { checkOptions, checkSignal, describe } from '../core/validate.js';
import { BACKEND_NAMES } from '../core/types.js';

/** Options every op accepts. */
export interface OpOptions extends KernelControl {
  /** Pin a backend ('auto' = best available). A pinned backend that can't run the op falls back (recorded) unless strict. */
  backend?: BackendName | 'auto';
  /** Throw E_BACKEND_UNAVAILABLE instead of falling back; default: the context's setting. */
  strict?: boolean;
  /** Scan inputs for NaN/±Inf and throw E_NONFINITE (default true). Turn off only for trusted hot loops. */
  checkFinite?: boolean;
}

/** Validates the options shared by every op; returns them typed. */
export function checkOpOptions<T extends OpOptions>(o: unknown, name = 'options'): Partial<T> {
  const opts = checkOptions<T>(o, name);
  if (opts.backend !== undefined && opts.backend !== 'auto' && !BACKEND_NAMES.includes(opts.backend)) {
    fail('E_RANGE', `${name}.backend`, `expected 'auto' or one of ${BACKEND_NAMES.join(', ')}, got ${describe(opts.backend)}`);
  }
  if (opts.strict !== undefined && typeof opts.strict !== 'boolean') fail('E_DTYPE', `${name}.strict`, `expected a boolean, got ${describe(opts.strict)}`);
  if (opts.checkFinite !== undefined && typeof opts.checkFinite !== 'boolean') fail('E_DTYPE', `${name}.checkFinite`, `expected a boolean, got ${describe(opts.checkFinite)}`);
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') fail('E_DTYPE', `${name}.onProgress`, `expected a function, got ${describe(opts.onProgress)}`);
  checkSignal(opts.signal, `${name}.signal`);
  return opts;
}
