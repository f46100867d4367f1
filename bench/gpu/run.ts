/**
 * The GPU bench, one command on a GPU machine: `npm run bench:gpu [-- --quick] [--families relax,pg]
 * [--allow-software] [--out file.json]`.
 *
 *  1. The ceiling: device-to-device copy bandwidth, cudaMemcpy D2D timed by events (cuda.copyBandwidth)
 *     where CUDA has a device, else a WebGPU copyBufferToBuffer timed by queue completion.
 *  2. Every case of bench/gpu/{linalg,relax,pg,frechet,sketch}.ts that exists (each family writes its
 *     own list, bench/gpu/case.ts): the CPU result first (native, else js), then per GPU backend
 *     present (cuda, webgpu) one checked run, then the best of a few timed runs. A failed check
 *     prints why and the case is not timed on that backend.
 *  3. A table: seconds, GB/s (the case's bytes / best time) and the fraction of the copy bandwidth;
 *     written as JSON too (bench/results/gpu-<date>.json, or --out).
 *
 * Without a GPU it says so and exits 0: CUDA reports no device and WebGPU has no hardware adapter.
 * --allow-software runs WebGPU on a software adapter (lavapipe) anyway, to exercise the runner.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createContext, type Context } from '../../src/index.js';
import { loadNative } from '../../src/backends/addon/load.js';
import { STORAGE_IN, STORAGE_OUT } from '../../src/backends/webgpu/buffers.js';
import { openGpuDevice } from '../../src/backends/webgpu/device.js';
import type { BackendName } from '../../src/core/types.js';
import { bestOf } from '../measure.js';
import type { GpuCase } from './case.js';

const FAMILIES = ['linalg', 'relax', 'pg', 'frechet', 'sketch'] as const;
const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  family: string;
  case: string;
  dtype: string;
  backend: BackendName;
  seconds: number | null;
  gbps: number | null;
  fraction: number | null;
  note: string;
}

/** The cases of one family, or null with the reason when its file is absent or broken. */
async function loadCases(family: string): Promise<{ cases: GpuCase[] } | { missing: string }> {
  try {
    const mod = (await import(`./${family}.js`)) as { cases?: GpuCase[] };
    if (!Array.isArray(mod.cases)) return { missing: `bench/gpu/${family}.ts exports no cases` };
    return { cases: mod.cases };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`${family}.`)) return { missing: `no bench/gpu/${family}.ts` };
    throw e;
  }
}

/** GB/s of a WebGPU buffer-to-buffer copy (read + write of each byte), best of `reps` submits. */
async function webgpuCopyGbps(bytes: number, reps: number, allowSoftware: boolean): Promise<number> {
  const gpu = await openGpuDevice({ allowSoftwareAdapter: allowSoftware });
  try {
    const d = gpu.device;
    const size = Math.min(bytes, gpu.limits.maxBufferSize ?? bytes) & ~3;
    const src = d.createBuffer({ size, usage: STORAGE_OUT });
    const dst = d.createBuffer({ size, usage: STORAGE_IN });
    const copy = async () => {
      const enc = d.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, dst, 0, size);
      d.queue.submit([enc.finish()]);
      await d.queue.onSubmittedWorkDone();
    };
    await copy();
    const best = await bestOf(copy, reps);
    src.destroy();
    dst.destroy();
    return (2 * size) / best / 1e9;
  } finally {
    gpu.release();
  }
}

function fmt(v: number | null, digits: number): string {
  return v === null ? '-' : v.toFixed(digits);
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      families: { type: 'string' },
      'allow-software': { type: 'boolean' },
      out: { type: 'string' },
      reps: { type: 'string' },
    },
  });
  const allowSoftware = values['allow-software'] ?? false;
  const reps = Number(values.reps ?? (values.quick ? 2 : 5));
  const families = values.families ? values.families.split(',') : [...FAMILIES];
  // Read by bench/gpu/sizes.ts when the case lists load (they are imported below, after this).
  if (values.quick) process.env.NUMKERN_GPU_BENCH_QUICK = '1';

  const ctx: Context = await createContext();
  try {
    await ctx.start();
    const status = ctx.status();
    const cuda = status.find((s) => s.name === 'cuda');
    const webgpu = status.find((s) => s.name === 'webgpu');
    const webgpuSoftware = (webgpu?.info as { software?: boolean } | undefined)?.software === true;
    const gpus: BackendName[] = [];
    if (cuda?.available) gpus.push('cuda');
    if (webgpu?.available && (!webgpuSoftware || allowSoftware)) gpus.push('webgpu');
    if (gpus.length === 0) {
      const why = webgpu?.available ? 'its only adapter is a software one (pass --allow-software to use it)' : (webgpu?.reason ?? 'unavailable');
      console.log(`bench:gpu: no GPU on this machine, nothing to measure.\n  cuda: ${cuda?.reason ?? 'unavailable'}\n  webgpu: ${why}`);
      return 0;
    }
    const cpu: BackendName = status.find((s) => s.name === 'native')?.available ? 'native' : 'js';

    // 1. The ceiling.
    const copyBytes = values.quick ? 64 << 20 : 512 << 20;
    let ceiling: { gbps: number; how: string };
    if (cuda?.available) {
      const { addon } = loadNative();
      const gbps = await (addon!.cuda as unknown as { copyBandwidthAsync(bytes: number, reps: number): Promise<number> }).copyBandwidthAsync(copyBytes, 20);
      ceiling = { gbps, how: `cudaMemcpy device-to-device, ${copyBytes >> 20} MiB x 20` };
    } else {
      ceiling = { gbps: await webgpuCopyGbps(copyBytes, Math.max(reps, 3), allowSoftware), how: `webgpu copyBufferToBuffer, ${copyBytes >> 20} MiB, best of ${Math.max(reps, 3)}` };
    }
    console.log(`copy bandwidth: ${ceiling.gbps.toFixed(1)} GB/s (${ceiling.how})`);
    for (const s of [cuda, webgpu]) if (s) console.log(`  ${s.name}: ${s.available ? ((s.info as { description?: string })?.description ?? 'available') : s.reason}`);

    // 2. The cases.
    const rows: Row[] = [];
    for (const family of families) {
      const loaded = await loadCases(family);
      if ('missing' in loaded) {
        console.log(`${family}: skipped (${loaded.missing})`);
        continue;
      }
      for (const c of loaded.cases) {
        const prepared = await c.prepare(ctx);
        const reference = await prepared.run(cpu);
        for (const backend of gpus) {
          const row: Row = { family: c.family, case: c.name, dtype: c.dtype, backend, seconds: null, gbps: null, fraction: null, note: '' };
          rows.push(row);
          try {
            const bad = prepared.check(await prepared.run(backend), reference);
            if (bad !== null) {
              row.note = `check against ${cpu} failed: ${bad}`;
            } else {
              row.seconds = await bestOf(() => prepared.run(backend), reps);
              row.gbps = c.bytes / row.seconds / 1e9;
              row.fraction = row.gbps / ceiling.gbps;
            }
          } catch (e) {
            // A backend without the op (or the case's dtype or method) is not a failure of the bench.
            const unavailable = (e as { code?: string }).code === 'E_BACKEND_UNAVAILABLE';
            row.note = `${unavailable ? 'not run' : 'failed'}: ${(e as Error).message}`;
          }
          console.log(`${c.family.padEnd(8)} ${c.name.padEnd(40)} ${c.dtype} ${backend.padEnd(7)} ${fmt(row.seconds === null ? null : row.seconds * 1e3, 3).padStart(10)} ms ${fmt(row.gbps, 1).padStart(8)} GB/s ${fmt(row.fraction === null ? null : 100 * row.fraction, 1).padStart(6)} % ${row.note}`);
        }
      }
    }

    // 3. The record.
    const out = values.out ?? join(here, '..', 'results', `gpu-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), ceiling, cpu, backends: gpus, status: [cuda, webgpu], rows }, null, 2));
    console.log(`wrote ${out}`);
    return rows.some((r) => r.note.startsWith('check') || r.note.startsWith('failed')) ? 1 : 0;
  } finally {
    await ctx.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
