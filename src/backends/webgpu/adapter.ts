/**
 * What numkern needs to know about a WebGPU adapter: the limits the kernels size their work by,
 * whether it is hardware or a CPU rasterizer (which ranks below native), and, when Dawn finds none,
 * why (device.ts opens the device).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLavapipe, useLavapipe } from '../../setup/lavapipe.js';
import { loadNative } from '../addon/load.js';

/** The limits the kernels size their chunks and dispatches by. */
export interface GpuLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** The adapter says it is a fallback adapter (lavapipe and SwiftShader do). */
  readonly fallback: boolean;
  /** A CPU rasterizer rather than a GPU, by isFallbackAdapter, architecture or name. */
  readonly software: boolean;
}

export const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
] as const satisfies readonly (keyof GpuLimits)[];

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  // Older Dawn builds exposed the flag on the adapter itself rather than on info.
  const legacy = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const fallback = info.isFallbackAdapter === true || legacy === true;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    fallback,
    software: fallback || info.architecture === 'software' || SOFTWARE_NAMES.test(text),
  };
}

/** One line naming the adapter, e.g. "mesa software llvmpipe-llvm-15-0-6-256-bits- (llvmpipe: Mesa 25.0.7) [software]". */
export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unnamed adapter';
  const desc = a.description && a.description !== a.device ? ` (${a.description})` : '';
  return `${name}${desc}${a.software ? ' [software]' : ''}`;
}

/**
 * Dawn prints why it found no adapter on stderr, out of JavaScript's reach, and unloads the Vulkan
 * loader again when it finds no driver. Whether the loader is installed tells the two usual causes
 * apart: no Vulkan at all, or a loader with no driver Dawn accepts (Debian 12's Mesa 22 lavapipe
 * is rejected).
 */
function vulkanLoaderPresent(): boolean | null {
  if (process.platform !== 'linux') return null;
  const lib = 'libvulkan.so.1';
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib',
    `/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
  ];
  if (dirs.some((d) => existsSync(join(d, lib)))) return true;
  try {
    // The dynamic linker's cache lists every library ldconfig knows, as plain strings.
    return readFileSync('/etc/ld.so.cache').includes(lib);
  } catch {
    return null;
  }
}

/**
 * Whether any Vulkan driver manifest (ICD json) is where the loader looks for one (the Vulkan loader's
 * LoaderInterfaceArchitecture.md: $XDG_CONFIG_DIRS, /etc, $XDG_DATA_HOME, $XDG_DATA_DIRS, each with
 * vulkan/icd.d). A loader with none finds no device, and Dawn would only print that on stderr. The
 * usual system folders are always looked at too: a false "yes" only means Dawn is started as before.
 */
export function vulkanDriverManifests(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME ?? '';
  const dirs = [
    ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'), '/etc',
    env.XDG_DATA_HOME ?? (home ? join(home, '.local', 'share') : ''),
    ...(env.XDG_DATA_DIRS ?? '').split(':'), '/usr/local/share', '/usr/share', '/usr/local/etc',
  ].filter(Boolean);
  return dirs.flatMap((d) => {
    try {
      return readdirSync(join(d, 'vulkan', 'icd.d')).filter((f) => f.endsWith('.json')).map((f) => join(d, 'vulkan', 'icd.d', f));
    } catch {
      return [];
    }
  });
}

const SETUP_HINT =
  'On a machine without a GPU, run `npx numkern setup webgpu` once: it fetches lavapipe (Mesa >= 23) into a ' +
  'per-user cache without root, and numkern finds it from then on.';

export function noAdapterReason(): string {
  const loader = vulkanLoaderPresent();
  const cause =
    loader === false
      ? "Couldn't load Vulkan: libvulkan.so.1 is not installed"
      : loader === true
        ? `the Vulkan loader found no driver Dawn accepts (VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? 'unset'}; ` +
          'Mesa < 23 lavapipe is rejected)'
        : 'Dawn found no adapter';
  const said = dawnMessages();
  const dawn = said.length > 0 ? ` Dawn said: ${said.join(' ')}` : '';
  return `webgpu: requestAdapter() returned no adapter: ${cause}${setupNote ? ` (${setupNote})` : ''}.${dawn} ${SETUP_HINT}`;
}

let prepared = false;
let setupNote: string | null = null;

/**
 * Runs once, before the `webgpu` package loads. A driver the user configured (VK_DRIVER_FILES,
 * VK_ICD_FILENAMES) is left alone, unless it is the lavapipe found here. Otherwise, on Linux, a lavapipe that `numkern setup webgpu` put in
 * the per-user cache is wired in (src/setup/lavapipe.ts). With no Vulkan loader at all Dawn would only
 * print "Couldn't load Vulkan" on the user's stderr and find nothing, so this throws the reason
 * instead and Dawn is never touched. NUMKERN_NO_LAVAPIPE=1 skips the cache.
 */
export function prepareVulkan(dawnOptions: readonly string[]): void {
  if (!prepared) {
    prepared = true;
    const configured = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
    const l = process.platform === 'linux' && !process.env.NUMKERN_NO_LAVAPIPE ? findLavapipe() : null;
    // A child of a process that wired lavapipe in inherits its VK_DRIVER_FILES but not its preloaded
    // loader: a driver file that is this very lavapipe is wired in again rather than taken as the user's.
    if (l && (!configured || configured === l.icd)) setupNote = useLavapipe(l, !configured && vulkanLoaderPresent() === true);
  }
  // A caller who picked a Dawn backend (opengles, say) does not need Vulkan.
  const other = dawnOptions.some((o) => /^backend\s*=\s*(?!vulkan)/i.test(o));
  if (process.platform === 'linux' && !other && setupNote === null) {
    const loader = vulkanLoaderPresent();
    if (loader === false) {
      throw new Error(`webgpu: no Vulkan loader (libvulkan.so.1 is not installed), so there is no adapter; Dawn was not started. ${SETUP_HINT}`);
    }
    const configured = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES || process.env.VK_ADD_DRIVER_FILES;
    if (loader === true && !configured && vulkanDriverManifests().length === 0) {
      throw new Error(`webgpu: the Vulkan loader is installed but no driver is (no vulkan/icd.d/*.json manifest), so there is no adapter; Dawn was not started. ${SETUP_HINT}`);
    }
  }
}

/**
 * Every Vulkan driver this process could reach is a CPU rasterizer: the driver files named by the
 * user, or else the system's manifests, are all lavapipe's; or there is no system loader (so only a
 * numkern-fetched lavapipe, or nothing). Decided without starting Dawn, so a caller can leave WebGPU
 * out where a software adapter would rank below a backend it already has (the CLI does, for native).
 */
export function onlySoftwareVulkan(): boolean {
  if (process.platform !== 'linux') return false;
  const lavapipe = (f: string) => /lvp_icd[^/]*\.json$/.test(f);
  const files = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
  if (files) return files.split(':').filter(Boolean).every(lavapipe);
  if (vulkanLoaderPresent() === false) return true;
  const added = (process.env.VK_ADD_DRIVER_FILES ?? '').split(':').filter(Boolean);
  return [...vulkanDriverManifests(), ...added].every(lavapipe);
}

/** How the Vulkan driver was found when numkern wired it in itself, for status(); null otherwise. */
export function vulkanSetupNote(): string | null {
  return setupNote;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

let dawnText = '';

/**
 * Runs a synchronous Dawn call with what it prints on stderr (C++ fprintf, out of reach of
 * process.stderr) captured instead, when the addon is there to capture it: Dawn prints its adapter
 * warnings inside create() and requestAdapter(). The text is kept for status() (dawnMessages).
 */
export function quietDawn<T>(call: () => T): T {
  const addon = loadNative().addon;
  const capturing = addon?.stderrCaptureBegin?.() ?? false;
  try {
    return call();
  } finally {
    if (capturing) dawnText += addon!.stderrCaptureEnd!() ?? '';
  }
}

/** What Dawn printed during the calls quietDawn captured, one entry per message line (its source-location lines dropped). */
export function dawnMessages(): string[] {
  return dawnText.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at '));
}
