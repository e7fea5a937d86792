// The real GraphChallenge network (1024 neurons x 120 layers, 10,000 inputs): for P in {2, 5, 8}
// a plan is made (hypergraph partition via planner/partition), its shards are cut, encoded and
// loaded back (checked against the plan id, model checksum and worker), and every worker runs its
// own shard with only the rows it is sent; the merged final activations equal serial inference
// bit for bit and the categories equal the truth. One more case gives every layer its own map.
// Missing data fails, never skips. Time: the in-process run does every worker's work one after
// the other, several times serial inference's (each worker merges what it receives), so P = 8
// runs all 10,000 inputs and the other cases the first 2,500 (their truth is the ids below 2,500).

import { beforeAll, describe, expect, it } from 'vitest';
import { networkChecksum } from '../../model/checksum.ts';
import { defaultGraphChallengeDir, graphChallengePaths } from '../../model/graphchallenge.ts';
import { firstRows, type SparseNetwork, type SparseRows } from '../../model/network.ts';
import { SeededRandom } from '../../model/random.ts';
import { buildShards, decodeShard, encodeShard } from '../../model/shard.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { assumedWorkload, defaultCalibrationProfile } from '../../planner/latency/index.ts';
import { searchPlans, type PlanSearchResult } from '../../planner/optimize/index.ts';
import { buildPlan, parsePlan, planNeuronMaps, serializePlan, type Plan } from '../../planner/plan/index.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { runShardsInMemory, type ShardRunResult } from '../../functions/worker/in-memory.ts';
import { loadRealCase } from '../helpers/shared-data.ts';

const paths = graphChallengePaths(defaultGraphChallengeDir());

let network: SparseNetwork;
let inputs: SparseRows;
let truth: number[];
let serial: SerialInferenceResult;

beforeAll(() => {
  ({ network, inputs, truth } = loadRealCase());
  serial = inferSerial(network, inputs);
});

const searches = new Map<number, Promise<PlanSearchResult>>();

/** The plan search for one worker count (partitioning is most of its time: done once per count). */
function search(workers: number): Promise<PlanSearchResult> {
  if (!searches.has(workers)) {
    searches.set(workers, searchPlans(network, assumedWorkload(network, inputs.rows, 0.2, DEFAULT_GATHER_ABOVE_DENSITY), {
      objective: 'cost', scheme: 'hypergraph', seed: 1, workerCounts: [workers], channels: ['queue'], workflowTypes: ['STANDARD'],
      memoryMB: 3008, prices: defaultPrices(), calibration: defaultCalibrationProfile(),
    }));
  }
  return searches.get(workers)!;
}

function planOf(result: PlanSearchResult): Plan {
  const { plan } = buildPlan({
    network, model: { source: 'graphchallenge-tsv', path: paths.weightsDir, generate: null },
    inputs: { source: 'tsv', path: paths.inputs, samples: inputs.rows, seed: null, density: null },
    search: result, objective: 'cost', scheme: 'hypergraph', seed: 1,
    calibration: defaultCalibrationProfile(), calibrationPath: null, version: 'test',
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
  });
  return parsePlan(serializePlan(plan), 'plan.json');
}

/** Inputs of the cases that do not run all 10,000. */
const SUBSET_ROWS = 2500;

/** Cuts the plan's shards, encodes them, loads each back as its worker would, and runs them on the first `rows` inputs. */
function runPlan(plan: Plan, rows: number): ShardRunResult {
  const modelChecksum = networkChecksum(network);
  expect(modelChecksum).toBe(plan.model.checksum.value);
  const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers })
    .map((s, worker) => decodeShard(encodeShard(s), `worker-${worker}.shard`, { planId: plan.planId, modelChecksum, worker, workers: plan.workers }));
  return runShardsInMemory(shards, firstRows(inputs, rows));
}

const bits = (a: Uint32Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The run's final activations are serial inference's first rows, bit for bit, and its categories the truth. */
function expectSerialBits(run: ShardRunResult): void {
  const a = run.activations, b = firstRows(serial.activations, a.rows);
  expect(bits(a.rowStart).equals(bits(b.rowStart))).toBe(true);
  expect(bits(a.columnIndex).equals(bits(b.columnIndex))).toBe(true);
  expect(bits(a.value).equals(bits(b.value))).toBe(true);
  const expected = truth.filter((id) => id < a.rows);
  expect(expected.length).toBeGreaterThan(0);
  expect(run.categories).toEqual(expected);
}

/**
 * A different map for every layer: the hypergraph map with its workers relabeled by another
 * seeded permutation at each layer boundary, so most rows a worker reads come from another worker.
 */
function layerVaryingMaps(map: Uint16Array, workers: number, seed: number): Uint16Array[] {
  const random = new SeededRandom(seed);
  const maps: Uint16Array[] = [];
  while (maps.length < network.layers.length + 1) {
    const relabel = Array.from({ length: workers }, (_, w) => w);
    for (let i = workers - 1; i > 0; i--) {
      const k = random.nextInt(i + 1);
      [relabel[i], relabel[k]] = [relabel[k], relabel[i]];
    }
    const next = map.map((w) => relabel[w]);
    // Consecutive maps always differ.
    if (maps.length === 0 || next.some((w, j) => w !== maps[maps.length - 1][j])) maps.push(next);
  }
  return maps;
}

describe('shards on the real network reproduce serial inference bit for bit', () => {
  it('serial inference finds the truth (the reference)', () => {
    expect(serial.categories).toEqual(truth);
    expect(truth).toHaveLength(337);
  });

  it.each([[2, SUBSET_ROWS], [5, SUBSET_ROWS], [8, 10_000]])('P = %i with the plan\'s hypergraph partition, %i inputs', async (workers, rows) => {
    const plan = planOf(await search(workers));
    expect(plan.workers).toBe(workers);
    const run = runPlan(plan, rows);
    expect(run.activations.rows).toBe(rows);
    expectSerialBits(run);
    expect(run.multiplyAdds).toHaveLength(workers);
    expect(run.sentNonzeros).toBeGreaterThan(0);
  });

  it('P = 5 with a different map for every layer', async () => {
    const result = await search(5);
    const maps = layerVaryingMaps(result.partition!.maps[0].owner, 5, 11);
    const plan = planOf({ ...result, partition: { workers: 5, scheme: 'layer-varying (test)', maps: maps.map((owner) => ({ workers: 5, owner })) } });
    const decoded = planNeuronMaps(plan);
    for (let l = 1; l < decoded.length; l++) expect(decoded[l].some((w, j) => w !== decoded[l - 1][j]), `map ${l} differs from map ${l - 1}`).toBe(true);
    expectSerialBits(runPlan(plan, SUBSET_ROWS));
  });
});
