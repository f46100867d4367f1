export { Context, createContext, defaultContext } from './context.js';
export type { ContextOptions, BackendStatus, FallbackRecord, Thresholds } from './core/engine.js';
export { NumkernError, type ErrorCode } from './core/errors.js';
export type {
  BackendName, CsrMatrix, DenseMatrix, DType, FloatArray, LinearOperator, Ragged, StencilCoefficients, StencilOperator,
} from './core/types.js';
export type { RelaxMethod, RelaxOutcome } from './relax/ops.js';
export type { SolveOptions, SolveResult, SystemSpec } from './relax/solve.js';
export { poisson2d, poisson3d, shifted, diffusion2d, heatStep2d, type HeatStep } from './relax/generators.js';
export { stencilToCsr } from './core/stencil.js';
export type { OpOptions } from './core/options.js';
export type { AxpyOptions, Moments, MomentsOptions, SpmvOptions } from './linalg/primitives.js';
export { philox4x32, philoxFill, PhiloxStream } from './core/philox.js';
export { parseMatrixMarket, readMatrixMarket, writeMatrixMarket, writeMatrixMarketFile, csrFromCoo } from './core/matrix-market.js';
export {
  solveSequence, shiftedLaplacianSequence, heatSequence, SHIFTED_LAPLACIAN_CONTEXT,
  TsallisInf, TsallisInfCB, ChebCB, SurrogateTS, FixedOmega, tunerFromJSON, DEFAULT_GRID,
  bestFixedInHindsight, instanceOptimal, youngOmega, shiftedJacobiRadius,
  type Tuner, type TunerChoice, type TunerState, type FeedbackInfo, type GridOption, type GridSpec, type ContextInterval,
  type TsallisInfOptions, type TsallisInfCBOptions, type ChebCBOptions, type SurrogateTSOptions,
  type SequenceInstance, type SequenceOptions, type SequenceResult, type SequenceRecord, type SequenceTotals, type SequenceProgress,
  type SequenceMethod, type InstanceSource, type SolveProvider,
  type InstanceSequence, type ShiftedLaplacianOptions, type HeatOptions, type HeatSequence, type HeatInstance, type HeatCoefficient,
  type BestFixedOptions, type BestFixedResult, type InstanceOptimalOptions, type ComparatorOptions, type ComparatorResult,
} from './relax/index.js';
