// The handlers on the local cloud, beyond the exchange itself: FSD-Inference's launch tree (each
// worker starts its children before it works; the coordinator starts only the roots), a one-worker
// plan writing its own result, the gather's top scores, and bad events and missing objects failing
// with errors that name what and where, never with a result.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { runDistributedLocally } from '../../workflows/local/distributed-run.ts';
import { startLocalCloud, type LocalCloud } from '../../workflows/local/local-cloud.ts';
import { stageRunsOf } from '../../functions/handlers/stage-run.ts';
import { topScores } from '../../functions/handlers/gather.ts';
import { parseEvent, workerEventSchema } from '../../functions/handlers/events.ts';
import { testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';
import type { Plan } from '../../planner/plan/index.ts';

const network: SparseNetwork = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 11 });
const inputs: SparseRows = generateInputs({ neurons: 1024, samples: 400, seed: 12 });
let serial: SerialInferenceResult;

beforeAll(() => {
  serial = inferSerial(network, inputs);
});

describe('launch tree', () => {
  it('6 workers as 2^2: the coordinator invokes the roots 0 and 3, each root its children, and the run is exact', async () => {
    const plan = await testPlan(network, { workers: 6, channel: 'queue', rows: inputs.rows, launch: 'tree' });
    expect(plan.workflow.stages.every((s) => s.launch.kind === 'tree')).toBe(true);
    const run = await runDistributedLocally(plan, network, inputs, { launch: { branchingFactor: 2, levels: 2 }, logSink: () => undefined });
    expect(run.categories).toEqual(serial.categories);
    expectSameRows(run.activations, serial.activations);
    for (const stage of run.stages) {
      expect(stage.coordinator.invokes).toBe(2);
      expect(stage.workers.map((w) => [w.worker, w.launched])).toEqual([[0, [1, 2]], [1, []], [2, []], [3, [4, 5]], [4, []], [5, []]]);
    }
  }, 180_000);

  it('flat: the coordinator invokes all six; none invokes another', async () => {
    const plan = await testPlan(network, { workers: 6, channel: 'queue', rows: inputs.rows, launch: 'tree' });
    const run = await runDistributedLocally(plan, network, inputs, { launch: 'flat', topScores: 3, logSink: () => undefined });
    expect(run.categories).toEqual(serial.categories);
    for (const stage of run.stages) {
      expect(stage.coordinator.invokes).toBe(6);
      expect(stage.workers.every((w) => w.launched.length === 0)).toBe(true);
    }
  }, 180_000);
});

describe('one worker', () => {
  it('runs the serial plan as one stage function that writes its own result', async () => {
    const plan = await testPlan(network, { workers: 1, rows: inputs.rows });
    expect(plan.shape).toBe('serial');
    expect(plan.workflow.gather).toBeNull();
    const run = await runDistributedLocally(plan, network, inputs, { logSink: () => undefined });
    expect(run.gather).toBeNull();
    expect(run.categories).toEqual(serial.categories);
    expectSameRows(run.activations, serial.activations);
  }, 120_000);
});

describe('top scores', () => {
  it('lists each category\'s highest activations, highest first, ties by neuron', () => {
    const rows: SparseRows = {
      rows: 3, columns: 6,
      rowStart: Uint32Array.of(0, 3, 3, 5),
      columnIndex: Uint32Array.of(0, 2, 5, 1, 4),
      value: Float32Array.of(2, 7, 2, 1, 3),
    };
    expect(topScores(rows, [0, 2], 2)).toEqual([[[2, 7], [0, 2]], [[4, 3], [1, 1]]]);
  });
});

describe('bad events and missing objects', () => {
  let plan: Plan;
  let cloud: LocalCloud;
  beforeAll(async () => {
    plan = await testPlan(network, { workers: 2, channel: 'queue', rows: inputs.rows });
    cloud = await startLocalCloud(plan, { logSink: () => undefined, timeoutScale: 1 });
  }, 120_000);
  afterAll(async () => { await cloud?.stop(); });

  const invoke = async (name: string, event: unknown) => {
    const out = await cloud.clients.lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));
    return { error: out.FunctionError, payload: JSON.parse(Buffer.from(out.Payload!).toString('utf8')) as { errorType?: string; errorMessage?: string } };
  };

  it('a worker event without its stage run fails naming the field', async () => {
    const worker = cloud.resources.functionNames[plan.workflow.stages[0].functionId];
    const out = await invoke(worker, { worker: 0, depth: 0 });
    expect(out.error).toBe('Unhandled');
    expect(out.payload.errorType).toBe('EventFormatError');
    expect(out.payload.errorMessage).toMatch(/^worker event, field stageRun: /);
    expect(() => parseEvent(workerEventSchema, { worker: -1 }, 'worker')).toThrow(/worker event, field stageRun/);
  });

  it('a worker whose shard was never uploaded fails naming the shard, and writes its failure for its launcher', async () => {
    const [sr] = stageRunsOf(plan, cloud.resources, { runId: 'no-shards', samples: inputs.rows });
    const worker = cloud.resources.functionNames[plan.workflow.stages[0].functionId];
    const out = await invoke(worker, { stageRun: sr, worker: 1, depth: 0 });
    expect(out.payload.errorType).toBe('MissingObjectError');
    expect(out.payload.errorMessage).toBe(`worker 1: the shard of worker 1 is missing: no object s3://${plan.names.bucket}/shards/worker-1.shard`);
    const coordinator = await invoke(cloud.coordinatorName, { stageRun: sr, waitTimeoutSeconds: 30, pollSeconds: 0.1 });
    expect(coordinator.payload.errorType).toBe('RunFailedError');
    expect(coordinator.payload.errorMessage).toMatch(/run no-shards stage 0 \(layers 1-6, attempt 0\): worker [01] failed: MissingObjectError: worker [01]: the shard of worker [01] is missing/);
  }, 60_000);
});
