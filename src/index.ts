export { Context, createContext, defaultContext } from './context.js';
export type { ContextOptions, BackendStatus, FallbackRecord, Thresholds } from './core/engine.js';
export { NumkernError, type ErrorCode } from './core/errors.js';
export type {
  BackendName, CsrMatrix, DenseMatrix, DType, FloatArray, LinearOperator, Ragged, StencilCoefficients, StencilOperator,
} from './core/types.js';
export { stencilToCsr } from './core/stencil.js';
export type { OpOptions } from './core/options.js';
export { philox4x32, philoxFill, PhiloxStream } from './core/philox.js';
export { parseMatrixMarket, readMatrixMarket, writeMatrixMarket, writeMatrixMarketFile, csrFromCoo } from './core/matrix-market.js';
// Every family's public names come through the family list.
export * from './families.js';
