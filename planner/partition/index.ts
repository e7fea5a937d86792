// Entry point of the partitioners: validates the request once and dispatches to a scheme.
// Schemes: block, cyclic, random (baselines, one map for every layer), hypergraph (one map shared
// by all layers, multilevel km1 hypergraph partitioning) and hypergraph-layered (a map per layer).

import { UsageError } from '../../model/errors.ts';
import type { SparseNetwork } from '../../model/network.ts';
import { blockMap, cyclicMap, randomMap, sharedPartition } from './baseline.ts';
import { partitionLayered } from './layered.ts';
import { DEFAULT_PIN_BUDGET, hypergraphPinBound, partitionShared, partitionSharedSampled } from './shared.ts';
import type { LayerPartition, NeuronMap } from './types.ts';

export type { LayerPartition, NeuronMap } from './types.ts';
export { communicationVolume, estimateBytes, type LayerVolume, type PartitionVolume } from './volume.ts';

export type PartitionScheme = 'block' | 'cyclic' | 'random' | 'hypergraph' | 'hypergraph-layered';

export const PARTITION_SCHEMES: readonly PartitionScheme[] = ['block', 'cyclic', 'random', 'hypergraph', 'hypergraph-layered'];

export interface PartitionOptions {
  /** Seed of every random choice. Default 1. */
  readonly seed?: number;
  /** Allowed imbalance per layer: at most max(ceil(N/P), floor((1 + epsilon) N / P)) neurons per worker. Default 0.03. */
  readonly epsilon?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Pins (nonzeros + N per layer) of the largest hypergraph partitioned whole. Above it,
   * 'hypergraph' optimizes its map on an evenly spaced sample of layers (reported in
   * `sampledLayers` and `note`) and keeps the best of that, cyclic and block by exact volume over
   * every layer; 'hypergraph-layered' starts its chain from that sampled map.
   * Default DEFAULT_PIN_BUDGET (6 M: the real 1024 x 120 network is partitioned whole).
   */
  readonly pinBudget?: number;
  /**
   * Pins above which 'hypergraph-layered' refuses (UsageError) rather than run for many minutes.
   * Default DEFAULT_LAYERED_PIN_LIMIT: 40 M; measured here, 4096 x 120 (16 M pins) at P = 8 took
   * 91 s and cut cyclic's 3,178,159 row-sends to 191,512.
   */
  readonly layeredPinLimit?: number;
}

export { DEFAULT_PIN_BUDGET } from './shared.ts';

export const DEFAULT_LAYERED_PIN_LIMIT = 40_000_000;

export const DEFAULT_EPSILON = 0.03;

/** Largest number of neurons one worker may own in a layer. */
export function partCapacity(neurons: number, workers: number, epsilon: number): number {
  return Math.max(Math.ceil(neurons / workers), Math.floor(((1 + epsilon) * neurons) / workers + 1e-9));
}

const millions = (x: number) => (x / 1e6).toFixed(1);

export function isPartitionScheme(name: string): name is PartitionScheme {
  return (PARTITION_SCHEMES as readonly string[]).includes(name);
}

/** Per-layer maps as views into the chain's one owner buffer (layer l at [l * n, (l + 1) * n)). */
function chainPartition(owners: Uint16Array, n: number, layers: number, workers: number, scheme: PartitionScheme): LayerPartition {
  const maps: NeuronMap[] = [];
  for (let l = 0; l <= layers; l++) maps.push({ workers, owner: owners.subarray(l * n, (l + 1) * n) });
  return { workers, maps, scheme };
}

export function partitionNetwork(
  network: SparseNetwork,
  workers: number,
  scheme: PartitionScheme,
  options: PartitionOptions = {},
): LayerPartition {
  const n = network.neurons;
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`workers must be an integer >= 1, got ${workers}`, { field: 'workers' });
  if (workers > n) throw new UsageError(`workers (${workers}) must not exceed the network's ${n} neurons`, { field: 'workers' });
  if (workers > 65535) throw new UsageError(`workers must be at most 65535 (owners are 16-bit), got ${workers}`, { field: 'workers' });
  const epsilon = options.epsilon ?? DEFAULT_EPSILON;
  if (!(epsilon >= 0 && epsilon < 1)) throw new UsageError(`epsilon must be in [0, 1), got ${epsilon}`, { field: 'epsilon' });
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new UsageError(`seed must be an integer, got ${seed}`, { field: 'seed' });
  const pinBudget = options.pinBudget ?? DEFAULT_PIN_BUDGET;
  if (!(pinBudget > 0)) throw new UsageError(`pinBudget must be a number > 0, got ${pinBudget}`, { field: 'pinBudget' });
  const layeredPinLimit = options.layeredPinLimit ?? DEFAULT_LAYERED_PIN_LIMIT;
  if (!(layeredPinLimit > 0)) throw new UsageError(`layeredPinLimit must be a number > 0, got ${layeredPinLimit}`, { field: 'layeredPinLimit' });
  const layers = network.layers.length;
  switch (scheme) {
    case 'block': return sharedPartition(blockMap(n, workers), layers, scheme);
    case 'cyclic': return sharedPartition(cyclicMap(n, workers), layers, scheme);
    case 'random': return sharedPartition(randomMap(n, workers, seed), layers, scheme);
    case 'hypergraph':
    case 'hypergraph-layered': {
      const capacity = partCapacity(n, workers, epsilon);
      const layered = scheme === 'hypergraph-layered';
      const pins = hypergraphPinBound(network);
      if (layered && pins > layeredPinLimit) {
        throw new UsageError(
          `hypergraph-layered would run for many minutes on a ${n} x ${layers} network: its hypergraph has ${millions(pins)} M pins `
          + `(${layers + 1} x ${n} vertices), over the ${millions(layeredPinLimit)} M-pin limit. Use 'hypergraph' (one shared map, optimized on a sample of layers at this size) or 'cyclic'.`,
          { field: 'scheme' },
        );
      }
      if (pins > pinBudget) {
        const sampled = partitionSharedSampled(network, workers, {
          seed, capacity, pinBudget, onProgress: (done, of) => options.onProgress?.(done, of + (layered ? 2 : 1)),
        });
        const used = sampled.sampledLayers.map((l) => l + 1);
        const note = `${layered ? 'starting ' : ''}map optimized on ${used.length} of ${layers} layers (${used.join(', ')}; the hypergraph of all ${layers} has ${millions(pins)} M pins, over the ${millions(pinBudget)} M budget); `
          + `the winner by exact volume over all layers was ${sampled.winner === 'sampled' ? 'the sampled refinement' : sampled.winner} (${sampled.exactRowSends} row-sends)`;
        if (!layered) {
          options.onProgress?.(1, 1);
          return { ...sharedPartition(sampled.map, layers, scheme), sampledLayers: used, note };
        }
        const chain = partitionLayered(network, workers, sampled.map.owner, { seed, capacity, rounds: 1 });
        options.onProgress?.(1, 1);
        return { ...chainPartition(chain.owners, n, layers, workers, scheme), sampledLayers: used, note };
      }
      // Progress: the shared map's seeds first, then (layered) the chain's rounds.
      const sharedSteps = 2;
      // More V-cycles pay off where each is cheap (few workers); fewer keep every real-network case
      // under 10 s here (P = 9..16 with 3 rounds took 9-12 s for about 1% less volume).
      const layeredRounds = workers <= 8 ? 3 : workers <= 16 ? 2 : 1;
      const total = sharedSteps + (layered ? layeredRounds : 0);
      const shared = partitionShared(network, workers, {
        seed, capacity, onProgress: (done, of) => options.onProgress?.(Math.round((done / of) * sharedSteps), total),
      });
      options.onProgress?.(sharedSteps, total);
      if (!layered) return sharedPartition(shared.map, layers, scheme);
      const chain = partitionLayered(network, workers, shared.map.owner, {
        seed, capacity, rounds: layeredRounds, onProgress: (done) => options.onProgress?.(sharedSteps + done, total),
      });
      options.onProgress?.(total, total);
      return chainPartition(chain.owners, n, layers, workers, scheme);
    }
    default:
      throw new UsageError(`unknown partition scheme '${String(scheme)}' (known: ${PARTITION_SCHEMES.join(', ')})`, { field: 'scheme' });
  }
}
