// The 'hypergraph' scheme: one neuron -> worker map shared by the inputs and every layer, found
// by multilevel km1 refinement of the column-net hypergraph (see hypergraph.ts) from several
// cyclic-family seeds; the best result wins, so it is never worse than cyclic.
//
// Why our own partitioner: no maintained npm package partitions hypergraphs (the registry has
// nothing like KaHyPar, PaToH or hMETIS, natively or in wasm), and we need per-layer balance
// constraints and seeded V-cycles that general tools do not offer anyway.

import type { SparseNetwork } from '../../model/network.ts';
import { blockMap, cyclicMap, foldedCyclicMap } from './baseline.ts';
import { connectivityCut, sharedHypergraph, type Hypergraph } from './hypergraph.ts';
import { vCycle, type VCycleOptions } from './multilevel.ts';
import type { NeuronMap } from './types.ts';
import { sharedMapRowSends } from './volume.ts';

export interface SharedOptions {
  readonly seed: number;
  /** neurons one worker may own */
  readonly capacity: number;
  /** seeds refined by a V-cycle, best seeds first (default 2 up to 32 workers, else 1) */
  readonly refinedSeeds?: number;
  /** effort settings passed to every V-cycle (defaults: multilevel.ts) */
  readonly effort?: Pick<VCycleOptions, 'passes' | 'finePasses' | 'swapCandidates' | 'swapTargets'>;
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
  // On the real 1024 x 120 network it won only at P <= 32 (P = 5, 9, 17, 18, 26, 28, by 0.5-1.5%)
  // and above 32 it only doubled the time (P = 38: 10.3 s against 4.6 s), so it stops there.
  const seedsToRefine = options.refinedSeeds ?? (workers <= 32 ? 2 : 1);
  let refined = 1;
  while (refined < Math.min(seeds.length, seedsToRefine) && seeds[refined].cut <= 1.3 * seeds[0].cut) refined++;
  if (workers > 1) {
    for (let i = 0; i < refined; i++) {
      const result = vCycle(hg, seeds[i].owner, { ...options.effort, workers, capacity, seed: options.seed + i });
      if (result.cut < best.cut) best = { owner: result.part, cut: result.cut, name: seeds[i].name };
      options.onProgress?.(i + 1, refined);
    }
  }
  return { map: { workers, owner: best.owner }, seedName: best.name, rowSends: best.cut };
}

/**
 * Pins of the shared hypergraph above which it is built from a sample of layers: a V-cycle costs
 * about 3-4 s per million pins on 64 workers when the layers look random to each other, and the
 * real 1024 x 120 network (4.1 M pins) stays exact.
 */
export const DEFAULT_PIN_BUDGET = 6_000_000;

/** Upper bound of the pins of the column-net hypergraph (shared or layered): nonzeros + N per layer. */
export function hypergraphPinBound(network: SparseNetwork): number {
  let pins = 0;
  for (const layer of network.layers) pins += layer.outputStart[network.neurons] + network.neurons;
  return pins;
}

/**
 * 0-based layers of an evenly spaced sample whose hypergraph fits `pinBudget`: the first layer
 * always, then every (L / s)-th. The whole network when it fits.
 */
export function sampleLayers(network: SparseNetwork, pinBudget: number): number[] {
  const layers = network.layers.length;
  const pins = hypergraphPinBound(network);
  const count = pins <= pinBudget ? layers : Math.max(1, Math.min(layers, Math.floor((pinBudget * layers) / pins)));
  return Array.from({ length: count }, (_, i) => Math.floor((i * layers) / count));
}

export interface SampledResult extends SharedResult {
  /** 0-based layers the hypergraph was built from (every layer when not sampled) */
  readonly sampledLayers: readonly number[];
  /** exact row-sends of the returned map over every layer */
  readonly exactRowSends: number;
  /** the candidate that won the exact comparison: 'sampled' (the refined map), a seed's name, or 'block' */
  readonly winner: string;
}

/** Cheaper V-cycles for sampled hypergraphs, whose size the budget already bounds. */
const SAMPLED_EFFORT = { passes: 2, finePasses: 1, swapCandidates: 8, swapTargets: 1 } as const;

/**
 * The shared map of a network too large for its whole hypergraph: the multilevel partitioner runs
 * on the hypergraph of a layer sample (see sampleLayers), then the refined map, cyclic, the
 * folded-cyclic seeds and block are compared by their exact row-sends over EVERY layer and the
 * least wins (the first, on ties). A map refined on a sample need not help the layers left out
 * (it can undo structure cyclic keeps there), which this comparison catches: the result is never
 * worse than cyclic on the whole network.
 */
export function partitionSharedSampled(network: SparseNetwork, workers: number, options: SharedOptions & { readonly pinBudget: number }): SampledResult {
  const sampledLayers = sampleLayers(network, options.pinBudget);
  const sample: SparseNetwork = { ...network, layers: sampledLayers.map((l) => network.layers[l]) };
  const refined = partitionShared(sample, workers, { ...options, refinedSeeds: 1, effort: SAMPLED_EFFORT });
  const candidates: SeedMap[] = [
    { name: 'sampled', owner: refined.map.owner },
    ...cyclicSeeds(network.neurons, workers, options.capacity),
    { name: 'block', owner: blockMap(network.neurons, workers).owner },
  ];
  let best = { name: candidates[0].name, owner: candidates[0].owner, rowSends: sharedMapRowSends(network, candidates[0].owner, workers) };
  for (const c of candidates.slice(1)) {
    const rowSends = sharedMapRowSends(network, c.owner, workers, best.rowSends);
    if (rowSends < best.rowSends) best = { name: c.name, owner: c.owner, rowSends };
  }
  return {
    map: { workers, owner: best.owner },
    seedName: best.name === 'sampled' ? refined.seedName : best.name,
    rowSends: best.rowSends,
    exactRowSends: best.rowSends,
    sampledLayers,
    winner: best.name,
  };
}
