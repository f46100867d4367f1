/**
 * The entries of every sketch, generated from Philox on the fly (docs/sketch.md §2). This file is the
 * definition the native and WGSL kernels reproduce: each value is a function of (seed, stream, word
 * index) only, so a column of S — the weights of one row of A — depends on nothing but its global row
 * index, whatever the backend, thread count or row sharding.
 */
import { mulhi32, philoxBlock } from '../../../core/philox.js';
import { SKETCH_STREAMS, SRHT_FEISTEL_ROUNDS } from '../../../sketch/ops.js';

const TWO_32 = 4294967296;
const TWO_NEG_32 = 1 / TWO_32;
const TWO_PI = 2 * Math.PI;

/** Word q of stream s under (k0, k1), through a one-block cache (the fills walk words in order). */
export class WordSource {
  private readonly buf = new Uint32Array(4);
  private block = -1;

  constructor(readonly k0: number, readonly k1: number, readonly stream: number) {}

  word(q: number): number {
    const b = Math.floor(q / 4);
    if (b !== this.block) {
      philoxBlock(b >>> 0, Math.floor(b / TWO_32), this.stream, 0, this.k0, this.k1, this.buf, 0);
      this.block = b;
    }
    return this.buf[q - 4 * b]!;
  }
}

/**
 * Column i of the unscaled Gaussian S₀ into out[0..m): entry k is Gaussian number j = i·m + k. Philox
 * block ⌊j/4⌋ gives words (w0, w1, w2, w3); Box–Muller on (w0, w1) gives numbers 4q (cos) and 4q + 1
 * (sin), on (w2, w3) numbers 4q + 2 and 4q + 3, with u = (w + 0.5)·2⁻³². Not bit-exact across
 * languages (libm's log, cos, sin).
 */
export function gaussianColumn(k0: number, k1: number, i: number, m: number, out: Float64Array, scratch: Uint32Array): void {
  const j0 = i * m;
  let k = 0;
  while (k < m) {
    const j = j0 + k;
    const q = Math.floor(j / 4);
    philoxBlock(q >>> 0, Math.floor(q / TWO_32), SKETCH_STREAMS.gaussian, 0, k0, k1, scratch, 0);
    for (let lane = j - 4 * q; lane < 4 && k < m; lane++, k++) {
      const pair = lane >> 1;
      const u1 = (scratch[2 * pair]! + 0.5) * TWO_NEG_32;
      const u2 = (scratch[2 * pair + 1]! + 0.5) * TWO_NEG_32;
      const rad = Math.sqrt(-2 * Math.log(u1));
      out[k] = (lane & 1) === 0 ? rad * Math.cos(TWO_PI * u2) : rad * Math.sin(TWO_PI * u2);
    }
  }
}

/** Column i of the unscaled Rademacher S₀: entry k is −1 iff bit (j mod 32) of word ⌊j/32⌋ is set, j = i·m + k. */
export function rademacherColumn(src: WordSource, i: number, m: number, out: Float64Array): void {
  const j0 = i * m;
  for (let k = 0; k < m; k++) {
    const j = j0 + k;
    const q = Math.floor(j / 32);
    out[k] = (src.word(q) >>> (j - 32 * q)) & 1 ? -1 : 1;
  }
}

/**
 * Column i of a sparse sketch with s nonzeros: rows[t] and signs[t] for t < s, from words
 * w_u = word 2s·i + u. Rows are distinct, by Floyd's algorithm: for t = 0..s−1, J = m − s + t,
 * r = ⌊w_{2t}·(J+1)/2³²⌋, and r := J if r was already chosen. Sign t is −1 iff w_{2t+1} ≥ 2³¹.
 */
export function sparseColumn(src: WordSource, i: number, m: number, s: number, rows: Int32Array, signs: Float64Array): void {
  const base = 2 * s * i;
  for (let t = 0; t < s; t++) {
    const J = m - s + t;
    // ⌊w·(J+1)/2³²⌋, the high word of the 64-bit product (exact: core/philox.ts's 16-bit limbs).
    let r = mulhi32(src.word(base + 2 * t), J + 1);
    for (let u = 0; u < t; u++) {
      if (rows[u] === r) {
        r = J;
        break;
      }
    }
    rows[t] = r;
    signs[t] = src.word(base + 2 * t + 1) >= 0x80000000 ? -1 : 1;
  }
}

/** SRHT sign σ_i ∈ {±1}: −1 iff bit (i mod 32) of word ⌊i/32⌋ of the sign stream is set. */
export function srhtSign(src: WordSource, i: number): number {
  const q = Math.floor(i / 32);
  return (src.word(q) >>> (i - 32 * q)) & 1 ? -1 : 1;
}

/**
 * The in-block permutation f_h of SRHT block h (B = 2^bits rows): a Feistel network of four rounds
 * on `bits`-bit integers. Round r splits x into its low s bits R and high t = bits − s bits L
 * (s = ⌈bits/2⌉ in even rounds, ⌊bits/2⌋ in odd ones) and sets x := (R << t) | ((L ⊕ T_r[R]) mod 2^t),
 * with T_r[R] = word ((h·4 + r)·2^⌈bits/2⌉ + R) of the permutation stream. Each round is a bijection,
 * so f_h is one; it scatters consecutive rows across the block, which the Sylvester ordering needs
 * (docs/sketch.md §2.3).
 */
export class FeistelPermutation {
  readonly bits: number;
  private readonly tables: Uint32Array[];
  private readonly half: number;

  constructor(k0: number, k1: number, B: number, h: number) {
    this.bits = Math.round(Math.log2(B));
    this.half = Math.ceil(this.bits / 2);
    const size = 2 ** this.half;
    const src = new WordSource(k0, k1, SKETCH_STREAMS.srhtPermutation);
    this.tables = [];
    for (let r = 0; r < SRHT_FEISTEL_ROUNDS; r++) {
      const t = new Uint32Array(size);
      const base = (h * SRHT_FEISTEL_ROUNDS + r) * size;
      for (let x = 0; x < size; x++) t[x] = src.word(base + x);
      this.tables.push(t);
    }
  }

  apply(x: number): number {
    const bits = this.bits;
    for (let r = 0; r < SRHT_FEISTEL_ROUNDS; r++) {
      const s = r % 2 === 0 ? this.half : bits - this.half;
      const t = bits - s;
      const R = x & ((1 << s) - 1);
      const L = x >>> s;
      const mask = (1 << t) - 1;
      x = ((R << t) | ((L ^ this.tables[r]![R]!) & mask)) >>> 0;
    }
    return x;
  }
}

/** popcount(x) mod 2 for a non-negative integer below 2³². */
export function parity(x: number): number {
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}

/** a AND b for integers below 2³² (JS's & is 32-bit signed; >>> 0 makes it unsigned). */
export function andBits(a: number, b: number): number {
  return (a & b) >>> 0;
}
