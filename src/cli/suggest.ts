/** "Did you mean": the closest known name to a mistyped one, by edit distance. */

/** Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name nearest to `typed`, or null when none is plausibly meant: at most a third of the
 * name's length in edits (at least one), or `typed` is a prefix of exactly one name.
 */
export function closest(typed: string, known: readonly string[]): string | null {
  const t = typed.toLowerCase();
  const prefixed = known.filter((k) => k.toLowerCase().startsWith(t) && t.length >= 2);
  if (prefixed.length === 1) return prefixed[0]!;
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(t, k.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : null;
}
