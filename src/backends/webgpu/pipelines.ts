/**
 * WGSL sources and the compute-pipeline cache.
 *
 * Sources are the package's `kernels/<family>/*.wgsl` files, read at run time. This module sits at
 * src/backends/webgpu/ under vitest and at dist/backends/webgpu/ after tsc, three levels below the
 * package root either way. A line `#include "file.wgsl"` is replaced by that file, found relative to
 * the including file's folder (`../core/x.wgsl` reaches another family), once per source: the only
 * preprocessing there is.
 *
 * A pipeline is keyed by what generates it: file, entry point and override constants. Sizes are
 * uniforms, so one pipeline serves every problem size.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';

const KERNELS_ROOT = new URL('../../../kernels/', import.meta.url);
const INCLUDE = /^[ \t]*#include[ \t]+"([A-Za-z0-9_./-]+\.wgsl)"[ \t]*$/gm;

const sourceCache = new Map<string, Promise<string>>();

/** The WGSL of `kernels/<path>` with includes expanded; cached per process (sources never change at run time). */
export function loadWgsl(path: string): Promise<string> {
  let src = sourceCache.get(path);
  if (!src) {
    src = expand(path, new Set());
    sourceCache.set(path, src);
    const pending = src;
    src.catch(() => {
      if (sourceCache.get(path) === pending) sourceCache.delete(path);
    });
  }
  return src;
}

async function expand(path: string, seen: Set<string>): Promise<string> {
  seen.add(path);
  const text = await readFile(new URL(path, KERNELS_ROOT), 'utf8');
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  const parts: string[] = [];
  let last = 0;
  for (const m of text.matchAll(INCLUDE)) {
    parts.push(text.slice(last, m.index));
    // Normalized, so a snippet reached along two relative paths still counts as one include.
    const inc = posix.normalize(dir + m[1]!);
    parts.push(seen.has(inc) ? `// ${inc} already included\n` : await expand(inc, seen));
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  return parts.join('');
}

/** Everything a pipeline depends on; equal specs share one pipeline. */
export interface PipelineSpec {
  /** Path below kernels/, e.g. 'core/axpy.wgsl'. */
  readonly file: string;
  readonly entryPoint?: string;
  readonly constants?: Readonly<Record<string, number>>;
}

export function pipelineKey(spec: PipelineSpec): string {
  const consts = Object.entries(spec.constants ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${spec.file}#${spec.entryPoint ?? 'main'}{${consts}}`;
}

export interface PipelineStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly modules = new Map<string, Promise<GPUShaderModule>>();
  private hits = 0;
  private misses = 0;

  constructor(private readonly device: GPUDevice) {}

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const k = pipelineKey(spec);
    const cached = this.pipelines.get(k);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const p = this.create(spec, k);
    this.pipelines.set(k, p);
    // A failed compile is not remembered: the next call reports the error again instead of a stale one.
    p.catch(() => {
      if (this.pipelines.get(k) === p) this.pipelines.delete(k);
    });
    return p;
  }

  stats(): PipelineStats {
    return { hits: this.hits, misses: this.misses, size: this.pipelines.size };
  }

  clear(): void {
    this.pipelines.clear();
    this.modules.clear();
  }

  private module(file: string): Promise<GPUShaderModule> {
    let m = this.modules.get(file);
    if (!m) {
      m = loadWgsl(file).then((code) => this.device.createShaderModule({ code, label: file }));
      this.modules.set(file, m);
      const pending = m;
      m.catch(() => {
        if (this.modules.get(file) === pending) this.modules.delete(file);
      });
    }
    return m;
  }

  private async create(spec: PipelineSpec, label: string): Promise<GPUComputePipeline> {
    const module = await this.module(spec.file);
    return this.device.createComputePipelineAsync({
      label,
      layout: 'auto',
      compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: { ...spec.constants } },
    });
  }
}
