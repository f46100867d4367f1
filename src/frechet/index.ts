/** The frechet family's public names: metric types, prediction options and results, partials, and the host-side helpers. */
import { accuracy, expectedSquaredDistance } from './evaluate.js';
import { graphMetric } from './graph-metric.js';
import { locus, nextClass } from './locus.js';
import { mergeShards } from './shards.js';

export type { FrechetEmbeddingMetric, FrechetGraphSpec, FrechetMatrixMetric, FrechetMetric } from './metric.js';
export { GraphMetric, type GraphMetricOptions } from './graph-metric.js';
export type { FrechetPredictOptions, FrechetPrediction, FrechetShardOptions } from './predict.js';
export type { FrechetPartial } from './shards.js';
export type { CentralClass } from './evaluate.js';
export type { FrechetLayout, FrechetTopkArgs } from './ops.js';
export type { FrechetApi } from './api.js';

/**
 * The frechet helpers that need no context (also on ctx.frechet): the graph-metric constructor, the
 * shard merge, locus and next class, and the evaluation metrics.
 */
export const frechet = Object.freeze({ graphMetric, mergeShards, locus, nextClass, expectedSquaredDistance, accuracy });
