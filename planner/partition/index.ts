// Entry point of the partitioners: validates the request once and dispatches to a scheme.
// Schemes: block, cyclic, random (baselines, one map for every layer), hypergraph (one map shared
// by all layers, multilevel km1 hypergraph partitioning) and hypergraph-layered (a map per layer).

import { UsageError } from '../errors.ts';
import type { SparseNetwork } from '../model/network.ts';
import { blockMap, cyclicMap, randomMap, sharedPartition } from './baseline.ts';
import { partitionLayered } from './layered.ts';
import { partitionShared } from './shared.ts';
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
}

export const DEFAULT_EPSILON = 0.03;

/** Largest number of neurons one worker may own in a layer. */
export function partCapacity(neurons: number, workers: number, epsilon: number): number {
  return Math.max(Math.ceil(neurons / workers), Math.floor(((1 + epsilon) * neurons) / workers + 1e-9));
}

export function isPartitionScheme(name: string): name is PartitionScheme {
  return (PARTITION_SCHEMES as readonly string[]).includes(name);
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
  const layers = network.layers.length;
  switch (scheme) {
    case 'block': return sharedPartition(blockMap(n, workers), layers, scheme);
    case 'cyclic': return sharedPartition(cyclicMap(n, workers), layers, scheme);
    case 'random': return sharedPartition(randomMap(n, workers, seed), layers, scheme);
    case 'hypergraph':
    case 'hypergraph-layered': {
      const capacity = partCapacity(n, workers, epsilon);
      const layered = scheme === 'hypergraph-layered';
      // Progress: the shared map's seeds first, then (layered) the chain's rounds.
      const sharedSteps = 2;
      // More V-cycles pay off where each is cheap (few workers); elsewhere one keeps a case near 10 s.
      const layeredRounds = workers <= 16 ? 3 : 1;
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
      const maps: NeuronMap[] = [];
      for (let l = 0; l <= layers; l++) maps.push({ workers, owner: chain.owners.subarray(l * n, (l + 1) * n) });
      return { workers, maps, scheme };
    }
    default:
      throw new UsageError(`unknown partition scheme '${String(scheme)}' (known: ${PARTITION_SCHEMES.join(', ')})`, { field: 'scheme' });
  }
}
