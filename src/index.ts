export { Context, createContext, defaultContext } from './context.js';
export type { ContextOptions, BackendStatus, FallbackRecord, Thresholds } from './core/engine.js';
export { NumkernError, type ErrorCode } from './core/errors.js';
export type {
  BackendName, CsrMatrix, DenseMatrix, DType, FloatArray, LinearOperator, Ragged, StencilCoefficients, StencilOperator,
} from './core/types.js';
export type { RelaxMethod, RelaxOutcome } from './core/ops.js';
export type { SolveOptions, SolveResult, SystemSpec } from './relax/solve.js';
export { poisson2d, poisson3d, shifted, diffusion2d, heatStep2d, type HeatStep } from './relax/generators.js';
export { stencilToCsr } from './core/stencil.js';
export type { OpOptions } from './linalg/options.js';
export type { AxpyOptions, Moments, MomentsOptions, SpmvOptions } from './linalg/primitives.js';
export { philox4x32, philoxFill, PhiloxStream } from './core/philox.js';
export { parseMatrixMarket, readMatrixMarket, writeMatrixMarket, writeMatrixMarketFile, csrFromCoo } from './core/matrix-market.js';
