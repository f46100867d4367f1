#!/usr/bin/env node
/**
 * `npm test`: prepares the WebGPU environment (gpu-env.mjs), then runs vitest in a child process
 * that starts with it, passing CLI arguments through and exiting with vitest's status.
 *
 * Imported rather than run, it only exports `webGpuChildEnv`, for launchers that start Node with
 * the same environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWebGpuEnv } from './gpu-env.mjs';

export { ensureWebGpuEnv, lavapipeEnv, probeAdapter } from './gpu-env.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** process.env plus what WebGPU needs on this machine: the env for a child Node process. */
export async function webGpuChildEnv(root = ROOT) {
  return { ...process.env, ...(await ensureWebGpuEnv(root)) };
}

/** The CLI tests run the real `bin/numkern.js`, which loads dist/: compile it so they never see stale code. */
function buildDist() {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

async function main() {
  buildDist();
  const env = await webGpuChildEnv();
  const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const child = spawn(process.execPath, [vitest, 'run', ...process.argv.slice(2)], { cwd: ROOT, env, stdio: 'inherit' });
  const forward = (sig) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === realpathSync(fileURLToPath(import.meta.url))) await main();
