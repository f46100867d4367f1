/** The shared primitives' public names (the functions themselves are ctx.linalg.*). */
export type { AxpyOptions, Moments, MomentsOptions, SpmvOptions } from './primitives.js';
export type { LinalgApi } from './api.js';
