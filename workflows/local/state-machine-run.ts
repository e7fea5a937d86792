// A plan's generated workflow (workflows/asl/) executed by aws-local-stepfunctions on the local
// cloud: what `stepinfer run` runs. Setup and finish are local-run.ts's (shards deployed, inputs
// staged; the result read back, no intermediates left). In between, the rendered definition, its
// substitutions filled from the local cloud and the interpreter's gaps mapped (local-definition.ts,
// every change a note), runs with the run id as the execution's name; every Task state resolves
// (by its state name, as the interpreter keys local handlers) to a handler that invokes the
// Task's function in the local Lambda host through the Invoke API with @aws-sdk/client-lambda, so
// the real handler runs in its own thread with the plan's memory and timeout. A function error
// fails the Task with the function's errorType and errorMessage, as Lambda reports it to Step
// Functions; the workflow's own Retry, Catch and stage retries then decide, as on AWS.
//
// The handlers also keep what the run record needs: every worker's full result (a stage's Map
// keeps only a brief of it in the execution), the workers a coordinator launched (read from their
// statuses before the gather removes them), and every failure with its worker and layer, so a run
// that fails names the worker, layer and cause rather than only the state. The interpreter's event
// log gives the states with their times and the transitions the execution made.
//
// The execution input names the staged inputs the run reads: its own rows, staged under its run id
// (as `stepinfer start --inputs` does on AWS), or, with `inputsAs: 'default'`, the plan's default
// inputs staged by the code `stepinfer shards upload` runs, with the input `{}` a console user gives.
//
// Nothing is left running: a failed execution first waits for the Tasks still running (the host
// ends a hung one at its timeout), then the cloud stops (unless the caller gave it and keeps it).

import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { StateMachine as Interpreter, type RunOptions } from 'aws-local-stepfunctions';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { RunFailedError } from '../../model/errors.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import {
  cleanupResultSchema, coordinatorEventSchema, coordinatorResultSchema, gatherEventSchema, gatherResultSchema, parseEvent,
  workerEventSchema, workerResultSchema, workerStatusSchema,
  type CoordinatorResult, type GatherResult, type WorkerResult,
} from '../../functions/handlers/events.ts';
import { statusKey } from '../../functions/handlers/status.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import {
  GATHER_STATE, parseStateMachineInput, renderWorkflow, STAGE_RETRIES, stageStateName, type StateMachine, type StateMachineInput,
} from '../asl/index.ts';
import {
  collectEvents, executedStates, transitionsOf, type EventTransitions, type ExecutedState, type ExecutionEvent,
} from './execution-events.ts';
import type { Invocation, LogSink } from './lambda-host.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalCloud } from './local-cloud.ts';
import { localDefinition, localFunctionArn, type LocalNote } from './local-definition.ts';
import {
  assertNoIntermediates, clientStorageOf, newRunId, prepareLocalRun, readRunResult, readWorkerResults,
  type LocalRunResult, type PrepareOptions, type PreparedRun, type StageOutcome,
} from './local-run.ts';

type RetryIntervalOverrides = NonNullable<NonNullable<RunOptions['overrides']>['retryIntervalOverrides']>;
type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

/** A worker's "layer done" log line, as it arrives through the host's log sink. */
export interface LayerDone {
  readonly stage: number;
  readonly attempt: number;
  readonly worker: number;
  readonly layer: number;
}

/** A Task that failed: its function's error, and which worker and layer when it is a worker's. */
export interface TaskFailure {
  readonly state: string;
  readonly functionName: string;
  readonly role: Plan['functions'][number]['role'];
  readonly stage: number | null;
  readonly attempt: number | null;
  readonly worker: number | null;
  /** The layer it failed in: from its failure status, else after the last layer it logged. */
  readonly layer: number | null;
  readonly errorType: string;
  readonly errorMessage: string;
  readonly atMs: number;
}

/** What the execution did, for the run record: also given when it failed. */
export interface ExecutionTrace {
  readonly runId: string;
  readonly planId: string;
  readonly definition: StateMachine;
  readonly notes: readonly LocalNote[];
  readonly states: readonly ExecutedState[];
  readonly transitions: EventTransitions;
  readonly failures: readonly TaskFailure[];
  /** The execution's error (Error and Cause) when it failed. */
  readonly error: { readonly error: string; readonly cause: string } | null;
  /** Every worker result the run's Tasks returned (or their coordinators read), all attempts. */
  readonly workerResults: readonly WorkerResult[];
  /** The local Lambda host's invocations of this run so far (cold ones started a thread first). */
  readonly invocations: readonly Invocation[];
  readonly setupMs: number;
  readonly startMs: number;
}

export interface StateMachineRunOptions extends PrepareOptions {
  /** Each category's k highest activations in the result (the execution input's topScores). */
  readonly topScores?: number;
  /**
   * The execution input as given. Default: the run's own staged rows (`inputs`: its run id,
   * `samples`, `topScores`), or `{}` (with `topScores` when given) for `inputsAs: 'default'`.
   */
  readonly input?: StateMachineInput;
  /** Times a failed stage runs again (default workflows/asl STAGE_RETRIES, as deployed). */
  readonly stageRetries?: number;
  /**
   * aws-local-stepfunctions' retryIntervalOverrides: ms a Retry waits, by state name. Runs keep the
   * real intervals; tests shorten them here, explicitly.
   */
  readonly retryIntervalOverrides?: RetryIntervalOverrides;
  /** Seconds a worker waits for a layer's rows (default: the plan's stage runs). */
  readonly receiveTimeoutSeconds?: number;
  /** Each worker's finished layer, as its log line arrives (progress). */
  readonly onLayerDone?: (done: LayerDone) => void;
  /** Called once the cloud is up and the inputs are staged, before the execution starts (tests: remove a shard). */
  readonly beforeExecution?: (cloud: LocalCloud, runId: string) => Promise<void>;
  /** Called with the execution's trace when it ended, successful or not (the run record). */
  readonly onTrace?: (trace: ExecutionTrace) => void;
}

export interface StateMachineRunResult extends LocalRunResult {
  readonly execution: ExecutionTrace;
  /** The attempt of each stage that succeeded (0: its first). */
  readonly attempts: number[];
}

const taskError = (name: string, message: string) => Object.assign(new Error(message), { name });

/** The run id, layer and worker of a "layer done" line of this run, or null. */
function layerDoneOf(line: string, runId: string): LayerDone | null {
  if (!line.includes('"message":"layer done"')) return null;
  try {
    const j = JSON.parse(line) as Partial<LayerDone> & { runId?: string };
    if (j.runId !== runId || typeof j.stage !== 'number' || typeof j.attempt !== 'number' || typeof j.worker !== 'number' || typeof j.layer !== 'number') return null;
    return { stage: j.stage, attempt: j.attempt, worker: j.worker, layer: j.layer };
  } catch {
    return null;
  }
}

/** What the Task handlers saw, by stage and attempt. */
class TaskRecords {
  readonly workers = new Map<string, Map<number, WorkerResult>>();
  readonly coordinators = new Map<string, CoordinatorResult>();
  readonly failures: TaskFailure[] = [];
  gather: GatherResult | null = null;
  /** Invocations not yet answered. */
  readonly pending = new Set<Promise<unknown>>();
  /** The last layer each (stage, attempt, worker) logged as done. */
  readonly lastLayerDone = new Map<string, number>();

  static key(stage: number, attempt: number): string {
    return `${stage}/${attempt}`;
  }

  addWorker(r: WorkerResult): void {
    const key = TaskRecords.key(r.stage, r.attempt);
    let at = this.workers.get(key);
    if (!at) this.workers.set(key, at = new Map());
    at.set(r.worker, r);
  }

  allWorkerResults(): WorkerResult[] {
    return [...this.workers.values()].flatMap((m) => [...m.values()]).sort((a, b) => a.stage - b.stage || a.attempt - b.attempt || a.worker - b.worker);
  }
}

/**
 * Runs the plan's workflow on the local cloud and returns the result with its counters, the
 * executed states and notes. A failed execution throws RunFailedError naming the state, worker,
 * layer and cause.
 */
export async function runStateMachineLocally(plan: Plan, network: SparseNetwork, inputs: SparseRows, o: StateMachineRunOptions = {}): Promise<StateMachineRunResult> {
  const runId = o.runId ?? newRunId();
  // Render first: a workflow that fails validation starts nothing.
  const rendered = renderWorkflow(plan, { stageRetries: o.stageRetries });
  const topScores = o.topScores !== undefined ? { topScores: o.topScores } : {};
  const input: StateMachineInput = o.input ?? (o.inputsAs === 'default' ? topScores : { inputs: runId, samples: inputs.rows, topScores: o.topScores ?? 0 });
  parseStateMachineInput(input, plan, 'the run\'s state machine input');
  const records = new TaskRecords();
  const userSink = o.logSink;
  const logSink: LogSink = (functionName, stream, line) => {
    const done = layerDoneOf(line, runId);
    if (done) {
      records.lastLayerDone.set(`${done.stage}/${done.attempt}/${done.worker}`, done.layer);
      o.onLayerDone?.(done);
    }
    if (userSink) userSink(functionName, stream, line);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
  };
  const run = await prepareLocalRun(plan, network, inputs, { ...o, runId, logSink });
  const { cloud } = run;
  // The Tasks' own client: a stage's Map holds P Invoke calls open at once (more than the SDK's default 50 sockets at P > 50).
  const lambda = new LambdaClient({
    region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: cloud.host.endpoint, maxAttempts: 1,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: Math.max(64, 2 * plan.workers) }, requestTimeout: 0 },
  });
  try {
    await o.beforeExecution?.(cloud, runId);
    const local = localDefinition(plan, rendered, cloud, { receiveTimeoutSeconds: o.receiveTimeoutSeconds });
    const notes: LocalNote[] = [...local.notes];
    if ((o.stageRetries ?? STAGE_RETRIES) !== STAGE_RETRIES) notes.push({ states: [], note: `a failed stage runs again at most ${o.stageRetries} times (deployed: ${STAGE_RETRIES})` });
    if (o.retryIntervalOverrides) notes.push({ states: Object.keys(o.retryIntervalOverrides), note: 'Retry intervals shortened (retryIntervalOverrides, ms): ' + JSON.stringify(o.retryIntervalOverrides) });
    const handlers = taskHandlers(plan, local.taskFunctions, { cloud, lambda, records, runId });

    o.onPhase?.('starting the execution');
    const interpreter = new Interpreter(local.definition as never);
    const execution = interpreter.run(input as never, {
      context: { Execution: { Name: runId } },
      overrides: { taskResourceLocalHandlers: handlers, ...(o.retryIntervalOverrides ? { retryIntervalOverrides: o.retryIntervalOverrides } : {}) },
    });
    const events: ExecutionEvent[] = [];
    const collecting = collectEvents(withPhases(execution.eventLogs, o.onPhase), events);
    let error: { error: string; cause: string } | null = null;
    try {
      await execution.result;
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      error = cause instanceof Error ? { error: cause.name, cause: cause.message } : { error: (e as Error).name, cause: (e as Error).message };
    }
    await collecting;
    if (error) {
      // Tasks of the failed attempt may still run (peers waiting for the failed worker's rows, a
      // hung worker until the host's timeout): their failures name the cause too.
      while (records.pending.size > 0) await Promise.allSettled([...records.pending]);
    }
    const trace: ExecutionTrace = {
      runId, planId: plan.planId, definition: local.definition, notes, states: executedStates(events), transitions: transitionsOf(events, local.definition),
      failures: records.failures, error, workerResults: records.allWorkerResults(), invocations: invocationsOf(run),
      setupMs: run.setupMs, startMs: run.startMs,
    };
    o.onTrace?.(trace);
    if (error) throw new RunFailedError(failureMessage(plan, runId, trace, o.stageRetries ?? STAGE_RETRIES));
    return await finish(plan, run, records, trace);
  } finally {
    lambda.destroy();
    if (run.ownsCloud) await cloud.stop();
  }
}

/** The host's invocations since the run started (a given cloud may have served earlier runs). */
function invocationsOf(run: PreparedRun): Invocation[] {
  return run.cloud.host.invocations.slice(run.invocationsBefore).map((x) => ({ ...x }));
}

/** Reports each top-level state entered as the run's phase, while the events pass through. */
async function* withPhases(log: AsyncGenerator<ExecutionEvent>, onPhase: ((phase: string) => void) | undefined): AsyncGenerator<ExecutionEvent> {
  for await (const e of log) {
    if (onPhase && e.type === 'StateEntered' && e.index === undefined) onPhase(e.state.name);
    yield e;
  }
}

interface HandlerContext {
  readonly cloud: LocalCloud;
  readonly lambda: LambdaClient;
  readonly records: TaskRecords;
  readonly runId: string;
}

type TaskHandler = (input: unknown) => Promise<unknown>;

/** A handler per Task state, keyed by state name (the interpreter's key). */
function taskHandlers(plan: Plan, taskFunctions: Readonly<Record<string, string>>, c: HandlerContext): LocalHandlers {
  const roleOf = new Map(plan.functions.map((f) => [plan.names.functions[f.id], f.role]));
  const handlers: Record<string, TaskHandler> = {};
  for (const [state, functionName] of Object.entries(taskFunctions)) {
    const role = roleOf.get(functionName);
    if (role === undefined) throw new RunFailedError(`state "${state}" invokes ${functionName}, not a function of plan ${plan.planId}`);
    handlers[state] = (input) => {
      const answer = handleTask(state, functionName, role, input, c);
      c.records.pending.add(answer);
      void answer.finally(() => c.records.pending.delete(answer)).catch(() => undefined);
      return answer;
    };
  }
  // The interpreter passes and takes JSON values; the handlers parse what they get.
  return handlers as unknown as LocalHandlers;
}

/** Invokes the Task's function (RequestResponse), records what it returned, and returns it; a function error fails the Task. */
async function handleTask(state: string, functionName: string, role: TaskFailure['role'], input: unknown, c: HandlerContext): Promise<unknown> {
  const { records } = c;
  const worker = role === 'worker' || role === 'stage' ? parseEvent(workerEventSchema, input, `${state} (worker)`) : null;
  const coordinator = role === 'coordinator' ? parseEvent(coordinatorEventSchema, input, `${state} (coordinator)`) : null;
  const gather = role === 'gather' ? parseEvent(gatherEventSchema, input, `${state} (gather)`) : null;
  let out;
  try {
    out = await c.lambda.send(new InvokeCommand({ FunctionName: localFunctionArn(functionName), InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(input)) }));
  } catch (error) {
    // Step Functions names an error of the Lambda service itself Lambda.<exception>.
    const e = error as Error;
    throw taskError(`Lambda.${e.name}`, e.message);
  }
  const text = Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
  const payload: unknown = text === '' ? null : JSON.parse(text);
  const sr = worker?.stageRun ?? coordinator?.stageRun ?? null;
  if (out.FunctionError) {
    const e = payload as { errorType?: string; errorMessage?: string } | null;
    const errorType = e?.errorType ?? 'Lambda.Unknown';
    const errorMessage = e?.errorMessage ?? text;
    records.failures.push({
      state, functionName, role, stage: sr?.stage ?? null, attempt: sr?.attempt ?? null, worker: worker?.worker ?? null,
      layer: worker ? await failedLayer(c, worker.stageRun, worker.worker) : null,
      errorType, errorMessage, atMs: Date.now(),
    });
    throw taskError(errorType, errorMessage);
  }
  if (worker) records.addWorker(parseEvent(workerResultSchema, payload, `${state} result`));
  if (coordinator) {
    const result = parseEvent(coordinatorResultSchema, payload, `${state} result`);
    records.coordinators.set(TaskRecords.key(result.stage, result.attempt), result);
    for (const w of await readWorkerResults(c.cloud, c.runId, result)) records.addWorker(w);
  }
  if (gather) {
    if (gather.cleanup) parseEvent(cleanupResultSchema, payload, `${state} result`);
    else records.gather = parseEvent(gatherResultSchema, payload, `${state} result`);
  }
  return payload;
}

/**
 * The layer a failed worker was in: its failure status says (a handler that caught its error
 * writes one; null when it failed before its first layer, loading its shard or inputs); a thread
 * the host ended (timeout, out of memory) wrote none, so: the layer after the last one it logged.
 */
async function failedLayer(c: HandlerContext, sr: { runId: string; storage: Plan['storage']; stage: number; attempt: number; firstLayer: number; lastLayer: number }, worker: number): Promise<number | null> {
  const store = new ObjectStore(c.cloud.clients.s3, c.cloud.resources.bucket);
  const bytes = await store.getOptional(statusKey(sr, worker)).catch(() => null);
  if (bytes) {
    const parsed = workerStatusSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    if (parsed.success && !parsed.data.ok) return parsed.data.layer;
  }
  const done = c.records.lastLayerDone.get(`${sr.stage}/${sr.attempt}/${worker}`);
  return done === undefined ? sr.firstLayer : Math.min(done + 1, sr.lastLayer);
}

const isConsequence = (f: TaskFailure) => f.errorType === 'ChannelTimeoutError';

function describeFailure(f: TaskFailure): string {
  const who = f.worker !== null ? `worker ${f.worker}${f.layer !== null ? ` failed in layer ${f.layer}` : ' failed'}` : `${f.role} ${f.functionName} failed`;
  return `${who}: ${f.errorType}: ${f.errorMessage}`;
}

/**
 * The message of a failed run: the state that failed last and its attempt, the failure that
 * caused it (a worker's own error before the peers that only waited for it), and the execution's
 * error when no Task failed (an execution timeout).
 */
export function failureMessage(plan: Plan, runId: string, trace: Pick<ExecutionTrace, 'failures' | 'error'>, retries: number = STAGE_RETRIES): string {
  // The cause: the gather's failure, else the failures of the last stage that failed, in its last attempt
  // (stages run in order; workers of earlier attempts may still fail later, their peers gone).
  const gather = trace.failures.filter((f) => f.state === GATHER_STATE);
  const staged = trace.failures.filter((f) => f.stage !== null && f.attempt !== null);
  let group: TaskFailure[] = gather.slice(-1);
  if (group.length === 0 && staged.length > 0) {
    const stage = Math.max(...staged.map((f) => f.stage!));
    const attempt = Math.max(...staged.filter((f) => f.stage === stage).map((f) => f.attempt!));
    group = staged.filter((f) => f.stage === stage && f.attempt === attempt);
  }
  if (group.length === 0) return `run ${runId} failed: ${trace.error?.error ?? 'unknown error'}: ${trace.error?.cause ?? ''}`;
  const ordered = [...group.filter((f) => !isConsequence(f)), ...group.filter(isConsequence)];
  const first = ordered[0];
  const stage = first.stage !== null ? plan.workflow.stages[first.stage] : undefined;
  const where = stage
    ? `"${stageStateName(plan, stage)}" (layers ${stage.firstLayer}-${stage.lastLayer}, attempt ${first.attempt! + 1}${first.attempt! >= retries ? `, the last of ${retries + 1}` : ''})`
    : `"${first.state}"`;
  const more = ordered.length > 1 ? `; ${ordered.length - 1} more failed: ${ordered.slice(1, 3).map(describeFailure).join('; ')}${ordered.length > 3 ? '; ...' : ''}` : '';
  return `run ${runId} failed in ${where}: ${describeFailure(first)}${more}`;
}

/** A successful execution's result: the gathered rows, each stage's successful attempt, times and usage. */
async function finish(plan: Plan, run: PreparedRun, records: TaskRecords, trace: ExecutionTrace): Promise<StateMachineRunResult> {
  const { cloud, runId } = run;
  const { activations, categories } = await readRunResult(run, plan);
  // Invocations of a failed attempt may still run (their peers are gone): they end at their deadline.
  await cloud.host.drained();
  while (records.pending.size > 0) await Promise.allSettled([...records.pending]);
  await assertNoIntermediates(run, plan);
  const attempts: number[] = [];
  const stages: StageOutcome[] = plan.workflow.stages.map((s) => {
    for (let attempt = Math.max(0, ...[...records.workers.keys()].filter((k) => k.startsWith(`${s.index}/`)).map((k) => Number(k.split('/')[1]))); attempt >= 0; attempt--) {
      const workers = records.workers.get(TaskRecords.key(s.index, attempt));
      if (workers && workers.size === plan.workers) {
        attempts.push(attempt);
        return { coordinator: records.coordinators.get(TaskRecords.key(s.index, attempt)) ?? null, workers: [...workers.values()].sort((a, b) => a.worker - b.worker) };
      }
    }
    throw new RunFailedError(`run ${runId}: the execution succeeded but no attempt of stage ${s.index} reported all ${plan.workers} workers`);
  });
  const durationOf = (name: string) => trace.states.filter((x) => x.name === name && x.index === null).reduce((t, x) => t + ((x.exitedMs ?? x.enteredMs) - x.enteredMs), 0);
  const stageMs = plan.workflow.stages.map((s) => durationOf(stageStateName(plan, s)));
  return {
    runId, categories, activations, stages, gather: records.gather,
    phasesMs: { setup: run.setupMs, stages: stageMs, gather: plan.workflow.gather ? durationOf(GATHER_STATE) : 0, total: Date.now() - run.startMs },
    clientStorage: clientStorageOf(run),
    lambdaInvocations: cloud.host.invocations.length - run.invocationsBefore,
    invocations: invocationsOf(run),
    stepFunctions: { type: plan.workflow.type, ...trace.transitions },
    // With what the invocations still running at the end reported since.
    execution: { ...trace, workerResults: records.allWorkerResults(), invocations: invocationsOf(run) },
    attempts,
  };
}
