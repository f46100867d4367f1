import { NumkernError } from '../../src/core/errors.js';

/** 'ok' when f returns, `${code} ${message}` when it throws a NumkernError; any other throw propagates. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.message}`;
    throw e;
  }
  return 'ok';
}

/** `${name}: ${message}` of whatever f throws (an addon's TypeError or RangeError, say), or null when it returns. */
export function thrown(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
}
