import type { Context } from '../context.js';
import type { BackendName } from '../core/types.js';

export interface FallbackNote {
  readonly requested: BackendName;
  readonly used: BackendName;
  readonly reason: string;
}

/**
 * What became of a pinned --backend: null when it ran there (or nothing was pinned), else the
 * engine's recorded fallback since `before` (ctx.fallbacks() length before the call), so the CLI
 * reports it in text and JSON instead of leaving a user to notice the backend name changed.
 */
export function fallbackNote(ctx: Context, before: number, requested: BackendName | 'auto' | undefined, used: BackendName): FallbackNote | null {
  if (requested === undefined || requested === 'auto' || requested === used) return null;
  const rec = ctx.fallbacks().slice(before).find((f) => f.requested === requested);
  const excluded = ctx.status().find((s) => s.name === requested);
  const reason = rec?.reason ?? (excluded && !excluded.available ? `${requested} unavailable: ${excluded.reason}` : `${requested} did not run it`);
  return { requested, used, reason };
}
