/**
 * ctx.pg.tokenLogprobs / tokenLogprobsBackward: per-token log π(target), entropy and log-sum-exp from
 * row-major [N × vocab] logits in one streaming pass (the softmax is never stored), and ∂logits from
 * upstream ∂logp and ∂H in one more (docs/pg.md §5, §6). Outputs are in the logits' dtype.
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { allocLike, dtypeOf, type BackendName, type FloatArray } from '../core/types.js';
import { checkFloatArray, checkIntegerInRange } from '../core/validate.js';
import './ops.js';
import {
  checkBoolean, checkFiniteArray, checkNumber, checkOperand, checkPgOpOptions, checkTargets, nonFinite, positiveFinite, type PgOpOptions,
} from './validate.js';

export interface TokenLogprobsOptions extends PgOpOptions {
  /** Row length V of the logits. */
  vocab: number;
  /** z = logits / temperature (the rollout temperature); default 1. */
  temperature?: number;
  /** Also compute the entropy H of each row (default true). */
  entropy?: boolean;
}

export interface TokenLogprobsResult<T extends FloatArray = FloatArray> {
  /** log softmax(z)[target] per row. */
  logp: T;
  /** H = lse − Σ p·z per row (unless options.entropy is false). */
  entropy?: T;
  /** lse(z) per row, which the backward needs. */
  lse: T;
  backend: BackendName;
}

export interface TokenLogprobsBackwardOptions<T extends FloatArray = FloatArray> extends PgOpOptions {
  vocab: number;
  /** The forward's temperature; default 1. */
  temperature?: number;
  /** The forward's lse. */
  lse: T;
  /** The forward's entropy; needed with gradEntropy. */
  entropy?: T;
  /** Upstream ∂L/∂logp per row (policyLoss's grad); at least one of gradLogp and gradEntropy. */
  gradLogp?: T;
  /** Upstream ∂L/∂H per row (policyLoss's gradEntropy). */
  gradEntropy?: T;
  /** Write ∂logits over the logits themselves (halves the memory of the step). Default false. */
  inPlace?: boolean;
  /**
   * Scan the logits for NaN/±Inf before the pass (default true). The forward already checked them
   * inside its own pass; when these are the same logits, false saves one read of N·V values.
   */
  checkFinite?: boolean;
}

export interface TokenLogprobsBackwardResult<T extends FloatArray = FloatArray> {
  /** ∂L/∂logits [N × vocab]; the logits array itself when inPlace. */
  gradLogits: T;
  backend: BackendName;
}

/** Checks logits [N × vocab] against targets (N) and returns N. */
function checkShape(logits: FloatArray, targets: Int32Array, vocab: number): number {
  const N = targets.length;
  if (logits.length !== N * vocab) fail('E_SHAPE', 'logits', `length ${logits.length}, expected targets.length·vocab = ${N}·${vocab} = ${N * vocab}`);
  return N;
}

function checkVocab(o: { vocab?: unknown } | undefined): number {
  if (o?.vocab === undefined) fail('E_SHAPE', 'options.vocab', 'is required (the row length of the logits)');
  return checkIntegerInRange(o.vocab, 1, 2 ** 31 - 1, 'options.vocab');
}

function checkTemperature(t: unknown): number {
  return t === undefined ? 1 : checkNumber(t, 'options.temperature', positiveFinite, 'a positive finite number');
}

/** Whether two views share bytes (same buffer, intersecting ranges). */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

const rowCol = (index: number, vocab: number): string => ` (row ${Math.floor(index / vocab)}, column ${index % vocab})`;

export async function tokenLogprobs<T extends FloatArray>(engine: Engine, logits: T, targets: Int32Array | readonly number[], options: TokenLogprobsOptions): Promise<TokenLogprobsResult<T>> {
  const o = checkPgOpOptions<TokenLogprobsOptions>(options, ['vocab', 'temperature', 'entropy']);
  checkFloatArray(logits, 'logits');
  const vocab = checkVocab(o);
  const temperature = checkTemperature(o.temperature);
  const withEntropy = checkBoolean(o.entropy, 'options.entropy') ?? true;
  const t = checkTargets(targets, vocab);
  const N = checkShape(logits, t, vocab);
  const logp = allocLike(logits, N) as T;
  const lse = allocLike(logits, N) as T;
  const entropy = withEntropy ? (allocLike(logits, N) as T) : null;
  const r = await engine.run(
    'pgTokenLogprobs',
    { logits, targets: t, vocab, temperature, logp, lse, entropy },
    { dtype: dtypeOf(logits), size: logits.length, backend: o.backend, strict: o.strict, signal: o.signal, onProgress: o.onProgress },
  );
  if (r.value >= 0) nonFinite('logits', r.value, logits[r.value]!, rowCol(r.value, vocab));
  return { logp, ...(entropy ? { entropy } : {}), lse, backend: r.backend };
}

export async function tokenLogprobsBackward<T extends FloatArray>(
  engine: Engine, logits: T, targets: Int32Array | readonly number[], options: TokenLogprobsBackwardOptions<T>,
): Promise<TokenLogprobsBackwardResult<T>> {
  const o = checkPgOpOptions<TokenLogprobsBackwardOptions<T>>(
    options, ['vocab', 'temperature', 'lse', 'entropy', 'gradLogp', 'gradEntropy', 'inPlace'], { allowCheckFinite: true },
  );
  checkFloatArray(logits, 'logits');
  const dtype = dtypeOf(logits);
  const vocab = checkVocab(o);
  const temperature = checkTemperature(o.temperature);
  const t = checkTargets(targets, vocab);
  const N = checkShape(logits, t, vocab);
  const inPlace = checkBoolean(o.inPlace, 'options.inPlace') ?? false;
  const row = (a: unknown, name: string): T => {
    const v = checkOperand(a, dtype, N, name) as T;
    checkFiniteArray(v, name);
    return v;
  };
  const lse = row(o.lse, 'options.lse');
  const gradLogp = o.gradLogp === undefined ? null : row(o.gradLogp, 'options.gradLogp');
  const gradEntropy = o.gradEntropy === undefined ? null : row(o.gradEntropy, 'options.gradEntropy');
  if (!gradLogp && !gradEntropy) fail('E_SHAPE', 'options.gradLogp', 'give options.gradLogp and/or options.gradEntropy (the upstream gradients)');
  if (gradEntropy && o.entropy === undefined) fail('E_SHAPE', 'options.entropy', 'is needed with options.gradEntropy (∂H/∂z involves H)');
  const entropy = gradEntropy ? row(o.entropy, 'options.entropy') : null;
  if (!gradEntropy && o.entropy !== undefined) checkOperand(o.entropy, dtype, N, 'options.entropy');
  if (o.checkFinite !== false) {
    // The backward contract reports nothing; see docs/pg.md §9 for why this scan exists and how to skip it.
    for (let i = 0; i < logits.length; i++) if (!Number.isFinite(logits[i]!)) nonFinite('logits', i, logits[i]!, rowCol(i, vocab));
  }
  if (inPlace) {
    const inputs = [[t, 'targets'], [lse, 'options.lse'], [gradLogp, 'options.gradLogp'], [gradEntropy, 'options.gradEntropy'], [entropy, 'options.entropy']] as const;
    for (const [a, name] of inputs) {
      if (a && overlaps(a, logits)) fail('E_SHAPE', name, `overlaps the logits, which options.inPlace overwrites while reading ${name}`);
    }
  }
  const gradLogits = inPlace ? logits : (allocLike(logits, logits.length) as T);
  const r = await engine.run(
    'pgTokenLogprobsBackward',
    { logits, targets: t, vocab, temperature, lse, entropy, gradLogp, gradEntropy, gradLogits },
    { dtype, size: logits.length, backend: o.backend, strict: o.strict, signal: o.signal, onProgress: o.onProgress },
  );
  return { gradLogits, backend: r.backend };
}
