/** A small dependency-free SVG line plot: one polyline per series, axes with round ticks, a legend. */

export interface PlotSeries {
  readonly name: string;
  /** y values at x = 1, 2, ... (or at `options.x`). */
  readonly values: ArrayLike<number>;
  readonly color?: string;
  readonly dashed?: boolean;
}

export interface LinePlotOptions {
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
  readonly width?: number;
  readonly height?: number;
  /** Shared x coordinates (default 1..n). */
  readonly x?: ArrayLike<number>;
  /** Most points drawn per series; longer series are thinned evenly, last point kept (default 800). */
  readonly maxPoints?: number;
  /** Top of the y axis (default: the data's maximum); lines above it are clipped at the frame. */
  readonly yMax?: number;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick positions covering [lo, hi]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The first round step not much below the raw one: between about count/1.4 and 1.4·count ticks.
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= 0.7 * raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(4)}`;
}

/** Renders the series as an SVG document (a string). Non-finite points are skipped. */
export function linePlotSvg(series: readonly PlotSeries[], options: LinePlotOptions = {}): string {
  // The legend sits right of the plot: its margin fits the longest name (about 7 px a character at
  // 12 px sans-serif, wider than the average glyph so digits and capitals fit), and the canvas grows
  // by what the margin needs beyond the default 200 px instead of clipping the text.
  const longest = Math.max(0, ...series.map((s) => [...s.name].length));
  const right = Math.max(200, 46 + Math.ceil(7 * longest) + 12);
  const W = options.width ?? 900 + (right - 200);
  const H = options.height ?? 560;
  const maxPoints = options.maxPoints ?? 800;
  const left = 80;
  const top = options.title ? 44 : 20;
  const bottom = 56;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xAt = (k: number) => (options.x ? options.x[k]! : k + 1);
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const s of series) {
    for (let k = 0; k < s.values.length; k++) {
      const y = s.values[k]!;
      const x = xAt(k);
      if (!Number.isFinite(y) || !Number.isFinite(x)) continue;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
  }
  if (!Number.isFinite(xmin)) {
    xmin = 0;
    xmax = 1;
    ymin = 0;
    ymax = 1;
  }
  if (options.yMax !== undefined && options.yMax > ymin) ymax = options.yMax;
  if (ymin > 0 && ymin < 0.5 * ymax) ymin = 0;
  if (xmax === xmin) xmax = xmin + 1;
  if (ymax === ymin) ymax = ymin + 1;
  const sx = (x: number) => left + ((x - xmin) / (xmax - xmin)) * pw;
  const sy = (y: number) => top + ph - ((y - ymin) / (ymax - ymin)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  if (options.title) out.push(`<text x="${left + pw / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`);
  for (const t of niceTicks(ymin, ymax)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`);
  }
  for (const t of niceTicks(xmin, xmax)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${top + ph + 16}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (options.xLabel) out.push(`<text x="${left + pw / 2}" y="${H - 14}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel) out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const n = s.values.length;
    const stride = Math.max(1, Math.ceil(n / maxPoints));
    const pts: string[] = [];
    for (let k = 0; k < n; k += stride) {
      const y = s.values[k]!;
      if (Number.isFinite(y)) pts.push(`${sx(xAt(k)).toFixed(1)},${sy(y).toFixed(1)}`);
    }
    if (n > 0 && (n - 1) % stride !== 0 && Number.isFinite(s.values[n - 1]!)) pts.push(`${sx(xAt(n - 1)).toFixed(1)},${sy(s.values[n - 1]!).toFixed(1)}`);
    out.push(`<polyline clip-path="url(#plot-area)" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`);
    const ly = top + 14 + 20 * i;
    out.push(`<line x1="${left + pw + 14}" y1="${ly}" x2="${left + pw + 40}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${left + pw + 46}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
