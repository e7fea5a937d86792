// Layer-varying maps: every layer boundary gets its own neuron -> worker map, so layer l's
// outputs can sit where its inputs are and where layer l + 1 will need them. The maps form a chain
// (map l is layer l's output map and layer l + 1's input map), optimized as one layered
// hypergraph with a balance constraint per layer, plus an exact per-layer renaming of parts
// (a renaming of maps l..L changes layer l's volume alone: an assignment problem).

import { fillInputMajorIndex, type SparseNetwork } from '../../model/network.ts';
import { minCostAssignment } from './assignment.ts';
import { connectivityCut, layeredHypergraph } from './hypergraph.ts';
import { newHierarchyCache, vCycle } from './multilevel.ts';

/** Reusable input-major index of one layer (outputs each input feeds), without weights. */
export class InputMajorScratch {
  readonly inputStart: Uint32Array;
  readonly outputIndex: Uint32Array;
  private readonly cursor: Uint32Array;
  constructor(network: SparseNetwork) {
    const n = network.neurons;
    let maxNnz = 0;
    for (const layer of network.layers) maxNnz = Math.max(maxNnz, layer.outputStart[n]);
    this.inputStart = new Uint32Array(n + 1);
    this.outputIndex = new Uint32Array(maxNnz);
    this.cursor = new Uint32Array(n);
  }

  /** Fills the index for layer l (0-based array position). */
  load(network: SparseNetwork, l: number): void {
    fillInputMajorIndex(network.layers[l], this.inputStart, this.outputIndex, this.cursor);
  }
}

/**
 * Renames the parts of maps 1..L (stored back to back in `owners`, boundary l at l * N) so that
 * every layer's volume is the least any renaming reaches given the maps before it. Returns the
 * row-sends saved.
 */
export function relabelChain(network: SparseNetwork, owners: Uint16Array, workers: number, scratch = new InputMajorScratch(network)): number {
  const n = network.neurons;
  const p = workers;
  const together = new Float64Array(p * p); // together[source * p + target]: nets from source touching target
  const cost = new Float64Array(p * p);
  const seen = new Int32Array(p).fill(-1);
  let cumulative = new Uint16Array(p);
  for (let w = 0; w < p; w++) cumulative[w] = w;
  let saved = 0;
  for (let l = 1; l <= network.layers.length; l++) {
    const map = owners.subarray(l * n, (l + 1) * n);
    for (let j = 0; j < n; j++) map[j] = cumulative[map[j]];
    const sources = owners.subarray((l - 1) * n, l * n);
    scratch.load(network, l - 1);
    together.fill(0);
    for (let k = 0; k < n; k++) {
      const source = sources[k];
      for (let i = scratch.inputStart[k]; i < scratch.inputStart[k + 1]; i++) {
        const target = map[scratch.outputIndex[i]];
        if (seen[target] !== k) { seen[target] = k; together[source * p + target]++; }
      }
      for (let i = scratch.inputStart[k]; i < scratch.inputStart[k + 1]; i++) seen[map[scratch.outputIndex[i]]] = -1;
    }
    // rename target part a to source label rename[a]; gain = together[rename[a]][a]
    for (let a = 0; a < p; a++) for (let s = 0; s < p; s++) cost[a * p + s] = -together[s * p + a];
    const rename = minCostAssignment(cost, p);
    let before = 0;
    let after = 0;
    for (let a = 0; a < p; a++) { before += together[a * p + a]; after += together[rename[a] * p + a]; }
    if (after <= before) continue; // keep labels unless the renaming strictly helps
    saved += after - before;
    for (let j = 0; j < n; j++) map[j] = rename[map[j]];
    const next = new Uint16Array(p);
    for (let w = 0; w < p; w++) next[w] = rename[cumulative[w]];
    cumulative = next;
  }
  return saved;
}

export interface LayeredOptions {
  readonly seed: number;
  /** neurons one worker may own in any one layer */
  readonly capacity: number;
  /** V-cycles over the layered hypergraph (each preceded by a chain renaming); stops early when one gains < 0.5% */
  readonly rounds?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface LayeredResult {
  /** maps[l] of every boundary l = 0..L, back to back: owners[l * N + j] */
  readonly owners: Uint16Array;
  readonly rowSends: number;
}

/** Refines `start` (a shared map, or any maps) into layer-varying maps; never returns a worse cut. */
export function partitionLayered(network: SparseNetwork, workers: number, start: Uint16Array, options: LayeredOptions): LayeredResult {
  const n = network.neurons;
  const boundaries = network.layers.length + 1;
  const hg = layeredHypergraph(network);
  let owners: Uint16Array = new Uint16Array(boundaries * n);
  if (start.length === n) for (let l = 0; l < boundaries; l++) owners.set(start, l * n);
  else owners.set(start);
  const capacity = new Float64Array(boundaries).fill(options.capacity);
  const scratch = new InputMajorScratch(network);
  const cache = newHierarchyCache();
  let cut = connectivityCut(hg, owners, workers);
  const rounds = options.rounds ?? 3;
  for (let round = 0; round < rounds && workers > 1; round++) {
    const candidate = owners.slice();
    relabelChain(network, candidate, workers, scratch);
    const result = vCycle(hg, candidate, { workers, capacity, seed: options.seed + 101 * round }, cache);
    options.onProgress?.(round + 1, rounds);
    if (result.cut >= cut) break;
    const gained = cut - result.cut;
    owners = result.part;
    cut = result.cut;
    if (gained < 0.005 * cut) break;
  }
  return { owners, rowSends: cut };
}
