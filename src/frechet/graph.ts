/**
 * Label graphs for the frechet family: a validated snapshot of an undirected CSR adjacency, its
 * connected components, and single- or multi-source shortest paths — BFS (hop counts) for an
 * unweighted graph, Dijkstra with a binary heap for positive edge weights (docs/frechet.md §3.3).
 * Never all pairs: every caller asks for K sources at most.
 */
import { fail } from '../core/errors.js';
import type { CsrMatrix } from '../core/types.js';
import { checkCsr, describe } from '../core/validate.js';

/** A private copy of the adjacency: later edits of the caller's arrays cannot reach a cached metric. */
export interface Graph {
  readonly n: number;
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  /** Edge lengths (f64) for a weighted graph; null: every edge has length 1. */
  readonly weights: Float64Array | null;
}

/**
 * Square, symmetric (an edge i→j needs j→i, with the same weight when weighted), weights finite and
 * > 0: a zero or negative length would make d a pseudometric or break Dijkstra. Self-loops are allowed
 * and never shorten a path. O(nnz log(max degree)).
 */
export function snapshotGraph(adjacency: unknown, weighted: boolean, name: string): Graph {
  const A = checkCsr(adjacency, name, { checkFinite: weighted }) as CsrMatrix;
  if (A.nrows !== A.ncols) fail('E_SHAPE', name, `must be square (an adjacency over the labels), got ${A.nrows}×${A.ncols}`);
  if (A.nrows === 0) fail('E_SHAPE', name, 'has no vertices; the label space needs at least one label');
  const n = A.nrows;
  const rowPtr = A.rowPtr.slice();
  const colIdx = A.colIdx.slice();
  const weights = weighted ? Float64Array.from(A.values) : null;
  if (weights) {
    for (let p = 0; p < weights.length; p++) {
      if (!(weights[p]! > 0)) fail('E_RANGE', `${name}.values`, `edge weight ${p} is ${weights[p]}; lengths must be > 0`);
    }
  }
  for (let i = 0; i < n; i++) {
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const j = colIdx[p]!;
      if (j === i) continue;
      const q = find(rowPtr, colIdx, j, i);
      if (q < 0) fail('E_CSR_INVALID', name, `not symmetric: edge (${i}, ${j}) has no twin (${j}, ${i}); the label metric is undirected`);
      if (weights && weights[q] !== weights[p]) {
        fail('E_CSR_INVALID', `${name}.values`, `not symmetric: edge (${i}, ${j}) has length ${weights[p]} but (${j}, ${i}) has ${weights[q]}`);
      }
    }
  }
  return { n, rowPtr, colIdx, weights };
}

/** Position of column `col` in row `row` (columns strictly increasing), or −1. */
function find(rowPtr: Int32Array, colIdx: Int32Array, row: number, col: number): number {
  let lo = rowPtr[row]!;
  let hi = rowPtr[row + 1]! - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = colIdx[mid]!;
    if (c === col) return mid;
    if (c < col) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

export interface Components {
  /** comp[v]: the component of vertex v, numbered by smallest vertex (component 0 holds vertex 0). */
  readonly comp: Int32Array;
  readonly count: number;
  readonly size: Int32Array;
  /** Undirected edges inside each component, self-loops excluded: a component is a tree iff edges = size − 1. */
  readonly edges: Float64Array;
}

export function components(g: Graph): Components {
  const comp = new Int32Array(g.n).fill(-1);
  const queue = new Int32Array(g.n);
  const sizes: number[] = [];
  const edges: number[] = [];
  for (let s = 0; s < g.n; s++) {
    if (comp[s] !== -1) continue;
    const c = sizes.length;
    let head = 0;
    let tail = 0;
    let half = 0;
    comp[s] = c;
    queue[tail++] = s;
    while (head < tail) {
      const v = queue[head++]!;
      for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) {
        const u = g.colIdx[p]!;
        if (u === v) continue;
        half++;
        if (comp[u] === -1) {
          comp[u] = c;
          queue[tail++] = u;
        }
      }
    }
    sizes.push(tail);
    edges.push(half / 2);
  }
  return { comp, count: sizes.length, size: Int32Array.from(sizes), edges: Float64Array.from(edges) };
}

/** Scratch reused across shortest-path runs on one graph (a queue or heap of n entries). */
export class PathScratch {
  readonly queue: Int32Array;
  readonly heap: Int32Array;
  readonly heapPos: Int32Array;

  constructor(n: number) {
    this.queue = new Int32Array(n);
    this.heap = new Int32Array(n);
    this.heapPos = new Int32Array(n);
  }
}

/**
 * dist[v] = min over the sources s of d(s, v) (+Infinity where no source reaches v). Sources must be
 * distinct valid vertices. BFS when unweighted; Dijkstra otherwise (lengths summed in f64, so a
 * distance is exact when the lengths are integers below 2^53 in total). Returns the largest finite
 * distance (the last vertex settled).
 */
export function shortestPaths(g: Graph, sources: ArrayLike<number>, dist: Float64Array, scratch = new PathScratch(g.n)): number {
  dist.fill(Infinity);
  return g.weights === null ? bfs(g, sources, dist, scratch.queue) : dijkstra(g, g.weights, sources, dist, scratch);
}

function bfs(g: Graph, sources: ArrayLike<number>, dist: Float64Array, queue: Int32Array): number {
  let head = 0;
  let tail = 0;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    dist[s] = 0;
    queue[tail++] = s;
  }
  const { rowPtr, colIdx } = g;
  while (head < tail) {
    const v = queue[head++]!;
    const dv = dist[v]! + 1;
    for (let p = rowPtr[v]!, e = rowPtr[v + 1]!; p < e; p++) {
      const u = colIdx[p]!;
      if (dist[u] === Infinity) {
        dist[u] = dv;
        queue[tail++] = u;
      }
    }
  }
  return tail > 0 ? dist[queue[tail - 1]!]! : 0;
}

/** Binary min-heap keyed by dist with decrease-key (heapPos[v] = slot of v, −1 when absent). */
function dijkstra(g: Graph, w: Float64Array, sources: ArrayLike<number>, dist: Float64Array, s: PathScratch): number {
  const { heap, heapPos } = s;
  heapPos.fill(-1);
  let size = 0;
  const up = (i: number) => {
    const v = heap[i]!;
    const dv = dist[v]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pv = heap[parent]!;
      if (dist[pv]! <= dv) break;
      heap[i] = pv;
      heapPos[pv] = i;
      i = parent;
    }
    heap[i] = v;
    heapPos[v] = i;
  };
  const down = (i: number) => {
    const v = heap[i]!;
    const dv = dist[v]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && dist[heap[c + 1]!]! < dist[heap[c]!]!) c++;
      const cv = heap[c]!;
      if (dist[cv]! >= dv) break;
      heap[i] = cv;
      heapPos[cv] = i;
      i = c;
    }
    heap[i] = v;
    heapPos[v] = i;
  };
  for (let i = 0; i < sources.length; i++) {
    const v = sources[i]!;
    dist[v] = 0;
    heap[size] = v;
    heapPos[v] = size;
    up(size++);
  }
  const { rowPtr, colIdx } = g;
  let far = 0;
  while (size > 0) {
    const v = heap[0]!;
    heapPos[v] = -2; // settled
    far = dist[v]!;
    size--;
    if (size > 0) {
      heap[0] = heap[size]!;
      heapPos[heap[0]!] = 0;
      down(0);
    }
    const dv = dist[v]!;
    for (let p = rowPtr[v]!, e = rowPtr[v + 1]!; p < e; p++) {
      const u = colIdx[p]!;
      if (heapPos[u] === -2) continue;
      const du = dv + w[p]!;
      if (du < dist[u]!) {
        dist[u] = du;
        if (heapPos[u] === -1) {
          heap[size] = u;
          heapPos[u] = size;
          up(size++);
        } else {
          up(heapPos[u]!);
        }
      }
    }
  }
  return far;
}

export function checkWeightedFlag(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail('E_DTYPE', name, `expected a boolean, got ${describe(v)}`);
  return v;
}

/**
 * Every distance from one source in a connected tree, in one pass instead of a search (docs/frechet.md
 * §3.3): d(s, v) = d(s, parent(v)) + ℓ(v) over an order that puts every parent before its children, after
 * summing the distances on the path from s up to the root. The order is the label order itself when
 * every parent has a smaller id than its children (hierarchies numbered top-down, trees grown by
 * insertion): then the pass and the rows it feeds stream through memory. Otherwise it is BFS order from
 * vertex 0, whose parent positions never decrease. Every sum runs outward from s in path order, as BFS
 * and Dijkstra add them: the results are the same bits.
 */
export class TreeDistances {
  /** Position → vertex; null when positions are the vertex ids themselves. */
  readonly order: Int32Array | null;
  /** Vertex → position (null: identity). */
  readonly posOf: Int32Array | null;
  /** Position → its parent's position (−1 for the root). */
  private readonly parentPos: Int32Array;
  /** Position → length of the edge to its parent. */
  private readonly len: Float64Array;
  private readonly mark: Int32Array;
  private stamp = 0;

  /** g must be a connected tree (n − 1 edges, self-loops aside). */
  constructor(g: Graph) {
    const n = g.n;
    const bfsOrder = new Int32Array(n);
    const parent = new Int32Array(n).fill(-2);
    const len = new Float64Array(n);
    parent[0] = -1;
    let tail = 1;
    for (let head = 0; head < tail; head++) {
      const v = bfsOrder[head]!;
      for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) {
        const u = g.colIdx[p]!;
        if (parent[u] !== -2) continue;
        parent[u] = v;
        len[u] = g.weights === null ? 1 : g.weights[p]!;
        bfsOrder[tail++] = u;
      }
    }
    let topological = true;
    for (let v = 1; v < n && topological; v++) topological = parent[v]! < v;
    this.mark = new Int32Array(n);
    if (topological) {
      this.order = null;
      this.posOf = null;
      this.parentPos = parent;
      this.len = len;
      return;
    }
    const posOf = new Int32Array(n);
    for (let t = 0; t < n; t++) posOf[bfsOrder[t]!] = t;
    this.order = bfsOrder;
    this.posOf = posOf;
    this.parentPos = new Int32Array(n);
    this.len = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const v = bfsOrder[t]!;
      this.parentPos[t] = t === 0 ? -1 : posOf[parent[v]!]!;
      this.len[t] = len[v]!;
    }
  }

  /** d[t] = d(source, vertex at position t) for every position t; returns the largest. */
  fromSource(source: number, d: Float64Array): number {
    const stamp = ++this.stamp;
    const { parentPos, len, mark } = this;
    let t = this.posOf === null ? source : this.posOf[source]!;
    let acc = 0;
    for (;;) {
      d[t] = acc;
      mark[t] = stamp;
      const p = parentPos[t]!;
      if (p < 0) break;
      acc += len[t]!;
      t = p;
    }
    let far = acc;
    for (let i = 1; i < d.length; i++) {
      if (mark[i] === stamp) continue;
      const x = d[parentPos[i]!]! + len[i]!;
      d[i] = x;
      if (x > far) far = x;
    }
    return far;
  }
}
