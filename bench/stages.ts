// AMPS-Inf stages, planned and run, in one go (issue 11): for each ONNX model in data/models and
// each SLO, the plan's predicted latency and cost (per execution and per input, at the batch the
// planner chose), its stages, the baselines the plan is compared with (one function, a uniform
// split with one memory size, an always-on server), and the plan run locally: the generated
// workflow in aws-local-stepfunctions, every stage's function in the local Lambda host, S3 in
// fauxqs, each stage's measured seconds (load + read + run + write, from its log line) beside the
// predicted, the whole model run in this process on the same input, and the largest difference.
// Predicted seconds are Lambda's at the stage's memory (its vCPU share, a cold start included);
// measured ones are this machine's (a shared core, the emulators beside it): they are printed
// side by side, not expected to be equal. A plan that several SLOs share runs once.
//
// With --package-limit (default: Lambda's 250 MB, then 90 MB) the same models are planned again
// under a lower package limit, as if the runtime were as heavy as the TensorFlow AMPS-Inf packaged:
// with Lambda's own limit each of these models fits one function, which is then the cheapest
// (every extra stage is another cold start), so only a lower limit shows stages run.
//
//   npm run bench -- stages [--models a.onnx,b.onnx] [--slo 2,6] [--package-limit 250,90] [--no-run] [--json]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { SloUnreachableError } from '../model/errors.ts';
import { defaultModelsDir } from '../model/onnx/graph.ts';
import { stagesPlanningColumns, type BaselineColumns } from '../planner/stages/build.ts';
import { createOnnxSession, runOnnx } from '../functions/dense/onnx-session.ts';
import { runStagesLocally } from '../workflows/local/stages-run.ts';
import { encodeOnnxModel } from '../model/onnx/extract.ts';
import { makeStagesPlan } from '../cli/commands/plan-stages.ts';
import { maxAbsDiff, seededInput } from '../cli/commands/run-stages.ts';
import { stagesModel } from '../cli/commands/stages.ts';
import { report, table } from '../cli/output.ts';

export interface StagesBenchOptions {
  readonly models?: readonly string[];
  readonly slo: readonly number[];
  /** MB; Lambda's zip limit is 250. */
  readonly packageLimit: readonly number[];
  /** false: plan only (commander's --no-run). */
  readonly run: boolean;
  readonly json?: boolean;
}

/** The five models of data/models: the paper's three (structure only) and two with weights. */
export const BENCH_MODELS = ['squeezenet1_1.onnx', 'mobilenet_v2.onnx', 'resnet50.graph.onnx', 'inception_v3.graph.onnx', 'xception.graph.onnx'];
export const BENCH_SLOS = [2, 6];
export const BENCH_PACKAGE_LIMITS_MB = [250, 90];

interface Measured {
  readonly stageSeconds: readonly number[];
  readonly executionSeconds: number;
  readonly wholeModelSeconds: number;
  readonly maxAbsDiff: number;
}

/** Runs a stages plan locally and the whole model in this process, on the same seeded input. */
async function measure(plan: Awaited<ReturnType<typeof makeStagesPlan>>['plan']): Promise<Measured> {
  const { graph, files } = stagesModel(plan);
  const dir = mkdtempSync(join(tmpdir(), 'stepinfer-bench-stages-'));
  try {
    for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
    const input = seededInput(plan.model.input.dims, 1);
    const run = await runStagesLocally(plan, input, { stageFilesDir: dir, logSink: () => undefined });
    // The whole model on one thread, as warm as the stages' sessions are cold: its second run is timed.
    const session = await createOnnxSession(encodeOnnxModel(graph), 1, `the whole model ${plan.model.path}`);
    await runOnnx(session, input, 'the whole model');
    const start = performance.now();
    const whole = await runOnnx(session, input, 'the whole model', plan.model.output.dims);
    const wholeModelSeconds = (performance.now() - start) / 1000;
    return {
      stageSeconds: run.stages.map((s) => s.seconds),
      executionSeconds: run.phasesMs.execution / 1000,
      wholeModelSeconds,
      maxAbsDiff: maxAbsDiff(run.output, whole),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Row = ({ model: string; sloSeconds: number; packageLimitMB: number } & (
  | { planned: true; planId: string; columns: ReturnType<typeof stagesPlanningColumns>; measured: Measured | null }
  | { planned: false; reason: string }
));

const usd = (x: number | null) => (x === null ? '-' : `$${x.toPrecision(3)}`);
const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const baseline = (b: BaselineColumns) => (b.costPerInputUSD === null ? b.note : `${usd(b.costPerInputUSD)} ${b.note}, saving ${pct(b.saving)}`);

export async function benchStages(o: StagesBenchOptions): Promise<void> {
  const models = o.models ?? BENCH_MODELS.map((m) => join(defaultModelsDir(), m));
  const rows: Row[] = [];
  const runs = new Map<string, Measured>();
  for (const packageLimitMB of o.packageLimit) {
    for (const model of models) {
      for (const sloSeconds of o.slo) {
        if (!o.json) process.stderr.write(`${basename(model)}, SLO ${sloSeconds} s, package limit ${packageLimitMB} MB\n`);
        const key = { model: basename(model), sloSeconds, packageLimitMB };
        let made: Awaited<ReturnType<typeof makeStagesPlan>>;
        try {
          made = await makeStagesPlan({ model, slo: sloSeconds, packageLimit: packageLimitMB });
        } catch (error) {
          if (!(error instanceof SloUnreachableError)) throw error;
          rows.push({ ...key, planned: false, reason: error.message.replace(/^.*: the fastest/, 'the fastest') });
          continue;
        }
        let measured: Measured | null = null;
        if (o.run) {
          measured = runs.get(made.plan.planId) ?? await measure(made.plan);
          runs.set(made.plan.planId, measured);
        }
        rows.push({ ...key, planned: true, planId: made.plan.planId, columns: stagesPlanningColumns(made.report), measured });
      }
    }
  }
  report(o, { rows }, ({ rows: all }) => {
    const planned = all.filter((r) => r.planned);
    return [
      'predicted: Lambda at each stage\'s memory, cold; measured: this machine, the local workflow (stage = load + read + run + write)',
      table(['model', 'limit MB', 'SLO s', 'batch', 'stages (units@MB)', 'pred s', 'pred $/input', 'stage s pred', 'stage s measured', 'local exec s', 'whole model s', 'maxAbsDiff'],
        all.map((r) => r.planned
          ? [r.model, r.packageLimitMB, r.sloSeconds, r.columns.batch, r.columns.stages, r.columns.predictedSeconds.toFixed(2), usd(r.columns.costPerInputUSD),
            r.columns.predictedStageSeconds.map((x) => x.toFixed(2)).join(' '),
            r.measured ? r.measured.stageSeconds.map((x) => x.toFixed(2)).join(' ') : '-',
            r.measured ? r.measured.executionSeconds.toFixed(2) : '-',
            r.measured ? r.measured.wholeModelSeconds.toFixed(3) : '-',
            r.measured ? String(r.measured.maxAbsDiff) : '-']
          : [r.model, r.packageLimitMB, r.sloSeconds, '-', `none: ${r.reason}`, '', '', '', '', '', '', ''])),
      '',
      'baselines, cost per input (saving = 1 - plan / baseline):',
      table(['model', 'limit MB', 'SLO s', 'plan', 'one function', 'uniform split', 'always-on server'],
        planned.map((r) => (r.planned ? [r.model, r.packageLimitMB, r.sloSeconds, usd(r.columns.costPerInputUSD), baseline(r.columns.singleFunction), baseline(r.columns.uniformSplit), baseline(r.columns.server)] : []))),
    ].join('\n');
  });
}
