/** `ctx.relax`: the relax family as a context namespace (each a one-line hand-off to the family's façade). */
import type { Engine } from '../core/engine.js';
import type { FloatArray, LinearOperator } from '../core/types.js';
import './ops.js';
import type { PreparedOperator, PrepareOptions } from './prepared.js';
import * as s from './solve.js';

export function relaxApi(engine: Engine) {
  s.warmUp(engine);
  return {
    /** Solves A x = b by a relaxation or Krylov method; the whole loop runs on one backend. */
    solve: (A: s.SolveOperand, b: FloatArray, options?: s.SolveOptions): Promise<s.SolveResult> => s.solve(engine, A, b, options),
    /** Validates A once and snapshots it; solves with the handle skip re-validation and reuse what backends derived. */
    prepare: (A: LinearOperator, options?: PrepareOptions): PreparedOperator => s.prepare(A, options),
    /** Many independent systems in one call (one dispatch on a GPU). */
    solveMany: (systems: readonly s.SystemSpec[], options?: s.SolveManyOptions): Promise<s.SolveResult[]> => s.solveMany(engine, systems, options),
  };
}

export type RelaxApi = ReturnType<typeof relaxApi>;
