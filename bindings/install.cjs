// Install step. A prebuild that loads here (prebuilds/<platform>-<arch>/, shipped by `npm pack` after
// `npm run prebuilds`) means there is nothing to do. Otherwise build the addon with cmake-js, showing
// progress, and on failure print the one line that explains it and what to install. Never fail the
// install: the js backend always works and `numkern info` reports why native is missing.
// Installs with scripts skipped (--ignore-scripts) still get native from the prebuild: the loader
// (src/backends/addon/load.ts) needs no install step.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { explainBuildFailure } = require('../scripts/build-failure.cjs');

const root = path.resolve(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'numkern.napi.node');
if (process.env.NUMKERN_SKIP_BUILD) {
  console.warn('numkern: NUMKERN_SKIP_BUILD set; native addon not built');
  process.exit(0);
}

/** The prebuild loads in a child (a crash or a missing library stays there) and exports info(). */
function prebuildLoads() {
  if (!fs.existsSync(prebuilt)) return false;
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(prebuilt)}).info()`], { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}
if (prebuildLoads()) process.exit(0);

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.warn('numkern: cmake-js not found; native addon not built; the js backend will be used');
  process.exit(0);
}
const log = path.join(root, 'build', 'install.log');
const t0 = Date.now();
const tty = process.stderr.isTTY === true;
console.warn(`numkern: no prebuild for ${process.platform}-${process.arch} loads here; building the native addon from source (about a minute; NUMKERN_SKIP_BUILD=1 skips it)`);
const child = spawn(process.execPath, [cmakeJs, 'build'], { cwd: root });
let out = '';
let lastShown = 0;
const onData = (d) => {
  const s = d.toString();
  out += s;
  // Ninja's "[k/n] ..." lines: on a terminal a live counter, in a log one line every ~10 s.
  for (const m of s.matchAll(/^\[(\d+)\/(\d+)\]/gm)) {
    const now = Date.now();
    const line = `numkern: compiling [${m[1]}/${m[2]}] ${((now - t0) / 1e3).toFixed(0)} s`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (now - lastShown > 10_000 || m[1] === m[2]) {
      console.warn(line);
      lastShown = now;
    }
  }
};
child.stdout.on('data', onData);
child.stderr.on('data', onData);
child.on('error', (e) => { out += `${e.message}\n`; });
child.on('close', (status) => {
  if (tty) process.stderr.write('\r\x1b[K');
  try {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, out);
  } catch { /* a read-only tree still installs */ }
  if (status === 0) {
    console.warn(`numkern: native addon built in ${((Date.now() - t0) / 1e3).toFixed(0)} s`);
  } else {
    const { line, fix } = explainBuildFailure(out);
    console.warn(`numkern: native addon build failed: ${line}\nnumkern: needs ${fix}; the js backend will be used meanwhile. Full log: ${log}`);
  }
  process.exit(0);
});
