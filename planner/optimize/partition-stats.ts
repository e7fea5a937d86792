// What the estimates need from a partition, per layer and worker: rows sent and received, target
// and source workers, and the neurons and weight nonzeros each worker owns (compute imbalance,
// shard size).

import type { SparseNetwork } from '../../model/network.ts';
import { communicationVolume, type LayerPartition, type PartitionVolume } from '../partition/index.ts';
import { layerSendGroups, type SendGroup } from './wire-traffic.ts';

export interface LayerStats {
  /** 1-based layer. */
  readonly layer: number;
  /** Row-sends (neuron, target) of the exchange that feeds this layer, per source worker. */
  readonly sendsByWorker: Uint32Array;
  readonly receivesByWorker: Uint32Array;
  /** Distinct target workers per source worker. */
  readonly targetsByWorker: Uint32Array;
  /** Distinct source workers per target worker. */
  readonly sourcesByWorker: Uint32Array;
  /** Weight nonzeros of this layer in the outputs each worker owns. */
  readonly ownedNonzerosByWorker: Float64Array;
  /** max over workers of owned nonzeros / all nonzeros of the layer (1 / P when balanced). */
  readonly maxNonzeroShare: number;
}

export interface PartitionStats {
  readonly workers: number;
  readonly scheme: string;
  readonly layers: readonly LayerStats[];
  /** ownedNeurons[l][w]: neurons of map l (0 = inputs) that worker w owns. */
  readonly ownedNeurons: readonly Uint32Array[];
  readonly totalRowSends: number;
  readonly maxNonzeroImbalance: number;
  /** owners[m][k]: the worker owning neuron k of map m (0 = inputs), the partition's; absent for hand-made stats. */
  readonly owners?: readonly Uint16Array[];
  /** sendGroups[l - 1]: the rows each source sends in the exchange feeding layer l, by exact target set (what the channels send); absent for hand-made stats. */
  readonly sendGroups?: readonly (readonly SendGroup[])[];
}

export function partitionStats(network: SparseNetwork, partition: LayerPartition, volume: PartitionVolume = communicationVolume(network, partition)): PartitionStats {
  const p = partition.workers;
  const n = network.neurons;
  const ownedNeurons = partition.maps.map((map) => {
    const counts = new Uint32Array(p);
    for (let j = 0; j < n; j++) counts[map.owner[j]]++;
    return counts;
  });
  const layers = network.layers.map((layer, i): LayerStats => {
    const owner = partition.maps[i + 1].owner;
    const owned = new Float64Array(p);
    for (let j = 0; j < n; j++) owned[owner[j]] += layer.outputStart[j + 1] - layer.outputStart[j];
    const total = layer.outputStart[n];
    let max = 0;
    for (let w = 0; w < p; w++) max = Math.max(max, owned[w]);
    const v = volume.layers[i];
    return {
      layer: i + 1,
      sendsByWorker: v.sendsByWorker,
      receivesByWorker: v.receivesByWorker,
      targetsByWorker: v.messagesByWorker,
      sourcesByWorker: v.sourcesByWorker,
      ownedNonzerosByWorker: owned,
      maxNonzeroShare: total > 0 ? max / total : 1 / p,
    };
  });
  const sendGroups = network.layers.map((layer, i) => layerSendGroups(layer, partition.maps[i].owner, partition.maps[i + 1].owner, p));
  return { workers: p, scheme: partition.scheme, layers, ownedNeurons, totalRowSends: volume.totalRowSends, maxNonzeroImbalance: volume.maxNonzeroImbalance, owners: partition.maps.map((m) => m.owner), sendGroups };
}

/** The stats of the one-worker "partition" (serial): nothing is sent, everything is owned. */
export function serialStats(network: SparseNetwork): PartitionStats {
  const n = network.neurons;
  const one = (v: number) => Uint32Array.of(v);
  return {
    workers: 1,
    scheme: 'serial',
    layers: network.layers.map((layer, i) => ({
      layer: i + 1,
      sendsByWorker: one(0), receivesByWorker: one(0), targetsByWorker: one(0), sourcesByWorker: one(0),
      ownedNonzerosByWorker: Float64Array.of(layer.outputStart[n]),
      maxNonzeroShare: 1,
    })),
    ownedNeurons: Array.from({ length: network.layers.length + 1 }, () => one(n)),
    totalRowSends: 0,
    maxNonzeroImbalance: 0,
    owners: Array.from({ length: network.layers.length + 1 }, () => new Uint16Array(n)),
    sendGroups: network.layers.map(() => []),
  };
}
