// The generated workflows run end to end on this machine: aws-local-stepfunctions executes each
// plan's ASL, every Task invokes the real handler in the local Lambda host, SNS, SQS and S3 are
// fauxqs. For every shape (serial, AMPS stages, map-per-layer, layer groups over the queue and the
// object channel, and groups launched by FSD's launch tree) the categories and the final rows equal
// serial inference, bit for bit; the execution's states and transitions are what the definition
// says; nothing is left running. Then the execution input's staged inputs: `{}` runs the plan's
// default inputs (staged by shards upload's code; no clean-up removes them), `inputs` names a run's
// own rows, and a name with nothing staged fails naming the key. Then how the local definition maps what the interpreter lacks,
// on plans too large to run here (41 and 62 workers), and a plan that is not the model's.

import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { RunFailedError, ShapeMismatchError } from '../../model/errors.ts';
import { crc32Hex } from '../../model/checksum.ts';
import { expandKey } from '../../planner/plan/names.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { startLocalCloud } from '../../workflows/local/local-cloud.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import type { Plan } from '../../planner/plan/index.ts';
import {
  countTransitions, GATHER_STATE, READ_INPUT_STATE, renderWorkflow, START_RUN_STATE, stageStateName, workerStateName,
  type MapState, type TaskState,
} from '../../workflows/asl/index.ts';
import type { LocalCloud } from '../../workflows/local/local-cloud.ts';
import { HOST_ANSWER_MARGIN_SECONDS, localDefinition, localFunctionArn } from '../../workflows/local/local-definition.ts';
import { channelCounters, measuredUsage } from '../../workflows/local/run-counters.ts';
import { runStateMachineLocally, type StateMachineRunResult } from '../../workflows/local/state-machine-run.ts';
import { testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';
import { workflowCase } from '../helpers/workflow-plans.ts';

const network: SparseNetwork = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 11 });
const inputs: SparseRows = generateInputs({ neurons: 1024, samples: 400, seed: 12 });
let serial: SerialInferenceResult;

beforeAll(() => {
  serial = inferSerial(network, inputs);
});

/** Whether anything still listens at a loopback http://127.0.0.1:<port> address. */
function listening(address: string): Promise<boolean> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Runs the plan's workflow, keeping the cloud's addresses to check they are gone afterwards. */
async function runWorkflow(plan: Plan): Promise<{ run: StateMachineRunResult; cloud: LocalCloud }> {
  let cloud: LocalCloud | undefined;
  const run = await runStateMachineLocally(plan, network, inputs, { logSink: () => undefined, beforeExecution: async (c) => { cloud = c; } });
  return { run, cloud: cloud! };
}

const SHAPES = [
  { name: 'serial: one Task, one worker', plan: () => testPlan(network, { workers: 1, rows: inputs.rows }), shape: 'serial', launches: ['task'] },
  { name: 'stages (AMPS): a chain of three Tasks, rows handed over through S3', plan: () => testPlan(network, { workers: 1, rows: inputs.rows, shape: 'stages', groups: 3 }), shape: 'stages', launches: ['task', 'task', 'task'] },
  { name: 'map-per-layer: a Map of 4 workers per layer, S3 between layers', plan: () => testPlan(network, { workers: 4, rows: inputs.rows, shape: 'map-per-layer' }), shape: 'map-per-layer', launches: Array(6).fill('map') },
  { name: 'layer groups over the queue channel: 2 Maps of 4 workers', plan: () => testPlan(network, { workers: 4, channel: 'queue', rows: inputs.rows, groups: 2 }), shape: 'layer-groups', launches: ['map', 'map'] },
  { name: 'layer groups over the object channel: 2 Maps of 3 workers', plan: () => testPlan(network, { workers: 3, channel: 'object', rows: inputs.rows, groups: 2 }), shape: 'layer-groups', launches: ['map', 'map'] },
  { name: "layer groups launched by FSD's tree: a coordinator Task per group", plan: () => testPlan(network, { workers: 4, channel: 'queue', rows: inputs.rows, groups: 2, launch: 'tree' }), shape: 'layer-groups', launches: ['tree', 'tree'] },
] as const;

describe('every shape runs through its generated workflow and equals serial inference', () => {
  for (const c of SHAPES) {
    it(c.name, async () => {
      const plan = await c.plan();
      expect(plan.shape).toBe(c.shape);
      expect(plan.workflow.stages.map((s) => s.launch.kind)).toEqual(c.launches);
      const { run, cloud } = await runWorkflow(plan);

      expect(run.categories).toEqual(serial.categories);
      expectSameRows(run.activations, serial.activations);
      expect(run.attempts).toEqual(plan.workflow.stages.map(() => 0));
      expect(run.stages.map((s) => s.workers.map((w) => w.worker))).toEqual(plan.workflow.stages.map(() => Array.from({ length: plan.workers }, (_, w) => w)));
      // Every layer of the model ran, once per worker.
      const { perLayer } = channelCounters(run);
      expect(perLayer.map((l) => l.layer)).toEqual([1, 2, 3, 4, 5, 6]);
      if (plan.channel.kind === 'queue' && plan.workflow.stages.some((s) => s.lastLayer > s.firstLayer)) expect(channelCounters(run).total.publishes).toBeGreaterThan(0);

      // The states a successful execution enters, in order, and as many transitions as the definition (and the planner) count.
      const definition = renderWorkflow(plan).definition;
      const top = run.execution.states.filter((s) => s.index === null);
      expect(top.map((s) => s.name)).toEqual([
        READ_INPUT_STATE, START_RUN_STATE, ...plan.workflow.stages.map((s) => stageStateName(plan, s)), ...(plan.workflow.gather ? [GATHER_STATE] : []),
      ]);
      expect(run.execution.states.every((s) => s.outcome === 'succeeded' && s.exitedMs !== null && s.exitedMs >= s.enteredMs)).toBe(true);
      for (const [i, s] of plan.workflow.stages.entries()) {
        if (s.launch.kind !== 'map') continue;
        expect(run.execution.states.filter((x) => x.name === workerStateName(s)).map((x) => x.index).sort()).toEqual(Array.from({ length: plan.workers }, (_, w) => w));
        expect(run.stages[i].coordinator).toBeNull();
      }
      for (const [i, s] of plan.workflow.stages.entries()) if (s.launch.kind === 'tree') expect(run.stages[i].coordinator!.invokes).toBe(s.launch.branchingFactor);
      expect(run.stepFunctions).toMatchObject({ type: plan.workflow.type, ...countTransitions(definition) });
      expect(run.execution.failures).toEqual([]);
      // The execution is billed: transitions (Standard) or its duration (Express).
      const usage = measuredUsage(plan, run);
      if (plan.workflow.type === 'STANDARD') expect(usage.sfnStandardTransitions).toBe(countTransitions(definition).transitions);
      else expect([usage.sfnExpressRequests, usage.sfnExpressGBSeconds > 0]).toEqual([1, true]);

      // Nothing left running: threads, the host's endpoint, fauxqs.
      expect(cloud.host.liveThreads()).toBe(0);
      expect(await listening(cloud.host.endpoint)).toBe(false);
      expect(await listening(cloud.fauxqs.address)).toBe(false);
    }, 300_000);
  }
});

describe('the execution input names the staged inputs the first stage reads', () => {
  // Three runs on one local cloud (the bucket outlives each run): 3 workers, layers 1-3 and 4-6.
  let plan: Plan;
  let cloud: LocalCloud;
  const store = () => new ObjectStore(cloud.clients.s3, cloud.resources.bucket);
  /** Every default-inputs object with its bytes' CRC-32. */
  const defaultObjects = async () => {
    const keys = (await store().list('inputs/default/')).sort();
    return Promise.all(keys.map(async (k) => [k, crc32Hex((await store().getOptional(k))!)]));
  };
  let staged: string[][] = [];

  beforeAll(async () => {
    plan = await testPlan(network, { workers: 3, channel: 'queue', rows: inputs.rows, groups: 2 });
    cloud = await startLocalCloud(plan, { logSink: () => undefined });
  }, 120_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  it('{}: the plan\'s default inputs, staged by the code `stepinfer shards upload` runs, equal serial inference; the run stages nothing of its own and its clean-up leaves them', async () => {
    expect(plan.storage.defaultInputs).toBe('inputs/default/<target>/<source>');
    let ownStaged: string[] | null = null;
    const run = await runStateMachineLocally(plan, network, inputs, {
      cloud, inputsAs: 'default', logSink: () => undefined,
      beforeExecution: async (_, runId) => {
        staged = await defaultObjects();
        ownStaged = await store().list(`runs/${runId}/`);
      },
    });
    expect(run.categories).toEqual(serial.categories);
    expectSameRows(run.activations, serial.activations);
    // Each worker's own rows and the rows each peer reads of them in layer 1 (3 workers: at least 3, at most 9 objects).
    expect(staged.length).toBeGreaterThanOrEqual(3);
    expect(staged.length).toBeLessThanOrEqual(9);
    expect(staged.every(([k]) => /^inputs\/default\/[0-2]\/[0-2]$/.test(k))).toBe(true);
    expect(ownStaged).toEqual([]);
    // The run's stages and gather ran, and its clean-up removed its intermediates (finish checks) but not the default inputs.
    expect(run.execution.states.filter((x) => x.index === null).at(-1)!.name).toBe(GATHER_STATE);
    expect(await defaultObjects()).toEqual(staged);
    // Staging the default inputs is once per plan, like the shards: not the run's own requests.
    expect(run.clientStorage.puts).toBe(0);
  }, 300_000);

  it('a run with `inputs` naming its own staged rows reads those, not the default inputs, and removes them at its end', async () => {
    const own = generateInputs({ neurons: 1024, samples: 150, seed: 13 });
    const ownSerial = inferSerial(network, own);
    expect(ownSerial.categories).not.toEqual(serial.categories);
    let ownStaged = 0;
    const run = await runStateMachineLocally(plan, network, own, {
      cloud, logSink: () => undefined, runId: 'run-own-rows',
      beforeExecution: async (_, runId) => {
        ownStaged = (await store().list(`runs/${runId}/inputs/`)).length;
      },
    });
    expect(ownStaged).toBeGreaterThanOrEqual(3);
    expect(run.categories).toEqual(ownSerial.categories);
    expectSameRows(run.activations, ownSerial.activations);
    expect(await store().list('runs/run-own-rows/inputs/')).toEqual([]);
    expect(await defaultObjects()).toEqual(staged);
  }, 300_000);

  it('an `inputs` value naming nothing staged fails naming the key it looked for, and leaves no result', async () => {
    const run = runStateMachineLocally(plan, network, inputs, { cloud, logSink: () => undefined, runId: 'run-nothing', input: { inputs: 'nothing-staged', samples: inputs.rows } });
    const error = await run.then(() => null, (e: Error) => e);
    expect(error).toBeInstanceOf(RunFailedError);
    expect(error!.message).toMatch(new RegExp(
      `^run run-nothing failed in "${stageStateName(plan, plan.workflow.stages[0])}" \\(layers 1-3, attempt 3, the last of 3\\): worker (\\d) failed in layer 1: MissingObjectError: layer 1, worker \\1: `
      + `input rows from worker \\d of the staged inputs "nothing-staged" is missing: no object s3://${plan.names.bucket}/runs/nothing-staged/inputs/\\1/\\d`,
    ));
    // No partial result: the clean-up ran, nothing of the run is left but statuses.
    expect(await store().getOptional(expandKey(plan.storage.result, { execution: 'run-nothing' }))).toBeNull();
    expect(await store().getOptional(expandKey(plan.storage.categories, { execution: 'run-nothing' }))).toBeNull();
    expect((await store().list('runs/run-nothing/')).filter((k) => !k.includes('/status/'))).toEqual([]);
    expect(await defaultObjects()).toEqual(staged);
  }, 300_000);

  it('a sample count that is not the staged inputs\' fails naming both', async () => {
    const run = runStateMachineLocally(plan, network, inputs, { cloud, logSink: () => undefined, runId: 'run-fewer', input: { samples: 100 } });
    await expect(run).rejects.toThrow(/worker \d failed in layer 1: StepinferError: layer 1, worker \d: the staged inputs "default" hold 400 samples, the execution input says 100/);
    expect(await store().getOptional(expandKey(plan.storage.result, { execution: 'run-fewer' }))).toBeNull();
    expect(await defaultObjects()).toEqual(staged);
  }, 300_000);

  it('a run may not be named "default": that name is the default inputs\'', async () => {
    await expect(runStateMachineLocally(plan, network, inputs, { cloud, logSink: () => undefined, runId: 'default' }))
      .rejects.toThrow('field run-id: a run cannot be named "default": the execution input\'s inputs "default" names the plan\'s default inputs');
  });
});

describe('the local definition: what the interpreter lacks, mapped and noted', () => {
  /** A stand-in for the local cloud's addresses (nothing is started). */
  function fakeCloud(plan: Plan): Pick<LocalCloud, 'resources' | 'hostTimeoutSeconds' | 'timeoutScale'> {
    const functionNames = Object.fromEntries(plan.functions.map((f) => [f.id, plan.names.functions[f.id]]));
    return {
      resources: {
        bucket: plan.names.bucket, topicArns: plan.names.topics.map((t) => `arn:aws:sns:us-east-1:000000000000:${t}`),
        queueUrls: plan.names.queues.map((q) => `http://127.0.0.1:1/000000000000/${q}`), exchangeBuckets: plan.names.exchangeBuckets, functionNames,
      },
      hostTimeoutSeconds: Object.fromEntries(plan.functions.map((f) => [plan.names.functions[f.id], f.timeoutSeconds * 4])),
      timeoutScale: 4,
    };
  }

  it('a distributed Map (41 workers) runs inline with MaxConcurrency 41; Task timeouts beyond the host\'s; every substitution filled', async () => {
    const { plan } = await workflowCase('groups-41-queue');
    const local = localDefinition(plan, renderWorkflow(plan), fakeCloud(plan));
    const stage = plan.workflow.stages[0];
    const map = local.definition.States[stageStateName(plan, stage)] as MapState;
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
    expect(map.MaxConcurrency).toBe(41);
    const worker = map.ItemProcessor.States[workerStateName(stage)] as TaskState;
    const fn = plan.functions.find((f) => f.id === stage.functionId)!;
    expect(worker.Resource).toBe(localFunctionArn(plan.names.functions[fn.id]));
    expect(worker.TimeoutSeconds).toBe(fn.timeoutSeconds * 4 + HOST_ANSWER_MARGIN_SECONDS);
    expect(local.taskFunctions[workerStateName(stage)]).toBe(plan.names.functions[fn.id]);
    expect(local.definition.TimeoutSeconds).toBe(plan.workflow.executionTimeoutSeconds * 4);
    expect(JSON.stringify(local.definition)).not.toContain('${');
    expect((map.ItemSelector!.stageRun as { channel: { queueUrls: string[] } }).channel.queueUrls[40]).toBe(`http://127.0.0.1:1/000000000000/${plan.names.queues[40]}`);
    expect(local.notes.map((n) => n.note)).toEqual([
      expect.stringMatching(/^Task timeouts: the local Lambda host enforces each function's timeout \(the plan's x 4: 41 workers share/),
      `execution timeout ${plan.workflow.executionTimeoutSeconds} s x 4 = ${plan.workflow.executionTimeoutSeconds * 4} s, scaled as the functions' timeouts are`,
      'a distributed Map (child Express executions on AWS) runs inline in aws-local-stepfunctions; MaxConcurrency = its workers keeps every peer running at once',
    ]);
    expect(local.notes[2].states).toEqual([`${stageStateName(plan, stage)} (41 workers)`]);
  });

  it('a launch tree\'s coordinator waits until its scaled timeout less the reporting margin; an explicit receive timeout reaches every stage run', async () => {
    const { plan } = await workflowCase('groups-62-object-tree');
    const local = localDefinition(plan, renderWorkflow(plan), fakeCloud(plan), { receiveTimeoutSeconds: 7 });
    const coordinator = plan.functions.find((f) => f.role === 'coordinator')!;
    const task = local.definition.States[stageStateName(plan, plan.workflow.stages[0])] as TaskState;
    expect(task.Parameters!.waitTimeoutSeconds).toBe(coordinator.timeoutSeconds * 4 - 5);
    expect((task.Parameters!.stageRun as { receiveTimeoutSeconds: number }).receiveTimeoutSeconds).toBe(7);
    expect(local.notes.map((n) => n.note)).toContain("workers wait at most 7 s for a layer's rows (the plan's stage runs say otherwise)");
  });

  it('a substitution the local cloud did not create is refused, naming it', async () => {
    const { plan } = await workflowCase('groups-8-queue');
    const cloud = fakeCloud(plan);
    expect(() => localDefinition(plan, renderWorkflow(plan), { ...cloud, resources: { ...cloud.resources, queueUrls: [] } }))
      .toThrow(`field substitutions: \${QueueUrl0} names sqsQueue ${plan.names.queues[0]}, which the local cloud did not create`);
  });
});

describe('a plan that is not the model\'s', () => {
  it('fails before anything starts, naming both checksums', async () => {
    const plan = await testPlan(network, { workers: 2, channel: 'queue', rows: inputs.rows });
    const other = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 11, bias: -0.35 });
    const run = runStateMachineLocally(plan, other, inputs, { logSink: () => undefined });
    await expect(run).rejects.toThrow(ShapeMismatchError);
    await expect(run).rejects.toThrow(new RegExp(`^field model\\.checksum: the model is not plan ${plan.planId}'s model \\(checksum [0-9a-f]{12}\\.\\.\\., the plan has ${plan.model.checksum.value.slice(0, 12)}\\.\\.\\.\\)$`));
  });
});
