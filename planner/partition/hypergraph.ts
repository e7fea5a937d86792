// The column-net hypergraphs whose connectivity-minus-one (km1) cut equals the communication
// volume of a network, in the compact CSR form the multilevel partitioner works on.
//
// - shared: one vertex per neuron (the map is the same for every layer); one net per (layer, input
//   neuron k) holding k (its owner sends) and every output k feeds (their owners receive).
// - layered: one vertex per (boundary l = 0..L, neuron), so every layer has its own map; net
//   (l, k) holds vertex (l - 1, k) and the vertices (l, j) of the outputs k feeds. Each vertex is
//   balanced only against its own layer (one balance constraint per layer).

import { fillInputMajorIndex, type SparseNetwork } from '../../model/network.ts';

export interface Hypergraph {
  readonly vertices: number;
  readonly nets: number;
  /** pins of net e: pins[netStart[e] .. netStart[e + 1]), distinct */
  readonly netStart: Uint32Array;
  readonly pins: Uint32Array;
  readonly netWeight: Uint32Array;
  /** nets of vertex v: incidentNets[vertexStart[v] .. vertexStart[v + 1]) */
  readonly vertexStart: Uint32Array;
  readonly incidentNets: Uint32Array;
  /** neurons a vertex stands for (1 on the finest level) */
  readonly vertexWeight: Uint32Array;
  /** the balance constraint (layer boundary) of every vertex; all 0 for a shared map */
  readonly constraint: Uint32Array;
  readonly constraints: number;
}

/** Builds the vertex -> nets incidence from the nets' pin lists. */
export function withIncidence(
  vertices: number,
  netStart: Uint32Array,
  pins: Uint32Array,
  netWeight: Uint32Array,
  vertexWeight: Uint32Array,
  constraint: Uint32Array,
  constraints: number,
): Hypergraph {
  const nets = netStart.length - 1;
  const vertexStart = new Uint32Array(vertices + 1);
  const pinTotal = netStart[nets];
  for (let i = 0; i < pinTotal; i++) vertexStart[pins[i] + 1]++;
  for (let v = 0; v < vertices; v++) vertexStart[v + 1] += vertexStart[v];
  const cursor = vertexStart.slice(0, vertices);
  const incidentNets = new Uint32Array(pinTotal);
  for (let e = 0; e < nets; e++) {
    for (let i = netStart[e]; i < netStart[e + 1]; i++) incidentNets[cursor[pins[i]]++] = e;
  }
  return { vertices, nets, netStart, pins, netWeight, vertexStart, incidentNets, vertexWeight, constraint, constraints };
}

function buildColumnNets(network: SparseNetwork, layered: boolean): Hypergraph {
  const n = network.neurons;
  const layers = network.layers.length;
  let pinBound = 0;
  let maxNnz = 0;
  for (const layer of network.layers) {
    pinBound += layer.outputStart[n] + n;
    maxNnz = Math.max(maxNnz, layer.outputStart[n]);
  }
  const netStart = new Uint32Array(layers * n + 1);
  const pins = new Uint32Array(pinBound);
  const inputStart = new Uint32Array(n + 1);
  const outputIndex = new Uint32Array(maxNnz);
  const cursor = new Uint32Array(n);
  let nets = 0;
  let at = 0;
  for (let l = 0; l < layers; l++) {
    fillInputMajorIndex(network.layers[l], inputStart, outputIndex, cursor);
    const sourceBase = layered ? l * n : 0;
    const outputBase = layered ? (l + 1) * n : 0;
    for (let k = 0; k < n; k++) {
      const first = inputStart[k];
      const last = inputStart[k + 1];
      if (last === first) continue; // k feeds nothing: never sent
      const start = at;
      pins[at++] = sourceBase + k;
      for (let i = first; i < last; i++) {
        const v = outputBase + outputIndex[i];
        if (v !== sourceBase + k) pins[at++] = v; // in a shared map k may feed itself
      }
      if (at - start < 2) { at = start; continue; } // a net on one vertex never costs
      netStart[++nets] = at;
    }
  }
  const vertices = layered ? (layers + 1) * n : n;
  const constraint = new Uint32Array(vertices);
  if (layered) for (let l = 0; l <= layers; l++) constraint.fill(l, l * n, (l + 1) * n);
  return withIncidence(
    vertices,
    netStart.slice(0, nets + 1),
    pins.slice(0, at),
    new Uint32Array(nets).fill(1),
    new Uint32Array(vertices).fill(1),
    constraint,
    layered ? layers + 1 : 1,
  );
}

/** The hypergraph of one neuron -> worker map shared by the inputs and every layer. */
export function sharedHypergraph(network: SparseNetwork): Hypergraph {
  return buildColumnNets(network, false);
}

/** The hypergraph of one map per layer boundary: vertex l * N + j is neuron j of boundary l. */
export function layeredHypergraph(network: SparseNetwork): Hypergraph {
  return buildColumnNets(network, true);
}

/** The km1 cut of a partition: sum over nets of weight * (parts the net touches - 1). */
export function connectivityCut(hg: Hypergraph, part: ArrayLike<number>, workers: number): number {
  const seen = new Int32Array(workers).fill(-1);
  let cut = 0;
  for (let e = 0; e < hg.nets; e++) {
    let lambda = 0;
    for (let i = hg.netStart[e]; i < hg.netStart[e + 1]; i++) {
      const p = part[hg.pins[i]];
      if (seen[p] !== e) { seen[p] = e; lambda++; }
    }
    cut += hg.netWeight[e] * (lambda - 1);
  }
  return cut;
}
