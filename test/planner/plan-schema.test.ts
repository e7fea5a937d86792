// plan.json: round trip through serializePlan/parsePlan, compact neuron maps, and errors that name
// the file and the field path.

import { describe, it, expect } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants } from '../../planner/latency/index.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { searchPlans } from '../../planner/optimize/index.ts';
import {
  buildPlan, decodeNeuronMap, encodeNeuronMaps, networkChecksum, parsePlan, planNeuronMaps, 
  serializePlan, taskTimeoutSeconds, type Plan,
} from '../../planner/plan/index.ts';
import { ModelFormatError, PlanFormatError } from '../../model/errors.ts';
import { SeededRandom } from '../../model/random.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';

const network = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 4 });
const inputs = generateInputs({ neurons: 1024, samples: 200, seed: 4 });

async function makePlan(partitioned: boolean): Promise<Plan> {
  const constants = partitioned
    ? latencyConstants({ lambdaNetworkBytesPerSecond: 1e13, serializeBytesPerSecond: 1e13, snsToSqsDeliverySeconds: 1e-4, s3PutSeconds: 1e-4, s3GetSeconds: 1e-4, sfnTaskInvokeSeconds: 1e-4, sfnTransitionSeconds: 1e-4, snsPublishSeconds: 1e-4, sqsReceiveSeconds: 1e-4, sfnMapIterationStaggerSeconds: 0 })
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
  });
}

const clone = (plan: Plan): Plan => JSON.parse(JSON.stringify(plan)) as Plan;

describe('plan.json round trip', () => {
  it('serializes and parses a serial plan unchanged', async () => {
    const plan = await makePlan(false);
    expect(plan.formatVersion).toBe(1);
    expect(plan.shape).toBe('serial');
    expect(plan.workers).toBe(1);
    expect(plan.gather).toBeNull();
    expect(plan.channel.kind).toBe('none');
    expect(plan.partition.maps[0]).toEqual({ encoding: 'runs', runs: '0x1024' });
    expect(plan.partition.maps[3]).toEqual({ encoding: 'same-as', map: 0 });
    const text = serializePlan(plan);
    expect(parsePlan(text, 'plan.json')).toEqual(plan);
    expect(plan.model.checksum.value).toBe(networkChecksum(network));
    expect(plan.workload.densitySource).toBe('serial-sample');
    expect(plan.alternatives.some((a) => a.chosen)).toBe(true);
    expect(plan.prices.values.sfnStandardPerTransition).toBe(0.000025);
  });

  it('keeps a partitioned plan\'s neuron maps, resources and launch', async () => {
    const plan = await makePlan(true);
    expect(plan.workers).toBe(4);
    expect(plan.shape === 'layer-groups' || plan.shape === 'map-per-layer').toBe(true);
    const parsed = parsePlan(serializePlan(plan), 'plan.json');
    expect(parsed).toEqual(plan);
    const maps = planNeuronMaps(parsed);
    expect(maps).toHaveLength(7);
    for (const m of maps) {
      expect(m).toHaveLength(1024);
      expect(Math.max(...m)).toBeLessThan(4);
    }
    expect(parsed.gather).not.toBeNull();
    expect(parsed.functions.some((f) => f.role === 'gather')).toBe(true);
    for (const s of parsed.stages) expect(parsed.functions.find((f) => f.id === s.functionId)!.memoryMB).toBe(s.memoryMB);
    if (parsed.channel.kind === 'queue') {
      expect(parsed.channel.queue).toMatchObject({ topics: 4, queues: 4, messageMaxBytes: 262144 });
      expect(parsed.resources.queues).toBe(4);
    }
  });

  it('is byte-identical for the same inputs', async () => {
    expect(serializePlan(await makePlan(false))).toBe(serializePlan(await makePlan(false)));
  });
});

describe('plan.json errors name the file and the field', () => {
  it('rejects memory outside 128-10,240 MB at its path', async () => {
    const plan = clone(await makePlan(false));
    plan.stages[0].memoryMB = 20000;
    expect(() => parsePlan(plan, 'plan.json')).toThrow(PlanFormatError);
    expect(() => parsePlan(plan, 'plan.json')).toThrow(ModelFormatError);
    expect(() => parsePlan(plan, 'plan.json')).toThrow(/^plan\.json, field stages\[0\]\.memoryMB: Lambda memory must be at most 10,240 MB/);
  });

  it('checks that stages cover the layers in order', async () => {
    const plan = clone(await makePlan(false));
    plan.stages.push({ ...plan.stages[0], index: 1 });
    expect(() => parsePlan(plan, 'p.json')).toThrow(/p\.json, field stages\[1\]\.firstLayer: must be 7/);
    const gap = clone(await makePlan(false));
    gap.stages[0].lastLayer = 5;
    expect(() => parsePlan(gap, 'p.json')).toThrow(/field stages: stages end at layer 5, the model has 6 layers/);
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
    plan.stages[0].launch = { kind: 'tree', branchingFactor: 3, levels: 1 };
    expect(() => parsePlan(plan, 'plan.json')).toThrow(/field stages\[0\]\.launch: a tree of branching 3 and 1 levels launches 3 workers, the plan has 4/);
    const v2 = { ...clone(plan), formatVersion: 2 };
    expect(() => parsePlan(v2, 'plan.json')).toThrow(/field formatVersion: plan format version 2 is not supported/);
    expect(() => parsePlan('{ not json', 'plan.json')).toThrow(/^plan\.json: not valid JSON/);
    const extra = { ...clone(plan), surprise: true };
    expect(() => parsePlan(extra, 'plan.json')).toThrow(/plan\.json, field \(root\)|surprise/);
    const negative = clone(plan);
    negative.stages[0].timeoutSeconds = 1000;
    expect(() => parsePlan(negative, 'plan.json')).toThrow(/field stages\[0\]\.timeoutSeconds: a Lambda timeout is at most 900 seconds/);
  });

  it('collects every problem, not only the first', async () => {
    const plan = clone(await makePlan(false));
    plan.stages[0].memoryMB = 1;
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

  it('sets task timeouts within Lambda\'s 900 s', () => {
    expect(taskTimeoutSeconds(0.1)).toBe(11);
    expect(taskTimeoutSeconds(100)).toBe(310);
    expect(taskTimeoutSeconds(500)).toBe(900);
  });
});
