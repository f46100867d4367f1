/** CLI conventions as a user meets them: --help everywhere, --version, typos, fallback reports, a quiet stderr. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../../src/cli/suggest.js';
import { plural, toleranceFraction } from '../../src/cli/progress.js';
import { poisson2d, writeMatrixMarket } from '../../src/index.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'numkern.js');
const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env });
const dir = mkdtempSync(join(tmpdir(), 'numkern-cli-conv-'));
const Afile = join(dir, 'poisson.mtx');
writeFileSync(Afile, writeMatrixMarket(poisson2d(12), { symmetric: true }));
const COMMANDS = ['info', 'demo', 'solve', 'lstsq', 'setup', 'bench'];

describe('--help, --version, help <command>', () => {
  it.each(COMMANDS)('%s --help prints its usage and the exit codes, exit 0, nothing on stderr', (cmd) => {
    const r = run([cmd, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: numkern ${cmd}\\b`));
    expect(r.stdout).toMatch(/exit codes:[\s\S]*3 {2}solve\/lstsq ran but did not converge/);
    expect(r.stderr).toBe('');
  });

  it('help <command> is the same text; help for an unknown command suggests one', () => {
    expect(run(['help', 'solve']).stdout).toBe(run(['solve', '-h']).stdout);
    const r = run(['help', 'slove']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no command 'slove'; did you mean 'solve'\?/);
  });

  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = run([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('the overview lists every command and documents the exit codes', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const cmd of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^ {2}${cmd}\\b`, 'm'));
    expect(r.stdout).toMatch(/^exit codes:/m);
  });
});

describe('typos', () => {
  it('an unknown command gets "did you mean", exit 2', () => {
    const r = run(['sovle', Afile]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'sovle'; did you mean 'solve'\?/);
  });

  it('an unknown option gets "did you mean" from that command\'s options, exit 2, before any backend starts', () => {
    const r = run(['solve', Afile, '--metod', 'cg']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^numkern solve: Unknown option '--metod'; did you mean --method\?$/m);
    expect(r.stderr).not.toMatch(/Warning:|Vulkan/);
    const b = run(['bench', '--quik']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/did you mean --quick\?/);
  });

  it('suggestions need a plausible match', () => {
    expect(closest('sovle', ['solve', 'lstsq'])).toBe('solve');
    expect(closest('--max-iters', ['--max-iter', '--method'])).toBe('--max-iter');
    expect(closest('inf', ['info', 'demo'])).toBe('info');
    expect(closest('xyz', ['solve', 'demo'])).toBeNull();
    expect(editDistance('ab', 'ba')).toBe(1);
  });
});

describe('reports', () => {
  it('a pinned backend that falls back is reported in text and --json', () => {
    // webgpu has no natural-ordering SOR (and may be missing altogether): either way the run lands elsewhere.
    const j = run(['solve', Afile, '--method', 'sor', '--omega', '1.5', '--backend', 'webgpu', '--json']);
    expect(j.status).toBe(0);
    const out = JSON.parse(j.stdout) as { backend: string; requestedBackend: string; fallback: { requested: string; used: string; reason: string } | null };
    expect(out.requestedBackend).toBe('webgpu');
    expect(out.backend).not.toBe('webgpu');
    expect(out.fallback).toMatchObject({ requested: 'webgpu', used: out.backend });
    expect(out.fallback!.reason).toMatch(/webgpu/);
    const t = run(['solve', Afile, '--method', 'sor', '--omega', '1.5', '--backend', 'webgpu']);
    expect(t.stdout).toMatch(new RegExp(`--backend webgpu fell back to ${out.backend}: `));
  });

  it('no fallback note when the pinned backend ran', () => {
    const j = JSON.parse(run(['solve', Afile, '--backend', 'js', '--json']).stdout) as { backend: string; fallback: unknown };
    expect(j).toMatchObject({ backend: 'js', fallback: null });
  });

  it('--out says what it wrote (on stderr, so --json stays one document)', () => {
    const out = join(dir, 'x.mtx');
    const t = run(['solve', Afile, '--backend', 'js', '--out', out]);
    expect(t.status).toBe(0);
    expect(t.stderr).toBe(`numkern solve: wrote x (144 values) to ${out}\n`);
    const j = run(['solve', Afile, '--backend', 'js', '--out', out, '--json']);
    expect(j.stderr).toBe('');
    expect(JSON.parse(j.stdout)).toMatchObject({ out });
  });

  it('counts agree with their nouns', () => {
    expect(plural(1, 'iteration')).toBe('1 iteration');
    expect(plural(0, 'iteration')).toBe('0 iterations');
    expect(plural(12, 'iteration')).toBe('12 iterations');
  });

  it('solve progress is residual reduction on a log scale toward the target', () => {
    expect(toleranceFraction(1, 1, 1e-8)).toBe(0);
    expect(toleranceFraction(1e-4, 1, 1e-8)).toBeCloseTo(0.5, 12);
    expect(toleranceFraction(1e-9, 1, 1e-8)).toBe(1);
    expect(toleranceFraction(10, 1, 1e-8)).toBe(0);
  });
});

describe('a native-only run writes nothing to stderr', () => {
  it('solve --backend native --json: only the JSON on stdout, stderr empty (no Vulkan, no Dawn)', () => {
    const r = run(['solve', Afile, '--backend', 'native', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ converged: true });
  });

  it('without a Vulkan loader, even info writes nothing to stderr and webgpu says why', () => {
    const env = { ...process.env, NUMKERN_NO_LAVAPIPE: '1' };
    for (const k of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'LD_LIBRARY_PATH']) delete env[k];
    const r = run(['info'], env);
    expect(r.status).toBe(0);
    const row = /^webgpu\s+(\S+)\s+\S+\s+(.*)$/m.exec(r.stdout)!;
    // Only meaningful where the machine has no Vulkan loader of its own (this one has none).
    if (/no Vulkan loader/.test(row[2]!)) {
      expect(r.stderr).toBe('');
      expect(row[2]).toMatch(/numkern setup webgpu/);
    }
  });

  it("a library program's default context never starts WebGPU for calls native runs, where only lavapipe is reachable", () => {
    const prog = join(dir, 'native-only.mjs');
    writeFileSync(prog, [
      `const { createContext } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)});`,
      `const { onlySoftwareVulkan } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'backends', 'webgpu', 'adapter.js')).href)});`,
      'const ctx = await createContext();',
      'try {',
      '  const x = new Float64Array(1000).fill(1);',
      '  const dot = await ctx.dot(x, x);',
      "  console.log(JSON.stringify({ dot, software: onlySoftwareVulkan(), native: ctx.available().includes('native'), webgpu: ctx.status().find((s) => s.name === 'webgpu') }));",
      '} finally { await ctx.dispose(); }',
    ].join('\n'));
    const r = spawnSync(process.execPath, [prog], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const o = JSON.parse(r.stdout) as { dot: number; software: boolean; native: boolean; webgpu: { available: boolean; deferred?: boolean } };
    expect(o.dot).toBe(1000);
    if (o.software && o.native) expect(o.webgpu).toMatchObject({ available: false, deferred: true });
  });

  it('where WebGPU opens an adapter, what Dawn prints goes into status(), not onto stderr', () => {
    const r = run(['info', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const webgpu = (JSON.parse(r.stdout) as { backends: { name: string; available: boolean; info?: { dawnMessages?: string[] } }[] })
      .backends.find((b) => b.name === 'webgpu')!;
    // lavapipe prints its reduced dynamic-buffer limits while the adapter is requested; a GPU may print nothing.
    if (webgpu.available && webgpu.info?.dawnMessages) {
      for (const m of webgpu.info.dawnMessages) expect(m).not.toMatch(/^at /);
    }
  });
});
