/** A one-line progress bar on stderr for long solves; silent when stderr is not a terminal unless forced. */
export class ProgressBar {
  private last = 0;
  private drawn = false;
  constructor(private readonly label: string, private readonly total: number, private readonly enabled: boolean) {}

  update(iteration: number, detail: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const width = 28;
    const frac = Math.min(1, iteration / Math.max(1, this.total));
    const fill = Math.round(frac * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${iteration}/${this.total} ${detail}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
  }
}
