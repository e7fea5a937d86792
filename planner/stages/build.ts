// Turns the chosen stages into the contract (a stages plan, planner/plan/stages-schema.ts) and its
// report (predictions, the frontier over batch sizes, the baselines with the savings against
// them, and the calibration, prices and constants used). The contract: one function per stage
// with its memory, a timeout covering its predicted run (taskTimeoutSeconds, as the sparse plans),
// its package (the stage's sub-model and the runtime); the workflow's Tasks with their units,
// names and hand-offs; storage keys; names derived from the plan id.

import { AWS_LIMITS } from '../aws-limits.ts';
import { priceValues, PRICE_NAMES, type PriceName } from '../cost/prices.ts';
import { countersToRecord } from '../cost/record.ts';
import type { CostBreakdown } from '../cost/price.ts';
import type { RunCounters } from '../cost/record.ts';
import { latencyConstantsFile, type LatencyConstantName } from '../latency/constants.ts';
import { lambdaTaskRetry, LAMBDA_RETRY_POLICY, taskTimeoutSeconds } from '../plan/build.ts';
import { computePlanId, DEFAULT_STACK_PREFIX } from '../plan/names.ts';
import { PLAN_FORMAT_VERSION } from '../plan/schema.ts';
import {
  ONNX_FILE_CHECKSUM_ALGORITHM, STAGES_PLAN_KIND, stageFunctionId, stageModelFile, stagesPlanNames,
  type StagesPlan,
} from '../plan/stages-schema.ts';
import type { StagesBaselines } from './baselines.ts';
import { fitSessionCreate, unitsParallelFraction } from './calibration.ts';
import { STAGE_CONSTANTS, type StageConstantName } from './constants.ts';
import { batchDims, stageModelOf, type StageContext, type StageParts } from './model.ts';
import type { StagesSearchResult, StagesSolution } from './program.ts';

export const STAGES_REPORT_KIND = 'stepinfer-stages-plan-report';
export const STAGES_REPORT_FORMAT_VERSION = 1;

/** Storage keys of every stages plan (placeholders: <execution>, <stage>). */
export const STAGES_STORAGE_KEYS: StagesPlan['storage'] = {
  inputs: 'runs/<execution>/input.f32',
  handoff: 'runs/<execution>/stage<stage>/output.f32',
  result: 'runs/<execution>/result.f32',
};

/** The latency constants (planner/latency/aws-latency.json) a stage estimate reads. */
export const STAGE_LATENCY_CONSTANTS: readonly LatencyConstantName[] = [
  'lambdaColdStartSeconds', 'lambdaFullVcpuMemoryMB', 'lambdaMaxVcpus', 'lambdaCoreSpeedRatio', 'lambdaNetworkBytesPerSecond',
  'lambdaRuntimeBaseMB', 's3PutSeconds', 's3GetSeconds', 'sfnExecutionStartSeconds', 'sfnTransitionSeconds', 'sfnTaskInvokeSeconds',
  'sfnExpressBilledMemoryMB', 'serverStartSeconds',
];

interface SolutionSummary {
  readonly batch: number;
  readonly workflowType: 'STANDARD' | 'EXPRESS';
  readonly latencySeconds: number;
  readonly costUSD: number;
  readonly costPerInputUSD: number;
  readonly stages: readonly { readonly firstUnit: number; readonly lastUnit: number; readonly memoryMB: number }[];
}

export interface StagesPlanReport {
  readonly formatVersion: typeof STAGES_REPORT_FORMAT_VERSION;
  readonly kind: typeof STAGES_REPORT_KIND;
  readonly planId: string;
  readonly generator: { readonly name: string; readonly version: string };
  readonly objective: { readonly kind: 'cost'; readonly sloSeconds: number | null; readonly perInput: true };
  readonly model: {
    readonly path: string; readonly units: number; readonly parameterCount: number;
    readonly unitNames: readonly string[];
  };
  readonly predicted: {
    readonly batch: number;
    readonly workflowType: 'STANDARD' | 'EXPRESS';
    readonly latencySeconds: number;
    readonly costUSD: number;
    readonly costPerInputUSD: number;
    readonly cost: CostBreakdown;
    readonly counters: RunCounters;
    readonly optimality: { readonly proven: boolean; readonly relativeGap: number | null; readonly status: string };
    readonly stages: readonly {
      readonly index: number; readonly firstUnit: number; readonly lastUnit: number; readonly name: string;
      readonly memoryMB: number; readonly threads: number; readonly requiredMemoryMB: number;
      readonly modelBytes: number; readonly packageBytes: number;
      readonly seconds: number; readonly functionSeconds: number; readonly parts: StageParts; readonly costUSD: number;
      readonly input: 'staged' | 'payload' | 'object'; readonly handoff: 'payload' | 'object'; readonly outputBytes: number;
    }[];
  };
  /** The best plan of every batch size searched (null: none meets the SLO), and whether it is on the cost-per-input vs latency frontier. */
  readonly frontier: readonly { readonly batch: number; readonly best: SolutionSummary | null; readonly fastestSeconds: number | null; readonly onFrontier: boolean }[];
  readonly baselines: {
    readonly singleFunction: { readonly plan: SolutionSummary | null; readonly reason: string | null; readonly saving: number | null };
    readonly uniformSplit: { readonly plan: SolutionSummary | null; readonly reason: string | null; readonly saving: number | null };
    readonly server: StagesBaselines['server'];
  };
  readonly search: { readonly options: number; readonly solves: number };
  readonly calibration: {
    readonly path: string;
    readonly date: string;
    readonly cpuModel: string;
    readonly onnxruntime: string;
    readonly loadAverage: { readonly start: number; readonly end: number };
    readonly parallelFraction: number;
    readonly unitScale: number;
    readonly sessionCreate: { readonly interceptSeconds: number; readonly secondsPerMB: number };
    readonly runtimePackageBytes: number;
  };
  readonly prices: { readonly region: string; readonly date: string; readonly values: Readonly<Record<PriceName, number>>; readonly sources: Readonly<Record<PriceName, string>> };
  readonly constants: {
    readonly latency: Readonly<Partial<Record<LatencyConstantName, { readonly value: number; readonly source: string }>>>;
    readonly stages: Readonly<Record<StageConstantName, { readonly value: number; readonly source: string }>>;
  };
  readonly assumptions: readonly string[];
}

export interface BuildStagesPlanInput {
  readonly ctx: StageContext;
  readonly search: StagesSearchResult;
  readonly baselines: StagesBaselines;
  /** Infinity: no SLO. */
  readonly sloSeconds: number;
  /** Exact bytes of each chosen stage's sub-model file, by stage index, when the caller extracted them; else the estimate. */
  readonly stageModelBytes?: readonly number[];
  readonly calibrationPath: string;
  readonly version: string;
  readonly stackPrefix?: string;
}

/** A stage's readable name: its unit's, or "first .. last". */
export function stageName(ctx: StageContext, firstUnit: number, lastUnit: number): string {
  const u = ctx.model.units;
  return firstUnit === lastUnit ? u[firstUnit - 1].name : `${u[firstUnit - 1].name} .. ${u[lastUnit - 1].name}`;
}

function summary(s: StagesSolution): SolutionSummary {
  return {
    batch: s.batch, workflowType: s.workflowType, latencySeconds: s.latencySeconds, costUSD: s.costUSD, costPerInputUSD: s.costPerInputUSD,
    stages: s.stages.map((e) => ({ firstUnit: e.firstUnit, lastUnit: e.lastUnit, memoryMB: e.memoryMB })),
  };
}

export function buildStagesPlan(input: BuildStagesPlanInput): { plan: StagesPlan; report: StagesPlanReport } {
  const { ctx, search } = input;
  const chosen = search.chosen;
  const model = ctx.model;
  const express = chosen.workflowType === 'EXPRESS';
  const limit = express ? AWS_LIMITS.sfnExpressMaxSeconds.value : AWS_LIMITS.lambdaMaxTimeoutSeconds.value;

  const functions: StagesPlan['functions'] = [];
  const stages: StagesPlan['workflow']['stages'] = chosen.stages.map((s, i) => {
    const timeout = taskTimeoutSeconds(s.functionSeconds, limit);
    const id = stageFunctionId(i, s.memoryMB);
    const modelBytes = input.stageModelBytes?.[i] ?? s.modelBytes;
    functions.push({
      id, role: 'stage', stage: i, memoryMB: s.memoryMB, timeoutSeconds: timeout, reservedConcurrency: 1, architecture: ctx.architecture,
      package: { kind: ctx.packageKind, modelFile: stageModelFile(i), modelBytes, unzippedBytes: modelBytes + ctx.runtimeBytes },
    });
    return {
      index: i, firstUnit: s.firstUnit, lastUnit: s.lastUnit, name: stageName(ctx, s.firstUnit, s.lastUnit), functionId: id,
      task: { timeoutSeconds: timeout, retry: LAMBDA_RETRY_POLICY },
      output: { dims: [...s.output.dims], bytes: s.output.bytes, handoff: s.output.handoff },
    };
  });
  const allTasks = stages.reduce((t, s) => t + s.task.timeoutSeconds, 0);
  const executionTimeoutSeconds = express ? Math.min(AWS_LIMITS.sfnExpressMaxSeconds.value, allTasks + 60) : allTasks + 60;
  const stackPrefix = input.stackPrefix ?? DEFAULT_STACK_PREFIX;
  // planId is left out: computePlanId hashes everything but it and the names.
  const withoutNames: Omit<StagesPlan, 'planId' | 'names'> & { readonly planId?: string } = {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: STAGES_PLAN_KIND,
    stackPrefix,
    model: {
      source: 'onnx',
      path: model.path,
      checksum: { algorithm: ONNX_FILE_CHECKSUM_ALGORITHM, value: model.checksum },
      input: { name: model.input.name, dims: batchDims(model.input, chosen.batch) },
      output: { name: model.output.name, dims: batchDims(model.output, chosen.batch) },
      units: model.units.length,
      parameterCount: model.parameterCount,
      weights: ctx.calibration.weights,
    },
    batch: chosen.batch,
    shape: 'stages',
    functions,
    workflow: { type: chosen.workflowType, executionTimeoutSeconds, retryPolicies: { [LAMBDA_RETRY_POLICY]: lambdaTaskRetry() }, stages },
    storage: { ...STAGES_STORAGE_KEYS },
  };
  const planId = computePlanId(withoutNames);
  const plan: StagesPlan = { ...withoutNames, planId, names: stagesPlanNames(planId, stackPrefix, functions.map((f) => f.id)) };

  const m = stageModelOf(ctx, chosen.batch, chosen.workflowType);
  const cal = ctx.calibration;
  const latencyFile = latencyConstantsFile();
  const report: StagesPlanReport = {
    formatVersion: STAGES_REPORT_FORMAT_VERSION,
    kind: STAGES_REPORT_KIND,
    planId,
    generator: { name: 'stepinfer', version: input.version },
    objective: { kind: 'cost', sloSeconds: Number.isFinite(input.sloSeconds) ? input.sloSeconds : null, perInput: true },
    model: { path: model.path, units: model.units.length, parameterCount: model.parameterCount, unitNames: model.units.map((u) => u.name) },
    predicted: {
      batch: chosen.batch,
      workflowType: chosen.workflowType,
      latencySeconds: chosen.latencySeconds,
      costUSD: chosen.costUSD,
      costPerInputUSD: chosen.costPerInputUSD,
      cost: chosen.cost,
      counters: countersToRecord(chosen.counters),
      optimality: chosen.optimality,
      stages: chosen.stages.map((s, i) => ({
        index: i, firstUnit: s.firstUnit, lastUnit: s.lastUnit, name: stageName(ctx, s.firstUnit, s.lastUnit),
        memoryMB: s.memoryMB, threads: s.threads, requiredMemoryMB: s.requiredMemoryMB,
        modelBytes: s.modelBytes, packageBytes: s.packageBytes,
        seconds: s.seconds, functionSeconds: s.functionSeconds, parts: s.parts, costUSD: s.costUSD,
        input: s.input, handoff: s.output.handoff, outputBytes: s.output.bytes,
      })),
    },
    frontier: search.batches.map((b) => ({ batch: b.batch, best: b.best ? summary(b.best) : null, fastestSeconds: b.fastest?.latencySeconds ?? null, onFrontier: b.frontier })),
    baselines: {
      singleFunction: { plan: input.baselines.singleFunction.solution ? summary(input.baselines.singleFunction.solution) : null, reason: input.baselines.singleFunction.reason, saving: input.baselines.singleFunction.saving },
      uniformSplit: { plan: input.baselines.uniformSplit.solution ? summary(input.baselines.uniformSplit.solution) : null, reason: input.baselines.uniformSplit.reason, saving: input.baselines.uniformSplit.saving },
      server: input.baselines.server,
    },
    search: { options: search.options, solves: search.solves },
    calibration: {
      path: input.calibrationPath,
      date: cal.date,
      cpuModel: cal.machine.cpuModel,
      onnxruntime: cal.onnxruntime,
      loadAverage: cal.loadAverage,
      parallelFraction: unitsParallelFraction(cal),
      unitScale: m.unitScale,
      sessionCreate: fitSessionCreate(cal),
      runtimePackageBytes: ctx.runtimeBytes,
    },
    prices: {
      region: ctx.prices.region,
      date: ctx.prices.date,
      values: priceValues(ctx.prices),
      sources: Object.fromEntries(PRICE_NAMES.map((n) => [n, ctx.prices.prices[n].source])) as Record<PriceName, string>,
    },
    constants: {
      latency: Object.fromEntries(STAGE_LATENCY_CONSTANTS.map((n) => [n, { value: ctx.constants[n], source: latencyFile.constants[n].source }])),
      stages: Object.fromEntries(Object.entries(STAGE_CONSTANTS).map(([k, v]) => [k, { value: v.value, source: v.source }])) as StagesPlanReport['constants']['stages'],
    },
    assumptions: [
      'every stage starts cold (sporadic requests); its INIT phase (importing onnxruntime) is billed and runs at a full core',
      "compute is the calibrated one-thread time of the stage's units on this machine, scaled to the function's vCPU share (planner/latency/model.ts lambdaCpuSpeed)",
      "the client's PUT of the batch and GET of the result are priced, not counted in the latency",
      `predicted durations x${ctx.safetyFactor} stay within Lambda's and Express's limits; task timeouts are 3 x predicted + 10 s`,
    ],
  };
  return { plan, report };
}

/** The report as JSON text. */
export function serializeStagesReport(report: StagesPlanReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** What a baseline contributes to a benchmark row: its latency, cost per input and the plan's saving, or why it has none. */
export interface BaselineColumns {
  readonly latencySeconds: number | null;
  readonly costPerInputUSD: number | null;
  readonly saving: number | null;
  readonly note: string;
}

/**
 * The planning columns of the stages benchmark (issue 11: per model and SLO, the plan's predicted
 * cost and latency beside the baselines; the benchmark adds the measured stage times of a local
 * run), from a plan's report.
 */
export function stagesPlanningColumns(r: StagesPlanReport) {
  const p = r.predicted;
  const lambda = (b: StagesPlanReport['baselines']['singleFunction']): BaselineColumns => b.plan
    ? { latencySeconds: b.plan.latencySeconds, costPerInputUSD: b.plan.costPerInputUSD, saving: b.saving, note: `${b.plan.stages.length} x ${b.plan.stages[0].memoryMB} MB` }
    : { latencySeconds: null, costPerInputUSD: null, saving: null, note: b.reason ?? '' };
  const s = r.baselines.server;
  return {
    model: r.model.path,
    sloSeconds: r.objective.sloSeconds,
    batch: p.batch,
    workflowType: p.workflowType,
    stages: p.stages.map((x) => `${x.firstUnit}-${x.lastUnit}@${x.memoryMB}`).join(' '),
    predictedSeconds: p.latencySeconds,
    predictedStageSeconds: p.stages.map((x) => x.seconds),
    predictedCostUSD: p.costUSD,
    costPerInputUSD: p.costPerInputUSD,
    singleFunction: lambda(r.baselines.singleFunction),
    uniformSplit: lambda(r.baselines.uniformSplit),
    server: { latencySeconds: s.latencySeconds, costPerInputUSD: s.costPerInputUSD, saving: s.saving, note: `${s.instanceType}, ${(s.utilization * 100).toFixed(0)}% busy (a request every ${s.requestIntervalSeconds.toFixed(1)} s)` } satisfies BaselineColumns,
  };
}
