/**
 * The three label metrics of the frechet family (docs/frechet.md §3) and their validation into one
 * resolved form that the predictor, the locus and the evaluation helpers share:
 *   - matrix:    D (K×n distances, squared or not), row k ↔ label observed[k];
 *   - embedding: E (n×dim), d² = squared Euclidean distance; the barycenter reduction needs no K×n matrix;
 *   - graph:     shortest-path distances in an undirected graph, K BFS / Dijkstra rows computed once and
 *                cached on a GraphMetric (see ./graph-metric.ts).
 * A matrix or embedding metric may be one shard of a larger label space: its columns (rows of E) are
 * then labels labelOffset … labelOffset + n − 1 of labelCount labels (docs/frechet.md §7).
 */
import { fail } from '../core/errors.js';
import type { CsrMatrix, DenseMatrix, DType, FloatArray } from '../core/types.js';
import { dtypeOf } from '../core/types.js';
import { checkDense, checkIntegerInRange, describe } from '../core/validate.js';
import { GraphMetric, graphMetric } from './graph-metric.js';
import { checkBoolean, checkDistances, checkObserved, type Deferred, DTYPE_MAX, MAX_INDEX, maxAbsFinite } from './validate.js';

/** Distances from the K observed classes (rows) to the labels (columns). */
export interface FrechetMatrixMetric<T extends FloatArray = FloatArray> {
  readonly kind: 'matrix';
  /** K×n row-major; D[k, j] = d(observed[k], labelOffset + j), or its square when `squared`. */
  readonly D: DenseMatrix<T>;
  /** D already holds squared distances (default false: they are squared per call, into a K×n copy). */
  readonly squared?: boolean;
  /** Label id of each row of D and column of P. */
  readonly observed: Int32Array;
  /** Shard placement: columns are labels labelOffset … labelOffset + n − 1 (default 0). */
  readonly labelOffset?: number;
  /** Size of the whole label space (default labelOffset + n); observed ids lie in [0, labelCount). */
  readonly labelCount?: number;
}

/** Label embeddings with d(y, y') = ‖e_y − e_y'‖ (docs/frechet.md §3.2). */
export interface FrechetEmbeddingMetric<T extends FloatArray = FloatArray> {
  readonly kind: 'embedding';
  /** n×dim row-major; row j is label labelOffset + j. */
  readonly E: DenseMatrix<T>;
  readonly observed: Int32Array;
  /** K×dim embeddings of the observed classes; needed when some observed label is not a row of E (a shard). */
  readonly observedE?: DenseMatrix<T>;
  readonly labelOffset?: number;
  readonly labelCount?: number;
}

/** Shortest-path metric of an undirected graph; prefer `graphMetric(...)`, which caches the K rows explicitly. */
export interface FrechetGraphSpec {
  readonly kind: 'graph';
  /** Symmetric CSR adjacency over all labels; values are edge lengths when `weighted`, ignored otherwise. */
  readonly adjacency: CsrMatrix;
  readonly weighted?: boolean;
  readonly observed: Int32Array;
  /** dtype of the cached squared distances (default: that of adjacency.values). */
  readonly dtype?: DType;
}

export type FrechetMetric<T extends FloatArray = FloatArray> = FrechetMatrixMetric<T> | FrechetEmbeddingMetric<T> | FrechetGraphSpec | GraphMetric;

interface Common {
  readonly dtype: DType;
  readonly observed: Int32Array;
  readonly K: number;
  /** Ids this metric's label operand covers: [offset, offset + n) of [0, count). */
  readonly offset: number;
  readonly n: number;
  readonly count: number;
}
export interface ResolvedMatrix extends Common {
  readonly kind: 'matrix';
  readonly D: FloatArray;
  readonly squared: boolean;
}
export interface ResolvedEmbedding extends Common {
  readonly kind: 'embedding';
  readonly E: FloatArray;
  readonly dim: number;
  /** e_{observed[k]} for each k, f64, K×dim. */
  readonly observedE: Float64Array;
}
export interface ResolvedGraph extends Common {
  readonly kind: 'graph';
  readonly graph: GraphMetric;
}
export type ResolvedMetric = ResolvedMatrix | ResolvedEmbedding | ResolvedGraph;

/**
 * Plain graph descriptors are turned into a GraphMetric once and kept by the descriptor's identity, with
 * a content fingerprint of what the rows derive from, so an in-place edit rebuilds them (docs/ARCHITECTURE.md §9).
 */
const graphCache = new WeakMap<object, { key: string; metric: GraphMetric }>();

/**
 * options.defer: the predictor's Deferred. The value check of a matrix metric's D that already holds
 * squared distances (the kernel's operand as it is) is then left to it (validate.ts, Deferred).
 */
export function resolveMetric(metric: unknown, options: { checkFinite?: boolean; defer?: Deferred } = {}, name = 'metric'): ResolvedMetric {
  if (metric instanceof GraphMetric) return fromGraph(metric);
  if (typeof metric !== 'object' || metric === null) fail('E_DTYPE', name, `expected a metric {kind: 'matrix' | 'embedding' | 'graph', ...}, got ${describe(metric)}`);
  const m = metric as { kind?: unknown };
  switch (m.kind) {
    case 'matrix': return resolveMatrix(metric as FrechetMatrixMetric, options.checkFinite !== false, name, options.defer);
    case 'embedding': return resolveEmbedding(metric as FrechetEmbeddingMetric, options.checkFinite !== false, name);
    case 'graph': return fromGraph(cachedGraph(metric as FrechetGraphSpec, name));
    default: return fail('E_RANGE', `${name}.kind`, `expected 'matrix', 'embedding' or 'graph', got ${describe(m.kind)}`);
  }
}

function fromGraph(g: GraphMetric): ResolvedGraph {
  return { kind: 'graph', dtype: g.dtype, observed: g.observed, K: g.observed.length, offset: 0, n: g.numLabels, count: g.numLabels, graph: g };
}

function cachedGraph(spec: FrechetGraphSpec, name: string): GraphMetric {
  const hit = graphCache.get(spec);
  if (hit && hit.key === GraphMetric.sourceKey(spec)) return hit.metric;
  const metric = graphMetric(spec.adjacency, spec.observed, { weighted: spec.weighted, dtype: spec.dtype }, name);
  graphCache.set(spec, { key: GraphMetric.sourceKey(spec), metric });
  return metric;
}

function placement(m: { labelOffset?: unknown; labelCount?: unknown }, n: number, name: string): { offset: number; count: number } {
  const offset = m.labelOffset === undefined ? 0 : checkIntegerInRange(m.labelOffset, 0, MAX_INDEX, `${name}.labelOffset`);
  if (offset + n > MAX_INDEX) fail('E_RANGE', `${name}.labelOffset`, `labels up to ${offset + n} exceed the 2^31 − 1 a label id can be`);
  const count = m.labelCount === undefined ? offset + n : checkIntegerInRange(m.labelCount, offset + n, MAX_INDEX, `${name}.labelCount`);
  return { offset, count };
}

function resolveMatrix(m: FrechetMatrixMetric, finite: boolean, name: string, defer?: Deferred): ResolvedMatrix {
  const D = checkDense(m.D, `${name}.D`, { checkFinite: false });
  const squared = checkBoolean(m.squared, `${name}.squared`, false);
  const dtype = dtypeOf(D.data);
  if (D.cols === 0) fail('E_SHAPE', `${name}.D.cols`, 'is 0; the label space needs at least one label');
  const { offset, count } = placement(m, D.cols, name);
  const observed = checkObserved(m.observed, count, `${name}.observed`);
  if (D.rows !== observed.length) fail('E_SHAPE', `${name}.D.rows`, `D has ${D.rows} rows but ${name}.observed names ${observed.length} classes; row k is the distances of observed[k]`);
  if (finite && defer && squared) defer.add('D', () => checkDistances(D.data, dtype, false, `${name}.D.data`));
  else if (finite) checkDistances(D.data, dtype, !squared, `${name}.D.data`);
  return { kind: 'matrix', dtype, observed, K: observed.length, offset, n: D.cols, count, D: D.data, squared };
}

function resolveEmbedding(m: FrechetEmbeddingMetric, finite: boolean, name: string): ResolvedEmbedding {
  const E = checkDense(m.E, `${name}.E`, { checkFinite: false });
  const dtype = dtypeOf(E.data);
  if (E.rows === 0) fail('E_SHAPE', `${name}.E.rows`, 'is 0; the label space needs at least one label');
  if (E.cols === 0) fail('E_SHAPE', `${name}.E.cols`, 'is 0; embeddings need at least one dimension');
  const dim = E.cols;
  const { offset, count } = placement(m, E.rows, name);
  const observed = checkObserved(m.observed, count, `${name}.observed`);
  const K = observed.length;
  const observedE = new Float64Array(K * dim);
  let maxAbs = finite ? maxAbsFinite(E.data, `${name}.E.data`) : 0;
  if (m.observedE !== undefined) {
    const O = checkDense(m.observedE, `${name}.observedE`, { checkFinite: false });
    if (dtypeOf(O.data) !== dtype) fail('E_DTYPE', `${name}.observedE.data`, `dtype ${dtypeOf(O.data)} does not match E's ${dtype}`);
    if (O.rows !== K || O.cols !== dim) fail('E_SHAPE', `${name}.observedE`, `expected ${K}×${dim} (observed × E.cols), got ${O.rows}×${O.cols}`);
    if (finite) maxAbs = Math.max(maxAbs, maxAbsFinite(O.data, `${name}.observedE.data`));
    observedE.set(O.data);
  } else {
    for (let k = 0; k < K; k++) {
      const j = observed[k]! - offset;
      if (j < 0 || j >= E.rows) {
        fail('E_RANGE', `${name}.observedE`, `is needed: observed label ${observed[k]} is not a row of this shard's E (labels ${offset}…${offset + E.rows - 1})`);
      }
      for (let i = 0; i < dim; i++) observedE[k * dim + i] = E.data[j * dim + i]!;
    }
  }
  // Every partial score is bounded by ‖e_j‖² + 2‖m‖∞‖e_j‖₁ ≤ 3·dim·max|e|²: below the dtype's range, no
  // backend's sum can overflow into Inf − Inf (docs/frechet.md §3.2).
  if (finite && 3 * dim * maxAbs * maxAbs > DTYPE_MAX[dtype]) {
    fail('E_RANGE', `${name}.E.data`, `entries up to ${maxAbs} let scores overflow ${dtype} (3·dim·max|e|² must stay below ${DTYPE_MAX[dtype]}); rescale the embeddings`);
  }
  return { kind: 'embedding', dtype, observed, K, offset, n: E.rows, count, E: E.data, dim, observedE };
}

/** The observed row holding label `id`, or −1 (a map built on first use per resolved metric). */
export function observedIndex(m: ResolvedMetric): Map<number, number> {
  const map = new Map<number, number>();
  for (let k = 0; k < m.observed.length; k++) map.set(m.observed[k]!, k);
  return map;
}
