/**
 * Loki prediction (docs/frechet.md §2): ŷ = argmin_y Σ_k P[b,k]·d²(y, observed[k]) over every label y,
 * with the topk smallest kept per row. Each metric is reduced to the one fused kernel frechetTopk
 * (src/frechet/ops.ts): W, M, bias and the label ids the kernel reports. The B×N score matrix never
 * exists; extra memory is O(B·topk) plus what a reduction needs (docs/frechet.md §8).
 */
import type { Engine } from '../core/engine.js';
import { fail, throwIfAborted } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { BackendName, DenseMatrix, DType, FloatArray } from '../core/types.js';
import { allocLike } from '../core/types.js';
import { resolveMetric, type FrechetMetric, type ResolvedEmbedding, type ResolvedGraph, type ResolvedMatrix, type ResolvedMetric } from './metric.js';
import type { FrechetLayout } from './ops.js';
import { mergeLists, type FrechetPartial, type Lists } from './shards.js';
import { checkBoolean, checkRange, checkTies, checkTopk, checkWeightsShape, checkWeightValues, Deferred, MAX_INDEX } from './validate.js';
import './ops.js';

export interface FrechetPredictOptions extends OpOptions {
  /** Labels kept per row, best first (default 1); 1 ≤ topk ≤ the labels the metric covers. */
  topk?: number;
  /** Exact ties go to the smaller label id; the only rule (docs/frechet.md §4.2). */
  ties?: 'first';
  /** Also return each kept label's score Σ_k P[b,k]·d²(label, observed[k]) (default false). */
  scores?: boolean;
}

export interface FrechetPrediction<T extends FloatArray = FloatArray> {
  /** rows×topk row-major: each row's labels by increasing score, ties to the smaller id. */
  readonly labels: Int32Array;
  /**
   * Same layout, in P's dtype; present when options.scores: Σ_k P[b,k]·d²(label, observed[k]), or +Infinity
   * for padding. For an embedding metric the ranking is by the reduced score (docs/frechet.md §3.2), and
   * these are mapped from it, so two labels a rounding apart may show equal scores in rank order.
   */
  readonly scores?: T;
  readonly topk: number;
  /** The backend that ran the kernel (the largest call, when a disconnected graph needs several). */
  readonly backend: BackendName;
}

export interface FrechetShardOptions extends Omit<FrechetPredictOptions, 'scores'> {
  /** Label ids [start, end) of this shard, within what the metric covers (default: all of it). */
  range?: readonly [number, number];
}

/** One kernel operand over a run of labels: the kernel's local j is label labelOffset + j, or ids[j]. */
interface Segment {
  readonly M: FloatArray;
  readonly layout: FrechetLayout;
  readonly n: number;
  readonly bias: FloatArray | null;
  readonly labelOffset: number;
  readonly ids: Int32Array | null;
}

/** Rows that share W's columns and the segments they are scored over. */
interface Group {
  /** Row indices into the batch; null = every row, in order. */
  readonly rows: Int32Array | null;
  readonly W: FloatArray;
  readonly Kw: number;
  readonly segments: readonly Segment[];
  /** W is P itself and M is D itself: the deferred checks of P and D (if pending) ride on the kernel. */
  readonly screens?: boolean;
}

interface Run {
  readonly labels: Int32Array;
  /** What the kernel ranked: the Loki objective, or for an embedding metric the reduced score r (see embeddingGroup). */
  readonly scores: FloatArray;
  readonly backend: BackendName;
  /** Embedding metrics: the per-row c of the reduction. */
  readonly shift?: Float64Array;
}

interface Prepared {
  readonly metric: ResolvedMetric;
  readonly P: DenseMatrix;
  /** P's row sums; null while P's value check is deferred (the metrics whose kernel takes W = P). */
  readonly rowSums: Float64Array | null;
  readonly topk: number;
  readonly range: [number, number];
}

/**
 * Every check, in the order of docs/frechet.md §9. The value checks of P, and of a D of squared
 * distances, go to `deferred` where the kernel can make them in its own pass: for a matrix metric and a
 * connected graph (W = P); an embedding metric needs P's row sums first.
 */
function prepare(P: unknown, metric: unknown, o: Partial<FrechetShardOptions>, shard: boolean, deferred: Deferred): Prepared {
  checkTies(o.ties);
  const m = resolveMetric(metric, { checkFinite: o.checkFinite, defer: deferred });
  const range = shard ? checkRange(o.range, m.offset, m.offset + m.n) : [m.offset, m.offset + m.n] as [number, number];
  const Pm = checkWeightsShape(P, m.K, m.dtype, 'metric.observed');
  let rowSums: Float64Array | null = null;
  if (m.kind === 'matrix' || (m.kind === 'graph' && m.graph.blocks.length === 1)) deferred.add('P', () => checkWeightValues(Pm));
  else rowSums = checkWeightValues(Pm);
  // A shard's list may run past its own labels (padding) but not past the whole label space.
  const topk = checkTopk(o.topk, shard ? m.count : range[1] - range[0]);
  if (Pm.rows * topk > MAX_INDEX) fail('E_RANGE', 'options.topk', `${Pm.rows} rows × topk ${topk} exceed the 2^31 − 1 outputs a kernel can write`);
  return { metric: m, P: Pm, rowSums, topk, range };
}

/** ctx.frechet.predict: the Loki prediction over every label the metric covers. */
export async function predict(engine: Engine, P: DenseMatrix, metric: FrechetMetric, options?: FrechetPredictOptions): Promise<FrechetPrediction> {
  const o = checkOpOptions<FrechetPredictOptions>(options);
  const wantScores = checkBoolean(o.scores, 'options.scores', false);
  const deferred = new Deferred();
  const { prep, run } = await deferred.guard(async () => {
    const prep = prepare(P, metric, o, false, deferred);
    return { prep, run: await execute(engine, prep, o, deferred) };
  });
  if (wantScores && prep.metric.kind === 'embedding') {
    // Back from the reduced score to the Loki objective S·(r + c). The labels keep the kernel's order:
    // two reduced scores a rounding apart may map to equal objectives, still ranked by the reduced one.
    const { rowSums, topk } = prep;
    for (let i = 0; i < run.labels.length; i++) {
      if (run.labels[i] === -1) continue;
      const b = (i / topk) | 0;
      run.scores[i] = rowSums![b]! * (run.scores[i]! + run.shift![b]!);
    }
  }
  return wantScores ? { labels: run.labels, scores: run.scores, topk: prep.topk, backend: run.backend } : { labels: run.labels, topk: prep.topk, backend: run.backend };
}

/** ctx.frechet.predictShard: the partial over labels [start, end) (padded when the shard has fewer than topk). */
export async function predictShard(engine: Engine, P: DenseMatrix, metric: FrechetMetric, options?: FrechetShardOptions): Promise<FrechetPartial & { backend: BackendName }> {
  const o = checkOpOptions<FrechetShardOptions>(options);
  const deferred = new Deferred();
  const { prep, run } = await deferred.guard(async () => {
    const prep = prepare(P, metric, o, true, deferred);
    return { prep, run: await execute(engine, prep, o, deferred) };
  });
  return { kind: 'frechet-partial', rows: prep.P.rows, topk: prep.topk, labels: run.labels, scores: run.scores, backend: run.backend };
}

async function execute(engine: Engine, prep: Prepared, o: Partial<FrechetPredictOptions>, deferred: Deferred): Promise<Run> {
  const { metric: m, P, rowSums, topk, range } = prep;
  switch (m.kind) {
    case 'matrix': return runGroups(engine, [matrixGroup(m, P, range, deferred)], P.rows, topk, m.dtype, o, deferred);
    case 'embedding': {
      const { group, shift } = await embeddingGroup(engine, m, P, rowSums!, range, o);
      return { ...(await runGroups(engine, [group], P.rows, topk, m.dtype, o, deferred)), shift };
    }
    case 'graph': return runGroups(engine, graphGroups(m, P, range), P.rows, topk, m.dtype, o, deferred);
  }
}

function alloc(dtype: DType, n: number): FloatArray {
  return dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
}

/**
 * W = P, M = D² ('kn'), no bias. D is used in place when it already holds squares of the whole range, and
 * the kernel then screens it; a copy is made of checked values (D's check runs first, P's stays deferred).
 */
function matrixGroup(m: ResolvedMatrix, P: DenseMatrix, [start, end]: [number, number], deferred: Deferred): Group {
  const { K, n: N, D } = m;
  const j0 = start - m.offset;
  const n = end - start;
  let M: FloatArray;
  if (m.squared && n === N) {
    M = D;
  } else {
    deferred.flush('D');
    M = alloc(m.dtype, K * n);
    for (let k = 0; k < K; k++) {
      const src = k * N + j0;
      const dst = k * n;
      if (m.squared) M.set(D.subarray(src, src + n), dst);
      else for (let t = 0; t < n; t++) M[dst + t] = D[src + t]! * D[src + t]!;
    }
  }
  return { rows: null, W: P.data, Kw: K, segments: [{ M, layout: 'kn', n, bias: null, labelOffset: start, ids: null }], screens: true };
}

/**
 * The barycenter reduction (docs/frechet.md §3.2): Σ_k p_k‖e_y − e_k‖² = S·(r_y + c) with the reduced
 * score r_y = ‖e_y‖² − 2⟨e_y, m⟩, S = Σ_k p_k, m = Σ_k p_k e_k / S and c = Σ_k p_k‖e_k‖² / S. The kernel
 * ranks r (W = −2m, M = E, bias = ‖e_y‖²): every shard of the same P ranks the same numbers, so
 * partials merge exactly; predict maps the kept scores back to the objective.
 */
async function embeddingGroup(
  engine: Engine, m: ResolvedEmbedding, P: DenseMatrix, rowSums: Float64Array, [start, end]: [number, number], o: Partial<FrechetPredictOptions>,
): Promise<{ group: Group; shift: Float64Array }> {
  const { K, dim, observedE, E } = m;
  const B = P.rows;
  const W = alloc(m.dtype, B * dim);
  const shift = new Float64Array(B);
  const norms = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += observedE[k * dim + i]! ** 2;
    norms[k] = s;
  }
  // Every backend gives the same bits (ops.ts): the one asked for when it has the op, else the fastest.
  const pinned = o.backend !== undefined && o.backend !== 'auto' && engine.supports(o.backend, 'frechetBarycenters', m.dtype) ? o.backend : undefined;
  await engine.run('frechetBarycenters', { P: P.data, B, K, E: observedE, dim, norms, rowSums, W, shift }, { backend: pinned, signal: o.signal, dtype: m.dtype, size: B * K * dim });
  const j0 = start - m.offset;
  const n = end - start;
  const bias = alloc(m.dtype, n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += E[(j0 + t) * dim + i]! ** 2;
    bias[t] = s;
  }
  const M = E.subarray(j0 * dim, (j0 + n) * dim);
  return { group: { rows: null, W, Kw: dim, segments: [{ M, layout: 'nk', n, bias, labelOffset: start, ids: null }] }, shift };
}

/**
 * Graph rows are scored per component block (docs/frechet.md §2.3). A connected graph is one block and
 * one kernel call with W = P. Otherwise each row is scored in the component(s) holding the largest
 * total weight of its observed classes — the limit of replacing the infinite distances by R → ∞ —
 * and rows are grouped by that choice.
 */
function graphGroups(m: ResolvedGraph, P: DenseMatrix, [start, end]: [number, number]): Group[] {
  const g = m.graph;
  const K = m.K;
  const B = P.rows;
  const segmentOf = (bi: number): Segment | null => {
    const blk = g.blocks[bi]!;
    if (blk.ids === null) {
      return { M: blk.M.subarray(start * K, end * K), layout: 'nk', n: end - start, bias: null, labelOffset: start, ids: null };
    }
    const lo = lowerBound(blk.ids, start);
    const hi = lowerBound(blk.ids, end);
    if (hi === lo) return null;
    return { M: blk.M.subarray(lo * K, hi * K), layout: 'nk', n: hi - lo, bias: null, labelOffset: 0, ids: blk.ids.subarray(lo, hi) };
  };
  const segs = (list: readonly number[]) => list.map(segmentOf).filter((s): s is Segment => s !== null);
  if (g.blocks.length === 1 || B === 0) return [{ rows: null, W: P.data, Kw: K, segments: segs([0]), screens: true }];
  const nb = g.blocks.length;
  const blockOf = new Int32Array(K);
  for (let k = 0; k < K; k++) blockOf[k] = g.blockOfComponent[g.components.comp[m.observed[k]!]!]!;
  const mass = new Float64Array(nb);
  const byKey = new Map<string, { winners: number[]; rows: number[] }>();
  for (let b = 0; b < B; b++) {
    mass.fill(0);
    for (let k = 0; k < K; k++) mass[blockOf[k]!] += P.data[b * K + k]!;
    let max = 0;
    for (let i = 0; i < nb; i++) if (mass[i]! > max) max = mass[i]!;
    const winners: number[] = [];
    for (let i = 0; i < nb; i++) if (mass[i] === max) winners.push(i);
    const key = winners.join(',');
    let e = byKey.get(key);
    if (!e) byKey.set(key, (e = { winners, rows: [] }));
    e.rows.push(b);
  }
  const groups: Group[] = [];
  for (const { winners, rows } of byKey.values()) {
    const W = allocLike(P.data, rows.length * K);
    for (let r = 0; r < rows.length; r++) W.set(P.data.subarray(rows[r]! * K, rows[r]! * K + K), r * K);
    groups.push({ rows: Int32Array.from(rows), W, Kw: K, segments: segs(winners) });
  }
  return groups;
}

function lowerBound(a: Int32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Runs every group's segments through the kernel, merges segments by (score, id) and scatters rows into
 * the output. The deferred checks ride on the first call when its group screens (a single call, W = P
 * and M = D or cached BFS rows); otherwise they run before it. A call that flags a value, or whose backend
 * does not screen, has them run before its result is used; one they pass after a flag (the native f64
 * sum test is conservative) is made again unscreened.
 */
async function runGroups(engine: Engine, groups: readonly Group[], B: number, topk: number, dtype: DType, o: Partial<FrechetPredictOptions>, deferred: Deferred): Promise<Run> {
  const labels = new Int32Array(B * topk).fill(-1);
  const scores = alloc(dtype, B * topk).fill(Infinity);
  let backend: BackendName | null = null;
  let biggest = -1;
  const req = { backend: o.backend, strict: o.strict, signal: o.signal, onProgress: o.onProgress, dtype };
  if (groups.length !== 1 || groups[0]!.segments.length !== 1 || groups[0]!.screens !== true) deferred.flush();
  for (const grp of groups) {
    const Bg = grp.rows === null ? B : grp.rows.length;
    const lists: Lists[] = [];
    for (const seg of grp.segments) {
      throwIfAborted(o.signal);
      const t = Math.min(topk, seg.n);
      const out = { labels: new Int32Array(Bg * t), scores: alloc(dtype, Bg * t) };
      const size = Bg * grp.Kw * seg.n;
      const args = { W: grp.W, B: Bg, K: grp.Kw, M: seg.M, N: seg.n, layout: seg.layout, bias: seg.bias, labelOffset: seg.labelOffset, topk: t, ...out };
      let r = await engine.run('frechetTopk', { ...args, screenW: deferred.has('P'), screenM: deferred.has('D') }, { ...req, size });
      if (r.value?.screened && !r.value.bad) deferred.clear();
      else {
        deferred.flush();
        if (r.value?.bad) r = await engine.run('frechetTopk', args, { ...req, size });
      }
      if (size > biggest) {
        biggest = size;
        backend = r.backend;
      }
      if (seg.ids !== null) for (let i = 0; i < out.labels.length; i++) out.labels[i] = seg.ids[out.labels[i]!]!;
      lists.push({ ...out, width: t });
    }
    let res: { labels: Int32Array; scores: FloatArray };
    if (lists.length === 1 && lists[0]!.width === topk) {
      res = lists[0]!;
    } else {
      res = { labels: new Int32Array(Bg * topk), scores: alloc(dtype, Bg * topk) };
      mergeLists(lists, Bg, topk, res, 'metric');
    }
    scatter(res, grp.rows, topk, labels, scores);
  }
  // No call at all only when a shard range holds no label of any row's component (§2.3): every row was
  // padded on the host, reported as 'js'. (B = 0 still makes one call with no rows.)
  return { labels, scores, backend: backend ?? 'js' };
}

function scatter(res: { labels: Int32Array; scores: FloatArray }, rows: Int32Array | null, topk: number, labels: Int32Array, scores: FloatArray): void {
  if (rows === null) {
    labels.set(res.labels);
    scores.set(res.scores);
    return;
  }
  for (let r = 0; r < rows.length; r++) {
    labels.set(res.labels.subarray(r * topk, r * topk + topk), rows[r]! * topk);
    scores.set(res.scores.subarray(r * topk, r * topk + topk), rows[r]! * topk);
  }
}
