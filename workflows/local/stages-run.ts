// A stages plan (planner/plan/stages-schema.ts) executed on this machine as the other shapes are:
// its generated workflow (workflows/asl/render-stages.ts) in aws-local-stepfunctions, its
// substitutions filled and the interpreter's gaps mapped by local-definition.ts (every change a
// note), each stage's function served by the local Lambda host from the dense stage handler's
// bundle (workflows/local/handler-bundles.ts) in its own worker thread with its own memory's heap
// and its own sub-model file (STEPINFER_MODEL_DIR, the folder holding every stage<i>.onnx the
// packages would hold), and S3 in fauxqs. The client stages the batch under storage.inputs of the
// run, the execution's output names the result object, which is read back and checked (CRC, dims);
// the run must leave nothing but its result behind.
//
// The stage functions' "stage done" log lines give each stage's measured phases (load, read, run,
// write); the interpreter's event log gives the states with their times. A failed execution fails
// the run naming the stage and its cause; no result is returned from incomplete data. Nothing is
// left running.

import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { StateMachine as Interpreter } from 'aws-local-stepfunctions';
import { crc32Hex } from '../../model/checksum.ts';
import { RunFailedError, ShapeMismatchError, StepinferError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { expandKey } from '../../planner/plan/names.ts';
import type { StagesPlan } from '../../planner/plan/stages-schema.ts';
import { S3_CLIENT_SETTINGS } from '../../functions/handlers/clients.ts';
import { MODEL_DIR_VARIABLE } from '../../functions/handlers/dense-stage.ts';
import { denseStageTimingsSchema, parseEvent, type DenseStageTimings } from '../../functions/handlers/events.ts';
import { createObjectResources } from '../../functions/channels/object-resources.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { decodeTensorObject, encodeTensorObject, type DenseTensor } from '../../functions/storage/tensor-codec.ts';
import { denseStageStateName, renderStagesWorkflow, stagesInputSchema, type StateMachine } from '../asl/index.ts';
import { collectEvents, executedStates, transitionsOf, type EventTransitions, type ExecutedState, type ExecutionEvent } from './execution-events.ts';
import { handlerBundles } from './handler-bundles.ts';
import { startLambdaHost, type Invocation, type LambdaHost, type LogSink } from './lambda-host.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './local-cloud.ts';
import { localDefinition, localFunctionArn, type LocalNote } from './local-definition.ts';
import { newRunId } from './local-run.ts';

/** The dense stage handler every stage function runs. */
const STAGE_HANDLER = fileURLToPath(new URL('../../functions/handlers/dense-stage.ts', import.meta.url));

/**
 * What a stages plan's timeouts are multiplied by here: the plan's are for Lambda, where each stage
 * has its memory's vCPUs to itself; here a stage shares this machine's cores with the emulators and
 * starts a thread and onnxruntime cold.
 */
export const STAGES_TIMEOUT_SCALE = 4;

export interface StagesRunOptions {
  /** The folder holding each stage's sub-model (package.modelFile: stage0.onnx, ...). */
  readonly stageFilesDir: string;
  readonly runId?: string;
  /** Default STAGES_TIMEOUT_SCALE. Timeouts stay enforced (at most Lambda's 15 minutes). */
  readonly timeoutScale?: number;
  /** Handler output lines (default: this process's stdout and stderr). */
  readonly logSink?: LogSink;
  /** POWERTOOLS_LOG_LEVEL of the handlers (default INFO: the stage timings are INFO lines). */
  readonly logLevel?: string;
  /** The stage handler module instead of functions/handlers/dense-stage.ts (tests: a wrapper that injects a fault). */
  readonly handlerModule?: string;
  readonly onPhase?: (phase: string) => void;
  /** Called once the input is staged, before the execution starts (tests: remove an object). */
  readonly beforeExecution?: (cloud: StagesCloud, runId: string) => Promise<void>;
  /** Called when the execution ended, successful or not, with the states it entered, before the cloud stops (tests: what is left in S3). */
  readonly afterExecution?: (cloud: StagesCloud, runId: string, states: readonly ExecutedState[]) => Promise<void>;
}

/** The run's S3 as a hook sees it. */
export interface StagesCloud {
  readonly s3: S3Client;
  readonly bucket: string;
}

/** One stage as it ran. */
export interface StageRunOutcome {
  readonly index: number;
  readonly name: string;
  readonly state: string;
  readonly firstUnit: number;
  readonly lastUnit: number;
  readonly memoryMB: number;
  readonly functionName: string;
  /** Its phases as its "stage done" log line gives them, ms. */
  readonly timings: DenseStageTimings;
  /** load + read + run + write, seconds: the stage's measured time in its function. */
  readonly seconds: number;
  /** From the Task state's entry to its exit, seconds (the invocation and a cold thread's start included). */
  readonly stateSeconds: number;
  /** Whether its invocation started a thread (a cold start). */
  readonly cold: boolean;
  readonly sessionCached: boolean;
  readonly handoff: 'payload' | 'object';
}

export interface StagesRunResult {
  readonly runId: string;
  readonly output: DenseTensor;
  readonly resultKey: string;
  readonly resultCrc32: string;
  readonly stages: readonly StageRunOutcome[];
  readonly states: readonly ExecutedState[];
  readonly transitions: EventTransitions;
  readonly notes: readonly LocalNote[];
  readonly invocations: readonly Invocation[];
  /** Wall times, ms: setting up (emulator, host, bundle, staging), the execution, all. */
  readonly phasesMs: { readonly setup: number; readonly execution: number; readonly total: number };
  readonly definition: StateMachine;
}

/** A "stage done" line of this run: its stage and phases. */
interface StageDoneLine {
  readonly stage: number;
  readonly timings: DenseStageTimings;
  readonly sessionCached: boolean;
  readonly handoff: 'payload' | 'object';
}

function stageDoneOf(line: string, runId: string): StageDoneLine | null {
  if (!line.includes('"message":"stage done"')) return null;
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j.runId !== runId || typeof j.stage !== 'number') return null;
    const timings = denseStageTimingsSchema.parse({ loadMs: j.loadMs, readMs: j.readMs, runMs: j.runMs, writeMs: j.writeMs });
    return { stage: j.stage, timings, sessionCached: j.sessionCached === true, handoff: j.handoff === 'payload' ? 'payload' : 'object' };
  } catch {
    return null;
  }
}

const taskError = (name: string, message: string) => Object.assign(new Error(message), { name });

/** The execution's output: the result object's reference, as the last stage's Task selects it (render-stages.ts). */
const executionOutputSchema = z.object({ resultKey: z.string().min(1), crc32: z.string(), dims: z.array(z.number().int()) }).strict();
type ExecutionOutput = z.infer<typeof executionOutputSchema>;

/**
 * Runs the stages plan's workflow on `input` (the batch: the model's input dims) and returns the
 * last stage's output with each stage's measured times. A failed execution throws RunFailedError
 * naming the stage and the cause.
 */
export async function runStagesLocally(plan: StagesPlan, input: DenseTensor, o: StagesRunOptions): Promise<StagesRunResult> {
  const startMs = Date.now();
  const dims = plan.model.input.dims;
  if (input.dims.length !== dims.length || input.dims.some((d, i) => d !== dims[i])) {
    throw new ShapeMismatchError(`the input has dims [${input.dims.join(', ')}], plan ${plan.planId}'s model takes [${dims.join(', ')}]`, { field: 'model.input.dims' });
  }
  const runId = o.runId ?? newRunId();
  // Render first: a workflow that fails validation starts nothing.
  const rendered = renderStagesWorkflow(plan);
  const stageDone = new Map<number, StageDoneLine>();
  const logSink: LogSink = (functionName, stream, line) => {
    const done = stageDoneOf(line, runId);
    if (done) stageDone.set(done.stage, done);
    if (o.logSink) o.logSink(functionName, stream, line);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
  };

  o.onPhase?.('starting the local cloud');
  let fauxqs: FauxqsServer | undefined;
  let host: LambdaHost | undefined;
  let s3: S3Client | undefined;
  let lambda: LambdaClient | undefined;
  const pending = new Set<Promise<unknown>>();
  try {
    fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
    const scale = o.timeoutScale ?? STAGES_TIMEOUT_SCALE;
    const maxSeconds = AWS_LIMITS.lambdaMaxTimeoutSeconds.value;
    const environment = {
      AWS_ENDPOINT_URL: fauxqs.address,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      POWERTOOLS_LOG_LEVEL: o.logLevel ?? 'INFO',
      [MODEL_DIR_VARIABLE]: o.stageFilesDir,
    };
    const module = o.handlerModule ?? STAGE_HANDLER;
    const bundle = (await handlerBundles([module])).get(module)!;
    const functions = plan.functions.map((f) => {
      const name = plan.names.functions[f.id];
      if (!name) throw new StepinferError(`the plan names no function for ${f.id}`, { field: 'names.functions' });
      return { name, handlerModule: bundle, memoryMB: f.memoryMB, timeoutSeconds: Math.min(maxSeconds, Math.ceil(f.timeoutSeconds * scale)), environment };
    });
    host = await startLambdaHost({ functions, logSink });
    s3 = new S3Client({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, ...S3_CLIENT_SETTINGS, endpoint: fauxqs.address, forcePathStyle: true });
    lambda = new LambdaClient({ region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, endpoint: host.endpoint, maxAttempts: 1, requestHandler: { requestTimeout: 0 } });
    const bucket = plan.names.bucket;
    await createObjectResources({ buckets: [{ name: bucket, expirationDays: null }] }, s3);

    o.onPhase?.('staging the input');
    const store = new ObjectStore(s3, bucket);
    await store.put(expandKey(plan.storage.inputs, { execution: runId }), encodeTensorObject(input));
    const resources = { bucket, topicArns: [], queueUrls: [], exchangeBuckets: [], functionNames: plan.names.functions };
    const hostTimeoutSeconds = Object.fromEntries(functions.map((f) => [f.name, f.timeoutSeconds]));
    const local = localDefinition({ names: plan.names, workers: 1 }, rendered, { resources, hostTimeoutSeconds, timeoutScale: scale });
    await o.beforeExecution?.({ s3, bucket }, runId);
    const setupMs = Date.now() - startMs;

    // Each Task invokes its function in the host (RequestResponse); a function error fails the Task with its errorType and message, as Lambda reports it.
    const client = lambda;
    const handlers: Record<string, (event: unknown) => Promise<unknown>> = {};
    for (const [state, functionName] of Object.entries(local.taskFunctions)) {
      handlers[state] = (event) => {
        const answer = (async () => {
          const out = await client.send(new InvokeCommand({ FunctionName: localFunctionArn(functionName), InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }))
            .catch((e: Error) => { throw taskError(`Lambda.${e.name}`, e.message); });
          const text = Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
          const payload: unknown = text === '' ? null : JSON.parse(text);
          if (out.FunctionError) {
            const e = payload as { errorType?: string; errorMessage?: string } | null;
            throw taskError(e?.errorType ?? 'Lambda.Unknown', e?.errorMessage ?? text);
          }
          return payload;
        })();
        pending.add(answer);
        void answer.finally(() => pending.delete(answer)).catch(() => undefined);
        return answer;
      };
    }

    o.onPhase?.('starting the execution');
    const executionStart = Date.now();
    const interpreter = new Interpreter(local.definition as never);
    const execution = interpreter.run(stagesInputSchema.parse({}) as never, {
      context: { Execution: { Name: runId } },
      overrides: { taskResourceLocalHandlers: handlers as never },
    });
    const events: ExecutionEvent[] = [];
    const collecting = collectEvents(phases(execution.eventLogs, o.onPhase), events);
    let output: ExecutionOutput | null = null;
    let error: { error: string; cause: string } | null = null;
    try {
      output = parseEvent(executionOutputSchema, await execution.result, `the output of run ${runId}`);
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      error = cause instanceof Error ? { error: cause.name, cause: cause.message } : { error: (e as Error).name, cause: (e as Error).message };
    }
    await collecting;
    while (pending.size > 0) await Promise.allSettled([...pending]);
    const executionMs = Date.now() - executionStart;
    const states = executedStates(events);
    await o.afterExecution?.({ s3, bucket }, runId, states);
    if (error || output === null) throw new RunFailedError(failureMessage(plan, runId, states, error));

    o.onPhase?.('reading the result');
    const resultKey = expandKey(plan.storage.result, { execution: runId });
    if (output.resultKey !== resultKey) throw new RunFailedError(`run ${runId}: the execution names the result ${output.resultKey}, the plan's is ${resultKey}`);
    const bytes = await store.get(resultKey, `the result of run ${runId}`);
    if (crc32Hex(bytes) !== output.crc32) throw new RunFailedError(`run ${runId}: the result ${store.where(resultKey)} has CRC-32 ${crc32Hex(bytes)}, the last stage wrote ${output.crc32}`);
    const result = decodeTensorObject(bytes, store.where(resultKey), plan.model.output.dims);
    // The last stage removed the staged input and every handoff: only the result stays.
    const leftover = (await store.list(resultKey.replace(/[^/]*$/, ''))).filter((k) => k !== resultKey);
    if (leftover.length > 0) throw new RunFailedError(`run ${runId} left ${leftover.length} intermediate objects behind (${leftover.slice(0, 3).join(', ')})`);

    const invocations = host.invocations.map((x) => ({ ...x }));
    const stages = plan.workflow.stages.map((s): StageRunOutcome => {
      const f = plan.functions.find((x) => x.id === s.functionId)!;
      const functionName = plan.names.functions[f.id];
      const state = denseStageStateName(s);
      const done = stageDone.get(s.index);
      if (!done) throw new RunFailedError(`run ${runId}: stage ${s.index} (${s.name}) succeeded but logged no "stage done" line`);
      const entry = states.find((x) => x.name === state);
      const t = done.timings;
      return {
        index: s.index, name: s.name, state, firstUnit: s.firstUnit, lastUnit: s.lastUnit, memoryMB: f.memoryMB, functionName,
        timings: t, seconds: (t.loadMs + t.readMs + t.runMs + t.writeMs) / 1000,
        stateSeconds: entry && entry.exitedMs !== null ? (entry.exitedMs - entry.enteredMs) / 1000 : 0,
        cold: invocations.some((i) => i.functionName === functionName && i.cold), sessionCached: done.sessionCached, handoff: done.handoff,
      };
    });
    return {
      runId, output: result, resultKey, resultCrc32: output.crc32, stages, states, transitions: transitionsOf(events, local.definition),
      notes: local.notes, invocations, phasesMs: { setup: setupMs, execution: executionMs, total: Date.now() - startMs }, definition: local.definition,
    };
  } finally {
    while (pending.size > 0) await Promise.allSettled([...pending]);
    lambda?.destroy();
    s3?.destroy();
    await host?.stop();
    await fauxqs?.stop();
  }
}

/** Reports each state entered as the run's phase, while the events pass through. */
async function* phases(log: AsyncGenerator<ExecutionEvent>, onPhase: ((phase: string) => void) | undefined): AsyncGenerator<ExecutionEvent> {
  for await (const e of log) {
    if (onPhase && e.type === 'StateEntered') onPhase(e.state.name);
    yield e;
  }
}

/** The failed run's message: the stage whose Task failed (its layers in the state name) and the cause. */
export function failureMessage(plan: StagesPlan, runId: string, states: readonly ExecutedState[], error: { error: string; cause: string } | null): string {
  const names = new Set(plan.workflow.stages.map(denseStageStateName));
  const failed = states.filter((s) => names.has(s.name) && (s.outcome === 'caught' || s.outcome === 'failed')).at(-1);
  const what = failed ? `"${failed.name}"` : 'its execution';
  const why = failed?.error ?? error;
  return `run ${runId} failed in ${what}: ${why ? `${why.error}: ${why.cause}` : 'unknown error'}`;
}
