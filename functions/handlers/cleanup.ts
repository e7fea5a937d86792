// A run's intermediates removed at its end: its own staged inputs, hand-offs between stages, final
// rows of each worker and statuses under the run's prefix of the plan's bucket, and the object
// channel's exchange objects of every attempt. The result and the categories stay, and so do the
// plan's default inputs (storage.defaultInputs), which lie outside every run's prefix.

import { expandKey } from '../../planner/plan/names.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { StageRun } from './events.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { removeRunObjects } from '../channels/object-channel.ts';

export interface CleanupCounters {
  readonly lists: number;
  readonly deletes: number;
  readonly deleted: number;
}

/** Deletes what `runId` left under its prefix but its result and categories, and its exchange objects. */
export async function removeRunIntermediates(
  s3: S3Client, bucket: string, storage: StageRun['storage'], runId: string, exchangeBuckets: readonly string[],
): Promise<CleanupCounters> {
  const store = new ObjectStore(s3, bucket);
  const resultKey = expandKey(storage.result, { execution: runId });
  const keep = new Set([resultKey, expandKey(storage.categories, { execution: runId })]);
  // The run's prefix: everything before the result's own name.
  const prefix = resultKey.replace(/[^/]*$/, '');
  const deleted = await store.deleteKeys((await store.list(prefix)).filter((k) => !keep.has(k)));
  // Every attempt's exchange objects: their keys start with the run id (planner/object-exchange.ts).
  const exchange = exchangeBuckets.length > 0 ? await removeRunObjects(s3, exchangeBuckets, runId) : null;
  return {
    lists: store.lists + (exchange?.lists ?? 0),
    deletes: store.deletes + (exchange?.deletes ?? 0),
    deleted: deleted + (exchange?.deletedMessages ?? 0),
  };
}
