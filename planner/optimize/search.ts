// The plan search: which workers, channel, launch, grouping of layers into stages, memory and
// workflow type. Two passes:
//   1. screen: every configuration (workers x channel x launch x workflow type) with uniform
//      groupings (serial, map-per-layer, groups of G layers) at every memory of the grid;
//   2. refine: the best configurations get the stage program (planner/optimize/milp.ts, HiGHS):
//      free cut points on a grid of layer units and a memory per stage.
// It returns the chosen plan, the Pareto front of latency vs cost, the best plan of every family
// and an always-on server for comparison. Deterministic: no clocks, seeded partitions.

import { UsageError, SloUnreachableError } from '../../model/errors.ts';
import { layerNonzeros, type SparseNetwork } from '../../model/network.ts';
import { partitionNetwork, type LayerPartition, type PartitionScheme } from '../partition/index.ts';
import type { PriceTable } from '../cost/prices.ts';
import { latencyConstants, type LatencyConstants } from '../latency/constants.ts';
import { computeRates } from '../latency/model.ts';
import type { CalibrationProfile } from '../latency/profile.ts';
import type { WorkloadProfile } from '../latency/workload.ts';
import {
  ConfigModel, estimateServer, LAMBDA_MEMORY_GRID_MB, LAMBDA_MAX_MEMORY_MB, LAMBDA_MIN_MEMORY_MB, treeShapes,
  type ChannelKind, type EstimateContext, type LaunchSpec, type PlanConfig, type PlanEstimate,
  type ServerEstimate, type StageSpec, type WorkflowType,
} from './estimate.ts';
import { solveStageProgram, type Objective, type StageOption } from './milp.ts';
import { partitionStats, serialStats, type PartitionStats } from './partition-stats.ts';

export type Shape = 'serial' | 'stages' | 'map-per-layer' | 'layer-groups';

export interface Candidate {
  readonly label: string;
  readonly family: string;
  readonly shape: Shape;
  readonly config: PlanConfig;
  readonly stages: readonly StageSpec[];
  readonly estimate: PlanEstimate;
  readonly method: 'screen' | 'milp';
  readonly meetsSlo: boolean;
}

export interface PlanSearchOptions {
  readonly objective: Objective;
  readonly sloSeconds?: number;
  /** Largest worker count searched. Default min(N, 256). */
  readonly maxWorkers?: number;
  /** Exact worker counts to search (1 = serial). Default 1, 2, 4, ... up to maxWorkers. */
  readonly workerCounts?: readonly number[];
  readonly scheme: PartitionScheme;
  readonly seed?: number;
  /** Fix every stage's memory. */
  readonly memoryMB?: number;
  readonly channels?: readonly ChannelKind[];
  readonly workflowTypes?: readonly WorkflowType[];
  readonly prices: PriceTable;
  readonly calibration: CalibrationProfile;
  readonly constants?: LatencyConstants;
  /** Default 8. */
  readonly bytesPerNonzero?: number;
  /** Configurations refined by the stage program. Default 4. */
  readonly refineTop?: number;
  /** Cut points of the stage program: at most this many layer units. Default 24. */
  readonly maxUnits?: number;
  readonly onProgress?: (step: string, done: number, total: number) => void;
}

export interface PlanSearchResult {
  readonly chosen: Candidate;
  readonly fastest: Candidate;
  readonly cheapest: Candidate;
  /** Feasible candidates no other beats on both latency and cost, fastest first. */
  readonly pareto: readonly Candidate[];
  /** The best feasible candidate of every family (by the objective). */
  readonly families: readonly Candidate[];
  readonly server: ServerEstimate;
  readonly explanation: string;
  /** The partition of the chosen worker count (null for one worker). */
  readonly partition: LayerPartition | null;
  readonly stats: PartitionStats;
  readonly context: EstimateContext;
  readonly evaluated: number;
  readonly milpSolves: number;
  readonly workerCounts: readonly number[];
}

export function formatSeconds(s: number): string {
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`;
}

export function formatCost(usd: number): string {
  return usd >= 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toPrecision(3)}`;
}

function memoryLabel(stages: readonly StageSpec[]): string {
  const lo = Math.min(...stages.map((s) => s.memoryMB)), hi = Math.max(...stages.map((s) => s.memoryMB));
  return lo === hi ? `${lo} MB` : `${lo}-${hi} MB`;
}

function launchLabel(l: LaunchSpec): string {
  return l.kind === 'tree' ? `tree ${l.branchingFactor}^${l.levels}` : l.kind;
}

export function shapeOf(config: PlanConfig, stages: readonly StageSpec[]): Shape {
  if (config.workers === 1) return stages.length === 1 ? 'serial' : 'stages';
  return stages.every((s) => s.firstLayer === s.lastLayer) ? 'map-per-layer' : 'layer-groups';
}

function familyOf(shape: Shape, config: PlanConfig): string {
  if (shape === 'serial' || shape === 'stages' || shape === 'map-per-layer') return shape;
  return `layer-groups/${config.channel}/${config.launch.kind}`;
}

function labelOf(shape: Shape, config: PlanConfig, stages: readonly StageSpec[]): string {
  const wf = config.workflowType === 'EXPRESS' ? ', Express' : '';
  const mem = memoryLabel(stages);
  switch (shape) {
    case 'serial': return `serial, ${mem}${wf}`;
    case 'stages': return `stages x${stages.length}, ${mem}${wf}`;
    case 'map-per-layer': return `${config.workers} workers, map-per-layer, ${mem}${wf}`;
    default: {
      const sizes = new Set(stages.map((s) => s.lastLayer - s.firstLayer + 1));
      const grouping = stages.length === 1 ? 'one group' : sizes.size === 1 ? `${stages.length} groups of ${[...sizes][0]}` : `${stages.length} groups`;
      return `${config.workers} workers, ${config.channel}, ${grouping}, ${launchLabel(config.launch)}, ${mem}${wf}`;
    }
  }
}

/** Compares two feasible candidates by the objective (ties: the other measure, then the label). */
function better(objective: Objective) {
  return (a: Candidate, b: Candidate): number => {
    const la = a.estimate.latencySeconds, lb = b.estimate.latencySeconds;
    const ca = a.estimate.cost.totalUSD, cb = b.estimate.cost.totalUSD;
    const primary = objective === 'cost' ? ca - cb : la - lb;
    if (Math.abs(primary) > (objective === 'cost' ? 1e-15 : 1e-12)) return primary;
    const secondary = objective === 'cost' ? la - lb : ca - cb;
    if (secondary !== 0) return secondary;
    return a.label < b.label ? -1 : a.label > b.label ? 1 : 0;
  };
}

/** Feasible candidates no other beats on both measures (fastest first). */
export function paretoFront(candidates: readonly Candidate[]): Candidate[] {
  const sorted = [...candidates].sort((a, b) =>
    a.estimate.latencySeconds - b.estimate.latencySeconds || a.estimate.cost.totalUSD - b.estimate.cost.totalUSD || (a.label < b.label ? -1 : 1));
  const out: Candidate[] = [];
  let bestCost = Infinity;
  for (const c of sorted) {
    if (c.estimate.cost.totalUSD < bestCost) { out.push(c); bestCost = c.estimate.cost.totalUSD; }
  }
  return out;
}

function defaultWorkerCounts(maxWorkers: number): number[] {
  const out: number[] = [];
  for (let p = 1; p <= maxWorkers; p *= 2) out.push(p);
  if (out[out.length - 1] !== maxWorkers) out.push(maxWorkers);
  return out;
}

/** Group sizes screened for an L-layer network: L, L/2, L/4, ... down to 2. */
function groupSizes(layers: number): number[] {
  const out = new Set<number>();
  for (let k = 1; ; k *= 2) {
    const g = Math.ceil(layers / k);
    if (g < 2) break;
    out.add(g);
    if (g === 2) break;
  }
  return [...out];
}

function uniformStages(layers: number, groupSize: number, memoryMB: number): StageSpec[] {
  const out: StageSpec[] = [];
  for (let a = 1; a <= layers; a += groupSize) out.push({ firstLayer: a, lastLayer: Math.min(layers, a + groupSize - 1), memoryMB });
  return out;
}

/** The launch tree with the shortest launch for `workers` (FSD: total = b + b^2 + ... + b^levels). */
function bestTree(workers: number, c: LatencyConstants): LaunchSpec {
  let best: LaunchSpec | null = null, bestSeconds = Infinity;
  for (const t of treeShapes(workers)) {
    const perLevel = Math.ceil(t.branchingFactor / c.launchInvokeConcurrency) * c.lambdaInvokeSeconds;
    const seconds = t.levels * perLevel + (t.levels - 1) * c.lambdaColdStartSeconds;
    if (seconds < bestSeconds - 1e-12) { best = { kind: 'tree', ...t }; bestSeconds = seconds; }
  }
  return best ?? { kind: 'tree', branchingFactor: workers, levels: 1 };
}

function configKey(c: PlanConfig): string {
  return `${c.workers}/${c.channel}/${launchLabel(c.launch)}/${c.workflowType}`;
}

export function validateSearchOptions(network: SparseNetwork, o: PlanSearchOptions): void {
  const n = network.neurons;
  if (o.sloSeconds !== undefined && !(Number.isFinite(o.sloSeconds) && o.sloSeconds > 0)) {
    throw new UsageError(`the SLO must be a positive number of seconds, got ${o.sloSeconds}`, { field: 'slo' });
  }
  if (o.maxWorkers !== undefined) {
    if (!Number.isInteger(o.maxWorkers) || o.maxWorkers < 1) throw new UsageError(`max workers must be an integer >= 1, got ${o.maxWorkers}`, { field: 'maxWorkers' });
    if (o.maxWorkers > n) throw new UsageError(`max workers (${o.maxWorkers}) exceeds the network's ${n} neurons: every worker must own at least one neuron`, { field: 'maxWorkers' });
  }
  for (const p of o.workerCounts ?? []) {
    if (!Number.isInteger(p) || p < 1) throw new UsageError(`worker counts must be integers >= 1, got ${p}`, { field: 'workers' });
    if (p > n) throw new UsageError(`${p} workers exceed the network's ${n} neurons (P must be <= N)`, { field: 'workers' });
    if (p > 65535) throw new UsageError(`at most 65,535 workers (16-bit neuron maps), got ${p}`, { field: 'workers' });
  }
  if (o.memoryMB !== undefined && !(Number.isInteger(o.memoryMB) && o.memoryMB >= LAMBDA_MIN_MEMORY_MB && o.memoryMB <= LAMBDA_MAX_MEMORY_MB)) {
    throw new UsageError(`memory must be an integer between ${LAMBDA_MIN_MEMORY_MB} and ${LAMBDA_MAX_MEMORY_MB} MB (Lambda's range), got ${o.memoryMB}`, { field: 'memoryMB' });
  }
}

/** Searches the plans of `network` for `workload`. */
export async function searchPlans(network: SparseNetwork, workload: WorkloadProfile, o: PlanSearchOptions): Promise<PlanSearchResult> {
  validateSearchOptions(network, o);
  const L = network.layers.length;
  const constants = o.constants ?? latencyConstants();
  const ctx: EstimateContext = {
    neurons: network.neurons,
    layerCount: L,
    layerNonzeros: network.layers.map(layerNonzeros),
    workload,
    rates: computeRates(o.calibration, network.neurons),
    constants,
    prices: o.prices,
    bytesPerNonzero: o.bytesPerNonzero ?? 8,
    threads: 1,
    architecture: 'x86_64',
    gatherMemoryMB: 1024,
    safetyFactor: 1.5,
  };
  const maxWorkers = o.maxWorkers ?? Math.min(network.neurons, 256);
  const workerCounts = [...new Set(o.workerCounts ?? defaultWorkerCounts(maxWorkers))].sort((a, b) => a - b);
  const memories = o.memoryMB !== undefined ? [o.memoryMB] : LAMBDA_MEMORY_GRID_MB;
  const channels = o.channels ?? ['queue', 'object'];
  const workflowTypes = o.workflowTypes ?? ['STANDARD', 'EXPRESS'];
  const slo = o.sloSeconds;
  const cmp = better(o.objective);

  const candidates: Candidate[] = [];
  const models = new Map<string, ConfigModel>();
  const partitions = new Map<number, { partition: LayerPartition | null; stats: PartitionStats }>();
  let evaluated = 0;

  const consider = (model: ConfigModel, stages: readonly StageSpec[], method: Candidate['method']): Candidate => {
    const estimate = model.plan(stages);
    evaluated++;
    const shape = shapeOf(model.config, stages);
    const c: Candidate = {
      label: labelOf(shape, model.config, stages),
      family: familyOf(shape, model.config),
      shape, config: model.config, stages, estimate, method,
      meetsSlo: slo === undefined || estimate.latencySeconds <= slo + 1e-9,
    };
    candidates.push(c);
    return c;
  };

  // 1. Screen.
  let step = 0;
  for (const p of workerCounts) {
    o.onProgress?.(`partition and screen ${p} worker${p > 1 ? 's' : ''}`, step++, workerCounts.length);
    let stats: PartitionStats;
    let partition: LayerPartition | null = null;
    if (p === 1) stats = serialStats(network);
    else {
      partition = partitionNetwork(network, p, o.scheme, { seed: o.seed ?? 1 });
      stats = partitionStats(network, partition);
    }
    partitions.set(p, { partition, stats });
    const configs: { config: PlanConfig; groupings: number[] }[] = [];
    for (const workflowType of workflowTypes) {
      if (p === 1) {
        configs.push({ config: { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType }, groupings: [L, ...groupSizes(L).filter((g) => g < L)] });
        continue;
      }
      configs.push({ config: { workers: p, channel: 'none', launch: { kind: 'map' }, workflowType }, groupings: [1] });
      for (const channel of channels) {
        for (const launch of [{ kind: 'map' } as LaunchSpec, bestTree(p, constants)]) {
          configs.push({ config: { workers: p, channel, launch, workflowType }, groupings: groupSizes(L) });
        }
      }
    }
    for (const { config, groupings } of configs) {
      const model = new ConfigModel(ctx, stats, config);
      models.set(configKey(config), model);
      for (const g of groupings) for (const m of memories) consider(model, uniformStages(L, g, m), 'screen');
    }
  }
  o.onProgress?.('screened', workerCounts.length, workerCounts.length);

  // 2. Refine the best configurations with the stage program.
  const bestByConfig = new Map<string, Candidate>();
  for (const c of candidates) {
    if (!c.estimate.feasible) continue;
    const key = configKey(c.config);
    const seen = bestByConfig.get(key);
    const rank = (x: Candidate) => (x.meetsSlo ? 0 : 1);
    if (!seen || rank(c) < rank(seen) || (rank(c) === rank(seen) && (c.meetsSlo ? cmp(c, seen) : c.estimate.latencySeconds - seen.estimate.latencySeconds) < 0)) bestByConfig.set(key, c);
  }
  const ranked = [...bestByConfig.values()].sort((a, b) => {
    if (a.meetsSlo !== b.meetsSlo) return a.meetsSlo ? -1 : 1;
    return a.meetsSlo ? cmp(a, b) : a.estimate.latencySeconds - b.estimate.latencySeconds;
  });
  const refineTop = o.refineTop ?? 4;
  const unit = Math.max(1, Math.ceil(L / (o.maxUnits ?? 24)));
  const cuts: number[] = [];
  for (let b = unit; b < L; b += unit) cuts.push(b);
  cuts.push(L);
  let milpSolves = 0;
  const toRefine = ranked.slice(0, refineTop);
  for (let i = 0; i < toRefine.length; i++) {
    const base = toRefine[i];
    o.onProgress?.('stage program (HiGHS)', i, toRefine.length);
    const model = models.get(configKey(base.config))!;
    const overhead = model.overhead();
    const options: StageOption[] = [];
    const ranges: [number, number][] = [];
    if (base.shape === 'map-per-layer') for (let l = 1; l <= L; l++) ranges.push([l, l]);
    else {
      const starts = [1, ...cuts.slice(0, -1).map((b) => b + 1)];
      for (const a of starts) for (const b of cuts) if (b >= a) ranges.push([a, b]);
    }
    for (const [a, b] of ranges) {
      for (const m of memories) {
        const s = model.stage(a, b, m);
        if (!s.feasible) continue;
        options.push({ firstLayer: a, lastLayer: b, memoryMB: m, seconds: s.seconds, costUSD: s.costUSD, historyEvents: s.historyEvents });
      }
    }
    let cap = slo;
    if (base.config.workflowType === 'EXPRESS') {
      const expressCap = constants.sfnExpressMaxSeconds / ctx.safetyFactor;
      cap = cap === undefined ? expressCap : Math.min(cap, expressCap);
    }
    const solution = await solveStageProgram({
      layers: L,
      options,
      objective: o.objective,
      sloSeconds: cap,
      fixedSeconds: overhead.seconds,
      fixedCostUSD: overhead.costUSD,
      maxHistoryEvents: base.config.workflowType === 'STANDARD' ? constants.sfnStandardMaxHistoryEvents : undefined,
      fixedHistoryEvents: overhead.historyEvents,
    });
    milpSolves++;
    if (solution) consider(model, solution.stages.map((s) => ({ firstLayer: s.firstLayer, lastLayer: s.lastLayer, memoryMB: s.memoryMB })), 'milp');
  }
  o.onProgress?.('stage program (HiGHS)', toRefine.length, toRefine.length);

  // 3. Choose.
  const feasible = candidates.filter((c) => c.estimate.feasible);
  const serialModel = models.get(configKey({ workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: workflowTypes[0] }));
  const server = estimateServer(ctx, serialModel ?? new ConfigModel(ctx, serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' }));
  const byLatency = better('latency'), byCost = better('cost');
  const fastest = [...feasible].sort(byLatency)[0];
  if (!fastest) {
    const best = [...candidates].sort(byLatency)[0];
    throw new SloUnreachableError(
      `no feasible plan: ${best ? `${best.label}: ${best.estimate.reasons[0]}` : 'nothing was evaluated'}`,
      null,
    );
  }
  const withinSlo = feasible.filter((c) => c.meetsSlo);
  if (withinSlo.length === 0) {
    throw new SloUnreachableError(
      `no plan meets the SLO of ${slo} s: the fastest reachable is ${formatSeconds(fastest.estimate.latencySeconds)} ` +
        `(${fastest.label}, ${formatCost(fastest.estimate.cost.totalUSD)}); raise --slo, allow more workers or choose another partition scheme`,
      { label: fastest.label, latencySeconds: fastest.estimate.latencySeconds, costUSD: fastest.estimate.cost.totalUSD },
    );
  }
  const chosen = [...withinSlo].sort(cmp)[0];
  const cheapest = [...feasible].sort(byCost)[0];
  const pareto = paretoFront(feasible);
  // Per family: the best within the SLO by the objective, else the fastest (the closest to it).
  const familyBest = new Map<string, Candidate>();
  for (const c of [...withinSlo, ...feasible.filter((x) => !x.meetsSlo)]) {
    const seen = familyBest.get(c.family);
    if (!seen || (seen.meetsSlo === c.meetsSlo && (c.meetsSlo ? cmp(c, seen) : byLatency(c, seen)) < 0)) familyBest.set(c.family, c);
  }
  const families = [...familyBest.values()].sort((a, b) =>
    a.meetsSlo !== b.meetsSlo ? (a.meetsSlo ? -1 : 1) : a.meetsSlo ? cmp(a, b) : byLatency(a, b));
  const chosenPartition = partitions.get(chosen.config.workers)!;
  return {
    chosen, fastest, cheapest, pareto, families, server,
    explanation: explain(chosen, feasible, o.objective, slo, server),
    partition: chosenPartition.partition,
    stats: chosenPartition.stats,
    context: ctx,
    evaluated, milpSolves, workerCounts,
  };
}

function summary(c: Candidate): string {
  return `${formatSeconds(c.estimate.latencySeconds)}, ${formatCost(c.estimate.cost.totalUSD)}`;
}

/** One line: why this plan. */
function explain(chosen: Candidate, feasible: readonly Candidate[], objective: Objective, slo: number | undefined, server: ServerEstimate): string {
  const partitioned = feasible.filter((c) => c.config.workers > 1);
  const bestPartitioned = [...partitioned].sort(better(objective))[0];
  const serverNote = server.feasible ? `; an always-on server would take ${formatSeconds(server.latencySeconds)} at ${formatCost(server.cost.totalUSD)} per request` : '';
  if (chosen.shape === 'serial' || chosen.shape === 'stages') {
    const beatsAll = partitioned.every((c) => chosen.estimate.latencySeconds <= c.estimate.latencySeconds && chosen.estimate.cost.totalUSD <= c.estimate.cost.totalUSD);
    if (bestPartitioned && beatsAll) {
      return `${chosen.label}: both faster and cheaper than every partitioned plan (${summary(chosen)} vs the best partitioned, ${bestPartitioned.label}: ${summary(bestPartitioned)}), communication costs more than parallelism saves${serverNote}`;
    }
    if (!bestPartitioned) return `${chosen.label}: ${summary(chosen)}; no partitioned plan was feasible${serverNote}`;
  }
  const serial = feasible.filter((c) => c.shape === 'serial').sort(better(objective))[0];
  const serialNote = serial && serial !== chosen
    ? `; serial would take ${summary(serial)}${slo !== undefined && serial.estimate.latencySeconds > slo ? ' (over the SLO)' : ''}`
    : '';
  if (objective === 'cost') {
    return `${chosen.label}: the cheapest plan${slo !== undefined ? ` within the SLO of ${slo} s` : ''} (${summary(chosen)})${serialNote}${serverNote}`;
  }
  return `${chosen.label}: the fastest plan (${summary(chosen)})${serialNote}${serverNote}`;
}
