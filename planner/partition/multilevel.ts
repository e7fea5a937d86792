// The multilevel V-cycle: coarsen the hypergraph inside the parts of a seed partition, then
// refine from the coarsest level back to the finest, projecting the partition down each level.
// Starting from a seed (cyclic and its relatives) guarantees the result is never worse than the
// seed, and coarse levels move whole groups of neurons that single-neuron moves cannot.
// Written here because npm has no maintained hypergraph partitioner (no KaHyPar/PaToH/hMETIS port)
// and none would offer per-layer balance constraints or seeded V-cycles.

import { SeededRandom } from '../../model/random.ts';
import { clusterVertices, contract } from './coarsen.ts';
import type { Hypergraph } from './hypergraph.ts';
import { Km1State, refinePartition } from './refine.ts';


export interface VCycleOptions {
  readonly workers: number;
  /** neurons a part may hold, per constraint */
  readonly capacity: Float64Array;
  readonly seed: number;
  /** refinement passes per level */
  readonly passes?: number;
  readonly swapCandidates?: number;
  readonly swapTargets?: number;
  /** refinement passes on the finest level (the most expensive) */
  readonly finePasses?: number;
  /** a level's refinement stops when a pass gains less than this fraction of the cut */
  readonly minRelativePassGain?: number;
  /** coarsening stops when a level shrinks by less than this factor */
  readonly minShrink?: number;
  /** the heaviest cluster, in neurons */
  readonly maxClusterWeight?: number;
  readonly maxNetSize?: number;
  /** heavy-net matching (pairs) rather than one-pass clustering; default true */
  readonly pairsOnly?: boolean;
  readonly onLevel?: (level: number, levels: number, detail: { vertices: number; nets: number; cutBefore: number; cut: number }) => void;
}

/**
 * Coarse levels kept between V-cycles on the same hypergraph. A cached level is reused when every
 * one of its clusters still lies inside one part of the new seed, which saves most of the
 * coarsening time of repeated cycles (the fine groups rarely split).
 */
export interface HierarchyCache {
  levels: { clusterOf: Uint32Array; coarse: Hypergraph }[];
}

export function newHierarchyCache(): HierarchyCache {
  return { levels: [] };
}

function clustersRespect(clusterOf: Uint32Array, part: Uint16Array, clusters: number): boolean {
  const partOf = new Int32Array(clusters).fill(-1);
  for (let v = 0; v < clusterOf.length; v++) {
    const c = clusterOf[v];
    if (partOf[c] < 0) partOf[c] = part[v];
    else if (partOf[c] !== part[v]) return false;
  }
  return true;
}

export interface VCycleResult {
  readonly part: Uint16Array;
  readonly cut: number;
  readonly levels: number;
}

/** One V-cycle from `seedPart` (length hg.vertices); returns a partition with cut <= the seed's. */
export function vCycle(hg: Hypergraph, seedPart: Uint16Array, options: VCycleOptions, cache?: HierarchyCache): VCycleResult {
  const random = new SeededRandom(options.seed);
  const minShrink = options.minShrink ?? 1.1;
  let maxClusterWeight = options.maxClusterWeight ?? Infinity;
  for (const c of options.capacity) maxClusterWeight = Math.min(maxClusterWeight, c);
  const hierarchy: { hg: Hypergraph; clusterOf: Uint32Array | null }[] = [{ hg, clusterOf: null }];
  const parts: Uint16Array[] = [seedPart.slice()];
  for (;;) {
    const level = hierarchy[hierarchy.length - 1].hg;
    const part = parts[parts.length - 1];
    const depth = hierarchy.length - 1;
    const cached = cache?.levels[depth];
    let clustering: { clusterOf: Uint32Array; clusters: number };
    let coarse: Hypergraph;
    if (cached && clustersRespect(cached.clusterOf, part, cached.coarse.vertices)) {
      clustering = { clusterOf: cached.clusterOf, clusters: cached.coarse.vertices };
      coarse = cached.coarse;
    } else {
      if (cache) cache.levels.length = depth; // deeper levels were built on this one
      clustering = clusterVertices(level, part, {
        maxWeight: maxClusterWeight,
        maxNetSize: options.maxNetSize ?? 1000,
        random,
        pairsOnly: options.pairsOnly ?? true,
      });
      if (clustering.clusters * minShrink > level.vertices) break;
      coarse = contract(level, clustering);
      cache?.levels.push({ clusterOf: clustering.clusterOf, coarse });
    }
    const coarsePart = new Uint16Array(clustering.clusters);
    for (let v = 0; v < level.vertices; v++) coarsePart[clustering.clusterOf[v]] = part[v];
    hierarchy[hierarchy.length - 1].clusterOf = clustering.clusterOf;
    hierarchy.push({ hg: coarse, clusterOf: null });
    parts.push(coarsePart);
  }
  const levels = hierarchy.length;
  let part = parts[levels - 1];
  let cut = 0;
  for (let level = levels - 1; level >= 0; level--) {
    const state = new Km1State(hierarchy[level].hg, part, options.workers, options.capacity);
    const cutBefore = state.cut;
    // Coarse levels are cheap and where whole groups move: search them longer.
    const passes = level === 0 ? (options.finePasses ?? 2) : (options.passes ?? 12);
    const refine = { passes, swapCandidates: options.swapCandidates ?? 24, swapTargets: options.swapTargets ?? 3, random, minPassGain: 0, minRelativePassGain: options.minRelativePassGain ?? 0.002 };
    refinePartition(state, refine);
    cut = state.cut;
    options.onLevel?.(levels - level, levels, { vertices: hierarchy[level].hg.vertices, nets: hierarchy[level].hg.nets, cutBefore, cut });
    if (level > 0) {
      const finer = hierarchy[level - 1];
      const clusterOf = finer.clusterOf!;
      const fine = new Uint16Array(finer.hg.vertices);
      for (let v = 0; v < fine.length; v++) fine[v] = part[clusterOf[v]];
      part = fine;
    }
  }
  return { part, cut, levels };
}
