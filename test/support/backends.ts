/**
 * Which backends the suites run on, and their deterministic test data. A backend that is not
 * available is skipped, unless NUMKERN_REQUIRE names it (CI sets NUMKERN_REQUIRE=native,webgpu):
 * then its absence fails.
 *
 * The façade (src/index.js) is imported only when a conformance suite opens a context: loading it
 * registers every backend, and the suites that test one backend on its own, or an engine over a
 * chosen few, must not have that happen under them.
 */
import { afterAll } from 'vitest';
import type { Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';

export function required(): BackendName[] {
  return (process.env.NUMKERN_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean) as BackendName[];
}

/** Opens a context and returns it with the backends to test (js always included, first). */
export async function openForConformance(): Promise<{ ctx: Context; backends: BackendName[] }> {
  const { createContext } = await import('../../src/index.js');
  const ctx = await createContext();
  await ctx.start(); // every backend that can start here is under test, including those a default context defers
  const status = ctx.status();
  for (const name of required()) {
    const s = status.find((x) => x.name === name);
    if (!s?.available) throw new Error(`NUMKERN_REQUIRE names ${name}, but it is unavailable: ${s?.reason}`);
  }
  const backends = status.filter((s) => s.available).map((s) => s.name);
  return { ctx, backends: ['js', ...backends.filter((b) => b !== 'js')] };
}

interface Resource {
  dispose(): Promise<void> | void;
}

/**
 * A backend instance for a whole test file, opened while the file loads so that
 * `describe.skipIf(!main)` can see it: `main` is null where the backend cannot start here, and
 * `initError` says why. `track` returns what it is given and disposes it after the file's tests,
 * after `main`.
 */
export async function openForFile<T extends Resource>(
  init: () => Promise<T>,
): Promise<{ main: T | null; initError: string; track: <D extends Resource>(d: D) => D }> {
  const opened: Resource[] = [];
  afterAll(async () => {
    for (const o of opened) await o.dispose();
  });
  const track = <D extends Resource>(d: D): D => {
    opened.push(d);
    return d;
  };
  try {
    return { main: track(await init()), initError: '', track };
  } catch (e) {
    return { main: null, initError: e instanceof Error ? e.message : String(e), track };
  }
}

/** Deterministic test data (mulberry32): tests must not depend on Math.random. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi) from rng(seed), rounded to the dtype. */
export function randomArray(n: number, seed: number, dtype?: 'f64', lo?: number, hi?: number): Float64Array;
export function randomArray(n: number, seed: number, dtype: 'f32', lo?: number, hi?: number): Float32Array;
export function randomArray(n: number, seed: number, dtype: 'f32' | 'f64', lo?: number, hi?: number): Float32Array | Float64Array;
export function randomArray(n: number, seed: number, dtype: 'f32' | 'f64' = 'f64', lo = -1, hi = 1): Float32Array | Float64Array {
  const r = rng(seed);
  const a = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Unit roundoff of the dtype a backend computes in. */
export function eps(dtype: 'f32' | 'f64'): number {
  return dtype === 'f32' ? 2 ** -24 : 2 ** -53;
}
