/**
 * Every layout the relax kernels share with the host, written once: the structs the host packs
 * (uniform parameters, the batch's system descriptors), the structs it reads back (solver state,
 * batch outcomes), the codes in them, and the vectors each batched method keeps in workgroup
 * memory. The WGSL declarations are generated from these tables (RELAX_PRELUDE, prepended to every
 * kernels/relax shader by the pipeline cache); the .wgsl files declare none of them.
 */
import type { RelaxMethod } from '../../../relax/ops.js';
import type { GpuRuntime } from '../dispatch.js';
import { WordStruct, wgslConstants, type WgslPrelude } from '../wgsl-layout.js';
import type { RoundEnd } from './refine.js';

/**
 * The device-side scalars of a single solve (scalars.wgsl and the CG updates). The host reads the
 * first 24 bytes at a check: norm2 (the squared residual at the last check, or CG's recurrence
 * r·r), and for CG k (updates completed this round; a breakdown stops the count) and flag.
 */
export const SOLVER_STATE = new WordStruct('SolverState', {
  norm2: 'f32',
  rr: 'f32',
  alpha: 'f32',
  beta: 'f32',
  k: 'u32',
  flag: 'u32',
  _pad0: 'u32',
  _pad1: 'u32',
});

/**
 * The device-side scalars of double-f32 CG (df_cg_scalars.wgsl and the df CG updates), each value a
 * (hi, lo) pair. The host reads the whole struct at a check: rr (the recurrence r·r), k and flag as
 * in SOLVER_STATE.
 */
export const DF_STATE = new WordStruct('DfState', {
  rrHi: 'f32',
  rrLo: 'f32',
  alphaHi: 'f32',
  alphaLo: 'f32',
  betaHi: 'f32',
  betaLo: 'f32',
  k: 'u32',
  flag: 'u32',
});

/**
 * Uniform of every double-f32 kernel: n, the partials a finishing reduction adds, the 1.0 that keeps
 * compilers from simplifying error-free transformations (df_arith.wgsl), and df_scale's factor.
 */
export const DF_PARAMS = new WordStruct('DfParams', { n: 'u32', groups: 'u32', one: 'f32', factorHi: 'f32', factorLo: 'f32' });

/** SolverState.flag once CG's pᵀAp ≤ 0 (A not SPD); later steps change nothing. */
export const FLAG_BREAKDOWN = 1;

/** Uniform of scalars.wgsl: how many partials the finishing reduction adds. */
export const SCALAR_PARAMS = new WordStruct('ScalarParams', { groups: 'u32' });

/** Uniform of the CG vector updates (and of the core dot/spmv kernels the CG step borrows: their first word is n as well). */
export const VEC_PARAMS = new WordStruct('VecParams', { n: 'u32' });

/** Uniform of the CSR relaxation kernels; count and first select one colour class of a red-black sweep in `order`. */
export const CSR_PARAMS = new WordStruct('CsrParams', {
  n: 'u32',
  count: 'u32',
  first: 'u32',
  _pad: 'u32',
  omega: 'f32',
});

/**
 * Uniform of the stencil kernels: the grid (x fastest; nz = 1 in 2-D), the red-black colour, the
 * ceil(nx/2) slots per grid row and the slots a colour sweep covers, ω, and the constant
 * coefficients (diagonal, then couplings −x, +x, −y, +y, −z, +z, contiguous so the host copies the
 * operator's offdiag array in one go).
 */
export const STENCIL_PARAMS = new WordStruct('StencilParams', {
  nx: 'u32',
  ny: 'u32',
  nz: 'u32',
  n: 'u32',
  colour: 'u32',
  half: 'u32',
  slots: 'u32',
  _pad0: 'u32',
  omega: 'f32',
  diag: 'f32',
  offXm: 'f32',
  offXp: 'f32',
  offYm: 'f32',
  offYp: 'f32',
  offZm: 'f32',
  offZp: 'f32',
});

/** System.kind of a batched system. */
export const KIND = { csr: 0, stencilConstant: 1, stencilVariable: 2 } as const;

/**
 * One system of a batch (batch_common.wgsl), packed by the host per round.
 *  - vecOff: its slice of `vecs` (the scaled residual in, the correction out).
 *  - CSR: rowPtr at ints[rowOff ..], colIdx at ints[colOff ..], values at floats[fOff ..]; red-black
 *    colouring: local rows at ints[orderOff ..], class bounds at ints[colourOff ..], `colours` classes.
 *  - variable stencil: coefficients at floats[fOff + d·n + p] (d = 0 the diagonal, 1 + direction).
 *  - budget / phase / last: updates allowed this round, updates made before it, whether the budget ends at maxIter.
 *  - eta2 / div2: squared inner tolerance and divergence limit.
 *  - diag / off: a constant stencil's diagonal and couplings −x, +x, −y, +y, −z, +z.
 */
export const SYSTEM = new WordStruct('System', {
  n: 'u32',
  kind: 'u32',
  nx: 'u32',
  ny: 'u32',
  nz: 'u32',
  vecOff: 'u32',
  rowOff: 'u32',
  colOff: 'u32',
  orderOff: 'u32',
  colourOff: 'u32',
  colours: 'u32',
  fOff: 'u32',
  budget: 'u32',
  phase: 'u32',
  last: 'u32',
  _pad: 'u32',
  omega: 'f32',
  eta2: 'f32',
  div2: 'f32',
  diag: 'f32',
  off: ['f32', 6],
  _fpad0: 'f32',
  _fpad1: 'f32',
});

/** Uniform of a batch dispatch. */
export const BATCH_PARAMS = new WordStruct('BatchParams', { count: 'u32', checkEvery: 'u32', stall: 'u32', _pad: 'u32' });

/** What a batched system's round reports. */
export const OUTCOME = new WordStruct('Outcome', { norm2: 'f32', updates: 'u32', flag: 'u32', _pad: 'u32' });

/** Why a batched round ended, as Outcome.flag: the code of ROUND_ENDS[i] is i + 1 (0 means none reported). */
export const ROUND_ENDS: readonly RoundEnd[] = ['tolerance', 'diverged', 'stalled', 'budget', 'paused', 'breakdown'];

/** Length-CAP f32 vectors each batched method keeps in workgroup memory (the shaders' NARR). */
export const BATCH_VECTORS: Readonly<Partial<Record<RelaxMethod, number>>> = { 'jacobi': 3, 'sor-redblack': 2, 'cg': 4 };

/** The round end of an Outcome.flag, or undefined for a code no round ends with. */
export function roundEndOf(flag: number): RoundEnd | undefined {
  return flag >= 1 ? ROUND_ENDS[flag - 1] : undefined;
}

/** The constants the prelude declares, by WGSL name. */
export function relaxConstants(): Record<string, number> {
  const ends = Object.fromEntries(ROUND_ENDS.map((e, i) => [`END_${e.toUpperCase()}`, i + 1]));
  return {
    FLAG_BREAKDOWN,
    KIND_CSR: KIND.csr,
    KIND_STENCIL_CONST: KIND.stencilConstant,
    KIND_STENCIL_VAR: KIND.stencilVariable,
    ...ends,
  };
}

/** The generated declarations every kernels/relax shader is compiled with. */
export const RELAX_PRELUDE: WgslPrelude = {
  name: 'relax',
  code: [SOLVER_STATE, DF_STATE, DF_PARAMS, SCALAR_PARAMS, VEC_PARAMS, CSR_PARAMS, STENCIL_PARAMS, SYSTEM, BATCH_PARAMS, OUTCOME].map((s) => s.wgsl()).join('') +
    wgslConstants(relaxConstants()),
};

/** A kernels/relax pipeline at the runtime's workgroup size, compiled with RELAX_PRELUDE. */
export function relaxPipeline(rt: GpuRuntime, file: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
  return rt.pipeline(file, entryPoint, RELAX_PRELUDE);
}
