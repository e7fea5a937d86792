// `stepinfer inspect <runId|latest>`: a run record (.stepinfer/runs/<runId>.json, written by
// `stepinfer run`) rendered in the terminal: the run in brief, the states as the Step Functions
// console shows them on a time axis, and inside each stage attempt its layers with a bar per
// worker for compute, send and wait; `--json` prints the record itself.
// `stepinfer inspect <executionArn> --plan plan.json`: an execution on AWS, made into the same
// record from its history (cli/aws-execution.ts) and rendered by the same execution graph; of a
// stages plan, its chain of stages (each stage's layers, memory and phases) after the states.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DescribeExecutionCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { AwsAccessError, FileAccessError, UsageError } from '../../model/errors.ts';
import { RUN_ID_PATTERN } from '../../functions/handlers/events.ts';
import { formatCost } from '../../planner/optimize/index.ts';
import { STAGES_PLAN_KIND, type AnyPlan } from '../../planner/plan/stages-schema.ts';
import { parseRunRecord, type LocalRunRecord } from '../../workflows/local/run-record.ts';
import { readAnyPlanFile, readJsonFile, readPlanFile, readStagesPlanFile } from '../files.ts';
import { awsClientsFromEnvironment, awsRequestError, checkAwsAccess, deployedPlanProblem, stateMachineTags, type AwsCommandClients } from '../aws.ts';
import { awsRunRecord, executionHistory, stagesExecutionRecord, type AwsExecution, type StagesExecutionRecord } from '../aws-execution.ts';
import { report, table } from '../output.ts';
import { executionGraph, RUN_RECORD_DIR, statesTimeline, trafficLine } from '../run-report.ts';

interface InspectOptions {
  readonly json?: boolean;
  readonly plan?: string;
}

/** A Step Functions execution ARN: arn:<partition>:states:<region>:<account>:execution|express:<state machine>:<name>[:<id>]. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):(execution|express):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)(:[A-Za-z0-9_-]+)?$/;

/** An AWS execution of a plan, as read: the plan, the execution and its whole history. */
interface ReadExecution<P> {
  readonly plan: P;
  readonly execution: AwsExecution;
  readonly events: HistoryEvent[];
  readonly clients: AwsCommandClients;
}

/**
 * Reads an AWS execution of the plan in `planFile` (read by `readPlan`). Fails clearly when the ARN
 * is not an execution's, the execution does not exist, it is an Express execution (no history),
 * or its state machine is not this plan's (or an older workflow of it).
 */
async function readAwsExecution<P extends AnyPlan>(executionArn: string, planFile: string | undefined, readPlan: (file: string) => P, clientsOf: (region: string) => AwsCommandClients): Promise<ReadExecution<P>> {
  const m = EXECUTION_ARN.exec(executionArn);
  if (!m) throw new UsageError(`"${executionArn}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`, { field: 'run' });
  if (planFile === undefined) throw new UsageError('inspecting an AWS execution needs --plan <plan.json>: the plan it ran (its stages and workers)', { field: 'plan' });
  const plan = readPlan(planFile);
  const [, region, , kind] = m;
  if (kind === 'express') {
    throw new AwsAccessError(`${executionArn} is an Express execution: Step Functions keeps no history of those (GetExecutionHistory is for Standard workflows); its events are in the state machine's CloudWatch Logs group /aws/vendedlogs/states/${plan.names.stateMachine}`);
  }
  const clients = clientsOf(region);
  await checkAwsAccess(clients.sfn);
  let execution;
  try {
    execution = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist') throw new AwsAccessError(`execution ${executionArn} does not exist (in ${region}, for these credentials)`);
    throw awsRequestError(error, `describing execution ${executionArn}`);
  }
  const stateMachineArn = execution.stateMachineArn ?? '';
  const problem = deployedPlanProblem(plan, await stateMachineTags(clients.sfn, stateMachineArn), stateMachineArn);
  if (problem) throw new AwsAccessError(`${problem}: execution ${executionArn} did not run ${planFile}`);
  const events = await executionHistory(clients.sfn, executionArn);
  return {
    plan, events, clients,
    execution: {
      executionArn, name: execution.name ?? m[5], status: execution.status ?? 'UNKNOWN',
      startMs: execution.startDate?.getTime() ?? 0, stopMs: execution.stopDate?.getTime() ?? null,
      error: execution.error ? `${execution.error}${execution.cause ? `: ${execution.cause}` : ''}` : null,
    },
  };
}

const defaultClients = (region: string) => awsClientsFromEnvironment({ region });

/** The run record of an AWS execution of the (sparse) plan in `planFile` (see readAwsExecution for its errors). */
export async function inspectAwsExecution(executionArn: string, planFile: string | undefined, clientsOf: (region: string) => AwsCommandClients = defaultClients): Promise<LocalRunRecord> {
  const { plan, execution, events, clients } = await readAwsExecution(executionArn, planFile, readPlanFile, clientsOf);
  return awsRunRecord(plan, execution, events, clients.s3);
}

/** The record of an AWS execution of the stages plan in `planFile`: its chain of stages (see readAwsExecution for its errors). */
export async function inspectAwsStagesExecution(executionArn: string, planFile: string | undefined, clientsOf: (region: string) => AwsCommandClients = defaultClients): Promise<StagesExecutionRecord> {
  const { plan, execution, events } = await readAwsExecution(executionArn, planFile, readStagesPlanFile, clientsOf);
  return stagesExecutionRecord(plan, execution, events);
}

/** A stages execution in brief, its states on a time axis, then its chain of stages with each stage's phases. */
export function describeStagesExecution(r: StagesExecutionRecord): string {
  const ms = (x: number) => String(Math.round(x));
  const rows = r.stages.map((s) => [
    s.index, s.firstUnit === s.lastUnit ? `${s.firstUnit}` : `${s.firstUnit}-${s.lastUnit}`, s.name, s.memoryMB,
    ...(s.result ? [ms(s.result.timings.loadMs), ms(s.result.timings.readMs), ms(s.result.timings.runMs), ms(s.result.timings.writeMs)] : ['-', '-', '-', '-']),
    s.index === r.stages.length - 1 ? 'result (S3)' : s.handoff === 'payload' ? 'state payload' : 'S3 object',
    `${s.outcome}${s.retries > 0 ? ` (${s.retries} retr${s.retries === 1 ? 'y' : 'ies'})` : ''}${s.error ? `: ${s.error.error}: ${s.error.cause}` : ''}`,
  ]);
  return [
    `execution    ${r.runId}: ${r.outcome} in ${((r.endMs - r.startMs) / 1000).toFixed(2)} s (AWS execution ${r.executionArn})`,
    `plan         ${r.planId}: stages, ${r.stages.length} stage${r.stages.length === 1 ? '' : 's'} of ${r.model.units} units of ${r.model.path}, batch ${r.batch}, ${r.workflowType} workflow`,
    ...(r.error ? [`error        ${r.error}`] : []),
    `transitions  ${r.transitions} states entered`,
    ...r.notes.map((n, i) => `${i === 0 ? 'source       ' : '             '}${n}`),
    '',
    'states (as the Step Functions console shows them):',
    ...statesTimeline(r.states).map((l) => `  ${l}`),
    '',
    "stages (the chain, in order; ms of each phase in the stage's function):",
    table(['stage', 'units', 'layers', 'memory MB', 'load', 'read', 'run', 'write', 'hands on', 'outcome'], rows).split('\n').map((l) => `  ${l}`).join('\n'),
  ].join('\n');
}

/** An AWS execution's record in brief, then its execution graph. */
export function describeAwsExecution(r: LocalRunRecord): string {
  const seconds = (r.endMs - r.startMs) / 1000;
  return [
    `execution    ${r.runId}: ${r.outcome} in ${seconds.toFixed(2)} s (${r.workload})`,
    `plan         ${r.planId}: ${r.plan.shape}, ${r.plan.workers} worker${r.plan.workers > 1 ? 's' : ''}, ${r.plan.channel} channel, ${r.plan.stages.length} stage${r.plan.stages.length > 1 ? 's' : ''}, ${r.plan.workflowType} workflow`,
    ...(r.error ? [`error        ${r.error}`] : []),
    `transitions  ${r.transitions.transitions} states entered`,
    ...r.notes.map((n, i) => `${i === 0 ? 'source       ' : '             '}${n.note}`),
    '',
    executionGraph(r),
  ].join('\n');
}

/** The record file of a run id, or of the newest record with `latest`. */
export function runRecordFile(which: string, dir: string = RUN_RECORD_DIR): string {
  if (which === 'latest') {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      names = [];
    }
    if (names.length === 0) throw new FileAccessError('no run records yet (stepinfer run writes one per run)', { file: dir });
    // The newest by modification time; run ids are time-ordered, so ties go to the later id.
    const newest = names.map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs })).sort((a, b) => b.t - a.t || (a.n < b.n ? 1 : -1))[0];
    return join(dir, newest.n);
  }
  if (!RUN_ID_PATTERN.test(which)) throw new UsageError(`"${which}" is not a run id (1-80 letters, digits, - or _) nor "latest"`, { field: 'run' });
  return join(dir, `${which}.json`);
}

function describe(r: LocalRunRecord): string {
  const seconds = (r.endMs - r.startMs) / 1000;
  const stages = r.plan.stages.length;
  return [
    `run          ${r.runId}: ${r.outcome} in ${seconds.toFixed(2)} s (setup ${(r.setupMs / 1000).toFixed(2)} s); ${r.invocations.length} Lambda invocations, ${r.invocations.filter((i) => i.cold).length} cold`,
    `plan         ${r.planId}: ${r.plan.shape}, ${r.plan.workers} worker${r.plan.workers > 1 ? 's' : ''}, ${r.plan.channel} channel, ${stages} stage${stages > 1 ? 's' : ''}, ${r.plan.workflowType} workflow`,
    `workload     ${r.workload}`,
    ...(r.error ? [`error        ${r.error}`] : []),
    ...(r.categoryCount !== null ? [`categories   ${r.categoryCount} of ${r.samples} inputs${r.truth ? (r.truth.matches ? `, matching all ${r.truth.expected} of the truth` : `, MISMATCH with the truth: ${r.truth.missing.length} missing, ${r.truth.extra.length} extra`) : ''}`] : []),
    ...(r.total ? [`traffic      ${trafficLine(r.total)}`] : []),
    `transitions  ${r.transitions.transitions}${r.transitions.childExecutions > 0 ? ` (+ ${r.transitions.childExecutions} child executions, ${r.transitions.childTransitions} transitions in them)` : ''}${r.cost.predictedTransitions !== null ? `; the plan priced ${r.cost.predictedTransitions}` : ''}`,
    `cost         ${r.cost.measuredUSD !== null ? `measured ${formatCost(r.cost.measuredUSD)}` : 'not measured (the run failed)'}${r.cost.predictedUSD !== null ? `; the plan predicted ${formatCost(r.cost.predictedUSD)}` : ''}`,
    ...r.notes.map((n, i) => `${i === 0 ? 'local        ' : '             '}${n.note}${n.states.length > 0 ? ` [${n.states.join(', ')}]` : ''}`),
    '',
    executionGraph(r),
  ].join('\n');
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description("render a run's per-layer execution graph from its record (.stepinfer/runs/<runId>.json, written by stepinfer run), or an AWS execution's from its history")
    .argument('<run>', 'a run id, latest, or an AWS execution ARN')
    .option('--plan <file>', 'with an execution ARN: the plan.json it ran')
    .option('--json', 'print the record as JSON')
    .action(async (which: string, o: InspectOptions) => {
      if (which.startsWith('arn:')) {
        if (o.plan !== undefined && readAnyPlanFile(o.plan).kind === STAGES_PLAN_KIND) report(o, await inspectAwsStagesExecution(which, o.plan), describeStagesExecution);
        else report(o, await inspectAwsExecution(which, o.plan), describeAwsExecution);
        return;
      }
      if (o.plan !== undefined) throw new UsageError('--plan goes with an AWS execution ARN; a local run record names its plan', { field: 'plan' });
      const file = runRecordFile(which);
      const record = parseRunRecord(readJsonFile(file, `no record of run ${which} (stepinfer run writes them to ${RUN_RECORD_DIR}/)`), file);
      report(o, record, describe);
    });
}
