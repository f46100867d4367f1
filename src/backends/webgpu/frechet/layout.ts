/**
 * Every layout the frechet kernels share with the host, written once: the uniform parameters, the
 * tile shape, the layout codes of the op contract (src/frechet/ops.ts: FRECHET_LAYOUT_CODES) and the
 * encoding of a top-k entry. The WGSL declarations are generated from these tables (FRECHET_PRELUDE,
 * prepended to every kernels/frechet shader by the pipeline cache); the .wgsl files declare none of
 * them (docs/ARCHITECTURE.md §7, §9).
 *
 * A top-k entry is a vec2u (key, id): key is the score mapped to a u32 whose unsigned order is the
 * order of the scores (scoreKey below, score_key in topk_list.wgsl), id the label's index in [0, N).
 * Comparing (key, id) lexicographically as integers is then exactly "score ascending, ties to the
 * smaller label id", with no float comparison that WGSL would let the compiler assume NaN-free.
 */
import { FRECHET_LAYOUT_CODES, type FrechetLayout } from '../../../frechet/ops.js';
import type { GpuRuntime } from '../dispatch.js';
import { WordStruct, wgslConstants, type WgslPrelude } from '../wgsl-layout.js';

/**
 * The score tile of one workgroup: THREAD_ROWS × LANES invocations, each accumulating a MICRO × MICRO
 * block of scores (MICRO is 4 because the shader holds a block's rows and labels in vec4f), so a tile
 * is TILE_ROWS rows by TILE_LABELS labels, summed over K in steps of TILE_K through workgroup memory.
 * A lane is one of the LANES invocation columns: each keeps its own running top-k per row over the
 * labels it computes.
 */
export const TILE = {
  THREAD_ROWS: 16,
  LANES: 16,
  TILE_K: 16,
} as const;
export const MICRO = 4;
export const THREADS = TILE.THREAD_ROWS * TILE.LANES;
export const TILE_ROWS = TILE.THREAD_ROWS * MICRO;
export const TILE_LABELS = TILE.LANES * MICRO;
/** Workgroup memory of score_topk.wgsl: a TILE_K × TILE_ROWS slice of W and a TILE_K × TILE_LABELS slice of M, f32. */
export const SCORE_WORKGROUP_BYTES = 4 * TILE.TILE_K * (TILE_ROWS + TILE_LABELS);

/** An unused list slot: ranks after every real entry (a real key is at most NAN_KEY). */
export const EMPTY_KEY = 0xffffffff;
/** Every NaN score: after +∞ (key 0xff800000), before an empty slot. */
export const NAN_KEY = 0xfffffffe;

/** The layout codes, by WGSL name, from the op contract. */
function layoutConstants(): Record<string, number> {
  return Object.fromEntries(
    (Object.entries(FRECHET_LAYOUT_CODES) as [FrechetLayout, number][]).map(([name, code]) => [`LAYOUT_${name.toUpperCase()}`, code]),
  );
}

/**
 * Uniform of both passes, for one (row chunk, label chunk) pair:
 *  - rows: rows of W in this chunk; K; labels: labels in this chunk; labelBase: the chunk's first label.
 *  - ldm: the row stride of the M chunk ('kn': labels, the chunk is K × labels; 'nk': K).
 *  - spanLen: labels one workgroup walks (a multiple of TILE_LABELS); spans: spans this chunk has;
 *    spanStride: list slots per row (the most spans any chunk has), fixing the candidate layout.
 *  - rowBlocks: ceil(rows / TILE_ROWS); the score pass runs rowBlocks × spans workgroups.
 *  - topk; layoutCode: a LAYOUT_* code; hasBias: 0/1; first: 1 on a row chunk's first label chunk (the
 *    merge pass then starts the running result empty).
 *  - listBase: where the span lists start in the candidate buffer (the running results, rows × topk
 *    entries, come first so the host reads them back in one copy).
 */
export const FRECHET_PARAMS = new WordStruct('FrechetParams', {
  rows: 'u32',
  K: 'u32',
  labels: 'u32',
  labelBase: 'u32',
  ldm: 'u32',
  spanLen: 'u32',
  spans: 'u32',
  spanStride: 'u32',
  rowBlocks: 'u32',
  topk: 'u32',
  layoutCode: 'u32',
  hasBias: 'u32',
  first: 'u32',
  listBase: 'u32',
  _pad0: 'u32',
  _pad1: 'u32',
});

/** The constants the prelude declares, by WGSL name. */
export function frechetConstants(): Record<string, number> {
  return {
    ...layoutConstants(),
    ...TILE,
    MICRO_ROWS: MICRO,
    THREADS,
    TILE_ROWS,
    TILE_LABELS,
    EMPTY_KEY,
    NAN_KEY,
  };
}

/** The generated declarations every kernels/frechet shader is compiled with. */
export const FRECHET_PRELUDE: WgslPrelude = {
  name: 'frechet',
  code: FRECHET_PARAMS.wgsl() + wgslConstants(frechetConstants()),
};

/**
 * The score pass has a fixed workgroup size (THREADS, from the tile), so it is compiled without the
 * runtime's WG override; the merge pass runs one invocation per row at the runtime's size.
 */
export function scorePipeline(rt: GpuRuntime): Promise<GPUComputePipeline> {
  return rt.pipelines.get({ file: 'frechet/score_topk.wgsl', prelude: FRECHET_PRELUDE });
}

export function mergePipeline(rt: GpuRuntime): Promise<GPUComputePipeline> {
  return rt.pipeline('frechet/merge_topk.wgsl', 'main', FRECHET_PRELUDE);
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** The key of score_key in topk_list.wgsl, on the host (tests and the decoder share it). */
export function scoreKey(s: number): number {
  f32View[0] = s;
  let bits = u32View[0]!;
  if ((bits & 0x7fffffff) === 0) bits = 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return NAN_KEY;
  return (bits & 0x80000000) !== 0 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** The f32 score a key stands for (−0 comes back as +0, every NaN as one NaN). */
export function keyScore(key: number): number {
  u32View[0] = key >= 0x80000000 ? (key ^ 0x80000000) >>> 0 : ~key >>> 0;
  return f32View[0]!;
}
