// The coordinator Lambda handler: starts every worker of one stage of a run and waits for all of
// them. Flat: one asynchronous Invoke per worker. Tree (FSD-Inference's hierarchical launch): it
// invokes the b roots, and each worker invokes its own children before it starts working
// (functions/handlers/worker.ts), so P workers start in `levels` rounds of b calls.
// Workers report through status objects (plan storage.status); the coordinator looks at the
// stage attempt's status prefix with one ListObjectsV2 per poll, reads each new status once,
// fails at the first failure (naming worker, layer and cause) or at its deadline (naming the
// workers that never reported), and otherwise returns every worker's result.

import { RunFailedError } from '../../model/errors.ts';
import { launchTreeChildren } from '../../planner/launch-tree.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { environmentClients, type AwsClients } from './clients.ts';
import { coordinatorEventSchema, parseEvent, type CoordinatorEvent, type CoordinatorResult, type StageRun } from './events.ts';
import { logger, logRun } from './log.ts';
import { readStatus, statusPrefix, statusWorker } from './status.ts';
import { invokeWorker } from './worker.ts';

/** The workers the coordinator itself invokes, with their tree depth. */
export function coordinatorLaunches(sr: StageRun): { worker: number; depth: number }[] {
  if (sr.launch.kind === 'tree') return launchTreeChildren(sr.launch, null, 0);
  return Array.from({ length: sr.workers }, (_, worker) => ({ worker, depth: 1 }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCoordinator(event: CoordinatorEvent, clients: AwsClients): Promise<CoordinatorResult> {
  const sr = event.stageRun;
  const startMs = Date.now();
  logRun({ role: 'coordinator', runId: sr.runId, attempt: sr.attempt, stage: sr.stage });
  const launches = coordinatorLaunches(sr);
  await Promise.all(launches.map((l) => invokeWorker(clients, { stageRun: sr, worker: l.worker, depth: l.depth })));
  logger.info('workers invoked', { invokes: launches.length, launch: sr.launch.kind });

  const store = new ObjectStore(clients.s3, sr.bucket);
  const prefix = statusPrefix(sr);
  const results = new Map<number, CoordinatorResult['workers'][number]>();
  const deadline = startMs + event.waitTimeoutSeconds * 1000;
  for (;;) {
    for (const key of await store.list(prefix)) {
      if (results.has(statusWorker(key))) continue;
      const status = await readStatus(store, key);
      if (!status.ok) {
        throw new RunFailedError(
          `run ${sr.runId} stage ${sr.stage} (layers ${sr.firstLayer}-${sr.lastLayer}, attempt ${sr.attempt}): worker ${status.worker} failed${status.layer !== null ? ` in layer ${status.layer}` : ''}: ${status.errorType}: ${status.errorMessage}`,
          { worker: status.worker, ...(status.layer !== null ? { layer: status.layer } : {}) },
        );
      }
      results.set(status.worker, { worker: status.worker, startMs: status.startMs, endMs: status.endMs, statusKey: key });
    }
    if (results.size === sr.workers) break;
    if (Date.now() >= deadline) {
      const missing = Array.from({ length: sr.workers }, (_, w) => w).filter((w) => !results.has(w));
      throw new RunFailedError(
        `run ${sr.runId} stage ${sr.stage} (layers ${sr.firstLayer}-${sr.lastLayer}, attempt ${sr.attempt}): ${missing.length} of ${sr.workers} workers did not report within ${event.waitTimeoutSeconds} s: workers ${missing.join(', ')}`,
      );
    }
    await sleep(Math.min(event.pollSeconds * 1000, Math.max(0, deadline - Date.now())));
  }
  const workers = [...results.values()].sort((a, b) => a.worker - b.worker);
  logger.info('stage done', { ms: Date.now() - startMs, lists: store.lists });
  return { runId: sr.runId, attempt: sr.attempt, stage: sr.stage, startMs, endMs: Date.now(), invokes: launches.length, lists: store.lists, workers };
}

/** The Lambda entry point. */
export async function handler(event: unknown): Promise<CoordinatorResult> {
  return runCoordinator(parseEvent(coordinatorEventSchema, event, 'coordinator'), environmentClients());
}
