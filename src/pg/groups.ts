/**
 * Input handling shared by the pg host-side helpers (advantages, SPO, selection, shard statistics):
 * per-sample scalars, groups from a group size or per-sample ids, per-sample token counts and the
 * token layout of src/pg/ops.ts. Everything here runs before any computation, so a bad argument
 * fails with a NumkernError naming it and nothing half-done (docs/pg-advantages.md §1).
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { checkAttached, describe } from '../core/validate.js';
import type { PgConvention } from './conventions.js';

/** Per-sample (or per-token) numbers: computed in f64 whatever the input; outputs follow Float32Array inputs. */
export type ScalarArray = Float32Array | Float64Array | readonly number[];
/** The output type for an input: Float32Array stays f32, Float64Array and number[] give Float64Array. */
export type OutputOf<T> = T extends Float32Array ? Float32Array : Float64Array;
/** A group size (consecutive samples form a group) or the group id of every sample, in any order. */
export type GroupSpec = number | Int32Array;
/** Whose defaults and edge cases to follow (docs/pg-advantages.md §2.1); the policy loss's type. */
export type { PgConvention };

export interface ResolvedGroups {
  readonly count: number;
  /** The group of each sample. */
  readonly ids: Int32Array;
  /** Members of group g are members[start[g] .. start[g + 1]), in increasing sample index. */
  readonly start: Int32Array;
  readonly members: Int32Array;
}

/** A token layout as in PgLayout, with lengths optional (ragged: the whole segment) and the mask optional. */
export interface TokenLayoutInput {
  readonly offsets: Int32Array;
  readonly lengths?: Int32Array | null;
  readonly mask?: Uint8Array | null;
}

export interface TokenLayout {
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly mask: Uint8Array | null;
  readonly nSeq: number;
  readonly total: number;
}

const MAX_INT32 = 2 ** 31 - 1;

/** A finite f64 copy of a scalar array (the copy also shields the computation from a caller mutating its input). */
export function readScalars(x: unknown, name: string, n?: number): Float64Array {
  if (x instanceof Float64Array || x instanceof Float32Array) {
    checkAttached(x, name);
    if (n !== undefined && x.length !== n) fail('E_SHAPE', name, `expected length ${n}, got ${x.length}`);
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      // v − v is NaN exactly for NaN and ±Infinity.
      if (v - v !== 0) fail('E_NONFINITE', name, `element ${i} is ${v}`);
      out[i] = v;
    }
    return out;
  }
  if (Array.isArray(x)) {
    if (n !== undefined && x.length !== n) fail('E_SHAPE', name, `expected length ${n}, got ${x.length}`);
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v: unknown = x[i];
      if (typeof v !== 'number') fail('E_DTYPE', `${name}[${i}]`, `expected a number, got ${describe(v)}`);
      if (v - v !== 0) fail('E_NONFINITE', name, `element ${i} is ${v}`);
      out[i] = v;
    }
    return out;
  }
  fail('E_DTYPE', name, `expected a Float64Array, Float32Array or number[], got ${describe(x)}`);
}

/**
 * A per-token array over a layout: every position is checked for finiteness, or only the active ones
 * when `activeOnly` (inactive positions then read as 0, since they never enter a result).
 */
export function readTokenScalars(x: unknown, name: string, layout: TokenLayout, activeOnly: boolean): Float64Array {
  if (!activeOnly) return readScalars(x, name, layout.total);
  if (!(x instanceof Float64Array || x instanceof Float32Array || Array.isArray(x))) {
    fail('E_DTYPE', name, `expected a Float64Array, Float32Array or number[], got ${describe(x)}`);
  }
  if (ArrayBuffer.isView(x)) checkAttached(x, name);
  const src = x as ArrayLike<unknown>;
  if (src.length !== layout.total) fail('E_SHAPE', name, `expected length ${layout.total}, got ${src.length}`);
  const out = new Float64Array(layout.total);
  forEachActive(layout, (k) => {
    const v = src[k];
    if (typeof v !== 'number') fail('E_DTYPE', `${name}[${k}]`, `expected a number, got ${describe(v)}`);
    if (v - v !== 0) fail('E_NONFINITE', name, `element ${k} is ${v}`);
    out[k] = v;
  });
  return out;
}

/** A zeroed output of n elements in the dtype an input implies (f32 stays f32, everything else f64). */
export function allocOutput<T extends ScalarArray>(like: T, n: number): OutputOf<T> {
  return (like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n)) as OutputOf<T>;
}

/** Copies f64 values into the output dtype of `like`. */
export function toOutput<T extends ScalarArray>(like: T, values: Float64Array): OutputOf<T> {
  const out = allocOutput(like, values.length) as FloatArray;
  out.set(values);
  return out as OutputOf<T>;
}

/**
 * Finite inputs can still overflow f64 sums (|x| near 1e308) or the f32 output (|a| above 3.4e38):
 * a result with a non-finite value is refused rather than returned as NaN or Infinity.
 */
export function ensureFinite(values: ArrayLike<number>, name: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) fail('E_RANGE', name, `magnitudes too large: the result overflows (entry ${i} would be ${v}); rescale the input`);
  }
}

/**
 * Groups from a size or from per-sample ids in [0, numGroups). numGroups defaults to max id + 1 (for a
 * size: n / size). Unless allowEmpty (a shard of a larger batch), every group must have a member:
 * ids are dense, so an id that never occurs is an empty group and E_SHAPE.
 */
export function resolveGroups(
  groups: unknown, n: number, name: string,
  options: { numGroups?: unknown; numGroupsName?: string; allowEmpty?: boolean; firstGroup?: number } = {},
): ResolvedGroups {
  const ngName = options.numGroupsName ?? 'options.numGroups';
  const allowEmpty = options.allowEmpty === true;
  let count: number;
  const ids = new Int32Array(n);
  if (typeof groups === 'number') {
    const size = readInt(groups, undefined, name, 1, MAX_INT32);
    if (n % size !== 0) fail('E_SHAPE', name, `${n} samples do not split into groups of ${size}`);
    const first = options.firstGroup ?? 0;
    const local = n / size;
    count = options.numGroups === undefined ? first + local : readInt(options.numGroups, undefined, ngName, 1, MAX_INT32);
    if (first + local > count) fail('E_RANGE', ngName, `${local} groups of ${size} starting at group ${first} need numGroups ≥ ${first + local}, got ${count}`);
    if (!allowEmpty && count !== local) fail('E_SHAPE', ngName, `${n} samples in groups of ${size} make ${local} groups, not ${count}`);
    for (let i = 0; i < n; i++) ids[i] = first + Math.floor(i / size);
  } else if (groups instanceof Int32Array) {
    checkAttached(groups, name);
    if (groups.length !== n) fail('E_SHAPE', name, `expected one group id per sample (${n}), got ${groups.length}`);
    let max = -1;
    for (let i = 0; i < n; i++) {
      const g = groups[i]!;
      if (g < 0) fail('E_RANGE', name, `element ${i} is ${g}; group ids must be ≥ 0`);
      if (g > max) max = g;
    }
    count = options.numGroups === undefined ? max + 1 : readInt(options.numGroups, undefined, ngName, 0, MAX_INT32);
    if (max >= count) fail('E_RANGE', name, `element ${groups.indexOf(max)} is ${max}, outside [0, ${count}) (numGroups = ${count})`);
    // A dense batch of n samples cannot fill more than n groups: refuse before allocating per-group arrays.
    if (!allowEmpty && count > n) fail('E_SHAPE', ngName, `${count} groups cannot all be non-empty with ${n} samples`);
    ids.set(groups);
  } else {
    fail('E_DTYPE', name, `expected a group size (integer) or an Int32Array of group ids, got ${describe(groups)}`);
  }
  const start = new Int32Array(count + 1);
  for (let i = 0; i < n; i++) start[ids[i]! + 1]!++;
  for (let g = 0; g < count; g++) {
    if (!allowEmpty && start[g + 1] === 0) fail('E_SHAPE', name, `group ${g} has no samples (ids must cover 0..${count - 1})`);
    start[g + 1]! += start[g]!;
  }
  const fill = start.slice(0, count);
  const members = new Int32Array(n);
  for (let i = 0; i < n; i++) members[fill[ids[i]!]!++] = i;
  return { count, ids, start, members };
}

/** Per-sample token counts (non-negative integers) as an Int32Array copy. */
export function readCounts(x: unknown, name: string, n: number): Int32Array {
  if (!(x instanceof Int32Array) && !Array.isArray(x)) fail('E_DTYPE', name, `expected an Int32Array or number[], got ${describe(x)}`);
  if (ArrayBuffer.isView(x)) checkAttached(x, name);
  const src = x as ArrayLike<unknown>;
  if (src.length !== n) fail('E_SHAPE', name, `expected length ${n}, got ${src.length}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = src[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) fail('E_DTYPE', `${name}[${i}]`, `expected an integer, got ${describe(v)}`);
    if (v < 0 || v > MAX_INT32) fail('E_RANGE', name, `element ${i} is ${v}; token counts must lie in [0, 2^31)`);
    out[i] = v;
  }
  return out;
}

/**
 * The token layout of src/pg/ops.ts (PgLayout): sequence i owns [offsets[i], offsets[i+1]); position
 * offsets[i] + t is active iff t < lengths[i] and the mask (if any) is non-zero there.
 */
export function readLayout(layout: unknown, name: string): TokenLayout {
  if (typeof layout !== 'object' || layout === null) fail('E_DTYPE', name, `expected {offsets, lengths?, mask?}, got ${describe(layout)}`);
  const l = layout as TokenLayoutInput;
  const offsets = l.offsets;
  if (!(offsets instanceof Int32Array)) fail('E_DTYPE', `${name}.offsets`, `expected an Int32Array, got ${describe(offsets)}`);
  checkAttached(offsets, `${name}.offsets`);
  if (offsets.length < 1) fail('E_SHAPE', `${name}.offsets`, 'needs at least one entry (0)');
  if (offsets[0] !== 0) fail('E_SHAPE', `${name}.offsets`, `offsets[0] must be 0, got ${offsets[0]}`);
  const nSeq = offsets.length - 1;
  for (let i = 0; i < nSeq; i++) {
    if (offsets[i + 1]! < offsets[i]!) fail('E_SHAPE', `${name}.offsets`, `decreases at sequence ${i} (${offsets[i]} > ${offsets[i + 1]})`);
  }
  const total = offsets[nSeq]!;
  let lengths: Int32Array;
  if (l.lengths === undefined || l.lengths === null) {
    lengths = new Int32Array(nSeq);
    for (let i = 0; i < nSeq; i++) lengths[i] = offsets[i + 1]! - offsets[i]!;
  } else {
    if (!(l.lengths instanceof Int32Array)) fail('E_DTYPE', `${name}.lengths`, `expected an Int32Array, got ${describe(l.lengths)}`);
    checkAttached(l.lengths, `${name}.lengths`);
    if (l.lengths.length !== nSeq) fail('E_SHAPE', `${name}.lengths`, `expected length ${nSeq}, got ${l.lengths.length}`);
    lengths = l.lengths.slice();
    for (let i = 0; i < nSeq; i++) {
      const cap = offsets[i + 1]! - offsets[i]!;
      if (lengths[i]! < 0 || lengths[i]! > cap) fail('E_RANGE', `${name}.lengths`, `element ${i} is ${lengths[i]}, outside [0, ${cap}] (the segment width)`);
    }
  }
  let mask: Uint8Array | null = null;
  if (l.mask !== undefined && l.mask !== null) {
    if (!(l.mask instanceof Uint8Array)) fail('E_DTYPE', `${name}.mask`, `expected a Uint8Array or null, got ${describe(l.mask)}`);
    checkAttached(l.mask, `${name}.mask`);
    if (l.mask.length !== total) fail('E_SHAPE', `${name}.mask`, `expected length offsets[nSeq] = ${total}, got ${l.mask.length}`);
    mask = l.mask.slice();
  }
  return { offsets: offsets.slice(), lengths, mask, nSeq, total };
}

/** Calls f(k, i, t) for every active position k = offsets[i] + t, in increasing k. */
export function forEachActive(layout: TokenLayout, f: (k: number, i: number, t: number) => void): void {
  const { offsets, lengths, mask, nSeq } = layout;
  for (let i = 0; i < nSeq; i++) {
    const o = offsets[i]!;
    for (let t = 0; t < lengths[i]!; t++) {
      if (mask === null || mask[o + t] !== 0) f(o + t, i, t);
    }
  }
}

/** Active positions of each sequence (L_i = Σ_t m_it in the reference's notation). */
export function activeCounts(layout: TokenLayout): Int32Array {
  const out = new Int32Array(layout.nSeq);
  forEachActive(layout, (_k, i) => { out[i]!++; });
  return out;
}

/**
 * Per-sequence mean of a per-token array over the active positions, 0 for a sequence with none (verl's
 * masked_mean divides by L + 1e-8, which is 0 there too). Used for the mean old log-prob of
 * "Rewarding the Unlikely" and the mean entropy of GTPO.
 */
export function sequenceMeans(values: ScalarArray, layout: TokenLayoutInput, options?: { ignoreInactiveNonFinite?: boolean }): Float64Array {
  const lay = readLayout(layout, 'layout');
  const opts = readOptions<{ ignoreInactiveNonFinite?: boolean }>(options, 'options');
  const ignore = readBool(opts.ignoreInactiveNonFinite, false, 'options.ignoreInactiveNonFinite');
  const v = readTokenScalars(values, 'values', lay, ignore);
  const sum = new Float64Array(lay.nSeq);
  const cnt = new Float64Array(lay.nSeq);
  forEachActive(lay, (k, i) => { sum[i]! += v[k]!; cnt[i]!++; });
  for (let i = 0; i < lay.nSeq; i++) sum[i] = cnt[i]! > 0 ? sum[i]! / cnt[i]! : 0;
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Option readers: undefined takes the default; anything else must be of the right type and range.

export function readInt(v: unknown, def: number | undefined, name: string, lo: number, hi: number): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail('E_DTYPE', name, `expected an integer, got ${describe(v)}`);
  if (v < lo || v > hi) fail('E_RANGE', name, `expected ${lo} ≤ ${name} ≤ ${hi}, got ${v}`);
  return v;
}

/** A finite number in the interval described by lo/hi (open ends when loOpen/hiOpen). */
export function readNumber(
  v: unknown, def: number | undefined, name: string,
  range: { lo?: number; hi?: number; loOpen?: boolean; hiOpen?: boolean } = {},
): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'number') fail('E_DTYPE', name, `expected a number, got ${describe(v)}`);
  if (!Number.isFinite(v)) fail('E_NONFINITE', name, `expected a finite number, got ${v}`);
  const { lo, hi, loOpen, hiOpen } = range;
  const below = lo !== undefined && (loOpen ? v <= lo : v < lo);
  const above = hi !== undefined && (hiOpen ? v >= hi : v > hi);
  if (below || above) {
    const left = lo === undefined ? '(−∞' : `${loOpen ? '(' : '['}${lo}`;
    const right = hi === undefined ? '∞)' : `${hi}${hiOpen ? ')' : ']'}`;
    fail('E_RANGE', name, `expected a value in ${left}, ${right}, got ${v}`);
  }
  return v;
}

export function readBool(v: unknown, def: boolean, name: string): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') fail('E_DTYPE', name, `expected a boolean, got ${describe(v)}`);
  return v;
}

export function readChoice<T extends string>(v: unknown, allowed: readonly T[], def: T | undefined, name: string): T {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail('E_RANGE', name, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  }
  return v as T;
}

/** The options object itself: undefined reads as {}, anything but a plain object is E_DTYPE. */
export function readOptions<T extends object>(o: unknown, name: string): Partial<T> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('E_DTYPE', name, `expected an object, got ${describe(o)}`);
  return o as Partial<T>;
}

export function readConvention(v: unknown, name = 'options.convention'): PgConvention {
  return readChoice(v, ['verl', 'trl'] as const, 'verl', name);
}
