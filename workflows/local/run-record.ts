// The record of one local run of a plan's workflow (`stepinfer run` writes it as
// .stepinfer/runs/<runId>.json; `stepinfer inspect` renders it): which plan, what the local runtime
// changed (notes), every state the execution entered with its times, every stage attempt's workers
// with their per-layer timings and channel counters, the per-layer and total counters, the
// measured usage and cost beside the plan's prediction, and the failure when it failed. One zod
// schema; a record is parsed with it wherever it is read. Times are epoch milliseconds.
// `counters` is the measured usage in the run record format of planner/cost/record.ts, so
// `stepinfer cost <record>` prices a local run as it prices a published one.

import { z } from 'zod';
import { fromZodError, ModelFormatError } from '../../model/errors.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import { planSchema } from '../../planner/plan/schema.ts';
import { runCountersSchema } from '../../planner/cost/record.ts';
import type { UsageCounters } from '../../planner/cost/counters.ts';
import { workerResultSchema, RUN_ID_PATTERN, type WorkerResult } from '../../functions/handlers/events.ts';
import { stageStateName, workerStateName } from '../asl/index.ts';
import type { ExecutionTrace } from './state-machine-run.ts';
import type { LayerCounters } from './run-counters.ts';

export const RUN_RECORD_FORMAT_VERSION = 1;
export const RUN_RECORD_KIND = 'stepinfer-run-record';

const int = z.number().int();
const nonnegative = int.nonnegative();
const ms = z.number();

/** A layer's (or the run's) counters as `stepinfer infer --json` and `run --json` print them. */
export const layerCountersSchema = z.object({
  layer: int.min(1).optional(),
  bytes: nonnegative, messages: nonnegative, publishes: nonnegative, receives: nonnegative, emptyReceives: nonnegative,
  deletes: nonnegative, duplicates: nonnegative, puts: nonnegative, gets: nonnegative, lists: nonnegative,
  /** The slowest worker's compute, send and wait in the layer (in total: summed over layers), ms. */
  computeMs: nonnegative, sendMs: nonnegative, waitMs: nonnegative,
}).strict();
export type LayerCountersJson = z.infer<typeof layerCountersSchema>;

/** LayerCounters (run-counters.ts) as printed and recorded: whole milliseconds. */
export function layerCountersJson(c: LayerCounters): LayerCountersJson {
  return {
    ...(c.layer !== null ? { layer: c.layer } : {}),
    bytes: c.bytes, messages: c.messages, publishes: c.publishes, receives: c.receives, emptyReceives: c.emptyReceives,
    deletes: c.deletes, duplicates: c.duplicates, puts: c.puts, gets: c.gets, lists: c.lists,
    computeMs: Math.round(c.computeMs), sendMs: Math.round(c.sendMs), waitMs: Math.round(c.waitMs),
  };
}

const executedStateSchema = z.object({
  name: z.string(),
  type: z.string(),
  /** The Map iteration (worker) it ran in; null outside Maps. */
  index: nonnegative.nullable(),
  enteredMs: ms,
  exitedMs: ms.nullable(),
  outcome: z.enum(['succeeded', 'caught', 'failed', 'aborted']),
  retries: nonnegative,
  error: z.object({ error: z.string(), cause: z.string() }).strict().nullable(),
}).strict();

const failureSchema = z.object({
  state: z.string(),
  functionName: z.string(),
  role: z.enum(['worker', 'stage', 'coordinator', 'gather']),
  stage: nonnegative.nullable(),
  attempt: nonnegative.nullable(),
  worker: nonnegative.nullable(),
  layer: int.min(1).nullable(),
  errorType: z.string(),
  errorMessage: z.string(),
  atMs: ms,
}).strict();

export const runRecordSchema = z.object({
  formatVersion: z.literal(RUN_RECORD_FORMAT_VERSION),
  kind: z.literal(RUN_RECORD_KIND),
  runId: z.string().regex(RUN_ID_PATTERN),
  planId: planSchema.shape.planId,
  /** The plan in brief, and each stage's state as the workflow names it. */
  plan: z.object({
    shape: planSchema.shape.shape,
    workers: int.min(1),
    channel: z.enum(['queue', 'object', 'none']),
    workflowType: z.enum(['STANDARD', 'EXPRESS']),
    stages: z.array(z.object({
      index: nonnegative,
      state: z.string(),
      /** The Task every worker of the stage runs, in the stage's Map (null when the stage is one Task). */
      workerState: z.string().nullable(),
      firstLayer: int.min(1),
      lastLayer: int.min(1),
      launch: z.enum(['task', 'map', 'tree']),
    }).strict()),
    gather: z.boolean(),
  }).strict(),
  workload: z.string(),
  samples: int.min(1),
  outcome: z.enum(['succeeded', 'failed']),
  /** The run's error when it failed. */
  error: z.string().nullable(),
  startMs: ms,
  endMs: ms,
  setupMs: z.number().nonnegative(),
  /** How the local run differed from the workflow as deployed, and why. */
  notes: z.array(z.object({ states: z.array(z.string()), note: z.string() }).strict()),
  states: z.array(executedStateSchema),
  /** Every stage attempt that reported workers; `succeeded` marks the attempt the run used. */
  attempts: z.array(z.object({
    stage: nonnegative,
    attempt: nonnegative,
    succeeded: z.boolean(),
    workers: z.array(workerResultSchema),
  }).strict()),
  failures: z.array(failureSchema),
  /** Every invocation the local Lambda host ran: cold ones started a thread and imported the handler first. */
  invocations: z.array(z.object({
    functionName: z.string(),
    invocationType: z.enum(['RequestResponse', 'Event', 'DryRun']),
    cold: z.boolean(),
    startMs: ms,
    endMs: ms.nullable(),
    outcome: z.enum(['running', 'succeeded', 'failed', 'timed-out', 'out-of-memory']),
  }).strict()),
  transitions: z.object({ transitions: nonnegative, childExecutions: nonnegative, childTransitions: nonnegative }).strict(),
  categoryCount: nonnegative.nullable(),
  truth: z.object({ file: z.string().nullable(), matches: z.boolean(), expected: nonnegative, missing: z.array(nonnegative), extra: z.array(nonnegative) }).strict().nullable(),
  /** Per layer and in total over the attempts the run used (null when it failed). */
  layers: z.array(layerCountersSchema).nullable(),
  total: layerCountersSchema.nullable(),
  /** The measured usage (planner/cost/record.ts format; null when it failed). */
  counters: runCountersSchema.nullable(),
  cost: z.object({
    predictedUSD: z.number().nonnegative().nullable(),
    measuredUSD: z.number().nonnegative().nullable(),
    /** The Standard transitions the plan priced (null for Express, billed by duration). */
    predictedTransitions: nonnegative.nullable(),
  }).strict(),
}).strict();

export type LocalRunRecord = z.infer<typeof runRecordSchema>;

/** A record read from a file; a malformed one fails naming the file and field. */
export function parseRunRecord(value: unknown, file: string): LocalRunRecord {
  const parsed = runRecordSchema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, file, { kind: ModelFormatError });
  return parsed.data;
}

/** The plan in brief, with the state names of its stages. */
export function recordedPlan(plan: Plan): LocalRunRecord['plan'] {
  return {
    shape: plan.shape,
    workers: plan.workers,
    channel: plan.channel.kind,
    workflowType: plan.workflow.type,
    stages: plan.workflow.stages.map((s) => ({
      index: s.index,
      state: stageStateName(plan, s),
      workerState: s.launch.kind === 'map' ? workerStateName(s) : null,
      firstLayer: s.firstLayer,
      lastLayer: s.lastLayer,
      launch: s.launch.kind,
    })),
    gather: plan.workflow.gather !== null,
  };
}

export interface RunRecordInput {
  readonly plan: Plan;
  readonly trace: ExecutionTrace;
  readonly workload: string;
  readonly samples: number;
  readonly endMs: number;
  /** The attempt each stage succeeded in (null when the run failed). */
  readonly attempts: readonly number[] | null;
  readonly error: string | null;
  readonly categoryCount: number | null;
  readonly truth: LocalRunRecord['truth'];
  readonly counters: { readonly perLayer: readonly LayerCounters[]; readonly total: LayerCounters } | null;
  readonly usage: UsageCounters | null;
  readonly cost: LocalRunRecord['cost'];
}

/** The record of a run (successful or failed), as `stepinfer run` writes it. */
export function buildRunRecord(r: RunRecordInput): LocalRunRecord {
  const byAttempt = new Map<string, WorkerResult[]>();
  for (const w of r.trace.workerResults) {
    const key = `${w.stage}/${w.attempt}`;
    let list = byAttempt.get(key);
    if (!list) byAttempt.set(key, list = []);
    list.push(w);
  }
  const attempts = [...byAttempt.entries()].map(([key, workers]) => {
    const [stage, attempt] = key.split('/').map(Number);
    return { stage, attempt, succeeded: r.attempts !== null && r.attempts[stage] === attempt, workers: workers.sort((a, b) => a.worker - b.worker) };
  }).sort((a, b) => a.stage - b.stage || a.attempt - b.attempt);
  const usage = r.usage ? { ...r.usage, lambda: r.usage.lambda.map((l) => ({ ...l })) } : null;
  return {
    formatVersion: RUN_RECORD_FORMAT_VERSION,
    kind: RUN_RECORD_KIND,
    runId: r.trace.runId,
    planId: r.plan.planId,
    plan: recordedPlan(r.plan),
    workload: r.workload,
    samples: r.samples,
    outcome: r.error === null ? 'succeeded' : 'failed',
    error: r.error,
    startMs: r.trace.startMs,
    endMs: r.endMs,
    setupMs: r.trace.setupMs,
    notes: r.trace.notes.map((n) => ({ states: [...n.states], note: n.note })),
    states: r.trace.states.map((s) => ({ ...s })),
    attempts,
    failures: r.trace.failures.map((f) => ({ ...f })),
    invocations: r.trace.invocations.map((i) => ({ functionName: i.functionName, invocationType: i.invocationType, cold: i.cold, startMs: i.startMs, endMs: i.endMs ?? null, outcome: i.outcome })),
    transitions: { transitions: r.trace.transitions.transitions, childExecutions: r.trace.transitions.childExecutions, childTransitions: r.trace.transitions.childTransitions },
    categoryCount: r.categoryCount,
    truth: r.truth,
    layers: r.counters ? r.counters.perLayer.map(layerCountersJson) : null,
    total: r.counters ? layerCountersJson(r.counters.total) : null,
    counters: usage,
    cost: r.cost,
  };
}
