// A stage handler module for the local Lambda host that runs the real dense stage handler
// (functions/handlers/dense-stage.ts) but injects one fault into the chosen stage, as
// STEPINFER_TEST_STAGE_FAULT (JSON, read from the thread's environment) says:
//   - 'remove-input': its input object (the staged input, or the handoff of the stage before) is
//     deleted first, as a lifecycle rule or a stray clean-up would;
//   - 'hang': it blocks its thread without ever yielding, until the host's timeout ends it.

import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { environmentClients } from '../../functions/handlers/clients.ts';
import { handler as realHandler } from '../../functions/handlers/dense-stage.ts';
import { expandKey } from '../../planner/plan/names.ts';

export interface InjectedStageFault {
  readonly kind: 'remove-input' | 'hang';
  readonly stage: number;
}

export const STAGE_FAULT_VARIABLE = 'STEPINFER_TEST_STAGE_FAULT';

const fault = process.env[STAGE_FAULT_VARIABLE] ? JSON.parse(process.env[STAGE_FAULT_VARIABLE]) as InjectedStageFault : null;

interface StageEventView {
  readonly runId: string;
  readonly bucket: string;
  readonly stage?: number;
  readonly storage: { readonly inputs: string };
  readonly input?: { readonly kind: string; readonly key?: string };
}

export async function handler(event: unknown): Promise<unknown> {
  const e = event as StageEventView;
  if (fault && e.stage === fault.stage) {
    if (fault.kind === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    const key = e.input?.kind === 'object' ? e.input.key! : expandKey(e.storage.inputs, { execution: e.runId });
    await environmentClients().s3.send(new DeleteObjectCommand({ Bucket: e.bucket, Key: key }));
  }
  return realHandler(event);
}
