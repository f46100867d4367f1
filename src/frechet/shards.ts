/**
 * Per-shard partial predictions and their merge (docs/frechet.md §7, docs/ARCHITECTURE.md §12). A
 * label space split across machines is predicted as the min over the shards' minima: each shard keeps
 * its topk smallest (score, label) pairs per row, and merging two partials keeps the topk smallest of
 * their union, ordered by score, then label id. The merge is associative and commutative, so a
 * caller's own all-reduce or gather can combine partials in any order. numkern has no network layer.
 *
 * A row with fewer than topk candidates (a shard smaller than topk, or labels ruled out by the
 * disconnected-graph rule) is padded with label −1 and score +Infinity; padding sorts after every label.
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { allocLike, dtypeOf } from '../core/types.js';
import { checkFloatArray, checkInt32Array, checkIntegerInRange, describe } from '../core/validate.js';
import { MAX_INDEX } from './validate.js';

/** The topk smallest (score, label) pairs per row over one shard's labels. Plain data: structuredClone-able. */
export interface FrechetPartial<T extends FloatArray = FloatArray> {
  readonly kind: 'frechet-partial';
  readonly rows: number;
  readonly topk: number;
  /** rows×topk, row-major, ascending (score, label); −1 marks padding. */
  readonly labels: Int32Array;
  /**
   * What the kernel ranked, in P's dtype; +Infinity for padding. Matrix and graph metrics: the Loki
   * objective Σ_k P[b,k]·d²(label, observed[k]). Embedding metrics: the reduced score ‖e_y‖² − 2⟨e_y, m_b⟩
   * (docs/frechet.md §3.2), which every shard of the same P computes alike, so the merge stays exact.
   */
  readonly scores: T;
}

/** (s1, l1) before (s2, l2)? Padding (−1) compares as the largest id. */
function before(s1: number, l1: number, s2: number, l2: number): boolean {
  if (s1 !== s2) return s1 < s2;
  return (l1 >>> 0) < (l2 >>> 0);
}

/** A row-block of candidate lists: rows×width each, ascending, padded. */
export interface Lists {
  readonly labels: Int32Array;
  readonly scores: FloatArray;
  readonly width: number;
}

/**
 * Merges several candidate lists row by row into out (rows×topk, padded). Duplicate labels in a row
 * mean overlapping shards: the result would count one label twice, so it is an error naming `name`.
 */
export function mergeLists(lists: readonly Lists[], rows: number, topk: number, out: { labels: Int32Array; scores: FloatArray }, name: string): void {
  const cursor = new Int32Array(lists.length);
  const seen = new Set<number>();
  for (let b = 0; b < rows; b++) {
    cursor.fill(0);
    seen.clear();
    for (let r = 0; r < topk; r++) {
      let pick = -1;
      let ps = Infinity;
      let pl = -1;
      for (let i = 0; i < lists.length; i++) {
        const L = lists[i]!;
        const c = cursor[i]!;
        if (c >= L.width) continue;
        const l = L.labels[b * L.width + c]!;
        if (l === -1) continue;
        const s = L.scores[b * L.width + c]!;
        if (pick === -1 || before(s, l, ps, pl)) {
          pick = i;
          ps = s;
          pl = l;
        }
      }
      const o = b * topk + r;
      if (pick === -1) {
        out.labels[o] = -1;
        out.scores[o] = Infinity;
        continue;
      }
      cursor[pick]!++;
      if (seen.has(pl)) fail('E_RANGE', name, `label ${pl} appears in more than one shard (row ${b}); shards must cover disjoint label ranges`);
      seen.add(pl);
      out.labels[o] = pl;
      out.scores[o] = ps;
    }
  }
}

/** Validates a partial's shape and order (ascending (score, label), padding last, no NaN). */
export function checkPartial(p: unknown, name: string): FrechetPartial {
  if (typeof p !== 'object' || p === null) fail('E_DTYPE', name, `expected a partial {kind: 'frechet-partial', rows, topk, labels, scores}, got ${describe(p)}`);
  const q = p as Partial<FrechetPartial>;
  if (q.kind !== 'frechet-partial') fail('E_DTYPE', `${name}.kind`, `expected 'frechet-partial', got ${describe(q.kind)}`);
  const rows = checkIntegerInRange(q.rows, 0, MAX_INDEX, `${name}.rows`);
  const topk = checkIntegerInRange(q.topk, 1, MAX_INDEX, `${name}.topk`);
  const labels = checkInt32Array(q.labels, `${name}.labels`);
  const scores = checkFloatArray(q.scores, `${name}.scores`);
  if (labels.length !== rows * topk) fail('E_SHAPE', `${name}.labels`, `expected rows·topk = ${rows * topk} entries, got ${labels.length}`);
  if (scores.length !== rows * topk) fail('E_SHAPE', `${name}.scores`, `expected rows·topk = ${rows * topk} entries, got ${scores.length}`);
  for (let b = 0; b < rows; b++) {
    for (let r = 0; r < topk; r++) {
      const i = b * topk + r;
      const l = labels[i]!;
      const s = scores[i]!;
      if (Number.isNaN(s)) fail('E_NONFINITE', `${name}.scores`, `element ${i} is NaN`);
      if (l < -1) fail('E_RANGE', `${name}.labels`, `element ${i} is ${l}; labels are ≥ 0, or −1 for padding`);
      if (l === -1 && s !== Infinity) fail('E_RANGE', `${name}.scores`, `element ${i} pads (label −1) but its score is ${s}, not +Infinity`);
      if (r > 0 && before(s, l, scores[i - 1]!, labels[i - 1]!)) {
        fail('E_RANGE', name, `row ${b} is not ordered by (score, label) at rank ${r}; partials come from predictShard`);
      }
      if (r > 0 && l !== -1 && l === labels[i - 1]) fail('E_RANGE', `${name}.labels`, `row ${b} repeats label ${l}`);
    }
  }
  return p as FrechetPartial;
}

/**
 * The partial over the union of two shards' labels: per row, the topk smallest (score, label) pairs of
 * both, ties to the smaller label id — the same answer as predicting over both shards at once.
 */
export function mergeShards<T extends FloatArray>(a: FrechetPartial<T>, b: FrechetPartial<T>): FrechetPartial<T> {
  const pa = checkPartial(a, 'a');
  const pb = checkPartial(b, 'b');
  if (pa.rows !== pb.rows) fail('E_SHAPE', 'b.rows', `${pb.rows} rows differ from a's ${pa.rows}; both partials must cover the same batch`);
  if (pa.topk !== pb.topk) fail('E_SHAPE', 'b.topk', `${pb.topk} differs from a's ${pa.topk}`);
  if (dtypeOf(pa.scores) !== dtypeOf(pb.scores)) fail('E_DTYPE', 'b.scores', `dtype ${dtypeOf(pb.scores)} differs from a's ${dtypeOf(pa.scores)}`);
  // Overlap is checked over both whole rows, not only over what survives the merge.
  const seen = new Set<number>();
  for (let r = 0; r < pa.rows; r++) {
    seen.clear();
    for (let i = r * pa.topk; i < (r + 1) * pa.topk; i++) if (pa.labels[i] !== -1) seen.add(pa.labels[i]!);
    for (let i = r * pb.topk; i < (r + 1) * pb.topk; i++) {
      if (pb.labels[i] !== -1 && seen.has(pb.labels[i]!)) fail('E_RANGE', 'b', `label ${pb.labels[i]} is also in a (row ${r}); shards must cover disjoint label ranges`);
    }
  }
  const out = { labels: new Int32Array(pa.rows * pa.topk), scores: allocLike(pa.scores, pa.rows * pa.topk) };
  mergeLists([{ ...pa, width: pa.topk }, { ...pb, width: pb.topk }], pa.rows, pa.topk, out, 'b');
  return { kind: 'frechet-partial', rows: pa.rows, topk: pa.topk, labels: out.labels, scores: out.scores as T };
}
