// `stepinfer infer --workers P --channel queue|object [--launch flat|tree]` (or `--plan plan.json`):
// a distributed inference on this machine. It plans (or reads the plan), starts the local cloud
// (fauxqs in process, the plan's resources, the Lambda host), runs every stage's workers, gathers,
// and prints the categories, a per-layer table of messages, bytes and requests, the wall time,
// and the cost the plan predicted next to the cost of the counters this run measured.

import { resolve } from 'node:path';
import { TruthMismatchError, UsageError } from '../../model/errors.ts';
import { formatRowsTsv } from '../../model/load.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { priceCounters } from '../../planner/cost/price.ts';
import type { Plan, PlanReport } from '../../planner/plan/index.ts';
import { runDistributedLocally, newRunId } from '../../workflows/local/distributed-run.ts';
import { assertPlanModel } from '../../workflows/local/local-run.ts';
import { channelCounters, measuredUsage } from '../../workflows/local/run-counters.ts';
import { layerCountersJson } from '../../workflows/local/run-record.ts';
import { readPriceFile, writeOutputFile } from '../files.ts';
import { progressBar, report, table } from '../output.ts';
import { costLine, runLogging, trafficLine, type PlanWithReport } from '../run-report.ts';
import { compareWithTruth, type Workload } from '../workload.ts';
import { loadCalibration, makePlan } from './plan.ts';

export interface DistributedInferOptions {
  readonly workers?: number;
  readonly plan?: string;
  readonly channel?: 'queue' | 'object';
  readonly launch?: 'flat' | 'tree';
  readonly groups?: number;
  readonly receiveTimeout?: number;
  readonly prices?: string;
  readonly activations?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

async function planFor(workload: Workload, o: DistributedInferOptions, given: PlanWithReport | undefined): Promise<{ plan: Plan; report: PlanReport | null; from: string }> {
  if (o.plan && given) return { ...given, from: o.plan };
  const workers = o.workers!;
  const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
  const built = await makePlan(workload, {
    objective: 'cost', workers: [workers], prices, calibration: loadCalibration(undefined),
    ...(workers > 1 ? { channel: [o.channel ?? 'queue'], shape: ['layer-groups'], groups: o.groups ?? 1, launch: [o.launch === 'tree' ? 'tree' : 'map'] } : { shape: ['serial'] }),
    progress: o.progress, json: o.json,
  });
  return { plan: built.plan, report: built.report, from: `planned for ${workers} worker${workers > 1 ? 's' : ''}` };
}

/** `given`: the --plan file, read by the caller before the model (a wrong path fails at once). */
export async function inferDistributed(workload: Workload, o: DistributedInferOptions, given: PlanWithReport | undefined): Promise<void> {
  const { plan, report: planReport, from } = await planFor(workload, o, given);
  assertPlanModel(plan, workload.network, `(${workload.description})`, o.plan);
  if (o.launch === 'tree' && !plan.workflow.stages.some((s) => s.launch.kind === 'tree')) {
    throw new UsageError('--launch tree needs a plan whose stages launch by tree (plan with --launch tree)', { field: 'launch' });
  }
  const runId = newRunId();
  const bar = progressBar('run', o);
  const { logFile, logSink, setPhase } = runLogging(runId, bar, plan.model.layers * plan.workers);
  const run = await runDistributedLocally(plan, workload.network, workload.inputs, {
    runId,
    receiveTimeoutSeconds: o.receiveTimeout,
    launch: o.launch === 'flat' ? 'flat' : 'plan',
    onPhase: setPhase,
    logSink,
  }).finally(() => bar.stop());

  if (o.activations) writeOutputFile(o.activations, formatRowsTsv(run.activations));
  const { perLayer, total } = channelCounters(run);
  const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
  const measured = priceCounters(measuredUsage(plan, run), prices);
  const truth = workload.truth ? compareWithTruth(run.categories, workload.truth) : undefined;
  const p = planReport?.predicted.counters;
  const summary = {
    runId,
    plan: { planId: plan.planId, from, workers: plan.workers, channel: plan.channel.kind, shape: plan.shape, stages: plan.workflow.stages.length, launch: o.launch ?? 'flat' },
    workload: workload.description,
    inputs: workload.inputs.rows,
    categoryCount: run.categories.length,
    categories: run.categories.map((id) => id + 1),
    truth: truth ? { file: workload.truthFile, matches: truth.matches, expected: workload.truth!.length, missing: truth.missing, extra: truth.extra } : undefined,
    seconds: { total: run.phasesMs.total / 1000, setup: run.phasesMs.setup / 1000, stages: run.phasesMs.stages.map((ms) => ms / 1000), gather: run.phasesMs.gather / 1000 },
    counters: { total: layerCountersJson(total), perLayer: perLayer.map(layerCountersJson) },
    cost: {
      predictedUSD: planReport ? planReport.predicted.costUSD : null,
      measuredUSD: measured.totalUSD,
      measuredByServiceUSD: measured.byServiceUSD,
      predictedCounters: p
        ? { publishes: p.snsPublishCalls ?? 0, bytes: p.snsPublishedBytes ?? 0, receives: p.sqsReceiveCalls ?? 0, puts: p.s3PutRequests ?? 0, gets: p.s3GetRequests ?? 0, lists: p.s3ListRequests ?? 0 }
        : null,
    },
    lambdaInvocations: run.lambdaInvocations,
    logFile,
    activationsFile: o.activations,
  };
  report(o, summary, (s) => [
    `plan         ${s.plan.planId} (${s.plan.from}): ${s.plan.workers} workers, ${s.plan.channel} channel, ${s.plan.stages} stage${s.plan.stages > 1 ? 's' : ''}, launch ${s.plan.launch}`,
    `run          ${s.runId} on the local cloud (fauxqs, local Lambda host); handler logs in ${s.logFile}`,
    `categories   ${s.categoryCount} of ${s.inputs} inputs`,
    s.truth
      ? `truth        ${s.truth.matches ? `matches all ${s.truth.expected} expected categories` : `MISMATCH: ${s.truth.missing.length} missing, ${s.truth.extra.length} extra`}`
      : 'truth        none given',
    `time         ${s.seconds.total.toFixed(2)} s (setup ${s.seconds.setup.toFixed(2)} s, stages ${s.seconds.stages.map((x) => x.toFixed(2)).join(' + ')} s, gather ${s.seconds.gather.toFixed(2)} s)`,
    `traffic      ${trafficLine(total)}`,
    ...(s.cost.predictedCounters
      ? [`predicted    ${(s.cost.predictedCounters.bytes / 1e6).toFixed(2)} MB; ${s.cost.predictedCounters.publishes} publishes, ${s.cost.predictedCounters.receives} receives, ${s.cost.predictedCounters.puts} PUT, ${s.cost.predictedCounters.gets} GET, ${s.cost.predictedCounters.lists} LIST (whole run, plan's model)`]
      : []),
    `cost         ${costLine(s.cost.measuredUSD, s.cost.measuredByServiceUSD, s.cost.predictedUSD)}`,
    '',
    table(['layer', 'messages', 'bytes', 'publishes', 'receives', 'PUT', 'GET', 'LIST', 'compute ms', 'send ms', 'wait ms'],
      perLayer.map((l) => [l.layer!, l.messages, l.bytes, l.publishes, l.receives, l.puts, l.gets, l.lists, Math.round(l.computeMs), Math.round(l.sendMs), Math.round(l.waitMs)])),
    '',
    `ids          ${s.categories.slice(0, 20).join(' ')}${s.categories.length > 20 ? ' ...' : ''}`,
  ].join('\n'));
  if (truth && !truth.matches) {
    throw new TruthMismatchError(`categories differ from the truth: ${truth.missing.length} missing, ${truth.extra.length} extra`, { file: workload.truthFile });
  }
}
