/**
 * bench/gpu/run.ts (npm run bench:gpu) on a machine without a GPU: it says so in plain words and exits
 * 0, measuring nothing. NUMKERN_BACKENDS keeps cuda and webgpu out, so the test means the same on a GPU
 * machine; the case lists are checked to load and to describe themselves (family, dtype, bytes).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuCase } from '../../bench/gpu/case.js';
import { cases as linalgCases } from '../../bench/gpu/linalg.js';
import { cases as relaxCases } from '../../bench/gpu/relax.js';

const root = join(import.meta.dirname, '..', '..');

describe('bench:gpu', () => {
  it('says there is no GPU and exits 0 when neither cuda nor a hardware webgpu adapter is there', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'gpu', 'run.ts')], {
      cwd: root, encoding: 'utf8', env: { ...process.env, NUMKERN_BACKENDS: 'native,js' }, timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bench:gpu: no GPU on this machine, nothing to measure\./m);
    expect(r.stdout).toMatch(/^ {2}cuda: /m);
    expect(r.stdout).toMatch(/^ {2}webgpu: /m);
  });

  it('has well-formed linalg and relax case lists', () => {
    for (const [family, cases] of [['linalg', linalgCases], ['relax', relaxCases]] as [string, GpuCase[]][]) {
      expect(cases.length).toBeGreaterThan(0);
      for (const c of cases) {
        expect(c.family).toBe(family);
        expect(['f32', 'f64']).toContain(c.dtype);
        expect(c.bytes).toBeGreaterThan(0);
        expect(Number.isSafeInteger(c.bytes)).toBe(true);
      }
      expect(new Set(cases.map((c) => `${c.name} ${c.dtype}`)).size).toBe(cases.length);
    }
  });
});
