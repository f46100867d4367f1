#!/usr/bin/env node
/**
 * `npm run test:asan`: the addon built with AddressSanitizer and UndefinedBehaviorSanitizer into
 * build-asan/ (CUDA off: nvcc takes no host sanitizer flags), then the native test files under it:
 * test/native*.test.ts, each family's test/<family>/native.test.ts and, when present, test/fuzz/ (child processes inherit the environment, so
 * they load the sanitized addon too). Not test/lifetime/: it bounds RSS growth, and ASan's quarantine
 * of freed memory grows RSS by design.
 *
 * node itself is not instrumented, so libasan has to be the first library in the process: it is
 * preloaded (the path comes from the compiler that built the addon). Leak checking is off: V8 and
 * node keep allocations alive until exit by design. NUMKERN_REQUIRE=native turns an addon that fails
 * to load under the sanitizer into a failure instead of a quiet skip.
 *
 * Extra arguments are passed to vitest (a file filter, -t "name").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const OUT = 'build-asan';
const ADDON = join(ROOT, OUT, 'Release', 'numkern.node');

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** The sanitizer runtime the compiler links against (what the addon's DT_NEEDED libasan resolves to). */
function runtime(name) {
  const cxx = process.env.CXX || 'g++';
  const r = spawnSync(cxx, [`-print-file-name=${name}`], { encoding: 'utf8' });
  const file = (r.stdout ?? '').trim();
  // Without the library the compiler echoes the bare name back.
  if (r.status !== 0 || !file.startsWith('/') || !existsSync(file)) {
    console.error(`test:asan: ${cxx} -print-file-name=${name} gave '${file}'; install the compiler's sanitizer runtime (libasan)`);
    process.exit(1);
  }
  return file;
}

const cmakeJs = join(ROOT, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const built = run(process.execPath, [cmakeJs, 'build', '--out', OUT, '--CDNUMKERN_SANITIZE=ON', '--CDNUMKERN_WITH_CUDA=OFF']);
if (built !== 0) process.exit(built);

const files = readdirSync(join(ROOT, 'test'))
  .filter((f) => /^native.*\.test\.ts$/.test(f))
  .map((f) => join('test', f));
// Each family's own native test (test/<family>/native.test.ts) drives its kernels at the addon directly.
for (const d of readdirSync(join(ROOT, 'test'), { withFileTypes: true })) {
  if (d.isDirectory() && existsSync(join(ROOT, 'test', d.name, 'native.test.ts'))) files.push(join('test', d.name, 'native.test.ts'));
}
if (existsSync(join(ROOT, 'test', 'fuzz'))) files.push(join('test', 'fuzz'));

const env = {
  ...process.env,
  NUMKERN_NATIVE_PATH: ADDON,
  NUMKERN_REQUIRE: 'native',
  // The GPU backends load their own native drivers, which are not what this run checks.
  NUMKERN_BACKENDS: 'native,js',
  LD_PRELOAD: [runtime('libasan.so'), process.env.LD_PRELOAD].filter(Boolean).join(':'),
  ASAN_OPTIONS: ['detect_leaks=0', 'abort_on_error=1', process.env.ASAN_OPTIONS].filter(Boolean).join(':'),
  UBSAN_OPTIONS: ['print_stacktrace=1', 'halt_on_error=1', process.env.UBSAN_OPTIONS].filter(Boolean).join(':'),
};
const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
process.exit(run(process.execPath, [vitest, 'run', ...files, ...process.argv.slice(2)], env));
