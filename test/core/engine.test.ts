/** Backend resolution and dispatch, with the real loaders replaced by mock factories (stdlib's mocked-loader tests). */
import { afterEach, describe, expect, it } from 'vitest';
import { createContext, NumkernError } from '../../src/index.js';
import { kernel, PRIORITY, type AnyKernel, type BackendFactory } from '../../src/core/backend.js';
import { registerBackend, registerFamilyKernels } from '../../src/core/engine.js';
import type { BackendName } from '../../src/core/types.js';
import { linalgKernels as jsLinalgKernels } from '../../src/backends/js/linalg.js';

// The mocks' handle is their kernel list; the linalg family (which owns dot) takes it from there, as a
// real family takes its kernels from a backend's addon or device.
const fromHandle = (h: readonly AnyKernel[]): readonly AnyKernel[] => h;
registerFamilyKernels('linalg', { js: jsLinalgKernels, native: fromHandle, webgpu: fromHandle, cuda: fromHandle });
registerFamilyKernels('relax', {});

const calls: string[] = [];
let lost: string | null = null;

function mock(name: BackendName, priority: number, opts: { fail?: string; f64?: boolean; minSize?: number; loseOnRun?: boolean } = {}): BackendFactory<AnyKernel[]> {
  return {
    name,
    async init() {
      if (opts.fail) throw new Error(opts.fail);
      return {
        name,
        priority,
        info: { description: `mock ${name}` },
        lostReason: () => (name === 'webgpu' ? lost : null),
        handle: [
          kernel({
            op: 'dot',
            dtypes: opts.f64 === false ? ['f32'] : ['f32', 'f64'],
            minSize: opts.minSize,
            run: ({ x, y }) => {
              calls.push(name);
              if (opts.loseOnRun) {
                lost = 'mock device lost';
                throw new NumkernError('E_DEVICE_LOST', 'mock device lost');
              }
              let s = 0;
              for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
              return s;
            },
          }),
        ],
        dispose() {},
      };
    },
  };
}

afterEach(() => {
  calls.length = 0;
  lost = null;
  delete process.env.NUMKERN_BACKENDS;
});

const x64 = new Float64Array([1, 2, 3]);
const x32 = new Float32Array([1, 2, 3]);

describe('backend resolution', () => {
  it('records why a backend failed to initialize and keeps the others', async () => {
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'no CUDA device: driver missing' }));
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('webgpu', PRIORITY.webgpuSoftware, { f64: false }));
    const ctx = await createContext();
    const st = Object.fromEntries(ctx.status().map((s) => [s.name, s]));
    expect(st.cuda!.available).toBe(false);
    expect(st.cuda!.reason).toBe('no CUDA device: driver missing');
    expect(st.native!.available).toBe(true);
    expect(st.native!.kernels).toContain('dot:f64');
    expect(ctx.available()).toEqual(['native', 'webgpu', 'js']);
    await ctx.dispose();
  });

  it('auto runs the highest-priority backend that has the kernel for the dtype', async () => {
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('webgpu', PRIORITY.webgpuHardware, { f64: false }));
    const ctx = await createContext();
    await ctx.dot(x32, x32);
    await ctx.dot(x64, x64);
    expect(calls).toEqual(['webgpu', 'native']); // f64 is not registered on webgpu: per-kernel fallback
    await ctx.dispose();
  });

  it('size thresholds route small problems down the list; context thresholds override kernel defaults', async () => {
    registerBackend(mock('native', PRIORITY.native, { minSize: 10 }));
    registerBackend(mock('webgpu', PRIORITY.webgpuHardware, { minSize: 1000 }));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    const ctx = await createContext();
    await ctx.dot(x32, x32);
    await ctx.dot(new Float32Array(2000), new Float32Array(2000));
    await ctx.dot(new Float32Array(50), new Float32Array(50));
    expect(calls).toEqual(['webgpu', 'native']); // size 3 → js (not recorded by mocks)
    await ctx.dispose();
    const ctx2 = await createContext({ thresholds: { dot: { webgpu: 0 } } });
    calls.length = 0;
    await ctx2.dot(x32, x32);
    expect(calls).toEqual(['webgpu']);
    await ctx2.dispose();
  });

  it('a pinned backend that cannot run falls back with the reason recorded, or throws when strict', async () => {
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('webgpu', PRIORITY.webgpuSoftware, { fail: 'no adapter' }));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    const ctx = await createContext();
    await ctx.dot(x64, x64, { backend: 'webgpu' });
    expect(calls).toEqual(['native']);
    expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'dot', requested: 'webgpu', used: 'native' });
    expect(ctx.fallbacks().at(-1)!.reason).toContain('no adapter');
    await expect(ctx.dot(x64, x64, { backend: 'webgpu', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    await ctx.dispose();
    const strictCtx = await createContext({ strict: true });
    await expect(strictCtx.dot(x64, x64, { backend: 'webgpu' })).rejects.toThrow(/no adapter/);
    await strictCtx.dispose();
  });

  it('a device lost during a kernel takes the backend out and the op completes on the next one', async () => {
    registerBackend(mock('webgpu', PRIORITY.webgpuHardware, { loseOnRun: true }));
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    const ctx = await createContext();
    expect(await ctx.dot(x32, x32)).toBe(14);
    expect(calls).toEqual(['webgpu', 'native']);
    const gpu = ctx.status().find((s) => s.name === 'webgpu')!;
    expect(gpu.available).toBe(false);
    expect(gpu.reason).toContain('mock device lost');
    expect(ctx.fallbacks().at(-1)).toMatchObject({ requested: 'webgpu', used: 'native' });
    await ctx.dispose();
  });

  it('a pinned backend lost during a kernel falls back to the next one (its fallbacks listed only then)', async () => {
    registerBackend(mock('webgpu', PRIORITY.webgpuHardware, { loseOnRun: true }));
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    const ctx = await createContext();
    expect(await ctx.dot(x32, x32, { backend: 'webgpu' })).toBe(14);
    expect(calls).toEqual(['webgpu', 'native']);
    expect(ctx.fallbacks().at(-1)).toMatchObject({ requested: 'webgpu', used: 'native' });
    await expect(ctx.dot(x32, x32, { backend: 'webgpu', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    await ctx.dispose();
  });

  it('a kernel that refuses particular arguments is skipped under auto and falls back with its reason when pinned', async () => {
    registerBackend({
      name: 'webgpu',
      async init() {
        return {
          name: 'webgpu', priority: PRIORITY.webgpuHardware, info: { description: 'picky' }, dispose() {},
          handle: [kernel({ op: 'dot', dtypes: ['f32', 'f64'], accepts: ({ x }) => (x.length > 2 ? 'too long for this device' : null), run: () => { calls.push('webgpu'); return 0; } })],
        };
      },
    });
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    const ctx = await createContext();
    await ctx.dot(x64, x64);
    expect(calls).toEqual(['native']);
    expect(ctx.supports('webgpu', 'dot', 'f64', { x: x64, y: x64 })).toBe(false);
    expect(ctx.supports('webgpu', 'dot', 'f64', { x: x64.subarray(0, 2), y: x64.subarray(0, 2) })).toBe(true);
    await ctx.dot(x64, x64, { backend: 'webgpu' });
    expect(ctx.fallbacks().at(-1)!.reason).toContain('too long for this device');
    await expect(ctx.dot(x64, x64, { backend: 'webgpu', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    await ctx.dispose();
  });

  it('NUMKERN_BACKENDS restricts the candidates; options.backends too', async () => {
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('webgpu', PRIORITY.webgpuHardware));
    registerBackend(mock('cuda', PRIORITY.cuda));
    process.env.NUMKERN_BACKENDS = 'native,js';
    const ctx = await createContext();
    expect(ctx.available()).toEqual(['native', 'js']);
    expect(ctx.status().find((s) => s.name === 'cuda')!.reason).toContain('NUMKERN_BACKENDS');
    await ctx.dispose();
    delete process.env.NUMKERN_BACKENDS;
    const ctx2 = await createContext({ backends: ['js'] });
    expect(ctx2.available()).toEqual(['js']);
    await ctx2.dispose();
    process.env.NUMKERN_BACKENDS = 'native,gpu';
    await expect(createContext()).rejects.toMatchObject({ code: 'E_RANGE' });
  });

  it('a disposed context refuses work; await using disposes', async () => {
    registerBackend(mock('native', PRIORITY.native));
    let kept;
    {
      await using ctx = await createContext({ backends: ['native', 'js'] });
      kept = ctx;
      expect(await ctx.dot(x64, x64)).toBe(14);
    }
    await expect(kept.dot(x64, x64)).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    expect(kept.status().every((s) => !s.available)).toBe(true);
  });

  it('context options are validated', async () => {
    await expect(createContext({ backends: ['gpu' as never] })).rejects.toMatchObject({ code: 'E_RANGE' });
    await expect(createContext({ backends: [] })).rejects.toMatchObject({ code: 'E_DTYPE' });
    await expect(createContext({ strict: 'yes' as never })).rejects.toMatchObject({ code: 'E_DTYPE' });
    await expect(createContext({ thresholds: { dot: { webgpu: -1 } } })).rejects.toMatchObject({ code: 'E_RANGE' });
    await expect(createContext({ threads: 1.5 })).rejects.toMatchObject({ code: 'E_RANGE' });
  });
});

describe('backends started at first use (BackendFactory.maxPriority)', () => {
  /** A mock that counts its starts and may say beforehand how high it could rank. */
  function deferrable(name: BackendName, priority: number, bound: number, starts: { n: number; disposed: number }): BackendFactory<AnyKernel[]> {
    const base = mock(name, priority);
    return {
      name,
      maxPriority: () => bound,
      async init(o) {
        starts.n++;
        const inst = await base.init(o);
        return { ...inst, dispose: () => void starts.disposed++ };
      },
    };
  }

  it('a default context leaves it unstarted while a started backend outranks it, and says so', async () => {
    const starts = { n: 0, disposed: 0 };
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    registerBackend(deferrable('webgpu', PRIORITY.webgpuSoftware, PRIORITY.webgpuSoftware, starts));
    const ctx = await createContext();
    const gpu = () => ctx.status().find((s) => s.name === 'webgpu')!;
    expect(gpu()).toMatchObject({ available: false, deferred: true, reason: expect.stringMatching(/^not started/) });
    expect(await ctx.dot(x64, x64)).toBe(14);
    expect(await ctx.dot(x32, x32, { backend: 'native' })).toBe(14);
    expect(calls).toEqual(['native', 'native']);
    expect(starts.n).toBe(0);
    // Pinned, it starts (once) and runs.
    await ctx.dot(x32, x32, { backend: 'webgpu' });
    await ctx.dot(x32, x32, { backend: 'webgpu' });
    expect(starts.n).toBe(1);
    expect(calls.slice(2)).toEqual(['webgpu', 'webgpu']);
    expect(gpu()).toMatchObject({ available: true, priority: PRIORITY.webgpuSoftware });
    expect(gpu().deferred).toBeUndefined();
    await ctx.dispose();
    expect(starts.disposed).toBe(1);
  });

  it('auto starts it when it could outrank every started backend able to run the call, or when none can', async () => {
    const starts = { n: 0, disposed: 0 };
    registerBackend(mock('native', PRIORITY.native, { minSize: 10 }));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    registerBackend(deferrable('webgpu', PRIORITY.webgpuHardware, PRIORITY.webgpuHardware, starts));
    const ctx = await createContext();
    expect(starts.n).toBe(0);
    expect(await ctx.dot(x64, x64)).toBe(14);
    expect(starts.n).toBe(1);
    expect(calls).toEqual(['webgpu']);
    await ctx.dispose();
  });

  it('ctx.start() starts them all; a backend named in options.backends starts with the context', async () => {
    const starts = { n: 0, disposed: 0 };
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    registerBackend(deferrable('webgpu', PRIORITY.webgpuSoftware, PRIORITY.webgpuSoftware, starts));
    const ctx = await createContext();
    await Promise.all([ctx.start(), ctx.start()]);
    expect(starts.n).toBe(1);
    expect(ctx.available()).toEqual(['native', 'webgpu', 'js']);
    await ctx.dispose();
    const named = await createContext({ backends: ['webgpu', 'native', 'js'] });
    expect(starts.n).toBe(2);
    expect(named.status().find((s) => s.name === 'webgpu')).toMatchObject({ available: true });
    await named.dispose();
    // Disposed while it starts: the started instance is released, not leaked.
    const racing = await createContext();
    const pending = racing.start();
    await racing.dispose();
    await pending;
    expect(starts.n).toBe(3);
    expect(starts.disposed).toBe(3);
    expect(racing.status().find((s) => s.name === 'webgpu')).toMatchObject({ available: false, reason: 'context disposed' });
  });
});

describe('families as plug-ins', () => {
  it("a family whose kernel list fails on a backend is recorded there, and its ops fall back", async () => {
    registerBackend(mock('native', PRIORITY.native));
    registerBackend(mock('cuda', PRIORITY.cuda, { fail: 'none' }));
    registerBackend(mock('webgpu', PRIORITY.webgpuSoftware, { fail: 'none' }));
    registerFamilyKernels('broken', {
      native: () => {
        throw new Error('addon lacks the broken family (stale build?)');
      },
    });
    try {
      const ctx = await createContext();
      const native = ctx.status().find((s) => s.name === 'native')!;
      expect(native.available).toBe(true);
      expect(native.families?.broken).toBe('addon lacks the broken family (stale build?)');
      // The mock's handle has no addon: the families whose lists take entry points from it say so.
      for (const [f, why] of Object.entries(native.families ?? {})) if (f !== 'broken') expect(why).toBe(`no addon to take the ${f} entry points from`);
      expect(native.kernels).toContain('dot:f64');
      // The namespaces come from the family list: every family owns one on the context.
      expect(typeof ctx.relax.solve).toBe('function');
      expect(typeof ctx.linalg.dot).toBe('function');
      expect(await ctx.linalg.dot(x64, x64)).toBe(14);
      await ctx.dispose();
    } finally {
      registerFamilyKernels('broken', {});
    }
  });
});
