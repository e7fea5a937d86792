// Coarsening for the multilevel partitioner: cluster strongly connected vertices (heavy-net
// rating), then contract the clusters into a smaller hypergraph whose km1 cut equals the fine cut
// of any partition that keeps clusters whole. Clusters never mix balance constraints (layers) or
// parts of the seed partition, so the seed projects exactly onto every level (a V-cycle).

import type { SeededRandom } from '../../model/random.ts';
import { withIncidence, type Hypergraph } from './hypergraph.ts';

export interface Clustering {
  /** cluster (coarse vertex) of every fine vertex */
  readonly clusterOf: Uint32Array;
  readonly clusters: number;
}

export interface ClusterOptions {
  /** no cluster may weigh more (neurons) */
  readonly maxWeight: number;
  /** nets larger than this are ignored when rating (they say little and cost much) */
  readonly maxNetSize: number;
  readonly random: SeededRandom;
  /** match vertices in pairs (heavy-net matching) instead of letting clusters grow in one pass */
  readonly pairsOnly?: boolean;
}

/**
 * One pass of heavy-net clustering: every vertex, in random order, joins the neighbouring vertex
 * or cluster with the highest rating sum(w(e) / (|e| - 1)) per unit of cluster weight, among
 * those of the same constraint and seed part that stay under `maxWeight`.
 */
export function clusterVertices(hg: Hypergraph, seedPart: ArrayLike<number>, options: ClusterOptions): Clustering {
  const v = hg.vertices;
  const clusterOf = new Int32Array(v).fill(-1);
  const clusterWeight = new Uint32Array(v);
  const clusterRep = new Uint32Array(v);
  const rating = new Float64Array(v);
  const touched = new Uint32Array(v);
  let clusters = 0;
  const order = options.random.permutation(v);
  const pairsOnly = options.pairsOnly ?? false;
  const repOf = (x: number) => (clusterOf[x] >= 0 ? clusterRep[clusterOf[x]] : x);
  for (let oi = 0; oi < v; oi++) {
    const u = order[oi];
    if (clusterOf[u] >= 0) continue;
    const uConstraint = hg.constraint[u];
    const uPart = seedPart[u];
    const uWeight = hg.vertexWeight[u];
    let touchedCount = 0;
    for (let i = hg.vertexStart[u]; i < hg.vertexStart[u + 1]; i++) {
      const e = hg.incidentNets[i];
      const size = hg.netStart[e + 1] - hg.netStart[e];
      if (size > options.maxNetSize) continue;
      const w = hg.netWeight[e] / (size - 1);
      for (let p = hg.netStart[e]; p < hg.netStart[e + 1]; p++) {
        const x = hg.pins[p];
        if (x === u || hg.constraint[x] !== uConstraint || seedPart[x] !== uPart) continue;
        const r = repOf(x);
        if (rating[r] === 0) touched[touchedCount++] = r;
        rating[r] += w;
      }
    }
    let best = -1;
    let bestScore = 0;
    for (let t = 0; t < touchedCount; t++) {
      const r = touched[t];
      const weight = clusterOf[r] >= 0 ? clusterWeight[clusterOf[r]] : hg.vertexWeight[r];
      if (weight + uWeight <= options.maxWeight && !(pairsOnly && clusterOf[r] >= 0)) {
        const score = rating[r] / weight;
        if (score > bestScore) { bestScore = score; best = r; }
      }
      rating[r] = 0;
    }
    if (best < 0) {
      clusterRep[clusters] = u;
      clusterWeight[clusters] = uWeight;
      clusterOf[u] = clusters++;
    } else if (clusterOf[best] >= 0) {
      clusterOf[u] = clusterOf[best];
      clusterWeight[clusterOf[u]] += uWeight;
    } else {
      clusterRep[clusters] = best;
      clusterWeight[clusters] = uWeight + hg.vertexWeight[best];
      clusterOf[best] = clusters;
      clusterOf[u] = clusters++;
    }
  }
  return { clusterOf: new Uint32Array(clusterOf.buffer), clusters };
}

/** Contracts clusters into vertices; drops nets left on one vertex and merges identical nets. */
export function contract(hg: Hypergraph, clustering: Clustering): Hypergraph {
  const { clusterOf, clusters } = clustering;
  const vertexWeight = new Uint32Array(clusters);
  const constraint = new Uint32Array(clusters);
  for (let x = 0; x < hg.vertices; x++) {
    vertexWeight[clusterOf[x]] += hg.vertexWeight[x];
    constraint[clusterOf[x]] = hg.constraint[x];
  }
  const netStart = new Uint32Array(hg.nets + 1);
  const pins = new Uint32Array(hg.netStart[hg.nets]);
  const netWeight = new Uint32Array(hg.nets);
  const seen = new Int32Array(clusters).fill(-1);
  // identical nets: hash -> first net of the chain; nextSame links nets with the same hash
  const firstWithHash = new Map<number, number>();
  const nextSame = new Int32Array(hg.nets).fill(-1);
  let nets = 0;
  let at = 0;
  for (let e = 0; e < hg.nets; e++) {
    const start = at;
    for (let i = hg.netStart[e]; i < hg.netStart[e + 1]; i++) {
      const c = clusterOf[hg.pins[i]];
      if (seen[c] !== e) { seen[c] = e; pins[at++] = c; }
    }
    const size = at - start;
    if (size < 2) { at = start; continue; }
    const own = pins.subarray(start, at);
    own.sort();
    let hash = size | 0;
    for (let i = 0; i < size; i++) hash = (Math.imul(hash ^ own[i], 0x9e3779b1) + 0x7f4a7c15) | 0;
    let same = firstWithHash.get(hash);
    let merged = false;
    while (same !== undefined && same >= 0) {
      const otherStart = netStart[same];
      if (netStart[same + 1] - otherStart === size) {
        let equal = true;
        for (let i = 0; i < size; i++) if (pins[otherStart + i] !== own[i]) { equal = false; break; }
        if (equal) { netWeight[same] += hg.netWeight[e]; merged = true; break; }
      }
      same = nextSame[same];
    }
    if (merged) { at = start; continue; }
    netWeight[nets] = hg.netWeight[e];
    const head = firstWithHash.get(hash);
    nextSame[nets] = head === undefined ? -1 : head;
    firstWithHash.set(hash, nets);
    netStart[++nets] = at;
  }
  return withIncidence(
    clusters,
    netStart.slice(0, nets + 1),
    pins.slice(0, at),
    netWeight.slice(0, nets),
    vertexWeight,
    constraint,
    hg.constraints,
  );
}
