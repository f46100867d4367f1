/**
 * A fixed ω behind the tuner interface: the baselines of every experiment (ω = 1, ω = 1.5, the best
 * fixed ω in hindsight; docs/relax.md §5), so a sequence runner treats baselines and learners alike.
 */
import { fail } from '../../core/errors.js';
import { checkFiniteNumber } from '../../core/validate.js';
import { TunerBase, checkState, type TunerChoice, type TunerState } from './tuner.js';

export class FixedOmega extends TunerBase {
  readonly kind = 'fixed';
  readonly omega: number;

  constructor(omega: number) {
    const w = checkFiniteNumber(omega, 'omega');
    if (!(w > 0 && w < 2)) fail('E_RANGE', 'omega', `must satisfy 0 < ω < 2, got ${w}`);
    super(Float64Array.of(w), 0, null);
    this.omega = w;
  }

  protected pick(): { arm: number; p: number } {
    return { arm: 0, p: 1 };
  }

  protected learn(_choice: TunerChoice, _iterations: number): void {
    // Nothing to learn: the policy is the constant ω.
  }

  protected stateFields(): Record<string, unknown> {
    return {};
  }

  static fromJSON(state: TunerState | unknown): FixedOmega {
    const s = checkState(state, 'fixed');
    const grid = s.grid as unknown[];
    const t = new FixedOmega(Array.isArray(grid) ? (grid[0] as number) : NaN);
    t.restoreBase(s);
    return t;
  }
}
