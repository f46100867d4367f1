/**
 * pg: the fused policy loss + gradient and the streaming token log-probs, per backend, f32. Both are
 * memory-bound, so each rate counts the bytes the kernel must move once (reads and writes) and is
 * reported against the triad ceiling. The loss anchors (numpy and a fused numba loop, GRPO advantages
 * included) run in the same bench run through bench/peers/pg_loss.py when Debian's python3 has numpy
 * (and numba); their figures on this machine are in docs/peers.md §3.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendName } from '../../src/core/types.js';
import { advantages } from '../../src/pg/advantages.js';
import { time } from '../measure.js';
import type { Ceilings, Row } from '../report.js';
import type { Target } from './linalg.js';
import { peerEnv } from '../peers/env.js';

const PYTHON = '/usr/bin/python3';

interface Batch {
  B: number;
  G: number;
  T: number;
  logp: Float32Array;
  oldLogp: Float32Array;
  refLogp: Float32Array;
  mask: Uint8Array;
  rewards: Float32Array;
  tokens: number;
}

/** A padded batch like the peer's: random lengths in [T/4, T], log-probs near −1.5, binary rewards. */
function batch(B: number, G: number, T: number): Batch {
  const N = B * G;
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const logp = new Float32Array(N * T);
  const oldLogp = new Float32Array(N * T);
  const refLogp = new Float32Array(N * T);
  const mask = new Uint8Array(N * T);
  const rewards = new Float32Array(N);
  let tokens = 0;
  for (let i = 0; i < N; i++) {
    const len = Math.floor(T / 4 + rnd() * (T - T / 4 + 1));
    rewards[i] = rnd() < 0.5 ? 0 : 1;
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      logp[k] = -3 * rnd();
      oldLogp[k] = logp[k]! + 0.2 * (rnd() - 0.5);
      refLogp[k] = logp[k]! + 0.2 * (rnd() - 0.5);
      mask[k] = t < len ? 1 : 0;
      tokens += mask[k]!;
    }
  }
  return { B, G, T, logp, oldLogp, refLogp, mask, rewards, tokens };
}

interface PeerTimes {
  numpy?: { best: number; median: number };
  numba1?: { best: number; median: number };
  numba2?: { best: number; median: number };
  numbaError?: string;
}

function runPeer(B: number, G: number, T: number, reps: number): PeerTimes | string {
  if (!existsSync(PYTHON)) return `no ${PYTHON}`;
  const script = join(import.meta.dirname, '..', 'peers', 'pg_loss.py');
  const r = spawnSync(PYTHON, [script, String(B), String(G), String(T), String(reps)], { encoding: 'utf8', timeout: 600_000, env: peerEnv() });
  if (r.status !== 0) return `peer failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout) as PeerTimes;
}

export async function lossSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const shapes: [number, number, number][] = quick ? [[64, 8, 1024]] : [[64, 8, 1024], [256, 16, 2048]];
  for (const [B, G, T] of shapes) {
    const data = batch(B, G, T);
    const n = data.logp.length;
    // logp, old, ref read (f32), mask read (u8), grad written (f32); advantages per sequence are noise.
    const bytes = n * (3 * 4 + 1 + 4);
    const peer = runPeer(B, G, T, quick ? 3 : 7);
    const peerNote = typeof peer === 'string' ? peer
      : `numpy ${(peer.numpy!.median * 1e3).toFixed(1)} ms` +
        (peer.numba2 ? `, numba fused ${(peer.numba1!.median * 1e3).toFixed(1)} ms (1 thr) / ${(peer.numba2.median * 1e3).toFixed(1)} ms (2 thr)` : `, no numba (${peer.numbaError ?? '?'})`);
    const name = `${B}×${G}×${T} (${(n / 1e6).toFixed(2)}M positions, ${(data.tokens / 1e6).toFixed(2)}M tokens)`;
    for (const t of targets) {
      if (!t.ctx.supports(t.backend, 'pgPolicyLoss', 'f32')) continue;
      if (t.backend === 'js' && B * G * T > 1 << 20) continue;
      const options = {
        clip: { low: 0.2, high: 0.28, dual: 3 }, kl: { estimator: 'k3' as const, coef: 1e-3 }, aggregation: 'token-mean' as const,
        backend: t.backend as BackendName, strict: true,
      };
      // The whole trainer step the peers time: GRPO advantages from the rewards, then the fused pass,
      // writing into a gradient buffer reused every step (as a trainer does; the numba peer reuses its buffer, numpy allocates as numpy code does).
      const grad = new Float32Array(n);
      const step = async () => {
        const adv = advantages(data.rewards, { groups: G }).advantages as Float32Array;
        return t.ctx.pg.policyLoss({ logp: data.logp, oldLogp: data.oldLogp, refLogp: data.refLogp, advantages: adv, mask: data.mask }, { ...options, out: { grad } });
      };
      const s = await time(step, { time: quick ? 300 : 1000 });
      const gbs = bytes / s.median / 1e9;
      const vs = typeof peer === 'string' ? '' : `; ${(peer.numpy!.median / s.median).toFixed(1)}× numpy` +
        (peer.numba2 ? `, ${(Math.min(peer.numba1!.median, peer.numba2.median) / s.median).toFixed(2)}× numba (best of its 1/2 threads)` : '');
      rows.push({
        suite: 'pg-loss', case: `step (advantages + loss+grad+stats) ${name}`, backend: t.label, dtype: 'f32', threads: t.threads, seconds: s.median,
        unit: 'GB/s', rate: gbs, ofCeiling1: gbs / c.triad1, ofCeilingAll: gbs / c.triadAll, note: `${peerNote}${vs}`,
      });
      // The fused pass alone, the op the bytes above count (the step also spends the host-side GRPO
      // advantages, which read and write no position's data): its fraction of the triad is the target's.
      const adv = advantages(data.rewards, { groups: G }).advantages as Float32Array;
      const fused = await time(() => t.ctx.pg.policyLoss({ logp: data.logp, oldLogp: data.oldLogp, refLogp: data.refLogp, advantages: adv, mask: data.mask }, { ...options, out: { grad } }),
        { time: quick ? 300 : 1000 });
      const fgbs = bytes / fused.median / 1e9;
      rows.push({
        suite: 'pg-loss', case: `loss+grad+stats alone ${name}`, backend: t.label, dtype: 'f32', threads: t.threads, seconds: fused.median,
        unit: 'GB/s', rate: fgbs, ofCeiling1: fgbs / c.triad1, ofCeilingAll: fgbs / c.triadAll, note: 'policyLoss only, advantages given',
      });
    }
  }
  return rows;
}

export async function logprobsSuite(targets: Target[], c: Ceilings, quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const cases: [number, number][] = quick ? [[1024, 32000]] : [[4096, 32000], [4096, 151936]];
  for (const [N, V] of cases) {
    const logits = new Float32Array(N * V);
    let s = 7;
    for (let i = 0; i < logits.length; i++) logits[i] = 8 * ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 4;
    const targetsIdx = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V);
    const gradLogp = Float32Array.from({ length: N }, (_, i) => Math.sin(i) / N);
    const gradEntropy = Float32Array.from({ length: N }, (_, i) => Math.cos(i) / N);
    const name = `N=${N}, V=${V} (${((N * V * 4) / 2 ** 30).toFixed(2)} GiB of logits)`;
    for (const t of targets) {
      if (!t.ctx.supports(t.backend, 'pgTokenLogprobs', 'f32')) continue;
      // The oracle and the software adapter are correctness backends: the small vocabulary only.
      if ((t.backend === 'js' || t.backend === 'webgpu') && V > 32000) continue;
      const backend = t.backend as BackendName;
      const fwd = await t.ctx.pg.tokenLogprobs(logits, targetsIdx, { vocab: V, entropy: true, backend, strict: true });
      const f = await time(() => t.ctx.pg.tokenLogprobs(logits, targetsIdx, { vocab: V, entropy: true, backend, strict: true }), { time: quick ? 300 : 1000 });
      const fg = (N * V * 4) / f.median / 1e9;
      rows.push({
        suite: 'pg-logprobs', case: `logp + entropy, forward, ${name}`, backend: t.label, dtype: 'f32', threads: t.threads, seconds: f.median,
        unit: 'GB/s', rate: fg, ofCeiling1: fg / c.triad1, ofCeilingAll: fg / c.triadAll, note: 'logits read once; O(N) extra memory',
      });
      if (!t.ctx.supports(t.backend, 'pgTokenLogprobsBackward', 'f32')) continue;
      // In place over a scratch copy, as a trainer would run it (no N·V allocation per call); the
      // forward already checked these logits, so the backward's own scan is off.
      const scratch = logits.slice();
      const b = await time(() => t.ctx.pg.tokenLogprobsBackward(scratch, targetsIdx, {
        vocab: V, lse: fwd.lse, entropy: fwd.entropy, gradLogp, gradEntropy, inPlace: true, checkFinite: false, backend, strict: true,
      }), { time: quick ? 300 : 1000 });
      const bg = (2 * N * V * 4) / b.median / 1e9;
      rows.push({
        suite: 'pg-logprobs', case: `∂logits from ∂logp and ∂H, ${name}`, backend: t.label, dtype: 'f32', threads: t.threads, seconds: b.median,
        unit: 'GB/s', rate: bg, ofCeiling1: bg / c.triad1, ofCeilingAll: bg / c.triadAll, note: 'in place: logits read once, ∂logits written once',
      });
    }
  }
  return rows;
}

export const suites = {
  'pg-loss': ['pg: fused clipped loss + k3 KL + ∂loss/∂logp + stats, with GRPO advantages (anchors in the note)', lossSuite],
  'pg-logprobs': ['pg: streaming log-probs and entropy over the vocabulary, and their backward', logprobsSuite],
} as const;
