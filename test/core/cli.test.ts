/** The `numkern` command as a user runs it: the real bin, the compiled package, real Matrix Market files. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { poisson2d, writeMatrixMarket } from '../../src/index.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'numkern.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'numkern-cli-'));
const Afile = join(dir, 'poisson.mtx');
writeFileSync(Afile, writeMatrixMarket(poisson2d(20), { symmetric: true }));

describe('numkern info', () => {
  it('lists every backend with its status, and the auto order', () => {
    const r = run('info');
    expect(r.status).toBe(0);
    for (const name of ['cuda', 'webgpu', 'native', 'js']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s+(available|unavailable)`, 'm'));
    expect(r.stdout).toMatch(/^auto order: .*js$/m);
    expect(r.stdout).toMatch(/^cuda\s+unavailable\s+-\s+(no CUDA device|built without CUDA|addon not built)/m);
  });

  it('says why native is missing when the addon cannot load (install never fails; js still works)', () => {
    const r = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', env: { ...process.env, NUMKERN_NATIVE_PATH: '/nonexistent/numkern.node' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^native\s+unavailable\s+-\s+NUMKERN_NATIVE_PATH=\/nonexistent\/numkern\.node: no such file/m);
    expect(r.stdout).toMatch(/^js\s+available/m);
  });

  it('--json gives the same records as ctx.status()', () => {
    const r = run('info', '--json');
    const j = JSON.parse(r.stdout) as { version: string; backends: { name: string; available: boolean }[] };
    expect(j.backends.map((b) => b.name)).toEqual(['cuda', 'webgpu', 'native', 'js']);
    expect(j.backends.find((b) => b.name === 'js')!.available).toBe(true);
  });
});

describe('numkern demo', () => {
  it('runs every policy on a short shifted-Laplacian sequence, instance-optimal lowest, and writes the plot', () => {
    const svg = join(dir, 'demo.svg');
    const r = run('demo', '--instances', '80', '--json', '--plot', svg);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { policies: { name: string; iterations: number }[] };
    const byName = Object.fromEntries(j.policies.map((p) => [p.name, p.iterations]));
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(['ω = 1', 'ω = 1.5', 'best fixed (hindsight)', 'Tsallis-INF', 'ChebCB', 'instance-optimal']));
    const opt = byName['instance-optimal']!;
    for (const it of Object.values(byName)) expect(it).toBeGreaterThanOrEqual(opt);
    expect(byName['ω = 1']!).toBeGreaterThan(3 * opt);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });
});

describe('numkern solve', () => {
  it('solves a symmetric Matrix Market file and reports iterations, residual, time and backend', () => {
    const r = run('solve', Afile, '--method', 'ssor-cg', '--omega', '1.6', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ n: 400, method: 'ssor-cg', omega: 1.6, converged: true });
    expect(j.relativeResidual).toBeLessThanOrEqual(1e-8);
    expect(j.iterations).toBeGreaterThan(0);
  });

  it('takes a right-hand side file and writes x', () => {
    const bfile = join(dir, 'b.mtx');
    writeFileSync(bfile, writeMatrixMarket({ rows: 400, cols: 1, data: Float64Array.from({ length: 400 }, (_, i) => Math.sin(i)) }));
    const out = join(dir, 'x.mtx');
    const r = run('solve', Afile, bfile, '--method', 'sor', '--omega', '1.7', '--backend', 'js', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/converged in \d+ iterations.* on js/);
  });

  it('a non-converged run exits 3; bad input exits 1 with the error code', () => {
    expect(run('solve', Afile, '--method', 'jacobi', '--max-iter', '3').status).toBe(3);
    const bad = run('solve', Afile, '--omega', '2.5');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/E_RANGE: options\.omega/);
    const missing = run('solve', join(dir, 'nope.mtx'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/E_IO/);
  });

  it('unknown commands and missing arguments print usage and exit 2', () => {
    expect(run('frobnicate').status).toBe(2);
    expect(run('solve').status).toBe(2);
    expect(run('help').stdout).toMatch(/usage: numkern/);
    const suite = run('bench', '--suite', 'reel');
    expect(suite.status).toBe(2);
    expect(suite.stderr).toMatch(/^numkern bench: unknown suite 'reel'; did you mean real\? \(suites: .*\breal\b/);
  });
});
