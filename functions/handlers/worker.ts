// The worker Lambda handler: one worker of one stage of a run. It starts its children first when
// it is an inner node of FSD's launch tree, loads its shard (cached across warm invocations,
// checksum and identity verified), reads the rows its first layer needs from S3, runs the stage's
// layers (functions/worker/run-stage.ts) exchanging rows over the stage's channel, writes its rows
// for the next stage (or its final rows), and reports: its result, or its failure, as the status
// object its launcher waits for, and as the invocation's return value.

import { InvokeCommand } from '@aws-sdk/client-lambda';
import { EventFormatError, StepinferError } from '../../model/errors.ts';
import { decodeShard, type Shard } from '../../model/shard.ts';
import { DEFAULT_INPUTS, expandKey, stagedInputsKey } from '../../planner/plan/names.ts';
import { launchTreeChildren } from '../../planner/launch-tree.ts';
import { exchangeRunKey } from '../../planner/object-exchange.ts';
import { laterAttemptRuns, openChannel, SEND_MODE, wireCodecOf, wireRunNumber } from '../channels/open-channel.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { decodeSlice, encodeSlice } from '../storage/slice-codec.ts';
import type { ActivationSlice } from '../worker/activation-slice.ts';
import { runStage } from '../worker/run-stage.ts';
import { ShardWorker, type IncomingSlice } from '../worker/shard-worker.ts';
import { environmentClients, type AwsClients } from './clients.ts';
import { parseEvent, workerEventSchema, type StageRun, type WorkerEvent, type WorkerFailure, type WorkerResult } from './events.ts';
import { logger, logRun } from './log.ts';
import { writeGathered } from './gather.ts';
import { statusKey } from './status.ts';
import { removeRunIntermediates } from './cleanup.ts';

/** What the Lambda runtime passes that the worker uses (a test may pass none). */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/** Time kept before the function's own timeout to report a failure instead of being killed silently. */
const REPORT_MARGIN_MS = 2000;

/** The execution environment's shard and prepared worker: one at a time (an environment may serve another worker next). */
let cached: { key: string; shard: Shard; worker: ShardWorker } | null = null;

async function loadWorker(store: ObjectStore, sr: StageRun, worker: number): Promise<{ worker: ShardWorker; fromCache: boolean }> {
  const kernelKey = `${sr.kernel.gatherEngine}/${sr.kernel.gatherAboveDensity}/${sr.kernel.threads}`;
  const key = `${sr.planId}/${worker}/${kernelKey}`;
  if (cached?.key === key) return { worker: cached.worker, fromCache: true };
  cached?.worker.close();
  cached = null;
  const shardKey = expandKey(sr.storage.shards.keyPattern, { worker });
  const bytes = await store.get(shardKey, `the shard of worker ${worker}`, { worker });
  // Verifies the CRC and that it is this plan's shard of this worker.
  const shard = decodeShard(bytes, store.where(shardKey), { planId: sr.planId, worker, workers: sr.workers });
  const w = new ShardWorker(shard, { gatherAboveDensity: sr.kernel.gatherAboveDensity, gatherEngine: sr.kernel.gatherEngine, threads: sr.kernel.threads });
  cached = { key, shard, worker: w };
  return { worker: w, fromCache: false };
}

/** The key of the rows `source` hands `target` before stage `stage` > 0 (stage 0 reads staged inputs: stagedInputsKey). */
export function handoffKey(sr: Pick<StageRun, 'runId' | 'storage'>, stage: number, target: number, source: number): string {
  return expandKey(sr.storage.handoff, { execution: sr.runId, stage, target, source });
}

/** The key of the rows `source` hands `target` at the start of the worker's stage: staged inputs (stage 0) or a hand-off. */
function stageInputKey(sr: StageRun, target: number, source: number): string {
  // The schema makes `inputs` non-null exactly in stage 0.
  return sr.inputs !== null ? stagedInputsKey(sr.storage, sr.inputs, target, source) : handoffKey(sr, sr.stage, target, source);
}

async function loadStageInput(store: ObjectStore, sr: StageRun, w: ShardWorker): Promise<{ own: ActivationSlice; received: IncomingSlice[] }> {
  const me = w.shard.worker;
  const read = async (source: number) => {
    const key = stageInputKey(sr, me, source);
    const what = sr.inputs !== null
      ? `input rows from worker ${source} of the staged inputs "${sr.inputs}"${sr.inputs === DEFAULT_INPUTS ? " (the plan's default inputs: stepinfer shards upload stages them)" : ''}`
      : `rows of layer ${sr.firstLayer - 1} from worker ${source}`;
    return decodeSlice(await store.get(key, what, { worker: me, layer: sr.firstLayer }), store.where(key));
  };
  const sources = w.sources(sr.firstLayer);
  const [own, ...slices] = await Promise.all([read(me), ...sources.map(read)]);
  return { own, received: slices.map((slice, i) => ({ source: sources[i], slice })) };
}

/** Writes this worker's rows of the stage's last layer: for each reader of the next stage's first layer, or as final rows. */
async function writeStageOutput(store: ObjectStore, sr: StageRun, w: ShardWorker, own: ActivationSlice, topScores: number): Promise<string[]> {
  const me = w.shard.worker;
  if (sr.stage === sr.stages - 1) {
    if (sr.workers === 1) {
      // One worker gathers its own rows: the plan has no gather function then.
      const gathered = await writeGathered(store, {
        runId: sr.runId, planId: sr.planId, bucket: sr.bucket, storage: sr.storage, workers: 1, samples: sr.samples, neurons: w.shard.neurons, topScores, exchangeBuckets: [],
      }, [own], Date.now());
      return [gathered.resultKey, gathered.categoriesKey];
    }
    const key = expandKey(sr.storage.outputs, { execution: sr.runId, worker: me });
    await store.put(key, encodeSlice(own));
    return [key];
  }
  const next = sr.lastLayer + 1;
  const writes = [{ target: me, slice: own }, ...w.outgoing(next, own)];
  const keys = writes.map((x) => handoffKey(sr, sr.stage + 1, x.target, me));
  await Promise.all(writes.map((x, i) => store.put(keys[i], encodeSlice(x.slice))));
  return keys;
}

/** Starts this worker's children in the launch tree (Event invocations: they run on their own). */
async function launchChildren(event: WorkerEvent, clients: AwsClients): Promise<number[]> {
  const sr = event.stageRun;
  if (sr.launch.kind !== 'tree' || event.depth === 0) return [];
  const children = launchTreeChildren(sr.launch, event.worker, event.depth);
  await Promise.all(children.map((c) => invokeWorker(clients, { stageRun: sr, worker: c.worker, depth: c.depth })));
  return children.map((c) => c.worker);
}

/** One asynchronous worker invocation; Lambda answers 202 once it has queued the event. */
export async function invokeWorker(clients: AwsClients, event: WorkerEvent): Promise<void> {
  const out = await clients.lambda.send(new InvokeCommand({
    FunctionName: event.stageRun.workerFunction, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(event)),
  }));
  if (out.StatusCode !== 202) {
    throw new StepinferError(`invoking worker ${event.worker} of run ${event.stageRun.runId} returned status ${out.StatusCode}`, { worker: event.worker });
  }
}

export async function runWorker(event: WorkerEvent, clients: AwsClients, context?: InvocationContext): Promise<WorkerResult> {
  const sr = event.stageRun, me = event.worker;
  const startMs = Date.now();
  logRun({ role: 'worker', runId: sr.runId, attempt: sr.attempt, stage: sr.stage, worker: me });
  if (me >= sr.workers) throw new EventFormatError(`worker ${me} of a stage of ${sr.workers} workers`, { field: 'worker' });
  const store = new ObjectStore(clients.s3, sr.bucket);
  let layer: number | null = null;
  try {
    const launched = await launchChildren(event, clients);
    const { worker, fromCache } = await loadWorker(store, sr, me);
    const samples = sr.samples;
    const input = await loadStageInput(store, sr, worker);
    if (input.own.rows.rows !== samples) {
      const rows = sr.inputs !== null ? `the staged inputs "${sr.inputs}" hold` : 'the handed-over rows hold';
      throw new StepinferError(`${rows} ${input.own.rows.rows} samples, the execution input says ${samples}`, { worker: me, layer: sr.firstLayer });
    }
    const channel = openChannel({
      address: sr.channel, run: wireRunNumber(sr.runId, sr.stage, sr.attempt), supersedingRuns: laterAttemptRuns(sr.runId, sr.stage, sr.attempt),
      runKey: exchangeRunKey(sr.runId, sr.attempt),
      worker: me, samples, codec: wireCodecOf(sr.wire), clients,
    });
    layer = sr.firstLayer;
    const lambdaDeadline = context ? Date.now() + context.getRemainingTimeInMillis() - REPORT_MARGIN_MS : Infinity;
    const outcome = await runStage({
      worker, firstLayer: sr.firstLayer, lastLayer: sr.lastLayer, channel, sendMode: SEND_MODE,
      own: input.own, received: input.received,
      receiveDeadline: () => Math.min(Date.now() + sr.receiveTimeoutSeconds * 1000, lambdaDeadline),
      onLayer: (l) => {
        layer = l.layer + 1;
        logger.info('layer done', { layer: l.layer, computeMs: l.computeMs, sendMs: l.sendMs, waitMs: l.waitMs, publishedBytes: l.counters.publishedBytes });
      },
    });
    layer = null;
    const outputKeys = await writeStageOutput(store, sr, worker, outcome.own, sr.topScores);
    // A one-worker run has no gather to clean up after it: it removes its own inputs and hand-offs
    // (its result, categories and the status it writes next stay).
    if (sr.workers === 1 && sr.stage === sr.stages - 1) await removeRunIntermediates(clients.s3, sr.bucket, sr.storage, sr.runId, []);
    const result: WorkerResult = {
      runId: sr.runId, attempt: sr.attempt, stage: sr.stage, worker: me, ok: true, shardCached: fromCache,
      startMs, endMs: Date.now(), launched, layers: outcome.layers, storage: { ...store.counters }, outputKeys,
      heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20,
    };
    await store.put(statusKey(sr, me), JSON.stringify(result));
    logger.info('stage done', { layers: outcome.layers.length, ms: result.endMs - startMs });
    return result;
  } catch (error) {
    const failure: WorkerFailure = {
      runId: sr.runId, attempt: sr.attempt, stage: sr.stage, worker: me, ok: false,
      errorType: error instanceof Error ? error.name : 'Error',
      errorMessage: error instanceof Error ? error.message : String(error),
      layer: layer ?? (error instanceof StepinferError ? error.place.layer ?? null : null),
      endMs: Date.now(),
    };
    logger.error('worker failed', { layer: failure.layer ?? undefined, error: failure.errorMessage });
    // Best effort: the launcher otherwise learns of the failure at its deadline.
    await store.put(statusKey(sr, me), JSON.stringify(failure)).catch(() => undefined);
    throw error;
  }
}

/** The Lambda entry point. */
export async function handler(event: unknown, context?: InvocationContext): Promise<WorkerResult> {
  return runWorker(parseEvent(workerEventSchema, event, 'worker'), environmentClients(), context);
}
