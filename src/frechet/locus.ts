/**
 * The locus Π(Λ) — the labels that are a Fréchet mean for some weighting of the observed classes Λ —
 * and active next-class selection (loki.md §7; docs/frechet.md §5).
 *
 * What is computed, per metric:
 *   - a tree component (graph metric): the minimal subtree spanning Λ's vertices there, by pruning
 *     unobserved leaves, O(N). This is Π exactly, ties counted (loki.md §7, TreeWithLocus.py).
 *   - anything else: the labels that win for a weight vector on a vertex or an edge of the simplex —
 *     w = e_k, or w = t·e_k + (1 − t)·e_l, t ∈ (0, 1), ties counted. For a pair (k, l) these are the
 *     labels on the lower-left convex hull of the points (d²(y, λ_k), d²(y, λ_l)): O(K²·N) plus a sort
 *     of the candidates inside the hull's bounding box. The result is a subset of Π (every label in
 *     it is a Fréchet mean of an explicit weighting); labels that win only for three or more positive
 *     weights are not found. Exact ties need exact cross products: guaranteed when squared distances
 *     are integers below 2^26 (hop counts below 8192), otherwise decided in f64.
 * A disconnected graph: labels in different components are infinitely far apart; by the prediction's
 * rule (docs/frechet.md §2.3) a weighting predicts inside one component using only its own classes,
 * so Π is the union of the per-component loci.
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { PathScratch, shortestPaths } from './graph.js';
import { observedIndex, resolveMetric, type FrechetMetric, type ResolvedMetric } from './metric.js';
import { checkObserved } from './validate.js';

/** Labels of Π(observed) (default: the metric's own observed classes), ascending. */
export function locus(metric: FrechetMetric, observed?: Int32Array): Int32Array {
  const m = resolveMetric(metric);
  const obs = observed === undefined ? m.observed : checkObserved(observed, m.count, 'observed');
  return locusOf(m, obs);
}

/**
 * The next class to observe (ActiveSelection.select): the candidate farthest from Π(observed), with its
 * distance to Π; ties go to the smaller id, a candidate in another component counts as infinitely far.
 * Candidates are every label for graph and embedding metrics, and the labels that have a row of D for
 * a matrix metric (no other distances are known). Null when Π already holds every candidate.
 */
export function nextClass(metric: FrechetMetric, observed?: Int32Array): { label: number; distance: number } | null {
  const m = resolveMetric(metric);
  const obs = observed === undefined ? m.observed : checkObserved(observed, m.count, 'observed');
  const pi = locusOf(m, obs);
  const inPi = new Set<number>(pi);
  let best = -1;
  let bestD = -1;
  const consider = (label: number, d: number) => {
    if (d > bestD || (d === bestD && label < best)) {
      best = label;
      bestD = d;
    }
  };
  if (m.kind === 'graph') {
    const dist = new Float64Array(m.n);
    shortestPaths(m.graph.graph, pi, dist);
    for (let v = 0; v < m.n; v++) if (!inPi.has(v)) consider(v, dist[v]!);
  } else if (m.kind === 'matrix') {
    for (let k = 0; k < m.K; k++) {
      const v = m.observed[k]!;
      if (inPi.has(v)) continue;
      let d = Infinity;
      for (const u of pi) {
        const x = m.D[k * m.n + (u - m.offset)]!;
        d = Math.min(d, m.squared ? Math.sqrt(x) : x);
      }
      consider(v, d);
    }
  } else {
    for (let j = 0; j < m.n; j++) {
      if (inPi.has(m.offset + j)) continue;
      let d2 = Infinity;
      for (const u of pi) d2 = Math.min(d2, sqDist(m.E, j, u - m.offset, m.dim));
      consider(m.offset + j, Math.sqrt(d2));
    }
  }
  return best === -1 ? null : { label: best, distance: bestD };
}

function sqDist(E: FloatArray, i: number, j: number, dim: number): number {
  let s = 0;
  for (let c = 0; c < dim; c++) {
    const t = E[i * dim + c]! - E[j * dim + c]!;
    s += t * t;
  }
  return s;
}

function locusOf(m: ResolvedMetric, obs: Int32Array): Int32Array {
  const mark = new Uint8Array(m.n);
  if (m.kind === 'graph') graphLocus(m, obs, mark);
  else {
    for (const id of obs) {
      if (id < m.offset || id >= m.offset + m.n) fail('E_RANGE', 'observed', `label ${id} is not among the labels this metric covers (${m.offset}…${m.offset + m.n - 1})`);
    }
    const rows = squaredRows(m, obs);
    const all = Int32Array.from({ length: m.n }, (_, j) => j);
    pairwiseLocus(rows, obs.length, all, mark);
  }
  const out: number[] = [];
  for (let j = 0; j < m.n; j++) if (mark[j]) out.push(m.offset + j);
  return Int32Array.from(out);
}

/** d²(label, observed[k]) over the metric's labels, f64, one row per observed label. */
function squaredRows(m: ResolvedMetric, obs: Int32Array): Float64Array[] {
  if (m.kind === 'matrix') {
    const row = observedIndex(m);
    return Array.from(obs, (id) => {
      const k = row.get(id);
      if (k === undefined) fail('E_RANGE', 'observed', `label ${id} has no row in metric.D (only metric.observed do)`);
      const r = new Float64Array(m.n);
      for (let j = 0; j < m.n; j++) {
        const x = m.D[k * m.n + j]!;
        r[j] = m.squared ? x : x * x;
      }
      return r;
    });
  }
  if (m.kind === 'embedding') {
    return Array.from(obs, (id) => Float64Array.from({ length: m.n }, (_, j) => sqDist(m.E, j, id - m.offset, m.dim)));
  }
  const scratch = new PathScratch(m.n);
  const one = new Int32Array(1);
  return Array.from(obs, (id) => {
    const r = new Float64Array(m.n);
    one[0] = id;
    shortestPaths(m.graph.graph, one, r, scratch);
    for (let j = 0; j < m.n; j++) r[j] = r[j]! * r[j]!;
    return r;
  });
}

function graphLocus(m: Extract<ResolvedMetric, { kind: 'graph' }>, obs: Int32Array, mark: Uint8Array): void {
  const { graph: g, components: cs } = m.graph;
  const isObs = new Uint8Array(m.n);
  for (const id of obs) isObs[id] = 1;
  const hasObs = new Uint8Array(cs.count);
  for (const id of obs) hasObs[cs.comp[id]!] = 1;
  const isTree = (c: number) => cs.edges[c] === cs.size[c]! - 1;
  // Trees: prune unobserved leaves until none is left; what remains spans the observed vertices.
  const deg = new Int32Array(m.n);
  const stack: number[] = [];
  for (let v = 0; v < m.n; v++) {
    const c = cs.comp[v]!;
    if (!hasObs[c] || !isTree(c)) continue;
    mark[v] = 1;
    for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) if (g.colIdx[p] !== v) deg[v]!++;
    if (deg[v]! <= 1 && !isObs[v]) stack.push(v);
  }
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (!mark[v]) continue;
    mark[v] = 0;
    for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) {
      const u = g.colIdx[p]!;
      if (u === v || !mark[u]) continue;
      if (--deg[u]! <= 1 && !isObs[u]) stack.push(u);
    }
  }
  // Other components: the vertex-and-edge locus over the component's own classes.
  for (let c = 0; c < cs.count; c++) {
    if (!hasObs[c] || isTree(c)) continue;
    const sub = obs.filter((id) => cs.comp[id] === c);
    const cand: number[] = [];
    for (let v = 0; v < m.n; v++) if (cs.comp[v] === c) cand.push(v);
    pairwiseLocus(squaredRows(m, sub), sub.length, Int32Array.from(cand), mark);
  }
}

/** Marks, among `cand`, the labels that win for w = e_k and for w on each edge (k, l) of the simplex. */
export function pairwiseLocus(rows: readonly Float64Array[], K: number, cand: Int32Array, mark: Uint8Array): void {
  for (let k = 0; k < K; k++) {
    const a = rows[k]!;
    let min = Infinity;
    for (const j of cand) min = Math.min(min, a[j]!);
    for (const j of cand) if (a[j] === min) mark[j] = 1;
  }
  for (let k = 0; k < K; k++) for (let l = k + 1; l < K; l++) edgeLocus(rows[k]!, rows[l]!, cand, mark);
}

/**
 * Labels minimizing t·a + (1 − t)·b for some t ∈ (0, 1): the chain of the lower convex hull of the
 * points (a_y, b_y) from the lowest point of the leftmost column to the leftmost point of the lowest
 * row, and every point lying on one of its edges (those tie with the edge's endpoints at that t).
 */
function edgeLocus(a: Float64Array, b: Float64Array, cand: Int32Array, mark: Uint8Array): void {
  // The chain lies in the box [min a, a at the argmin of b] × [min b, b at the argmin of a].
  let amin = Infinity, bAtAmin = Infinity, bmin = Infinity, aAtBmin = Infinity;
  for (const j of cand) {
    const x = a[j]!, y = b[j]!;
    if (x < amin || (x === amin && y < bAtAmin)) { amin = x; bAtAmin = y; }
    if (y < bmin || (y === bmin && x < aAtBmin)) { bmin = y; aAtBmin = x; }
  }
  if (!(amin < Infinity) || !(bmin < Infinity)) return;
  const box: number[] = [];
  for (const j of cand) if (a[j]! <= aAtBmin && b[j]! <= bAtAmin) box.push(j);
  box.sort((i, j) => a[i]! - a[j]! || b[i]! - b[j]!);
  const cross = (o: number, p: number, q: number) => (a[p]! - a[o]!) * (b[q]! - b[o]!) - (b[p]! - b[o]!) * (a[q]! - a[o]!);
  const hull: number[] = [];
  for (const j of box) {
    while (hull.length >= 2 && cross(hull[hull.length - 2]!, hull[hull.length - 1]!, j) <= 0) hull.pop();
    hull.push(j);
  }
  let end = 0;
  while (end + 1 < hull.length && b[hull[end + 1]!]! < b[hull[end]!]!) end++;
  let lo = 0;
  for (let e = 0; e < end; e++) {
    const P = hull[e]!, Q = hull[e + 1]!;
    while (lo < box.length && a[box[lo]!]! < a[P]!) lo++;
    for (let i = lo; i < box.length && a[box[i]!]! <= a[Q]!; i++) if (cross(P, Q, box[i]!) === 0) mark[box[i]!] = 1;
  }
}
