// Communication volume of a layer partition: how many activation rows cross workers between
// layers, and what that costs in bytes. This is the metric every partitioner here minimizes and
// the cost model prices.
//
// Definition (the connectivity-minus-one metric of the column-net hypergraph): in layer l, input
// neuron k is owned by maps[l-1].owner[k]; it must be sent once to every *other* worker that owns
// an output of layer l that reads k. One such (k, target worker) pair is one row-send: the sender
// ships, for every sample, neuron k's activation (when nonzero).

import { ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { groupByOwner, type OwnerGroups, type SparseLayer, type SparseNetwork } from '../../model/network.ts';
import type { LayerPartition, NeuronMap } from './types.ts';

export interface LayerVolume {
  /** 1-based layer number, as in the GraphChallenge file names. */
  readonly layer: number;
  readonly rowSends: number;
  /** rows each worker sends in this layer */
  readonly sendsByWorker: Uint32Array;
  /** rows each worker receives in this layer */
  readonly receivesByWorker: Uint32Array;
  /** distinct target workers per source worker */
  readonly messagesByWorker: Uint32Array;
  /** distinct source workers per target worker */
  readonly sourcesByWorker: Uint32Array;
}

export interface PartitionVolume {
  readonly totalRowSends: number;
  readonly layers: readonly LayerVolume[];
  /** 1-based layer with the most row-sends (the first, on ties) */
  readonly worstLayer: number;
  /** max over layers of (max part size / average) - 1, part size = output neurons per worker */
  readonly maxImbalance: number;
  /** the same measured on weight nonzeros per worker (equal to maxImbalance when every neuron has the same in-degree) */
  readonly maxNonzeroImbalance: number;
  /** row-sends each worker makes over all layers */
  readonly sendsByWorker: Uint32Array;
}

/** Checks that a partition fits a network: L + 1 maps of N owners each, owners < workers. */
export function validatePartition(network: SparseNetwork, partition: LayerPartition): void {
  const n = network.neurons;
  const p = partition.workers;
  if (partition.maps.length !== network.layers.length + 1) {
    throw new ShapeMismatchError(
      `a partition of a ${network.layers.length}-layer network needs ${network.layers.length + 1} maps (inputs and every layer), got ${partition.maps.length}`,
      { field: 'maps' },
    );
  }
  partition.maps.forEach((map: NeuronMap, l) => {
    if (map.owner.length !== n) {
      throw new ShapeMismatchError(`map has ${map.owner.length} owners for ${n} neurons`, { layer: l, field: 'owner' });
    }
    if (map.workers !== p) {
      throw new ShapeMismatchError(`map is over ${map.workers} workers, the partition over ${p}`, { layer: l, field: 'workers' });
    }
    for (let j = 0; j < n; j++) {
      if (map.owner[j] >= p) {
        throw new ShapeMismatchError(`neuron ${j} is owned by worker ${map.owner[j]}, but there are only ${p} workers`, { layer: l, worker: map.owner[j], field: 'owner' });
      }
    }
  });
}

/** Row-sends, per worker and per layer, of a partition of a network. O(nonzeros). */
export function communicationVolume(network: SparseNetwork, partition: LayerPartition): PartitionVolume {
  validatePartition(network, partition);
  const n = network.neurons;
  const p = partition.workers;
  // Outputs grouped by owner, so each target worker is handled in one pass (buffers reused per layer).
  let groups: OwnerGroups | undefined;
  // inputSeen[k] === epoch: k already counted for the current target worker.
  const inputSeen = new Int32Array(n).fill(-1);
  const sourceSeen = new Int32Array(p).fill(-1);
  const partNonzeros = new Float64Array(p);
  const totalSends = new Uint32Array(p);
  const layers: LayerVolume[] = [];
  let total = 0;
  let worstLayer = 1;
  let worstSends = -1;
  let maxImbalance = 0;
  let maxNonzeroImbalance = 0;
  let epoch = 0;
  for (let l = 1; l <= network.layers.length; l++) {
    const layer = network.layers[l - 1];
    const inOwner = partition.maps[l - 1].owner;
    const outOwner = partition.maps[l].owner;
    groups = groupByOwner(outOwner, p, groups);
    const { start: partStart, members: byPart } = groups;
    partNonzeros.fill(0);
    for (let j = 0; j < n; j++) partNonzeros[outOwner[j]] += layer.outputStart[j + 1] - layer.outputStart[j];

    const sends = new Uint32Array(p);
    const receives = new Uint32Array(p);
    const messages = new Uint32Array(p);
    const sources = new Uint32Array(p);
    let layerSends = 0;
    let largestPart = 0;
    let largestNonzeros = 0;
    for (let q = 0; q < p; q++) {
      epoch++;
      for (let i = partStart[q]; i < partStart[q + 1]; i++) {
        const j = byPart[i];
        for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) {
          const k = layer.inputIndex[e];
          if (inputSeen[k] === epoch) continue;
          inputSeen[k] = epoch;
          const source = inOwner[k];
          if (source === q) continue;
          sends[source]++;
          receives[q]++;
          layerSends++;
          if (sourceSeen[source] !== epoch) {
            sourceSeen[source] = epoch;
            messages[source]++;
            sources[q]++;
          }
        }
      }
      largestPart = Math.max(largestPart, partStart[q + 1] - partStart[q]);
      largestNonzeros = Math.max(largestNonzeros, partNonzeros[q]);
    }
    for (let w = 0; w < p; w++) totalSends[w] += sends[w];
    const layerNonzeros = layer.outputStart[n];
    maxImbalance = Math.max(maxImbalance, largestPart / (n / p) - 1);
    if (layerNonzeros > 0) maxNonzeroImbalance = Math.max(maxNonzeroImbalance, largestNonzeros / (layerNonzeros / p) - 1);
    layers.push({ layer: l, rowSends: layerSends, sendsByWorker: sends, receivesByWorker: receives, messagesByWorker: messages, sourcesByWorker: sources });
    total += layerSends;
    if (layerSends > worstSends) { worstSends = layerSends; worstLayer = l; }
  }
  return { totalRowSends: total, layers, worstLayer, maxImbalance, maxNonzeroImbalance, sendsByWorker: totalSends };
}

/**
 * Total row-sends of one map shared by the inputs and every layer: the totalRowSends of
 * communicationVolume, without the per-worker breakdown and without re-sorting the outputs per
 * layer. Stops as soon as the total exceeds `stopAbove` and returns the partial total then (any
 * value > stopAbove): enough to rank candidate maps. O(nonzeros), O(N + P) memory.
 */
export function sharedMapRowSends(network: SparseNetwork, owner: Uint16Array, workers: number, stopAbove = Infinity): number {
  const n = network.neurons;
  const p = workers;
  const { start: partStart, members: byPart } = groupByOwner(owner, p);
  const inputSeen = new Int32Array(n).fill(-1);
  let epoch = 0;
  let total = 0;
  for (const layer of network.layers) {
    const { outputStart, inputIndex } = layer;
    for (let q = 0; q < p; q++) {
      epoch++;
      for (let i = partStart[q]; i < partStart[q + 1]; i++) {
        const j = byPart[i];
        for (let e = outputStart[j]; e < outputStart[j + 1]; e++) {
          const k = inputIndex[e];
          if (inputSeen[k] === epoch) continue;
          inputSeen[k] = epoch;
          if (owner[k] !== q) total++;
        }
      }
    }
    if (total > stopAbove) return total;
  }
  return total;
}

export interface EstimateBytesOptions {
  /** input samples (rows of the activation matrix) pushed through the network */
  readonly samples: number;
  /**
   * Fraction of nonzero activations feeding each layer: index l - 1 is the density of the
   * activations layer l reads (index 0: the inputs). Missing entries fall back to `activeFraction`.
   */
  readonly activeFractionByLayer?: readonly number[];
  /** Density used where `activeFractionByLayer` says nothing. Default 1: every value sent (an upper bound). */
  readonly activeFraction?: number;
  /** Bytes per sent nonzero. Default 8: a 4-byte index and a 4-byte float value. */
  readonly bytesPerNonzero?: number;
}

export interface ByteEstimate {
  readonly totalBytes: number;
  /** index l - 1: bytes sent between workers for layer l */
  readonly bytesByLayer: readonly number[];
  /** bytes each worker sends over all layers */
  readonly bytesByWorker: Float64Array;
  /** the most any one worker sends in any one layer: the straggler of the exchange */
  readonly maxWorkerLayerBytes: number;
}

/** bytes a row-send costs, from activation density: the sender sends, for each sample, the value of neuron k if nonzero (4-byte index + 4-byte value) */
export function estimateBytes(volume: PartitionVolume, options: EstimateBytesOptions): ByteEstimate {
  const samples = options.samples;
  if (!Number.isFinite(samples) || samples < 0) throw new UsageError(`samples must be a number >= 0, got ${samples}`, { field: 'samples' });
  const fallback = options.activeFraction ?? 1;
  const perNonzero = options.bytesPerNonzero ?? 8;
  const densityOf = (l: number): number => {
    const d = options.activeFractionByLayer?.[l - 1] ?? fallback;
    if (!(d >= 0 && d <= 1)) throw new UsageError(`activation density must be in [0, 1], got ${d}`, { layer: l, field: 'activeFraction' });
    return d;
  };
  const workers = volume.sendsByWorker.length;
  const bytesByWorker = new Float64Array(workers);
  const bytesByLayer: number[] = [];
  let totalBytes = 0;
  let maxWorkerLayerBytes = 0;
  for (const layer of volume.layers) {
    const rowBytes = samples * densityOf(layer.layer) * perNonzero;
    const bytes = layer.rowSends * rowBytes;
    bytesByLayer.push(bytes);
    totalBytes += bytes;
    for (let w = 0; w < workers; w++) {
      const b = layer.sendsByWorker[w] * rowBytes;
      bytesByWorker[w] += b;
      if (b > maxWorkerLayerBytes) maxWorkerLayerBytes = b;
    }
  }
  return { totalBytes, bytesByLayer, bytesByWorker, maxWorkerLayerBytes };
}

/** For every input neuron k of a layer, the workers other than its owner that need it: target[start[k] .. start[k+1]), ascending. */
export interface RowTargets {
  readonly start: Uint32Array;
  readonly target: Uint16Array;
}

/** The targets of every input row of `layer` under the input and output owners. O(nonzeros). */
export function rowTargets(layer: SparseLayer, inputOwner: Uint16Array, outputOwner: Uint16Array, workers: number): RowTargets {
  const n = layer.neurons;
  // Outputs grouped by owner, so each target is one pass with an epoch-stamped "seen" array.
  const { start: partStart, members: byPart } = groupByOwner(outputOwner, workers);
  const seen = new Int32Array(n).fill(-1);
  const pairInput: number[] = [];
  const pairTarget: number[] = [];
  for (let q = 0; q < workers; q++) {
    for (let i = partStart[q]; i < partStart[q + 1]; i++) {
      const j = byPart[i];
      for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) {
        const k = layer.inputIndex[e];
        if (seen[k] === q) continue;
        seen[k] = q;
        if (inputOwner[k] !== q) { pairInput.push(k); pairTarget.push(q); }
      }
    }
  }
  const start = new Uint32Array(n + 1);
  for (const k of pairInput) start[k + 1]++;
  for (let k = 0; k < n; k++) start[k + 1] += start[k];
  const at = start.slice(0, n);
  const target = new Uint16Array(pairInput.length);
  // Pairs come target by target, ascending: each input's targets land ascending.
  for (let p = 0; p < pairInput.length; p++) target[at[pairInput[p]]++] = pairTarget[p];
  return { start, target };
}
