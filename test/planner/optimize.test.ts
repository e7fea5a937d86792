// The optimizer: serial chosen when it is faster and cheaper, partitioned plans when communication
// is cheap, the SLO error naming the fastest reachable plan, bad input, restrictions (channel,
// shape, groups, launch) honored or refused with the reason, the HiGHS stage program against brute
// force and its optimality proof (or the lack of one), determinism, and the plan chosen for the
// real 1024 x 120 case pinned.

import { describe, it, expect } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants, type CalibrationProfile } from '../../planner/latency/index.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import {
  bruteForceStageProgram, ConfigModel, describeOptimality, estimateContext, paretoFront, pruneDominated, searchPlans, serialStats,
  solveStageProgram, partitionStats,
  type PlanSearchOptions, type StageOption, type StageProgram,
} from '../../planner/optimize/index.ts';
import { treeShapes } from '../../planner/launch-tree.ts';
import { partitionNetwork } from '../../planner/partition/index.ts';
import { SeededRandom } from '../../model/random.ts';
import { UsageError, SloUnreachableError } from '../../model/errors.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';

const network = generateRadixNetwork({ neurons: 1024, layers: 8, seed: 1 });
const workload = profileWorkload(network, generateInputs({ neurons: 1024, samples: 500, seed: 1 }));

const base: PlanSearchOptions = {
  objective: 'cost',
  scheme: 'block',
  workerCounts: [1, 2, 4, 8],
  prices: defaultPrices(),
  calibration: defaultCalibrationProfile(),
};

describe('choosing a plan', () => {
  it('picks serial when it is both faster and cheaper, and says so in one line', async () => {
    const r = await searchPlans(network, workload, { ...base, sloSeconds: 60 });
    expect(r.chosen.shape).toBe('serial');
    expect(r.chosen.config.workers).toBe(1);
    expect(r.explanation).toMatch(/both faster and cheaper than every partitioned plan/);
    expect(r.explanation).not.toContain('\n');
    for (const c of r.families.filter((f) => f.config.workers > 1)) {
      expect(r.chosen.estimate.latencySeconds).toBeLessThanOrEqual(c.estimate.latencySeconds);
      expect(r.chosen.estimate.cost.totalUSD).toBeLessThanOrEqual(c.estimate.cost.totalUSD);
    }
    expect(r.server.latencySeconds).toBeGreaterThan(0);
    expect(r.partition).toBeNull();
  });

  it('picks a partitioned plan for the fastest run when communication is nearly free', async () => {
    const free = latencyConstants({
      lambdaNetworkBytesPerSecond: 1e13, serializeBytesPerSecond: 1e13, snsPublishSeconds: 1e-4, snsToSqsDeliverySeconds: 1e-4,
      sqsReceiveSeconds: 1e-4, s3PutSeconds: 1e-4, s3GetSeconds: 1e-4, s3ListSeconds: 1e-4, s3ListIntervalSeconds: 1e-4,
      objectExchangeSettleSeconds: 0, sfnTransitionSeconds: 1e-4, sfnTaskInvokeSeconds: 1e-4, sfnMapIterationStaggerSeconds: 0,
    });
    const heavy = assumedWorkload(network, 50_000, 0.3, DEFAULT_GATHER_ABOVE_DENSITY);
    const r = await searchPlans(network, heavy, { ...base, objective: 'latency', constants: free });
    expect(r.chosen.config.workers).toBeGreaterThan(1);
    expect(r.partition?.workers).toBe(r.chosen.config.workers);
    const serial = r.families.find((f) => f.shape === 'serial')!;
    expect(r.chosen.estimate.latencySeconds).toBeLessThan(serial.estimate.latencySeconds);
    expect(r.explanation).toMatch(/the fastest plan/);
  });

  it('reports the fastest reachable latency and its plan when no plan meets the SLO', async () => {
    const error = await searchPlans(network, workload, { ...base, sloSeconds: 0.01 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SloUnreachableError);
    expect((error as SloUnreachableError).exitCode).toBe(1);
    const e = error as SloUnreachableError;
    expect(e.message).toMatch(/no plan meets the SLO of 0\.01 s: the fastest reachable is [\d.]+ s \(/);
    expect(e.fastest).not.toBeNull();
    expect(e.fastest!.latencySeconds).toBeGreaterThan(0.01);
    expect(e.message).toContain(e.fastest!.label);
  });

  it('rejects bad requests with clear errors', async () => {
    await expect(searchPlans(network, workload, { ...base, sloSeconds: -1 })).rejects.toThrow(/SLO must be a positive number/);
    await expect(searchPlans(network, workload, { ...base, workerCounts: [2048] })).rejects.toThrow(/2048 workers exceed the network's 1024 neurons \(P must be <= N\)/);
    await expect(searchPlans(network, workload, { ...base, maxWorkers: 4096, workerCounts: undefined })).rejects.toThrow(/exceeds the network's 1024 neurons/);
    await expect(searchPlans(network, workload, { ...base, memoryMB: 64 })).rejects.toThrow(/in Lambda's 128-10,240 MB, got 64/);
    await expect(searchPlans(network, workload, { ...base, groups: 9 })).rejects.toThrow(/groups must be an integer from 1 to the network's 8 layers/);
    await expect(searchPlans(network, workload, { ...base, channels: [] })).rejects.toThrow(/channels is empty/);
    await expect(searchPlans(network, workload, { ...base, memoryMB: 20000 })).rejects.toThrow(UsageError);
  });

  it('is deterministic', async () => {
    const a = await searchPlans(network, workload, { ...base, sloSeconds: 60, workerCounts: [1, 4] });
    const b = await searchPlans(network, workload, { ...base, sloSeconds: 60, workerCounts: [1, 4] });
    expect(b.chosen.label).toBe(a.chosen.label);
    expect(b.chosen.estimate.latencySeconds).toBe(a.chosen.estimate.latencySeconds);
    expect(b.chosen.estimate.cost.totalUSD).toBe(a.chosen.estimate.cost.totalUSD);
    expect(b.pareto.map((c) => c.label)).toEqual(a.pareto.map((c) => c.label));
    expect(b.families.map((c) => [c.label, c.estimate.latencySeconds])).toEqual(a.families.map((c) => [c.label, c.estimate.latencySeconds]));
  });

  it('returns a Pareto front no feasible candidate dominates', async () => {
    const r = await searchPlans(network, workload, { ...base, objective: 'latency' });
    const front = r.pareto;
    expect(front.length).toBeGreaterThan(0);
    for (let i = 1; i < front.length; i++) {
      expect(front[i].estimate.latencySeconds).toBeGreaterThanOrEqual(front[i - 1].estimate.latencySeconds);
      expect(front[i].estimate.cost.totalUSD).toBeLessThan(front[i - 1].estimate.cost.totalUSD);
    }
    for (const f of r.families) {
      const dominated = front.some((p) => p.estimate.latencySeconds < f.estimate.latencySeconds && p.estimate.cost.totalUSD < f.estimate.cost.totalUSD);
      const onFront = front.includes(f);
      expect(dominated || onFront || f.estimate.latencySeconds >= front[0].estimate.latencySeconds).toBe(true);
    }
    expect(paretoFront([])).toEqual([]);
  });
});

describe('restricting the search', () => {
  it('honors --channel queue: no plan of another channel, not even serial or map-per-layer', async () => {
    const r = await searchPlans(network, workload, { ...base, sloSeconds: 60, channels: ['queue'] });
    expect(r.chosen.config.channel).toBe('queue');
    expect(r.chosen.shape).toBe('layer-groups');
    for (const c of [...r.pareto, ...r.families]) expect(c.config.channel, c.label).toBe('queue');
    expect(r.workerCounts).toEqual([1, 2, 4, 8]);
    expect(r.partition?.workers).toBe(r.chosen.config.workers);
  });

  it('prices exactly a given configuration: shape, groups, launch, workers, memory', async () => {
    const r = await searchPlans(network, workload, {
      ...base, workerCounts: [6], channels: ['object'], shapes: ['layer-groups'], groups: 1, launches: ['tree'], memoryMB: 1000, workflowTypes: ['STANDARD'],
    });
    expect(r.chosen.label).toBe('6 workers, object, one group, tree 6^1, 1000 MB');
    expect(r.chosen.stages).toEqual([{ firstLayer: 1, lastLayer: 8, memoryMB: 1000 }]);
    for (const c of [...r.pareto, ...r.families]) expect(c.stages).toHaveLength(1);
    const serialGroups = await searchPlans(network, workload, { ...base, workerCounts: [1], shapes: ['stages'], groups: 3, memoryMB: 512 });
    expect(serialGroups.chosen.stages.map((s) => [s.firstLayer, s.lastLayer])).toEqual([[1, 3], [4, 6], [7, 8]]);
    expect(serialGroups.chosen.shape).toBe('stages');
  });

  it.each([
    [{ workerCounts: [1], channels: ['queue'] }, /no plan can match: channel queue needs 2 or more workers, but only 1 worker is searched/],
    [{ workerCounts: [4, 8], shapes: ['serial'] }, /shape serial runs on one worker, but the worker counts searched are 4, 8/],
    [{ shapes: ['layer-groups'], channels: ['none'] }, /layer groups exchange rows over a channel/],
    [{ shapes: ['map-per-layer'], groups: 2 }, /map-per-layer has one group per layer \(8\), not 2/],
    [{ shapes: ['serial'], groups: 2 }, /a serial plan is one group, not 2/],
  ] as [Partial<PlanSearchOptions>, RegExp][])('says why nothing matches %j', async (restriction, message) => {
    const error = await searchPlans(network, workload, { ...base, ...restriction }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('launch trees', () => {
  it('lists every b + b^2 + ... + b^levels decomposition', () => {
    expect(treeShapes(8)).toContainEqual({ branchingFactor: 8, levels: 1 });
    expect(treeShapes(14)).toContainEqual({ branchingFactor: 2, levels: 3 });
    expect(treeShapes(120)).toContainEqual({ branchingFactor: 3, levels: 4 });
    for (const { branchingFactor: b, levels } of treeShapes(126)) {
      let total = 0;
      for (let i = 1; i <= levels; i++) total += b ** i;
      expect(total).toBe(126);
    }
  });
});

describe('the stage program (HiGHS) against brute force', () => {
  function randomProgram(seed: number, objective: 'cost' | 'latency'): StageProgram {
    const random = new SeededRandom(seed);
    const layers = 5;
    const options: StageOption[] = [];
    for (let a = 1; a <= layers; a++) {
      for (let b = a; b <= layers; b++) {
        for (const memoryMB of [512, 1024, 1769, 3008]) {
          // Faster with memory up to one vCPU, and a per-stage overhead: real trade-offs.
          const work = (b - a + 1) * (1 + random.next());
          const seconds = 0.3 + work / Math.min(1, memoryMB / 1769);
          options.push({ firstLayer: a, lastLayer: b, memoryMB, seconds, costUSD: seconds * memoryMB * 1e-8 + 2e-7 * (1 + random.next()), historyEvents: 5 + (b - a) });
        }
      }
    }
    return { layers, options, objective, sloSeconds: objective === 'cost' ? 6 + 8 * random.next() : undefined, fixedSeconds: 0.2, fixedCostUSD: 1e-6, maxHistoryEvents: 40, fixedHistoryEvents: 2 };
  }

  it('finds the brute-force optimum of random programs', async () => {
    let feasible = 0;
    for (let seed = 1; seed <= 12; seed++) {
      for (const objective of ['cost', 'latency'] as const) {
        const p = randomProgram(seed, objective);
        const exact = bruteForceStageProgram(p);
        const milp = await solveStageProgram(p);
        if (!exact) { expect(milp).toBeNull(); continue; }
        feasible++;
        expect(milp).not.toBeNull();
        if (objective === 'cost') expect(milp!.costUSD).toBeCloseTo(exact.costUSD, 12);
        else expect(milp!.seconds).toBeCloseTo(exact.seconds, 9);
        if (p.sloSeconds !== undefined) expect(milp!.seconds).toBeLessThanOrEqual(p.sloSeconds + 1e-9);
        // A real segmentation: consecutive stages from layer 1 to the last.
        let next = 1;
        for (const s of milp!.stages) { expect(s.firstLayer).toBe(next); next = s.lastLayer + 1; }
        expect(next).toBe(p.layers + 1);
      }
    }
    expect(feasible).toBeGreaterThan(12);
  });

  it('reports an infeasible program as null', async () => {
    const p = { ...randomProgram(3, 'cost'), sloSeconds: 0.1 };
    expect(bruteForceStageProgram(p)).toBeNull();
    expect(await solveStageProgram(p)).toBeNull();
  });

  it('finds the brute-force optimum of the stage/memory choice of a real model', async () => {
    const small = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 2 });
    const w = assumedWorkload(small, 20_000, 0.2, DEFAULT_GATHER_ABOVE_DENSITY);
    const ctx = estimateContext(small, w, { prices: defaultPrices(), calibration: defaultCalibrationProfile() });
    for (const [workers, stats] of [[1, serialStats(small)], [4, partitionStats(small, partitionNetwork(small, 4, 'block'))]] as const) {
      const model = new ConfigModel(ctx, stats, { workers, channel: workers === 1 ? 'none' : 'queue', launch: workers === 1 ? { kind: 'task' } : { kind: 'map' }, workflowType: 'STANDARD' });
      const options: StageOption[] = [];
      for (let a = 1; a <= 6; a++) for (let b = a; b <= 6; b++) for (const m of [512, 1024, 1769, 3008]) {
        const s = model.stage(a, b, m);
        if (s.feasible) options.push({ firstLayer: a, lastLayer: b, memoryMB: m, seconds: s.seconds, costUSD: s.costUSD, historyEvents: s.historyEvents });
      }
      const overhead = model.overhead();
      const fastest = bruteForceStageProgram({ layers: 6, options, objective: 'latency', fixedSeconds: overhead.seconds, fixedCostUSD: overhead.costUSD, fixedHistoryEvents: 0 })!;
      for (const slack of [1.05, 1.5, 3]) {
        const p: StageProgram = {
          layers: 6, options, objective: 'cost', sloSeconds: fastest.seconds * slack,
          fixedSeconds: overhead.seconds, fixedCostUSD: overhead.costUSD, fixedHistoryEvents: overhead.historyEvents, maxHistoryEvents: 25000,
        };
        const exact = bruteForceStageProgram(p)!;
        const milp = (await solveStageProgram(p))!;
        expect(milp.costUSD).toBeCloseTo(exact.costUSD, 12);
        // The solution priced again by the model is the same plan.
        const plan = model.plan(milp.stages);
        expect(plan.cost.totalUSD).toBeCloseTo(milp.costUSD, 12);
        expect(plan.latencySeconds).toBeCloseTo(milp.seconds, 9);
      }
    }
  });

  it('says when HiGHS stopped before proving optimality, with its gap, and proves it otherwise', async () => {
    const random = new SeededRandom(7);
    const layers = 24;
    const options: StageOption[] = [];
    for (let a = 1; a <= layers; a++) for (let b = a; b <= layers; b++) for (const memoryMB of [512, 1024, 1769, 3008, 4096]) {
      const seconds = 0.3 + ((b - a + 1) * (1 + random.next())) / Math.min(1, memoryMB / 1769);
      options.push({ firstLayer: a, lastLayer: b, memoryMB, seconds, costUSD: seconds * memoryMB * 1e-8 + 2e-7 * (1 + random.next()), historyEvents: 5 + (b - a) });
    }
    const p: StageProgram = { layers, options, objective: 'cost', sloSeconds: 30, fixedSeconds: 0.2, fixedCostUSD: 1e-6, maxHistoryEvents: 60, fixedHistoryEvents: 2 };
    const proven = (await solveStageProgram(p))!;
    expect(proven.optimality).toEqual({ proven: true, relativeGap: 0, status: 'Optimal' });
    // Stopped after its first improving solution (as a time limit would stop it, but reproducibly).
    const stopped = (await solveStageProgram({ ...p, improvingSolutionLimit: 1 }))!;
    expect(stopped.optimality.proven).toBe(false);
    expect(stopped.optimality.status).toBe('Solution limit reached');
    expect(stopped.optimality.relativeGap).toBeCloseTo(0.0576, 4);
    expect(stopped.costUSD).toBeGreaterThan(proven.costUSD);
    expect(stopped.seconds).toBeLessThanOrEqual(30 + 1e-9);
  });

  it('carries the proof (or its absence) from HiGHS to every refined plan and its description', async () => {
    const r = await searchPlans(network, workload, { ...base, sloSeconds: 60, refineTop: 8 });
    expect(r.refined.length).toBeGreaterThan(0);
    for (const c of r.refined) {
      expect(c.method).toBe('milp');
      expect(c.optimality).toEqual({ proven: true, relativeGap: 0, status: 'Optimal' });
      expect(describeOptimality(c)).toBe('optimal for the stage program (proven by HiGHS)');
    }
    for (const c of [...r.pareto, ...r.families].filter((x) => x.method === 'screen')) {
      expect(c.optimality).toBeNull();
      expect(describeOptimality(c)).toMatch(/best of the screened grid/);
    }
    // A plan HiGHS returned at its time limit is feasible, never "optimal".
    const cut = { ...r.refined[0], optimality: { proven: false, relativeGap: 0.0576, status: 'Time limit reached' } };
    expect(describeOptimality(cut)).toBe("feasible, NOT proven optimal: HiGHS stopped with 'Time limit reached' (relative gap 5.76%)");
    expect(describeOptimality({ ...cut, optimality: { ...cut.optimality, relativeGap: null } })).toMatch(/gap unknown/);
  });

  it('prunes only dominated memory options', () => {
    const o = (memoryMB: number, seconds: number, costUSD: number): StageOption => ({ firstLayer: 1, lastLayer: 1, memoryMB, seconds, costUSD, historyEvents: 1 });
    const kept = pruneDominated([o(512, 4, 1), o(1024, 2, 1.1), o(2048, 2, 1.5), o(3008, 3, 2)]);
    expect(kept.map((k) => k.memoryMB).sort((a, b) => a - b)).toEqual([512, 1024]);
  });
});

describe('kernel threads per worker', () => {
  // The kernel's scaling as a profile states it: Amdahl parallel fraction 0.95.
  const scaled: CalibrationProfile = (() => {
    const p = defaultCalibrationProfile();
    return { ...p, formatVersion: 2, threadScaling: { ...p.threadScaling!, parallelFraction: 0.95 } };
  })();
  const serialAt = (memoryMB: number, calibration: CalibrationProfile = scaled) =>
    searchPlans(network, workload, { ...base, calibration, workerCounts: [1], shapes: ['serial'], memoryMB });

  it('runs more than one thread at 3,538 MB and above, one at 1,769 MB and below (generated case)', async () => {
    const memories = [512, 1024, 1769, 3538, 5307, 7076, 10240];
    const plans = await Promise.all(memories.map((m) => serialAt(m)));
    expect(plans.map((r) => r.chosen.estimate.threads)).toEqual([1, 1, 1, 2, 3, 4, 6]);
    expect(plans.map((r) => r.chosen.estimate.stages[0].threads)).toEqual([1, 1, 1, 2, 3, 4, 6]);
    // More vCPUs used: every step up in memory computes faster.
    const compute = plans.map((r) => r.chosen.estimate.parts.compute);
    for (let i = 1; i < compute.length; i++) expect(compute[i]).toBeLessThan(compute[i - 1]);
    // The checked-in default measured no gain from 2 threads on the loaded host (parallel fraction 0): one thread.
    expect(defaultCalibrationProfile().threadScaling!.parallelFraction).toBe(0);
    expect((await serialAt(3538, defaultCalibrationProfile())).chosen.estimate.threads).toBe(1);
    // At 3,538 MB (2 vCPUs) 2 threads compute 1 / 1.905 of one thread's time.
    const noScaling = await serialAt(3538, { ...scaled, threadScaling: { ...scaled.threadScaling!, parallelFraction: 0 } });
    expect(noScaling.chosen.estimate.threads).toBe(1);
    expect(plans[3].chosen.estimate.parts.compute / noScaling.chosen.estimate.parts.compute).toBeCloseTo(1 / 1.9047619047619047, 12);
  });

  it('charges each extra thread its memory', () => {
    const ctx = estimateContext(network, workload, { prices: defaultPrices(), calibration: scaled });
    const model = new ConfigModel(ctx, serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' });
    const c = latencyConstants();
    const one = model.requiredMemoryMB(1, 8, 1);
    const perThreadMB = c.kernelThreadMB + (c.kernelThreadBytesPerNeuron * 1024) / 2 ** 20;
    expect(model.requiredMemoryMB(1, 8, 3) - one).toBeGreaterThanOrEqual(Math.floor(2 * perThreadMB * 1.2));
    expect(model.requiredMemoryMB(1, 8, 3) - one).toBeLessThanOrEqual(Math.ceil(2 * perThreadMB * 1.2) + 1);
    expect(model.stage(1, 8, 10240).requiredMemoryMB).toBe(model.requiredMemoryMB(1, 8, 6));
    expect(model.stage(1, 8, 1769).requiredMemoryMB).toBe(one);
  });

  it('gives a plan of stages at several memory sizes the most threads of any, and checks the smaller stage holds them', () => {
    const ctx = estimateContext(network, workload, { prices: defaultPrices(), calibration: scaled });
    const model = new ConfigModel(ctx, serialStats(network), { workers: 1, channel: 'none', launch: { kind: 'task' }, workflowType: 'STANDARD' });
    const mixed = model.plan([{ firstLayer: 1, lastLayer: 4, memoryMB: 1769 }, { firstLayer: 5, lastLayer: 8, memoryMB: 5307 }]);
    expect(mixed.stages.map((s) => s.threads)).toEqual([1, 3]);
    expect(mixed.threads).toBe(3);
    expect(mixed.feasible).toBe(true);
    const need = model.requiredMemoryMB(1, 4, 3);
    const tight = model.plan([{ firstLayer: 1, lastLayer: 4, memoryMB: need - 1 }, { firstLayer: 5, lastLayer: 8, memoryMB: 5307 }]);
    expect(tight.stages[0].feasible).toBe(true);
    expect(tight.reasons).toEqual([`stage 1-4: a worker needs about ${need} MB with the plan's 3 kernel threads, more than ${need - 1} MB`]);
  });
});
