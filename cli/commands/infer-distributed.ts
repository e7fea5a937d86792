// `stepinfer infer --workers P --channel queue|object [--launch flat|tree]` (or `--plan plan.json`):
// a distributed inference on this machine. It plans (or reads the plan), starts the local cloud
// (fauxqs in process, the plan's resources, the Lambda host), runs every stage's workers, gathers,
// and prints the categories, a per-layer table of messages, bytes and requests, the wall time,
// and the cost the plan predicted next to the cost of the counters this run measured.

import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ShapeMismatchError, TruthMismatchError, UsageError } from '../../model/errors.ts';
import { formatRowsTsv } from '../../model/load.ts';
import { networkChecksum } from '../../model/checksum.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { priceCounters } from '../../planner/cost/price.ts';
import { formatCost } from '../../planner/optimize/index.ts';
import { parsePlan, parsePlanReport, planReportPath, type Plan, type PlanReport } from '../../planner/plan/index.ts';
import { runDistributedLocally, newRunId } from '../../workflows/local/distributed-run.ts';
import { channelCounters, measuredUsage, type LayerCounters } from '../../workflows/local/run-counters.ts';
import { readJsonFile, readPriceFile, writeOutputFile } from '../files.ts';
import { progressBar, report, table } from '../output.ts';
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

/** Where handler logs of local runs go (git-ignored). */
const LOG_DIR = '.stepinfer/logs';

/** The counters `--json` prints: the keys the issue names, per layer and in total. */
function jsonCounters(c: LayerCounters) {
  return {
    ...(c.layer !== null ? { layer: c.layer } : {}),
    bytes: c.bytes, messages: c.messages, publishes: c.publishes, receives: c.receives, emptyReceives: c.emptyReceives,
    deletes: c.deletes, duplicates: c.duplicates, puts: c.puts, gets: c.gets, lists: c.lists,
    computeMs: Math.round(c.computeMs), sendMs: Math.round(c.sendMs), waitMs: Math.round(c.waitMs),
  };
}

async function planFor(workload: Workload, o: DistributedInferOptions): Promise<{ plan: Plan; report: PlanReport | null; from: string }> {
  if (o.plan) {
    const plan = parsePlan(readJsonFile(o.plan, 'plan file not found'), o.plan);
    const reportFile = planReportPath(resolve(o.plan));
    const planReport = existsSync(reportFile) ? parsePlanReport(readJsonFile(reportFile, 'plan report not found'), reportFile) : null;
    return { plan, report: planReport, from: o.plan };
  }
  const workers = o.workers!;
  const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
  const built = await makePlan(workload, {
    objective: 'cost', workers: [workers], prices, calibration: loadCalibration(undefined),
    ...(workers > 1 ? { channel: [o.channel ?? 'queue'], shape: ['layer-groups'], groups: o.groups ?? 1, launch: [o.launch === 'tree' ? 'tree' : 'map'] } : { shape: ['serial'] }),
    progress: o.progress, json: o.json,
  });
  return { plan: built.plan, report: built.report, from: `planned for ${workers} worker${workers > 1 ? 's' : ''}` };
}

export async function inferDistributed(workload: Workload, o: DistributedInferOptions): Promise<void> {
  if (o.plan && (o.workers !== undefined || o.channel || o.groups !== undefined)) {
    throw new UsageError('--plan fixes workers, channel and groups; give either --plan or --workers/--channel/--groups', { field: 'plan' });
  }
  const { plan, report: planReport, from } = await planFor(workload, o);
  if (networkChecksum(workload.network) !== plan.model.checksum.value) {
    throw new ShapeMismatchError(`the model (${workload.description}) is not the plan's: its checksum differs from plan ${plan.planId}'s`, { file: o.plan, field: 'model.checksum' });
  }
  if (o.launch === 'tree' && !plan.workflow.stages.some((s) => s.launch.kind === 'tree')) {
    throw new UsageError('--launch tree needs a plan whose stages launch by tree (plan with --launch tree)', { field: 'launch' });
  }
  const runId = newRunId();
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${runId}.jsonl`);
  const bar = progressBar('run', o);
  const layersTotal = plan.model.layers * plan.workers;
  let layersDone = 0, phase = '';
  const failures: string[] = [];
  const run = await runDistributedLocally(plan, workload.network, workload.inputs, {
    runId,
    receiveTimeoutSeconds: o.receiveTimeout,
    launch: o.launch === 'flat' ? 'flat' : 'plan',
    onPhase: (p) => { phase = p; bar.tick(layersDone, layersTotal, p); },
    logSink: (_name, stream, line) => {
      appendFileSync(logFile, `${line}\n`);
      if (line.includes('"message":"layer done"')) bar.tick(++layersDone, layersTotal, phase);
      else if (stream === 'stderr' || line.includes('"level":"ERROR"')) failures.push(line);
    },
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
    counters: { total: jsonCounters(total), perLayer: perLayer.map(jsonCounters) },
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
    `traffic      ${(total.bytes / 1e6).toFixed(2)} MB in ${total.messages} messages; ${total.publishes} publishes, ${total.receives} receives (${total.emptyReceives} empty), ${total.puts} PUT, ${total.gets} GET, ${total.lists} LIST`,
    ...(s.cost.predictedCounters
      ? [`predicted    ${(s.cost.predictedCounters.bytes / 1e6).toFixed(2)} MB; ${s.cost.predictedCounters.publishes} publishes, ${s.cost.predictedCounters.receives} receives, ${s.cost.predictedCounters.puts} PUT, ${s.cost.predictedCounters.gets} GET, ${s.cost.predictedCounters.lists} LIST (whole run, plan's model)`]
      : []),
    `cost         measured ${formatCost(s.cost.measuredUSD)} (${Object.entries(s.cost.measuredByServiceUSD).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${formatCost(v)}`).join(', ')})`
      + `${s.cost.predictedUSD !== null ? `; the plan predicted ${formatCost(s.cost.predictedUSD)}` : ''}`,
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
