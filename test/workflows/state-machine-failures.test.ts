// Failures of a workflow run on the local cloud, each ending clearly: a missing shard, a worker
// that crashes mid-stage (in every attempt: the run fails naming the worker, layer and cause; in
// its first attempt only: the workflow reruns the stage under attempt + 1 and the result is still
// exact), and a worker that hangs (the host ends it at its timeout; the group fails naming it).
// Faults come from test/helpers/faulty-worker.ts, the real worker handler with one fault injected.
// Each run costs seconds to tens of seconds (peers wait for the failed worker's rows until their
// receive deadline): each case runs once.

import { fileURLToPath } from 'node:url';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { RunFailedError } from '../../model/errors.ts';
import { expandKey } from '../../planner/plan/names.ts';
import type { Plan } from '../../planner/plan/index.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { CLEAN_UP_STATE, RUN_FAILED_STATE, retryStageStateName, stageFailedStateName, stageStateName } from '../../workflows/asl/index.ts';
import { runStateMachineLocally, type ExecutionTrace, type StateMachineRunOptions } from '../../workflows/local/state-machine-run.ts';
import { FAULT_VARIABLE, type InjectedFault } from '../helpers/faulty-worker.ts';
import { testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';

const network: SparseNetwork = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 11 });
const inputs: SparseRows = generateInputs({ neurons: 1024, samples: 400, seed: 12 });
const FAULTY_WORKER = fileURLToPath(new URL('../helpers/faulty-worker.ts', import.meta.url));
let serial: SerialInferenceResult;
let plan: Plan;

beforeAll(async () => {
  serial = inferSerial(network, inputs);
  // 4 workers, layers 1-3 and 4-6, the queue channel between the layers of a group.
  plan = await testPlan(network, { workers: 4, channel: 'queue', rows: inputs.rows, groups: 2 });
});

afterEach(() => {
  delete process.env[FAULT_VARIABLE];
});

/** Runs the plan with a fault injected (the host's threads read it from the environment when they start). */
async function runWithFault(fault: InjectedFault | null, o: StateMachineRunOptions = {}) {
  if (fault) process.env[FAULT_VARIABLE] = JSON.stringify(fault);
  let trace: ExecutionTrace | null = null;
  const run = runStateMachineLocally(plan, network, inputs, {
    logSink: () => undefined, handlerModules: { worker: FAULTY_WORKER }, onTrace: (t) => { trace = t; }, ...o,
  });
  const outcome = await run.then((result) => ({ result, error: null }), (error: Error) => ({ result: null, error }));
  return { ...outcome, trace: trace! };
}

const topStates = (trace: ExecutionTrace) => trace.states.filter((s) => s.index === null).map((s) => `${s.name}: ${s.outcome}`);

describe('a workflow run that fails, fails clearly', () => {
  it('a missing shard: every attempt of the stage fails on it, the run is cleaned up and fails naming the worker and the shard', async () => {
    const { error, trace } = await runWithFault(null, {
      receiveTimeoutSeconds: 5,
      beforeExecution: async (cloud) => {
        await cloud.clients.s3.send(new DeleteObjectCommand({ Bucket: cloud.resources.bucket, Key: expandKey(plan.storage.shards.keyPattern, { worker: 1 }) }));
      },
    });
    expect(error).toBeInstanceOf(RunFailedError);
    const stage = stageStateName(plan, plan.workflow.stages[0]);
    expect(error!.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stage}" \\(layers 1-3, attempt 3, the last of 3\\): worker 1 failed: MissingObjectError: worker 1: the shard of worker 1 is missing: no object s3://${plan.names.bucket}/shards/worker-1\\.shard`));
    // (A peer may fail too, its inputs removed by the clean-up while it still started: the Map does not wait for it.)
    expect(trace.failures.filter((f) => f.errorMessage.includes('the shard of worker 1 is missing')).map((f) => [f.worker, f.attempt])).toEqual([[1, 0], [1, 1], [1, 2]]);
    expect(topStates(trace).slice(-3)).toEqual([`${stageFailedStateName(plan.workflow.stages[0])}: succeeded`, `${CLEAN_UP_STATE}: succeeded`, `${RUN_FAILED_STATE}: failed`]);
    expect(trace.error).toEqual({ error: 'MissingObjectError', cause: expect.stringContaining('the shard of worker 1 is missing') });
  }, 300_000);

  it('a worker that crashes in every attempt: the run fails naming the worker, the layer and the cause', async () => {
    const { error, trace } = await runWithFault({ kind: 'crash', stage: 0, worker: 2, layer: 2 }, { receiveTimeoutSeconds: 5 });
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error!.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stageStateName(plan, plan.workflow.stages[0])}" \\(layers 1-3, attempt 3, the last of 3\\): worker 2 failed in layer 2: WorkerCrashed: injected crash in layer 2`));
    expect(trace.failures.filter((f) => f.errorType === 'WorkerCrashed').map((f) => [f.worker, f.layer, f.attempt])).toEqual([[2, 2, 0], [2, 2, 1], [2, 2, 2]]);
  }, 300_000);

  it('a worker that crashes in its first attempt only: the stage runs again under attempt 1 and the result is exact', async () => {
    const { result, error, trace } = await runWithFault({ kind: 'crash', stage: 0, worker: 2, layer: 2, attempts: [0] });
    expect(error).toBeNull();
    expect(result!.categories).toEqual(serial.categories);
    expectSameRows(result!.activations, serial.activations);
    expect(result!.attempts).toEqual([1, 0]);
    const stage = plan.workflow.stages[0];
    expect(topStates(trace)).toEqual([
      'Read input: succeeded', 'Start run: succeeded', `${stageStateName(plan, stage)}: caught`, `${stageFailedStateName(stage)}: succeeded`,
      `${retryStageStateName(stage)}: succeeded`, `${stageStateName(plan, stage)}: succeeded`, `${stageStateName(plan, plan.workflow.stages[1])}: succeeded`, 'Gather: succeeded',
    ]);
    expect(trace.failures[0]).toMatchObject({ worker: 2, layer: 2, attempt: 0, errorType: 'WorkerCrashed' });
    // The workers of the result are attempt 1's for the first stage.
    expect(result!.stages[0].workers.map((w) => w.attempt)).toEqual([1, 1, 1, 1]);
    // The retry is billed: the failed attempt's states count too.
    expect(result!.stepFunctions!.transitions).toBeGreaterThan(13);
  }, 300_000);

  it('a group that times out: a hung worker is ended by the host at its timeout and the run fails naming it', async () => {
    // One attempt (stageRetries 0, explicitly) and the plan's timeouts x 1.5: about 20 s for the worker function.
    const { error, trace } = await runWithFault({ kind: 'hang', stage: 0, worker: 1, layer: 2 }, { stageRetries: 0, timeoutScale: 1.5 });
    const worker = plan.functions.find((f) => f.role === 'worker')!;
    const hostSeconds = Math.ceil(worker.timeoutSeconds * 1.5);
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error!.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stageStateName(plan, plan.workflow.stages[0])}" \\(layers 1-3, attempt 1, the last of 1\\): worker 1 failed in layer 2: Sandbox\\.Timedout: Task timed out after ${hostSeconds}\\.00 seconds`));
    expect(trace.notes.map((n) => n.note)).toContain('a failed stage runs again at most 0 times (deployed: 2)');
    expect(trace.failures.find((f) => f.worker === 1)).toMatchObject({ errorType: 'Sandbox.Timedout', layer: 2, attempt: 0 });
  }, 300_000);
});
