/**
 * `numkern setup webgpu` and what it leaves behind: a lavapipe in the per-user cache that the CLI and a
 * user's own program find with no variable set by hand. The fetch itself needs the distribution's
 * archive, so it runs only under NUMKERN_TEST_SETUP_FETCH=1; the finding runs on the lavapipe that
 * `npm test` already fetched into .lavapipe/, placed where the cache would be.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { vulkanDriverManifests } from '../../src/backends/webgpu/adapter.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'numkern.js');
const fetched = join(root, '.lavapipe');
const haveLavapipe = process.platform === 'linux' && existsSync(join(fetched, 'lvp_icd.json'));

/** The environment of a user who set nothing: no Vulkan variables, no library path, a private cache. */
function userEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache };
  for (const k of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'VK_ADD_DRIVER_FILES', 'LD_LIBRARY_PATH', 'NUMKERN_NO_LAVAPIPE', 'NUMKERN_LAVAPIPE_DIR', 'XDG_RUNTIME_DIR']) delete env[k];
  return env;
}

function cacheWithLavapipe(): string {
  const cache = mkdtempSync(join(tmpdir(), 'numkern-cache-'));
  mkdirSync(join(cache, 'numkern'));
  symlinkSync(fetched, join(cache, 'numkern', 'lavapipe'));
  return cache;
}

describe.skipIf(!haveLavapipe)('after setup webgpu, WebGPU is found with nothing set by hand', () => {
  it("a user's Node program gets the adapter from the per-user cache", () => {
    const cache = cacheWithLavapipe();
    const prog = join(mkdtempSync(join(tmpdir(), 'numkern-user-')), 'main.mjs');
    writeFileSync(prog, [
      `const { createContext } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)});`,
      // A default context starts WebGPU at first use; start() starts it now, as a program checking status() would.
      'const ctx = await createContext();',
      'await ctx.start();',
      "try { console.log(JSON.stringify(ctx.status().find((s) => s.name === 'webgpu'))); } finally { await ctx.dispose(); }",
    ].join('\n'));
    const r = spawnSync(process.execPath, [prog], { encoding: 'utf8', env: userEnv(cache), timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const webgpu = JSON.parse(r.stdout) as { available: boolean; info?: { description: string; software: boolean } };
    expect(webgpu.available).toBe(true);
    expect(webgpu.info!.software).toBe(true);
    expect(webgpu.info!.description).toContain(`lavapipe from ${join(cache, 'numkern', 'lavapipe')}`);
  });

  it('numkern info finds it too', () => {
    const r = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', env: userEnv(cacheWithLavapipe()), timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^webgpu\s+available\s+\d+\s+webgpu: .*\[software\]; lavapipe from /m);
  });

  it('setup webgpu on a filled cache says so, and --print-env gives the one line for other programs', () => {
    const cache = cacheWithLavapipe();
    const r = spawnSync(process.execPath, [bin, 'setup', 'webgpu', '--print-env'], { encoding: 'utf8', env: userEnv(cache), timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/lavapipe is already in .*numkern\/lavapipe/);
    expect(r.stdout).toMatch(/^export VK_DRIVER_FILES=\S+\/lvp_icd\.json LD_LIBRARY_PATH=\S+\/usr\/lib\/[\w-]+-linux-gnu\$\{LD_LIBRARY_PATH:\+:\$LD_LIBRARY_PATH\}\n$/);
  });
});

describe('deciding without Dawn', () => {
  it('a Vulkan driver manifest is looked for where the loader looks (XDG data and config dirs, /etc)', () => {
    const none = mkdtempSync(join(tmpdir(), 'numkern-noicd-'));
    const env = { HOME: none, XDG_DATA_DIRS: none, XDG_CONFIG_DIRS: none, XDG_DATA_HOME: none };
    const sysDirs = ['/etc', '/usr/share', '/usr/local/share', '/usr/local/etc'].some((d) => existsSync(join(d, 'vulkan', 'icd.d')));
    if (!sysDirs) expect(vulkanDriverManifests(env)).toEqual([]);
    const data = mkdtempSync(join(tmpdir(), 'numkern-icd-'));
    mkdirSync(join(data, 'vulkan', 'icd.d'), { recursive: true });
    writeFileSync(join(data, 'vulkan', 'icd.d', 'x_icd.json'), '{}');
    expect(vulkanDriverManifests({ ...env, XDG_DATA_DIRS: `${none}:${data}` })).toContain(join(data, 'vulkan', 'icd.d', 'x_icd.json'));
  });
});

describe('setup usage', () => {
  it('anything but "webgpu" is a usage error', () => {
    const r = spawnSync(process.execPath, [bin, 'setup', 'cuda'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/expected 'webgpu'/);
  });
});

describe.runIf(process.env.NUMKERN_TEST_SETUP_FETCH === '1' && process.platform === 'linux')('setup webgpu, the fetch itself', () => {
  it('fetches lavapipe into a fresh cache with step progress, and the adapter works from it', () => {
    const cache = mkdtempSync(join(tmpdir(), 'numkern-fresh-cache-'));
    const r = spawnSync(process.execPath, [bin, 'setup', 'webgpu'], { encoding: 'utf8', env: userEnv(cache), timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/1\/3 [\s\S]*2\/3 [\s\S]*3\/3 /);
    const info = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', env: userEnv(cache), timeout: 60_000 });
    expect(info.stdout).toMatch(/^webgpu\s+available/m);
  }, 320_000);
});
