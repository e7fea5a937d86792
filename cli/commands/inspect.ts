// `stepinfer inspect <runId|latest>`: a run record (.stepinfer/runs/<runId>.json, written by
// `stepinfer run`) rendered in the terminal: the run in brief, the states as the Step Functions
// console shows them on a time axis, and inside each stage attempt its layers with a bar per
// worker for compute, send and wait; `--json` prints the record itself.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { FileAccessError, UsageError } from '../../model/errors.ts';
import { RUN_ID_PATTERN } from '../../functions/handlers/events.ts';
import { formatCost } from '../../planner/optimize/index.ts';
import { parseRunRecord, type LocalRunRecord } from '../../workflows/local/run-record.ts';
import { readJsonFile } from '../files.ts';
import { report } from '../output.ts';
import { executionGraph, RUN_RECORD_DIR, trafficLine } from '../run-report.ts';

interface InspectOptions {
  readonly json?: boolean;
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
    .description("render a run's per-layer execution graph from its record (.stepinfer/runs/<runId>.json, written by stepinfer run)")
    .argument('<run>', 'a run id, or latest')
    .option('--json', 'print the record as JSON')
    .action((which: string, o: InspectOptions) => {
      const file = runRecordFile(which);
      const record = parseRunRecord(readJsonFile(file, `no record of run ${which} (stepinfer run writes them to ${RUN_RECORD_DIR}/)`), file);
      report(o, record, describe);
    });
}
