/** The relax family's public names: solver options and results, model problems, sequences, ω tuners. */
export type {
  PreconditionerKind, PreconditionerOption, SolveConfig, SolveManyOptions, SolveOperand, SolveOptions, SolveResult, SystemSpec,
} from './solve.js';
export type { RelaxMethod, RelaxOutcome } from './ops.js';
export type { StopReason } from './outcome.js';
export { PreparedOperator, type PrepareOptions } from './prepared.js';
export type { RelaxApi } from './api.js';
export { poisson2d, poisson3d, shifted, diffusion2d, heatStep2d, type HeatStep } from './generators.js';
export {
  solveSequence,
  type InstanceSource, type SequenceInstance, type SequenceMethod, type SequenceOptions, type SequenceProgress,
  type SequenceRecord, type SequenceResult, type SequenceTotals, type SolveProvider, type TunedTarget, tunedTarget,
} from './sequence.js';
export {
  heatSequence, shiftedLaplacianSequence, truncatedGaussian, SHIFTED_LAPLACIAN_CONTEXT,
  type HeatCoefficient, type HeatInstance, type HeatOptions, type HeatSequence, type InstanceSequence, type ShiftedLaplacianOptions,
} from './instances.js';
export * from './tuners/index.js';
