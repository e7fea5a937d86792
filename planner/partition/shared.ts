// The 'hypergraph' scheme: one neuron -> worker map shared by the inputs and every layer, found
// by multilevel km1 refinement of the column-net hypergraph (see hypergraph.ts) from several
// cyclic-family seeds; the best result wins, so it is never worse than cyclic.
//
// Why our own partitioner: no maintained npm package partitions hypergraphs (the registry has
// nothing like KaHyPar, PaToH or hMETIS, natively or in wasm), and we need per-layer balance
// constraints and seeded V-cycles that general tools do not offer anyway.

import type { SparseNetwork } from '../model/network.ts';
import { cyclicMap, foldedCyclicMap } from './baseline.ts';
import { connectivityCut, sharedHypergraph, type Hypergraph } from './hypergraph.ts';
import { vCycle } from './multilevel.ts';
import type { NeuronMap } from './types.ts';

export interface SharedOptions {
  readonly seed: number;
  /** neurons one worker may own */
  readonly capacity: number;
  /** seeds refined by a V-cycle, best seeds first */
  readonly refinedSeeds?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface SeedMap {
  readonly name: string;
  readonly owner: Uint16Array;
}

/**
 * Cyclic and cyclic folded from the next two powers of two above P (see foldedCyclicMap):
 * the network's structure repeats with a power-of-two period, and these keep its groups whole.
 */
export function cyclicSeeds(neurons: number, workers: number, capacity: number): SeedMap[] {
  const seeds: SeedMap[] = [{ name: 'cyclic', owner: cyclicMap(neurons, workers).owner }];
  let modulus = 1;
  while (modulus < workers) modulus *= 2;
  for (let m = modulus; m <= Math.min(neurons, 2 * modulus); m *= 2) {
    if (m % workers === 0) continue; // dealing whole classes round-robin is plain cyclic then
    seeds.push({ name: `folded-${m}`, owner: foldedCyclicMap(neurons, workers, m, capacity).owner });
  }
  return seeds;
}

export interface SharedResult {
  readonly map: NeuronMap;
  /** the seed the winning map was refined from */
  readonly seedName: string;
  readonly rowSends: number;
}

export function partitionShared(network: SparseNetwork, workers: number, options: SharedOptions, hg: Hypergraph = sharedHypergraph(network)): SharedResult {
  const capacity = new Float64Array(1).fill(options.capacity);
  const seeds = cyclicSeeds(network.neurons, workers, options.capacity)
    .map((s) => ({ ...s, cut: connectivityCut(hg, s.owner, workers) }))
    .sort((x, y) => x.cut - y.cut);
  let best = { owner: seeds[0].owner, cut: seeds[0].cut, name: seeds[0].name };
  // A second seed is refined only when it starts close to the best: far-behind seeds rarely win.
  let refined = 1;
  while (refined < Math.min(seeds.length, options.refinedSeeds ?? 2) && seeds[refined].cut <= 1.3 * seeds[0].cut) refined++;
  if (workers > 1) {
    for (let i = 0; i < refined; i++) {
      const result = vCycle(hg, seeds[i].owner, { workers, capacity, seed: options.seed + i });
      if (result.cut < best.cut) best = { owner: result.part, cut: result.cut, name: seeds[i].name };
      options.onProgress?.(i + 1, refined);
    }
  }
  return { map: { workers, owner: best.owner }, seedName: best.name, rowSends: best.cut };
}
