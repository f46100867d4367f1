// Install step: build the addon with cmake-js when a toolchain is present; never fail the install,
// because the js backend always works and `numkern info` reports why native is missing.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'numkern.napi.node');
if (process.env.NUMKERN_SKIP_BUILD) {
  console.warn('numkern: NUMKERN_SKIP_BUILD set; native addon not built');
  process.exit(0);
}
if (fs.existsSync(prebuilt)) process.exit(0);

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  cmakeJs = null;
}
const log = path.join(root, 'build', 'install.log');
if (cmakeJs) {
  const r = spawnSync(process.execPath, [cmakeJs, 'build'], { cwd: root, encoding: 'utf8' });
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  try {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, out);
  } catch { /* a read-only tree still installs */ }
  if (r.status === 0) process.exit(0);
  console.warn(`numkern: native addon build failed (exit ${r.status}); the js backend will be used. Log: ${log}`);
} else {
  console.warn('numkern: cmake-js not found; native addon not built; the js backend will be used');
}
process.exit(0);
