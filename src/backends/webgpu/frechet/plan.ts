/**
 * How a frechetTopk call is cut to fit the device, decided before anything runs, and what the
 * kernel refuses (KernelSpec.accepts: the dispatcher then moves to a CPU backend and records why).
 *
 * Every operand must fit one storage binding (maxStorageBufferBindingSize, 128 MiB by default), so
 *  - M is cut into label chunks: ranges of labels with all K of their values, ⌊binding / 4K⌋ labels
 *    each ('kn': a K × labels sub-block gathered row by row; 'nk': a contiguous slice). D at K = 1000,
 *    N = 1e5 in f32 is 400 MB: four chunks, whose candidates merge on the device;
 *  - W is cut into row chunks of ⌊binding / 4K⌋ rows, further bounded so that the row chunk's
 *    candidate lists, (1 + spans·LANES)·topk entries of 8 bytes per row, fit one binding too;
 *  - within a label chunk, `spans` workgroups per row block share the labels, enough to give the
 *    device TARGET_GROUPS workgroups, each walking spanLen labels (whole tiles).
 * The score matrix is never stored: the extra device memory is the candidate lists, O(B·topk·spans),
 * plus one chunk of each operand.
 */
import type { FrechetTopkArgs } from '../../../frechet/ops.js';
import type { GpuRuntime } from '../dispatch.js';
import { SCORE_WORKGROUP_BYTES, THREADS, TILE, TILE_LABELS, TILE_ROWS } from './layout.js';

/**
 * Largest topk the device takes. Every lane keeps a sorted list of topk entries in storage memory
 * and an insertion shifts up to topk of them, so a large topk over adversarially ordered scores
 * (each label better than the last) costs O(N·topk) per row; the CPU backends' heaps do better there.
 */
export const MAX_TOPK = 64;

/** Workgroups one dispatch aims for: enough to occupy a large GPU; more only add candidate lists. */
const TARGET_GROUPS = 256;
/** Spans per label chunk at most, bounding the candidate lists per row. */
const MAX_SPANS = 64;
/** Bytes of one list entry (vec2u key, id). */
const ENTRY_BYTES = 8;

export interface TopkPlan {
  /** Rows of W per row chunk. */
  readonly rowsPerChunk: number;
  /** Labels per label chunk. */
  readonly labelsPerChunk: number;
  /** Labels one workgroup walks (a multiple of TILE_LABELS). */
  readonly spanLen: number;
  /** List slots per row: the spans of the fullest label chunk. */
  readonly spanStride: number;
  /** Entries (vec2u) of a row chunk's candidate buffer per row. */
  readonly entriesPerRow: number;
}

/** Why this device cannot run the score pass at all, or null. */
export function deviceTrouble(rt: GpuRuntime): string | null {
  const l = rt.gpu.limits;
  if (l.maxComputeInvocationsPerWorkgroup < THREADS || l.maxComputeWorkgroupSizeX < THREADS) {
    return `the score kernel runs ${THREADS} invocations per workgroup, the device allows ${Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX)}`;
  }
  if (l.maxComputeWorkgroupStorageSize < SCORE_WORKGROUP_BYTES) {
    return `the score kernel needs ${SCORE_WORKGROUP_BYTES} bytes of workgroup memory, the device has ${l.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

/** The chunking of a call, or the reason the device cannot take it. */
export function planTopk(rt: GpuRuntime, B: number, K: number, N: number, topk: number): TopkPlan | string {
  const binding = rt.bindingBytes;
  if (topk > MAX_TOPK) return `topk ${topk} exceeds ${MAX_TOPK}, the most the webgpu kernel keeps per lane; use the native or js backend`;
  // One label (K values of M) and one row (K values of W) must each fit a binding.
  const perBinding = Math.floor(binding / (4 * Math.max(K, 1)));
  if (perBinding < 1) return `K = ${K}: one label's ${K} f32 values exceed the webgpu binding limit of ${binding} bytes`;
  const labelsPerChunk = Math.min(N, perBinding);
  const rowBlocks = Math.ceil(Math.min(B, perBinding) / TILE_ROWS);
  const tiles = Math.ceil(labelsPerChunk / TILE_LABELS);
  let spans = Math.max(1, Math.min(MAX_SPANS, tiles, Math.ceil(TARGET_GROUPS / rowBlocks)));
  const rowBytes = (s: number) => (1 + s * TILE.LANES) * topk * ENTRY_BYTES;
  // Fewer spans first, so that a whole row block's lists fit; at one span, any row at all.
  while (spans > 1 && Math.floor(binding / rowBytes(spans)) < Math.min(B, TILE_ROWS)) spans--;
  const rowsByLists = Math.floor(binding / rowBytes(spans));
  if (rowsByLists < 1) {
    return `topk ${topk}: one row's ${rowBytes(1)} bytes of candidate lists exceed the webgpu binding limit of ${binding} bytes`;
  }
  const spanLen = Math.ceil(tiles / spans) * TILE_LABELS;
  const spanStride = Math.ceil(labelsPerChunk / spanLen);
  return {
    rowsPerChunk: Math.min(B, perBinding, rowsByLists),
    labelsPerChunk,
    spanLen,
    spanStride,
    entriesPerRow: (1 + spanStride * TILE.LANES) * topk,
  };
}

/** Why the webgpu kernel cannot take these arguments, or null. */
export function topkAccepts(rt: GpuRuntime, args: FrechetTopkArgs): string | null {
  const f64 = [['W', args.W], ['M', args.M], ['bias', args.bias], ['scores', args.scores]].find(
    ([, a]) => a !== null && !(a instanceof Float32Array),
  );
  if (f64) return `${f64[0] as string}: the webgpu backend computes in f32 only (WGSL has no f64), got a ${(f64[1] as object).constructor.name}`;
  const trouble = deviceTrouble(rt);
  if (trouble) return trouble;
  const plan = planTopk(rt, args.B, args.K, args.N, args.topk);
  return typeof plan === 'string' ? plan : null;
}
