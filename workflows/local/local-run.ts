// What every local run shares, whoever drives its stages (distributed-run.ts: the coordinator
// function stage by stage; state-machine-run.ts: the plan's generated workflow in
// aws-local-stepfunctions). Setup: the model checked against the plan, the local cloud started,
// the plan's shards deployed and the run's input rows staged. Finish: the gathered result and
// categories read back, the check that the run left no intermediates behind, and the workers'
// statuses of a stage read before the gather removes them. The result of either driver has one
// shape (LocalRunResult), so counters, cost and the run record are computed the same way.

import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { networkChecksum } from '../../model/checksum.ts';
import { RunFailedError, ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { buildShards, encodeShard, type Shard } from '../../model/shard.ts';
import { DEFAULT_INPUTS, expandKey, stagedInputsKey } from '../../planner/plan/names.ts';
import { planNeuronMaps, type Plan } from '../../planner/plan/schema.ts';
import {
  categoriesObjectSchema, parseEvent, type CoordinatorResult, type GatherResult, type WorkerResult,
} from '../../functions/handlers/events.ts';
import { readStatus } from '../../functions/handlers/status.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { decodeSlice, encodeSlice } from '../../functions/storage/slice-codec.ts';
import { stageInputSlices } from '../../functions/worker/activation-slice.ts';
import type { Invocation } from './lambda-host.ts';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from './local-cloud.ts';

/** A shard as buildShards cuts it (before encoding gives it its size and checksum). */
type BuiltShard = Omit<Shard, 'formatVersion' | 'bytes' | 'checksum'>;

/** One stage as it ended: the attempt that succeeded, its launcher's result and every worker's full result. */
export interface StageOutcome {
  /** The coordinator's result when a coordinator launched the stage (launch tree, or the stage-by-stage driver); null for a Map or Task of the workflow. */
  readonly coordinator: CoordinatorResult | null;
  readonly workers: WorkerResult[];
}

/** What the run's Step Functions execution did, as it is billed (null when no workflow ran). */
export interface StepFunctionsUsage {
  readonly type: Plan['workflow']['type'];
  /** State transitions of the execution (retries included): what a Standard workflow bills. */
  readonly transitions: number;
  /** Child executions of distributed Maps (Express), and the states they entered. */
  readonly childExecutions: number;
  readonly childTransitions: number;
  /** The execution's duration (an Express workflow bills it), and each child execution's. */
  readonly executionMs: number;
  readonly childExecutionMs: readonly number[];
}

export interface LocalRunResult {
  readonly runId: string;
  readonly categories: number[];
  /** The gathered final rows (all N columns). */
  readonly activations: SparseRows;
  readonly stages: StageOutcome[];
  /** Null for one worker (it writes its result itself). */
  readonly gather: GatherResult | null;
  /** Wall times, ms: setting up (emulators, resources, shards, inputs), the stages, gathering (and cleaning up). */
  readonly phasesMs: { readonly setup: number; readonly stages: number[]; readonly gather: number; readonly total: number };
  /** S3 requests of the client (staging inputs, reading the result, cleaning up), beside what workers report; shard uploads and default inputs (once per plan) excluded. */
  readonly clientStorage: { readonly puts: number; readonly gets: number; readonly lists: number; readonly deletes: number };
  readonly lambdaInvocations: number;
  /** Every invocation the local Lambda host ran (cold or warm, its times and outcome). */
  readonly invocations: readonly Invocation[];
  readonly stepFunctions: StepFunctionsUsage | null;
}

/** A run id for the execution-name placeholder: time-ordered, unique enough on one machine. */
export function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 17)}-${Math.floor(Math.random() * 1e6).toString().padStart(6, '0')}`;
}

/**
 * Refuses a model that is not the plan's, naming both checksums: the shards would be cut from the
 * wrong weights. `model` says which model it is ("at m.sdnn", "(real GraphChallenge ...)").
 */
export function assertPlanModel(plan: Plan, network: SparseNetwork, model?: string, planFile?: string): string {
  const checksum = networkChecksum(network);
  if (checksum !== plan.model.checksum.value) {
    throw new ShapeMismatchError(
      `the model${model ? ` ${model}` : ''} is not plan ${plan.planId}'s model (checksum ${checksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`,
      { ...(planFile !== undefined ? { file: planFile } : {}), field: 'model.checksum' },
    );
  }
  return checksum;
}

/** Uploads the plan's shards to its bucket under storage.shards (local runs, and `stepinfer shards upload` on AWS). */
export async function uploadShards(store: ObjectStore, plan: Plan, shards: readonly BuiltShard[]): Promise<void> {
  await Promise.all(shards.map((shard, worker) => store.put(expandKey(plan.storage.shards.keyPattern, { worker }), encodeShard(shard))));
}

/** Stages input rows as the staged inputs `name` names: each worker's rows, and the rows others read of them in layer 1. */
async function stageInputs(store: ObjectStore, plan: Plan, name: string, shards: readonly BuiltShard[], inputs: SparseRows): Promise<void> {
  await Promise.all(shards.flatMap((shard) => stageInputSlices(inputs, shard, shard.layers[0])
    .map((x) => store.put(stagedInputsKey(plan.storage, name, x.target, shard.worker), encodeSlice(x.slice)))));
}

/**
 * Stages a run's own input rows under storage.inputs (local runs, and `stepinfer start --inputs`
 * on AWS); the execution input then names them (`inputs`: the run id). The run's clean-up removes
 * them with its other intermediates.
 */
export async function stageRunInputs(store: ObjectStore, plan: Plan, runId: string, shards: readonly BuiltShard[], inputs: SparseRows): Promise<void> {
  if (runId === DEFAULT_INPUTS) throw new UsageError(`a run cannot be named "${DEFAULT_INPUTS}": the execution input's inputs "${DEFAULT_INPUTS}" names the plan's default inputs`, { field: 'run-id' });
  await stageInputs(store, plan, runId, shards, inputs);
}

/**
 * Stages the plan's default inputs under storage.defaultInputs: what an execution started with
 * `{}` reads (`stepinfer shards upload` on AWS, and local runs of the default inputs). They must
 * hold the plan's inputRows, the rows `{}` runs. No run's clean-up removes them.
 */
export async function stageDefaultInputs(store: ObjectStore, plan: Plan, shards: readonly BuiltShard[], inputs: SparseRows): Promise<void> {
  assertDefaultInputs(plan, inputs);
  await stageInputs(store, plan, DEFAULT_INPUTS, shards, inputs);
}

/** Refuses default inputs that are not the plan's inputRows rows (`what` says which they are). */
export function assertDefaultInputs(plan: Plan, inputs: SparseRows, what = 'these inputs', planFile?: string): void {
  if (inputs.rows !== plan.inputRows || inputs.columns !== plan.model.neurons) {
    throw new ShapeMismatchError(
      `the default inputs must be the ${plan.inputRows} input rows of ${plan.model.neurons} neurons plan ${plan.planId} was made with (inputRows), ${what} are ${inputs.rows} rows of ${inputs.columns}`,
      { ...(planFile !== undefined ? { file: planFile } : {}), field: 'inputRows' },
    );
  }
}

/** A run whose cloud is up, shards deployed and inputs staged. */
export interface PreparedRun {
  readonly runId: string;
  /** The staged inputs the run reads: its run id, or DEFAULT_INPUTS. */
  readonly inputs: string;
  readonly cloud: LocalCloud;
  /** Whether this run started the cloud (and stops it), or runs on one it was given. */
  readonly ownsCloud: boolean;
  /** Invocations the host had served before this run (a warm cloud's earlier runs). */
  readonly invocationsBefore: number;
  /** The client's own requests to the plan's bucket (staging, result, listing), counted. */
  readonly store: ObjectStore;
  readonly startMs: number;
  readonly setupMs: number;
}

export interface PrepareOptions extends LocalCloudOptions {
  readonly runId?: string;
  /**
   * Where the run's input rows are staged: 'run' (default) under its run id, the rows it reads
   * itself and removes at its end; 'default' as the plan's default inputs, by the code `stepinfer
   * shards upload` stages them with (they must be the plan's inputRows rows), which the run reads
   * as an execution started with `{}` does.
   */
  readonly inputsAs?: 'run' | 'default';
  /** Reports what the run is doing. */
  readonly onPhase?: (phase: string) => void;
  /**
   * Runs on this local cloud, started for the same plan, and leaves it running (warm threads and
   * cached shards serve the next run, as warm Lambda environments would); its own options apply,
   * not this call's LocalCloudOptions. Default: a cloud started for this run and stopped after it.
   */
  readonly cloud?: LocalCloud;
}

/**
 * Checks the inputs and model against the plan, starts the local cloud, uploads the shards and
 * stages the inputs (the run's own, or the plan's default: `inputsAs`): each worker's rows, and the
 * rows others read of them in layer 1. The cloud is stopped again if any of it fails.
 */
export async function prepareLocalRun(plan: Plan, network: SparseNetwork, inputs: SparseRows, o: PrepareOptions = {}): Promise<PreparedRun> {
  const startMs = Date.now();
  if (inputs.columns !== plan.model.neurons) throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the plan's model ${plan.model.neurons} neurons`);
  const modelChecksum = assertPlanModel(plan, network);
  const runId = o.runId ?? newRunId();
  if (o.cloud && o.cloud.plan.planId !== plan.planId) throw new ShapeMismatchError(`the local cloud was started for plan ${o.cloud.plan.planId}, not for plan ${plan.planId}`);
  if (!o.cloud) o.onPhase?.('starting the local cloud');
  const cloud = o.cloud ?? await startLocalCloud(plan, o);
  const invocationsBefore = cloud.host.invocations.length;
  try {
    const { clients, resources } = cloud;
    o.onPhase?.('uploading shards and inputs');
    const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
    // Shards are deployed once per plan, not per run: uploaded apart from the run's own requests.
    await uploadShards(new ObjectStore(clients.s3, resources.bucket), plan, shards);
    const store = new ObjectStore(clients.s3, resources.bucket);
    // The default inputs are staged once per plan, as the shards are: apart from the run's own requests.
    if (o.inputsAs === 'default') await stageDefaultInputs(new ObjectStore(clients.s3, resources.bucket), plan, shards, inputs);
    else await stageRunInputs(store, plan, runId, shards, inputs);
    const staged = o.inputsAs === 'default' ? DEFAULT_INPUTS : runId;
    return { runId, inputs: staged, cloud, ownsCloud: !o.cloud, invocationsBefore, store, startMs, setupMs: Date.now() - startMs };
  } catch (error) {
    if (!o.cloud) await cloud.stop();
    throw error;
  }
}

/**
 * Every worker's full result of a stage a coordinator launched, read from the statuses it
 * reported before the gather removes them with the run's other intermediates. Read apart from the
 * run's own requests: the coordinator read them already.
 */
export async function readWorkerResults(cloud: LocalCloud, runId: string, coordinator: CoordinatorResult): Promise<WorkerResult[]> {
  const statusStore = new ObjectStore(cloud.clients.s3, cloud.resources.bucket);
  return Promise.all(coordinator.workers.map(async (w) => {
    const status = await readStatus(statusStore, w.statusKey);
    if (!status.ok) throw new RunFailedError(`run ${runId}: worker ${w.worker} reported success to its coordinator but its status is a failure`);
    return status;
  }));
}

/** The gathered result and categories of a finished run, read from S3. */
export async function readRunResult(run: PreparedRun, plan: Plan): Promise<{ activations: SparseRows; categories: number[] }> {
  const { store, runId } = run;
  const resultKey = expandKey(plan.storage.result, { execution: runId });
  const categoriesKey = expandKey(plan.storage.categories, { execution: runId });
  const activations = decodeSlice(await store.get(resultKey, 'the gathered result'), store.where(resultKey)).rows;
  const categoriesText = Buffer.from(await store.get(categoriesKey, 'the gathered categories')).toString('utf8');
  const categories = parseEvent(categoriesObjectSchema, JSON.parse(categoriesText), categoriesKey).categories;
  return { activations, categories };
}

/**
 * Fails a run that left intermediates behind (staged inputs, hand-offs, final rows): the gather
 * removes them, and a one-worker run's stage function does. Statuses are not counted: a worker of
 * a failed attempt may still report after the clean-up, on AWS as here.
 */
export async function assertNoIntermediates(run: PreparedRun, plan: Plan): Promise<void> {
  const { store, runId } = run;
  const resultKey = expandKey(plan.storage.result, { execution: runId });
  const categoriesKey = expandKey(plan.storage.categories, { execution: runId });
  const leftover = (await store.list(resultKey.replace(/[^/]*$/, ''))).filter((k) => !k.includes('/status/') && k !== resultKey && k !== categoriesKey);
  if (leftover.length > 0) throw new RunFailedError(`run ${runId} left ${leftover.length} intermediate objects behind (${leftover.slice(0, 3).join(', ')})`);
}

/** The client's requests of the run (staging, reading the result, listing). */
export function clientStorageOf(run: PreparedRun): LocalRunResult['clientStorage'] {
  const { store } = run;
  return { puts: store.counters.puts, gets: store.counters.gets, lists: store.lists, deletes: store.deletes };
}
