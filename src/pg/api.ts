/** `ctx.pg`: the pg family as a context namespace (each a one-line hand-off to the family's façade files). */
import type { Engine } from '../core/engine.js';
import type { FloatArray } from '../core/types.js';
import { pgHostApi } from './host.js';
import * as lp from './logprobs.js';
import * as loss from './loss.js';
import './ops.js';

export function pgApi(engine: Engine) {
  return {
    /** Host-side helpers on per-sample scalars (advantages, SPO, selection, shard statistics): ./host.ts. */
    ...pgHostApi(),
    /** The clipped policy-gradient loss with optional KL and entropy terms, its gradient and the logged statistics, in one fused pass. */
    policyLoss: <T extends FloatArray>(input: loss.PgLossInput<T>, options?: loss.PgLossOptions<T>): Promise<loss.PgLossResult<T>> =>
      loss.policyLoss(engine, input, options),
    /** log π(target), entropy and lse per row of [N × vocab] logits, streaming (the softmax is never stored). */
    tokenLogprobs: <T extends FloatArray>(logits: T, targets: Int32Array | readonly number[], options: lp.TokenLogprobsOptions): Promise<lp.TokenLogprobsResult<T>> =>
      lp.tokenLogprobs(engine, logits, targets, options),
    /** ∂logits from upstream ∂logp and ∂H in one pass (optionally over the logits themselves). */
    tokenLogprobsBackward: <T extends FloatArray>(
      logits: T, targets: Int32Array | readonly number[], options: lp.TokenLogprobsBackwardOptions<T>,
    ): Promise<lp.TokenLogprobsBackwardResult<T>> => lp.tokenLogprobsBackward(engine, logits, targets, options),
  };
}

export type PgApi = ReturnType<typeof pgApi>;
