/**
 * The js backend: plain typed-array loops, always available, the oracle every other backend is tested
 * against. Each family lists its kernels in its own file (./linalg.ts, ./relax.ts), wired by
 * src/families.ts; the backend itself holds no state.
 */
import { PRIORITY, type BackendFactory } from '../../core/backend.js';

export const jsBackend: BackendFactory<null> = {
  name: 'js',
  async init() {
    return {
      name: 'js',
      priority: PRIORITY.js,
      handle: null,
      info: { description: `TypeScript reference kernels (f64 accumulation), Node ${process.versions.node}` },
      dispose() {},
    };
  },
};
