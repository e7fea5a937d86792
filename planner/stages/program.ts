// The AMPS-Inf program for a dense model: cut its units into consecutive stages and give each stage
// a Lambda memory size, minimizing the cost of an execution subject to its latency <= SLO, every
// stage's package within the limit and its memory at least its peak. Solved with HiGHS by the same
// stage program the sparse planner uses (planner/optimize/milp.ts solveStageProgram):
//   x[s] in {0, 1} for every option s = (first unit, last unit, memory) that fits (model.ts)
//   flow: the chosen options cover units 1..n in order
//   sum seconds[s] x[s] <= SLO - fixed seconds (Express: also <= 300 s / safety)
//   minimize sum cost[s] x[s]
// For every batch size B (BATCH-style) and both workflow types, the program is solved for the
// whole batch within the SLO; the plan is the cheapest per input (ties: faster, then smaller B).
//
// Where this differs from AMPS-Inf (ICPP 2021; seeds/000: its abstract): AMPS-Inf states a
// mixed-integer quadratic program (cost = memory x time, both decided) solved by a solver for
// Keras models whose weights its functions load from S3. Here each (stage, memory) pair is an
// option with its own time and cost computed beforehand, so the program is linear (and exact for
// the model: a stage's estimate does not depend on the others'); the sub-model ships in the
// stage's deployment package (a cold start fetches it), activations go through the state payload
// when small and S3 otherwise; the batch is a dimension and Step Functions orchestrates the chain.

import { AWS_LIMITS } from '../aws-limits.ts';
import { addCounters, type UsageCounters } from '../cost/counters.ts';
import { priceCounters, type CostBreakdown } from '../cost/price.ts';
import { LAMBDA_MEMORY_GRID_MB } from '../optimize/estimate.ts';
import { solveStageProgram, type Optimality, type StageOption, type StageProgram } from '../optimize/milp.ts';
import { SloUnreachableError, UsageError } from '../../model/errors.ts';
import { fastestStages, solveStagesByDynamicProgram } from './dp.ts';
import type { LayerUnit } from '../../model/onnx/units.ts';
import { packageLimitBytes } from '../plan/stages-schema.ts';
import { MB, StageModel, stageModelOf, type PackageKind, type StageContext, type StageEstimate, type StagesOverhead, type WorkflowType } from './model.ts';

/** Batch sizes searched without --batch. */
export const DEFAULT_BATCHES: readonly number[] = [1, 2, 4, 8, 16];

export const WORKFLOW_TYPES: readonly WorkflowType[] = ['EXPRESS', 'STANDARD'];

export interface StagesSearchOptions {
  readonly sloSeconds: number;
  readonly batches?: readonly number[];
  readonly memoryGridMB?: readonly number[];
  readonly workflowTypes?: readonly WorkflowType[];
  /** 'milp' (HiGHS, the planner's) or 'dp' (the dynamic program, for cross-checks). Default milp. */
  readonly solver?: 'milp' | 'dp';
}

/** A solved plan at one batch and workflow type. */
export interface StagesSolution {
  readonly batch: number;
  readonly workflowType: WorkflowType;
  readonly stages: readonly StageEstimate[];
  readonly overhead: StagesOverhead;
  readonly latencySeconds: number;
  readonly costUSD: number;
  readonly costPerInputUSD: number;
  readonly counters: UsageCounters;
  readonly cost: CostBreakdown;
  readonly optimality: Optimality;
}

/** The best plan of one batch (over workflow types), or why there is none. */
export interface BatchResult {
  readonly batch: number;
  readonly best: StagesSolution | null;
  /** The fastest plan at this batch, whatever its cost (null when no stage fits at all). */
  readonly fastest: StagesSolution | null;
  /** On the frontier of cost per input against latency among the batches' best plans. */
  readonly frontier: boolean;
}

export interface StagesSearchResult {
  readonly chosen: StagesSolution;
  readonly batches: readonly BatchResult[];
  readonly options: number;
  readonly solves: number;
}

/**
 * Added to an option's cost per unit index of its last unit, so that of plans equally cheap the one
 * with the earlier cuts is the optimum, for HiGHS and the dynamic program alike. Ties are common:
 * a stage's time and bytes are sums over its units, so moving a unit (a Relu) between two stages of
 * the same memory changes nothing. Large enough for HiGHS to tell apart (its relative gap of 1e-9
 * on costs up to about 1e-3 $ per execution is 1e-12 $), small enough to matter for nothing else:
 * it can prefer a plan dearer by at most 1e-11 $ x units x stages (2.5e-9 $ for 50 units in 5
 * stages, 0.01% of the cheapest plan here). Plans report their real cost (solutionOf), without it.
 */
export const TIE_BREAK_USD_PER_UNIT = 1e-11;

/**
 * The program of one stage model: every option that fits, reduced to those that can be in an
 * optimal plan (reduceStageOptions) unless `reduce` is false (tests cross-check both).
 */
export function stageProgramOf(model: StageModel, sloSeconds: number | undefined, memoryGridMB: readonly number[] = LAMBDA_MEMORY_GRID_MB, reduce = true): StageProgram {
  const n = model.units;
  const options: StageOption[] = [];
  for (let a = 1; a <= n; a++) {
    for (let b = a; b <= n; b++) {
      // Packages only grow with more units: once over the limit, no longer range fits either.
      if (!fitsPackage(model, a, b)) break;
      const required = model.requiredMemoryMB(a, b);
      for (const m of memoryGridMB) {
        if (m < required) continue;
        const e = model.stage(a, b, m);
        if (!e.feasible) continue;
        options.push({ firstLayer: a, lastLayer: b, memoryMB: m, seconds: e.seconds, costUSD: e.costUSD + TIE_BREAK_USD_PER_UNIT * b, historyEvents: e.historyEvents });
      }
    }
  }
  const overhead = model.overhead();
  const express = model.workflowType === 'EXPRESS';
  const expressCap = AWS_LIMITS.sfnExpressMaxSeconds.value / model.ctx.safetyFactor;
  const slo = express ? Math.min(sloSeconds ?? Infinity, expressCap) : sloSeconds;
  return {
    layers: n,
    options: reduce ? reduceStageOptions(options, n, (slo ?? Infinity) - overhead.seconds) : options,
    objective: 'cost',
    sloSeconds: slo === Infinity ? undefined : slo,
    fixedSeconds: overhead.seconds,
    fixedCostUSD: overhead.costUSD,
    maxHistoryEvents: express ? undefined : AWS_LIMITS.sfnStandardMaxHistoryEvents.value,
    fixedHistoryEvents: overhead.historyEvents,
  };
}

/** Shortest paths over the options by `weight`: best[k] from unit 1 to boundary k (forward) or from k to the end. */
function shortestPaths(options: readonly StageOption[], n: number, weight: (o: StageOption) => number): { to: Float64Array; from: Float64Array } {
  const to = new Float64Array(n + 1).fill(Infinity), from = new Float64Array(n + 1).fill(Infinity);
  to[0] = 0; from[n] = 0;
  const byFirst = [...options].sort((a, b) => a.firstLayer - b.firstLayer);
  for (const o of byFirst) if (to[o.firstLayer - 1] + weight(o) < to[o.lastLayer]) to[o.lastLayer] = to[o.firstLayer - 1] + weight(o);
  const byLast = [...options].sort((a, b) => b.lastLayer - a.lastLayer);
  for (const o of byLast) if (from[o.lastLayer] + weight(o) < from[o.firstLayer - 1]) from[o.firstLayer - 1] = from[o.lastLayer] + weight(o);
  return { to, from };
}

/** The path of least `weight` over the options from unit 1 to the end, as its (seconds, cost); null when there is none. */
function bestPath(options: readonly StageOption[], n: number, weight: (o: StageOption) => number): { seconds: number; costUSD: number } | null {
  const best = new Float64Array(n + 1).fill(Infinity), seconds = new Float64Array(n + 1), cost = new Float64Array(n + 1);
  best[0] = 0;
  const byFirst = [...options].sort((a, b) => a.firstLayer - b.firstLayer);
  for (const o of byFirst) {
    const w = best[o.firstLayer - 1] + weight(o);
    if (w < best[o.lastLayer]) {
      best[o.lastLayer] = w;
      seconds[o.lastLayer] = seconds[o.firstLayer - 1] + o.seconds;
      cost[o.lastLayer] = cost[o.firstLayer - 1] + o.costUSD;
    }
  }
  return best[n] === Infinity ? null : { seconds: seconds[n], costUSD: cost[n] };
}

/**
 * Drops options that are in no optimal plan, so the MILP has fewer variables; exact, whatever the
 * solver. An option whose fastest completion (the fastest way to reach its first unit, itself,
 * the fastest way on from its last) exceeds the latency budget is in no feasible plan; one whose
 * cheapest completion costs more than a known feasible plan is in no optimal plan. The known plans:
 * the fastest, the cheapest, and the cheapest at each single memory size, when they meet the
 * budget. Completion bounds are shortest paths over the options.
 */
export function reduceStageOptions(options: readonly StageOption[], n: number, secondsBudget: number): StageOption[] {
  const fast = shortestPaths(options, n, (o) => o.seconds);
  const slack = 1e-9;
  const inTime = options.filter((o) => fast.to[o.firstLayer - 1] + o.seconds + fast.from[o.lastLayer] <= secondsBudget + slack);
  if (inTime.length === 0) return [];
  let incumbent = Infinity;
  const consider = (plan: { seconds: number; costUSD: number } | null) => {
    if (plan && plan.seconds <= secondsBudget + slack && plan.costUSD < incumbent) incumbent = plan.costUSD;
  };
  consider(bestPath(inTime, n, (o) => o.seconds));
  consider(bestPath(inTime, n, (o) => o.costUSD));
  for (const m of new Set(inTime.map((o) => o.memoryMB))) consider(bestPath(inTime.filter((o) => o.memoryMB === m), n, (o) => o.costUSD));
  const cheap = shortestPaths(inTime, n, (o) => o.costUSD);
  const tolerance = Math.abs(incumbent) * 1e-9;
  return inTime.filter((o) => cheap.to[o.firstLayer - 1] + o.costUSD + cheap.from[o.lastLayer] <= incumbent + tolerance);
}

function fitsPackage(model: StageModel, a: number, b: number): boolean {
  return model.packageBytesOf(a, b) <= model.ctx.packageLimitBytes;
}

/** The solution of a program as the stage estimates it chose. */
export function solutionOf(model: StageModel, solved: { stages: readonly StageOption[]; optimality: Optimality }): StagesSolution {
  const stages = solved.stages.map((o) => model.stage(o.firstLayer, o.lastLayer, o.memoryMB));
  const overhead = model.overhead();
  const counters = addCounters(overhead.counters, ...stages.map((s) => s.counters));
  const cost = priceCounters(counters, model.ctx.prices);
  const latencySeconds = overhead.seconds + stages.reduce((t, s) => t + s.seconds, 0);
  return {
    batch: model.batch, workflowType: model.workflowType, stages, overhead, latencySeconds,
    costUSD: cost.totalUSD, costPerInputUSD: cost.totalUSD / model.batch, counters, cost, optimality: solved.optimality,
  };
}

/**
 * Why no unit range fits a package at all: a unit alone exceeds the limit with the runtime. Null
 * when every unit fits. `unitModelBytes(k)` is unit k's sub-model bytes: the calibrated file's, or
 * before a calibration is read its weights (LayerUnit.paramBytes, a lower bound).
 */
export function unitPackageProblem(
  units: readonly LayerUnit[], unitModelBytes: (unit: number) => number, runtimeBytes: number, packageKind: PackageKind,
  limit: number = packageLimitBytes(packageKind),
): string | null {
  for (const u of units) {
    const bytes = unitModelBytes(u.index) + runtimeBytes;
    if (bytes <= limit) continue;
    return `unit ${u.index} (${u.name}) alone needs a package of ${(bytes / MB).toFixed(1)} MB (its sub-model ${(unitModelBytes(u.index) / MB).toFixed(1)} MB and the runtime ${(runtimeBytes / MB).toFixed(1)} MB), `
      + `over the ${(limit / MB).toFixed(0)} MB limit of ${packageKind === 'zip' ? 'a zip package, unzipped' : 'a container image'}: the package limit is exceeded at every cut`
      + (packageKind === 'zip' ? '; a container image allows 10 GB (--package image)' : '');
  }
  return null;
}

/** unitPackageProblem with the calibrated sub-model bytes. */
export function packageProblem(ctx: StageContext): string | null {
  const units = ctx.calibration.units;
  return unitPackageProblem(ctx.model.units, (k) => units[k - 1].modelBytes, ctx.runtimeBytes, ctx.packageKind, ctx.packageLimitBytes);
}

/** Why no memory size fits a unit: it needs more than Lambda's largest. Null when every unit fits. */
export function memoryProblem(ctx: StageContext, batch: number): string | null {
  const model = stageModelOf(ctx, batch, 'EXPRESS');
  const max = AWS_LIMITS.lambdaMaxMemoryMB.value;
  for (let k = 1; k <= model.units; k++) {
    const need = model.requiredMemoryMB(k, k);
    if (need > max) return `unit ${k} (${ctx.model.units[k - 1].name}) needs about ${need} MB at batch ${batch}, more than Lambda's ${max.toLocaleString('en-US')} MB`;
  }
  return null;
}

function better(a: StagesSolution, b: StagesSolution | null): boolean {
  if (!b) return true;
  if (a.costPerInputUSD !== b.costPerInputUSD) return a.costPerInputUSD < b.costPerInputUSD;
  if (a.latencySeconds !== b.latencySeconds) return a.latencySeconds < b.latencySeconds;
  return a.batch < b.batch;
}

/**
 * The cheapest plan per input within the SLO over batch sizes and workflow types. Throws
 * SloUnreachableError saying the fastest possible latency when no plan meets the SLO, and
 * UsageError when no stage fits the package limit or Lambda's memory at all.
 */
export async function searchStages(ctx: StageContext, o: StagesSearchOptions): Promise<StagesSearchResult> {
  const batches = o.batches ?? DEFAULT_BATCHES;
  const types = o.workflowTypes ?? WORKFLOW_TYPES;
  const grid = o.memoryGridMB ?? LAMBDA_MEMORY_GRID_MB;
  const pkg = packageProblem(ctx);
  if (pkg) throw new UsageError(pkg, { file: ctx.model.path });
  let options = 0, solves = 0;
  const results: { batch: number; best: StagesSolution | null; fastest: StagesSolution | null }[] = [];
  for (const batch of batches) {
    let best: StagesSolution | null = null, fastest: StagesSolution | null = null;
    for (const type of types) {
      const model = stageModelOf(ctx, batch, type);
      const program = stageProgramOf(model, o.sloSeconds, grid);
      options += program.options.length;
      // The fastest plan of all the options (the reduced ones keep only what can be optimal).
      const fast = fastestStages(stageProgramOf(model, undefined, grid, false));
      if (fast) {
        const f = solutionOf(model, fast);
        if (!fastest || f.latencySeconds < fastest.latencySeconds) fastest = f;
      }
      solves++;
      const solved = o.solver === 'dp' ? solveStagesByDynamicProgram(program) : await solveStageProgram(program);
      if (!solved) continue;
      const s = solutionOf(model, solved);
      if (better(s, best)) best = s;
    }
    results.push({ batch, best, fastest });
  }
  const feasible = results.filter((r) => r.best !== null).map((r) => r.best!);
  if (feasible.length === 0) {
    const memory = batches.map((b) => memoryProblem(ctx, b)).find((p) => p !== null);
    if (memory && results.every((r) => r.fastest === null)) throw new UsageError(memory, { file: ctx.model.path });
    const fastest = results.map((r) => r.fastest).filter((f) => f !== null).sort((a, b) => a.latencySeconds - b.latencySeconds)[0];
    const label = (f: StagesSolution) => `batch ${f.batch}, ${f.stages.length} stage${f.stages.length === 1 ? '' : 's'} at ${f.stages.map((s) => `${s.memoryMB} MB`).join(', ')}`;
    throw new SloUnreachableError(fastest
      ? `no plan of ${ctx.model.path} meets the SLO of ${o.sloSeconds} s: the fastest possible is ${fastest.latencySeconds.toFixed(2)} s (${label(fastest)})`
      : `no plan of ${ctx.model.path} fits Lambda's limits at batch ${batches.join(', ')}`,
    fastest ? { label: label(fastest), latencySeconds: fastest.latencySeconds, costUSD: fastest.costUSD } : null);
  }
  let chosen = feasible[0];
  for (const s of feasible) if (better(s, chosen)) chosen = s;
  // The frontier: a batch's best plan no other batch's best beats on both latency and cost per input.
  const batchResults: BatchResult[] = results.map((r) => ({
    ...r,
    frontier: r.best !== null && !feasible.some((s) => s !== r.best && s.latencySeconds <= r.best!.latencySeconds && s.costPerInputUSD <= r.best!.costPerInputUSD
      && (s.latencySeconds < r.best!.latencySeconds || s.costPerInputUSD < r.best!.costPerInputUSD)),
  }));
  return { chosen, batches: batchResults, options, solves };
}
