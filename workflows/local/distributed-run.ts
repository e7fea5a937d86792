// A distributed inference on the local cloud (local-cloud.ts), stage by stage, without Step
// Functions: what `stepinfer infer --workers P` runs. The plan's shards are built and uploaded,
// the inputs staged (each worker's rows, and the rows others read of them in layer 1), every
// stage started by the coordinator (flat, or FSD's launch tree) and waited for, the final rows
// gathered by the gather function, and the run's intermediates removed. The result is read back
// from S3; the workers' statuses give the per-layer timeline and counters.

import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { networkChecksum } from '../../model/checksum.ts';
import { RunFailedError, ShapeMismatchError } from '../../model/errors.ts';
import { buildShards, encodeShard } from '../../model/shard.ts';
import { expandKey } from '../../planner/plan/names.ts';
import { planNeuronMaps, type Plan } from '../../planner/plan/schema.ts';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { AwsClients } from '../../functions/handlers/clients.ts';
import {
  categoriesObjectSchema, coordinatorResultSchema, gatherResultSchema, parseEvent,
  type CoordinatorEvent, type CoordinatorResult, type GatherEvent, type GatherResult, type WorkerResult,
} from '../../functions/handlers/events.ts';
import { stageRunsOf, type StageRunOptions } from '../../functions/handlers/stage-run.ts';
import { stageInputKey } from '../../functions/handlers/worker.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { readStatus } from '../../functions/handlers/status.ts';
import { decodeSlice, encodeSlice } from '../../functions/storage/slice-codec.ts';
import { stageInputSlices } from '../../functions/worker/activation-slice.ts';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from './local-cloud.ts';

export interface DistributedRunOptions extends LocalCloudOptions {
  readonly runId?: string;
  readonly receiveTimeoutSeconds?: StageRunOptions['receiveTimeoutSeconds'];
  readonly launch?: StageRunOptions['launch'];
  readonly topScores?: number;
  /** Seconds between two looks at a stage's statuses (default 0.2: locally a LIST costs nothing). */
  readonly pollSeconds?: number;
  /** Reports what the run is doing. */
  readonly onPhase?: (phase: string) => void;
  /**
   * Runs on this local cloud, started for the same plan, and leaves it running (warm threads and
   * cached shards serve the next run, as warm Lambda environments would); its own options apply,
   * not this call's LocalCloudOptions. Default: a cloud started for this run and stopped after it.
   */
  readonly cloud?: LocalCloud;
}

/** One stage as its coordinator saw it, with every worker's full result read from its status. */
export interface StageOutcome {
  readonly coordinator: CoordinatorResult;
  readonly workers: WorkerResult[];
}

export interface DistributedRunResult {
  readonly runId: string;
  readonly categories: number[];
  /** The gathered final rows (all N columns). */
  readonly activations: SparseRows;
  readonly stages: StageOutcome[];
  /** Null for one worker (it writes its result itself). */
  readonly gather: GatherResult | null;
  /** Wall times, ms: setting up (emulators, resources, shards, inputs), the stages, gathering (and cleaning up). */
  readonly phasesMs: { readonly setup: number; readonly stages: number[]; readonly gather: number; readonly total: number };
  /** S3 requests of the client (staging inputs, reading the result, cleaning up), beside what workers report; shard uploads (once per plan) excluded. */
  readonly clientStorage: { readonly puts: number; readonly gets: number; readonly lists: number; readonly deletes: number };
  readonly lambdaInvocations: number;
}

/** A run id for the execution-name placeholder: time-ordered, unique enough on one machine. */
export function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17)}-${Math.floor(Math.random() * 1e6).toString().padStart(6, '0')}`;
}

export async function runDistributedLocally(plan: Plan, network: SparseNetwork, inputs: SparseRows, o: DistributedRunOptions = {}): Promise<DistributedRunResult> {
  const t0 = Date.now();
  if (inputs.columns !== plan.model.neurons) throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the plan's model ${plan.model.neurons} neurons`);
  const modelChecksum = networkChecksum(network);
  if (modelChecksum !== plan.model.checksum.value) throw new ShapeMismatchError(`the model is not the plan's (checksum ${modelChecksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`);
  const runId = o.runId ?? newRunId();
  if (o.cloud && o.cloud.plan.planId !== plan.planId) throw new ShapeMismatchError(`the local cloud was started for plan ${o.cloud.plan.planId}, not for plan ${plan.planId}`);
  if (!o.cloud) o.onPhase?.('starting the local cloud');
  const cloud = o.cloud ?? await startLocalCloud(plan, o);
  const invocationsBefore = cloud.host.invocations.length;
  try {
    const { clients, resources } = cloud;
    const store = new ObjectStore(clients.s3, resources.bucket);

    o.onPhase?.('uploading shards and inputs');
    const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
    // Shards are deployed once per plan, not per run: uploaded apart from the run's own requests.
    const shardStore = new ObjectStore(clients.s3, resources.bucket);
    await Promise.all(shards.map((shard, worker) => shardStore.put(expandKey(plan.storage.shards.keyPattern, { worker }), encodeShard(shard))));
    const storage = { runId, storage: plan.storage };
    await Promise.all(shards.flatMap((shard) => stageInputSlices(inputs, shard, shard.layers[0])
      .map((x) => store.put(stageInputKey(storage, 0, x.target, shard.worker), encodeSlice(x.slice)))));
    const setupMs = Date.now() - t0;

    // The statuses are read apart from the run's own requests (the coordinator read them already).
    const statusStore = new ObjectStore(clients.s3, resources.bucket);
    const stageRuns = stageRunsOf(plan, resources, { runId, samples: inputs.rows, receiveTimeoutSeconds: o.receiveTimeoutSeconds, launch: o.launch, topScores: o.topScores });
    const stages: StageOutcome[] = [];
    const stageMs: number[] = [];
    for (const [i, sr] of stageRuns.entries()) {
      o.onPhase?.(`layers ${sr.firstLayer}-${sr.lastLayer} on ${sr.workers} worker${sr.workers > 1 ? 's' : ''}`);
      const start = Date.now();
      const task = plan.workflow.stages[i].task;
      const event: CoordinatorEvent = { stageRun: sr, waitTimeoutSeconds: Math.ceil(task.timeoutSeconds * cloud.timeoutScale), pollSeconds: o.pollSeconds ?? 0.2 };
      const coordinator = parseEvent(coordinatorResultSchema, await invokeFunction(clients, cloud.coordinatorName, event, `run ${runId}: stage ${i} (layers ${sr.firstLayer}-${sr.lastLayer})`), 'coordinator result');
      // Read before the gather removes them with the run's other intermediates.
      const workers = await Promise.all(coordinator.workers.map(async (w) => {
        const status = await readStatus(statusStore, w.statusKey);
        if (!status.ok) throw new RunFailedError(`run ${runId}: worker ${w.worker} reported success to its coordinator but its status is a failure`);
        return status;
      }));
      stages.push({ coordinator, workers });
      stageMs.push(Date.now() - start);
    }

    o.onPhase?.('gathering');
    const gatherStart = Date.now();
    let gather: GatherResult | null = null;
    if (plan.workflow.gather) {
      const event: GatherEvent = {
        runId, planId: plan.planId, bucket: resources.bucket, storage: plan.storage, workers: plan.workers,
        samples: inputs.rows, neurons: plan.model.neurons, topScores: o.topScores ?? 0, exchangeBuckets: [...resources.exchangeBuckets],
      };
      const name = resources.functionNames[plan.workflow.gather.functionId];
      gather = parseEvent(gatherResultSchema, await invokeFunction(clients, name, event, `run ${runId}: gather`), 'gather result');
    }
    const resultKey = expandKey(plan.storage.result, { execution: runId });
    const categoriesKey = expandKey(plan.storage.categories, { execution: runId });
    const activations = decodeSlice(await store.get(resultKey, 'the gathered result'), store.where(resultKey)).rows;
    const categoriesText = Buffer.from(await store.get(categoriesKey, 'the gathered categories')).toString('utf8');
    const categories = parseEvent(categoriesObjectSchema, JSON.parse(categoriesText), categoriesKey).categories;
    const gatherMs = Date.now() - gatherStart;

    // The gather removed the run's intermediates; a one-worker run's stage function did.
    const leftover = (await store.list(expandKey(plan.storage.result, { execution: runId }).replace(/[^/]*$/, ''))).filter((k) => !k.includes('/status/') && k !== resultKey && k !== categoriesKey);
    if (leftover.length > 0) throw new RunFailedError(`run ${runId} left ${leftover.length} intermediate objects behind (${leftover.slice(0, 3).join(', ')})`);
    await cloud.host.drained();
    return {
      runId, categories, activations, stages, gather,
      phasesMs: { setup: setupMs, stages: stageMs, gather: gatherMs, total: Date.now() - t0 },
      clientStorage: { puts: store.counters.puts, gets: store.counters.gets, lists: store.lists, deletes: store.deletes },
      lambdaInvocations: cloud.host.invocations.length - invocationsBefore,
    };
  } finally {
    if (!o.cloud) await cloud.stop();
  }
}

/** A synchronous Invoke; a function error fails the run with the function's own error type and message. */
async function invokeFunction(clients: AwsClients, name: string, event: unknown, what: string): Promise<unknown> {
  const out = await clients.lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }));
  const payload: unknown = JSON.parse(Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8') || 'null');
  if (out.FunctionError) {
    const e = payload as { errorType?: string; errorMessage?: string };
    throw new RunFailedError(`${what} failed: ${e.errorType}: ${e.errorMessage}`);
  }
  return payload;
}
