/**
 * Offline comparators for ω tuning (docs/relax.md §4.4): what a learner is measured against.
 * They see every instance in advance or solve it many times, so they are yardsticks, not policies.
 *
 *  - instanceOptimal: per instance, Young's ω*(β) when the Jacobi radius β = ρ(J) is known and the
 *    method is SOR (§2; `solvers/omega_opt.m`, as `scripts/contextual.m` does), otherwise a
 *    golden-section search on the iteration count from a coarse start grid (`utils/golden_section.m`,
 *    as `scripts/h2d.m`: start ω ∈ {1, 1.3, 1.5, 1.75, 1.95}, 12 evaluations).
 *  - bestFixedInHindsight: the single ω with the fewest total iterations over the whole sequence:
 *    every candidate ω on every instance, then optionally golden-section refinement of the total between
 *    the best candidate's neighbours (each refinement step is one more pass over the sequence).
 *
 * Counting is solveSequence's (sequence.ts): the same tolerance, cap and warm-start rule.
 */
import { fail, throwIfAborted } from '../../core/errors.js';
import type { BackendName, FloatArray } from '../../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../../core/validate.js';
import {
  checkSolveProvider, eachInstance, resolveSequenceOptions, solveInstance, tunedTarget,
  type InstanceSource, type SequenceInstance, type SequenceOptions, type SequenceRecord, type SequenceResult, type SolveProvider,
} from '../sequence.js';
import { makeGrid, type GridOption } from './tuner.js';

/** Young's optimal SOR parameter ω* = 2/(1 + √(1 − β²)) for Jacobi radius β ∈ [0, 1) (§2). */
export function youngOmega(beta: number): number {
  const b = checkFiniteNumber(beta, 'beta');
  if (!(b >= 0 && b < 1)) fail('E_RANGE', 'beta', `the Jacobi spectral radius must lie in [0, 1), got ${b}`);
  return 2 / (1 + Math.sqrt(1 - b * b));
}

/**
 * Jacobi radius of A + cI when A has constant diagonal d and Jacobi radius β0: β(c) = β0·d/(d + c) (§2).
 * For the 5-point Laplacian on an m×m grid, d = 4 and β0 = cos(π/(m + 1)).
 */
export function shiftedJacobiRadius(beta0: number, d: number, c: number): number {
  const b0 = checkFiniteNumber(beta0, 'beta0');
  const dd = checkFiniteNumber(d, 'd');
  const cc = checkFiniteNumber(c, 'c');
  if (!(dd + cc > 0)) fail('E_RANGE', 'c', `the shifted diagonal d + c must be > 0, got ${dd + cc}`);
  return (b0 * dd) / (dd + cc);
}

export interface ComparatorOptions extends Omit<SequenceOptions, 'tuner'> {}

export interface InstanceOptimalOptions extends ComparatorOptions {
  /** ρ(J) of an instance, when known; default: the instance's `jacobiRadius`. Used only with method 'sor'. */
  jacobiRadius?: (instance: SequenceInstance, index: number) => number | undefined;
  /** Where the search starts when ρ(J) is unknown (default [1, 1.3, 1.5, 1.75, 1.95]). */
  start?: readonly number[];
  /** Solves per instance in the search, start points included (default 12). */
  evaluations?: number;
}

export interface ComparatorResult extends SequenceResult {
  /** Every solve the comparator ran, the search's included. */
  readonly solves: number;
  readonly searchSeconds: number;
}

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/** Golden-section minimization of an integer-valued cost from a coarse start grid; every (ω, cost) it tried. */
async function goldenSearch(
  start: Float64Array, evaluations: number, cost: (w: number) => Promise<number>, known?: Float64Array,
): Promise<{ omega: number[]; value: number[] }> {
  const omega: number[] = [];
  const value: number[] = [];
  const evalAt = async (w: number): Promise<number> => {
    const v = await cost(w);
    omega.push(w);
    value.push(v);
    return v;
  };
  const f0: number[] = [];
  for (let i = 0; i < start.length; i++) f0.push(known ? known[i]! : await evalAt(start[i]!));
  if (known) start.forEach((w, i) => { omega.push(w); value.push(f0[i]!); });
  let lo = 0;
  let hi = 0;
  let best = Infinity;
  f0.forEach((v) => { best = Math.min(best, v); });
  let first = -1;
  let last = -1;
  f0.forEach((v, i) => {
    if (v === best) {
      if (first < 0) first = i;
      last = i;
    }
  });
  lo = Math.max(0, first - 1);
  hi = Math.min(start.length - 1, last + 1);
  let a = start[lo]!;
  let b = start[hi]!;
  if (!(b > a)) return { omega, value };
  let x1 = a + (1 - GOLDEN) * (b - a);
  let x2 = a + GOLDEN * (b - a);
  let budget = evaluations - omega.length;
  if (budget < 2) return { omega, value };
  let f1 = await evalAt(x1);
  let f2 = await evalAt(x2);
  budget -= 2;
  for (let step = 0; budget > 0; step++, budget--) {
    // Ties move the left end on odd steps and the right end on even ones, as utils/golden_section.m.
    if (f1 > f2 || (f1 === f2 && step % 2 === 1)) {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + GOLDEN * (b - a);
      f2 = await evalAt(x2);
    } else {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = a + (1 - GOLDEN) * (b - a);
      f1 = await evalAt(x1);
    }
  }
  return { omega, value };
}

/** The tried ω with the lowest cost; among ties, the one nearest the middle of the tied ones. */
function argminMiddle(omega: number[], value: number[]): number {
  let best = Infinity;
  for (const v of value) best = Math.min(best, v);
  let lo = Infinity;
  let hi = -Infinity;
  omega.forEach((w, i) => {
    if (value[i] === best) {
      lo = Math.min(lo, w);
      hi = Math.max(hi, w);
    }
  });
  const mid = 0.5 * (lo + hi);
  let pick = -1;
  omega.forEach((w, i) => {
    if (value[i] === best && (pick < 0 || Math.abs(w - mid) < Math.abs(omega[pick]! - mid))) pick = i;
  });
  return pick;
}

/**
 * The instance-optimal policy: Young's ω* where ρ(J) is known (SOR), else the best ω a per-instance
 * golden-section search finds. Records hold the chosen ω and its count; `solves` counts the search.
 */
export async function instanceOptimal(ctx: SolveProvider, instances: InstanceSource, options: InstanceOptimalOptions = {}): Promise<ComparatorResult> {
  const solver = checkSolveProvider(ctx);
  const o = resolveSequenceOptions(options);
  const start = makeGrid(options.start ?? [1, 1.3, 1.5, 1.75, 1.95], 'options.start');
  const evaluations = options.evaluations === undefined ? 12 : checkIntegerInRange(options.evaluations, start.length, 1000, 'options.evaluations');
  if (options.jacobiRadius !== undefined && typeof options.jacobiRadius !== 'function') {
    fail('E_DTYPE', 'options.jacobiRadius', `expected a function (instance, index) => ρ_J, got ${describe(options.jacobiRadius)}`);
  }
  const records: SequenceRecord[] = [];
  let iterations = 0;
  let solveSeconds = 0;
  let searchSeconds = 0;
  let solves = 0;
  let capped = 0;
  const backends: BackendName[] = [];
  const seen = (b: BackendName) => { if (!backends.includes(b)) backends.push(b); };
  const t0 = performance.now();
  let k = 0;
  for await (const inst of eachInstance(instances)) {
    throwIfAborted(o.signal);
    const name = `instances[${k}]`;
    const beta = o.method === 'sor' ? (options.jacobiRadius ? options.jacobiRadius(inst, k) : inst.jacobiRadius) : undefined;
    let omega: number;
    let count: number;
    let seconds: number;
    let wasCapped: boolean;
    let x: FloatArray;
    if (beta !== undefined) {
      omega = youngOmega(checkFiniteNumber(beta, `${name}.jacobiRadius`));
      const s = await solveInstance(solver, inst, omega, o, name);
      solves++;
      seen(s.result.backend);
      ({ iterations: count, capped: wasCapped } = s);
      seconds = s.result.seconds;
      x = s.result.x;
    } else {
      const tried = new Map<number, { iterations: number; seconds: number; capped: boolean; x: FloatArray }>();
      const t1 = performance.now();
      const found = await goldenSearch(start, evaluations, async (w) => {
        const s = await solveInstance(solver, inst, w, o, name);
        solves++;
        seen(s.result.backend);
        tried.set(w, { iterations: s.iterations, seconds: s.result.seconds, capped: s.capped, x: s.result.x });
        return s.iterations;
      });
      searchSeconds += (performance.now() - t1) / 1e3;
      const i = argminMiddle(found.omega, found.value);
      omega = found.omega[i]!;
      const r = tried.get(omega)!;
      ({ iterations: count, seconds, capped: wasCapped, x } = r);
    }
    inst.onSolved?.(x);
    iterations += count;
    solveSeconds += seconds;
    if (wasCapped) capped++;
    records.push({ omega, iterations: count, seconds, context: inst.context, arm: -1, p: 1, clamped: false, capped: wasCapped });
    k++;
    o.onProgress?.({ completed: k, omega, iterations: count, totalIterations: iterations });
  }
  return {
    records, solves, searchSeconds, tuned: tunedTarget(o.method),
    totals: {
      instances: k, iterations, solveSeconds, tunerSeconds: 0, seconds: (performance.now() - t0) / 1e3, clampedContexts: 0, cappedSolves: capped, backends,
    },
  };
}

export interface BestFixedOptions extends ComparatorOptions {
  /** Candidate ω values evaluated on every instance (default {min: 1, max: 1.95, arms: 20}). */
  grid?: GridOption;
  /**
   * Golden-section passes refining the best candidate between its neighbours (default 0). Each is one
   * more pass over the sequence, so `instances` must then be re-iterable (an array, a sequence from
   * instances.ts, or a function returning a fresh iterable). `onProgress` restarts at 1 with each pass.
   */
  refine?: number;
}

export interface BestFixedResult extends ComparatorResult {
  /** The best fixed ω. */
  readonly omega: number;
  /** Total iterations of every ω evaluated, candidates and refinement steps alike. */
  readonly candidates: { omega: number; iterations: number; seconds: number; cappedSolves: number }[];
}

interface Pass {
  total: number;
  seconds: number;
  capped: number;
  perInstance: Int32Array;
  perSeconds: Float64Array;
  perCapped: Uint8Array;
}

/** The ω with the fewest total iterations over the sequence, and its per-instance records. */
export async function bestFixedInHindsight(
  ctx: SolveProvider, instances: InstanceSource | (() => InstanceSource), options: BestFixedOptions = {},
): Promise<BestFixedResult> {
  const solver = checkSolveProvider(ctx);
  const o = resolveSequenceOptions(options);
  const grid = makeGrid(options.grid, 'options.grid');
  const refine = options.refine === undefined ? 0 : checkIntegerInRange(options.refine, 0, 100, 'options.refine');
  const source = (): InstanceSource => (typeof instances === 'function' ? instances() : instances);
  const t0 = performance.now();
  let solves = 0;
  const backends: BackendName[] = [];
  const seen = (b: BackendName) => { if (!backends.includes(b)) backends.push(b); };
  // Pass 1: every candidate on every instance; the time-stepping solution comes from the cheapest one.
  const per: number[][] = Array.from(grid, () => []);
  const perSec: number[][] = Array.from(grid, () => []);
  const perCap: number[][] = Array.from(grid, () => []);
  const contexts: (number | undefined)[] = [];
  let k = 0;
  let running = 0;
  for await (const inst of eachInstance(source())) {
    throwIfAborted(o.signal);
    const name = `instances[${k}]`;
    let bestCount = Infinity;
    let bestX: FloatArray | null = null;
    for (let c = 0; c < grid.length; c++) {
      const s = await solveInstance(solver, inst, grid[c]!, o, name);
      solves++;
      seen(s.result.backend);
      per[c]!.push(s.iterations);
      perSec[c]!.push(s.result.seconds);
      perCap[c]!.push(s.capped ? 1 : 0);
      if (s.iterations < bestCount) {
        bestCount = s.iterations;
        bestX = s.result.x;
      }
    }
    inst.onSolved?.(bestX!);
    contexts.push(inst.context);
    running += bestCount;
    k++;
    o.onProgress?.({ completed: k, omega: Number.NaN, iterations: bestCount, totalIterations: running });
  }
  const T = k;
  const passes = new Map<number, Pass>();
  grid.forEach((w, c) => {
    passes.set(w, {
      total: per[c]!.reduce((s, v) => s + v, 0), seconds: perSec[c]!.reduce((s, v) => s + v, 0), capped: perCap[c]!.reduce((s, v) => s + v, 0),
      perInstance: Int32Array.from(per[c]!), perSeconds: Float64Array.from(perSec[c]!), perCapped: Uint8Array.from(perCap[c]!),
    });
  });
  const runPass = async (w: number): Promise<number> => {
    const perInstance = new Int32Array(T);
    const perSeconds = new Float64Array(T);
    const perCapped = new Uint8Array(T);
    let total = 0;
    let seconds = 0;
    let capped = 0;
    let j = 0;
    for await (const inst of eachInstance(source())) {
      throwIfAborted(o.signal);
      if (j >= T) break;
      const s = await solveInstance(solver, inst, w, o, `instances[${j}]`);
      solves++;
      seen(s.result.backend);
      inst.onSolved?.(s.result.x);
      perInstance[j] = s.iterations;
      perSeconds[j] = s.result.seconds;
      total += s.iterations;
      seconds += s.result.seconds;
      if (s.capped) {
        capped++;
        perCapped[j] = 1;
      }
      j++;
      o.onProgress?.({ completed: j, omega: w, iterations: s.iterations, totalIterations: total });
    }
    if (j !== T) fail('E_RANGE', 'instances', `refinement needs a re-iterable sequence: pass ${passes.size - grid.length + 1} saw ${j} of ${T} instances`);
    passes.set(w, { total, seconds, capped, perInstance, perSeconds, perCapped });
    return total;
  };
  if (refine > 0 && grid.length > 1 && T > 0) {
    const totals = Float64Array.from(grid, (w) => passes.get(w)!.total);
    await goldenSearch(grid, grid.length + refine, runPass, totals);
  }
  let omega = grid[0]!;
  for (const [w, p] of passes) if (p.total < passes.get(omega)!.total || (p.total === passes.get(omega)!.total && w < omega)) omega = w;
  const bestPass = passes.get(omega)!;
  const records: SequenceRecord[] = [];
  for (let j = 0; j < T; j++) {
    records.push({
      omega, iterations: bestPass.perInstance[j]!, seconds: bestPass.perSeconds[j]!, context: contexts[j], arm: -1, p: 1, clamped: false,
      capped: bestPass.perCapped[j] === 1,
    });
  }
  const candidates = [...passes.entries()].sort((x, y) => x[0] - y[0]).map(([w, p]) => ({ omega: w, iterations: p.total, seconds: p.seconds, cappedSolves: p.capped }));
  return {
    omega, records, candidates, solves, searchSeconds: (performance.now() - t0) / 1e3, tuned: tunedTarget(o.method),
    totals: {
      instances: T, iterations: bestPass.total, solveSeconds: bestPass.seconds, tunerSeconds: 0, seconds: (performance.now() - t0) / 1e3,
      clampedContexts: 0, cappedSolves: bestPass.capped, backends,
    },
  };
}
