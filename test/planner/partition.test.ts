// Partitioners and the communication-volume metric: exact values on hand-made networks and on
// the real GraphChallenge 1024 x 120 network (which must be present: these tests never skip).

import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../model/errors.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import {
  defaultGraphChallengeDir, graphChallengeDataPresent, graphChallengePaths, readGraphChallengeNetwork,
} from '../../model/graphchallenge.ts';
import type { SparseLayer, SparseNetwork } from '../../model/network.ts';
import {
  communicationVolume, estimateBytes, partCapacity, partitionNetwork, PARTITION_SCHEMES,
  type LayerPartition, type NeuronMap,
} from '../../planner/partition/index.ts';
import { minCostAssignment } from '../../planner/partition/assignment.ts';
import { foldedCyclicMap } from '../../planner/partition/baseline.ts';
import { connectivityCut, layeredHypergraph, sharedHypergraph } from '../../planner/partition/hypergraph.ts';
import { parseWorkerList } from '../../cli/commands/partition.ts';

/** A layer from output -> inputs lists. */
function layerOf(inputsOfOutput: number[][]): SparseLayer {
  const n = inputsOfOutput.length;
  const outputStart = new Uint32Array(n + 1);
  const flat: number[] = [];
  inputsOfOutput.forEach((inputs, j) => { flat.push(...[...inputs].sort((a, b) => a - b)); outputStart[j + 1] = flat.length; });
  return { neurons: n, outputStart, inputIndex: Uint32Array.from(flat), weight: new Float32Array(flat.length).fill(1) };
}

const mapOf = (workers: number, owners: number[]): NeuronMap => ({ workers, owner: Uint16Array.from(owners) });

function ownersOf(partition: LayerPartition): number[][] {
  return partition.maps.map((m) => Array.from(m.owner));
}

function loads(map: NeuronMap): number[] {
  const load = new Array<number>(map.workers).fill(0);
  for (const w of map.owner) load[w]++;
  return load;
}

describe('communicationVolume on hand-made networks', () => {
  // 4 neurons, 2 workers. Output 0 reads {0,1}, 1 reads {0}, 2 reads {2}, 3 reads {3}.
  const network: SparseNetwork = { neurons: 4, layers: [layerOf([[0, 1], [0], [2], [3]])], bias: 0, activationCap: 32 };

  it('counts each (input, foreign target worker) pair once', () => {
    const partition: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [0, 1, 0, 1])] };
    const v = communicationVolume(network, partition);
    // input 0 (worker 0) -> outputs on {0, 1}: 1 send; input 2 (worker 1) -> output on 0: 1 send
    expect(v.totalRowSends).toBe(2);
    expect(Array.from(v.layers[0].sendsByWorker)).toEqual([1, 1]);
    expect(Array.from(v.layers[0].receivesByWorker)).toEqual([1, 1]);
    expect(Array.from(v.layers[0].messagesByWorker)).toEqual([1, 1]);
    expect(v.worstLayer).toBe(1);
    expect(v.maxImbalance).toBe(0);
  });

  it('is zero when every output sits with its inputs, and counts targets not pins', () => {
    const together: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [0, 0, 1, 1])] };
    expect(communicationVolume(network, together).totalRowSends).toBe(0);
    // input 0 feeds outputs 0 and 1, both on worker 1: one send, not two
    const both: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [1, 1, 0, 0])] };
    const v = communicationVolume(network, both);
    expect(v.totalRowSends).toBe(4); // inputs 0, 1 -> worker 1; inputs 2, 3 -> worker 0
    expect(Array.from(v.layers[0].messagesByWorker)).toEqual([1, 1]);
  });

  it('uses the previous layer\'s map for the inputs of each layer', () => {
    // Two identity-like layers over 3 workers: output j reads j and (j + 1) mod 3.
    const ring = layerOf([[0, 1], [1, 2], [2, 0]]);
    const net: SparseNetwork = { neurons: 3, layers: [ring, ring], bias: 0, activationCap: 32 };
    const partition: LayerPartition = {
      workers: 3, scheme: 'test', maps: [mapOf(3, [0, 1, 2]), mapOf(3, [0, 1, 2]), mapOf(3, [1, 2, 0])],
    };
    const v = communicationVolume(net, partition);
    // layer 1: input k feeds outputs k and k - 1: one foreign worker each -> 3
    expect(v.layers[0].rowSends).toBe(3);
    // layer 2: input k (owner k) feeds outputs k, k - 1 owned by k + 1, k: one foreign -> 3
    expect(v.layers[1].rowSends).toBe(3);
    expect(v.totalRowSends).toBe(6);
    expect(Array.from(v.sendsByWorker)).toEqual([2, 2, 2]);
  });

  it('reports imbalance as largest part over average, minus one', () => {
    const partition: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [0, 0, 0, 1])] };
    expect(communicationVolume(network, partition).maxImbalance).toBeCloseTo(0.5);
  });

  it('estimates bytes as row-sends x samples x density x 8', () => {
    const partition: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [0, 1, 0, 1])] };
    const v = communicationVolume(network, partition);
    expect(estimateBytes(v, { samples: 100, activeFraction: 0.25 }).totalBytes).toBe(2 * 100 * 0.25 * 8);
    expect(estimateBytes(v, { samples: 100, activeFractionByLayer: [0.5] }).bytesByLayer).toEqual([2 * 100 * 0.5 * 8]);
    expect(estimateBytes(v, { samples: 10 }).maxWorkerLayerBytes).toBe(10 * 8);
  });

  it('matches the km1 cut of both hypergraph forms', () => {
    const net = generateRadixNetwork({ neurons: 256, layers: 5, seed: 3, bias: 0 });
    const map = foldedCyclicMap(256, 5, 8, partCapacity(256, 5, 0.03));
    const shared: LayerPartition = { workers: 5, scheme: 'test', maps: Array.from({ length: 6 }, () => map) };
    const volume = communicationVolume(net, shared).totalRowSends;
    expect(connectivityCut(sharedHypergraph(net), map.owner, 5)).toBe(volume);
    const owners = new Uint16Array(6 * 256);
    for (let l = 0; l < 6; l++) owners.set(map.owner, l * 256);
    expect(connectivityCut(layeredHypergraph(net), owners, 5)).toBe(volume);
  });

  it('rejects a partition that does not fit the network, naming the field', () => {
    const bad: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1]), mapOf(2, [0, 0, 2, 1])] };
    expect(() => communicationVolume(network, bad)).toThrow(/layer 1, worker 2, field owner/);
    const short: LayerPartition = { workers: 2, scheme: 'test', maps: [mapOf(2, [0, 0, 1, 1])] };
    expect(() => communicationVolume(network, short)).toThrow(/field maps/);
  });
});

describe('partitionNetwork input checks', () => {
  const net = generateRadixNetwork({ neurons: 64, layers: 2, seed: 1, bias: 0 });
  it.each([[0], [-3], [2.5], [65], [Number.NaN]])('rejects %s workers naming the field', (p) => {
    expect(() => partitionNetwork(net, p, 'cyclic')).toThrow(UsageError);
    expect(() => partitionNetwork(net, p, 'hypergraph')).toThrow(/field workers/);
  });
  it('rejects a bad epsilon, seed or scheme', () => {
    expect(() => partitionNetwork(net, 4, 'hypergraph', { epsilon: -0.1 })).toThrow(/field epsilon/);
    expect(() => partitionNetwork(net, 4, 'random', { seed: 1.5 })).toThrow(/field seed/);
    expect(() => partitionNetwork(net, 4, 'metis' as never)).toThrow(/field scheme/);
  });
  it('parses worker lists and ranges for the CLI', () => {
    expect(parseWorkerList('2..4,8')).toEqual([2, 3, 4, 8]);
    expect(() => parseWorkerList('0')).toThrow(/field workers/);
    expect(() => parseWorkerList('4..2')).toThrow(/field workers/);
  });
});

describe('schemes on a synthetic network', () => {
  const net = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 7 });

  it.each(PARTITION_SCHEMES.map((s) => [s]))('%s gives L + 1 maps within capacity', (scheme) => {
    const p = 6;
    const partition = partitionNetwork(net, p, scheme, { seed: 5 });
    expect(partition.maps).toHaveLength(13);
    const capacity = partCapacity(1024, p, 0.03);
    for (const map of partition.maps) expect(Math.max(...loads(map))).toBeLessThanOrEqual(capacity);
  });

  it('is deterministic for a seed', () => {
    for (const scheme of ['random', 'hypergraph', 'hypergraph-layered'] as const) {
      const a = partitionNetwork(net, 12, scheme, { seed: 9 });
      const b = partitionNetwork(net, 12, scheme, { seed: 9 });
      expect(ownersOf(a)).toEqual(ownersOf(b));
    }
  });

  it('orders cyclic >= hypergraph >= hypergraph-layered', () => {
    for (const p of [4, 12]) {
      const cyclic = communicationVolume(net, partitionNetwork(net, p, 'cyclic')).totalRowSends;
      const shared = communicationVolume(net, partitionNetwork(net, p, 'hypergraph')).totalRowSends;
      const layered = communicationVolume(net, partitionNetwork(net, p, 'hypergraph-layered')).totalRowSends;
      expect(shared).toBeLessThanOrEqual(cyclic);
      expect(layered).toBeLessThanOrEqual(shared);
    }
  });

  it('solves assignments exactly', () => {
    // the best of the 6 permutations is 1 + 2 + 2 = 5 (row 0 -> 1, row 1 -> 0, row 2 -> 2)
    const cost = Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]);
    const column = minCostAssignment(cost, 3);
    expect(Array.from(column).reduce((s, c, r) => s + cost[r * 3 + c], 0)).toBe(5);
    expect(Array.from(column)).toEqual([1, 0, 2]);
  });
});

describe('the real GraphChallenge 1024 x 120 network', () => {
  let network: SparseNetwork;
  beforeAll(() => {
    const dir = defaultGraphChallengeDir();
    if (!graphChallengeDataPresent(dir)) {
      throw new Error(`GraphChallenge data missing under ${dir}: these tests need it (set STEPINFER_DATA)`);
    }
    network = readGraphChallengeNetwork(graphChallengePaths(dir).weightsDir);
  });

  it.each([[8, 155_998], [16, 186_238], [32, 212_224], [62, 2_847_694]])('cyclic at P=%i sends %i rows', (p, rows) => {
    expect(communicationVolume(network, partitionNetwork(network, p, 'cyclic')).totalRowSends).toBe(rows);
  });

  // Pinned for the default seed, so a regression fails instead of passing as "still below cyclic".
  // At P = 8, 16, 32 the shared map ties cyclic; at 62 (P does not divide the radix) it is 8.4x below.
  it.each([[8, 155_998, 0], [16, 186_238, 0], [32, 212_224, 0], [62, 337_626, 0.029296875]])(
    'hypergraph at P=%i sends exactly %i rows, never more than cyclic, and is balanced', (p, rows, imbalance) => {
      const cyclic = communicationVolume(network, partitionNetwork(network, p, 'cyclic'));
      const volume = communicationVolume(network, partitionNetwork(network, p, 'hypergraph', { seed: 1 }));
      expect(volume.totalRowSends).toBe(rows);
      expect(volume.maxImbalance).toBe(imbalance);
      expect(volume.totalRowSends).toBeLessThanOrEqual(cyclic.totalRowSends);
      // balance: within epsilon, except where ceil(N / P) alone exceeds it (then exactly that)
      expect(volume.maxImbalance).toBeLessThanOrEqual(Math.max(0.03, Math.ceil(1024 / p) / (1024 / p) - 1) + 1e-9);
    });

  it('layer-varying maps at P=8 send exactly 106,510 rows (cyclic and the best shared map: 155,998)', () => {
    const volume = communicationVolume(network, partitionNetwork(network, 8, 'hypergraph-layered', { seed: 1 }));
    expect(volume.totalRowSends).toBe(106_510);
    expect(volume.maxImbalance).toBe(0);
  });
});
