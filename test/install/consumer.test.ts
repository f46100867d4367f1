/**
 * The package as a user installs it: `npm pack`, then `npm install --ignore-scripts` of the tarball
 * into a fresh consumer project, with no network (dependencies come as local tarballs made from this
 * checkout's node_modules). With install scripts skipped nothing is compiled, so a native backend can
 * only come from a shipped prebuild.
 *
 * Needs prebuilds/<platform>-<arch>/numkern.napi.node (`npm run prebuilds`); `npm run test:install`
 * (which CI runs) builds them first. Without a prebuild the file skips, saying why.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'numkern.napi.node');
// npm next to this node (a system or nvm install), else the one on PATH.
const npmCli = join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const npm = (args: string[], cwd: string) => {
  const env = { ...process.env, npm_config_update_notifier: 'false' };
  return existsSync(npmCli)
    ? spawnSync(process.execPath, [npmCli, ...args], { cwd, encoding: 'utf8', timeout: 240_000, env })
    : spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000, env });
};

/** The runtime dependency closure of the package, from this checkout's node_modules (name → folder). */
function dependencyClosure(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const found = new Map<string, string>();
  const visit = (name: string) => {
    if (found.has(name)) return;
    const dir = join(root, 'node_modules', name);
    if (!existsSync(join(dir, 'package.json'))) throw new Error(`${name} is not installed in ${root}/node_modules`);
    found.set(name, dir);
    const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(j.dependencies ?? {})) visit(d);
  };
  for (const d of Object.keys(pkg.dependencies)) visit(d);
  return found;
}

/** A tarball in npm's layout (package/...) of an installed folder, without its nested node_modules. */
function tarballOf(name: string, dir: string, out: string): string {
  const file = join(out, `${name.replace('/', '-').replace('@', '')}.tgz`);
  const staging = mkdtempSync(join(tmpdir(), 'numkern-dep-'));
  cpSync(dir, join(staging, 'package'), { recursive: true, filter: (src) => !src.slice(dir.length).includes('node_modules') });
  execFileSync('tar', ['czf', file, '-C', staging, 'package']);
  return file;
}

describe.skipIf(!existsSync(prebuild))('consumer install from the packed tarball, scripts skipped', () => {
  it('numkern info in the consumer shows native from the prebuild', () => {
    const work = mkdtempSync(join(tmpdir(), 'numkern-consumer-'));
    // dist/ is already compiled by the test runner; skip `prepare` so packing takes seconds.
    const pack = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
    expect(pack.status, pack.stderr).toBe(0);
    const packed = (JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
    const files = packed.files.map((f) => f.path);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/numkern.napi.node`);
    expect(files).toContain('scripts/setup-lavapipe.sh');
    expect(files).toContain('dist/cli/main.js');

    const consumer = join(work, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    const deps = [...dependencyClosure()].map(([name, dir]) => tarballOf(name, dir, work));
    const install = npm(
      ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--omit=optional', '--no-save', join(work, packed.filename), ...deps],
      consumer,
    );
    expect(install.status, install.stderr).toBe(0);
    const installed = join(consumer, 'node_modules', 'numkern');
    expect(existsSync(join(installed, 'build'))).toBe(false); // nothing was compiled

    const info = spawnSync(process.execPath, [join(installed, 'bin', 'numkern.js'), 'info', '--json'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    expect(info.status, info.stderr).toBe(0);
    const j = JSON.parse(info.stdout) as { addon: { source: string; path: string }; backends: { name: string; available: boolean }[] };
    expect(j.addon.source).toMatch(/^prebuild/);
    expect(j.addon.path.startsWith(join(installed, 'prebuilds'))).toBe(true);
    expect(j.backends.find((b) => b.name === 'native')!.available).toBe(true);

    const text = spawnSync(process.execPath, [join(installed, 'bin', 'numkern.js'), 'info'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    expect(text.stdout).toMatch(/^native addon: prebuild/m);
    // A user's own program gets the same backend through the package's main entry.
    writeFileSync(join(consumer, 'main.js'), [
      "import { createContext } from 'numkern';",
      "const ctx = await createContext({ backends: ['native', 'js'] });",
      'try { console.log(await ctx.dot(new Float64Array([1, 2]), new Float64Array([3, 4]), { backend: \'native\', strict: true })); }',
      'finally { await ctx.dispose(); }',
    ].join('\n'));
    const prog = spawnSync(process.execPath, ['main.js'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    expect(prog.status, prog.stderr).toBe(0);
    expect(prog.stdout.trim()).toBe('11');
    expect(readdirSync(join(installed, 'prebuilds'))).toContain(`${process.platform}-${process.arch}`);
  }, 300_000);
});
