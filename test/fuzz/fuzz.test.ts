/**
 * The fuzz suite in `npm test`: every public entry point on every backend, each backend in its own
 * child process so a crash (SIGSEGV in an addon or a driver) fails the test instead of the runner.
 * A short run here; `npm run test:fuzz` runs the long one (NUMKERN_FUZZ_RUNS, NUMKERN_FUZZ_SEED).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { required } from '../support/backends.js';

const ROOT = join(import.meta.dirname, '..', '..');
const runs = Number(process.env.NUMKERN_FUZZ_RUNS ?? 40);
const seed = Number(process.env.NUMKERN_FUZZ_SEED ?? 20261204);

function fuzzChild(backend: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fuzz', 'run.ts'), backend, String(runs), String(seed)], {
      cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe.each(['js', 'native', 'webgpu'])('fuzz every entry point on %s (child process)', (backend) => {
  it(`${runs} cases per entry point: a result with finite numbers or a NumkernError, never a crash or a hang`, async () => {
    const r = await fuzzChild(backend);
    expect(r.signal, `the child crashed:\n${r.stderr.slice(-3000)}`).toBeNull();
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { unavailable?: string; outcomes?: Record<string, number> };
    if (report.unavailable !== undefined) {
      expect(required(), `${backend} is required but unavailable: ${report.unavailable}`).not.toContain(backend);
      return;
    }
    const outcomes = report.outcomes!;
    // Each entry point was exercised, and the generators reached both sides of the property.
    for (const op of ['spmv', 'dot', 'nrm2', 'axpy', 'segmentedMoments', 'solve', 'solveMany', 'prepare', 'parseMatrixMarket']) {
      expect(Object.keys(outcomes).some((k) => k.startsWith(`${op} `)), `${op} never ran`).toBe(true);
    }
    expect(outcomes['solve ok'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(outcomes).some((k) => k.startsWith('solve E_'))).toBe(true);
  }, 600_000);
});
