// Turns a search result into the contract (plan.json) and its report (plan.report.json). The
// contract: the model and its checksum, the workflow's stages with their Task timeouts and
// retries, one Lambda function per role and memory size with timeout and reserved concurrency,
// the channel's settings (FSD-Inference's choices: 10 data topics, target filters, raw delivery,
// 10 per publish batch, 1 s long poll; the object channel's one object per layer and source,
// planner/object-exchange.ts), storage keys,
// the wire format and kernel options as given, and every resource name, derived from the plan id.
// The report: predictions with breakdowns, the alternatives, and the prices, calibration and
// constants used.

import { layerNonzeros, networkNonzeros, type SparseNetwork } from '../../model/network.ts';
import { networkChecksum, NETWORK_CHECKSUM_ALGORITHM } from '../../model/checksum.ts';
import { AWS_LIMITS, SQS_QUEUE_LIMITS } from '../aws-limits.ts';
import { launchTreeLabel } from '../launch-tree.ts';
import { EXCHANGE_FIRST_RANGE_BYTES, EXCHANGE_OBJECT_KEY_PATTERN, EXCHANGE_POLL_SECONDS } from '../object-exchange.ts';
import { PRICE_NAMES, priceValues, type PriceName } from '../cost/prices.ts';
import { countersToRecord } from '../cost/record.ts';
import { latencyConstantsFile, LATENCY_CONSTANT_NAMES, type LatencyConstantName } from '../latency/constants.ts';
import { amdahlSpeedup, type CalibrationProfile } from '../latency/profile.ts';
import { lambdaCpuSpeed, lambdaVcpus } from '../latency/model.ts';
import type { EstimateContext } from '../optimize/estimate.ts';
import type { Candidate, PlanSearchResult } from '../optimize/search.ts';
import { encodeNeuronMaps } from './neuron-maps.ts';
import { computePlanId, DEFAULT_STACK_PREFIX, planNames } from './names.ts';
import { PLAN_REPORT_FORMAT_VERSION, type PlanAlternative, type PlanReport } from './report.ts';
import {
  KERNEL_GATHER_ENGINES, PLAN_FORMAT_VERSION,
  type Plan, type PlanFunction, type PlanLaunch, type PlanRetry,
} from './schema.ts';
import { describeWireFormat, type WireFormat } from '../latency/wire-format.ts';
import { ATTRIBUTE_ALLOWANCE_BYTES, queueChunkBytes, TARGETS_ATTRIBUTE } from '../optimize/wire-traffic.ts';

export interface ModelReference {
  readonly source: 'graphchallenge-tsv' | 'sdnn' | 'generated';
  readonly path: string | null;
  readonly generate: { readonly neurons: number; readonly layers: number; readonly seed: number } | null;
}

export interface InputsReference {
  readonly source: 'tsv' | 'generated';
  readonly path: string | null;
  readonly samples: number;
  readonly seed: number | null;
  readonly density: number | null;
}

/** The wire format of activation rows (defined in functions/channels/; the planner only carries it). */
export interface WireOptions {
  readonly version: number;
  readonly compression: WireFormat['compression'];
  readonly compressionLevel: number | null;
}

/** The wire format the planner priced (planner/latency/wire-format.json), as the contract names it. */
export function wireOptionsOf(format: WireFormat): WireOptions {
  return { version: format.wireFormatVersion, compression: format.compression, compressionLevel: format.compressionLevel };
}

/** The layer kernel's options (functions/kernels/layer-kernel.ts), as the workers must run it. */
export interface KernelOptions {
  readonly gatherAboveDensity: number;
  readonly gatherEngine: (typeof KERNEL_GATHER_ENGINES)[number];
}

export interface BuildPlanInput {
  readonly network: SparseNetwork;
  readonly model: ModelReference;
  readonly inputs: InputsReference;
  readonly search: PlanSearchResult;
  readonly objective: 'cost' | 'latency';
  readonly sloSeconds?: number;
  readonly scheme: string;
  readonly seed: number;
  readonly calibration: CalibrationProfile;
  readonly calibrationPath: string | null;
  readonly version: string;
  readonly kernel: KernelOptions;
  /** Default: the wire format the search priced (search.context.wireFormat). */
  readonly wire?: WireOptions;
  /** First part of every resource name. Default DEFAULT_STACK_PREFIX. */
  readonly stackPrefix?: string;
}

export interface BuiltPlan {
  readonly plan: Plan;
  readonly report: PlanReport;
}

/** FSD-Inference's public code: 10 data topics, and objects spread over 10 buckets (here: by layer). */
const FSD_DATA_TOPICS = 10;
const FSD_EXCHANGE_BUCKETS = 10;

/** String attribute listing a message's targets (planner/optimize/wire-traffic.ts, where the traffic model prices it). */
export { TARGETS_ATTRIBUTE };

/**
 * Receives of one message before it moves to the dead-letter queue. A worker deletes what it
 * received; a message comes back only when its receiver died (after the visibility timeout), so
 * a third receive means the run it belonged to is gone.
 */
const MAX_RECEIVE_COUNT = 3;

/**
 * Retry of every Lambda Task (policy "lambda-transient"): the transient Lambda service errors AWS advises retrying
 * (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html) and
 * throttling. Short (1, 2, 4 s): the peers of a retried worker wait for it on the channel.
 * A function's own failure or timeout is not retried: peers would have moved on.
 */
export const LAMBDA_RETRY_POLICY = 'lambda-transient';
export const lambdaTaskRetry = (): PlanRetry => [{
  errorEquals: [
    'Lambda.ClientExecutionTimeoutException', 'Lambda.ServiceException', 'Lambda.AWSLambdaException',
    'Lambda.SdkClientException', 'Lambda.TooManyRequestsException',
  ],
  intervalSeconds: 1,
  maxAttempts: 3,
  backoffRate: 2,
}];

/**
 * S3 keys in the plan's bucket; <execution> is the Step Functions execution name. The activations
 * feeding a stage's first layer travel as one object per (target, source) pair the shard lists
 * (source = target: the worker's own rows): before stage 0 either a run's own `inputs` (staged by
 * the client under the run id) or the plan's `defaultInputs` (staged once by `stepinfer shards
 * upload`, outside `runs/`: no run's clean-up removes them and the run objects' lifecycle rule does
 * not expire them); `handoff` between stages, `outputs` after the last (one own-rows object per
 * worker, gathered).
 */
export const STORAGE_KEYS: Plan['storage'] = {
  shards: { keyPattern: 'shards/worker-<worker>.shard', manifestKey: 'shards/manifest.json' },
  inputs: 'runs/<execution>/inputs/<target>/<source>',
  defaultInputs: 'inputs/default/<target>/<source>',
  handoff: 'runs/<execution>/handoff/<stage>/<target>/<source>',
  outputs: 'runs/<execution>/outputs/worker-<worker>',
  status: 'runs/<execution>/status/<stage>/<attempt>/worker-<worker>.json',
  result: 'runs/<execution>/result',
  categories: 'runs/<execution>/categories.json',
};

/** Days after which the exchange buckets' lifecycle rule removes what a failed run left (the minimum S3 allows). */
const EXCHANGE_EXPIRATION_DAYS = 1;

/**
 * Timeout of a Task (and of the function it runs) for a predicted duration: three times it plus
 * 10 s, at most `limitSeconds` (Lambda's 900 s; 300 s inside an Express execution).
 */
export function taskTimeoutSeconds(predictedSeconds: number, limitSeconds: number = AWS_LIMITS.lambdaMaxTimeoutSeconds.value): number {
  return Math.min(limitSeconds, Math.max(10, Math.ceil(predictedSeconds * 3 + 10)));
}

function launchOf(c: Candidate, index: number, coordinatorFunctionId: string): PlanLaunch {
  const l = c.config.launch;
  if (l.kind === 'task') return { kind: 'task' };
  if (l.kind === 'tree') return { kind: 'tree', branchingFactor: l.branchingFactor, levels: l.levels, coordinatorFunctionId };
  const mode = c.estimate.stages[index].mapMode === 'distributed' ? 'distributed' : 'inline';
  return { kind: 'map', mode, maxConcurrency: mode === 'inline' ? Math.min(AWS_LIMITS.sfnInlineMapMaxConcurrency.value, c.config.workers) : c.config.workers };
}

function launchText(c: Candidate): string {
  const l = c.config.launch;
  return l.kind === 'tree' ? launchTreeLabel(l) : l.kind;
}

function alternativeOf(c: Candidate, flags: { pareto: boolean; chosen: boolean }): PlanAlternative {
  return {
    label: c.label,
    family: c.family,
    shape: c.shape,
    method: c.method,
    workers: c.config.workers,
    channel: c.config.channel,
    launch: launchText(c),
    workflowType: c.config.workflowType,
    stages: c.stages.map((s) => ({ firstLayer: s.firstLayer, lastLayer: s.lastLayer, memoryMB: s.memoryMB })),
    latencySeconds: c.estimate.latencySeconds,
    costUSD: c.estimate.cost.totalUSD,
    byServiceUSD: { ...c.estimate.cost.byServiceUSD },
    latency: { ...c.estimate.parts },
    meetsSlo: c.meetsSlo,
    pareto: flags.pareto,
    chosen: flags.chosen,
    optimality: c.optimality ? { ...c.optimality } : null,
  };
}

/** Adds a function or raises the timeout of the one with that id. */
function addFunction(functions: PlanFunction[], f: PlanFunction): void {
  const seen = functions.find((x) => x.id === f.id);
  if (seen) seen.timeoutSeconds = Math.max(seen.timeoutSeconds, f.timeoutSeconds);
  else functions.push(f);
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function buildPlan(input: BuildPlanInput): BuiltPlan {
  const { network, search } = input;
  const chosen = search.chosen;
  const ctx = search.context;
  const p = chosen.config.workers;
  const L = network.layers.length;
  const express = chosen.config.workflowType === 'EXPRESS';
  const channelKind = p === 1 || chosen.shape === 'map-per-layer' ? 'none' : chosen.config.channel;
  const expressMax = AWS_LIMITS.sfnExpressMaxSeconds.value;

  // Functions and Tasks. A worker's timeout covers its predicted run; a tree's coordinator waits
  // for its workers; Tasks inside Express executions (the workflow, or distributed Map children)
  // end within 300 s.
  const functions: PlanFunction[] = [];
  const role = p === 1 ? 'stage' : 'worker';
  const stages: Plan['workflow']['stages'] = chosen.estimate.stages.map((s, i) => {
    const distributed = s.mapMode === 'distributed';
    const limit = express || distributed ? expressMax : AWS_LIMITS.lambdaMaxTimeoutSeconds.value;
    const workerTimeout = taskTimeoutSeconds(s.workerSeconds, limit);
    const functionId = `${role}-${s.memoryMB}`;
    addFunction(functions, { id: functionId, role, memoryMB: s.memoryMB, timeoutSeconds: workerTimeout, reservedConcurrency: role === 'worker' ? p : 1, architecture: ctx.architecture });
    const coordinatorFunctionId = `coordinator-${s.memoryMB}`;
    let taskTimeout = workerTimeout;
    const coordinator = s.counters.lambda.find((u) => u.role === 'coordinator');
    if (chosen.config.launch.kind === 'tree' && coordinator) {
      taskTimeout = taskTimeoutSeconds(coordinator.billedSeconds, limit);
      addFunction(functions, { id: coordinatorFunctionId, role: 'coordinator', memoryMB: s.memoryMB, timeoutSeconds: taskTimeout, reservedConcurrency: 1, architecture: ctx.architecture });
    }
    return {
      index: i,
      firstLayer: s.firstLayer,
      lastLayer: s.lastLayer,
      functionId,
      launch: launchOf(chosen, i, coordinatorFunctionId),
      channel: s.lastLayer > s.firstLayer && p > 1 ? channelKind : 'none',
      task: { timeoutSeconds: taskTimeout, retry: LAMBDA_RETRY_POLICY },
    };
  });
  let gather: Plan['workflow']['gather'] = null;
  if (p > 1) {
    const gatherSeconds = chosen.estimate.overhead.counters.lambda.find((u) => u.role === 'gather')?.billedSeconds ?? 0;
    const timeout = taskTimeoutSeconds(gatherSeconds, express ? expressMax : AWS_LIMITS.lambdaMaxTimeoutSeconds.value);
    const id = `gather-${ctx.gatherMemoryMB}`;
    addFunction(functions, { id, role: 'gather', memoryMB: ctx.gatherMemoryMB, timeoutSeconds: timeout, reservedConcurrency: 1, architecture: ctx.architecture });
    gather = { functionId: id, task: { timeoutSeconds: timeout, retry: LAMBDA_RETRY_POLICY } };
  }
  const allTasks = stages.reduce((t, s) => t + s.task.timeoutSeconds, 0) + (gather?.task.timeoutSeconds ?? 0);
  const executionTimeoutSeconds = express ? Math.min(expressMax, allTasks + 60) : allTasks + 60;

  // Channel.
  const workerTimeout = Math.max(...functions.filter((f) => f.role === role).map((f) => f.timeoutSeconds));
  const maximumMessageSizeBytes = AWS_LIMITS.sqsMessageMaxBytes.value;
  const queue: Plan['channel']['queue'] = channelKind !== 'queue' ? null : {
    topics: Math.min(FSD_DATA_TOPICS, p),
    subscriptions: 'every-queue-every-topic',
    filterAttribute: TARGETS_ATTRIBUTE,
    filterPolicyPattern: JSON.stringify({ [TARGETS_ATTRIBUTE]: [{ wildcard: '*,<worker>,*' }] }),
    rawMessageDelivery: true,
    maximumMessageSizeBytes,
    bodyEncoding: 'base64',
    chunkBytes: queueChunkBytes(maximumMessageSizeBytes),
    attributeAllowanceBytes: ATTRIBUTE_ALLOWANCE_BYTES,
    publishBatchEntries: ctx.constants.snsPublishBatchEntries,
    publishBatchBytes: AWS_LIMITS.snsPublishBatchBytes.value,
    receiveBatchMessages: AWS_LIMITS.sqsReceiveMaxMessages.value,
    waitTimeSeconds: ctx.constants.sqsReceiveWaitSeconds,
    // A received message stays hidden as long as its receiver may live.
    visibilityTimeoutSeconds: workerTimeout,
    // A run's messages are worthless after its execution.
    messageRetentionSeconds: clamp(executionTimeoutSeconds, SQS_QUEUE_LIMITS.minRetentionSeconds.value, SQS_QUEUE_LIMITS.maxRetentionSeconds.value),
    deadLetter: { maxReceiveCount: MAX_RECEIVE_COUNT, messageRetentionSeconds: SQS_QUEUE_LIMITS.maxRetentionSeconds.value },
  };
  const object: Plan['channel']['object'] = channelKind !== 'object' ? null : {
    buckets: Math.min(FSD_EXCHANGE_BUCKETS, L),
    bucketOfKey: 'layer-mod-buckets',
    keyPattern: EXCHANGE_OBJECT_KEY_PATTERN,
    readiness: {
      method: 'get-then-list', firstRangeBytes: EXCHANGE_FIRST_RANGE_BYTES,
      initialPollSeconds: EXCHANGE_POLL_SECONDS.initial, maxPollSeconds: EXCHANGE_POLL_SECONDS.max,
    },
    parallelRequests: ctx.constants.s3IoThreads,
    emptyMarkers: true,
    expirationDays: EXCHANGE_EXPIRATION_DAYS,
  };

  const owners = search.partition
    ? search.partition.maps.map((m) => m.owner)
    : Array.from({ length: L + 1 }, () => new Uint16Array(network.neurons));
  const stackPrefix = input.stackPrefix ?? DEFAULT_STACK_PREFIX;
  const withoutNames: Omit<Plan, 'names'> = {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: 'stepinfer-plan',
    planId: '',
    stackPrefix,
    model: {
      source: input.model.source,
      path: input.model.path,
      generate: input.model.generate ? { ...input.model.generate } : null,
      neurons: network.neurons,
      layers: L,
      bias: network.bias,
      activationCap: network.activationCap,
      checksum: { algorithm: NETWORK_CHECKSUM_ALGORITHM, value: networkChecksum(network) },
    },
    inputRows: ctx.workload.rows,
    shape: chosen.shape,
    workers: p,
    partition: { maps: encodeNeuronMaps(owners) },
    wire: { ...(input.wire ?? wireOptionsOf(ctx.wireFormat)) },
    kernel: { gatherAboveDensity: input.kernel.gatherAboveDensity, gatherEngine: input.kernel.gatherEngine, threads: chosen.estimate.threads },
    functions,
    workflow: { type: chosen.config.workflowType, executionTimeoutSeconds, retryPolicies: { [LAMBDA_RETRY_POLICY]: lambdaTaskRetry() }, stages, gather },
    channel: { kind: channelKind, queue, object },
    storage: { ...STORAGE_KEYS, shards: { ...STORAGE_KEYS.shards } },
  };
  const planId = computePlanId(withoutNames);
  const names = planNames({
    planId,
    stackPrefix,
    workers: p,
    functionIds: functions.map((f) => f.id),
    topics: queue?.topics ?? 0,
    queues: queue ? p : 0,
    deadLetterQueue: queue !== null,
    exchangeBuckets: object?.buckets ?? 0,
  });
  const plan: Plan = { ...withoutNames, planId, names: { ...names, functions: { ...names.functions }, topics: [...names.topics], queues: [...names.queues], exchangeBuckets: [...names.exchangeBuckets] } };
  return { plan, report: buildReport(input, planId) };
}

function buildReport(input: BuildPlanInput, planId: string): PlanReport {
  const { network, search } = input;
  const chosen = search.chosen;
  const ctx = search.context;
  const p = chosen.config.workers;
  const pareto = new Set(search.pareto);
  const listed = new Map<string, Candidate>();
  for (const c of [chosen, ...search.pareto, ...search.families]) {
    const key = `${c.label}|${c.method}|${c.estimate.latencySeconds}`;
    if (!listed.has(key)) listed.set(key, c);
  }
  const alternatives = [...listed.values()]
    .sort((a, b) => a.estimate.latencySeconds - b.estimate.latencySeconds)
    .map((c) => alternativeOf(c, { pareto: pareto.has(c), chosen: c === chosen }));

  const sources = {} as Record<PriceName, string>;
  for (const name of PRICE_NAMES) sources[name] = ctx.prices.prices[name].source;
  const constantValues = {} as Record<LatencyConstantName, number>;
  for (const name of LATENCY_CONSTANT_NAMES) constantValues[name] = ctx.constants[name];
  const constantsFile = latencyConstantsFile();
  const wl = ctx.workload;

  return {
    formatVersion: PLAN_REPORT_FORMAT_VERSION,
    kind: 'stepinfer-plan-report',
    planId,
    generator: { name: 'stepinfer plan', version: input.version },
    objective: { kind: input.objective, sloSeconds: input.sloSeconds ?? null },
    model: { nonzeros: networkNonzeros(network), layerNonzeros: network.layers.map(layerNonzeros) },
    workload: {
      inputs: { ...input.inputs },
      rows: wl.rows,
      densitySource: wl.source,
      sampleRows: wl.sampleRows,
      assumedDensity: wl.assumedDensity ?? null,
      outputDensity: wl.outputDensity,
      categoryFraction: wl.categoryFraction,
      layers: wl.layers.map((a) => ({
        layer: a.layer, inputDensity: a.inputDensity, inputNonzeros: a.inputNonzeros,
        scatterMultiplyAdds: a.scatterMultiplyAdds, gatherMultiplyAdds: a.gatherMultiplyAdds,
      })),
    },
    partition: {
      scheme: p === 1 ? 'serial' : input.scheme,
      seed: input.seed,
      totalRowSends: search.stats.totalRowSends,
      maxNonzeroImbalance: search.stats.maxNonzeroImbalance,
    },
    predicted: {
      latencySeconds: chosen.estimate.latencySeconds,
      costUSD: chosen.estimate.cost.totalUSD,
      latency: { ...chosen.estimate.parts },
      cost: {
        totalUSD: chosen.estimate.cost.totalUSD,
        byServiceUSD: { ...chosen.estimate.cost.byServiceUSD },
        lines: chosen.estimate.cost.lines.map((l) => ({ ...l })),
      },
      counters: countersToRecord(chosen.estimate.counters),
      historyEvents: chosen.estimate.historyEvents,
      stages: chosen.estimate.stages.map((s) => ({
        firstLayer: s.firstLayer, lastLayer: s.lastLayer, memoryMB: s.memoryMB,
        seconds: s.seconds, workerSeconds: s.workerSeconds, costUSD: s.costUSD, requiredMemoryMB: s.requiredMemoryMB, latency: { ...s.parts },
      })),
    },
    explanation: search.explanation,
    optimality: chosen.optimality ? { ...chosen.optimality } : null,
    alternatives,
    server: {
      instanceType: ctx.prices.server.instanceType,
      latencySeconds: search.server.latencySeconds,
      costUSD: search.server.cost.totalUSD,
      utilization: ctx.prices.prices.serverUtilization.value,
      feasible: search.server.feasible,
      note: 'for comparison only: an always-on instance with the model in memory, one kernel thread, paid for every hour at the stated utilization',
    },
    prices: { region: ctx.prices.region, date: ctx.prices.date, values: priceValues(ctx.prices), sources },
    calibration: {
      default: input.calibration.default,
      path: input.calibrationPath,
      date: input.calibration.date,
      cpuModel: input.calibration.machine.cpuModel,
      scatterMacsPerSecond: ctx.rates.scatterMacsPerSecond,
      gatherMacsPerSecond: ctx.rates.gatherMacsPerSecond,
    },
    latencyConstants: { date: constantsFile.date, values: constantValues },
    assumptions: {
      bytesPerNonzero: ctx.bytesPerNonzero,
      safetyFactor: ctx.safetyFactor,
      notes: [
        'communication and compute of a layer are added, not overlapped (an upper bound for FSD-style overlap)',
        `activation density per layer: ${wl.source === 'serial-sample' ? `serial run of ${wl.sampleRows} of ${wl.rows} input rows (strided), scaled to all rows` : `assumed ${wl.assumedDensity} at every layer`}; every neuron's column is taken as equally dense`,
        kernelThreadsNote(chosen, ctx, input.calibration),
        `compute rate: ${input.calibration.default ? 'checked-in default calibration (not this machine)' : 'calibrated on this machine'}, a Lambda vCPU taken as ${ctx.constants.lambdaCoreSpeedRatio} x one calibrated core`,
        wl.traffic
          ? `channel bytes and requests: what the channels send for this partition (rows with a nonzero, by exact target set, packed into messages, one object per source), each part priced by the measured wire traffic: ${wl.traffic.method}`
          : `channel bytes: ${describeWireFormat(ctx.wireFormat)}; queue bodies base64-encoded (x${ctx.constants.queueEncodingOverhead})`,
        'the first stage starts cold, later stages warm (also when a later stage uses another memory size, i.e. another function, which would start cold: about +0.3 s each); inputs are staged by the client as one object per worker',
        `layer sizes: ${[...new Set(network.layers.map(layerNonzeros))].join(', ')} weight nonzeros per layer`,
      ],
    },
  };
}

/** Why the plan's workers run the kernel threads they do (plan.kernel.threads), in one line. */
function kernelThreadsNote(chosen: Candidate, ctx: EstimateContext, calibration: CalibrationProfile): string {
  const c = ctx.constants, f = ctx.kernelParallelFraction, threads = chosen.estimate.threads;
  const memoryMB = Math.max(...chosen.estimate.stages.map((s) => s.memoryMB));
  const vcpus = lambdaVcpus(memoryMB, c);
  const where = `at ${memoryMB} MB a worker has ${vcpus.toFixed(2)} vCPUs (${c.lambdaFullVcpuMemoryMB} MB each)`;
  const scaling = calibration.threadScaling;
  if (!scaling) return `1 kernel thread per worker: the calibration profile (format version ${calibration.formatVersion}) has no thread scaling, so threads are taken to gain nothing; ${where}`;
  const measured = `the kernel's thread scaling measured ${scaling.date.slice(0, 10)} (${scaling.cases.map((k) => `${k.regime} N=${k.neurons}: ${k.speedup.toFixed(2)}x on ${k.threads}`).join(', ')}; Amdahl parallel fraction ${f.toFixed(3)}, extrapolated beyond the ${Math.max(...scaling.cases.map((k) => k.threads))} threads measured)`;
  const speed = (t: number) => lambdaCpuSpeed(memoryMB, t, c, f);
  if (threads === 1) {
    const why = f === 0 ? 'threads gained nothing when measured' : vcpus <= 1 ? 'one vCPU or less runs no faster on more threads' : `2 threads would run at ${speed(2).toFixed(2)} core-equivalents, no faster than one`;
    return `1 kernel thread per worker: ${where}, and ${why}; ${measured}`;
  }
  const next = Math.ceil(vcpus - 1e-9) <= threads ? `more threads than ceil(vCPUs) = ${Math.ceil(vcpus - 1e-9)} gain nothing` : `${threads + 1} would be no faster (capped by ${vcpus.toFixed(2)} vCPUs)`;
  return `${threads} kernel threads per worker: ${where}; on ${threads} threads the kernel runs at ${speed(threads).toFixed(2)} core-equivalents ` +
    `(Amdahl ${amdahlSpeedup(f, threads).toFixed(2)}x, capped by the vCPUs) against ${speed(1).toFixed(2)} on one, which makes every such worker faster and cheaper; ${next}; ${measured}`;
}
