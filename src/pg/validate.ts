/**
 * Input checks of the pg family. Each throws a NumkernError whose message starts with the argument's
 * name, before any kernel runs. Finiteness of the per-token arrays and of the forward's logits is the
 * one check left to the kernels (fused into their single pass, docs/pg.md §9); the façade turns their
 * report into E_NONFINITE. The backward reports nothing, so its façade scans (src/pg/logprobs.ts).
 */
import { fail } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { DType, FloatArray } from '../core/types.js';
import { checkAttached, checkFloatArray, checkLength, checkSameDtype, describe } from '../core/validate.js';

/** Largest array length the Int32 offsets of src/pg/ops.ts can address. */
export const MAX_POSITIONS = 2 ** 31 - 1;

/** Options every pg op takes: dispatch only (the finiteness check is fused, see checkPgOpOptions). */
export type PgOpOptions = Omit<OpOptions, 'checkFinite'>;

/**
 * OpOptions plus the op's own keys; an unknown key is an error (a misspelt `aggregation` would
 * otherwise run the default silently). `checkFinite` is refused where the check is fused into the
 * kernel: it costs nothing there, and outputs computed from non-finite inputs are never returned.
 */
export function checkPgOpOptions<T extends object>(o: unknown, own: readonly string[], opts: { allowCheckFinite?: boolean } = {}): Partial<T> {
  const options = checkOpOptions(o) as Partial<OpOptions>;
  const allowed = ['backend', 'strict', 'signal', 'onProgress', ...(opts.allowCheckFinite ? ['checkFinite'] : []), ...own];
  if (!opts.allowCheckFinite && options.checkFinite !== undefined) {
    fail('E_RANGE', 'options.checkFinite', 'this op checks finiteness inside its one pass over the data at no extra cost, so the check cannot be turned off (see ignoreMaskedNonFinite for masked positions)');
  }
  checkKeys(options, allowed, 'options');
  return options as Partial<T>;
}

export function checkKeys(o: object, allowed: readonly string[], name: string): void {
  for (const k of Object.keys(o)) {
    if ((o as Record<string, unknown>)[k] !== undefined && !allowed.includes(k)) fail('E_RANGE', `${name}.${k}`, `unknown option; expected one of ${allowed.join(', ')}`);
  }
}

/** A plain options object (or undefined when optional). */
export function checkObject(o: unknown, name: string): Record<string, unknown> {
  if (typeof o !== 'object' || o === null || Array.isArray(o) || ArrayBuffer.isView(o)) fail('E_DTYPE', name, `expected an object, got ${describe(o)}`);
  return o as Record<string, unknown>;
}

/** A float array of the call's dtype and the given length. */
export function checkOperand(a: unknown, dtype: DType, n: number, name: string): FloatArray {
  const v = checkFloatArray(a, name);
  checkSameDtype(dtype, v, name);
  checkLength(v, n, name);
  return v;
}

/** Int32Array, or an array of integers, within [lo, hi]; returned as an Int32Array (never copied when already one). */
export function checkIntegers(a: unknown, name: string, lo = 0, hi = MAX_POSITIONS): Int32Array {
  let out: Int32Array;
  if (a instanceof Int32Array) {
    checkAttached(a, name);
    out = a;
  } else if (Array.isArray(a)) {
    out = new Int32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      const v: unknown = a[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) fail('E_DTYPE', name, `element ${i} is ${describe(v)}, expected an integer`);
      if (v < lo || v > hi) fail('E_RANGE', name, `element ${i} is ${v}, outside [${lo}, ${hi}]`);
      out[i] = v;
    }
    return out;
  } else {
    fail('E_DTYPE', name, `expected an Int32Array or an array of integers, got ${describe(a)}`);
  }
  for (let i = 0; i < out.length; i++) {
    if (out[i]! < lo || out[i]! > hi) fail('E_RANGE', name, `element ${i} is ${out[i]}, outside [${lo}, ${hi}]`);
  }
  return out;
}

export function checkMask(a: unknown, n: number, name: string): Uint8Array {
  if (!(a instanceof Uint8Array)) fail('E_DTYPE', name, `expected a Uint8Array (0 = masked), got ${describe(a)}`);
  checkAttached(a, name);
  checkLength(a, n, name);
  return a;
}

export function checkBoolean(v: unknown, name: string): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') fail('E_DTYPE', name, `expected a boolean, got ${describe(v)}`);
  return v;
}

/** A number satisfying `ok`, else E_RANGE with `expected` (E_DTYPE for a non-number, E_NONFINITE for NaN). */
export function checkNumber(v: unknown, name: string, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number') fail('E_DTYPE', name, `expected a number, got ${describe(v)}`);
  if (Number.isNaN(v)) fail('E_NONFINITE', name, 'is NaN');
  if (!ok(v)) fail('E_RANGE', name, `expected ${expected}, got ${v}`);
  return v;
}

export const positiveFinite = (x: number): boolean => Number.isFinite(x) && x > 0;
export const positiveInteger = (x: number): boolean => Number.isInteger(x) && x >= 1 && x <= MAX_POSITIONS;

/** One of `choices`, else E_RANGE listing them. */
export function checkChoice<T extends string>(v: unknown, choices: readonly T[], name: string): T {
  if (typeof v !== 'string' || !choices.includes(v as T)) fail('E_RANGE', name, `expected one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(v)}`);
  return v as T;
}

/** Targets in [0, vocab): a target outside would read another row's logit (or past the array). */
export function checkTargets(targets: unknown, vocab: number, name = 'targets'): Int32Array {
  const t = checkIntegers(targets, name, -(2 ** 31), MAX_POSITIONS);
  for (let i = 0; i < t.length; i++) {
    if (t[i]! < 0 || t[i]! >= vocab) fail('E_RANGE', name, `element ${i} is ${t[i]}, outside [0, ${vocab}) (vocab = ${vocab})`);
  }
  return t;
}

/** O(n) scan for the small per-row arrays the backward takes (the logits scan is optional, see logprobs.ts). */
export function checkFiniteArray(a: FloatArray, name: string): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) nonFinite(name, i, a[i]!);
}

/** E_NONFINITE naming the array and its first non-finite index, with where that index sits. */
export function nonFinite(name: string, index: number, value: number, where = ''): never {
  fail('E_NONFINITE', name, `element ${index}${where} is ${value}; no output is returned for non-finite input`);
}
