/**
 * One GPU bench case (bench/gpu): each family lists its cases in bench/gpu/<family>.ts as
 * `export const cases: GpuCase[]`, and the runner (bench/gpu/run.ts) times every case on each GPU
 * backend present (cuda, webgpu) after checking its result against the CPU one (native, else js).
 * Rates are reported as a fraction of the device-to-device copy bandwidth the runner measures first.
 */
import type { Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';

export interface PreparedCase {
  /** Runs the op once, pinned (strict) to `backend`; returns what check() compares. */
  run(backend: BackendName): Promise<unknown>;
  /** null when `result` agrees with the CPU `reference` within the case's stated tolerance; else why not. */
  check(result: unknown, reference: unknown): string | null;
}

export interface GpuCase {
  family: 'linalg' | 'relax' | 'pg' | 'frechet' | 'sketch';
  name: string;
  dtype: 'f32' | 'f64';
  /** Bytes a bandwidth-bound implementation must move, each byte read or written once. */
  bytes: number;
  /** Builds the inputs (deterministic) in `ctx`; called once per case. */
  prepare(ctx: Context): Promise<PreparedCase>;
}
