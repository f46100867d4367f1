/**
 * ω tuners: the online learners of docs/relax.md §4 (Tsallis-INF, Tsallis-INF-CB, ChebCB),
 * numkern's own SurrogateTS, a fixed-ω policy, and the offline comparators of §4.4.
 */
import { fail } from '../../core/errors.js';
import { describe } from '../../core/validate.js';
import { ChebCB } from './chebcb.js';
import { FixedOmega } from './fixed.js';
import { SurrogateTS } from './surrogate-ts.js';
import { TsallisInf } from './tsallis-inf.js';
import { TsallisInfCB } from './tsallis-inf-cb.js';
import type { Tuner, TunerState } from './tuner.js';

export {
  DEFAULT_GRID, makeGrid, lossOf,
  type ContextInterval, type FeedbackInfo, type GridOption, type GridSpec, type TunedParameter, type Tuner, type TunerChoice, type TunerState,
} from './tuner.js';
export { TsallisInf, tsallisProbabilities, type TsallisInfOptions } from './tsallis-inf.js';
export { TsallisInfCB, type TsallisInfCBOptions } from './tsallis-inf-cb.js';
export { ChebCB, chebyshevFeatures, boxQP, inverseGapWeights, type ChebCBOptions } from './chebcb.js';
export { SurrogateTS, type SurrogateTSOptions } from './surrogate-ts.js';
export { FixedOmega } from './fixed.js';
export {
  bestFixedInHindsight, instanceOptimal, shiftedJacobiRadius, youngOmega,
  type BestFixedOptions, type BestFixedResult, type ComparatorOptions, type ComparatorResult, type InstanceOptimalOptions,
} from './comparators.js';

/** Rebuilds any tuner from its `toJSON()` state (picked by `state.kind`); it continues exactly where it stopped. */
export function tunerFromJSON(state: TunerState | unknown): Tuner {
  const kind = typeof state === 'object' && state !== null ? (state as { kind?: unknown }).kind : undefined;
  switch (kind) {
    case 'tsallis-inf': return TsallisInf.fromJSON(state);
    case 'tsallis-inf-cb': return TsallisInfCB.fromJSON(state);
    case 'chebcb': return ChebCB.fromJSON(state);
    case 'surrogate-ts': return SurrogateTS.fromJSON(state);
    case 'fixed': return FixedOmega.fromJSON(state);
    default: return fail('E_RANGE', 'state.kind', `unknown tuner kind ${describe(kind)}`);
  }
}
