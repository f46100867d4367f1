/**
 * Honest evaluation of a Loki predictor (loki.md §6, §9; docs/frechet.md §6): the expected squared
 * distance of predictions to the truth, top-k accuracy, and the central-class baseline — the one label
 * with the least mean d² to the classes — which on deep trees is a strong E[d²] baseline by itself.
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import type { OpOptions } from '../core/options.js';
import { dtypeOf, type BackendName, type FloatArray } from '../core/types.js';
import { checkFloatArray, checkInt32Array, checkIntegerInRange, checkLength } from '../core/validate.js';
import { PathScratch, shortestPaths } from './graph.js';
import { observedIndex, resolveMetric, type FrechetMetric } from './metric.js';
import { predict } from './predict.js';

function checkLabels(a: unknown, count: number, name: string): Int32Array {
  const v = checkInt32Array(a, name);
  for (let i = 0; i < v.length; i++) if (v[i]! < 0 || v[i]! >= count) fail('E_RANGE', name, `element ${i} is label ${v[i]}, outside [0, ${count})`);
  return v;
}

/**
 * Mean over i of d²(pred[i], truth[i]) (MeanSquaredDistance in simclr_exps/metrics.py), summed in f64 in
 * index order. Distances are exact f64: a matrix metric reads the row of truth[i] (or of pred[i]) in D,
 * so one of the two must be an observed class; an embedding metric needs both among E's rows; a graph
 * metric runs one BFS / Dijkstra per distinct truth label (O(T·(N + E)) time, O(N) memory). A pair in
 * two components of a graph is infinitely far: the mean is then +Infinity.
 */
export function expectedSquaredDistance(pred: Int32Array, truth: Int32Array, metric: FrechetMetric): number {
  const m = resolveMetric(metric);
  const p = checkLabels(pred, m.count, 'pred');
  const t = checkLabels(truth, m.count, 'truth');
  checkLength(p, t.length, 'pred');
  if (t.length === 0) fail('E_SHAPE', 'truth', 'is empty; the mean of no distances is undefined');
  const d2 = new Float64Array(t.length);
  if (m.kind === 'matrix') {
    const row = observedIndex(m);
    const covered = (id: number) => id >= m.offset && id < m.offset + m.n;
    for (let i = 0; i < t.length; i++) {
      const kt = row.get(t[i]!);
      const kp = row.get(p[i]!);
      let x: number;
      if (t[i] === p[i]) x = 0; // d(y, y) = 0 needs no row
      else if (kt !== undefined && covered(p[i]!)) x = m.D[kt * m.n + p[i]! - m.offset]!;
      else if (kp !== undefined && covered(t[i]!)) x = m.D[kp * m.n + t[i]! - m.offset]!;
      else fail('E_RANGE', 'truth', `element ${i}: neither label ${t[i]} nor pred[${i}] = ${p[i]} has a row of metric.D covering the other; use a metric whose observed classes include the truth labels`);
      d2[i] = m.squared ? x : x * x;
    }
  } else if (m.kind === 'embedding') {
    for (let i = 0; i < t.length; i++) {
      const a = t[i]! - m.offset;
      const b = p[i]! - m.offset;
      if (a < 0 || a >= m.n || b < 0 || b >= m.n) fail('E_RANGE', 'truth', `element ${i}: labels ${t[i]} and ${p[i]} must both be rows of metric.E`);
      let s = 0;
      for (let c = 0; c < m.dim; c++) s += (m.E[a * m.dim + c]! - m.E[b * m.dim + c]!) ** 2;
      d2[i] = s;
    }
  } else {
    // One search per distinct truth label, pairs visited grouped by it: O(N) memory however many labels.
    const order = Int32Array.from({ length: t.length }, (_, i) => i).sort((i, j) => t[i]! - t[j]!);
    const dist = new Float64Array(m.n);
    const scratch = new PathScratch(m.n);
    const src = new Int32Array(1);
    for (let s = 0; s < order.length;) {
      src[0] = t[order[s]!]!;
      shortestPaths(m.graph.graph, src, dist, scratch);
      for (; s < order.length && t[order[s]!] === src[0]; s++) d2[order[s]!] = dist[p[order[s]!]!]! ** 2;
    }
  }
  let sum = 0;
  for (let i = 0; i < d2.length; i++) sum += d2[i]!;
  return sum / d2.length;
}

/**
 * Fraction of rows whose truth is among the first k labels of its row of pred (pred is rows×topk,
 * as predict returns it, with topk = pred.length / truth.length ≥ k).
 */
export function accuracy(pred: Int32Array, truth: Int32Array, k = 1): number {
  const p = checkInt32Array(pred, 'pred');
  const t = checkInt32Array(truth, 'truth');
  if (t.length === 0) fail('E_SHAPE', 'truth', 'is empty; accuracy over no rows is undefined');
  if (p.length % t.length !== 0) fail('E_SHAPE', 'pred', `length ${p.length} is not a multiple of truth's ${t.length} (rows×topk)`);
  const topk = p.length / t.length;
  checkIntegerInRange(k, 1, topk, 'k');
  let hits = 0;
  for (let b = 0; b < t.length; b++) {
    for (let r = 0; r < k; r++) {
      if (p[b * topk + r] === t[b]) {
        hits++;
        break;
      }
    }
  }
  return hits / t.length;
}

export interface CentralClass {
  readonly label: number;
  /** Σ_k w_k·d²(label, observed[k]) / Σ_k w_k, in P's dtype rounded from the kernel's score. */
  readonly meanSquaredDistance: number;
  readonly backend: BackendName;
}

/**
 * The central-class baseline (loki.md §9): the label minimizing the weighted mean of d² to the metric's
 * observed classes — weights w (length K, default uniform; e.g. the test set's class counts), i.e. one
 * Loki prediction with P = w. To weight over every test class, build the metric with the test classes
 * as its observed classes (docs/frechet.md §6).
 */
export async function centralClass(engine: Engine, metric: FrechetMetric, classWeights?: FloatArray, options?: OpOptions): Promise<CentralClass> {
  const m = resolveMetric(metric);
  let w: FloatArray;
  if (classWeights === undefined) {
    w = m.dtype === 'f32' ? new Float32Array(m.K).fill(1) : new Float64Array(m.K).fill(1);
  } else {
    w = checkFloatArray(classWeights, 'classWeights');
    checkLength(w, m.K, 'classWeights');
    if (dtypeOf(w) !== m.dtype) fail('E_DTYPE', 'classWeights', `dtype ${dtypeOf(w)} does not match the metric's ${m.dtype}`);
    let s = 0;
    for (let k = 0; k < w.length; k++) {
      const v = w[k]!;
      if (v - v !== 0) fail('E_NONFINITE', 'classWeights', `element ${k} is ${v}`);
      if (v < 0) fail('E_RANGE', 'classWeights', `element ${k} is ${v}; weights must be ≥ 0`);
      s += v;
    }
    if (s === 0) fail('E_RANGE', 'classWeights', 'are all zero; the central class needs some positive weight');
  }
  const P = { rows: 1, cols: m.K, data: w };
  const r = await predict(engine, P, metric, { ...options, topk: 1, scores: true });
  let total = 0;
  for (let k = 0; k < w.length; k++) total += w[k]!;
  return { label: r.labels[0]!, meanSquaredDistance: r.scores![0]! / total, backend: r.backend };
}
