/** The one place that knows every backend: registers their factories with the core registry. */
import { registerBackend } from '../core/engine.js';
import { cudaBackend } from './cuda/index.js';
import { jsBackend } from './js/index.js';
import { nativeBackend } from './native/index.js';
import { webgpuBackend } from './webgpu/index.js';

registerBackend(jsBackend);
registerBackend(nativeBackend);
registerBackend(webgpuBackend);
registerBackend(cudaBackend);
