// The latency model: CPU share by memory, calibration profiles, the workload profile from a serial
// sample, stage estimates, and agreement in order of magnitude with the published FSD runs. No
// assertion reads a clock: calibration timing is exercised only for its shape.

import { describe, it, expect } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { layerNonzeros } from '../../model/network.ts';
import {
  assumedWorkload, computeRates, defaultCalibrationProfile, kernelMacsPerSecond, lambdaCpuSpeed, lambdaVcpus,
  latencyConstants, latencyConstantsFile, LATENCY_CONSTANT_NAMES, parseCalibrationProfile,
  type CalibrationProfile,
} from '../../planner/latency/index.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { ConfigModel, partitionStats, serialStats, type EstimateContext } from '../../planner/optimize/index.ts';
import { partitionNetwork } from '../../planner/partition/index.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { calibrateKernel } from '../../functions/calibration/calibrate.ts';
import { ModelFormatError } from '../../model/errors.ts';
import { readGraphChallengeNetwork, readInputTsv, graphChallengePaths, defaultGraphChallengeDir } from '../../model/graphchallenge.ts';
import type { WorkloadProfile } from '../../planner/latency/workload.ts';
import type { SparseNetwork } from '../../model/network.ts';
import { requireData } from '../helpers/shared-data.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload, stridedRows } from '../../functions/serial/workload-profile.ts';

const c = latencyConstants();

function context(network: SparseNetwork, workload: WorkloadProfile, profile: CalibrationProfile = defaultCalibrationProfile()): EstimateContext {
  return {
    neurons: network.neurons, layerCount: network.layers.length, layerNonzeros: network.layers.map(layerNonzeros),
    workload, rates: computeRates(profile, network.neurons), constants: c, prices: defaultPrices(),
    bytesPerNonzero: 8, threads: 1, architecture: 'x86_64', gatherMemoryMB: 1024, safetyFactor: 1.5,
  };
}

describe('Lambda CPU share', () => {
  it('is proportional to memory, one vCPU at 1,769 MB, at most 6', () => {
    expect(lambdaVcpus(1769, c)).toBe(1);
    expect(lambdaVcpus(884.5, c)).toBeCloseTo(0.5, 12);
    expect(lambdaVcpus(10240, c)).toBeCloseTo(10240 / 1769, 12);
    expect(lambdaVcpus(20000, c)).toBe(6);
  });

  it('gives a single-threaded kernel nothing above one vCPU', () => {
    expect(lambdaCpuSpeed(1769, 1, c)).toBe(1);
    expect(lambdaCpuSpeed(10240, 1, c)).toBe(1);
    expect(lambdaCpuSpeed(128, 1, c)).toBeCloseTo(128 / 1769, 12);
    expect(lambdaCpuSpeed(10240, 4, c)).toBe(4);
    expect(lambdaCpuSpeed(10240, 8, c)).toBeCloseTo(10240 / 1769, 12);
  });
});

describe('constants and calibration profiles', () => {
  it('gives every latency constant a unit and a source', () => {
    const file = latencyConstantsFile();
    for (const name of LATENCY_CONSTANT_NAMES) {
      expect(file.constants[name].source.length, name).toBeGreaterThan(5);
      expect(file.constants[name].unit.length, name).toBeGreaterThan(3);
    }
    expect(latencyConstants({ snsPublishSeconds: 1 }).snsPublishSeconds).toBe(1);
  });

  it('ships a default profile marked as such, with both regimes', () => {
    const p = defaultCalibrationProfile();
    expect(p.default).toBe(true);
    expect(p.note).toMatch(/not measured on the machine/i);
    expect(p.measurements.some((m) => m.regime === 'scatter')).toBe(true);
    expect(p.measurements.some((m) => m.regime === 'gather')).toBe(true);
  });

  it('interpolates throughput in log2(neurons) and clamps outside the measured sizes', () => {
    const base = defaultCalibrationProfile();
    const profile: CalibrationProfile = {
      ...base,
      measurements: [
        { regime: 'scatter', neurons: 1024, layers: 1, rows: 1, multiplyAdds: 1, seconds: 1, repetitions: 1, macsPerSecond: 100 },
        { regime: 'scatter', neurons: 4096, layers: 1, rows: 1, multiplyAdds: 1, seconds: 1, repetitions: 1, macsPerSecond: 200 },
        { regime: 'gather', neurons: 1024, layers: 1, rows: 1, multiplyAdds: 1, seconds: 1, repetitions: 1, macsPerSecond: 500 },
      ],
    };
    expect(kernelMacsPerSecond(profile, 'scatter', 2048)).toBeCloseTo(150, 9);
    expect(kernelMacsPerSecond(profile, 'scatter', 256)).toBe(100);
    expect(kernelMacsPerSecond(profile, 'scatter', 65536)).toBe(200);
    expect(kernelMacsPerSecond(profile, 'gather', 65536)).toBe(500);
  });

  it('names the field of a bad profile', () => {
    const bad = { ...defaultCalibrationProfile(), measurements: [{ ...defaultCalibrationProfile().measurements[0], macsPerSecond: -1 }] };
    expect(() => parseCalibrationProfile(bad, 'cal.json')).toThrow(ModelFormatError);
    expect(() => parseCalibrationProfile(bad, 'cal.json')).toThrow(/cal\.json, field measurements\[0\]\.macsPerSecond/);
    expect(() => parseCalibrationProfile({ ...defaultCalibrationProfile(), measurements: defaultCalibrationProfile().measurements.filter((m) => m.regime === 'gather') }, 'cal.json'))
      .toThrow(/no scatter measurement/);
  });

  it('calibrates with the real kernel into a valid profile', () => {
    const profile = calibrateKernel({ cases: [{ neurons: 1024, layers: 2, rows: 64 }], repetitions: 1 });
    expect(() => parseCalibrationProfile(profile, 'measured')).not.toThrow();
    expect(profile.default).toBe(false);
    expect(profile.measurements.map((m) => m.regime)).toEqual(['scatter', 'gather']);
    for (const m of profile.measurements) expect(m.macsPerSecond).toBeCloseTo(m.multiplyAdds / m.seconds, 0);
  });
});

describe('workload profile', () => {
  const network = generateRadixNetwork({ neurons: 1024, layers: 8, seed: 3 });
  const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 3 });

  it('counts exactly the serial kernel\'s multiply-adds when every row is run', () => {
    const w = profileWorkload(network, inputs, { sampleRows: 300 });
    const serial = inferSerial(network, inputs);
    const macs = w.layers.reduce((t, l) => t + l.scatterMultiplyAdds + l.gatherMultiplyAdds, 0);
    expect(macs).toBe(serial.multiplyAdds);
    expect(w.source).toBe('serial-sample');
    expect(w.sampleSelection).toBe('none');
    expect(w.categoryFraction).toBeCloseTo(serial.categories.length / 300, 12);
    expect(w.layers[0].inputNonzeros).toBe(inputs.rowStart[300]);
    for (const l of w.layers) expect(l.inputDensity).toBeGreaterThanOrEqual(0);
  });

  it('scales a strided sample to all rows, deterministically', () => {
    const a = profileWorkload(network, inputs, { sampleRows: 100 });
    const b = profileWorkload(network, inputs, { sampleRows: 100 });
    expect(a).toEqual(b);
    expect(a.sampleRows).toBe(100);
    expect(a.sampleSelection).toBe('strided');
    // Generated inputs have the same nonzeros per row: the scaled count is exact.
    expect(a.layers[0].inputNonzeros).toBe(inputs.rowStart[300]);
    const sample = stridedRows(inputs, 100);
    expect(sample.rows).toBe(100);
    // Sample row i is input row floor(i x 300 / 100) = 3i.
    expect(Array.from(sample.columnIndex.subarray(sample.rowStart[1], sample.rowStart[2]))).toEqual(Array.from(inputs.columnIndex.subarray(inputs.rowStart[3], inputs.rowStart[4])));
  });

  it('states an assumed density explicitly', () => {
    const w = assumedWorkload(network, 1000, 0.1, DEFAULT_GATHER_ABOVE_DENSITY);
    expect(w.source).toBe('assumed-density');
    expect(w.assumedDensity).toBe(0.1);
    expect(w.layers[0].scatterMultiplyAdds).toBeCloseTo(1000 * 0.1 * layerNonzeros(network.layers[0]), 6);
    expect(assumedWorkload(network, 10, 0.5, DEFAULT_GATHER_ABOVE_DENSITY).layers[0].gatherMultiplyAdds).toBe(10 * layerNonzeros(network.layers[0]));
    expect(() => assumedWorkload(network, 10, 0, DEFAULT_GATHER_ABOVE_DENSITY)).toThrow(/density/);
  });
});

describe('stage estimates', () => {
  const network = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 5 });
  const workload = profileWorkload(network, generateInputs({ neurons: 1024, samples: 400, seed: 5 }));
  const ctx = context(network, workload);
  const serial = new ConfigModel(ctx, serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' });

  it('halves compute from half a vCPU to one and gains nothing beyond', () => {
    const half = serial.computeSecondsOf(1, 6, 884.5), one = serial.computeSecondsOf(1, 6, 1769), six = serial.computeSecondsOf(1, 6, 10240);
    expect(half).toBeCloseTo(2 * one, 9);
    expect(six).toBeCloseTo(one, 12);
  });

  it('adds up: a plan is its stages plus the workflow overhead', () => {
    const stages = [{ firstLayer: 1, lastLayer: 3, memoryMB: 1024 }, { firstLayer: 4, lastLayer: 6, memoryMB: 2048 }];
    const plan = serial.plan(stages);
    const s1 = serial.stage(1, 3, 1024), s2 = serial.stage(4, 6, 2048);
    expect(plan.latencySeconds).toBeCloseTo(plan.overhead.seconds + s1.seconds + s2.seconds, 12);
    expect(plan.cost.totalUSD).toBeCloseTo(plan.overhead.costUSD + s1.costUSD + s2.costUSD, 15);
    const parts = plan.parts;
    expect(parts.launch + parts.load + parts.compute + parts.communication + parts.orchestration).toBeCloseTo(plan.latencySeconds, 9);
    // The first stage starts cold, the second warm.
    expect(s1.parts.launch - s2.parts.launch).toBeCloseTo(c.lambdaColdStartSeconds - c.lambdaWarmStartSeconds, 12);
    expect(serial.plan([{ firstLayer: 1, lastLayer: 4, memoryMB: 1024 }]).feasible).toBe(false);
  });

  it('flags memory below the footprint and durations over Lambda\'s limit', () => {
    const heavy = new ConfigModel(context(network, assumedWorkload(network, 20000, 0.3, DEFAULT_GATHER_ABOVE_DENSITY)), serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' });
    const small = heavy.stage(1, 6, 128);
    expect(small.requiredMemoryMB).toBeGreaterThan(128);
    expect(small.feasible).toBe(false);
    expect(small.reasons.join()).toMatch(/needs about/);
    expect(heavy.stage(1, 6, 10240).feasible).toBe(true);
    // 2,000,000 rows on a kernel of 10^8 multiply-adds per second: over an hour, over Lambda's 15 minutes.
    const slowKernel: CalibrationProfile = {
      ...defaultCalibrationProfile(),
      measurements: defaultCalibrationProfile().measurements.map((m) => ({ ...m, macsPerSecond: 1e8 })),
    };
    const slow = new ConfigModel(context(network, assumedWorkload(network, 2_000_000, 0.3, DEFAULT_GATHER_ABOVE_DENSITY), slowKernel), serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' });
    expect(slow.stage(1, 6, 10240).reasons.join()).toMatch(/over Lambda's 900 s limit/);
  });

  it('counts the channels\' requests: queue publishes per 64 KB, object PUT per worker pair', () => {
    const partition = partitionNetwork(network, 4, 'random', { seed: 2 });
    const stats = partitionStats(network, partition);
    const queue = new ConfigModel(ctx, stats, { workers: 4, channel: 'queue', launch: { kind: 'map' }, workflowType: 'STANDARD' }).stage(1, 6, 1769);
    const object = new ConfigModel(ctx, stats, { workers: 4, channel: 'object', launch: { kind: 'map' }, workflowType: 'STANDARD' }).stage(1, 6, 1769);
    expect(queue.counters.snsPublishCalls).toBeGreaterThan(0);
    expect(queue.counters.snsBilledPublishRequests!).toBeGreaterThanOrEqual(queue.counters.snsPublishCalls);
    expect(queue.counters.sqsReceiveCalls).toBeGreaterThan(0);
    expect(object.counters.snsPublishCalls).toBe(0);
    // 5 in-stage exchanges x 4 x 3 objects, plus handoff: staging 4 + final 4 PUTs.
    expect(object.counters.s3PutRequests).toBe(5 * 4 * 3 + 4 + 4);
    expect(object.counters.s3ListRequests).toBeCloseTo(5 * 4 * c.s3ListsPerExchange, 9);
    // Each worker computes about a quarter of the layers' work.
    expect(queue.parts.compute).toBeLessThan(serial.stage(1, 6, 1769).parts.compute / 2);
    // Inline Map: Map state + 4 iterations.
    expect(queue.counters.sfnStandardTransitions).toBe(5);
  });

  it('launches a tree of b + b^2 + ... workers with a coordinator', () => {
    const partition = partitionNetwork(network, 6, 'block');
    const tree = new ConfigModel(ctx, partitionStats(network, partition), { workers: 6, channel: 'queue', launch: { kind: 'tree', branchingFactor: 2, levels: 2 }, workflowType: 'STANDARD' }).stage(1, 6, 1769);
    expect(tree.feasible).toBe(true);
    expect(tree.counters.lambda.map((u) => [u.role, u.invocations])).toEqual([['worker', 6], ['coordinator', 1]]);
    const wrong = new ConfigModel(ctx, partitionStats(network, partition), { workers: 6, channel: 'queue', launch: { kind: 'tree', branchingFactor: 3, levels: 1 }, workflowType: 'STANDARD' }).stage(1, 6, 1769);
    expect(wrong.reasons.join()).toMatch(/has 3 workers, not 6/);
  });
});

const GC = defaultGraphChallengeDir();
describe('the published FSD-Inference configuration (1024 x 120, 10,000 inputs, 8 workers of 1000 MB)', () => {
  it('predicts latency and cost of the same order as the published runs', () => {
    const paths = graphChallengePaths(GC);
    requireData(paths.weightsDir, 'the real GraphChallenge network');
    requireData(paths.inputs, 'the real GraphChallenge inputs');
    const network = readGraphChallengeNetwork(paths.weightsDir);
    const workload = profileWorkload(network, readInputTsv(paths.inputs, 1024), { sampleRows: 250 });
    const stats = partitionStats(network, partitionNetwork(network, 8, 'hypergraph'));
    const ctx = context(network, workload);
    const predict = (channel: 'queue' | 'object') =>
      new ConfigModel(ctx, stats, { workers: 8, channel, launch: { kind: 'tree', branchingFactor: 8, levels: 1 }, workflowType: 'STANDARD' })
        .plan([{ firstLayer: 1, lastLayer: 120, memoryMB: 1000 }]);
    const queue = predict('queue'), object = predict('object');
    // Published: 63.5 s (queue) and 58.2 s (object) per worker; $0.0215 and $0.0539.
    expect(queue.latencySeconds).toBeGreaterThan(63.5 / 2);
    expect(queue.latencySeconds).toBeLessThan(63.5 * 2);
    expect(object.latencySeconds).toBeGreaterThan(58.2 / 2);
    expect(object.latencySeconds).toBeLessThan(58.2 * 2);
    expect(object.cost.totalUSD).toBeGreaterThan(0.0539 / 2);
    expect(object.cost.totalUSD).toBeLessThan(0.0539 * 2);
    // The queue channel here sends base64 without compression (theirs: zlib): more SNS bytes.
    expect(queue.cost.totalUSD).toBeGreaterThan(0.0215 / 2);
    expect(queue.cost.totalUSD).toBeLessThan(0.0215 * 5);
    // Compute is a small part of either (published: 22 s over 8 workers, 4% of the time).
    expect(queue.parts.compute).toBeLessThan(0.1 * queue.latencySeconds);
  });
});
