// A worker handler module for the local Lambda host that runs the real worker handler
// (functions/handlers/worker.ts) but injects one fault, as STEPINFER_TEST_FAULT (JSON, read from
// the thread's environment) says: when the chosen worker of the chosen stage finishes the layer
// before `layer`, it crashes (throws WorkerCrashed, so the handler reports its failure as any
// error) or hangs (blocks its thread without ever yielding, as a deadlocked handler would, until
// the host's timeout ends it). `attempts` limits the fault to those attempts (a retry succeeds).
// The hook is the worker's own "layer done" log call (after the line is written), the one point
// every layer passes.

import { handler as realHandler, type InvocationContext } from '../../functions/handlers/worker.ts';
import { logger } from '../../functions/handlers/log.ts';

export interface InjectedFault {
  readonly kind: 'crash' | 'hang';
  readonly stage: number;
  readonly worker: number;
  /** The layer the fault happens in (>= the stage's first layer + 1). */
  readonly layer: number;
  /** Attempts it happens in (default: every attempt). */
  readonly attempts?: readonly number[];
}

export const FAULT_VARIABLE = 'STEPINFER_TEST_FAULT';

const fault = process.env[FAULT_VARIABLE] ? JSON.parse(process.env[FAULT_VARIABLE]) as InjectedFault : null;
let current: { stage: number; attempt: number; worker: number } | null = null;

const info = logger.info.bind(logger);
logger.info = ((message: string, ...extra: { layer?: number }[]) => {
  info(message, ...extra);
  if (fault && current && message === 'layer done' && extra[0]?.layer === fault.layer - 1
    && current.stage === fault.stage && current.worker === fault.worker && (fault.attempts?.includes(current.attempt) ?? true)) {
    if (fault.kind === 'crash') throw Object.assign(new Error(`injected crash in layer ${fault.layer}`), { name: 'WorkerCrashed' });
    // Blocks this thread for good: no timer, promise or message can run again.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
}) as typeof logger.info;

export async function handler(event: unknown, context?: InvocationContext): Promise<unknown> {
  const e = event as { stageRun?: { stage?: number; attempt?: number }; worker?: number };
  current = { stage: e.stageRun?.stage ?? -1, attempt: e.stageRun?.attempt ?? -1, worker: e.worker ?? -1 };
  return realHandler(event, context);
}
