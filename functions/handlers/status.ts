// Workers' status objects (plan storage.status): the one way a worker tells its launcher it is done
// (its full result: per-layer timings and counters) or failed (its error and layer), and the one
// way anyone reads them back.

import { expandKey } from '../../planner/plan/names.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { parseEvent, workerStatusSchema, type StageRun, type WorkerStatus } from './events.ts';

export function statusKey(sr: Pick<StageRun, 'runId' | 'storage' | 'stage' | 'attempt'>, worker: number): string {
  return expandKey(sr.storage.status, { execution: sr.runId, stage: sr.stage, attempt: sr.attempt, worker });
}

/** The prefix holding every status of a stage attempt (one ListObjectsV2 finds them all). */
export function statusPrefix(sr: Pick<StageRun, 'runId' | 'storage' | 'stage' | 'attempt'>): string {
  const first = statusKey(sr, 0);
  return first.slice(0, first.lastIndexOf('/') + 1);
}

/** The worker a status key belongs to. */
export function statusWorker(key: string): number {
  return Number(/(\d+)\.json$/.exec(key)?.[1] ?? NaN);
}

export async function readStatus(store: ObjectStore, key: string): Promise<WorkerStatus> {
  const text = Buffer.from(await store.get(key, `the status ${key}`)).toString('utf8');
  return parseEvent(workerStatusSchema, JSON.parse(text), `status ${store.where(key)}`);
}
