/**
 * GPU buffer pool: buffers bucketed by (size rounded up to 16 bytes, usage).
 *
 * Reuse rule: a caller releases a buffer only after the queue.submit() of every command buffer
 * that references it (or after dropping an encoder it never submitted). WebGPU orders queue
 * operations, so a later writeBuffer or dispatch on the reused buffer runs after the work that used
 * it, and no fence is needed. MAP_READ buffers come back unmapped.
 */

/** GPUBufferUsage / GPUMapMode flag values, fixed by the WebGPU specification. The package keeps
 * its globals off globalThis unless asked, and this backend leaves globalThis alone. */
export const Usage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
export const MAP_MODE_READ = 0x0001;

export const STORAGE_IN = Usage.STORAGE | Usage.COPY_DST;
export const STORAGE_OUT = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;
export const UNIFORM = Usage.UNIFORM | Usage.COPY_DST;
export const STAGING = Usage.MAP_READ | Usage.COPY_DST;

export interface PoolStats {
  /** Buffers created because no pooled one fitted. */
  readonly created: number;
  /** Acquisitions served from the pool. */
  readonly reused: number;
  /** Buffers currently held by the pool, free for reuse. */
  readonly pooled: number;
  readonly pooledBytes: number;
}

export function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pooledBytes = 0;
  private created = 0;
  private reused = 0;
  private closed = false;

  /**
   * @param device owner of the buffers.
   * @param maxPooledBytes free buffers beyond this total are destroyed on release rather than kept,
   *   so one huge call does not pin its memory for the life of the context.
   */
  constructor(private readonly device: GPUDevice, private readonly maxPooledBytes: number) {}

  /** A buffer of at least `bytes` (never 0: empty bindings are invalid) with exactly `usage`. */
  acquire(bytes: number, usage: number, label?: string): GPUBuffer {
    const size = align16(Math.max(bytes, 16));
    const bucket = this.free.get(key(size, usage));
    const buf = bucket?.pop();
    if (buf) {
      this.pooledBytes -= size;
      this.reused++;
      return buf;
    }
    this.created++;
    return this.device.createBuffer({ size, usage, label: label ?? `numkern pool ${size}B` });
  }

  release(buf: GPUBuffer): void {
    if (buf.mapState !== 'unmapped') buf.unmap();
    if (this.closed || this.pooledBytes + buf.size > this.maxPooledBytes) {
      buf.destroy();
      return;
    }
    const k = key(buf.size, buf.usage);
    let bucket = this.free.get(k);
    if (!bucket) this.free.set(k, (bucket = []));
    bucket.push(buf);
    this.pooledBytes += buf.size;
  }

  stats(): PoolStats {
    let pooled = 0;
    for (const b of this.free.values()) pooled += b.length;
    return { created: this.created, reused: this.reused, pooled, pooledBytes: this.pooledBytes };
  }

  /** Destroys every pooled buffer. */
  clear(): void {
    for (const bucket of this.free.values()) for (const b of bucket) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }

  /**
   * clear(), and from now on destroy what is released instead of pooling it: the device outlives
   * the context that owns this pool (device.ts), so buffers a call still holds at dispose must be
   * destroyed when it ends rather than wait for the device.
   */
  close(): void {
    this.closed = true;
    this.clear();
  }
}

function key(size: number, usage: number): string {
  return `${size}:${usage}`;
}
