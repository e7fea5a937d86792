// The simple neuron -> worker maps the hypergraph partitioners are measured against (and start
// from): contiguous blocks, round-robin (cyclic) and a seeded random balanced assignment. Each is
// one map shared by the inputs and every layer.

import { SeededRandom } from '../../model/random.ts';
import type { LayerPartition, NeuronMap } from './types.ts';

/** Neuron j -> floor(j * P / N): contiguous ranges whose sizes differ by at most one. */
export function blockMap(neurons: number, workers: number): NeuronMap {
  const owner = new Uint16Array(neurons);
  for (let j = 0; j < neurons; j++) owner[j] = Math.floor((j * workers) / neurons);
  return { workers, owner };
}

/** Neuron j -> j mod P. */
export function cyclicMap(neurons: number, workers: number): NeuronMap {
  const owner = new Uint16Array(neurons);
  for (let j = 0; j < neurons; j++) owner[j] = j % workers;
  return { workers, owner };
}

/** A seeded random permutation dealt round-robin: random but as balanced as cyclic. */
export function randomMap(neurons: number, workers: number, seed: number): NeuronMap {
  const order = new SeededRandom(seed).permutation(neurons);
  const owner = new Uint16Array(neurons);
  for (let i = 0; i < neurons; i++) owner[order[i]] = i % workers;
  return { workers, owner };
}

/** The same map for the inputs and all `layers` layers (the arrays are shared, not copied). */
export function sharedPartition(map: NeuronMap, layers: number, scheme: string): LayerPartition {
  return { workers: map.workers, maps: Array.from({ length: layers + 1 }, () => map), scheme };
}

/**
 * Cyclic modulo a larger `modulus` Q, folded onto P workers: residue classes (j mod Q) are dealt
 * whole to workers round-robin while they fit `capacity`; a class that does not fit is halved
 * (the classes of j mod 2Q) and the halves go to the least loaded workers with room, and so on
 * down to single neurons. When P does not divide the network's structure (e.g. 62 workers on a
 * radix-64 network), keeping classes whole keeps each worker's neurons reading the same inputs,
 * which plain cyclic modulo P does not.
 */
export function foldedCyclicMap(neurons: number, workers: number, modulus: number, capacity: number): NeuronMap {
  const owner = new Uint16Array(neurons);
  const load = new Float64Array(workers);
  const sizeOf = (m: number, r: number) => (r < neurons ? Math.floor((neurons - 1 - r) / m) + 1 : 0);
  const assign = (m: number, r: number, w: number) => {
    for (let j = r; j < neurons; j += m) owner[j] = w;
    load[w] += sizeOf(m, r);
  };
  // Classes still to place, as (modulus, residue), in dealing order.
  let pending: [number, number][] = [];
  for (let r = 0; r < modulus; r++) {
    const w = r % workers;
    const size = sizeOf(modulus, r);
    if (load[w] + size <= capacity) assign(modulus, r, w);
    else pending.push([modulus, r]);
  }
  while (pending.length > 0) {
    const next: [number, number][] = [];
    for (const [m, r] of pending) {
      const size = sizeOf(m, r);
      let best = -1;
      for (let w = 0; w < workers; w++) if (load[w] + size <= capacity && (best < 0 || load[w] < load[best])) best = w;
      if (best >= 0 || size <= 1) {
        if (best < 0) { best = 0; for (let w = 1; w < workers; w++) if (load[w] < load[best]) best = w; }
        assign(m, r, best);
      } else {
        next.push([2 * m, r], [2 * m, r + m]);
      }
    }
    pending = next;
  }
  return { workers, owner };
}
