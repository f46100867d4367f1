/**
 * Every failure numkern reports on purpose is a NumkernError with a stable `code`.
 * Codes are part of the public API: callers switch on them, messages may improve.
 */
export type ErrorCode =
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_NONFINITE'
  | 'E_CSR_INVALID'
  | 'E_ZERO_DIAGONAL'
  | 'E_RANGE'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_ABORTED'
  | 'E_DEVICE_LOST'
  | 'E_PARSE'
  | 'E_IO';

export class NumkernError extends Error {
  readonly code: ErrorCode;
  /** The argument (or file, or backend) the error is about, when there is one. */
  readonly argument: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { argument?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NumkernError';
    this.code = code;
    this.argument = options?.argument;
  }
}

export function fail(code: ErrorCode, argument: string, message: string): never {
  throw new NumkernError(code, `${argument}: ${message}`, { argument });
}

/** Throws E_ABORTED if the signal has fired; called between kernel launches and sweeps. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new NumkernError('E_ABORTED', `aborted: ${String(signal.reason ?? 'signal fired')}`, { cause: signal.reason });
  }
}
