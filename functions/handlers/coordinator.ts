// The coordinator Lambda handler: starts every worker of one stage of a run and waits for all of
// them. Flat: one asynchronous Invoke per worker. Tree (FSD-Inference's hierarchical launch): it
// invokes the b roots, and each worker invokes its own children before it starts working
// (functions/handlers/worker.ts), so P workers start in `levels` rounds of b calls.
// Workers report through status objects (plan storage.status); the coordinator looks at the
// stage attempt's status prefix with one ListObjectsV2 per poll, reads each new status once,
// fails on a worker's failure (naming worker, layer and cause) or at its deadline (naming the
// workers that never reported), and otherwise returns every worker's result.
//
// Which failure it names: one fault makes every worker that waits on it give up, each at its own
// receive deadline, and a worker one layer downstream of the fault may give up first, naming as
// missing a peer that was itself stuck. So a failure of a receive past its deadline
// (ChannelTimeoutError) is not reported at once: the coordinator keeps collecting statuses until
// every worker has reported, or for one receive timeout more (by then every worker that was
// already waiting on the fault has given up), and names the failure in the earliest layer
// (then the lowest worker): the receiver of a lost message, or the peers of a crashed worker,
// which name the source really missing. Any other failure is a cause in itself and is reported
// at once. The message also lists the other failures and the workers that sent no status.

import { ChannelTimeoutError, RunFailedError } from '../../model/errors.ts';
import { launchTreeChildren } from '../../planner/launch-tree.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { environmentClients, type AwsClients } from './clients.ts';
import { coordinatorEventSchema, parseEvent, type CoordinatorEvent, type CoordinatorResult, type StageRun, type WorkerFailure } from './events.ts';
import { logger, logRun } from './log.ts';
import { readStatus, statusPrefix, statusWorker } from './status.ts';
import { invokeWorker } from './worker.ts';

/** The workers the coordinator itself invokes, with their tree depth. */
export function coordinatorLaunches(sr: StageRun): { worker: number; depth: number }[] {
  if (sr.launch.kind === 'tree') return launchTreeChildren(sr.launch, null, 0);
  return Array.from({ length: sr.workers }, (_, worker) => ({ worker, depth: 1 }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const RECEIVE_TIMEOUT_ERROR = ChannelTimeoutError.name;

/** The failure a stage's failures are reported by: any failure not caused by waiting first, else the earliest layer, then the lowest worker. */
export function causeOf(failures: readonly WorkerFailure[]): WorkerFailure {
  const rank = (f: WorkerFailure) => [f.errorType === RECEIVE_TIMEOUT_ERROR ? 1 : 0, f.layer ?? 0, f.worker];
  return [...failures].sort((a, b) => {
    const ra = rank(a), rb = rank(b);
    return ra[0] - rb[0] || ra[1] - rb[1] || ra[2] - rb[2];
  })[0];
}

/** The error of a failed stage: its cause in full, then the other failures and the workers without a status. */
export function stageFailedError(sr: StageRun, failures: readonly WorkerFailure[], silent: readonly number[]): RunFailedError {
  const cause = causeOf(failures);
  const others = failures.filter((f) => f !== cause).sort((a, b) => (a.layer ?? 0) - (b.layer ?? 0) || a.worker - b.worker)
    .map((f) => `worker ${f.worker}${f.layer !== null ? ` in layer ${f.layer}` : ''}`);
  return new RunFailedError(
    `run ${sr.runId} stage ${sr.stage} (layers ${sr.firstLayer}-${sr.lastLayer}, attempt ${sr.attempt}): worker ${cause.worker} failed${cause.layer !== null ? ` in layer ${cause.layer}` : ''}: ${cause.errorType}: ${cause.errorMessage}`
      + (others.length > 0 ? `; also failed: ${others.join(', ')}` : '')
      + (silent.length > 0 ? `; no status from worker${silent.length > 1 ? 's' : ''} ${silent.join(', ')}` : ''),
    { worker: cause.worker, ...(cause.layer !== null ? { layer: cause.layer } : {}) },
  );
}

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
  const failures = new Map<number, WorkerFailure>();
  const deadline = startMs + event.waitTimeoutSeconds * 1000;
  /** Set at the first failure: when the coordinator stops collecting and reports. */
  let reportBy = Infinity;
  const silent = () => Array.from({ length: sr.workers }, (_, w) => w).filter((w) => !results.has(w) && !failures.has(w));
  for (;;) {
    for (const key of await store.list(prefix)) {
      const worker = statusWorker(key);
      if (results.has(worker) || failures.has(worker)) continue;
      const status = await readStatus(store, key);
      if (status.ok) {
        results.set(status.worker, { worker: status.worker, startMs: status.startMs, endMs: status.endMs, statusKey: key });
        continue;
      }
      failures.set(status.worker, status);
      reportBy = status.errorType === RECEIVE_TIMEOUT_ERROR ? Math.min(reportBy, Date.now() + sr.receiveTimeoutSeconds * 1000) : 0;
    }
    const now = Date.now();
    if (failures.size > 0 && (now >= reportBy || now >= deadline || silent().length === 0)) {
      throw stageFailedError(sr, [...failures.values()], silent());
    }
    if (results.size === sr.workers) break;
    if (now >= deadline) {
      const missing = silent();
      throw new RunFailedError(
        `run ${sr.runId} stage ${sr.stage} (layers ${sr.firstLayer}-${sr.lastLayer}, attempt ${sr.attempt}): ${missing.length} of ${sr.workers} workers did not report within ${event.waitTimeoutSeconds} s: workers ${missing.join(', ')}`,
      );
    }
    await sleep(Math.min(event.pollSeconds * 1000, Math.max(0, Math.min(deadline, reportBy) - Date.now())));
  }
  const workers = [...results.values()].sort((a, b) => a.worker - b.worker);
  logger.info('stage done', { ms: Date.now() - startMs, lists: store.lists });
  return { runId: sr.runId, attempt: sr.attempt, stage: sr.stage, startMs, endMs: Date.now(), invokes: launches.length, lists: store.lists, workers };
}

/** The Lambda entry point. */
export async function handler(event: unknown): Promise<CoordinatorResult> {
  return runCoordinator(parseEvent(coordinatorEventSchema, event, 'coordinator'), environmentClients());
}
