/**
 * pgTokenLogprobs and pgTokenLogprobsBackward on the WebGPU backend, f32 (kernels/pg/token_logprobs*.wgsl).
 *
 * Rows are processed in chunks of about STREAM_CHUNK_BYTES of logits (at least one row), never more
 * than one storage binding holds (maxStorageBufferBindingSize: 128 MiB by default, ~220 rows at
 * V = 151,936), one submit per chunk, the abort signal checked between submits. A chunk's row count may pass 65,535 (small vocabularies): the dispatch is folded
 * over x and y (dispatch.ts foldWorkgroups) and the kernels recover the row from both. Results come
 * back through two staging buffers used in turn, so chunk c + 1 is uploaded and computed while chunk
 * c is read back.
 *
 * The forward writes its three per-row outputs as chunks arrive (they are outputs only). The
 * backward computes in place on the device copy of a chunk and copies it into gradLogits; when
 * gradLogits shares memory with logits (the in-place call), rows already written are gone from the
 * input, so a device failure once any chunk has landed cannot be retried on another backend: it is
 * reported as E_BACKEND_UNAVAILABLE naming gradLogits instead of E_DEVICE_LOST (which the engine
 * would retry on the overwritten logits). An abort between chunks likewise leaves an in-place
 * gradLogits part gradient, part logits.
 */
import type { KernelControl } from '../../../core/backend.js';
import { NumkernError } from '../../../core/errors.js';
import type { OpArgs } from '../../../core/ops.js';
import type { FloatArray } from '../../../core/types.js';
import { STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import type { GpuRuntime, Lease } from '../dispatch.js';
import { copyToStaging, readInto } from '../readback.js';
import { LOGPROB_PARAMS, NO_INDEX, pgPipeline, ROW_IN, ROW_OUT } from './layout.js';

type Forward = OpArgs<'pgTokenLogprobs'>;
type Backward = OpArgs<'pgTokenLogprobsBackward'>;

export function f32Array(a: FloatArray, name: string): Float32Array {
  if (!(a instanceof Float32Array)) {
    throw new NumkernError('E_DTYPE', `${name}: the webgpu backend computes in f32 only, got a ${a.constructor.name}`, { argument: name });
  }
  return a;
}

/**
 * Logit bytes per chunk when a binding would hold more. Measured on lavapipe: 128 MiB chunks made
 * the backward several times slower than 4 MiB ones (2.4 s against 0.45 s at 1024 × 32,000): three
 * such buffers exceed what the pool keeps, so each call creates and zero-fills them again, and
 * nothing overlaps. On a discrete GPU a 4 MiB chunk still costs ~100 µs of PCIe transfer, several
 * submits' worth, so smaller chunks lose little there.
 */
const STREAM_CHUNK_BYTES = 4 * 2 ** 20;

/** Rows of `vocab` f32 logits that fit one binding (0 when a single row does not). */
function rowsPerBinding(rt: GpuRuntime, vocab: number): number {
  return vocab > 0 ? Math.floor(rt.bindingElements(4) / vocab) : 0;
}

/** Rows of a chunk: as many as STREAM_CHUNK_BYTES hold, at least one, never more than a binding. */
export function rowsPerChunk(rt: GpuRuntime, vocab: number): number {
  return Math.min(rowsPerBinding(rt, vocab), Math.max(1, Math.floor(STREAM_CHUNK_BYTES / (4 * vocab))));
}

/** Why the log-prob kernels cannot take a vocabulary of this size here, or null. */
export function logprobsTrouble(rt: GpuRuntime, logits: FloatArray, vocab: number): string | null {
  if (!(logits instanceof Float32Array)) return `logits: the webgpu backend computes in f32 only, got a ${logits.constructor.name}`;
  if (!Number.isInteger(vocab) || vocab < 1) return `vocab: ${vocab} is not a positive integer`;
  if (rowsPerBinding(rt, vocab) < 1) {
    return `vocab: one row of ${vocab} f32 logits (${4 * vocab} bytes) exceeds the webgpu binding limit of ${rt.bindingBytes} bytes`;
  }
  return null;
}

/** Throws E_RANGE unless every target indexes the vocabulary (the kernels index logits by them). */
function checkTargets(targets: Int32Array, rows: number, vocab: number): void {
  if (targets.length !== rows) {
    throw new NumkernError('E_SHAPE', `targets: length ${targets.length}, expected ${rows} (one per row)`, { argument: 'targets' });
  }
  for (let n = 0; n < rows; n++) {
    const t = targets[n]!;
    if (!(t >= 0 && t < vocab)) {
      throw new NumkernError('E_RANGE', `targets: targets[${n}] = ${t} is outside [0, ${vocab})`, { argument: 'targets' });
    }
  }
}

function rowCount(logits: Float32Array, vocab: number): number {
  if (logits.length % vocab !== 0) {
    throw new NumkernError('E_SHAPE', `logits: length ${logits.length} is not a multiple of vocab ${vocab}`, { argument: 'logits' });
  }
  return logits.length / vocab;
}

function writeParams(rt: GpuRuntime, ub: GPUBuffer, rows: number, vocab: number, temperature: number): void {
  const words = new ArrayBuffer(LOGPROB_PARAMS.bytes);
  const u = new Uint32Array(words);
  const f = new Float32Array(words);
  u[LOGPROB_PARAMS.at.rows] = rows;
  u[LOGPROB_PARAMS.at.vocab] = vocab;
  f[LOGPROB_PARAMS.at.invTemp] = 1 / temperature;
  rt.device.queue.writeBuffer(ub, 0, words);
}

/** Chunks of rows [r0, r1). */
function* chunks(rows: number, perChunk: number): Generator<{ r0: number; r1: number; index: number }> {
  let index = 0;
  for (let r0 = 0; r0 < rows; r0 += perChunk) yield { r0, r1: Math.min(rows, r0 + perChunk), index: index++ };
}

/**
 * Two staging buffers used in turn: chunk c's results are read while chunk c + 1 runs. `take`
 * returns the buffer for the next chunk after finishing the read pending on it.
 */
class StagingRing {
  private readonly bufs: GPUBuffer[];
  private readonly pending: (Promise<void> | null)[] = [null, null];
  private turn = 0;

  constructor(lease: Lease, bytes: number) {
    this.bufs = [lease.acquire(bytes, STAGING), lease.acquire(bytes, STAGING)];
  }

  async take(): Promise<GPUBuffer> {
    const k = this.turn;
    await this.pending[k];
    this.pending[k] = null;
    return this.bufs[k]!;
  }

  /** Records the read of the buffer last taken (started after its submit) and moves to the other. */
  reading(p: Promise<void>): void {
    // Awaited by take() or drain(); until then a rejection must not count as unhandled.
    p.catch(() => undefined);
    this.pending[this.turn] = p;
    this.turn ^= 1;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
  }

  /** Waits for every pending read to end, failed or not: the buffers go back to the pool only after. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending);
  }
}

export async function webgpuTokenLogprobs(rt: GpuRuntime, args: Forward, ctl: KernelControl): Promise<number> {
  const logits = f32Array(args.logits, 'logits');
  const logp = f32Array(args.logp, 'logp');
  const lse = f32Array(args.lse, 'lse');
  const entropy = args.entropy === null ? null : f32Array(args.entropy, 'entropy');
  const { vocab, targets, temperature } = args;
  const rows = rowCount(logits, vocab);
  checkTargets(targets, rows, vocab);
  if (rows === 0) return -1;
  const perChunk = Math.min(rows, rowsPerChunk(rt, vocab));
  const outBytes = perChunk * ROW_OUT.bytes;

  return rt.guard('pgTokenLogprobs', ctl.signal, async (lease) => {
    const pipeline = await pgPipeline(rt, 'pg/token_logprobs.wgsl');
    const ub = lease.acquire(LOGPROB_PARAMS.bytes, UNIFORM);
    const xb = lease.acquire(perChunk * vocab * 4, STORAGE_IN);
    const tb = lease.acquire(perChunk * 4, STORAGE_IN);
    const ob = lease.acquire(outBytes, STORAGE_OUT);
    const bad = lease.acquire(4, STORAGE_OUT);
    // Per chunk: the rows' RowOut records, then the chunk's first non-finite index.
    const ring = new StagingRing(lease, outBytes + 4);
    const noIndex = new Uint32Array([NO_INDEX]);
    let firstBad = -1;

    const land = async (staging: GPUBuffer, r0: number, r1: number): Promise<void> => {
      const n = r1 - r0;
      const host = new Float32Array((n * ROW_OUT.bytes + 4) / 4);
      await readInto(staging, host);
      const b = new Uint32Array(host.buffer, n * ROW_OUT.bytes, 1)[0]!;
      // Chunks land in row order, so the first one reporting holds the smallest flat index.
      if (b !== NO_INDEX && firstBad < 0) firstBad = r0 * vocab + b;
      const w = ROW_OUT.words;
      for (let r = 0; r < n; r++) {
        logp[r0 + r] = host[r * w + ROW_OUT.at.logp]!;
        lse[r0 + r] = host[r * w + ROW_OUT.at.lse]!;
        if (entropy) entropy[r0 + r] = host[r * w + ROW_OUT.at.entropy]!;
      }
    };

    try {
      for (const { r0, r1 } of chunks(rows, perChunk)) {
        const n = r1 - r0;
        const staging = await ring.take();
        writeParams(rt, ub, n, vocab, temperature);
        rt.device.queue.writeBuffer(bad, 0, noIndex);
        rt.write(xb, logits.subarray(r0 * vocab, r1 * vocab), 'logits');
        rt.write(tb, targets.subarray(r0, r1), 'targets');
        const enc = rt.device.createCommandEncoder();
        rt.dispatch(enc, pipeline, [ub, { buffer: xb, size: n * vocab * 4 }, { buffer: tb, size: n * 4 }, { buffer: ob, size: n * ROW_OUT.bytes }, bad], n);
        copyToStaging(enc, ob, staging, n * ROW_OUT.bytes);
        copyToStaging(enc, bad, staging, 4, 0, n * ROW_OUT.bytes);
        rt.submit(enc, ctl.signal);
        ring.reading(land(staging, r0, r1));
      }
      await ring.drain();
    } finally {
      await ring.settle();
    }
    return firstBad;
  });
}

/** Whether two views share any byte of memory (the in-place backward). */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

export async function webgpuTokenLogprobsBackward(rt: GpuRuntime, args: Backward, ctl: KernelControl): Promise<void> {
  const logits = f32Array(args.logits, 'logits');
  const out = f32Array(args.gradLogits, 'gradLogits');
  const lse = f32Array(args.lse, 'lse');
  const entropy = args.entropy === null ? null : f32Array(args.entropy, 'entropy');
  const gL = args.gradLogp === null ? null : f32Array(args.gradLogp, 'gradLogp');
  const gH = args.gradEntropy === null ? null : f32Array(args.gradEntropy, 'gradEntropy');
  const { vocab, targets, temperature } = args;
  const rows = rowCount(logits, vocab);
  checkTargets(targets, rows, vocab);
  if (out.length !== logits.length) {
    throw new NumkernError('E_SHAPE', `gradLogits: length ${out.length}, expected ${logits.length}`, { argument: 'gradLogits' });
  }
  if (gH && !entropy) throw new NumkernError('E_SHAPE', 'entropy: needed with gradEntropy', { argument: 'entropy' });
  if (rows === 0) return;

  // Per-row inputs packed once (4 words a row; the logits dominate the traffic).
  const packed = new Float32Array(rows * ROW_IN.words);
  for (let n = 0; n < rows; n++) {
    const o = n * ROW_IN.words;
    packed[o + ROW_IN.at.lse] = lse[n]!;
    packed[o + ROW_IN.at.entropy] = entropy && gH ? entropy[n]! : 0;
    packed[o + ROW_IN.at.gradLogp] = gL ? gL[n]! : 0;
    packed[o + ROW_IN.at.gradEntropy] = gH ? gH[n]! : 0;
  }
  const inPlace = overlaps(logits, out);
  const perChunk = Math.min(rows, rowsPerChunk(rt, vocab));
  let landedRows = 0;

  try {
    await rt.guard('pgTokenLogprobsBackward', ctl.signal, async (lease) => {
      const pipeline = await pgPipeline(rt, 'pg/token_logprobs_backward.wgsl');
      const ub = lease.acquire(LOGPROB_PARAMS.bytes, UNIFORM);
      const xb = lease.acquire(perChunk * vocab * 4, STORAGE_OUT);
      const tb = lease.acquire(perChunk * 4, STORAGE_IN);
      const rb = lease.acquire(perChunk * ROW_IN.bytes, STORAGE_IN);
      const ring = new StagingRing(lease, perChunk * vocab * 4);
      try {
        for (const { r0, r1 } of chunks(rows, perChunk)) {
          const n = r1 - r0;
          const staging = await ring.take();
          writeParams(rt, ub, n, vocab, temperature);
          // Chunk c lands in rows other than c + 1's, so in place this upload still reads the input.
          rt.write(xb, logits.subarray(r0 * vocab, r1 * vocab), 'logits');
          rt.write(tb, targets.subarray(r0, r1), 'targets');
          rt.device.queue.writeBuffer(rb, 0, packed, r0 * ROW_IN.words, n * ROW_IN.words);
          const enc = rt.device.createCommandEncoder();
          rt.dispatch(enc, pipeline, [ub, { buffer: xb, size: n * vocab * 4 }, { buffer: tb, size: n * 4 }, { buffer: rb, size: n * ROW_IN.bytes }], n);
          copyToStaging(enc, xb, staging, n * vocab * 4);
          rt.submit(enc, ctl.signal);
          ring.reading(readInto(staging, out.subarray(r0 * vocab, r1 * vocab)).then(() => {
            landedRows = Math.max(landedRows, r1);
          }));
        }
        await ring.drain();
      } finally {
        await ring.settle();
      }
    });
  } catch (e) {
    // Even with every row landed, a retry would start from the gradient instead of the logits.
    if (inPlace && landedRows > 0 && e instanceof NumkernError && e.code === 'E_DEVICE_LOST') {
      throw new NumkernError(
        'E_BACKEND_UNAVAILABLE',
        `gradLogits: the webgpu device failed after rows [0, ${landedRows}) of ${rows} were written in place over logits, ` +
          `so the call cannot be retried on another backend (${e.message})`,
        { argument: 'gradLogits', cause: e },
      );
    }
    throw e;
  }
}
