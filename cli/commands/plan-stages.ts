// `stepinfer plan --model x.onnx`: AMPS-Inf stages for a dense ONNX model. Reads the model and its
// layer units (model/onnx/), the dense calibration (planner/latency/dense-calibration.json, or
// --calibration), solves the stage/memory program for every batch size (planner/stages/), and
// writes the stages plan (planner/plan/stages-schema.ts) with its report beside it; prints the
// chosen stages, the frontier over batch sizes, and the baselines (one function, a uniform split
// with one memory size, an always-on server) with the saving against each.
// cli/commands/plan.ts sends an ONNX --model here and refuses the sparse planner's options.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../model/errors.ts';
import { readDataFile } from '../../model/read-file.ts';
import { readOnnxModel } from '../../model/onnx/graph.ts';
import { layerUnits } from '../../model/onnx/units.ts';
import { extractStageModel, withBatch } from '../../model/onnx/extract.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { latencyConstants } from '../../planner/latency/constants.ts';
import { formatCost, formatSeconds } from '../../planner/optimize/search.ts';
import { packageLimitBytes, planReportPath, serializeStagesPlan, type StagesPlan } from '../../planner/plan/index.ts';
import {
  buildStagesPlan, calibrationForModel, DEFAULT_BATCHES, MB, parseDenseCalibration, runtimePackageBytes, searchStages, serializeStagesReport,
  stageContext, stagesBaselines, unitPackageProblem,
  type DenseModel, type PackageKind, type StagesPlanReport, type WorkflowType,
} from '../../planner/stages/index.ts';
import { fileChecksum, runnableGraph } from '../../functions/calibration/onnx-units.ts';
import { checkOutputPath, readJsonFile, readPriceFile, writeOutputFiles } from '../files.ts';
import { report, table } from '../output.ts';
import packageJson from '../../package.json' with { type: 'json' };

/** The checked-in dense calibration (measured on the development machine: calibrate-stages). */
export const DEFAULT_DENSE_CALIBRATION_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'planner', 'latency', 'dense-calibration.json');

/** Where a stages plan goes when --out is not given: git-ignored, inside the project. */
export const DEFAULT_STAGES_PLAN_PATH = '.stepinfer/plan.json';

/** `plan --model x.onnx`'s options: what makeStagesPlan needs, and where and how to write and print. */
export interface PlanStagesOptions extends MakeStagesPlanOptions {
  readonly out?: string;
  readonly force?: boolean;
  readonly stackPrefix: string;
  readonly json?: boolean;
}

/** Whether `--model` names an ONNX file (planned by this command). */
export function isOnnxModelPath(model: string | undefined): model is string {
  return model !== undefined && /\.onnx$/i.test(model);
}

/** The dense calibration file: --calibration, or the checked-in one. */
export function readDenseCalibration(file: string | undefined) {
  const path = file ?? DEFAULT_DENSE_CALIBRATION_PATH;
  const shown = file ?? 'planner/latency/dense-calibration.json';
  return { calibration: parseDenseCalibration(readJsonFile(resolve(path), 'dense calibration file not found (run stepinfer calibrate-stages --model <x.onnx> --out <file>)'), shown), shown };
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);

function describe(plan: StagesPlan, r: StagesPlanReport, out: { plan: string; report: string }): string {
  const p = r.predicted;
  const stageRows = p.stages.map((s) => [
    s.index, s.firstUnit === s.lastUnit ? `${s.firstUnit}` : `${s.firstUnit}-${s.lastUnit}`, s.name, s.memoryMB, s.threads,
    `${(s.packageBytes / MB).toFixed(1)} MB`, formatSeconds(s.seconds), formatCost(s.costUSD), s.handoff,
  ]);
  const frontierRows = r.frontier.map((f) => [
    `${f.onFrontier ? '* ' : '  '}${f.batch}`,
    f.best ? formatSeconds(f.best.latencySeconds) : `none (fastest ${f.fastestSeconds === null ? '-' : formatSeconds(f.fastestSeconds)})`,
    f.best ? formatCost(f.best.costPerInputUSD) : '-',
    f.best ? `${f.best.stages.length}` : '-',
    f.best ? f.best.workflowType.toLowerCase() : '-',
  ]);
  const b = r.baselines;
  const lambdaRow = (label: string, x: StagesPlanReport['baselines']['singleFunction']) => x.plan
    ? [label, `${x.plan.stages.length} x ${x.plan.stages[0].memoryMB} MB`, formatSeconds(x.plan.latencySeconds), formatCost(x.plan.costPerInputUSD), pct(x.saving)]
    : [label, x.reason ?? '-', '-', '-', '-'];
  const s = b.server;
  const baselineRows = [
    ['chosen stages', p.stages.map((x) => `${x.memoryMB}`).join('+') + ' MB', formatSeconds(p.latencySeconds), formatCost(p.costPerInputUSD), '-'],
    lambdaRow('one function', b.singleFunction),
    lambdaRow('uniform split', b.uniformSplit),
    [`server ${s.instanceType}`, `${(s.utilization * 100).toFixed(0)}% busy: a request every ${s.requestIntervalSeconds.toFixed(1)} s`, formatSeconds(s.latencySeconds), formatCost(s.costPerInputUSD), pct(s.saving)],
  ];
  return [
    `plan: ${p.stages.length} stage${p.stages.length === 1 ? '' : 's'} of ${r.model.units} units of ${r.model.path}, batch ${p.batch}, ${p.workflowType.toLowerCase()} workflow`,
    `  predicted: ${formatSeconds(p.latencySeconds)} per execution (SLO ${r.objective.sloSeconds === null ? 'none' : `${r.objective.sloSeconds} s`}), ${formatCost(p.costUSD)} per execution, ${formatCost(p.costPerInputUSD)} per input`,
    `  optimality: ${p.optimality.proven ? `optimal (${p.optimality.status})` : `not proven (${p.optimality.status}, gap ${p.optimality.relativeGap ?? 'unknown'})`}; ${r.search.options} stage options, ${r.search.solves} programs (HiGHS)`,
    table(['stage', 'units', 'names', 'memory MB', 'threads', 'package', 'seconds', 'cost', 'output'], stageRows),
    '',
    'batch frontier (cost per input vs latency; * = on the frontier):',
    table(['batch', 'latency', 'per input', 'stages', 'workflow'], frontierRows),
    '',
    `baselines at batch ${p.batch} (saving = 1 - chosen / baseline cost per input):`,
    table(['plan', 'shape', 'latency', 'per input', 'saving'], baselineRows),
    '',
    `calibration: ${r.calibration.path} (${r.calibration.cpuModel}, ${r.calibration.date.slice(0, 10)}, load ${r.calibration.loadAverage.start.toFixed(1)}), onnxruntime ${r.calibration.onnxruntime}, parallel fraction ${r.calibration.parallelFraction.toFixed(3)}`,
    `wrote ${out.plan} (plan ${plan.planId}) and ${out.report}`,
  ].join('\n');
}

/** What makeStagesPlan needs: the model, the SLO and the search's restrictions. */
export interface MakeStagesPlanOptions {
  readonly model: string;
  readonly slo?: number;
  readonly batch?: number;
  readonly package?: PackageKind;
  /** MB: a package limit below Lambda's for the package kind (what-if). */
  readonly packageLimit?: number;
  readonly memory?: number;
  readonly workflow?: readonly ('standard' | 'express')[];
  /** A price file overriding the defaults. */
  readonly prices?: string;
  /** A dense calibration file (default: the checked-in one). */
  readonly calibration?: string;
  readonly stackPrefix?: string;
}

/**
 * Reads the model and the calibration, searches, and builds the stages plan and its report: the
 * work of `plan --model x.onnx`, also what `run --model x.onnx` plans with. The stage files are
 * extracted (with the plan's batch, deterministic weights for a structure-only file) to record
 * their exact bytes in the plan.
 */
export async function makeStagesPlan(o: MakeStagesPlanOptions) {
  const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
  const { calibration: calibrationFile, shown: calibrationPath } = readDenseCalibration(o.calibration);
  const bytes = readDataFile(o.model, 'ONNX model file not found');
  const graph = readOnnxModel(bytes, o.model);
  const units = layerUnits(graph);
  const packageKind = o.package ?? 'zip';
  const limitBytes = o.packageLimit !== undefined ? o.packageLimit * MB : packageLimitBytes(packageKind);
  if (limitBytes > packageLimitBytes(packageKind)) {
    throw new UsageError(`--package-limit ${o.packageLimit} MB is above Lambda's ${packageLimitBytes(packageKind) / MB} MB for a ${packageKind} package: it may only lower it`, { field: 'package-limit' });
  }
  const tooLarge = unitPackageProblem(units, (k) => units[k - 1].paramBytes, runtimePackageBytes(calibrationFile), packageKind, limitBytes);
  if (tooLarge) throw new UsageError(tooLarge, { file: o.model });
  const checksum = fileChecksum(bytes);
  const calibration = calibrationForModel(calibrationFile, calibrationPath, o.model, checksum);
  if (calibration.units.length !== units.length) {
    throw new UsageError(`the calibration of ${calibration.file} has ${calibration.units.length} units, the model ${units.length}: re-run stepinfer calibrate-stages`, { file: calibrationPath });
  }
  const model: DenseModel = {
    path: o.model, checksum, input: graph.input, output: graph.output, units, parameterCount: graph.parameterCount, hasWeights: graph.hasWeights,
  };
  const ctx = stageContext({ model, calibrationFile, calibration, constants: latencyConstants(), prices, packageKind, packageLimitBytes: limitBytes });
  const sloSeconds = o.slo ?? Infinity;
  const memoryGridMB = o.memory !== undefined ? [o.memory] : undefined;
  const search = await searchStages(ctx, {
    sloSeconds,
    batches: o.batch !== undefined ? [o.batch] : DEFAULT_BATCHES,
    memoryGridMB,
    workflowTypes: o.workflow?.map((w) => w.toUpperCase() as WorkflowType),
  });
  const baselines = stagesBaselines(ctx, search.chosen, sloSeconds, memoryGridMB);
  const runnable = withBatch(runnableGraph(graph).graph, search.chosen.batch);
  const stageModelBytes = search.chosen.stages.map((s) => extractStageModel(runnable, s.firstUnit, s.lastUnit).length);
  const built = buildStagesPlan({
    ctx, search, baselines, sloSeconds, stageModelBytes, calibrationPath, version: packageJson.version, stackPrefix: o.stackPrefix,
  });
  return { ...built, ctx, search, baselines };
}

export async function planStages(o: PlanStagesOptions): Promise<void> {
  // Outputs are checked before the work.
  if (o.out === undefined) mkdirSync(dirname(resolve(DEFAULT_STAGES_PLAN_PATH)), { recursive: true });
  const planPath = checkOutputPath(o.out ?? DEFAULT_STAGES_PLAN_PATH, { overwrite: o.force, option: '--out' });
  const reportPath = checkOutputPath(planReportPath(planPath), { overwrite: o.force, option: '--out' });
  const { plan, report: planReport } = await makeStagesPlan(o);
  // The report first: a plan on disk always has its report beside it.
  writeOutputFiles([{ file: reportPath, data: serializeStagesReport(planReport) }, { file: planPath, data: serializeStagesPlan(plan) }]);
  const p = planReport.predicted;
  report(o, {
    out: planPath,
    report: reportPath,
    planId: plan.planId,
    kind: plan.kind,
    batch: plan.batch,
    workflowType: plan.workflow.type,
    latencySeconds: p.latencySeconds,
    costUSD: p.costUSD,
    costPerInputUSD: p.costPerInputUSD,
    stages: p.stages.map((s) => ({ index: s.index, firstUnit: s.firstUnit, lastUnit: s.lastUnit, name: s.name, memoryMB: s.memoryMB, seconds: s.seconds, costUSD: s.costUSD, handoff: s.handoff })),
    frontier: planReport.frontier,
    baselines: planReport.baselines,
    optimality: p.optimality,
  }, () => describe(plan, planReport, { plan: planPath, report: reportPath }));
}
