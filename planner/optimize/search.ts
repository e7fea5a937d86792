// The plan search: which workers, channel, launch, grouping of layers into stages, memory and
// workflow type. Two passes:
//   1. screen: every configuration (workers x channel x launch x workflow type) with uniform
//      groupings (serial, map-per-layer, groups of G layers) at every memory of the grid;
//   2. refine: the best configurations get the stage program (planner/optimize/milp.ts, HiGHS):
//      free cut points on a grid of layer units and a memory per stage.
// It returns the chosen plan, the Pareto front of latency vs cost, the best plan of every family
// and an always-on server for comparison. Deterministic: no clocks, seeded partitions.
//
// Options that restrict the search (channels, shapes, groups, launches, workers, memory) are
// honored: no candidate outside them is ever considered, and when nothing can match, the search
// says why instead of returning something else.

import { UsageError, SloUnreachableError } from '../../model/errors.ts';
import { layerNonzeros, type SparseNetwork } from '../../model/network.ts';
import { AWS_LIMITS, isLambdaMemoryMB, LAMBDA_MEMORY_RANGE_TEXT } from '../aws-limits.ts';
import { launchTreeLabel, treeShapes } from '../launch-tree.ts';
import { partitionNetwork, type LayerPartition, type PartitionScheme } from '../partition/index.ts';
import type { PriceTable } from '../cost/prices.ts';
import { latencyConstants, type LatencyConstants } from '../latency/constants.ts';
import { computeRates } from '../latency/model.ts';
import { kernelParallelFraction, type CalibrationProfile } from '../latency/profile.ts';
import { defaultWireFormat, type WireFormat } from '../latency/wire-format.ts';
import type { WorkloadProfile } from '../latency/workload.ts';
import {
  ConfigModel, estimateServer, LAMBDA_MEMORY_GRID_MB,
  type ChannelKind, type EstimateContext, type LaunchSpec, type PlanConfig, type PlanEstimate,
  type ServerEstimate, type StageSpec, type WorkflowType,
} from './estimate.ts';
import { solveStageProgram, type Objective, type Optimality, type StageOption } from './milp.ts';
import { partitionStats, serialStats, type PartitionStats } from './partition-stats.ts';

export type Shape = 'serial' | 'stages' | 'map-per-layer' | 'layer-groups';

export const SHAPES: readonly Shape[] = ['serial', 'stages', 'map-per-layer', 'layer-groups'];

/** The channel between the layers of a stage, or 'none' (serial, stages, map-per-layer). */
export type ChannelChoice = ChannelKind | 'none';

export const CHANNEL_CHOICES: readonly ChannelChoice[] = ['queue', 'object', 'none'];

/** How a layer group's workers are started (P > 1). */
export type LaunchKind = 'map' | 'tree';

export const LAUNCH_KINDS: readonly LaunchKind[] = ['map', 'tree'];

export interface Candidate {
  readonly label: string;
  readonly family: string;
  readonly shape: Shape;
  readonly config: PlanConfig;
  readonly stages: readonly StageSpec[];
  readonly estimate: PlanEstimate;
  readonly method: 'screen' | 'milp';
  readonly meetsSlo: boolean;
  /**
   * For the stage program's plans: whether HiGHS proved them optimal (a time limit leaves a
   * feasible but unproven plan, with its gap). null for screened plans: the screen enumerates its
   * grid exhaustively and claims no optimum beyond it.
   */
  readonly optimality: Optimality | null;
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
  /** Channels a plan may use between layers ('none': serial, stages, map-per-layer). Default all. */
  readonly channels?: readonly ChannelChoice[];
  /** Workflow shapes a plan may have. Default all. */
  readonly shapes?: readonly Shape[];
  /** Cut the layers into exactly this many near-equal groups (stages); the stage program then only chooses memory. */
  readonly groups?: number;
  /** How layer groups launch their workers. Default both. */
  readonly launches?: readonly LaunchKind[];
  readonly workflowTypes?: readonly WorkflowType[];
  readonly prices: PriceTable;
  readonly calibration: CalibrationProfile;
  readonly constants?: LatencyConstants;
  /** Bytes of the channels' messages. Default planner/latency/wire-format.json. */
  readonly wireFormat?: WireFormat;
  /** Configurations refined by the stage program. Default 4. */
  readonly refineTop?: number;
  /** Cut points of the stage program: at most this many layer units. Default 24. */
  readonly maxUnits?: number;
  /** HiGHS's time limit per solve. Default milp.ts DEFAULT_SOLVER_TIME_LIMIT_SECONDS. */
  readonly solverTimeLimitSeconds?: number;
  /** Stop each solve after this many improving solutions (reproducible early stop). Default: none. */
  readonly solverImprovingSolutionLimit?: number;
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
  /** Every plan the stage program (HiGHS) returned, with whether it was proven optimal. */
  readonly refined: readonly Candidate[];
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

/** "optimal (proven by HiGHS)", "feasible, not proven optimal (...)", or "screened" for a candidate. */
export function describeOptimality(c: Candidate): string {
  const o = c.optimality;
  if (!o) return 'best of the screened grid (no optimality claim beyond it)';
  if (o.proven) return 'optimal for the stage program (proven by HiGHS)';
  const gap = o.relativeGap === null ? 'gap unknown' : `relative gap ${(o.relativeGap * 100).toPrecision(3)}%`;
  return `feasible, NOT proven optimal: HiGHS stopped with '${o.status}' (${gap})`;
}

function memoryLabel(stages: readonly StageSpec[]): string {
  const lo = Math.min(...stages.map((s) => s.memoryMB)), hi = Math.max(...stages.map((s) => s.memoryMB));
  return lo === hi ? `${lo} MB` : `${lo}-${hi} MB`;
}

function launchLabel(l: LaunchSpec): string {
  return l.kind === 'tree' ? launchTreeLabel(l) : l.kind;
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

/** Groups of `groupSize` layers (the last may be shorter). */
function uniformStages(layers: number, groupSize: number, memoryMB: number): StageSpec[] {
  const out: StageSpec[] = [];
  for (let a = 1; a <= layers; a += groupSize) out.push({ firstLayer: a, lastLayer: Math.min(layers, a + groupSize - 1), memoryMB });
  return out;
}

/** Exactly `groups` groups of near-equal size (the first L mod G one layer longer). */
export function evenStages(layers: number, groups: number, memoryMB: number): StageSpec[] {
  const out: StageSpec[] = [];
  const base = Math.floor(layers / groups), extra = layers % groups;
  let a = 1;
  for (let g = 0; g < groups; g++) {
    const size = base + (g < extra ? 1 : 0);
    out.push({ firstLayer: a, lastLayer: a + size - 1, memoryMB });
    a += size;
  }
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
  const n = network.neurons, L = network.layers.length;
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
  if (o.memoryMB !== undefined && !isLambdaMemoryMB(o.memoryMB)) {
    throw new UsageError(`memory must be a whole number of MB in Lambda's ${LAMBDA_MEMORY_RANGE_TEXT}, got ${o.memoryMB}`, { field: 'memoryMB' });
  }
  if (o.groups !== undefined && !(Number.isInteger(o.groups) && o.groups >= 1 && o.groups <= L)) {
    throw new UsageError(`groups must be an integer from 1 to the network's ${L} layers, got ${o.groups}`, { field: 'groups' });
  }
  for (const [name, list] of [['channels', o.channels], ['shapes', o.shapes], ['launches', o.launches], ['workflowTypes', o.workflowTypes]] as const) {
    if (list !== undefined && list.length === 0) throw new UsageError(`${name} is empty: nothing to search`, { field: name });
  }
}

/** The shapes a configuration of `workers` with `channel` can take under the options (before grouping). */
function reachableShapes(workers: number, channel: ChannelChoice, L: number, groups: number | undefined): Shape[] {
  if (workers === 1) {
    if (channel !== 'none') return [];
    if (groups === undefined) return L > 1 ? ['serial', 'stages'] : ['serial'];
    return groups === 1 ? ['serial'] : ['stages'];
  }
  if (channel === 'none') return groups === undefined || groups === L ? ['map-per-layer'] : [];
  // Groups of one layer each carry nothing over the channel: that is map-per-layer.
  if (groups === L) return [];
  return ['layer-groups'];
}

/**
 * Why no configuration matches the restricting options, in one line (null when some does). Each
 * restriction is named with what it rules out.
 */
export function explainNoMatch(network: SparseNetwork, o: PlanSearchOptions, workerCounts: readonly number[]): string | null {
  const L = network.layers.length;
  const channels = o.channels ?? CHANNEL_CHOICES;
  const shapes = o.shapes ?? SHAPES;
  for (const p of workerCounts) {
    for (const ch of channels) {
      if (reachableShapes(p, ch, L, o.groups).some((s) => shapes.includes(s))) return null;
    }
  }
  const parts: string[] = [];
  const counts = workerCounts.join(', ');
  const onlySerial = workerCounts.every((p) => p === 1);
  if (onlySerial && !channels.includes('none')) parts.push(`channel ${channels.join('/')} needs 2 or more workers, but only 1 worker is searched`);
  if (onlySerial && shapes.every((s) => s === 'map-per-layer' || s === 'layer-groups')) parts.push(`shape ${shapes.join('/')} needs 2 or more workers, but only 1 worker is searched`);
  if (workerCounts.every((p) => p > 1) && shapes.every((s) => s === 'serial' || s === 'stages')) parts.push(`shape ${shapes.join('/')} runs on one worker, but the worker counts searched are ${counts}`);
  if (shapes.every((s) => s === 'layer-groups') && channels.every((c) => c === 'none')) parts.push('layer groups exchange rows over a channel (queue or object), but only channel none is allowed');
  if (shapes.every((s) => s === 'serial' || s === 'stages' || s === 'map-per-layer') && !channels.includes('none')) parts.push(`shape ${shapes.join('/')} uses no channel between layers, but channel ${channels.join('/')} was asked for`);
  if (o.groups !== undefined) {
    if (shapes.every((s) => s === 'serial') && o.groups !== 1) parts.push(`a serial plan is one group, not ${o.groups}`);
    if (shapes.every((s) => s === 'stages') && o.groups === 1) parts.push('stages means 2 or more groups, not 1 (that is serial)');
    if (shapes.every((s) => s === 'map-per-layer') && o.groups !== L) parts.push(`map-per-layer has one group per layer (${L}), not ${o.groups}`);
    if (shapes.every((s) => s === 'layer-groups') && o.groups === L) parts.push(`${L} groups of one layer each is map-per-layer, not layer-groups`);
  }
  return `no plan can match: ${parts.length > 0 ? parts.join('; ') : `workers ${counts}, channel ${channels.join('/')}, shape ${shapes.join('/')}${o.groups !== undefined ? `, ${o.groups} groups` : ''}`}`;
}

export interface ContextOptions {
  readonly prices: PriceTable;
  readonly calibration: CalibrationProfile;
  readonly constants?: LatencyConstants;
  readonly wireFormat?: WireFormat;
}

/**
 * What every estimate of `network` on `workload` shares: rates, constants, prices, wire format,
 * the kernel's thread scaling (each memory size then runs the threads that make it fastest:
 * kernelThreadsFor), and the project's fixed choices (x86_64, a 1,024 MB gather, a 1.5 margin on
 * predicted durations against AWS's limits).
 */
export function estimateContext(network: SparseNetwork, workload: WorkloadProfile, o: ContextOptions): EstimateContext {
  const wireFormat = o.wireFormat ?? defaultWireFormat();
  return {
    neurons: network.neurons,
    layerCount: network.layers.length,
    layerNonzeros: network.layers.map(layerNonzeros),
    workload,
    rates: computeRates(o.calibration, network.neurons),
    constants: o.constants ?? latencyConstants(),
    prices: o.prices,
    wireFormat,
    bytesPerNonzero: wireFormat.bytesPerNonzero,
    kernelParallelFraction: kernelParallelFraction(o.calibration),
    architecture: 'x86_64',
    gatherMemoryMB: 1024,
    safetyFactor: 1.5,
  };
}

/** Searches the plans of `network` for `workload`. */
export async function searchPlans(network: SparseNetwork, workload: WorkloadProfile, o: PlanSearchOptions): Promise<PlanSearchResult> {
  validateSearchOptions(network, o);
  const L = network.layers.length;
  const ctx = estimateContext(network, workload, o);
  const constants = ctx.constants;
  const maxWorkers = o.maxWorkers ?? Math.min(network.neurons, 256);
  const workerCounts = [...new Set(o.workerCounts ?? defaultWorkerCounts(maxWorkers))].sort((a, b) => a - b);
  const noMatch = explainNoMatch(network, o, workerCounts);
  if (noMatch) throw new UsageError(noMatch);
  const memories = o.memoryMB !== undefined ? [o.memoryMB] : LAMBDA_MEMORY_GRID_MB;
  const channels = o.channels ?? CHANNEL_CHOICES;
  const shapes = o.shapes ?? SHAPES;
  const launches = o.launches ?? LAUNCH_KINDS;
  const workflowTypes = o.workflowTypes ?? ['STANDARD', 'EXPRESS'];
  const slo = o.sloSeconds;
  const cmp = better(o.objective);
  const groupingsOf = (groupings: number[]) => (memoryMB: number): StageSpec[][] =>
    o.groups !== undefined ? [evenStages(L, o.groups, memoryMB)] : groupings.map((g) => uniformStages(L, g, memoryMB));

  const candidates: Candidate[] = [];
  const models = new Map<string, ConfigModel>();
  const partitions = new Map<number, { partition: LayerPartition | null; stats: PartitionStats }>();
  let evaluated = 0;

  const consider = (model: ConfigModel, stages: readonly StageSpec[], method: Candidate['method'], optimality: Optimality | null): Candidate | null => {
    const shape = shapeOf(model.config, stages);
    if (!shapes.includes(shape)) return null;
    const estimate = model.plan(stages);
    evaluated++;
    const c: Candidate = {
      label: labelOf(shape, model.config, stages),
      family: familyOf(shape, model.config),
      shape, config: model.config, stages, estimate, method, optimality,
      meetsSlo: slo === undefined || estimate.latencySeconds <= slo + 1e-9,
    };
    candidates.push(c);
    return c;
  };

  // 1. Screen.
  let step = 0;
  for (const p of workerCounts) {
    o.onProgress?.(`partition and screen ${p} worker${p > 1 ? 's' : ''}`, step++, workerCounts.length);
    const configs: { config: PlanConfig; stages: (memoryMB: number) => StageSpec[][] }[] = [];
    for (const workflowType of workflowTypes) {
      for (const channel of channels) {
        if (!reachableShapes(p, channel, L, o.groups).some((s) => shapes.includes(s))) continue;
        if (p === 1) {
          configs.push({ config: { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType }, stages: groupingsOf([L, ...groupSizes(L).filter((g) => g < L)]) });
        } else if (channel === 'none') {
          configs.push({ config: { workers: p, channel: 'none', launch: { kind: 'map' }, workflowType }, stages: groupingsOf([1]) });
        } else {
          for (const kind of launches) {
            const launch: LaunchSpec = kind === 'map' ? { kind: 'map' } : bestTree(p, constants);
            configs.push({ config: { workers: p, channel, launch, workflowType }, stages: groupingsOf(groupSizes(L)) });
          }
        }
      }
    }
    if (configs.length === 0) continue;
    let stats: PartitionStats;
    let partition: LayerPartition | null = null;
    if (p === 1) stats = serialStats(network);
    else {
      partition = partitionNetwork(network, p, o.scheme, { seed: o.seed ?? 1 });
      stats = partitionStats(network, partition);
    }
    partitions.set(p, { partition, stats });
    for (const { config, stages } of configs) {
      const model = new ConfigModel(ctx, stats, config);
      models.set(configKey(config), model);
      for (const m of memories) for (const s of stages(m)) consider(model, s, 'screen', null);
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
  const refined: Candidate[] = [];
  const toRefine = ranked.slice(0, refineTop);
  for (let i = 0; i < toRefine.length; i++) {
    const base = toRefine[i];
    o.onProgress?.('stage program (HiGHS)', i, toRefine.length);
    const model = models.get(configKey(base.config))!;
    const overhead = model.overhead();
    const options: StageOption[] = [];
    const ranges: [number, number][] = [];
    if (base.shape === 'map-per-layer') for (let l = 1; l <= L; l++) ranges.push([l, l]);
    else if (o.groups !== undefined) for (const g of evenStages(L, o.groups, 0)) ranges.push([g.firstLayer, g.lastLayer]);
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
      const expressCap = AWS_LIMITS.sfnExpressMaxSeconds.value / ctx.safetyFactor;
      cap = cap === undefined ? expressCap : Math.min(cap, expressCap);
    }
    const solution = await solveStageProgram({
      layers: L,
      options,
      objective: o.objective,
      sloSeconds: cap,
      fixedSeconds: overhead.seconds,
      fixedCostUSD: overhead.costUSD,
      maxHistoryEvents: base.config.workflowType === 'STANDARD' ? AWS_LIMITS.sfnStandardMaxHistoryEvents.value : undefined,
      fixedHistoryEvents: overhead.historyEvents,
      timeLimitSeconds: o.solverTimeLimitSeconds,
      improvingSolutionLimit: o.solverImprovingSolutionLimit,
    });
    milpSolves++;
    const refinedPlan = solution ? consider(model, solution.stages.map((s) => ({ firstLayer: s.firstLayer, lastLayer: s.lastLayer, memoryMB: s.memoryMB })), 'milp', solution.optimality) : null;
    if (refinedPlan) refined.push(refinedPlan);
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
    chosen, fastest, cheapest, pareto, families, refined, server,
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
