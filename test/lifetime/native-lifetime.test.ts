/**
 * Lifetime on the native backend: many create/solve/dispose cycles keep RSS bounded, and the process
 * exits promptly after its last line (a context owns nothing that keeps the event loop alive).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('native lifetime', () => {
  it('1000 create/solve/prepare/dispose cycles: RSS bounded, exit within a second of the last line', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'lifetime', 'cycles.ts'), 'native', '1000'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const [code, exitedAt] = await new Promise<[number | null, number]>((resolve) => child.on('exit', (c) => resolve([c, Date.now()])));
    expect(code, err).toBe(0);
    const points = out.trim().split('\n').map((l) => JSON.parse(l) as { cycle: number; rss: number; t: number });
    const [warm, last] = [points[0]!, points.at(-1)!];
    expect(last.cycle).toBe(1000);
    // After the first 100 cycles (JIT, addon and pools warm), 900 more may not keep growing memory.
    expect(last.rss - warm.rss).toBeLessThan(64 * 2 ** 20);
    expect(exitedAt - last.t).toBeLessThan(1000);
  }, 300_000);
});
