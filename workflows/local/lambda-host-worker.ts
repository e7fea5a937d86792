// The worker-thread side of the local Lambda host (workflows/local/lambda-host.ts): one thread is
// one warm execution environment. It imports the function's handler module once (the cold start),
// then runs one invocation at a time as the host posts them, so module state persists across warm
// invocations exactly as it does in a Lambda execution environment.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

/** What the host passes when it starts the thread. */
export interface WorkerSetup {
  readonly functionName: string;
  readonly handlerModule: string;
  readonly memoryMB: number;
}

/** One invocation, host -> thread. `event` is the payload as JSON text. */
export interface InvokeMessage {
  readonly requestId: string;
  readonly event: string;
  readonly deadlineMs: number;
}

/** The thread's answer. `payload` is the handler's return value as JSON text. */
export type ResultMessage =
  | { readonly requestId: string; readonly ok: true; readonly payload: string }
  | { readonly requestId: string; readonly ok: false; readonly errorType: string; readonly errorMessage: string; readonly trace: string[] };

type Handler = (event: unknown, context: unknown) => unknown;

const setup = workerData as WorkerSetup;
const port = parentPort!;

// Errors named as the Node.js Lambda runtime names them, so callers match on the same errorType.
const loadHandler: Promise<Handler> = import(pathToFileURL(setup.handlerModule).href).then(
  (module: { handler?: unknown }) => {
    if (typeof module.handler !== 'function') {
      throw Object.assign(new Error(`${setup.handlerModule} does not export a function named handler`), { name: 'Runtime.HandlerNotFound' });
    }
    return module.handler as Handler;
  },
  (error: unknown) => {
    throw Object.assign(new Error(`cannot import ${setup.handlerModule}: ${error instanceof Error ? error.message : String(error)}`), { name: 'Runtime.ImportModuleError' });
  },
);
// The rejection is reported per invocation; this keeps it from counting as unhandled meanwhile.
loadHandler.catch(() => undefined);

function failure(requestId: string, error: unknown): ResultMessage {
  if (error instanceof Error) {
    return { requestId, ok: false, errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
  }
  return { requestId, ok: false, errorType: 'Error', errorMessage: String(error), trace: [] };
}

port.on('message', async (message: InvokeMessage) => {
  const context = {
    functionName: setup.functionName,
    functionVersion: '$LATEST',
    memoryLimitInMB: String(setup.memoryMB),
    awsRequestId: message.requestId,
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
  };
  let answer: ResultMessage;
  try {
    const handler = await loadHandler;
    const result = await handler(JSON.parse(message.event), context);
    // Lambda answers `null` for a handler that returns nothing.
    answer = { requestId: message.requestId, ok: true, payload: JSON.stringify(result) ?? 'null' };
  } catch (error) {
    answer = failure(message.requestId, error);
  }
  port.postMessage(answer);
});
