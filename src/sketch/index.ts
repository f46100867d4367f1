/** The sketch family's public names: sketch options and results, least-squares and row-action solver options and results. */
export type { ApplyOptions, ApplyRowsOptions, SketchResult } from './apply.js';
export type { KaczmarzOptions, RowActionOptions, RowActionResult, SketchAndProjectOptions } from './iterative.js';
export type { LinfError } from './linf.js';
export type { LstsqMethod, LstsqOptions, LstsqResult, LstsqStopReason } from './lstsq.js';
export { LSTSQ_METHODS } from './lstsq.js';
export type { SketchDescription, SketchOptions } from './spec.js';
export type { SketchKind, SketchOperand } from './ops.js';
export { SKETCH_KINDS } from './ops.js';
export type { SketchApi } from './api.js';
