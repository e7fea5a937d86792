// An AWS execution as a run record (workflows/local/run-record.ts), so `stepinfer inspect
// <executionArn>` renders it with the same per-layer execution graph as a local run. From
// GetExecutionHistory (paginated): the states entered, with their times, retries and outcome
// (a state inside a Map iteration carries the iteration's index, found by following
// previousEventId back to its MapIterationStarted); the workers' per-layer timings from the Lambda
// results in the history (LambdaFunctionSucceeded output: a worker's full result when a Map
// launched it; a coordinator's brief list for a launch tree, whose workers' full results are their
// status objects in S3, read while they exist: the gather removes them at a run's end). So no
// CloudWatch Logs client is needed; for a launch tree after its run ended the per-layer timings
// are gone (the execution graph says so).
//
// An execution of a stages plan (AMPS-Inf) is a chain of Tasks, one per stage: its record is the
// states on their time axis and, per stage, its layers, memory and the phases its function
// reported (load, read, run, write: the DenseStageResult in LambdaFunctionSucceeded), its retries
// and outcome (stagesExecutionRecord).

import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Plan } from '../planner/plan/schema.ts';
import type { StagesPlan } from '../planner/plan/stages-schema.ts';
import {
  coordinatorResultSchema, denseStageResultSchema, workerFailureSchema, workerResultSchema, type DenseStageResult, type WorkerResult,
} from '../functions/handlers/events.ts';
import { denseStageStateName } from '../workflows/asl/index.ts';
import { readStatus } from '../functions/handlers/status.ts';
import { ObjectStore } from '../functions/storage/object-store.ts';
import { recordedPlan, RUN_RECORD_FORMAT_VERSION, RUN_RECORD_KIND, type LocalRunRecord } from '../workflows/local/run-record.ts';
import { awsRequestError } from './aws.ts';

/** GetExecutionHistory's largest page (the API reference: maxResults up to 1000). */
const HISTORY_PAGE = 1000;

/** Every event of an execution's history, oldest first. */
export async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    let out;
    try {
      out = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: HISTORY_PAGE, nextToken, includeExecutionData: true }));
    } catch (error) {
      throw awsRequestError(error, `reading the history of ${executionArn}`);
    }
    events.push(...(out.events ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return events;
}

const json = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

type ExecutedState = LocalRunRecord['states'][number];

/** The Map iteration index of every event (null outside iterations). */
function iterationIndexes(events: readonly HistoryEvent[]): Map<number, number | null> {
  const byId = new Map(events.map((e) => [e.id ?? 0, e]));
  const index = new Map<number, number | null>();
  const find = (e: HistoryEvent): number | null => {
    const chain: number[] = [];
    let current: HistoryEvent | undefined = e;
    let found: number | null = null;
    while (current) {
      const id = current.id ?? 0;
      // Past an iteration's end or before a Map's start: outside any iteration.
      if (current !== e && (current.type === 'MapIterationSucceeded' || current.type === 'MapIterationFailed' || current.type === 'MapIterationAborted'
        || current.type === 'MapStateStarted' || current.type === 'ExecutionStarted')) break;
      if (index.has(id)) { found = index.get(id)!; break; }
      chain.push(id);
      if (current.type === 'MapIterationStarted') { found = current.mapIterationStartedEventDetails?.index ?? null; break; }
      current = current.previousEventId ? byId.get(current.previousEventId) : undefined;
    }
    for (const id of chain) index.set(id, found);
    return found;
  };
  for (const e of events) find(e);
  return index;
}

/** The states the execution entered, in order, as the run record has them. */
export function historyStates(events: readonly HistoryEvent[]): ExecutedState[] {
  const index = iterationIndexes(events);
  type OpenState = ExecutedState & { scheduled: number; lastFailed: boolean };
  const out: OpenState[] = [];
  const open = new Map<string, OpenState>();
  const key = (name: string, i: number | null) => `${i ?? ''}\u0000${name}`;
  // The state a Lambda event belongs to: the latest open state of its iteration.
  const openIn = new Map<string, string>();
  for (const e of events) {
    const i = index.get(e.id ?? 0) ?? null;
    const at = e.timestamp ? e.timestamp.getTime() : 0;
    const type = e.type ?? '';
    if (type.endsWith('StateEntered') && e.stateEnteredEventDetails?.name) {
      const name = e.stateEnteredEventDetails.name;
      const entry: OpenState = { name, type: type.slice(0, -'StateEntered'.length), index: i, enteredMs: at, exitedMs: null, outcome: 'aborted', retries: 0, error: null, scheduled: 0, lastFailed: false };
      out.push(entry);
      open.set(key(name, i), entry);
      openIn.set(String(i), key(name, i));
    } else if (type.endsWith('StateExited') && e.stateExitedEventDetails?.name) {
      const entry = open.get(key(e.stateExitedEventDetails.name, i));
      if (entry) {
        entry.exitedMs = at;
        entry.outcome = entry.lastFailed ? 'caught' : 'succeeded';
        open.delete(key(entry.name, i));
      }
    } else if (type === 'LambdaFunctionScheduled' || type === 'TaskScheduled') {
      const entry = open.get(openIn.get(String(i)) ?? '');
      if (entry) { entry.scheduled++; entry.retries = entry.scheduled - 1; entry.lastFailed = false; }
    } else if (type === 'LambdaFunctionFailed' || type === 'LambdaFunctionTimedOut' || type === 'TaskFailed' || type === 'TaskTimedOut') {
      const entry = open.get(openIn.get(String(i)) ?? '');
      const d = e.lambdaFunctionFailedEventDetails ?? e.lambdaFunctionTimedOutEventDetails ?? e.taskFailedEventDetails ?? e.taskTimedOutEventDetails;
      if (entry) { entry.lastFailed = true; entry.error = { error: d?.error ?? type, cause: d?.cause ?? '' }; }
    } else if (type === 'ExecutionFailed' || type === 'ExecutionTimedOut' || type === 'ExecutionAborted') {
      for (const entry of open.values()) if (entry.exitedMs === null) { entry.outcome = 'failed'; entry.exitedMs = at; }
    }
  }
  return out.map(({ scheduled: _s, lastFailed: _f, ...s }) => s);
}

export interface AwsExecution {
  readonly executionArn: string;
  readonly name: string;
  readonly status: string;
  readonly startMs: number;
  readonly stopMs: number | null;
  readonly error: string | null;
}

/**
 * The run record of an AWS execution of `plan`: its states, and its workers' per-layer results
 * from the history's Lambda results (and S3 status objects for launch trees, when still there).
 */
export async function awsRunRecord(plan: Plan, execution: AwsExecution, events: readonly HistoryEvent[], s3: S3Client): Promise<LocalRunRecord> {
  const states = historyStates(events);
  const workers: WorkerResult[] = [];
  const failures: LocalRunRecord['failures'] = [];
  const notes: LocalRunRecord['notes'] = [{ states: [], note: `from GetExecutionHistory of ${execution.executionArn} (${events.length} events); per-layer timings from the workers' results` }];
  let missingStatuses = 0;
  const store = new ObjectStore(s3, plan.names.bucket);
  for (const e of events) {
    if (e.type === 'LambdaFunctionSucceeded') {
      const value = json(e.lambdaFunctionSucceededEventDetails?.output);
      const worker = workerResultSchema.safeParse(value);
      if (worker.success) { workers.push(worker.data); continue; }
      const coordinator = coordinatorResultSchema.safeParse(value);
      if (coordinator.success) {
        for (const w of coordinator.data.workers) {
          try {
            const status = await readStatus(store, w.statusKey);
            if (status.ok) workers.push(status);
          } catch {
            missingStatuses++;
          }
        }
      }
    } else if (e.type === 'LambdaFunctionFailed') {
      const d = e.lambdaFunctionFailedEventDetails;
      const failure = workerFailureSchema.safeParse(json(d?.cause));
      const state = states.find((s) => s.enteredMs <= (e.timestamp?.getTime() ?? 0) && s.error?.cause === d?.cause)?.name ?? '';
      failures.push({
        state, functionName: '', role: 'worker',
        stage: failure.success ? failure.data.stage : null, attempt: failure.success ? failure.data.attempt : null,
        worker: failure.success ? failure.data.worker : null, layer: failure.success ? failure.data.layer : null,
        errorType: d?.error ?? 'Error', errorMessage: failure.success ? failure.data.errorMessage : d?.cause ?? '', atMs: e.timestamp?.getTime() ?? 0,
      });
    }
  }
  if (missingStatuses > 0) {
    notes.push({ states: [], note: `${missingStatuses} worker${missingStatuses === 1 ? "'s" : "s'"} per-layer results were in status objects the run removed at its end (launch tree); their log lines are in CloudWatch Logs` });
  }
  // Worker results grouped by stage attempt; an attempt succeeded when it is its stage's last and the execution succeeded.
  const byAttempt = new Map<string, WorkerResult[]>();
  for (const w of workers) {
    const k = `${w.stage}/${w.attempt}`;
    byAttempt.set(k, [...(byAttempt.get(k) ?? []), w]);
  }
  const lastAttempt = new Map<number, number>();
  for (const w of workers) lastAttempt.set(w.stage, Math.max(lastAttempt.get(w.stage) ?? 0, w.attempt));
  const attempts = [...byAttempt.entries()].map(([k, list]) => {
    const [stage, attempt] = k.split('/').map(Number);
    return { stage, attempt, succeeded: execution.status === 'SUCCEEDED' && lastAttempt.get(stage) === attempt, workers: list.sort((a, b) => a.worker - b.worker) };
  }).sort((a, b) => a.stage - b.stage || a.attempt - b.attempt);
  const entered = events.filter((e) => (e.type ?? '').endsWith('StateEntered')).length;
  return {
    formatVersion: RUN_RECORD_FORMAT_VERSION,
    kind: RUN_RECORD_KIND,
    runId: execution.name,
    planId: plan.planId,
    plan: recordedPlan(plan),
    workload: `AWS execution ${execution.executionArn}`,
    samples: plan.inputRows,
    outcome: execution.status === 'SUCCEEDED' ? 'succeeded' : 'failed',
    error: execution.error,
    startMs: execution.startMs,
    endMs: execution.stopMs ?? Math.max(execution.startMs, ...states.map((s) => s.exitedMs ?? s.enteredMs)),
    setupMs: 0,
    notes,
    states,
    attempts,
    failures,
    invocations: [],
    transitions: { transitions: entered, childExecutions: 0, childTransitions: 0 },
    categoryCount: null,
    truth: null,
    layers: null,
    total: null,
    counters: null,
    cost: { predictedUSD: null, measuredUSD: null, predictedTransitions: null },
  };
}

/** An AWS execution of a stages plan: the chain of stages as it ran. */
export interface StagesExecutionRecord {
  readonly kind: 'stepinfer-stages-execution';
  readonly runId: string;
  readonly planId: string;
  readonly executionArn: string;
  readonly workflowType: StagesPlan['workflow']['type'];
  readonly model: { readonly path: string; readonly units: number };
  readonly batch: number;
  readonly outcome: 'succeeded' | 'failed';
  readonly error: string | null;
  readonly startMs: number;
  readonly endMs: number;
  readonly states: ExecutedState[];
  readonly stages: readonly {
    readonly index: number;
    readonly name: string;
    readonly state: string;
    readonly firstUnit: number;
    readonly lastUnit: number;
    readonly memoryMB: number;
    /** How the plan hands its output on ("object" for the last stage: the result). */
    readonly handoff: 'payload' | 'object';
    /** The Task state's outcome; "not run" when the execution never entered it. */
    readonly outcome: ExecutedState['outcome'] | 'not run';
    readonly retries: number;
    readonly error: ExecutedState['error'];
    /** What its function returned (its phases' milliseconds), when it succeeded. */
    readonly result: DenseStageResult | null;
  }[];
  readonly transitions: number;
  readonly notes: readonly string[];
}

/** The record of an AWS execution of a stages plan, from its history alone. */
export function stagesExecutionRecord(plan: StagesPlan, execution: AwsExecution, events: readonly HistoryEvent[]): StagesExecutionRecord {
  const states = historyStates(events);
  const results = new Map<number, DenseStageResult>();
  for (const e of events) {
    if (e.type !== 'LambdaFunctionSucceeded') continue;
    const r = denseStageResultSchema.safeParse(json(e.lambdaFunctionSucceededEventDetails?.output));
    if (r.success) results.set(r.data.stage, r.data);
  }
  const stages = plan.workflow.stages.map((s) => {
    const f = plan.functions.find((x) => x.id === s.functionId)!;
    const state = denseStageStateName(s);
    const entered = states.filter((x) => x.name === state).at(-1);
    return {
      index: s.index, name: s.name, state, firstUnit: s.firstUnit, lastUnit: s.lastUnit, memoryMB: f.memoryMB,
      handoff: s.index === plan.workflow.stages.length - 1 ? 'object' as const : s.output.handoff,
      outcome: entered?.outcome ?? 'not run' as const, retries: entered?.retries ?? 0, error: entered?.error ?? null,
      result: results.get(s.index) ?? null,
    };
  });
  return {
    kind: 'stepinfer-stages-execution',
    runId: execution.name,
    planId: plan.planId,
    executionArn: execution.executionArn,
    workflowType: plan.workflow.type,
    model: { path: plan.model.path, units: plan.model.units },
    batch: plan.batch,
    outcome: execution.status === 'SUCCEEDED' ? 'succeeded' : 'failed',
    error: execution.error,
    startMs: execution.startMs,
    endMs: execution.stopMs ?? Math.max(execution.startMs, ...states.map((s) => s.exitedMs ?? s.enteredMs)),
    states,
    stages,
    transitions: events.filter((e) => (e.type ?? '').endsWith('StateEntered')).length,
    notes: [`from GetExecutionHistory of ${execution.executionArn} (${events.length} events); each stage's phases from its function's result`],
  };
}
