/**
 * The environment a child process needs for a WebGPU adapter on this machine.
 *
 * LD_LIBRARY_PATH is read by the dynamic loader when a process starts, so a process cannot give
 * itself a Vulkan loader after the fact: the probe and the tests run in child processes started
 * with the env this module returns.
 *
 * Order: an adapter already reachable with the current env → {} (nothing to add); otherwise, on a
 * Debian-like machine (apt-get and dpkg present), install lavapipe into <root>/.lavapipe with
 * scripts/setup-lavapipe.sh (no root, idempotent) and return the variables that point at it; otherwise {}
 * with a note. NUMKERN_LAVAPIPE=0 skips the installation (the tests then skip or, under
 * NUMKERN_REQUIRE=webgpu, fail).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch } from 'node:os';
import { join, delimiter } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const PROBE_TIMEOUT_MS = 30_000;
const SETUP_TIMEOUT_MS = 300_000;

// Runs in a child: prints one JSON line saying whether an adapter exists and which.
const PROBE = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const a = await gpu.requestAdapter();
console.log(JSON.stringify(a ? { ok: true, adapter: [a.info.vendor, a.info.architecture, a.info.device].filter(Boolean).join(' ') } : { ok: false }));
`;

const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function run(file, args, options) {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 << 20, ...options }, (error, stdout, stderr) => {
      resolve({ error, stdout: stdout ?? '', stderr: stderr ?? '' });
    });
  });
}

async function has(command) {
  const r = await run('sh', ['-c', `command -v ${command}`], {});
  return !r.error;
}

/** Probes for an adapter in a child process with `extraEnv` added; never throws. */
export async function probeAdapter(root, extraEnv = {}) {
  let entry;
  try {
    entry = pathToFileURL(createRequire(join(root, 'package.json')).resolve('webgpu')).href;
  } catch {
    return { ok: false, reason: "the 'webgpu' package is not installed" };
  }
  const r = await run(process.execPath, ['--input-type=module', '-e', PROBE, entry], {
    cwd: root,
    env: { ...process.env, ...extraEnv },
    timeout: PROBE_TIMEOUT_MS,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const res = JSON.parse(line);
    if (res.ok) return res;
  } catch {
    // Not JSON: the child crashed or timed out; its stderr says why.
  }
  const dawn = r.stderr.split('\n').filter((l) => l.trim() && !/artificially reduced/.test(l))[0];
  return { ok: false, reason: r.error?.killed ? 'adapter probe timed out' : (dawn ?? 'no adapter').trim() };
}

/** The variables that make a child process load the project-local lavapipe in `dir`. */
export function lavapipeEnv(dir) {
  const lib = join(dir, 'usr', 'lib', MULTIARCH[arch()] ?? `${arch()}-linux-gnu`);
  const env = {
    VK_DRIVER_FILES: join(dir, 'lvp_icd.json'),
    LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ? `${lib}${delimiter}${process.env.LD_LIBRARY_PATH}` : lib,
  };
  if (!process.env.XDG_RUNTIME_DIR) {
    // Mesa complains on stderr without a private runtime dir; one inside .lavapipe outlives no one.
    const xdg = join(dir, 'run');
    mkdirSync(xdg, { recursive: true });
    chmodSync(xdg, 0o700);
    env.XDG_RUNTIME_DIR = xdg;
  }
  return env;
}

/**
 * Returns the env to add for child processes that need WebGPU (possibly {}). Installs lavapipe
 * into `<root>/.lavapipe` when needed and possible. Prints a one-line note when it cannot help.
 */
export async function ensureWebGpuEnv(root) {
  const current = await probeAdapter(root);
  if (current.ok) return {};
  if (/not installed/.test(current.reason)) {
    console.error(`numkern: WebGPU tests will skip: ${current.reason}`);
    return {};
  }
  const dir = join(root, '.lavapipe');
  if (!existsSync(join(dir, 'lvp_icd.json'))) {
    if (process.env.NUMKERN_LAVAPIPE === '0') {
      console.error(`numkern: no WebGPU adapter (${current.reason}); NUMKERN_LAVAPIPE=0, so lavapipe is not installed`);
      return {};
    }
    if (!(await has('apt-get')) || !(await has('dpkg'))) {
      console.error(`numkern: no WebGPU adapter (${current.reason}) and no apt-get/dpkg to fetch lavapipe; WebGPU tests will skip`);
      return {};
    }
    const script = fileURLToPath(new URL('../../scripts/setup-lavapipe.sh', import.meta.url));
    const r = await run('sh', [script, dir], { cwd: root, timeout: SETUP_TIMEOUT_MS });
    if (r.error) {
      console.error(`numkern: installing lavapipe failed; WebGPU tests will skip\n${r.stderr.trim()}`);
      return {};
    }
  }
  const env = lavapipeEnv(dir);
  const after = await probeAdapter(root, env);
  if (!after.ok) console.error(`numkern: lavapipe is in ${dir}, but still no WebGPU adapter: ${after.reason}`);
  return env;
}
