/** One timed measurement with tinybench: median and best latency of an async task, in seconds. */
import { Bench } from 'tinybench';

export interface Timing {
  median: number;
  best: number;
  samples: number;
}

export async function time(fn: () => unknown, opts: { time?: number; warmup?: number } = {}): Promise<Timing> {
  // tinybench runs at least `iterations` samples; a floor of 5 keeps slow backends (a software GPU
  // adapter at 16M elements) from taking minutes, while fast kernels still fill the time budget.
  const bench = new Bench({ time: opts.time ?? 400, warmupTime: opts.warmup ?? 100, iterations: 5, warmupIterations: 1, throws: true });
  bench.add('task', async () => {
    await fn();
  });
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`bench task ended in state ${r.state}`);
  return { median: r.latency.p50 / 1e3, best: r.latency.min / 1e3, samples: r.latency.samples?.length ?? 0 };
}

/** The best wall time of `reps` sequential runs, in seconds (for calls too long or too stateful for tinybench). */
export async function bestOf(fn: () => Promise<unknown>, reps: number): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1e3);
  }
  return best;
}
