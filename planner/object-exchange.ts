// The S3 object channel's layout and readiness, once: the plan writes these settings
// (planner/plan/build.ts), the estimates count the requests they cause (planner/optimize/
// estimate.ts), the channel runs them (functions/channels/object-channel.ts).
//
// Layout: one object per (run attempt, layer, source) holding everything the source sends in that
// layer to all its targets, behind a directory (functions/channels/exchange-object.ts), at key
// <run>/<layer>/<source> in exchange bucket (layer mod buckets). So a layer costs one PUT per
// source that has targets, where FSD-Inference's <layer>/<target>/<target>_<source> costs one per
// (source, target) pair.
//
// Readiness ("get-then-list"): a target GETs each source it expects by its exact key, with a Range
// of the first firstRangeBytes (most objects are smaller, so one GET brings the whole object; a
// target whose messages lie beyond makes one more ranged GET). A GET answered NoSuchKey means "not
// yet": the target waits (initialPollSeconds, doubling up to maxPollSeconds, never past its
// deadline), then ONE ListObjectsV2 of the layer's prefix tells which of the missing sources have
// arrived, and only those are fetched. Nothing is listed when every source was there at once.

/** The key layout of plan.json channel.object.keyPattern. */
export const EXCHANGE_OBJECT_KEY_PATTERN = '<run>/<layer>/<source>';

/**
 * Bytes of a target's first ranged GET of a source's object. Measured (real 1024 x 120 case,
 * 10,000 inputs, hypergraph partitions, brotli-5 wire messages): objects are 1.5 KB median and at
 * most 221 KB (P = 2), 113 KB (P = 4), 100 KB (P = 8); with 64 KiB, 2, 12 and 46 (source, target)
 * reads needed a second GET, with 128 KiB 2, 0 and 0. Bytes read inside a Region are free, so the
 * larger first range costs only the bytes of objects that are large anyway.
 */
export const EXCHANGE_FIRST_RANGE_BYTES = 128 * 1024;

/** First wait after a miss, doubling each round up to the longest (seconds). */
export const EXCHANGE_POLL_SECONDS = { initial: 0.05, max: 1 } as const;

export interface ExchangePolling {
  readonly initialPollSeconds: number;
  readonly maxPollSeconds: number;
}

/**
 * The <run> of the key pattern: a run (its Step Functions execution name) AND its attempt, so a
 * retried group writes and reads under a new prefix and never reads a failed attempt's objects.
 */
export function exchangeRunKey(execution: string, attempt: number): string {
  return `${execution}/attempt-${attempt}`;
}

/** The object of `source`'s rows for `layer` in the run attempt `runKey`. */
export function exchangeObjectKey(runKey: string, layer: number, source: number): string {
  return `${exchangeLayerPrefix(runKey, layer)}${source}`;
}

/** Every object of one layer of a run attempt: what a readiness LIST asks for. */
export function exchangeLayerPrefix(runKey: string, layer: number): string {
  return `${runKey}/${layer}/`;
}

/** Index of the exchange bucket holding layer `layer`'s objects (plan.json bucketOfKey "layer-mod-buckets"). */
export function exchangeBucketIndex(layer: number, buckets: number): number {
  return layer % buckets;
}

/** Seconds a receiver waits before readiness LIST number `round` (1-based) after a miss. */
export function pollDelaySeconds(round: number, polling: ExchangePolling): number {
  return Math.min(polling.maxPollSeconds, polling.initialPollSeconds * 2 ** (round - 1));
}

/**
 * Readiness LISTs a receiver makes when its last source arrives `waitSeconds` after its first GETs
 * missed: rounds of (delay, LIST of `listSeconds`) until their time covers the wait. At least one;
 * fractional inside a round (linear), so an expected wait gives a smooth expected count.
 */
export function listRoundsToCover(waitSeconds: number, polling: ExchangePolling, listSeconds: number): number {
  let covered = 0;
  for (let round = 1; ; round++) {
    const step = pollDelaySeconds(round, polling) + listSeconds;
    if (!(step > 0)) return round;
    if (waitSeconds <= covered + step) return round === 1 ? 1 : round - 1 + (waitSeconds - covered) / step;
    covered += step;
  }
}
