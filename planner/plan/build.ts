// Turns a search result into a plan.json document: resources of the chosen channel, one Lambda
// function per distinct memory size, stages with launch and timeouts, predictions with their
// breakdowns, the alternatives considered, and the prices, calibration and constants used.

import { layerNonzeros, networkNonzeros, type SparseNetwork } from '../../model/network.ts';
import { PRICE_NAMES, priceValues, type PriceName } from '../cost/prices.ts';
import { countersToRecord } from '../cost/record.ts';
import { latencyConstantsFile, LATENCY_CONSTANT_NAMES, type LatencyConstantName } from '../latency/constants.ts';
import type { CalibrationProfile } from '../latency/profile.ts';
import type { Candidate, PlanSearchResult } from '../optimize/search.ts';
import { networkChecksum } from '../../model/checksum.ts';
import { encodeNeuronMaps } from './neuron-maps.ts';
import { PLAN_FORMAT_VERSION, type Plan, type PlanAlternative, type PlanLaunch } from './schema.ts';

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
}

/** Lambda task timeout for a predicted duration: three times it plus 10 s, within 900 s. */
export function taskTimeoutSeconds(predictedSeconds: number): number {
  return Math.min(900, Math.max(10, Math.ceil(predictedSeconds * 3 + 10)));
}

function launchOf(c: Candidate, index: number): PlanLaunch {
  const l = c.config.launch;
  if (l.kind === 'task') return { kind: 'task' };
  if (l.kind === 'tree') return { kind: 'tree', branchingFactor: l.branchingFactor, levels: l.levels };
  const mode = c.estimate.stages[index].mapMode === 'distributed' ? 'distributed' : 'inline';
  return { kind: 'map', mode, maxConcurrency: mode === 'inline' ? Math.min(40, c.config.workers) : c.config.workers };
}

function launchText(c: Candidate): string {
  const l = c.config.launch;
  return l.kind === 'tree' ? `tree ${l.branchingFactor}^${l.levels}` : l.kind;
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
  };
}

export function buildPlan(input: BuildPlanInput): Plan {
  const { network, search } = input;
  const chosen = search.chosen;
  const ctx = search.context;
  const p = chosen.config.workers;
  const L = network.layers.length;
  const channelKind = p === 1 || chosen.shape === 'map-per-layer' ? 'none' : chosen.config.channel;

  // One worker function per distinct memory size; its timeout covers the longest stage it runs.
  const functions: Plan['functions'] = [];
  const stageTimeouts = chosen.estimate.stages.map((s) => {
    const coordinator = s.counters.lambda.find((u) => u.role === 'coordinator');
    return taskTimeoutSeconds(Math.max(s.workerSeconds, coordinator ? coordinator.billedSeconds : 0));
  });
  for (const [i, s] of chosen.estimate.stages.entries()) {
    const id = `worker-${s.memoryMB}`;
    const seen = functions.find((f) => f.id === id);
    if (seen) seen.timeoutSeconds = Math.max(seen.timeoutSeconds, stageTimeouts[i]);
    else functions.push({ id, role: 'worker', memoryMB: s.memoryMB, timeoutSeconds: stageTimeouts[i], architecture: ctx.architecture });
  }
  const gatherSeconds = chosen.estimate.overhead.counters.lambda.find((u) => u.role === 'gather')?.billedSeconds ?? 0;
  const gather = p > 1 ? { functionId: `gather-${ctx.gatherMemoryMB}`, timeoutSeconds: taskTimeoutSeconds(gatherSeconds) } : null;
  if (gather) functions.push({ id: gather.functionId, role: 'gather', memoryMB: ctx.gatherMemoryMB, timeoutSeconds: gather.timeoutSeconds, architecture: ctx.architecture });

  const stages: Plan['stages'] = chosen.estimate.stages.map((s, i) => ({
    index: i,
    firstLayer: s.firstLayer,
    lastLayer: s.lastLayer,
    memoryMB: s.memoryMB,
    functionId: `worker-${s.memoryMB}`,
    launch: launchOf(chosen, i),
    channel: s.lastLayer > s.firstLayer && p > 1 ? channelKind : 'none',
    timeoutSeconds: stageTimeouts[i],
    predicted: { seconds: s.seconds, workerSeconds: s.workerSeconds, costUSD: s.costUSD, requiredMemoryMB: s.requiredMemoryMB, latency: { ...s.parts } },
  }));
  const executionTimeout = Math.ceil(stageTimeouts.reduce((t, x) => t + x, 0) + (gather?.timeoutSeconds ?? 0) + 60);

  const owners = search.partition
    ? search.partition.maps.map((m) => m.owner)
    : Array.from({ length: L + 1 }, () => new Uint16Array(network.neurons));
  const topics = channelKind === 'queue' ? Math.min(10, p) : 0;
  const objectBuckets = channelKind === 'object' ? Math.min(10, p) : 0;
  const constantsFile = latencyConstantsFile();

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
  const wl = ctx.workload;

  return {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: 'stepinfer-plan',
    generator: { name: 'stepinfer plan', version: input.version },
    model: {
      source: input.model.source,
      path: input.model.path,
      generate: input.model.generate ? { ...input.model.generate } : null,
      neurons: network.neurons,
      layers: L,
      nonzeros: networkNonzeros(network),
      bias: network.bias,
      activationCap: network.activationCap,
      checksum: { algorithm: 'sha256-network-v1', value: networkChecksum(network) },
    },
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
    objective: { kind: input.objective, sloSeconds: input.sloSeconds ?? null },
    shape: chosen.shape,
    workers: p,
    memoryMB: Math.max(...chosen.stages.map((s) => s.memoryMB)),
    architecture: ctx.architecture,
    threadsPerWorker: ctx.threads,
    workflow: {
      type: chosen.config.workflowType,
      executionTimeoutSeconds: chosen.config.workflowType === 'EXPRESS' ? Math.min(300, executionTimeout) : executionTimeout,
      predictedHistoryEvents: chosen.estimate.historyEvents,
    },
    partition: {
      scheme: p === 1 ? 'serial' : input.scheme,
      seed: input.seed,
      workers: p,
      maps: encodeNeuronMaps(owners),
      totalRowSends: search.stats.totalRowSends,
      maxNonzeroImbalance: search.stats.maxNonzeroImbalance,
    },
    channel: {
      kind: channelKind,
      queue: channelKind === 'queue'
        ? { topics, queues: p, messageMaxBytes: ctx.constants.sqsMessageMaxBytes, publishBatchEntries: ctx.constants.snsPublishBatchEntries, receiveBatchMessages: 10, waitTimeSeconds: ctx.constants.sqsReceiveWaitSeconds, rawMessageDelivery: true }
        : null,
      object: channelKind === 'object'
        ? { buckets: objectBuckets, keyPattern: '<layer>/<target>/<target>_<source>', listIntervalSeconds: ctx.constants.s3ListIntervalSeconds, emptyMarkers: true }
        : null,
    },
    handoff: { kind: 's3', keyPattern: 'handoff/<stage>/<target>/<source>' },
    resources: { topics, queues: channelKind === 'queue' ? p : 0, buckets: 1 + objectBuckets },
    functions,
    stages,
    gather,
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
    },
    explanation: search.explanation,
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
        `one kernel thread per worker: memory above ${ctx.constants.lambdaFullVcpuMemoryMB} MB buys no speed, below it compute slows in proportion`,
        `compute rate: ${input.calibration.default ? 'checked-in default calibration (not this machine)' : 'calibrated on this machine'}, a Lambda vCPU taken as ${ctx.constants.lambdaCoreSpeedRatio} x one calibrated core`,
        `queue channel: rows base64-encoded (x${ctx.constants.queueEncodingOverhead}), no compression`,
        'the first stage starts cold, later stages warm (also when a later stage uses another memory size, i.e. another function, which would start cold: about +0.3 s each); inputs are staged by the client as one object per worker',
        `layer sizes: ${[...new Set(network.layers.map(layerNonzeros))].join(', ')} weight nonzeros per layer`,
      ],
    },
  };
}
