#!/usr/bin/env node
// Launcher for the `numkern` command. On a machine without a GPU driver, `npm test` fetches a project-local
// lavapipe (test/support/setup-lavapipe.sh); the Vulkan loader reads LD_LIBRARY_PATH only at process start,
// so when that folder exists and no driver is configured, the CLI re-runs itself with it in the environment.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const icd = join(root, '.lavapipe', 'lvp_icd.json');
if (!process.env.VK_DRIVER_FILES && !process.env.NUMKERN_NO_LAVAPIPE && existsSync(icd)) {
  const lib = join(root, '.lavapipe', 'usr', 'lib', `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`);
  const env = {
    ...process.env,
    VK_DRIVER_FILES: icd,
    LD_LIBRARY_PATH: [lib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), 'numkern-xdg-')),
  };
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
