/**
 * A one-line progress bar on stderr for long runs; silent when stderr is not a terminal unless forced.
 * The bar shows a fraction of the work, which the caller measures in the unit that predicts the end:
 * for a solve that is residual reduction on a log scale (toleranceFraction), not iterations against
 * maxIter, which a converging solve never reaches.
 */
export class ProgressBar {
  private last = 0;
  private drawn = false;
  constructor(private readonly label: string, private readonly enabled: boolean) {}

  /** `fraction` in [0, 1] (clamped); `detail` follows the bar. */
  update(fraction: number, detail: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const width = 28;
    const frac = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
    const fill = Math.round(frac * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${detail}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}

/**
 * How far a residual has come from `r0` toward `target` on a log scale: log(r0/r) / log(r0/target),
 * clamped to [0, 1]. Iterative solvers reduce the residual roughly geometrically, so equal steps of
 * this fraction take roughly equal time (docs/relax.md §2: a spectral radius ρ < 1 per sweep).
 */
export function toleranceFraction(r: number, r0: number, target: number): number {
  if (!(r0 > 0) || !(target > 0) || !(r >= 0)) return 0;
  if (r <= target) return 1;
  if (target >= r0) return 0;
  return Math.min(1, Math.max(0, Math.log(r0 / r) / Math.log(r0 / target)));
}

/** "1 iteration", "2 iterations". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
