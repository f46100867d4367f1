/**
 * Philox4x32-10 (Salmon et al., SC'11; Random123) and the samplers built on it.
 *
 * The stream definition below is the project-wide reproducibility contract; the C++ and
 * WGSL kernels implement exactly the same mapping, so anything derived from the u32 words
 * (uniforms, signs, bounded integers) is bit-identical on every backend:
 *
 *   key  = (seed mod 2^32, floor(seed / 2^32))            seed: integer in [0, 2^64)
 *   word j of stream s = word (j mod 4) of
 *          philox4x32(ctr = (b mod 2^32, floor(b / 2^32), s, 0), key),  b = floor(j / 4)
 *
 * Samplers defined on word j alone, and therefore bit-exact on every backend:
 *   uniform      (w + 0.5) · 2^-32                     in (0, 1)
 *   Rademacher   w ≥ 2^31 ? −1 : +1                    (top bit)
 *   bounded int  floor(w · n / 2^32)                   in [0, n)
 *
 * Samplers that go through log/sqrt/cos (Gaussian, Gamma, Beta) consume words in a fixed
 * order but are not bit-exact across languages, because libm accuracy differs.
 */
import { NumkernError, fail } from './errors.js';
import type { FloatArray } from './types.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const M0_HI = M0 >>> 16;
const M0_LO = M0 & 0xffff;
const M1_HI = M1 >>> 16;
const M1_LO = M1 & 0xffff;

const TWO_32 = 4294967296;
const TWO_NEG_32 = 1 / TWO_32;
const TWO_64_BIG = 1n << 64n;

/**
 * High 32 bits of the 64-bit product of two u32s. Every partial product of 16-bit limbs is
 * below 2^32 and every sum below 2^35, so the double arithmetic is exact (the same limb
 * scheme the WGSL kernel needs, since WGSL has no 64-bit integers).
 */
export function mulhi32(a: number, b: number): number {
  return mulhiLimbs(a >>> 16, a & 0xffff, b >>> 0);
}

function mulhiLimbs(ah: number, al: number, b: number): number {
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Ten Philox rounds on one counter block, written to out[outOffset .. outOffset + 4).
 * Scalars in, preallocated array out: the fills call this once per four words and must
 * not allocate.
 */
export function philoxBlock(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  outOffset: number,
): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhiLimbs(M0_HI, M0_LO, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhiLimbs(M1_HI, M1_LO, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[outOffset] = c0;
  out[outOffset + 1] = c1;
  out[outOffset + 2] = c2;
  out[outOffset + 3] = c3;
}

/** Philox4x32-10 of one counter under one key (the Random123 function itself). */
export function philox4x32(counter: Uint32Array, key: Uint32Array): Uint32Array {
  if (!(counter instanceof Uint32Array)) fail('E_DTYPE', 'counter', 'expected a Uint32Array');
  if (!(key instanceof Uint32Array)) fail('E_DTYPE', 'key', 'expected a Uint32Array');
  if (counter.length !== 4) fail('E_SHAPE', 'counter', `expected 4 words, got ${counter.length}`);
  if (key.length !== 2) fail('E_SHAPE', 'key', `expected 2 words, got ${key.length}`);
  const out = new Uint32Array(4);
  philoxBlock(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out, 0);
  return out;
}

/** The Philox key (seed low 32 bits, seed high 32 bits) for a seed in [0, 2^64). */
export function seedToKey(seed: number | bigint): Uint32Array {
  const s = normalizeSeed(seed, 'seed');
  return Uint32Array.of(Number(s & 0xffffffffn), Number(s >> 32n));
}

function normalizeSeed(seed: unknown, name: string): bigint {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= TWO_64_BIG) fail('E_RANGE', name, `must be in [0, 2^64), got ${seed}`);
    return seed;
  }
  if (typeof seed === 'number') {
    // Above 2^53 a number may already have been rounded by the caller; a bigint says what was meant.
    if (!Number.isSafeInteger(seed) || seed < 0) {
      fail('E_RANGE', name, `must be a non-negative safe integer (or a bigint below 2^64), got ${seed}`);
    }
    return BigInt(seed);
  }
  return fail('E_RANGE', name, `expected a number or bigint, got ${typeof seed}`);
}

function checkStream(stream: unknown, name: string): number {
  if (typeof stream !== 'number' || !Number.isInteger(stream) || stream < 0 || stream >= TWO_32) {
    fail('E_RANGE', name, `must be an integer in [0, 2^32), got ${String(stream)}`);
  }
  return stream;
}

function checkStart(start: unknown, count: number, name: string): number {
  if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0) {
    fail('E_RANGE', name, `must be a non-negative safe integer, got ${String(start)}`);
  }
  // Written so that no intermediate exceeds 2^53, where a sum would round.
  if (count > 0 && start > Number.MAX_SAFE_INTEGER - (count - 1)) {
    fail('E_RANGE', name, `element indices ${start} + ${count} exceed 2^53`);
  }
  return start;
}

const blockScratch = new Uint32Array(4);

/** Words start .. start+n of the stream into out[off ..]; arguments already validated. */
function fillWords(k0: number, k1: number, stream: number, start: number, out: Uint32Array, off: number, n: number): void {
  let b = Math.floor(start / 4);
  let w = start - b * 4;
  let i = 0;
  while (i < n) {
    // >>> 0 reduces b mod 2^32 exactly for any safe integer.
    const lo = b >>> 0;
    const hi = Math.floor(b / TWO_32);
    if (w === 0 && n - i >= 4) {
      philoxBlock(lo, hi, stream, 0, k0, k1, out, off + i);
      i += 4;
    } else {
      philoxBlock(lo, hi, stream, 0, k0, k1, blockScratch, 0);
      for (; w < 4 && i < n; w++, i++) out[off + i] = blockScratch[w];
      w = 0;
    }
    b++;
  }
}

/** out[i] = word (start + i) of stream `stream` under `seed`. Returns out. */
export function philoxFill(seed: number | bigint, stream: number, start: number, out: Uint32Array): Uint32Array {
  const s = normalizeSeed(seed, 'seed');
  checkStream(stream, 'stream');
  if (!(out instanceof Uint32Array)) fail('E_DTYPE', 'out', 'expected a Uint32Array');
  checkStart(start, out.length, 'start');
  fillWords(Number(s & 0xffffffffn), Number(s >> 32n), stream, start, out, 0, out.length);
  return out;
}

/** (u + 0.5) · 2^-32: exact in f64, strictly inside (0, 1), symmetric about 1/2. */
export function uniform01(u: number): number {
  return ((u >>> 0) + 0.5) * TWO_NEG_32;
}

const CHUNK = 1024;
const chunkScratch = new Uint32Array(CHUNK);

/** out[i] = uniform01(word start + i). Returns out. */
export function uniformFill(seed: number | bigint, stream: number, start: number, out: Float64Array): Float64Array {
  const s = normalizeSeed(seed, 'seed');
  checkStream(stream, 'stream');
  if (!(out instanceof Float64Array)) fail('E_DTYPE', 'out', 'expected a Float64Array (an f32 uniform can round to 1)');
  checkStart(start, out.length, 'start');
  mapWords(s, stream, start, out, (u) => (u + 0.5) * TWO_NEG_32);
  return out;
}

/** out[i] = f(word start + i), generated a chunk at a time into scratch (no per-element allocation). */
function mapWords(seed: bigint, stream: number, start: number, out: FloatArray, f: (u: number) => number): void {
  const k0 = Number(seed & 0xffffffffn);
  const k1 = Number(seed >> 32n);
  for (let base = 0; base < out.length; base += CHUNK) {
    const n = Math.min(CHUNK, out.length - base);
    fillWords(k0, k1, stream, start + base, chunkScratch, 0, n);
    for (let i = 0; i < n; i++) out[base + i] = f(chunkScratch[i]!);
  }
}

/**
 * out[i] = -scale if the top bit of word (start + i) is set, else +scale.
 * One word per sign keeps element j tied to word j, which is what GPU threads can compute
 * independently. Returns out.
 */
export function rademacherFill<T extends FloatArray>(
  seed: number | bigint,
  stream: number,
  start: number,
  out: T,
  scale = 1,
): T {
  const s = normalizeSeed(seed, 'seed');
  checkStream(stream, 'stream');
  if (!(out instanceof Float64Array) && !(out instanceof Float32Array)) {
    fail('E_DTYPE', 'out', 'expected a Float64Array or Float32Array');
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale)) fail('E_NONFINITE', 'scale', `must be finite, got ${String(scale)}`);
  checkStart(start, out.length, 'start');
  mapWords(s, stream, start, out, (u) => (u >= 0x80000000 ? -scale : scale));
  return out;
}

function checkBound(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > TWO_32) {
    fail('E_RANGE', name, `must be an integer in [1, 2^32], got ${String(n)}`);
  }
  return n;
}

/**
 * floor(u · n / 2^32) for a u32 `u` (Lemire's multiply-shift without the rejection step),
 * an integer in [0, n). Stateless, so it cannot redraw: each result has probability
 * floor(2^32/n)/2^32 or ceil(2^32/n)/2^32, a relative bias below n / 2^32 (2.4e-4 for
 * n = 10^6). PhiloxStream.nextInt is the unbiased version.
 */
export function boundedInt(u: number, n: number): number {
  if (typeof u !== 'number' || u >>> 0 !== u) fail('E_RANGE', 'u', `must be a u32, got ${String(u)}`);
  checkBound(n, 'n');
  return n === TWO_32 ? u : mulhi32(u, n);
}

/** Serializable position of a PhiloxStream; JSON-safe (the seed is a decimal string). */
export interface PhiloxState {
  readonly seed: string;
  readonly stream: number;
  /** Index of the next word the stream will return. */
  readonly counter: number;
}

/**
 * Sequential view of one Philox stream: nextU32() returns words counter, counter+1, ... of
 * the stream definition above, so `philoxFill(seed, stream, c, out)` and n calls to
 * nextU32() from counter c give the same words. The state is (seed, stream, counter) only:
 * no sampler keeps a cached value, so state()/fromState() continue exactly.
 */
export class PhiloxStream {
  readonly seed: bigint;
  readonly stream: number;
  private readonly k0: number;
  private readonly k1: number;
  private ctr: number;
  private readonly buf = new Uint32Array(4);
  private bufBlock = -1;

  constructor(seed: number | bigint, stream = 0, counter = 0) {
    this.seed = normalizeSeed(seed, 'seed');
    this.stream = checkStream(stream, 'stream');
    this.ctr = checkStart(counter, 0, 'counter');
    this.k0 = Number(this.seed & 0xffffffffn);
    this.k1 = Number(this.seed >> 32n);
  }

  static fromState(state: PhiloxState): PhiloxStream {
    if (typeof state !== 'object' || state === null) fail('E_RANGE', 'state', 'expected {seed, stream, counter}');
    const seed = state.seed;
    if (typeof seed !== 'string' || !/^[0-9]{1,20}$/.test(seed)) {
      fail('E_RANGE', 'state.seed', `expected a decimal integer string, got ${String(seed)}`);
    }
    return new PhiloxStream(normalizeSeed(BigInt(seed), 'state.seed'), checkStream(state.stream, 'state.stream'), checkStart(state.counter, 0, 'state.counter'));
  }

  /** Index of the next word. */
  get counter(): number {
    return this.ctr;
  }

  state(): PhiloxState {
    return { seed: this.seed.toString(), stream: this.stream, counter: this.ctr };
  }

  nextU32(): number {
    const j = this.ctr;
    if (j > Number.MAX_SAFE_INTEGER) throw new NumkernError('E_RANGE', 'PhiloxStream: counter reached 2^53', { argument: 'counter' });
    const b = Math.floor(j / 4);
    if (b !== this.bufBlock) {
      philoxBlock(b >>> 0, Math.floor(b / TWO_32), this.stream, 0, this.k0, this.k1, this.buf, 0);
      this.bufBlock = b;
    }
    this.ctr = j + 1;
    return this.buf[j - 4 * b];
  }

  /** Fills out with the next out.length words (same words as that many nextU32 calls). */
  fillU32(out: Uint32Array): Uint32Array {
    if (!(out instanceof Uint32Array)) fail('E_DTYPE', 'out', 'expected a Uint32Array');
    checkStart(this.ctr, out.length, 'counter');
    fillWords(this.k0, this.k1, this.stream, this.ctr, out, 0, out.length);
    this.ctr += out.length;
    return out;
  }

  /** uniform01 of the next word: in (0, 1), bit-exact across backends. */
  nextUniform(): number {
    return uniform01(this.nextU32());
  }

  /**
   * Uniform integer in [0, n) without bias: Lemire's multiply-shift with rejection
   * (redraws with probability below n / 2^32).
   */
  nextInt(n: number): number {
    checkBound(n, 'n');
    let u = this.nextU32();
    if (n === TWO_32) return u;
    let low = Math.imul(u, n) >>> 0;
    if (low < n) {
      const threshold = (TWO_32 - n) % n;
      while (low < threshold) {
        u = this.nextU32();
        low = Math.imul(u, n) >>> 0;
      }
    }
    return mulhi32(u, n);
  }

  /**
   * Standard normal by Box–Muller from two words, cos branch only (the sin half is dropped
   * so the state stays three numbers). Not bit-exact across languages.
   */
  nextGaussian(): number {
    const u1 = this.nextUniform();
    const u2 = this.nextUniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape, 1). May underflow to 0 for tiny shapes; nextBeta avoids that by working in logs. */
  nextGamma(shape: number): number {
    checkShape(shape, 'shape');
    return Math.exp(this.logGamma(shape));
  }

  /**
   * Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (X drawn first), evaluated as
   * 1 / (1 + exp(log Y − log X)) so that small shapes, whose Gamma draws underflow, still
   * give a value in [0, 1] instead of 0/0.
   */
  nextBeta(a: number, b: number): number {
    checkShape(a, 'a');
    checkShape(b, 'b');
    const lx = this.logGamma(a);
    const ly = this.logGamma(b);
    return 1 / (1 + Math.exp(ly - lx));
  }

  /**
   * Index i with probability p[i] / Σp by inverse CDF on one uniform. Weights need not sum
   * to 1; zero weights are never chosen.
   */
  nextCategorical(p: ArrayLike<number>): number {
    const n = p?.length;
    if (typeof n !== 'number' || n < 1) fail('E_SHAPE', 'p', 'expected at least one weight');
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = p[i];
      if (!Number.isFinite(w)) fail('E_NONFINITE', `p[${i}]`, `weight is ${String(w)}`);
      if (w < 0) fail('E_RANGE', `p[${i}]`, `weight must be non-negative, got ${w}`);
      total += w;
    }
    if (!(total > 0) || !Number.isFinite(total)) fail('E_RANGE', 'p', `weights must have a finite positive sum, got ${total}`);
    const target = this.nextUniform() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const w = p[i];
      if (w > 0) {
        acc += w;
        last = i;
        if (target < acc) return i;
      }
    }
    // Rounding in the running sum can leave target ≥ acc at the end; the last positive weight owns that sliver.
    return last;
  }

  /**
   * log of a Gamma(shape, 1) draw. Marsaglia–Tsang (2000) for shape ≥ 1; for shape < 1 the
   * boost Gamma(a) = Gamma(a + 1) · U^(1/a), done in logs because U^(1/a) underflows for small a.
   */
  private logGamma(shape: number): number {
    if (shape < 1) {
      const lg = this.logGamma(shape + 1);
      return lg + Math.log(this.nextUniform()) / shape;
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.nextGaussian();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.nextUniform();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return Math.log(d * v);
      if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return Math.log(d * v);
    }
  }
}

function checkShape(x: unknown, name: string): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) fail('E_RANGE', name, `must be a finite positive number, got ${String(x)}`);
}
