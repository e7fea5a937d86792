// `stepinfer run`: the main job. Plans (or takes --plan), regenerates the plan's Step Functions
// workflow, starts the local cloud (fauxqs for SNS, SQS and S3, the local Lambda host), uploads
// the shards and stages the inputs, and executes the workflow in aws-local-stepfunctions
// (workflows/local/state-machine-run.ts). Then it prints the categories (checked against the truth
// when one is given or known), the states with their times and the per-layer graph (per worker:
// compute, send, wait), the counters, the plan's predicted cost next to the cost this run
// measured (the execution's state transitions included), what the local runtime mapped, and what
// the planner picked and why. Every run leaves a record (.stepinfer/runs/<runId>.json) that
// `stepinfer inspect` renders; a failed run too.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { RunFailedError, TruthMismatchError, UsageError } from '../../model/errors.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { priceCounters } from '../../planner/cost/price.ts';
import type { Plan, PlanReport } from '../../planner/plan/index.ts';
import { countTransitions, renderWorkflow } from '../../workflows/asl/index.ts';
import { assertPlanModel, newRunId } from '../../workflows/local/local-run.ts';
import { channelCounters, measuredUsage } from '../../workflows/local/run-counters.ts';
import { buildRunRecord, layerCountersJson, type LocalRunRecord } from '../../workflows/local/run-record.ts';
import { runStateMachineLocally, type ExecutionTrace, type StateMachineRunResult } from '../../workflows/local/state-machine-run.ts';
import { checkOutputPath, readPriceFile, writeOutputFile } from '../files.ts';
import { choiceOption, integerOption, numberOption } from '../options.ts';
import { progressBar, report } from '../output.ts';
import { costLine, executionGraph, readPlanWithReport, RUN_RECORD_DIR, runLogging, trafficLine, type PlanWithReport } from '../run-report.ts';
import { addWorkloadOptions, compareWithTruth, resolveWorkload, type Workload, type WorkloadOptions } from '../workload.ts';
import { loadCalibration, makePlan } from './plan.ts';
import { isOnnxModelPath } from './plan-stages.ts';
import { runStagesCommand } from './run-stages.ts';

interface RunOptions extends WorkloadOptions {
  readonly plan?: string;
  /** An ONNX --model's options (cli/commands/run-stages.ts). */
  readonly slo?: number;
  readonly batch?: number;
  readonly input?: string;
  readonly workers?: number;
  readonly channel?: 'queue' | 'object';
  readonly groups?: number;
  readonly launch?: 'map' | 'tree';
  readonly receiveTimeout?: number;
  readonly prices?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** Options that contradict each other, refused before any work. */
function refuseContradictions(o: RunOptions): void {
  for (const [flag, given] of [['--slo', o.slo], ['--batch', o.batch], ['--input', o.input]] as const) {
    if (given !== undefined) throw new UsageError(`${flag} is for an ONNX --model (x.onnx, run as AMPS stages)`, { field: flag.slice(2) });
  }
  if (o.plan) {
    for (const [flag, given] of [['--workers', o.workers], ['--channel', o.channel], ['--groups', o.groups], ['--launch', o.launch]] as const) {
      if (given !== undefined) throw new UsageError(`--plan fixes workers, channel, groups and launch; ${flag} cannot change them`, { field: flag.slice(2) });
    }
  }
  if (o.workers === 1 && (o.channel !== undefined || o.launch !== undefined)) {
    throw new UsageError('one worker exchanges no rows and launches nothing: --channel and --launch need --workers 2 or more', { field: o.channel !== undefined ? 'channel' : 'launch' });
  }
}

/** The plan to run: the file's, or one the planner makes (restricted by the options given). */
async function planFor(workload: Workload, o: RunOptions, given: PlanWithReport | undefined): Promise<{ plan: Plan; report: PlanReport | null; from: string; restricted: boolean }> {
  if (o.plan && given) return { ...given, from: o.plan, restricted: false };
  const one = o.workers === 1;
  const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
  const shape = o.workers === undefined ? undefined : one ? [o.groups !== undefined && o.groups > 1 ? 'stages' as const : 'serial' as const] : ['layer-groups' as const];
  const built = await makePlan(workload, {
    objective: 'cost', prices, calibration: loadCalibration(undefined), progress: o.progress, json: o.json,
    ...(o.workers !== undefined ? { workers: [o.workers] } : {}),
    ...(shape ? { shape } : {}),
    ...(o.channel !== undefined ? { channel: [o.channel] } : {}),
    ...(o.groups !== undefined ? { groups: o.groups } : {}),
    ...(o.launch !== undefined ? { launch: [o.launch] } : {}),
  });
  const restricted = o.workers !== undefined || o.channel !== undefined || o.groups !== undefined || o.launch !== undefined;
  return { plan: built.plan, report: built.report, from: restricted ? 'planned as the options say' : "the planner's own pick", restricted };
}

/** What the planner picked and why, from the plan's report. */
function plannerSays(planReport: PlanReport | null, restricted: boolean): { chosen: string | null; explanation: string | null; restricted: boolean } {
  if (!planReport) return { chosen: null, explanation: null, restricted };
  return { chosen: planReport.alternatives.find((a) => a.chosen)?.label ?? null, explanation: planReport.explanation, restricted };
}

export function registerRunCommand(program: Command): void {
  const command = program
    .command('run')
    .description("plan (or take --plan), generate the plan's Step Functions workflow and execute it on this machine: "
      + 'aws-local-stepfunctions, fauxqs for SNS/SQS/S3, a local Lambda host running the real handlers')
    .option('--plan <file>', 'run this plan.json (its report beside it gives the predicted cost)')
    .option('--workers <P>', 'plan for P workers (1: serial, or AMPS-style stages with --groups)', integerOption(1, 65535))
    .option('--channel <kind>', 'how workers exchange rows inside a layer group: queue (SNS -> SQS) or object (S3)', choiceOption(['queue', 'object'] as const))
    .option('--groups <G>', 'cut the layers into G groups, one Map state each, S3 between them', integerOption(1))
    .option('--launch <kind>', "how a group starts its workers: map (a Map state over them) or tree (FSD-Inference's launch tree from a coordinator Task)", choiceOption(['map', 'tree'] as const))
    .option('--receive-timeout <seconds>', "how long a worker waits for a layer's rows before the run fails naming what is missing (default: the plan's)", numberOption({ min: 0, aboveMin: true }))
    .option('--prices <file>', 'price file for planning and the measured cost (default planner/prices/aws-us-east-1.json)')
    .option('--slo <seconds>', 'ONNX --model: the response-time SLO the stages are planned for', numberOption({ min: 0, aboveMin: true }))
    .option('--batch <n>', 'ONNX --model: inputs per execution (default: the planner picks among 1, 2, 4, 8, 16)', integerOption(1))
    .option('--input <file>', "ONNX --model: the batch's input, raw little-endian float32 of the model's input dims (default: seeded from --seed)");
  addWorkloadOptions(command, '1024x12')
    .option('--json', 'print the result as JSON')
    .option('--progress', 'show a progress bar over layers even when stderr is not a terminal')
    .addHelpText('after', `
Without --model or --generate it runs the real GraphChallenge benchmark when its data is reachable
(its truth checks the categories), otherwise a generated network of the same shape, and says which.
Without --plan or --workers the planner picks the plan freely (a search of every shape: minutes on
the real case). Handler logs go to .stepinfer/logs/<runId>.jsonl, the run record to
.stepinfer/runs/<runId>.json (stepinfer inspect <runId|latest>).

With --model x.onnx it runs a dense ONNX model as AMPS-Inf stages (cli/commands/run-stages.ts):
planned for --slo (or --plan), each stage's sub-model written to .stepinfer/runs/<runId>/, the
stages workflow run locally, the output compared with the whole model (maxAbsDiff).

Examples:
  stepinfer run --workers 8 --channel queue --launch map          (FSD-Inference's configuration)
  stepinfer run --model ../shared/data/models/resnet50.graph.onnx --slo 2
  stepinfer run --generate 1024x12 --samples 500 --workers 4 --channel object --groups 2
  stepinfer run --plan .stepinfer/plan.json`)
    .action(async (o: RunOptions) => {
      if (isOnnxModelPath(o.model)) {
        await runStagesCommand({ ...o, model: o.model });
        return;
      }
      refuseContradictions(o);
      mkdirSync(RUN_RECORD_DIR, { recursive: true });
      // A plan file is read before the model, so a wrong path fails at once, not after the load.
      const given = o.plan ? readPlanWithReport(o.plan) : undefined;
      const workload = resolveWorkload(o, { defaultModel: 'benchmark', inputs: 'required' });
      if (!o.json) process.stderr.write(`${workload.description}\n`);
      const { plan, report: planReport, from, restricted } = await planFor(workload, o, given);
      assertPlanModel(plan, workload.network, `(${workload.description})`, o.plan);
      const runId = newRunId();
      const recordFile = join(RUN_RECORD_DIR, `${runId}.json`);
      checkOutputPath(recordFile, { option: 'run id' });
      const bar = progressBar('run', o);
      const { logFile, logSink, setPhase } = runLogging(runId, bar, plan.model.layers * plan.workers);
      const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
      const truthOf = (categories: readonly number[]) => (workload.truth ? compareWithTruth([...categories], workload.truth) : undefined);
      const predictedTransitions = plan.workflow.type === 'STANDARD' ? planReport?.predicted.counters.sfnStandardTransitions ?? null : null;
      let trace: ExecutionTrace | null = null;
      let run: StateMachineRunResult;
      try {
        run = await runStateMachineLocally(plan, workload.network, workload.inputs, {
          runId, logSink, onPhase: setPhase, receiveTimeoutSeconds: o.receiveTimeout, onTrace: (t) => { trace = t; },
        });
      } catch (error) {
        bar.stop();
        if (error instanceof RunFailedError && trace) {
          writeOutputFile(recordFile, `${JSON.stringify(buildRunRecord({
            plan, trace, workload: workload.description, samples: workload.inputs.rows, endMs: Date.now(), attempts: null, error: error.message,
            categoryCount: null, truth: null, counters: null, usage: null,
            cost: { predictedUSD: planReport?.predicted.costUSD ?? null, measuredUSD: null, predictedTransitions },
          }), null, 2)}\n`);
          throw new RunFailedError(`${error.message} (run record ${recordFile}; handler logs ${logFile})`);
        }
        throw error;
      }
      bar.stop();

      const counters = channelCounters(run);
      const usage = measuredUsage(plan, run);
      const measured = priceCounters(usage, prices);
      const truth = truthOf(run.categories);
      const record: LocalRunRecord = buildRunRecord({
        plan, trace: run.execution, workload: workload.description, samples: workload.inputs.rows, endMs: Date.now(), attempts: run.attempts, error: null,
        categoryCount: run.categories.length,
        truth: truth ? { file: workload.truthFile ?? null, matches: truth.matches, expected: workload.truth!.length, missing: truth.missing, extra: truth.extra } : null,
        counters, usage,
        cost: { predictedUSD: planReport?.predicted.costUSD ?? null, measuredUSD: measured.totalUSD, predictedTransitions },
      });
      writeOutputFile(recordFile, `${JSON.stringify(record, null, 2)}\n`);
      const definitionTransitions = countTransitions(renderWorkflow(plan).definition).transitions;
      const planner = plannerSays(planReport, restricted);
      const summary = {
        runId,
        planId: plan.planId,
        shape: plan.shape,
        workers: plan.workers,
        channel: plan.channel.kind,
        workflowType: plan.workflow.type,
        plan: { from, stages: plan.workflow.stages.length, attempts: run.attempts },
        workload: workload.description,
        inputs: workload.inputs.rows,
        categoryCount: run.categories.length,
        categories: run.categories.map((id) => id + 1),
        truth: record.truth,
        seconds: { total: run.phasesMs.total / 1000, setup: run.phasesMs.setup / 1000, stages: run.phasesMs.stages.map((ms) => ms / 1000), gather: run.phasesMs.gather / 1000 },
        counters: { total: layerCountersJson(counters.total), perLayer: counters.perLayer.map(layerCountersJson) },
        transitions: { measured: run.execution.transitions.transitions, ofTheDefinition: definitionTransitions, predicted: predictedTransitions },
        cost: {
          predicted: planReport ? planReport.predicted.costUSD : null,
          measured: measured.totalUSD,
          measuredByServiceUSD: measured.byServiceUSD,
        },
        states: run.execution.states.map((s) => ({ name: s.name, type: s.type, index: s.index, startMs: s.enteredMs, endMs: s.exitedMs, outcome: s.outcome, retries: s.retries })),
        notes: run.execution.notes,
        planner,
        lambdaInvocations: run.lambdaInvocations,
        coldStarts: run.invocations.filter((i) => i.cold).length,
        record: recordFile,
        logFile,
      };
      report(o, summary, (s) => [
        `plan         ${s.planId} (${s.plan.from}): ${s.shape}, ${s.workers} worker${s.workers > 1 ? 's' : ''}, ${s.channel} channel, ${s.plan.stages} stage${s.plan.stages > 1 ? 's' : ''}, ${s.workflowType} workflow`,
        `run          ${s.runId}: the generated workflow in aws-local-stepfunctions, on fauxqs and the local Lambda host`,
        `categories   ${s.categoryCount} of ${s.inputs} inputs`,
        s.truth ? `truth        ${s.truth.matches ? `matches all ${s.truth.expected} expected categories` : `MISMATCH: ${s.truth.missing.length} missing, ${s.truth.extra.length} extra`}` : 'truth        none given',
        `time         ${s.seconds.total.toFixed(2)} s (setup ${s.seconds.setup.toFixed(2)} s, stages ${s.seconds.stages.map((x) => x.toFixed(2)).join(' + ')} s, gather ${s.seconds.gather.toFixed(2)} s); ${s.lambdaInvocations} Lambda invocations, ${s.coldStarts} cold (a thread started, the handler imported)`,
        `traffic      ${trafficLine(counters.total)}`,
        `transitions  ${s.transitions.measured} (a successful run of the definition without retries: ${s.transitions.ofTheDefinition}${s.transitions.predicted !== null ? `; the plan priced ${s.transitions.predicted}` : ''}${plan.workflow.type === 'EXPRESS' ? '; an Express workflow bills its duration instead' : ''})`,
        `cost         ${costLine(s.cost.measured, s.cost.measuredByServiceUSD, s.cost.predicted)}`,
        planner.explanation !== null
          ? `planner      ${planner.explanation}${planner.restricted ? ' (among the plans the options allow; without --workers/--channel/--groups/--launch the planner searches every shape)' : ''}`
          : 'planner      no plan report beside the plan file',
        ...s.notes.map((n, i) => `${i === 0 ? 'local        ' : '             '}${n.note}${n.states.length > 0 ? ` [${n.states.join(', ')}]` : ''}`),
        '',
        executionGraph(record),
        '',
        `ids          ${s.categories.slice(0, 20).join(' ')}${s.categories.length > 20 ? ' ...' : ''}`,
        `record       ${s.record} (stepinfer inspect ${s.runId}); handler logs ${s.logFile}`,
      ].join('\n'));
      if (truth && !truth.matches) {
        throw new TruthMismatchError(`categories differ from the truth: ${truth.missing.length} missing, ${truth.extra.length} extra`, { file: workload.truthFile });
      }
    });
}
