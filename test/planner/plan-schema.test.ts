// plan.json: round trip through serializePlan/parsePlan, compact neuron maps, and errors that name
// the file and the field path.

import { describe, it, expect } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants, type CalibrationProfile } from '../../planner/latency/index.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { searchPlans } from '../../planner/optimize/index.ts';
import {
  buildPlan, computePlanId, decodeNeuronMap, encodeNeuronMaps, networkChecksum, parsePlan, parsePlanReport, planNeuronMaps,
  serializePlan, serializePlanReport, taskTimeoutSeconds, type Plan, type PlanReport,
} from '../../planner/plan/index.ts';
import { ModelFormatError, PlanFormatError } from '../../model/errors.ts';
import { SeededRandom } from '../../model/random.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';
import { reidentified } from '../helpers/plans.ts';

const network = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 4 });
const inputs = generateInputs({ neurons: 1024, samples: 200, seed: 4 });

/** partitioned: 4 workers, fast network; grouped: also slow Step Functions, so layers group into one stage. */
async function makeBuilt(partitioned: boolean, grouped = false): Promise<{ plan: Plan; report: PlanReport }> {
  const sfnSeconds = grouped ? { sfnTaskInvokeSeconds: 2, sfnTransitionSeconds: 1 } : { sfnTaskInvokeSeconds: 1e-4, sfnTransitionSeconds: 1e-4 };
  const constants = partitioned
    ? latencyConstants({ lambdaNetworkBytesPerSecond: 1e13, serializeBytesPerSecond: 1e13, snsToSqsDeliverySeconds: 1e-4, s3PutSeconds: 1e-4, s3GetSeconds: 1e-4, ...sfnSeconds, snsPublishSeconds: 1e-4, sqsReceiveSeconds: 1e-4, sfnMapIterationStaggerSeconds: 0 })
    : latencyConstants();
  const workload = partitioned ? assumedWorkload(network, 50_000, 0.3, DEFAULT_GATHER_ABOVE_DENSITY) : profileWorkload(network, inputs);
  const search = await searchPlans(network, workload, {
    objective: partitioned ? 'latency' : 'cost', sloSeconds: 600, scheme: 'random', seed: 7, workerCounts: partitioned ? [4] : [1, 2],
    channels: partitioned ? ['queue'] : ['queue', 'none'], prices: defaultPrices(), calibration: defaultCalibrationProfile(), constants,
  });
  return buildPlan({
    network,
    model: { source: 'generated', path: null, generate: { neurons: 1024, layers: 6, seed: 4 } },
    inputs: { source: 'generated', path: null, samples: workload.rows, seed: 4, density: 0.104 },
    search, objective: partitioned ? 'latency' : 'cost', sloSeconds: 600, scheme: 'random', seed: 7,
    calibration: defaultCalibrationProfile(), calibrationPath: null, version: '0.1.0',
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
  });
}

const makePlan = async (partitioned: boolean, grouped = false): Promise<Plan> => (await makeBuilt(partitioned, grouped)).plan;

const clone = (plan: Plan): Plan => JSON.parse(JSON.stringify(plan)) as Plan;

describe('plan.json round trip', () => {
  it('serializes and parses a serial plan unchanged', async () => {
    const { plan, report } = await makeBuilt(false);
    expect(plan.formatVersion).toBe(2);
    expect(plan.shape).toBe('serial');
    expect(plan.workers).toBe(1);
    expect(plan.workflow.gather).toBeNull();
    expect(plan.channel.kind).toBe('none');
    expect(plan.channel.queue).toBeNull();
    expect(plan.partition.maps[0]).toEqual({ encoding: 'runs', runs: '0x1024' });
    expect(plan.partition.maps[3]).toEqual({ encoding: 'same-as', map: 0 });
    expect(plan.functions.map((f) => [f.role, f.reservedConcurrency])).toEqual([['stage', 1]]);
    const text = serializePlan(plan);
    expect(parsePlan(text, 'plan.json')).toEqual(plan);
    expect(plan.model.checksum.value).toBe(networkChecksum(network));
    expect(plan.planId).toBe(computePlanId(plan));
    expect(report.planId).toBe(plan.planId);
    expect(report.workload.densitySource).toBe('serial-sample');
    expect(report.alternatives.some((a) => a.chosen)).toBe(true);
    expect(report.prices.values.sfnStandardPerTransition).toBe(0.000025);
    expect(parsePlanReport(serializePlanReport(report), 'plan.report.json')).toEqual(report);
  });

  it('keeps a partitioned plan\'s neuron maps, functions and names', async () => {
    const plan = await makePlan(true);
    expect(plan.workers).toBe(4);
    expect(plan.shape).toBe('map-per-layer');
    expect(plan.channel).toEqual({ kind: 'none', queue: null, object: null });
    expect(plan.workflow.stages.map((s) => s.launch)).toEqual(Array(6).fill({ kind: 'map', mode: 'inline', maxConcurrency: 4 }));
    const parsed = parsePlan(serializePlan(plan), 'plan.json');
    expect(parsed).toEqual(plan);
    const maps = planNeuronMaps(parsed);
    expect(maps).toHaveLength(7);
    for (const m of maps) {
      expect(m).toHaveLength(1024);
      expect(Math.max(...m)).toBeLessThan(4);
    }
    expect(parsed.workflow.gather).not.toBeNull();
    expect(parsed.functions.find((f) => f.role === 'gather')).toMatchObject({ reservedConcurrency: 1 });
    for (const f of parsed.functions.filter((x) => x.role === 'worker')) expect(f.reservedConcurrency).toBe(4);
    for (const s of parsed.workflow.stages) expect(parsed.functions.find((f) => f.id === s.functionId)!.role).toBe('worker');
    expect(parsed.names.functions).toEqual({ 'worker-1769': `stepinfer-${parsed.planId}-worker-1769`, 'gather-1024': `stepinfer-${parsed.planId}-gather-1024` });
    expect(parsed.names.queues).toEqual([]);
    expect(parsed.names.deadLetterQueue).toBeNull();
  });

  it('keeps a layer group\'s launch tree, coordinator and queue channel', async () => {
    const plan = parsePlan(serializePlan(await makePlan(true, true)), 'plan.json');
    expect(plan.shape).toBe('layer-groups');
    expect(plan.workflow.stages).toHaveLength(1);
    expect(plan.workflow.stages[0]).toMatchObject({ functionId: 'worker-1769', channel: 'queue', launch: { kind: 'tree', branchingFactor: 4, levels: 1, coordinatorFunctionId: 'coordinator-1769' } });
    expect(plan.functions.map((f) => [f.id, f.reservedConcurrency])).toEqual([['worker-1769', 4], ['coordinator-1769', 1], ['gather-1024', 1]]);
    expect(plan.channel.queue).toEqual({
      topics: 4, subscriptions: 'every-queue-every-topic', filterAttribute: 'targets', filterPolicyPattern: '{"targets":[{"wildcard":"*,<worker>,*"}]}',
      rawMessageDelivery: true, maximumMessageSizeBytes: 262144, bodyEncoding: 'base64', chunkBytes: 193536, attributeAllowanceBytes: 4096,
      publishBatchEntries: 10, publishBatchBytes: 262144, receiveBatchMessages: 10, waitTimeSeconds: 1,
      visibilityTimeoutSeconds: plan.functions[0].timeoutSeconds, messageRetentionSeconds: 60 + plan.workflow.stages[0].task.timeoutSeconds + plan.workflow.gather!.task.timeoutSeconds,
      deadLetter: { maxReceiveCount: 3, messageRetentionSeconds: 1209600 },
    });
    expect(plan.names.queues).toEqual([0, 1, 2, 3].map((w) => `stepinfer-${plan.planId}-w${w}`));
    expect(plan.names.topics).toEqual([0, 1, 2, 3].map((k) => `stepinfer-${plan.planId}-t${k}`));
    expect(plan.names.deadLetterQueue).toBe(`stepinfer-${plan.planId}-dlq`);
  });

  it('is byte-identical for the same inputs', async () => {
    expect(serializePlan(await makePlan(false))).toBe(serializePlan(await makePlan(false)));
  });
});

describe('plan.json errors name the file and the field', () => {
  it('rejects memory outside 128-10,240 MB at its path', async () => {
    const plan = clone(await makePlan(false));
    plan.functions[0].memoryMB = 20000;
    expect(() => parsePlan(plan, 'plan.json')).toThrow(PlanFormatError);
    expect(() => parsePlan(plan, 'plan.json')).toThrow(ModelFormatError);
    expect(() => parsePlan(plan, 'plan.json')).toThrow(/^plan\.json, field functions\[0\]\.memoryMB: Lambda memory must be at most 10,240 MB/);
  });

  it('checks that stages cover the layers in order', async () => {
    const plan = clone(await makePlan(false));
    plan.workflow.stages.push({ ...plan.workflow.stages[0], index: 1 });
    expect(() => parsePlan(plan, 'p.json')).toThrow(/p\.json, field workflow\.stages\[1\]\.firstLayer: must be 7/);
    const gap = clone(await makePlan(false));
    gap.workflow.stages[0].lastLayer = 5;
    expect(() => parsePlan(gap, 'p.json')).toThrow(/field workflow\.stages: stages end at layer 5, the model has 6 layers/);
  });

  it('checks neuron maps: count, length and owners', async () => {
    const plan = clone(await makePlan(true));
    const short = clone(plan);
    short.partition.maps.pop();
    expect(() => parsePlan(short, 'plan.json')).toThrow(/field partition\.maps: needs 7 maps/);
    const wrongLength = clone(plan);
    wrongLength.partition.maps[2] = { encoding: 'runs', runs: '0x1000' };
    expect(() => parsePlan(wrongLength, 'plan.json')).toThrow(/field partition\.maps\[2\]: runs cover 1000 neurons, the model has 1024/);
    const badOwner = clone(plan);
    badOwner.partition.maps[1] = { encoding: 'runs', runs: '9x1024' };
    expect(() => parsePlan(badOwner, 'plan.json')).toThrow(/field partition\.maps\[1\]: owner 9 is not one of the 4 workers/);
    const badBase64 = clone(plan);
    badBase64.partition.maps[0] = { encoding: 'base64-u16le', data: 'AAAA' };
    expect(() => parsePlan(badBase64, 'plan.json')).toThrow(/field partition\.maps\[0\]: decodes to 3 bytes, 2048 expected/);
    const forward = clone(plan);
    forward.partition.maps[0] = { encoding: 'same-as', map: 3 };
    expect(() => parsePlan(forward, 'plan.json')).toThrow(/field partition\.maps\[0\]: refers to map 3/);
  });

  it('checks launch trees, version, JSON and unknown fields', async () => {
    const plan = clone(await makePlan(true));
    plan.workflow.stages[0].launch = { kind: 'tree', branchingFactor: 3, levels: 1, coordinatorFunctionId: 'coordinator-1769' };
    expect(() => parsePlan(plan, 'plan.json')).toThrow(/field workflow\.stages\[0\]\.launch: a tree of branching 3 and 1 levels launches 3 workers, the plan has 4/);
    const v1 = { ...clone(plan), formatVersion: 1 };
    expect(() => parsePlan(v1, 'plan.json')).toThrow(/field formatVersion: plan format version 1 is not supported \(this stepinfer reads version 2\)/);
    expect(() => parsePlan('{ not json', 'plan.json')).toThrow(/^plan\.json: not valid JSON/);
    const extra = { ...clone(plan), surprise: true };
    expect(() => parsePlan(extra, 'plan.json')).toThrow(/plan\.json, field \(root\)|surprise/);
    const long = clone(plan);
    long.workflow.stages[0].task.timeoutSeconds = 1000;
    expect(() => parsePlan(long, 'plan.json')).toThrow(/field workflow\.stages\[0\]\.task\.timeoutSeconds: a Lambda timeout is at most 900 seconds/);
  });

  it('checks functions, retries and the channel against each other', async () => {
    const plan = await makePlan(true, true);
    const noRetry = clone(plan);
    noRetry.workflow.stages[0].task.retry = 'gone';
    expect(() => parsePlan(reidentified(noRetry), 'plan.json')).toThrow(/field workflow\.stages\[0\]\.task\.retry: no retry policy "gone" in workflow\.retryPolicies/);
    const concurrency = clone(plan);
    concurrency.functions.find((f) => f.role === 'worker')!.reservedConcurrency = 2;
    expect(() => parsePlan(reidentified(concurrency), 'plan.json')).toThrow(/reservedConcurrency: must be 4: every worker runs at once/);
    const channel = clone(plan);
    channel.channel.queue!.chunkBytes = 200_000;
    expect(() => parsePlan(reidentified(channel), 'plan.json')).toThrow(/field channel\.queue\.chunkBytes: a chunk of 200000 bytes is 270764 bytes as base64 with its attribute allowance, over the 262144-byte message limit/);
  });

  it('collects every problem, not only the first', async () => {
    const plan = clone(await makePlan(false));
    plan.functions[0].memoryMB = 1;
    plan.workers = 0;
    try {
      parsePlan(plan, 'plan.json');
      expect.unreachable();
    } catch (error) {
      expect((error as PlanFormatError).issues.length).toBeGreaterThanOrEqual(2);
      expect((error as Error).message).toMatch(/and \d+ more problem/);
    }
  });
});

describe('neuron map encoding', () => {
  it('round-trips random, block and repeated maps in their shortest form', () => {
    const random = new SeededRandom(9);
    const scattered = Uint16Array.from({ length: 4096 }, () => random.nextInt(300));
    const block = Uint16Array.from({ length: 4096 }, (_, j) => Math.floor((j * 8) / 4096));
    const maps = [block, scattered, Uint16Array.from(scattered), block];
    const encoded = encodeNeuronMaps(maps);
    expect(encoded.map((e) => e.encoding)).toEqual(['runs', 'base64-u16le', 'same-as', 'same-as']);
    const decoded: Uint16Array[] = [];
    for (const e of encoded) decoded.push(decodeNeuronMap(e, 4096, decoded) as Uint16Array);
    decoded.forEach((d, i) => expect(Array.from(d)).toEqual(Array.from(maps[i])));
  });

  it('sets task timeouts within Lambda\'s 900 s, and within 300 s when asked', () => {
    expect(taskTimeoutSeconds(0.1)).toBe(11);
    expect(taskTimeoutSeconds(100)).toBe(310);
    expect(taskTimeoutSeconds(500)).toBe(900);
    expect(taskTimeoutSeconds(100, 300)).toBe(300);
    expect(taskTimeoutSeconds(50, 300)).toBe(160);
  });
});

describe('kernel threads in the plan', () => {
  const scaled: CalibrationProfile = (() => {
    const p = defaultCalibrationProfile();
    return { ...p, formatVersion: 2, threadScaling: { ...p.threadScaling!, parallelFraction: 0.95 } };
  })();
  const builtAt = async (memoryMB: number, calibration: CalibrationProfile = scaled) => {
    const workload = profileWorkload(network, inputs);
    const search = await searchPlans(network, workload, {
      objective: 'cost', scheme: 'random', seed: 7, workerCounts: [1], shapes: ['serial'], memoryMB, prices: defaultPrices(), calibration,
    });
    return buildPlan({
      network,
      model: { source: 'generated', path: null, generate: { neurons: 1024, layers: 6, seed: 4 } },
      inputs: { source: 'generated', path: null, samples: workload.rows, seed: 4, density: 0.104 },
      search, objective: 'cost', scheme: 'random', seed: 7, calibration, calibrationPath: null, version: '0.1.0',
      kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
    });
  };

  it('sets plan.kernel.threads from the memory and the scaling, and the report says why', async () => {
    const at3538 = await builtAt(3538);
    expect(at3538.plan.kernel.threads).toBe(2);
    const notes = (b: { report: PlanReport }) => b.report.assumptions.notes.filter((n) => /kernel thread/.test(n));
    expect(notes(at3538)).toHaveLength(1);
    expect(notes(at3538)[0]).toMatch(/^2 kernel threads per worker: at 3538 MB a worker has 2\.00 vCPUs \(1769 MB each\); on 2 threads the kernel runs at 1\.90 core-equivalents \(Amdahl 1\.90x, capped by the vCPUs\) against 1\.00 on one, which makes every such worker faster and cheaper; more threads than ceil\(vCPUs\) = 2 gain nothing; the kernel's thread scaling measured \d{4}-\d\d-\d\d \(.*Amdahl parallel fraction 0\.950, extrapolated beyond the 2 threads measured\)$/);
    const at1769 = await builtAt(1769);
    expect(at1769.plan.kernel.threads).toBe(1);
    expect(notes(at1769)[0]).toMatch(/^1 kernel thread per worker: at 1769 MB a worker has 1\.00 vCPUs \(1769 MB each\), and one vCPU or less runs no faster on more threads;/);
    const unmeasured = await builtAt(3538, { ...scaled, threadScaling: { ...scaled.threadScaling!, parallelFraction: 0 } });
    expect(unmeasured.plan.kernel.threads).toBe(1);
    expect(notes(unmeasured)[0]).toMatch(/^1 kernel thread per worker: at 3538 MB a worker has 2\.00 vCPUs \(1769 MB each\), and threads gained nothing when measured;/);
    const { threadScaling: _, ...rest } = scaled;
    const old = await builtAt(3538, { ...rest, formatVersion: 1 });
    expect(old.plan.kernel.threads).toBe(1);
    expect(notes(old)[0]).toBe('1 kernel thread per worker: the calibration profile (format version 1) has no thread scaling, so threads are taken to gain nothing; at 3538 MB a worker has 2.00 vCPUs (1769 MB each)');
  });
});
