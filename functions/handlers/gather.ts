// The gather Lambda handler: merges every worker's final rows into the whole output (N columns)
// and its categories: the inputs with any nonzero final activation, as the GraphChallenge truth
// files define them; with topScores k, each category's k highest activations. Writes the merged
// rows (storage.result, an activation slice) and the categories (storage.categories, JSON), and
// returns references and counts only: a state's payload is at most 256 KiB. Then it removes the
// run's intermediates (functions/handlers/cleanup.ts); with `cleanup` it only does that (a failed run).

import { crc32Hex } from '../../model/checksum.ts';
import { expandKey } from '../../planner/plan/names.ts';
import { nonzeroRows, type SparseRows } from '../../model/network.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { decodeSlice, encodeSlice } from '../storage/slice-codec.ts';
import { mergeSlices, type ActivationSlice } from '../worker/activation-slice.ts';
import { environmentClients, type AwsClients } from './clients.ts';
import { gatherEventSchema, parseEvent, type CategoriesObject, type CleanupResult, type GatherEvent, type GatherResult } from './events.ts';
import { removeRunIntermediates } from './cleanup.ts';
import { logger, logRun } from './log.ts';
import { ShapeMismatchError } from '../../model/errors.ts';

/** Per category (in `categories` order), its k highest activations as [neuron, value], highest first, ties by neuron. */
export function topScores(rows: SparseRows, categories: readonly number[], k: number): [number, number][][] {
  return categories.map((r) => {
    const entries: [number, number][] = [];
    for (let p = rows.rowStart[r]; p < rows.rowStart[r + 1]; p++) entries.push([rows.columnIndex[p], rows.value[p]]);
    entries.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    return entries.slice(0, k);
  });
}

export async function runGather(event: GatherEvent, clients: AwsClients): Promise<GatherResult | CleanupResult> {
  const startMs = Date.now();
  logRun({ role: 'gather', runId: event.runId });
  if (event.cleanup) {
    const cleanup = await removeRunIntermediates(clients.s3, event.bucket, event.storage, event.runId, event.exchangeBuckets);
    logger.info('cleaned up a failed run', { ...cleanup });
    return { runId: event.runId, cleanup };
  }
  const store = new ObjectStore(clients.s3, event.bucket);
  const slices = await Promise.all(Array.from({ length: event.workers }, async (_, worker) => {
    const key = expandKey(event.storage.outputs, { execution: event.runId, worker });
    return decodeSlice(await store.get(key, `the final rows of worker ${worker}`, { worker }), store.where(key));
  }));
  const gathered = await writeGathered(store, event, slices, startMs);
  const cleanup = await removeRunIntermediates(clients.s3, event.bucket, event.storage, event.runId, event.exchangeBuckets);
  return { ...gathered, cleanup, endMs: Date.now() };
}

/**
 * Merges the workers' final rows (index w: worker w's) and writes the result and categories. A
 * one-worker run calls it on its own rows, so it writes its result itself.
 */
export async function writeGathered(store: ObjectStore, event: GatherEvent, slices: readonly ActivationSlice[], startMs: number): Promise<Omit<GatherResult, 'cleanup'>> {
  slices.forEach((slice, worker) => {
    if (slice.rows.rows !== event.samples || slice.rows.columns !== event.neurons) {
      throw new ShapeMismatchError(`final rows of ${slice.rows.rows} x ${slice.rows.columns}, the run has ${event.samples} samples of ${event.neurons} neurons`, { worker });
    }
  });
  // mergeSlices refuses a neuron held by two workers; every neuron must be held by one.
  const rows = mergeSlices(slices, event.samples, event.neurons);
  const held = slices.reduce((n, s) => n + s.neurons.length, 0);
  if (held !== event.neurons) throw new ShapeMismatchError(`the workers' final rows hold ${held} of the ${event.neurons} neurons`);
  const categories = nonzeroRows(rows);
  const resultKey = expandKey(event.storage.result, { execution: event.runId });
  const categoriesKey = expandKey(event.storage.categories, { execution: event.runId });
  const resultBytes = encodeSlice({ neurons: Uint32Array.from({ length: event.neurons }, (_, j) => j), rows });
  const object: CategoriesObject = {
    runId: event.runId, samples: event.samples, categories,
    topScores: event.topScores > 0 ? topScores(rows, categories, event.topScores) : null,
  };
  await Promise.all([store.put(resultKey, resultBytes), store.put(categoriesKey, `${JSON.stringify(object)}\n`)]);
  logger.info('gathered', { categories: categories.length, nonzeros: rows.rowStart[rows.rows] });
  return {
    runId: event.runId, categoryCount: categories.length, categoriesKey, resultKey, finalNonzeros: rows.rowStart[rows.rows],
    resultCrc32: crc32Hex(resultBytes), storage: { ...store.counters }, startMs, endMs: Date.now(),
  };
}

/** The Lambda entry point. */
export async function handler(event: unknown): Promise<GatherResult | CleanupResult> {
  return runGather(parseEvent(gatherEventSchema, event, 'gather'), environmentClients());
}
