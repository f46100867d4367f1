/** The install step (bindings/install.cjs) and the build-failure explainer it shares with scripts/prebuilds.mjs. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const { explainBuildFailure } = createRequire(import.meta.url)(join(root, 'scripts', 'build-failure.cjs')) as {
  explainBuildFailure(log: string): { line: string; fix: string };
};

describe('a failed source build is explained in one line, with what to install', () => {
  it.each([
    ['CMake Error at CMakeLists.txt:8 (project):\n  No CMAKE_CXX_COMPILER could be found.\n', /No CMAKE_CXX_COMPILER/, /g\+\+/],
    ['sh: 1: cmake: not found\n', /cmake: not found/, /apt-get install cmake/],
    ['In file included from bindings/addon.cc:1:\nbindings/args.hpp:3:10: fatal error: napi.h: No such file or directory\n', /napi\.h/, /node-addon-api/],
    ['write error: No space left on device\n', /No space left/, /disk space/],
  ])('%#', (log, line, fix) => {
    const r = explainBuildFailure(`-- The CXX compiler identification\n${log}ninja: build stopped: subcommand failed.\n`);
    expect(r.line).toMatch(line);
    expect(r.fix).toMatch(fix);
  });

  it('an unknown failure still gives the first error line', () => {
    expect(explainBuildFailure('ok\nfoo.cc:1:1: error: expected unqualified-id\nmore\n').line).toBe('foo.cc:1:1: error: expected unqualified-id');
  });
});

describe.skipIf(!existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'numkern.napi.node')))('install step with a prebuild', () => {
  it('does nothing, quietly, when the prebuild loads', () => {
    const r = spawnSync(process.execPath, [join(root, 'bindings', 'install.cjs')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });
});
