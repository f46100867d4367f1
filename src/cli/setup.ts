/**
 * `numkern setup webgpu`: fetches the CPU Vulkan driver (lavapipe, Mesa >= 23) and the Vulkan loader
 * into a per-user cache, without root, so WebGPU runs on a machine with no GPU. numkern finds the cache
 * by itself afterwards (src/setup/lavapipe.ts); `--print-env` gives the one shell line for programs
 * that are not numkern.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { findLavapipe, icdLibraryPath, installLavapipe, lavapipeCacheDir, lavapipeEnvLine } from '../setup/lavapipe.js';

export const SETUP_USAGE = `setup webgpu [--dir D] [--print-env] [--force]
                            fetch lavapipe (CPU Vulkan driver, Mesa >= 23) into a per-user cache
                            without root (default $XDG_CACHE_HOME/numkern/lavapipe); numkern uses it
                            from then on; --print-env prints the shell line other programs need`;

export const SETUP_OPTIONS = { dir: { type: 'string' }, 'print-env': { type: 'boolean' }, force: { type: 'boolean' } } as const;

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export async function setupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SETUP_OPTIONS });
  if (positionals.length !== 1 || positionals[0] !== 'webgpu') {
    process.stderr.write(`numkern setup: expected 'webgpu', got ${positionals.length ? `'${positionals.join(' ')}'` : 'nothing'}\nusage: numkern ${SETUP_USAGE}\n`);
    return 2;
  }
  const env = values.dir ? { ...process.env, NUMKERN_LAVAPIPE_DIR: values.dir } : process.env;
  const dir = lavapipeCacheDir(env);
  const existing = findLavapipe(env);
  if (existing && existing.dir === dir && !values.force) {
    const lib = icdLibraryPath(existing);
    process.stderr.write(`numkern setup: lavapipe is already in ${dir}${lib ? '' : ' (its ICD manifest is unreadable; rerun with --force)'}\n`);
    if (values['print-env']) process.stdout.write(`${lavapipeEnvLine(existing)}\n`);
    return 0;
  }
  if (process.platform !== 'linux') {
    process.stderr.write(`numkern setup: lavapipe is fetched from the Linux distribution's archive; on ${process.platform} the system's GPU driver serves WebGPU\n`);
    return 1;
  }
  const missing = ['apt-get', 'dpkg'].filter((c) => !has(c));
  if (missing.length > 0) {
    process.stderr.write(
      `numkern setup: needs apt-get and dpkg (Debian or Ubuntu), missing: ${missing.join(', ')}. Elsewhere install Mesa >= 23 ` +
      "with its Vulkan driver (package names vary: mesa-vulkan-drivers, vulkan-swrast) and the Vulkan loader from the distribution\n",
    );
    return 1;
  }
  if (values.force) {
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`numkern setup: fetching lavapipe into ${dir} (no root; the system's APT state is not touched)\n`);
  const t0 = Date.now();
  const r = await installLavapipe(dir, (step) => process.stderr.write(`  ${step} (${((Date.now() - t0) / 1e3).toFixed(0)} s)\n`));
  if (r.status !== 0) {
    const lines = r.output.trim().split('\n').filter(Boolean);
    // apt prints a page; the line that says why is usually its last E: line, else the script's own.
    const why = [...lines].reverse().find((l) => /^E: /.test(l)) ?? lines[lines.length - 1] ?? `exit ${r.status}`;
    process.stderr.write(`numkern setup: failed: ${why}\n${lines.length > 1 ? `${lines.slice(-15).map((l) => `  | ${l}`).join('\n')}\n` : ''}`);
    return 1;
  }
  const done = findLavapipe(env);
  if (!done || done.dir !== dir) {
    process.stderr.write(`numkern setup: the script finished but ${dir} has no lvp_icd.json and libvulkan.so.1\n`);
    return 1;
  }
  process.stderr.write(
    `numkern setup: done in ${((Date.now() - t0) / 1e3).toFixed(1)} s. numkern (CLI and library) now finds the adapter by itself: try \`npx numkern info\`.\n` +
    (values.dir ? `  --dir is not the default cache: set NUMKERN_LAVAPIPE_DIR=${dir} for numkern to find it\n` : '') +
    `  For other programs: eval "$(npx numkern setup webgpu${values.dir ? ` --dir ${dir}` : ''} --print-env)"\n`,
  );
  if (values['print-env']) process.stdout.write(`${lavapipeEnvLine(done)}\n`);
  return 0;
}
