/**
 * Which backends the conformance suites run on. A backend that is not available is skipped,
 * unless NUMKERN_REQUIRE names it (CI sets NUMKERN_REQUIRE=native,webgpu): then its absence fails.
 */
import { createContext, type Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';

export function required(): BackendName[] {
  return (process.env.NUMKERN_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean) as BackendName[];
}

/** Opens a context and returns it with the backends to test (js always included, first). */
export async function openForConformance(): Promise<{ ctx: Context; backends: BackendName[] }> {
  const ctx = await createContext();
  const status = ctx.status();
  for (const name of required()) {
    const s = status.find((x) => x.name === name);
    if (!s?.available) throw new Error(`NUMKERN_REQUIRE names ${name}, but it is unavailable: ${s?.reason}`);
  }
  const backends = status.filter((s) => s.available).map((s) => s.name);
  return { ctx, backends: ['js', ...backends.filter((b) => b !== 'js')] };
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

export function randomArray(n: number, seed: number, dtype: 'f32' | 'f64' = 'f64'): Float32Array | Float64Array {
  const r = rng(seed);
  const a = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

/** Unit roundoff of the dtype a backend computes in. */
export function eps(dtype: 'f32' | 'f64'): number {
  return dtype === 'f32' ? 2 ** -24 : 2 ** -53;
}
