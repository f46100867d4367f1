/**
 * Token log-probs, entropy and their backward over a row-major [N × V] logits array (pgTokenLogprobs,
 * pgTokenLogprobsBackward in src/pg/ops.ts) on the js backend: the oracle. f64 throughout, each row in
 * ascending column order; the softmax is never stored (O(N) extra memory), as in every backend
 * (docs/pg.md §5, §6).
 */
import type { PgLogprobsArgs, PgLogprobsBackwardArgs } from '../../../pg/ops.js';

/** Smallest flat index of a non-finite logit, or −1. */
function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return i;
  return -1;
}

/**
 * Per row, with z = x/τ and m = max z: S = Σ exp(z − m), lse = m + log S, logp = z_target − lse and
 * H = log S + Σ (exp(z − m)/S)·(m − z). The last form is lse − Σ p·z rewritten so that every term is
 * ≥ 0: lse − Σ p·z cancels catastrophically when |z| is large and p is peaked (H ≪ |lse|).
 */
export function tokenLogprobs(a: PgLogprobsArgs): number {
  const bad = firstNonFinite(a.logits);
  if (bad >= 0) return bad;
  const V = a.vocab;
  const N = a.targets.length;
  const tau = a.temperature;
  for (let n = 0; n < N; n++) {
    const row = n * V;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, a.logits[row + j]! / tau);
    let S = 0;
    let B = 0;
    for (let j = 0; j < V; j++) {
      const z = a.logits[row + j]! / tau;
      const e = Math.exp(z - m);
      S += e;
      B += e * (m - z);
    }
    const logS = Math.log(S);
    const lse = m + logS;
    a.lse[n] = lse;
    a.logp[n] = a.logits[row + a.targets[n]!]! / tau - lse;
    if (a.entropy) a.entropy[n] = logS + B / S;
  }
  return -1;
}

/**
 * ∂x_j = (gL·(δ_{j,target} − p_j) − gH·p_j·(log p_j + H)) / τ with log p_j = x_j/τ − lse (docs/pg.md §6).
 * Each element is read before its own gradient is written, so gradLogits may be logits itself.
 */
export function tokenLogprobsBackward(a: PgLogprobsBackwardArgs): void {
  const V = a.vocab;
  const N = a.targets.length;
  const tau = a.temperature;
  for (let n = 0; n < N; n++) {
    const row = n * V;
    const gL = a.gradLogp ? a.gradLogp[n]! : 0;
    const gH = a.gradEntropy ? a.gradEntropy[n]! : 0;
    const H = a.gradEntropy ? a.entropy![n]! : 0;
    const lse = a.lse[n]!;
    const target = a.targets[n]!;
    for (let j = 0; j < V; j++) {
      const logp = a.logits[row + j]! / tau - lse;
      const p = Math.exp(logp);
      const hot = j === target ? 1 : 0;
      a.gradLogits[row + j] = (gL * (hot - p) - gH * p * (logp + H)) / tau;
    }
  }
}
