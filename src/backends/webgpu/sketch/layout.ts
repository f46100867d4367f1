/**
 * Every layout the sketch kernels (kernels/sketch/*.wgsl) share with the host, written once: the one
 * uniform all passes read, and the constants generated from the op contract (src/sketch/ops.ts: the
 * Philox streams and the Feistel round count), so the WGSL never types a stream id a second time
 * (docs/ARCHITECTURE.md §7).
 */
import { SKETCH_STREAMS, SRHT_FEISTEL_ROUNDS } from '../../../sketch/ops.js';
import type { GpuRuntime } from '../dispatch.js';
import { WordStruct, wgslConstants, type WgslPrelude } from '../wgsl-layout.js';

/**
 * The uniform of every sketch pass. Rows: `rows` rows of this chunk, whose row 0 is global row
 * `rowBase` of the whole A. Output: rows [kBase, kBase + kCount) of S (of m), `cols` columns (A's and
 * b's, the augmented width). `colTiles` = ⌈cols / WG⌉; `groups` the workgroups that do work (the
 * rest of a folded grid returns at once). Dense kinds: `kind` (KIND_*). Sparse kinds: `s` nonzeros
 * per column. SRHT: block `h` of B = 2^bits rows, `half` = ⌈bits/2⌉, `stride` the FWHT stage's
 * half-length, `count` the sampled rows.
 */
export const SKETCH_PARAMS = new WordStruct('SketchParams', {
  m: 'u32',
  cols: 'u32',
  rows: 'u32',
  rowBase: 'u32',
  kBase: 'u32',
  kCount: 'u32',
  colTiles: 'u32',
  groups: 'u32',
  key0: 'u32',
  key1: 'u32',
  kind: 'u32',
  s: 'u32',
  h: 'u32',
  bits: 'u32',
  half: 'u32',
  stride: 'u32',
  count: 'u32',
  _pad0: 'u32',
  _pad1: 'u32',
  _pad2: 'u32',
});

/** Rows of S one dense-apply workgroup produces (its tile of S entries: KT·WG f32 of workgroup memory). */
export const DENSE_KT = 8;
export const KIND_GAUSSIAN = 0;
export const KIND_RADEMACHER = 1;
/** The sign bit of a sparse entry (row | SIGN_BIT when the entry is −1). */
export const SIGN_BIT = 0x80000000;

export function sketchConstants(): Record<string, number> {
  return {
    STREAM_GAUSSIAN: SKETCH_STREAMS.gaussian,
    STREAM_RADEMACHER: SKETCH_STREAMS.rademacher,
    STREAM_SPARSE: SKETCH_STREAMS.sparse,
    STREAM_SRHT_SIGN: SKETCH_STREAMS.srhtSign,
    STREAM_SRHT_PERM: SKETCH_STREAMS.srhtPermutation,
    FEISTEL_ROUNDS: SRHT_FEISTEL_ROUNDS,
    DENSE_KT,
    KIND_GAUSSIAN,
    KIND_RADEMACHER,
    SIGN_BIT,
  };
}

export const SKETCH_PRELUDE: WgslPrelude = {
  name: 'sketch',
  code: SKETCH_PARAMS.wgsl() + wgslConstants(sketchConstants()),
};

export function sketchPipeline(rt: GpuRuntime, file: string): Promise<GPUComputePipeline> {
  return rt.pipeline(`sketch/${file}`, 'main', SKETCH_PRELUDE);
}

/** Bytes of workgroup memory the sketch kernels need at workgroup size `wg`. */
export function sketchWorkgroupBytes(wg: number): number {
  return 4 * DENSE_KT * wg;
}
