/**
 * Layouts shared by TypeScript and WGSL are written once, in TypeScript
 * (src/backends/webgpu/relax/layout.ts), and their WGSL declarations are generated into a prelude
 * the pipeline cache prepends (src/backends/webgpu/wgsl-layout.ts, pipelines.ts). Checked here:
 * the generator itself, that the prelude says what the tables say, that the device reads every
 * field at the word offset the host packs it at, and that every relax kernel compiles against the
 * prelude (so no .wgsl file still declares, or lacks, what it provides).
 *
 * Without an adapter the device half skips, unless NUMKERN_REQUIRE names webgpu.
 */
import { describe, expect, it } from 'vitest';
import { webgpuBackend } from '../src/backends/webgpu/index.js';
import { pipelineKey, pipelineSource } from '../src/backends/webgpu/pipelines.js';
import {
  BATCH_PARAMS, BATCH_VECTORS, CSR_PARAMS, OUTCOME, RELAX_PRELUDE, relaxConstants, relaxPipeline, ROUND_ENDS, roundEndOf, SCALAR_PARAMS,
  SOLVER_STATE, STENCIL_PARAMS, SYSTEM, VEC_PARAMS,
} from '../src/backends/webgpu/relax/layout.js';
import { WordStruct, wgslConstants, type FieldType } from '../src/backends/webgpu/wgsl-layout.js';
import { openForFile, required } from './support/backends.js';

const { main, initError } = await openForFile(() => webgpuBackend.init({ allowSoftwareAdapter: true, threads: 0 }));

/** [struct, the address space the kernels bind it in]. */
const STRUCTS: [WordStruct<string>, 'uniform' | 'storage'][] = [
  [SOLVER_STATE, 'storage'],
  [SCALAR_PARAMS, 'uniform'],
  [VEC_PARAMS, 'uniform'],
  [CSR_PARAMS, 'uniform'],
  [STENCIL_PARAMS, 'uniform'],
  [SYSTEM, 'storage'],
  [BATCH_PARAMS, 'uniform'],
  [OUTCOME, 'storage'],
];

const scalarOf = (t: FieldType) => (typeof t === 'string' ? t : t[0]);
const countOf = (t: FieldType) => (typeof t === 'string' ? 1 : t[1]);

describe('wgsl-layout: structs of 32-bit words', () => {
  it('places fields at consecutive word offsets, arrays taking their length', () => {
    const s = new WordStruct('Demo', { a: 'u32', b: ['f32', 3], c: 'i32' });
    expect(s.at).toEqual({ a: 0, b: 1, c: 4 });
    expect(s.words).toBe(5);
    expect(s.bytes).toBe(20);
    expect(s.wgsl()).toBe('struct Demo {\n  a: u32,\n  b: array<f32, 3>,\n  c: i32,\n}\n');
  });

  it('refuses names WGSL would not take and empty arrays', () => {
    expect(() => new WordStruct('Bad Name', { a: 'u32' })).toThrow(/not a WGSL identifier/);
    expect(() => new WordStruct('S', { '1a': 'u32' })).toThrow(/not a WGSL identifier/);
    expect(() => new WordStruct('S', { a: ['f32', 0] })).toThrow(/array length 0/);
  });

  it('writes constants with typed literals and refuses values outside the type', () => {
    expect(wgslConstants({ A: 0, B: 4294967295 })).toBe('const A: u32 = 0u;\nconst B: u32 = 4294967295u;\n');
    expect(wgslConstants({ C: -3 }, 'i32')).toBe('const C: i32 = -3i;\n');
    expect(wgslConstants({ D: 2, E: 0.5 }, 'f32')).toBe('const D: f32 = 2.0f;\nconst E: f32 = 0.5f;\n');
    expect(() => wgslConstants({ A: -1 })).toThrow(/not a u32/);
    expect(() => wgslConstants({ A: 1.5 })).toThrow(/not a u32/);
    expect(() => wgslConstants({ A: Infinity }, 'f32')).toThrow(/not finite/);
  });

  it('keys pipelines by their prelude, so two families never share a module', () => {
    const spec = { file: 'relax/scalars.wgsl', entryPoint: 'norm', constants: { WG: 64 } };
    expect(pipelineKey({ ...spec, prelude: RELAX_PRELUDE })).not.toBe(pipelineKey(spec));
    expect(pipelineKey({ ...spec, prelude: RELAX_PRELUDE })).toBe(pipelineKey({ ...spec, prelude: { name: 'relax', code: 'other' } }));
  });
});

describe('the relax prelude says what the tables say', () => {
  const code = RELAX_PRELUDE.code;

  it('declares every constant once, with its table value', () => {
    const declared = [...code.matchAll(/^const (\w+): u32 = (\d+)u;$/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(Object.fromEntries(declared)).toEqual(relaxConstants());
    expect(declared).toHaveLength(Object.keys(relaxConstants()).length);
    // The round ends the batch reports decode back to the same names.
    for (const [i, end] of ROUND_ENDS.entries()) {
      expect(relaxConstants()[`END_${end.toUpperCase()}`]).toBe(i + 1);
      expect(roundEndOf(i + 1)).toBe(end);
    }
    expect(roundEndOf(0)).toBeUndefined();
    expect(roundEndOf(ROUND_ENDS.length + 1)).toBeUndefined();
  });

  it.each(STRUCTS.map(([s]) => [s.name, s] as const))('declares %s with the table fields in order', (name, s) => {
    const m = code.match(new RegExp(`struct ${name} \\{\\n([^}]*)\\}`));
    expect(m).not.toBeNull();
    const fields = m![1]!.trim().split('\n').map((l) => l.trim().replace(/,$/, '').split(': '));
    expect(fields).toEqual(Object.entries(s.fields).map(([f, t]) => [f, typeof t === 'string' ? t : `array<${t[0]}, ${t[1]}>`]));
    expect(code.split(`struct ${name} {`)).toHaveLength(2);
  });

  it('goes in front of the shader source; the files themselves declare none of it', async () => {
    const src = await pipelineSource('relax/batch_cg.wgsl', RELAX_PRELUDE);
    expect(src.indexOf(code)).toBeGreaterThanOrEqual(0);
    expect(src.indexOf(code)).toBeLessThan(src.indexOf('fn main'));
    const bare = await pipelineSource('relax/batch_cg.wgsl');
    for (const [s] of STRUCTS) expect(bare).not.toMatch(new RegExp(`struct ${s.name}\\b`));
    expect(bare).not.toMatch(/const (END|KIND|FLAG)_/);
  });
});

describe('webgpu layouts: adapter', () => {
  it.skipIf(!main && !required().includes('webgpu'))('has an adapter', () => {
    if (!main) expect.fail(`NUMKERN_REQUIRE names webgpu, but init failed: ${initError}`);
  });
});

describe.skipIf(!main)('the device reads the layouts where the host writes them', () => {
  it.each(STRUCTS.map(([s, space]) => [s.name, s, space] as const))('%s (%s): every field at its table offset', async (_name, s, space) => {
    const rt = main!.runtime;
    const device = rt.device;
    // Each word a distinct value: u32/i32 words 1000 + w, f32 words w + 0.25 (exact in f32).
    const input = new ArrayBuffer(Math.max(16, Math.ceil(s.bytes / 16) * 16));
    const u = new Uint32Array(input);
    const f = new Float32Array(input);
    const reads: string[] = [];
    const expected: number[] = [];
    for (const [field, type] of Object.entries(s.fields) as [string, FieldType][]) {
      for (let e = 0; e < countOf(type); e++) {
        const w = s.at[field]! + e;
        if (scalarOf(type) === 'f32') f[w] = w + 0.25;
        else u[w] = 1000 + w;
        const ref = typeof type === 'string' ? `src.${field}` : `src.${field}[${e}]`;
        reads.push(`  out[${reads.length}] = ${scalarOf(type) === 'u32' ? ref : `bitcast<u32>(${ref})`};`);
        expected.push(u[w]!);
      }
    }
    // The constants too: the prelude's values as the device sees them.
    const consts = Object.entries(relaxConstants());
    for (const [name, value] of consts) {
      reads.push(`  out[${reads.length}] = ${name};`);
      expected.push(value);
    }
    const code = `${RELAX_PRELUDE.code}
@group(0) @binding(0) var<${space === 'uniform' ? 'uniform' : 'storage, read'}> src: ${s.name};
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
${reads.join('\n')}
}
`;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const usage = space === 'uniform' ? 0x40 | 0x08 : 0x80 | 0x08;
    const srcBuf = device.createBuffer({ size: input.byteLength, usage });
    device.queue.writeBuffer(srcBuf, 0, input);
    const outBytes = Math.ceil((4 * expected.length) / 16) * 16;
    const outBuf = device.createBuffer({ size: outBytes, usage: 0x80 | 0x04 });
    const staging = device.createBuffer({ size: outBytes, usage: 0x01 | 0x08 });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: srcBuf } }, { binding: 1, resource: { buffer: outBuf } }],
    }));
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(outBuf, 0, staging, 0, outBytes);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(0x01);
    const got = [...new Uint32Array(staging.getMappedRange()).slice(0, expected.length)];
    staging.unmap();
    for (const b of [srcBuf, outBuf, staging]) b.destroy();
    expect(await device.popErrorScope()).toBeNull();
    expect(got).toEqual(expected);
  });
});

describe.skipIf(!main)('every relax kernel compiles against the prelude', () => {
  const ENTRIES: [string, string[]][] = [
    ['relax/scalars.wgsl', ['norm', 'cg_start', 'cg_alpha', 'cg_beta']],
    ['relax/cg_update_p.wgsl', ['main']],
    ['relax/cg_update_xr.wgsl', ['main']],
    ['relax/csr_jacobi.wgsl', ['main']],
    ['relax/csr_residual.wgsl', ['main']],
    ['relax/csr_sor_colour.wgsl', ['main']],
    ...['apply', 'jacobi', 'residual', 'sor_colour'].map((k): [string, string[]] => [`relax/stencil_${k}.wgsl`, ['constant', 'variable']]),
  ];

  it.each(ENTRIES)('%s', async (file, entries) => {
    const rt = main!.runtime;
    rt.device.pushErrorScope('validation');
    for (const entry of entries) await expect(relaxPipeline(rt, file, entry)).resolves.toBeDefined();
    expect(await rt.device.popErrorScope()).toBeNull();
  });

  it.each(Object.entries(BATCH_VECTORS))('the batch kernel of %s, with NARR from the table (and not without it)', async (method, narr) => {
    const rt = main!.runtime;
    const file = { 'jacobi': 'relax/batch_jacobi.wgsl', 'sor-redblack': 'relax/batch_redblack.wgsl', 'cg': 'relax/batch_cg.wgsl' }[method]!;
    const spec = { file, constants: { WG: 64, CAP: 64 }, prelude: RELAX_PRELUDE };
    rt.device.pushErrorScope('validation');
    await expect(rt.pipelines.get({ ...spec, constants: { ...spec.constants, NARR: narr! } })).resolves.toBeDefined();
    expect(await rt.device.popErrorScope()).toBeNull();
    // NARR has no default in WGSL: the host table is the only place it is given.
    rt.device.pushErrorScope('validation');
    await expect(rt.pipelines.get(spec)).rejects.toThrow();
    await rt.device.popErrorScope();
  });

  it('refuses one prelude name carrying two codes', async () => {
    const rt = main!.runtime;
    await relaxPipeline(rt, 'relax/scalars.wgsl', 'norm');
    expect(() => rt.pipelines.get({ file: 'relax/scalars.wgsl', entryPoint: 'norm', prelude: { name: 'relax', code: '// something else\n' } }))
      .toThrow(/prelude 'relax' given with two different codes/);
  });
});
