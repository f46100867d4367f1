/**
 * Operands of single solves kept on the device between solves: CSR rowPtr, colIdx, values (f32, or
 * double-f32 pairs for CG) and the multicolour order, the coefficients of variable stencils, and
 * stencils' CSR twins for double-f32 CG, so a sequence of solves on one A,
 * or on shifts A + cI sharing its structure, uploads only what changed.
 *
 * An entry is found by the object it was made from (the array, or a stencil's coefficient object)
 * and a tag, and is used only if the arrays it was made from still hold what they held: every
 * solve takes a content fingerprint of them (fingerprint.ts: O(nnz), catches any single edited
 * value) and uploads again on a mismatch. Identity alone let a caller who edited A.values in place
 * get the old matrix's answer. A prepared operator's snapshot is private to it, so its uploads skip
 * the fingerprint, and are freed when the prepared operator is disposed.
 */
import { stencilSize } from '../../../core/stencil.js';
import type { StencilOperator } from '../../../core/types.js';
import type { PreparedToken } from '../../../relax/ops.js';
import { align16, STORAGE_IN } from '../buffers.js';
import type { GpuRuntime } from '../dispatch.js';
import { contentPrint } from '../../../core/fingerprint.js';
import { writeView } from '../upload.js';

/** Bytes of uploaded operands kept on the device between solves (least recently used go first). */
const UPLOAD_CACHE_BYTES = 256 * 2 ** 20;

interface Upload {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** Fingerprint of the arrays it was made from, at upload time. */
  readonly print: string;
  pins: number;
  /** Evicted or replaced while pinned: destroyed when the last solve using it ends. */
  orphan: boolean;
}

/** Counters of the operand upload cache, for tests and tools. */
export interface UploadStats {
  /** Operands uploaded (cache misses, including re-uploads after an in-place edit). */
  readonly uploads: number;
  /** Operands found on the device already, unchanged. */
  readonly hits: number;
  /** Bytes held. */
  readonly bytes: number;
}

/**
 * Uploaded operands per runtime. The WeakMap forgets entries whose key is collected; the LRU set
 * bounds the device memory they hold and is where buffers are destroyed. Entries in use by a
 * running solve are pinned.
 */
class UploadCache {
  private readonly entries = new WeakMap<object, Map<string, Upload>>();
  private readonly lru = new Set<Upload>();
  private bytes = 0;
  private uploads = 0;
  private hits = 0;

  constructor(private readonly device: GPUDevice, private readonly capacity: number) {}

  /**
   * The buffer for (key, tag) whose sources printed `print` when uploaded, uploading make()'s data
   * on a miss; pinned until unpin(). `name` is the argument an error about the data names.
   */
  get(key: object, tag: string, print: string, name: string, make: () => ArrayBufferView, owner?: PreparedToken): Upload {
    let byTag = this.entries.get(key);
    const hit = byTag?.get(tag);
    if (hit && hit.print === print && !hit.orphan) {
      this.lru.delete(hit);
      this.lru.add(hit);
      hit.pins++;
      this.hits++;
      return hit;
    }
    if (hit) {
      byTag!.delete(tag);
      this.release(hit);
    }
    const data = make();
    const bytes = align16(Math.max(data.byteLength, 16));
    this.evict(bytes);
    const buffer = this.device.createBuffer({ size: bytes, usage: STORAGE_IN, label: `numkern relax ${tag}` });
    try {
      writeView(this.device.queue, buffer, 0, data, name);
    } catch (e) {
      buffer.destroy();
      throw e;
    }
    const up: Upload = { buffer, bytes, print, pins: 1, orphan: false };
    owner?.own(() => this.release(up));
    if (!byTag) this.entries.set(key, (byTag = new Map()));
    byTag.set(tag, up);
    this.lru.add(up);
    this.bytes += bytes;
    this.uploads++;
    return up;
  }

  unpin(up: Upload): void {
    up.pins--;
    if (up.pins === 0 && up.orphan) up.buffer.destroy();
  }

  stats(): UploadStats {
    return { uploads: this.uploads, hits: this.hits, bytes: this.bytes };
  }

  /** Frees every entry (its runtime is being disposed; pinned ones go when their solve ends). */
  clear(): void {
    for (const up of [...this.lru]) this.release(up);
  }

  /**
   * Forgets an upload: its buffer is destroyed now, or when the solves using it end. An entry left
   * in the WeakMap is an orphan from then on, which get() treats as a miss.
   */
  private release(up: Upload): void {
    if (!this.lru.delete(up)) return;
    this.bytes -= up.bytes;
    up.orphan = true;
    if (up.pins === 0) up.buffer.destroy();
  }

  /** Least recently used first, skipping what running solves hold, until `incoming` fits. */
  private evict(incoming: number): void {
    for (const up of this.lru) {
      if (this.bytes + incoming <= this.capacity) return;
      if (up.pins === 0) this.release(up);
    }
  }
}

const uploadCaches = new WeakMap<GpuRuntime, UploadCache>();

function uploadCache(rt: GpuRuntime): UploadCache {
  let c = uploadCaches.get(rt);
  if (!c) {
    const cache = new UploadCache(rt.device, UPLOAD_CACHE_BYTES);
    uploadCaches.set(rt, (c = cache));
    // The device outlives the context: its uploads are freed with the context, not the device.
    rt.onDispose(() => {
      cache.clear();
      uploadCaches.delete(rt);
    });
  }
  return c;
}

export function uploadStats(rt: GpuRuntime): UploadStats {
  return uploadCache(rt).stats();
}

/** The uploads one solve uses, pinned until it ends; fingerprints are taken once per array per solve. */
export class Pins {
  private readonly held: Upload[] = [];
  private readonly prints = new Map<ArrayBufferView, string>();

  /** `prepared`: the operand is that prepared operator's private snapshot, which nobody edits. */
  constructor(private readonly cache: UploadCache, private readonly prepared?: PreparedToken) {}

  static of(rt: GpuRuntime, prepared?: PreparedToken): Pins {
    return new Pins(uploadCache(rt), prepared);
  }

  /**
   * The device copy of make()'s data, cached under (key, tag) for as long as every array in
   * `sources` (named by `name` in errors) keeps its contents.
   */
  get(key: object, tag: string, name: string, sources: readonly ArrayBufferView[], make: () => ArrayBufferView): GPUBuffer {
    const print = this.prepared ? 'prepared' : sources.map((s) => this.print(s)).join('|');
    const up = this.cache.get(key, tag, print, name, make, this.prepared);
    this.held.push(up);
    return up.buffer;
  }

  end(): void {
    for (const up of this.held) this.cache.unpin(up);
    this.held.length = 0;
  }

  private print(view: ArrayBufferView): string {
    let p = this.prints.get(view);
    if (p === undefined) this.prints.set(view, (p = contentPrint(view)));
    return p;
  }
}

/** Stencil coefficients for the device, direction-major: [diag | −x | +x | −y | +y (| −z | +z)]. */
export function stencilCoefs(S: StencilOperator): Float32Array {
  const c = S.coeffs;
  const n = stencilSize(S);
  if (c.kind !== 'variable') throw new Error('stencilCoefs: constant coefficients travel as uniforms');
  const out = new Float32Array((1 + c.offdiag.length) * n);
  out.set(c.diag, 0);
  c.offdiag.forEach((a, d) => out.set(a, (1 + d) * n));
  return out;
}
