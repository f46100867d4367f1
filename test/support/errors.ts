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
