/**
 * Op contracts of the pg family (policy-gradient reductions for RL trainers): the fused policy loss
 * and the streaming token log-probs, forward and backward. Backends implement them in
 * `src/backends/<b>/pg.ts` (or `pg/`); this file holds only the contract and the tables every backend
 * must agree on (the addon exports its copy and the loader compares; WGSL constants are generated from
 * these). The façade (src/pg/) resolves conventions (verl, TRL) into the plain numbers below, so a
 * kernel never sees a convention name. Formulas: docs/pg.md, which cites verl and TRL by file.
 */
import type { FloatArray } from '../core/types.js';

/** Schulman's KL estimators (docs/pg.md §KL). Codes are shared with C++ and WGSL. */
export type KlEstimator = 'k1' | 'abs' | 'k2' | 'k3';
export const KL_CODES: Readonly<Record<KlEstimator, number>> = { k1: 0, abs: 1, k2: 2, k3: 3 };

/**
 * The per-token arrays a policy-loss kernel checks for non-finite values, in the order it reports them:
 * the first array (in this order) holding a non-finite value, and the smallest such index in it.
 */
export const PG_LOSS_ARRAYS = ['logp', 'oldLogp', 'refLogp', 'advantages', 'entropy'] as const;
export type PgLossArray = (typeof PG_LOSS_ARRAYS)[number];

/**
 * How per-token terms become one number: loss = scale · Σ_i Σ_t m_it·ℓ_it / (D · len_i), where
 * len_i = 1 unless `perSequenceMean`, in which case it is L_i + 1e-8 ('eps', verl) or max(L_i, 1)
 * ('one', TRL), L_i = Σ_t m_it. D is Σ m (at least 1) for 'tokens', the number of sequences with
 * L_i > 0 (at least 1) for 'sequences', the number of sequences for 'all-sequences', or the given
 * positive number (a global token count, global batch size or loss_scale_factor from the trainer).
 */
export interface PgAggregation {
  readonly perSequenceMean: boolean;
  readonly lengthFloor: 'eps' | 'one';
  readonly denominator: 'tokens' | 'sequences' | 'all-sequences' | number;
  readonly scale: number;
}

/**
 * Token layout shared by every per-token array (logp, oldLogp, refLogp, entropy, per-token advantages,
 * mask, grad): sequence i owns positions [offsets[i], offsets[i+1]); position offsets[i] + t is active
 * iff t < lengths[i] and (mask is null or mask[offsets[i] + t] ≠ 0). Ragged input has
 * lengths[i] = offsets[i+1] − offsets[i]; padded input has offsets[i] = i·T. offsets[nSeq] is the
 * array length. Inactive positions get grad 0 and contribute nothing.
 */
export interface PgLayout {
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly mask: Uint8Array | null;
}

export interface PgLossArgs extends PgLayout {
  readonly logp: FloatArray;
  readonly oldLogp: FloatArray;
  /** Needed iff klEstimator is set. */
  readonly refLogp: FloatArray | null;
  /** One per sequence, or one per position when advantagePerToken. */
  readonly advantages: FloatArray;
  readonly advantagePerToken: boolean;
  /** PPO clip: r is clipped to [1 − clipLow, 1 + clipHigh] (DAPO: 0.2 / 0.28). */
  readonly clipLow: number;
  readonly clipHigh: number;
  /** Dual-clip constant c > 1 for A < 0 (verl 3.0), or Infinity for none (TRL). */
  readonly dualClip: number;
  /** TRL's δ: the unclipped ratio is capped at δ (INTELLECT-2), or Infinity for none. */
  readonly ratioCap: number;
  /** |logp − old| is clamped to this before exp (verl 20; TRL Infinity); the gradient is 0 where it clamps. */
  readonly logRatioClamp: number;
  /** KL to the reference policy as a loss term: coef·agg(kl), or null for none. */
  readonly klEstimator: KlEstimator | null;
  readonly klCoef: number;
  /** verl's k3 clamps: ref − logp to ±20, the value to [−10, 10], gradient 0 where a clamp is active. */
  readonly klClamp: boolean;
  /** Per-token entropy H (from pgTokenLogprobs) and its bonus: loss −= entropyCoef·entropyAgg(H). Null: no term, no stat. */
  readonly entropy: FloatArray | null;
  readonly entropyCoef: number;
  readonly aggregation: PgAggregation;
  readonly entropyAggregation: PgAggregation;
  /** Skip the non-finite check at inactive positions (their values never enter the loss). */
  readonly ignoreInactiveNonFinite: boolean;
  /** Out: ∂loss/∂logp in the layout of logp (0 at inactive positions). */
  readonly grad: FloatArray;
  /** Out (when entropy is given): ∂loss/∂H, the upstream gradient for pgTokenLogprobsBackward. */
  readonly gradEntropy: FloatArray | null;
}

/** Token means over active positions (0 when there are none), accumulated in f64. */
export interface PgLossStats {
  /** Active positions Σ m, and sequences with at least one. */
  tokens: number;
  sequences: number;
  /** Fraction clipped at 1 + clipHigh (A > 0), at 1 − clipLow (A < 0), and by the dual clip (A < 0, −A·c below the clipped loss). */
  clipFracHigh: number;
  clipFracLow: number;
  clipFracDual: number;
  /** Mean of r = exp(clamped logp − old). */
  ratioMean: number;
  /** Mean of old − logp (verl's ppo_kl). */
  approxKl: number;
  /** Mean of the KL estimator's value against refLogp (0 without KL). */
  klMean: number;
  /** Mean entropy (0 without entropy). */
  entropyMean: number;
  /** The loss's three parts: policy term, klCoef·KL term, −entropyCoef·entropy term (they sum to loss). */
  policyLoss: number;
  klLoss: number;
  entropyLoss: number;
}

export interface PgLossOutcome {
  loss: number;
  stats: PgLossStats;
  /** Set when a checked input was non-finite: outputs are then unspecified and the façade throws E_NONFINITE. */
  nonFinite: { array: PgLossArray; index: number } | null;
}

export interface PgLogprobsArgs {
  /** Row-major [N × vocab], pre-temperature. */
  readonly logits: FloatArray;
  readonly targets: Int32Array;
  readonly vocab: number;
  /** z = logits / temperature. */
  readonly temperature: number;
  /** Out (length N): log softmax(z)[target], and lse(z) for the backward. */
  readonly logp: FloatArray;
  readonly lse: FloatArray;
  /** Out (length N) or null: H = lse − Σ p·z. */
  readonly entropy: FloatArray | null;
}

export interface PgLogprobsBackwardArgs {
  readonly logits: FloatArray;
  readonly targets: Int32Array;
  readonly vocab: number;
  readonly temperature: number;
  /** From the forward pass (length N); entropy is needed iff gradEntropy is given. */
  readonly lse: FloatArray;
  readonly entropy: FloatArray | null;
  /** Upstream ∂L/∂logp and ∂L/∂H (length N); at least one is non-null. */
  readonly gradLogp: FloatArray | null;
  readonly gradEntropy: FloatArray | null;
  /** Out [N × vocab]: ∂L/∂x = (gL·(onehot − p) − gH·p·(log p + H)) / τ. May be `logits` itself (in place). */
  readonly gradLogits: FloatArray;
}

declare module '../core/ops.js' {
  interface OpTable {
    /** One fused pass over the tokens: loss, ∂loss/∂logp (and ∂loss/∂H), and the logged statistics. */
    pgPolicyLoss: { args: PgLossArgs; result: PgLossOutcome };
    /**
     * log p(target) and entropy per row with an online log-sum-exp (the softmax is never stored).
     * Returns the first non-finite logit's flat index, or −1.
     */
    pgTokenLogprobs: { args: PgLogprobsArgs; result: number };
    /** ∂logits from upstream ∂logp and ∂H, one pass over the logits. */
    pgTokenLogprobsBackward: { args: PgLogprobsBackwardArgs; result: void };
  }
}
