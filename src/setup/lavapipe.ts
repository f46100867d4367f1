/**
 * Where numkern keeps the CPU Vulkan driver (lavapipe from Mesa >= 23 plus the Vulkan loader) that
 * `numkern setup webgpu` fetches, and how a process makes Dawn find it without any variable set by hand.
 *
 * Two facts make the in-process route work (docs/platform.md §2.4):
 * - the Vulkan loader reads VK_DRIVER_FILES when Dawn creates its instance, not at process start, so
 *   setting process.env before the first requestAdapter() is enough;
 * - Dawn opens the loader as dlopen("libvulkan.so.1"), and glibc answers that from an object already
 *   loaded under the same SONAME. Loading our copy first by absolute path (RTLD_NODELETE, so Node's
 *   dlclose after "did not self-register" keeps it resident) stands in for LD_LIBRARY_PATH, which the
 *   dynamic linker reads only at process start.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file runs from src/setup/ (tsx, vitest) or dist/setup/ (tsc). */
export const packageRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** glibc's RTLD_NODELETE (dlfcn.h); Node's os.constants.dlopen does not list it. */
const RTLD_NODELETE = 0x1000;

export function multiarch(): string {
  return `${process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch}-linux-gnu`;
}

/** The per-user cache folder `numkern setup webgpu` fills: $NUMKERN_LAVAPIPE_DIR, else $XDG_CACHE_HOME/numkern/lavapipe, else ~/.cache/numkern/lavapipe. */
export function lavapipeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NUMKERN_LAVAPIPE_DIR) return path.resolve(env.NUMKERN_LAVAPIPE_DIR);
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(homedir(), '.cache');
  return path.join(cache, 'numkern', 'lavapipe');
}

export interface LavapipeInstall {
  readonly dir: string;
  /** The ICD manifest whose library_path points at the extracted libvulkan_lvp.so. */
  readonly icd: string;
  /** The folder holding the extracted libvulkan.so.1 (what LD_LIBRARY_PATH would name). */
  readonly libDir: string;
}

function complete(dir: string): LavapipeInstall | null {
  const icd = path.join(dir, 'lvp_icd.json');
  const libDir = path.join(dir, 'usr', 'lib', multiarch());
  return existsSync(icd) && existsSync(path.join(libDir, 'libvulkan.so.1')) ? { dir, icd, libDir } : null;
}

/** A finished install: the per-user cache first, then a checkout's own `.lavapipe/` (what `npm test` fetches). */
export function findLavapipe(env: NodeJS.ProcessEnv = process.env): LavapipeInstall | null {
  for (const dir of [lavapipeCacheDir(env), path.join(packageRoot, '.lavapipe')]) {
    const hit = complete(dir);
    if (hit) return hit;
  }
  return null;
}

/** The one line a shell needs when a process cannot set itself up (a non-Node program using the same driver). */
export function lavapipeEnvLine(l: LavapipeInstall): string {
  return `export VK_DRIVER_FILES=${l.icd} LD_LIBRARY_PATH=${l.libDir}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`;
}

/**
 * Points this process's Vulkan loader at `l` before Dawn loads: sets VK_DRIVER_FILES (or, when the
 * machine has a loader and drivers of its own, VK_ADD_DRIVER_FILES, so a real GPU stays visible),
 * a private XDG_RUNTIME_DIR when none is set (Mesa complains on stderr without one), and preloads the
 * bundled loader when the system has none. Returns what it did, for `status()`.
 */
export function useLavapipe(l: LavapipeInstall, systemLoader: boolean): string {
  if (!process.env.XDG_RUNTIME_DIR) {
    const run = path.join(l.dir, 'run');
    try {
      mkdirSync(run, { recursive: true });
      chmodSync(run, 0o700);
      process.env.XDG_RUNTIME_DIR = run;
    } catch { /* a read-only cache: Mesa only warns */ }
  }
  if (systemLoader) {
    process.env.VK_ADD_DRIVER_FILES = l.icd;
    return `lavapipe from ${l.dir} added to the system's Vulkan drivers`;
  }
  process.env.VK_DRIVER_FILES = l.icd;
  try {
    process.dlopen({ exports: {} }, path.join(l.libDir, 'libvulkan.so.1'), constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
  } catch (e) {
    // Expected: a plain shared library is not a Node module. The library stays loaded (RTLD_NODELETE).
    if (!/did not self-register/.test(e instanceof Error ? e.message : String(e))) {
      return `lavapipe from ${l.dir}: its Vulkan loader failed to load (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  return `lavapipe from ${l.dir}`;
}

/** The ICD manifest names the library by absolute path; a moved cache folder breaks it. */
export function icdLibraryPath(l: LavapipeInstall): string | null {
  try {
    return (JSON.parse(readFileSync(l.icd, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path ?? null;
  } catch {
    return null;
  }
}

/**
 * Runs scripts/setup-lavapipe.sh into `dir`, passing its step lines to `onStep` as they come.
 * Resolves with the exit status and the script's other output (apt's log on failure).
 */
export function installLavapipe(dir: string, onStep: (line: string) => void): Promise<{ status: number; output: string }> {
  const script = path.join(packageRoot, 'scripts', 'setup-lavapipe.sh');
  return new Promise((resolve) => {
    const child = spawn('sh', [script, dir], { env: { ...process.env, NUMKERN_SETUP_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (/^setup-lavapipe: \d\/\d /.test(line)) onStep(line.slice('setup-lavapipe: '.length));
        else output += `${line}\n`;
      }
    });
    child.on('error', (e) => resolve({ status: 127, output: `${output}${e.message}\n` }));
    child.on('close', (code) => resolve({ status: code ?? 1, output: output + pending }));
  });
}
