#!/usr/bin/env node
/**
 * `npm run prebuilds`: the N-API binaries `npm pack` ships, in prebuildify's layout
 * (src/backends/addon/load.ts resolves it):
 *   prebuilds/<platform>-<arch>/numkern.napi.node        CPU build, always
 *   prebuilds/<platform>-<arch>/numkern.cuda.napi.node   CPU + CUDA build, where nvcc is on PATH; the
 *                                                        loader takes it only where an NVIDIA device exists
 * N-API 8 (package.json "binary"), so one file serves every Node >= 20.
 *
 * Portable by default: no OpenBLAS and no OpenMP, so the file needs only libc, libm, libstdc++ and
 * libgcc_s, which Node itself needs (a prebuild linked to libopenblas.so.0 would fail to load on a
 * machine without it; the builtin kernels and std::thread give the same results, docs/ARCHITECTURE.md).
 * --system-libs links them as found, for a prebuild used on this machine only.
 *
 * The script is not named `prebuild`: npm would run it before every `npm run build`.
 * Prints one line per step; a failed build prints the line that explains it and what to install.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
if (args.has('--help') || args.has('-h')) {
  process.stdout.write('usage: npm run prebuilds [-- --system-libs] [-- --no-cuda]\n  writes prebuilds/<platform>-<arch>/numkern[.cuda].napi.node\n');
  process.exit(0);
}
const systemLibs = args.has('--system-libs');
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const cmakeJs = createRequire(join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
const { explainBuildFailure } = createRequire(import.meta.url)('./build-failure.cjs');
const has = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;
const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1e3).toFixed(0)} s`;

function build(name, outDir, defines) {
  return new Promise((resolve) => {
    process.stderr.write(`prebuilds: building ${name} (${defines.join(' ') || 'defaults'}) … [${secs()}]\n`);
    const child = spawn(process.execPath, [cmakeJs, 'rebuild', '-O', outDir, ...defines.map((d) => `--CD${d}`)], { cwd: root });
    let log = '';
    let shown = 0;
    const onData = (d) => {
      const s = d.toString();
      log += s;
      // Ninja's "[k/n] Building ..." lines are the progress worth showing (a live line on a terminal,
      // one line every ~10 s in a log); the rest goes to the log file.
      for (const m of s.matchAll(/^\[(\d+)\/(\d+)\] (\S+ \S+ \S+ )?(.*)$/gm)) {
        const line = `  [${m[1]}/${m[2]}] ${m[4].split('/').pop()?.slice(0, 60) ?? ''} [${secs()}]`;
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
        else if (Date.now() - shown > 10_000 || m[1] === m[2]) {
          process.stderr.write(`${line}\n`);
          shown = Date.now();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => { log += `${e.message}\n`; });
    child.on('close', (code) => {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      const logFile = join(outDir, 'prebuild.log');
      try {
        mkdirSync(outDir, { recursive: true });
        writeFileSync(logFile, log);
      } catch { /* the log is a convenience */ }
      resolve({ ok: code === 0, log, logFile });
    });
  });
}

async function variant(name, file, defines) {
  const outDir = join(root, 'build', `prebuild-${name}`);
  const r = await build(name, outDir, defines);
  const built = join(outDir, 'Release', 'numkern.node');
  if (!r.ok || !existsSync(built)) {
    const { line, fix } = explainBuildFailure(r.log);
    process.stderr.write(`prebuilds: the ${name} build failed: ${line}\n  needs: ${fix}\n  full log: ${r.logFile}\n`);
    return false;
  }
  mkdirSync(dir, { recursive: true });
  copyFileSync(built, join(dir, file));
  // Check that it loads here and reports what it was built with.
  const check = spawnSync(process.execPath, ['-e', `const i = require(${JSON.stringify(join(dir, file))}).info(); console.log(JSON.stringify({ openmp: i.openmp, blas: !!i.blas, cuda: i.cuda.compiled }))`], { encoding: 'utf8' });
  if (check.status !== 0) {
    process.stderr.write(`prebuilds: ${file} was built but does not load: ${(check.stderr || '').trim().split('\n')[0]}\n`);
    return false;
  }
  process.stderr.write(`prebuilds: wrote ${join('prebuilds', `${process.platform}-${process.arch}`, file)} ${check.stdout.trim()} [${secs()}]\n`);
  return true;
}

const portable = systemLibs ? [] : ['NUMKERN_WITH_BLAS=OFF', 'NUMKERN_WITH_OPENMP=OFF'];
let ok = await variant('cpu', 'numkern.napi.node', ['NUMKERN_WITH_CUDA=OFF', ...portable]);
if (ok && !args.has('--no-cuda')) {
  if (has('nvcc')) ok = await variant('cuda', 'numkern.cuda.napi.node', ['NUMKERN_WITH_CUDA=ON', ...portable]);
  else process.stderr.write('prebuilds: no nvcc on PATH; the CUDA prebuild is skipped\n');
}
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
if (ok) process.stderr.write(`prebuilds: done for numkern ${version}, ${process.platform}-${process.arch}, N-API 8 [${secs()}]; npm pack includes prebuilds/\n`);
process.exit(ok ? 0 : 1);
