import { NumkernError } from '../../core/errors.js';

/** The argument path an addon message starts with: "x", "rowPtr, colIdx", "systems[2].op.colIdx". */
const ARGUMENT = /^([A-Za-z_$][\w$]*(?:\[\d+\]|\.[A-Za-z_$][\w$]*)*)[:,]/;

/**
 * The addon throws TypeError/RangeError naming the argument ("colIdx: ...", "systems[0].op.colIdx: ...").
 * The façade validates first, so reaching one means a caller bypassed it or changed an array during an
 * async call (a detached buffer is a TypeError too); either way the caller gets the stable NumkernError
 * code for it, judged by the last name in the path.
 */
export function mapNativeError(e: unknown): unknown {
  // A kernel's scratch that the machine could not give (the glue passes std::bad_alloc on as its what()).
  if (e instanceof Error && /\bbad_alloc\b/.test(e.message)) {
    return new NumkernError('E_RANGE', `the native kernel could not allocate its working memory (${e.message}); the call is too large for this machine`, { cause: e });
  }
  if (!(e instanceof TypeError) && !(e instanceof RangeError)) return e;
  const argument = ARGUMENT.exec(e.message)?.[1];
  const last = argument?.replace(/(\[\d+\])+$/, '').split('.').pop();
  const code = e instanceof TypeError ? 'E_DTYPE' : last === 'rowPtr' || last === 'colIdx' ? 'E_CSR_INVALID' : 'E_SHAPE';
  return new NumkernError(code, e.message, { argument, cause: e });
}

/** Runs an addon call, mapping its argument errors to NumkernError. */
export async function guarded<R>(call: () => R | Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    throw mapNativeError(e);
  }
}
