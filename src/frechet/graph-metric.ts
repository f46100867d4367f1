/**
 * A graph label metric with its K shortest-path rows computed once (docs/frechet.md §3.3): K BFS runs
 * (unweighted) or Dijkstra runs (weighted), O(K·(|V| + |E|)) time and O(K·N) memory, never all pairs.
 *
 * The rows are kept squared, in the metric's dtype, label-major ('nk': row j holds label j's K squared
 * distances), so any contiguous label range is a zero-copy slice for sharding. A disconnected graph is
 * cut into one block per component that holds observed classes; inside a block the squared distance to
 * an observed class in another component is stored as 0 — the disconnected-graph rule
 * (docs/frechet.md §2.3) predicts only inside one component and drops the infinitely distant terms.
 */
import { fail } from '../core/errors.js';
import { contentPrint } from '../core/fingerprint.js';
import type { CsrMatrix, DType, FloatArray } from '../core/types.js';
import { dtypeOf } from '../core/types.js';
import { checkOptions, describe } from '../core/validate.js';
import { checkWeightedFlag, components, PathScratch, shortestPaths, snapshotGraph, TreeDistances, type Components, type Graph } from './graph.js';
import { checkObserved, DTYPE_MAX, MAX_INDEX } from './validate.js';

/** One component's cached rows. */
export interface GraphBlock {
  readonly component: number;
  /** Label ids of the block's rows, ascending; null when the block is the whole (connected) graph. */
  readonly ids: Int32Array | null;
  /** n×K row-major squared distances (layout 'nk'). */
  readonly M: FloatArray;
  readonly n: number;
}

export interface GraphMetricOptions {
  /** Use adjacency.values as edge lengths (Dijkstra); default false: hop counts (BFS), values ignored. */
  weighted?: boolean;
  /** dtype of the cached squared distances and of the P it accepts; default that of adjacency.values. */
  dtype?: DType;
}

export class GraphMetric {
  readonly kind = 'graph' as const;
  readonly observed: Int32Array;
  readonly weighted: boolean;
  readonly dtype: DType;
  readonly numLabels: number;
  /** Seconds spent on the K shortest-path runs and the row copy (bench/suites/frechet.ts reports it). */
  readonly buildSeconds: number;
  /** @internal the validated snapshot of the adjacency. */
  readonly graph: Graph;
  /** @internal */
  readonly components: Components;
  /** @internal one per component holding observed classes, in component order. */
  readonly blocks: readonly GraphBlock[];
  /** @internal block index of each component (−1: no observed class there). */
  readonly blockOfComponent: Int32Array;

  /** @internal use graphMetric(). */
  constructor(parts: {
    observed: Int32Array; weighted: boolean; dtype: DType; graph: Graph; components: Components; blocks: GraphBlock[]; blockOfComponent: Int32Array; buildSeconds: number;
  }) {
    this.observed = parts.observed;
    this.weighted = parts.weighted;
    this.dtype = parts.dtype;
    this.numLabels = parts.graph.n;
    this.graph = parts.graph;
    this.components = parts.components;
    this.blocks = parts.blocks;
    this.blockOfComponent = parts.blockOfComponent;
    this.buildSeconds = parts.buildSeconds;
    Object.freeze(this);
  }

  /** Whether every label is reachable from every other (then there is a single block, ids null). */
  get connected(): boolean {
    return this.components.count === 1;
  }

  /** Bytes held by the cached rows (K·N·sizeof(dtype) for a connected graph) plus the graph snapshot. */
  get bytes(): number {
    let b = this.graph.rowPtr.byteLength + this.graph.colIdx.byteLength + (this.graph.weights?.byteLength ?? 0);
    for (const blk of this.blocks) b += blk.M.byteLength + (blk.ids?.byteLength ?? 0);
    return b;
  }

  /** @internal fingerprint of what a plain {kind: 'graph'} descriptor's rows derive from. */
  static sourceKey(spec: { adjacency?: CsrMatrix; observed?: Int32Array; weighted?: boolean; dtype?: DType }): string {
    const a = spec.adjacency;
    if (!a || !(a.rowPtr instanceof Int32Array) || !(a.colIdx instanceof Int32Array) || !ArrayBuffer.isView(a.values) || !(spec.observed instanceof Int32Array)) return '';
    return [a.nrows, a.ncols, String(spec.weighted), String(spec.dtype), contentPrint(a.rowPtr), contentPrint(a.colIdx),
      spec.weighted ? contentPrint(a.values) : dtypeOf(a.values), contentPrint(spec.observed)].join('/');
  }
}

/** Connected graph: row v is label v and every source reaches it. Small functions keep V8's stores monomorphic. */
function writeWhole(M: FloatArray, dist: readonly Float64Array[], g: number, N: number, K: number, k0: number): void {
  for (let v = 0; v < N; v++) {
    const row = v * K + k0;
    for (let i = 0; i < g; i++) {
      const d = dist[i]![v]!;
      M[row + i] = d * d;
    }
  }
}

/** Tree pass in BFS order: position t is label order[t], so each label's row is written where it lies. */
function writeTree(M: FloatArray, order: Int32Array, dist: readonly Float64Array[], g: number, N: number, K: number, k0: number): void {
  for (let t = 0; t < N; t++) {
    const row = order[t]! * K + k0;
    for (let i = 0; i < g; i++) {
      const d = dist[i]![t]!;
      M[row + i] = d * d;
    }
  }
}

function writeBlocks(
  blocks: readonly GraphBlock[], blockOfComponent: Int32Array, comp: Int32Array, pos: Int32Array, srcComp: Int32Array,
  dist: readonly Float64Array[], g: number, N: number, K: number, k0: number,
): void {
  for (let v = 0; v < N; v++) {
    const c = comp[v]!;
    const bi = blockOfComponent[c]!;
    if (bi < 0) continue;
    const M = blocks[bi]!.M;
    const row = pos[v]! * K + k0;
    for (let i = 0; i < g; i++) {
      if (srcComp[i] !== c) continue;
      const d = dist[i]![v]!;
      M[row + i] = d * d;
    }
  }
}

/** Shortest-path sources run together so the transposed writes into the 'nk' rows touch whole cache lines. */
const GROUP = 16;

/**
 * Validates the graph (square, symmetric, weights > 0 when weighted) and the observed ids, then runs the
 * K shortest-path searches and keeps their squared distances. The adjacency and observed arrays are
 * copied: later edits of the caller's arrays do not change the metric.
 */
export function graphMetric(adjacency: CsrMatrix, observed: Int32Array, options?: GraphMetricOptions, name = 'metric'): GraphMetric {
  const t0 = performance.now();
  const o = checkOptions<GraphMetricOptions>(options, 'options');
  const weighted = checkWeightedFlag(o.weighted, `${name}.weighted`);
  const graph = snapshotGraph(adjacency, weighted, `${name}.adjacency`);
  const dtype = o.dtype === undefined ? dtypeOf(adjacency.values) : o.dtype;
  if (dtype !== 'f32' && dtype !== 'f64') fail('E_DTYPE', `${name}.dtype`, `expected 'f32' or 'f64', got ${describe(dtype)}`);
  const obs = checkObserved(observed, graph.n, `${name}.observed`).slice();
  const K = obs.length;
  const N = graph.n;
  if (N * K > MAX_INDEX) fail('E_RANGE', `${name}.observed`, `${K} rows of ${N} labels exceed the 2^31 − 1 elements a kernel can index`);
  const comps = components(graph);
  const blockOfComponent = new Int32Array(comps.count).fill(-1);
  const blocks: GraphBlock[] = [];
  for (let k = 0; k < K; k++) {
    const c = comps.comp[obs[k]!]!;
    if (blockOfComponent[c] !== -1) continue;
    blockOfComponent[c] = -2; // placeholder: blocks are numbered in component order below
  }
  // Row of each label inside its component's block: labels keep ascending order, so ties by row are ties by id.
  const pos = new Int32Array(N);
  const fill = new Int32Array(comps.count);
  for (let v = 0; v < N; v++) pos[v] = fill[comps.comp[v]!]!++;
  for (let c = 0; c < comps.count; c++) {
    if (blockOfComponent[c] !== -2) continue;
    blockOfComponent[c] = blocks.length;
    const n = comps.size[c]!;
    blocks.push({ component: c, ids: comps.count === 1 ? null : new Int32Array(n), M: dtype === 'f32' ? new Float32Array(n * K) : new Float64Array(n * K), n });
  }
  if (comps.count > 1) {
    for (let v = 0; v < N; v++) {
      const bi = blockOfComponent[comps.comp[v]!]!;
      if (bi >= 0) blocks[bi]!.ids![pos[v]!] = v;
    }
  }
  const scratch = new PathScratch(N);
  const dist = Array.from({ length: Math.min(GROUP, K) }, () => new Float64Array(N));
  const srcComp = new Int32Array(GROUP);
  const limit = DTYPE_MAX[dtype];
  const one = new Int32Array(1);
  const whole = blocks.length === 1 && blocks[0]!.ids === null ? blocks[0]!.M : null;
  // A connected tree needs no search per source: one near-sequential pass each (TreeDistances).
  const tree = whole !== null && comps.edges[0] === N - 1 ? new TreeDistances(graph) : null;
  for (let k0 = 0; k0 < K; k0 += GROUP) {
    const g = Math.min(GROUP, K - k0);
    for (let i = 0; i < g; i++) {
      one[0] = obs[k0 + i]!;
      const far = tree !== null ? tree.fromSource(one[0], dist[i]!) : shortestPaths(graph, one, dist[i]!, scratch);
      if (!(far * far <= limit)) {
        fail('E_RANGE', `${name}.adjacency.values`, `a distance of ${far} from label ${one[0]} overflows ${dtype} when squared; rescale the edge lengths`);
      }
      srcComp[i] = comps.comp[one[0]]!;
    }
    if (tree !== null && tree.order !== null) writeTree(whole!, tree.order, dist, g, N, K, k0);
    else if (whole !== null) writeWhole(whole, dist, g, N, K, k0);
    else writeBlocks(blocks, blockOfComponent, comps.comp, pos, srcComp, dist, g, N, K, k0);
  }
  return new GraphMetric({ observed: obs, weighted, dtype, graph, components: comps, blocks, blockOfComponent, buildSeconds: (performance.now() - t0) / 1e3 });
}
