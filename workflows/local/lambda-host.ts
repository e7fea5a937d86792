// The local Lambda host: runs the plan's functions on this machine behind a loopback endpoint that
// speaks the Lambda Invoke API, so the coordinator's @aws-sdk/client-lambda calls are the same code
// here and on AWS (only the client's `endpoint` differs).
//
// Why ours: the maintained npm emulators either run each function in Docker (serverless-offline's
// docker mode, SAM, LocalStack), in the caller's own isolate with no heap limit and no way to stop
// a handler that never yields (lambda-local), or as child processes with no Invoke API endpoint
// (@vercel/fun); none gives a worker thread per execution environment with the plan's memory as
// its heap limit and a timeout that terminates the thread.
//
// Each function has a pool of worker threads (workflows/local/lambda-host-worker.ts), one per
// execution environment: an invocation takes an idle warm thread or starts one (a cold start).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { StepinferError } from '../../model/errors.ts';
import type { InvokeMessage, ResultMessage, WorkerSetup } from './lambda-host-worker.ts';

/** One function the host serves. */
export interface HostedFunction {
  readonly name: string;
  /** Absolute path of a .ts or .mjs module exporting `handler(event, context)`. */
  readonly handlerModule: string;
  /** The function's memory size: the V8 heap limit of each of its threads. */
  readonly memoryMB: number;
  /** After this, the host terminates the thread and the invocation fails as Lambda's would. */
  readonly timeoutSeconds: number;
  /** The function's environment variables, over this process's (as Lambda's configuration sets them). */
  readonly environment?: Readonly<Record<string, string>>;
}

/** Where the handlers' output lines go, as CloudWatch Logs takes a function's output. */
export type LogSink = (functionName: string, stream: 'stdout' | 'stderr', line: string) => void;

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export type InvocationOutcome = 'running' | 'succeeded' | 'failed' | 'timed-out' | 'out-of-memory';

/** The host's record of one invocation (DryRun ones are validated, never run, never recorded). */
export interface Invocation {
  readonly functionName: string;
  readonly invocationType: InvocationType;
  readonly requestId: string;
  /** The payload, JSON text as the handler received it (what a test picks an invocation by). */
  readonly event: string;
  /** Whether the invocation had to start a thread (and import the handler module). */
  readonly cold: boolean;
  readonly startMs: number;
  endMs: number | undefined;
  outcome: InvocationOutcome;
  errorType: string | undefined;
  errorMessage: string | undefined;
}

export interface LambdaHost {
  /** http://127.0.0.1:<port>, the `endpoint` of a LambdaClient. */
  readonly endpoint: string;
  readonly invocations: readonly Invocation[];
  /** Threads alive now, busy or idle, across all functions. */
  liveThreads(): number;
  /** Resolves when no invocation is running (Event invocations finish in the background). */
  drained(): Promise<void>;
  /**
   * Terminates the thread running invocation `requestId`, as when its execution environment dies
   * mid-invocation (a crash, not a timeout: tests make a worker vanish with it). The invocation
   * fails with Runtime.ExitError, what it was sending or writing is cut off, and the thread is
   * never reused. False when that invocation is not running.
   */
  terminate(requestId: string): boolean;
  /** Terminates every thread and closes the server; a second call does nothing. */
  stop(): Promise<void>;
}

/** A Lambda error: errorType, errorMessage and trace, the body Lambda returns with X-Amz-Function-Error. */
interface FunctionError {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

type RunResult = { readonly ok: true; readonly payload: string } | ({ readonly ok: false; readonly outcome: InvocationOutcome } & FunctionError);

/**
 * The thread's entry, its types stripped once here: a .ts entry would make every new thread load
 * Node's type stripper (amaro, a WebAssembly module) only for this file, a cost on each cold start.
 * It imports nothing but Node's own modules, so it runs as evaluated source.
 */
let workerSource: string | undefined;
function workerEntrySource(): string {
  return workerSource ??= stripTypeScriptTypes(readFileSync(new URL('./lambda-host-worker.ts', import.meta.url), 'utf8'));
}

/**
 * V8 heap limits of a function's thread as the Lambda Node.js runtime's bootstrap sets them from
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE (nodejs24.x, read from the runtime's /var/runtime/bootstrap as
 * quoted in https://dev.to/wonderfulsoap/deep-dive-into-aws-lambda-3-official-nodejs-runtime-analysis-43je):
 * new_space = memory / 10, --max-semi-space-size = new_space / 2, --max-old-space-size = memory -
 * new_space. V8's young generation is three semi-spaces. Without this a thread's young generation
 * stays at V8's few-MB default whatever the memory, and a handler that allocates per layer spends
 * its time in scavenges it would not run on Lambda.
 */
export function heapLimitsOf(memoryMB: number): { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb: number } {
  const newSpaceMB = Math.floor(memoryMB / 10);
  const semiSpaceMB = Math.max(1, Math.floor(newSpaceMB / 2));
  return { maxYoungGenerationSizeMb: 3 * semiSpaceMB, maxOldGenerationSizeMb: memoryMB - newSpaceMB };
}
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
// Lambda's wording for the failures the runtime, not the handler, reports; see
// https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html
const TIMEOUT_ERROR_TYPE = 'Sandbox.Timedout';
const EXIT_ERROR_TYPE = 'Runtime.ExitError';
const OUT_OF_MEMORY_ERROR_TYPE = 'Runtime.OutOfMemory';

/** A thread and the one invocation it may be running. */
interface Environment {
  readonly worker: Worker;
  pending: { readonly requestId: string; readonly settle: (result: RunResult) => void; readonly timer: NodeJS.Timeout } | undefined;
  dead: boolean;
}

class FunctionPool {
  private readonly idle: Environment[] = [];
  private readonly all = new Set<Environment>();
  readonly definition: HostedFunction;
  private readonly logSink: LogSink | undefined;
  /** The host's endpoint, known once it listens: a function's AWS_ENDPOINT_URL_LAMBDA, so its Invoke calls come back here. */
  endpoint = '';

  constructor(definition: HostedFunction, logSink: LogSink | undefined) {
    this.definition = definition;
    this.logSink = logSink;
  }

  get threads(): number {
    return this.all.size;
  }

  /** Runs one invocation on a warm thread if one is idle, else on a new one. */
  run(requestId: string, event: string, onStart: (cold: boolean) => void): Promise<RunResult> {
    const warm = this.idle.pop();
    const environment = warm ?? this.start();
    onStart(warm === undefined);
    const { timeoutSeconds } = this.definition;
    return new Promise<RunResult>((resolve) => {
      const timer = setTimeout(() => {
        this.kill(environment, {
          ok: false,
          outcome: 'timed-out',
          errorType: TIMEOUT_ERROR_TYPE,
          errorMessage: `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
          trace: [],
        });
      }, timeoutSeconds * 1000);
      timer.unref();
      environment.pending = { requestId, settle: resolve, timer };
      const message: InvokeMessage = { requestId, event, deadlineMs: Date.now() + timeoutSeconds * 1000 };
      environment.worker.postMessage(message);
    });
  }

  private start(): Environment {
    const { name, handlerModule, memoryMB } = this.definition;
    const setup: WorkerSetup = { functionName: name, handlerModule, memoryMB };
    const worker = new Worker(workerEntrySource(), {
      eval: true,
      workerData: setup,
      // The function's memory size split as Lambda's Node.js runtime splits it (heapLimitsOf).
      // Off-heap memory (ArrayBuffer and Buffer contents) is not counted: V8 limits only its heap,
      // so a handler holding large typed arrays can exceed memoryMB here where Lambda would not let it.
      resourceLimits: heapLimitsOf(memoryMB),
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: this.endpoint, ...this.definition.environment },
      // A handler's output goes to the log sink, or to this process's, as it would go to CloudWatch.
      stdout: this.logSink !== undefined,
      stderr: this.logSink !== undefined,
    });
    const sink = this.logSink;
    if (sink) {
      for (const stream of ['stdout', 'stderr'] as const) {
        createInterface({ input: worker[stream], crlfDelay: Infinity }).on('line', (line) => sink(name, stream, line));
      }
    }
    // Threads never keep the process alive; the server does until stop().
    worker.unref();
    const environment: Environment = { worker, pending: undefined, dead: false };
    this.all.add(environment);
    worker.on('message', (result: ResultMessage) => {
      const pending = environment.pending;
      if (pending === undefined || pending.requestId !== result.requestId) return;
      clearTimeout(pending.timer);
      environment.pending = undefined;
      this.idle.push(environment);
      pending.settle(result.ok ? result : { ...result, outcome: 'failed' });
    });
    worker.on('error', (error: Error & { code?: string }) => {
      const outOfMemory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.kill(environment, {
        ok: false,
        outcome: outOfMemory ? 'out-of-memory' : 'failed',
        errorType: outOfMemory ? OUT_OF_MEMORY_ERROR_TYPE : EXIT_ERROR_TYPE,
        errorMessage: outOfMemory ? `Runtime exited: the function ran out of its ${memoryMB} MB` : `Runtime exited with error: ${error.message}`,
        trace: [],
      });
    });
    worker.on('exit', (code) => {
      this.kill(environment, { ok: false, outcome: 'failed', errorType: EXIT_ERROR_TYPE, errorMessage: `Runtime exited with code ${code}`, trace: [] });
    });
    return environment;
  }

  /** Kills the thread running `requestId` (LambdaHost.terminate); false when none runs it. */
  terminate(requestId: string): boolean {
    const environment = [...this.all].find((e) => e.pending?.requestId === requestId);
    if (environment === undefined) return false;
    // Lambda's report of a runtime killed mid-invocation.
    this.kill(environment, { ok: false, outcome: 'failed', errorType: EXIT_ERROR_TYPE, errorMessage: 'Runtime exited with error: signal: killed', trace: [] });
    return true;
  }

  /** Ends a thread; its invocation, if any, fails with `result`. A dead thread is never reused. */
  private kill(environment: Environment, result: RunResult): void {
    const pending = environment.pending;
    environment.pending = undefined;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      pending.settle(result);
    }
    if (environment.dead) return;
    environment.dead = true;
    this.all.delete(environment);
    const at = this.idle.indexOf(environment);
    if (at >= 0) this.idle.splice(at, 1);
    void environment.worker.terminate();
  }

  async stop(): Promise<void> {
    const environments = [...this.all];
    for (const environment of environments) {
      this.kill(environment, { ok: false, outcome: 'failed', errorType: EXIT_ERROR_TYPE, errorMessage: 'the local Lambda host stopped', trace: [] });
    }
    await Promise.all(environments.map((environment) => environment.worker.terminate()));
  }
}

/** The function a FunctionName path parameter names: a name, `name:qualifier`, or a full or partial ARN. */
function functionNameOf(parameter: string): string {
  const afterFunction = /(?:^|:)function:([^:]+)/.exec(parameter);
  if (afterFunction !== null) return afterFunction[1];
  return parameter.split(':')[0];
}

function sendError(response: ServerResponse, status: number, errorName: string, message: string): void {
  // The restJson1 error shape: the SDK takes the error's name from X-Amzn-ErrorType.
  response.writeHead(status, { 'Content-Type': 'application/json', 'X-Amzn-ErrorType': errorName });
  response.end(JSON.stringify({ Type: 'User', Message: message }));
}

/** Reads a request body, keeping at most `limitBytes + 1` bytes (enough to know it is too large). */
async function readBody(request: IncomingMessage, limitBytes: number): Promise<{ body: Buffer; bytes: number }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    if (bytes <= limitBytes) chunks.push(chunk);
    bytes += chunk.length;
  }
  return { body: Buffer.concat(chunks), bytes };
}

export interface LambdaHostOptions {
  readonly functions: readonly HostedFunction[];
  /** Collects the handlers' output lines; default: they go to this process's stdout and stderr. */
  readonly logSink?: LogSink;
}

export async function startLambdaHost(options: LambdaHostOptions): Promise<LambdaHost> {
  const pools = new Map<string, FunctionPool>();
  for (const [index, definition] of options.functions.entries()) {
    const field = (name: string) => ({ field: `functions[${index}].${name}` });
    if (pools.has(definition.name)) throw new StepinferError(`function ${definition.name} is given twice`, field('name'));
    const maxTimeoutSeconds = AWS_LIMITS.lambdaMaxTimeoutSeconds.value;
    if (!(Number.isInteger(definition.timeoutSeconds) && definition.timeoutSeconds >= 1 && definition.timeoutSeconds <= maxTimeoutSeconds)) {
      throw new StepinferError(`timeoutSeconds ${definition.timeoutSeconds} of ${definition.name} is not a whole number of seconds in 1-${maxTimeoutSeconds}`, field('timeoutSeconds'));
    }
    // Any whole MB, not only Lambda's range: tests run out of memory faster under a small limit.
    if (!(Number.isInteger(definition.memoryMB) && definition.memoryMB > 0)) {
      throw new StepinferError(`memoryMB ${definition.memoryMB} of ${definition.name} is not a positive whole number of MB`, field('memoryMB'));
    }
    pools.set(definition.name, new FunctionPool(definition, options.logSink));
  }
  const invocations: Invocation[] = [];
  const running = new Set<Promise<unknown>>();
  let stopped = false;

  const invoke = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const match = request.method === 'POST' ? INVOKE_PATH.exec(new URL(request.url ?? '/', 'http://127.0.0.1').pathname) : null;
    if (match === null) {
      sendError(response, 404, 'UnknownOperationException', `the local Lambda host serves only POST /2015-03-31/functions/{FunctionName}/invocations, not ${request.method} ${request.url}`);
      return;
    }
    const typeHeader = request.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    if (typeHeader !== 'RequestResponse' && typeHeader !== 'Event' && typeHeader !== 'DryRun') {
      sendError(response, 400, 'InvalidParameterValueException', `X-Amz-Invocation-Type ${String(typeHeader)} is not RequestResponse, Event or DryRun`);
      return;
    }
    const invocationType: InvocationType = typeHeader;
    const limit = invocationType === 'Event' ? AWS_LIMITS.lambdaAsyncPayloadBytes : AWS_LIMITS.lambdaSyncPayloadBytes;
    const { body, bytes } = await readBody(request, limit.value);
    const functionName = functionNameOf(decodeURIComponent(match[1]));
    const pool = pools.get(functionName);
    if (pool === undefined) {
      sendError(response, 404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
      return;
    }
    if (bytes > limit.value) {
      sendError(response, 413, 'RequestTooLargeException', `Request must be smaller than ${limit.value} bytes for the ${invocationType} invocation type (got ${bytes})`);
      return;
    }
    // Lambda passes `{}` for an empty payload and refuses a payload that is not JSON.
    const event = bytes === 0 ? '{}' : body.toString('utf8');
    try {
      JSON.parse(event);
    } catch (error) {
      sendError(response, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${(error as Error).message}`);
      return;
    }
    const requestId = randomUUID();
    const common = { 'X-Amzn-RequestId': requestId, 'X-Amz-Executed-Version': '$LATEST' };
    if (invocationType === 'DryRun') {
      response.writeHead(204, common).end();
      return;
    }
    let record: Invocation | undefined;
    const run = pool.run(requestId, event, (cold) => {
      record = { functionName, invocationType, requestId, event, cold, startMs: Date.now(), endMs: undefined, outcome: 'running', errorType: undefined, errorMessage: undefined };
      invocations.push(record);
    });
    const finished = run.then((result) => {
      record!.endMs = Date.now();
      record!.outcome = result.ok ? 'succeeded' : result.outcome;
      if (!result.ok) {
        record!.errorType = result.errorType;
        record!.errorMessage = result.errorMessage;
      }
      return result;
    });
    running.add(finished);
    void finished.finally(() => running.delete(finished));
    if (invocationType === 'Event') {
      response.writeHead(202, common).end();
      return;
    }
    const result = await finished;
    if (result.ok) {
      response.writeHead(200, { ...common, 'Content-Type': 'application/json' }).end(result.payload);
      return;
    }
    response
      .writeHead(200, { ...common, 'Content-Type': 'application/json', 'X-Amz-Function-Error': 'Unhandled' })
      .end(JSON.stringify({ errorType: result.errorType, errorMessage: result.errorMessage, trace: result.trace }));
  };

  const server = createServer((request, response) => {
    invoke(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, 'ServiceException', `local Lambda host: ${error instanceof Error ? error.message : String(error)}`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  for (const pool of pools.values()) pool.endpoint = `http://127.0.0.1:${port}`;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    liveThreads: () => [...pools.values()].reduce((sum, pool) => sum + pool.threads, 0),
    drained: async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    terminate: (requestId) => [...pools.values()].some((pool) => pool.terminate(requestId)),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all([...pools.values()].map((pool) => pool.stop()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // libuv releases the closed listening handle in the close phase after this callback; one
      // timer turn later it is gone, so a caller that checks for open handles finds none.
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    },
  };
}
