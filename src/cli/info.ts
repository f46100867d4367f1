import { loadNative } from '../backends/addon/load.js';
import type { Engine } from '../core/engine.js';

export const INFO_USAGE = `info [--json]             every backend: available or why not, adapter, threads, BLAS, CUDA devices,
                          and where the native addon came from (prebuild, local build)`;
export const INFO_OPTIONS = { json: { type: 'boolean' } } as const;

/** Where the addon was found: a shipped prebuild, a local build, NUMKERN_NATIVE_PATH, or nowhere. */
function addonLine(): string {
  const n = loadNative();
  return n.addon ? `native addon: ${n.source} (${n.path})` : `native addon: none, the js backend is used (${n.reason})`;
}

export function infoJson(version: string, ctx: Engine): object {
  const n = loadNative();
  return { version, addon: { source: n.addon ? n.source : null, path: n.path, reason: n.reason }, backends: ctx.status() };
}

/** The `numkern info` table: one row per backend, available or the recorded reason, then the auto order. */
export function formatInfo(version: string, ctx: Engine): string {
  const rows = ctx.status().map((s) => [
    s.name,
    s.available ? 'available' : 'unavailable',
    s.available ? String(s.priority) : '-',
    s.available ? String(s.info?.description ?? '') : (s.reason ?? ''),
  ]);
  const head = ['backend', 'status', 'priority', 'details'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  // A family whose kernels an available backend could not list (a stale addon, say) runs elsewhere.
  const missing = ctx.status().flatMap((s) => Object.entries(s.families ?? {}).map(([f, why]) => `  ${s.name} lacks the ${f} family: ${why}`));
  return [
    `numkern ${version} (Node ${process.versions.node}, ${process.platform}-${process.arch})`,
    line(head),
    ...rows.map(line),
    ...missing,
    `auto order: ${ctx.available().join(' > ')}`,
    addonLine(),
    '',
  ].join('\n');
}
