/**
 * `ctx.frechet`: Loki (Fréchet-mean) prediction over a label metric as a context namespace
 * (docs/frechet.md). predict, predictShard and centralClass run the frechetTopk kernel through the
 * engine (async); the rest are host-side helpers (synchronous) that need no backend.
 */
import type { Engine } from '../core/engine.js';
import type { OpOptions } from '../core/options.js';
import type { DenseMatrix, FloatArray } from '../core/types.js';
import * as ev from './evaluate.js';
import { graphMetric } from './graph-metric.js';
import { locus, nextClass } from './locus.js';
import type { FrechetMetric } from './metric.js';
import * as p from './predict.js';
import { mergeShards } from './shards.js';
import './ops.js';

export function frechetApi(engine: Engine) {
  return {
    /** ŷ = argmin_y Σ_k P[b,k]·d²(y, observed[k]) over every label, topk per row; one fused kernel, no B×N matrix. */
    predict: (P: DenseMatrix, metric: FrechetMetric, options?: p.FrechetPredictOptions): Promise<p.FrechetPrediction> => p.predict(engine, P, metric, options),
    /** The per-shard partial over labels options.range (or the whole shard metric), for mergeShards. */
    predictShard: (P: DenseMatrix, metric: FrechetMetric, options?: p.FrechetShardOptions) => p.predictShard(engine, P, metric, options),
    /** Merge two shards' partials: per row the topk smallest (score, label) of both, ties to the smaller id. */
    mergeShards,
    /** A graph metric with its K BFS / Dijkstra rows computed once and cached (O(K·N) memory, never all pairs). */
    graphMetric,
    /** Π(observed): the labels Loki can predict for some weighting (exact on trees; docs/frechet.md §5). */
    locus,
    /** The class farthest from the current locus: the active next-class choice (docs/frechet.md §5). */
    nextClass,
    /** Mean d²(pred[i], truth[i]): the evaluation metric of the paper. */
    expectedSquaredDistance: ev.expectedSquaredDistance,
    /** Top-k accuracy of a rows×topk prediction. */
    accuracy: ev.accuracy,
    /** The central-class baseline: the one label with the least weighted mean d² to the observed classes. */
    centralClass: (metric: FrechetMetric, classWeights?: FloatArray, options?: OpOptions): Promise<ev.CentralClass> =>
      ev.centralClass(engine, metric, classWeights, options),
  };
}

export type FrechetApi = ReturnType<typeof frechetApi>;
