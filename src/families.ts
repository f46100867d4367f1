/**
 * The family list: the one place that wires each kernel family into the package — its context
 * namespace (`ctx.<family>`) and, per backend, the file that lists its kernels there. Core knows no
 * family, a family never imports a backend, and a backend never imports a family's orchestration
 * (only its op contract, `src/<family>/ops.ts`). Adding a family adds an entry here (and its public
 * names below), a word to the CMake family list and a README section; everything else is new files in
 * the family's own places.
 */
import { registerFamilyKernels, type Engine, type FamilyKernelLists } from './core/engine.js';
import * as cudaFrechet from './backends/cuda/frechet.js';
import * as cudaLinalg from './backends/cuda/linalg.js';
import * as cudaPg from './backends/cuda/pg.js';
import * as cudaRelax from './backends/cuda/relax.js';
import * as cudaSketch from './backends/cuda/sketch.js';
import * as jsFrechet from './backends/js/frechet.js';
import * as jsLinalg from './backends/js/linalg.js';
import * as jsPg from './backends/js/pg.js';
import * as jsRelax from './backends/js/relax.js';
import * as jsSketch from './backends/js/sketch.js';
import * as nativeFrechet from './backends/native/frechet.js';
import * as nativeLinalg from './backends/native/linalg.js';
import * as nativePg from './backends/native/pg.js';
import * as nativeRelax from './backends/native/relax.js';
import * as nativeSketch from './backends/native/sketch.js';
import * as webgpuFrechet from './backends/webgpu/frechet/kernels.js';
import * as webgpuLinalg from './backends/webgpu/linalg.js';
import * as webgpuPg from './backends/webgpu/pg/kernels.js';
import * as webgpuRelax from './backends/webgpu/relax/kernels.js';
import * as webgpuSketch from './backends/webgpu/sketch/kernels.js';
import { frechetApi } from './frechet/api.js';
import { linalgApi } from './linalg/api.js';
import { pgApi } from './pg/api.js';
import { relaxApi } from './relax/api.js';
import { sketchApi } from './sketch/api.js';

interface Family<Api> {
  readonly api: (engine: Engine) => Api;
  readonly kernels: FamilyKernelLists;
}

const family = <Api>(f: Family<Api>): Family<Api> => f;

/** @internal the family list; each family's API is reached as ctx.<family>. */
export const FAMILIES = {
  linalg: family({
    api: linalgApi,
    kernels: { js: jsLinalg.linalgKernels, native: nativeLinalg.linalgKernels, webgpu: webgpuLinalg.linalgKernels, cuda: cudaLinalg.linalgKernels },
  }),
  relax: family({
    api: relaxApi,
    kernels: { js: jsRelax.relaxKernels, native: nativeRelax.relaxKernels, webgpu: webgpuRelax.relaxKernels, cuda: cudaRelax.relaxKernels },
  }),
  pg: family({
    api: pgApi,
    kernels: { js: jsPg.pgKernels, native: nativePg.pgKernels, webgpu: webgpuPg.pgKernels, cuda: cudaPg.pgKernels },
  }),
  frechet: family({
    api: frechetApi,
    kernels: { js: jsFrechet.frechetKernels, native: nativeFrechet.frechetKernels, webgpu: webgpuFrechet.frechetKernels, cuda: cudaFrechet.frechetKernels },
  }),
  sketch: family({
    api: sketchApi,
    kernels: { js: jsSketch.sketchKernels, native: nativeSketch.sketchKernels, webgpu: webgpuSketch.sketchKernels, cuda: cudaSketch.sketchKernels },
  }),
};

export type FamilyName = keyof typeof FAMILIES;

/** `ctx.linalg`, `ctx.relax`, ...: one namespace per family, typed from the list above. */
export type FamilyNamespaces = { readonly [F in FamilyName]: ReturnType<(typeof FAMILIES)[F]['api']> };

for (const [name, f] of Object.entries(FAMILIES)) registerFamilyKernels(name, f.kernels);

// Each family's public names (types, generators, tuners, ...), re-exported by src/index.ts.
export * from './linalg/index.js';
export * from './relax/index.js';
export * from './pg/index.js';
export * from './frechet/index.js';
export * from './sketch/index.js';
