/**
 * The kernel-level contract every backend implements, one entry per op. Core knows no family's ops:
 * each family declares its own in `src/<family>/ops.ts` by augmenting this interface
 * (`declare module '../core/ops.js' { interface OpTable { … } }`), so the op table is composed from
 * the families listed in src/families.ts.
 *
 * Arguments arrive validated (shapes, dtypes, structure, finiteness) by the family's façade; outputs
 * are preallocated by the façade in the input dtype and written in place, so results are always plain
 * typed arrays the caller owns. All float arrays of one call share one dtype.
 */

export interface OpTable {}

export type OpName = keyof OpTable & string;
export type OpArgs<K extends OpName> = OpTable[K] extends { args: infer A } ? A : never;
export type OpResult<K extends OpName> = OpTable[K] extends { result: infer R } ? R : never;
