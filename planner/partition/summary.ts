// One plain, JSON-ready summary of a partition's cost, shared by the CLI, the benchmark and the
// planner: total and per-worker row-sends, the worst layer, balance, and bytes from density.

import type { SparseNetwork } from '../../model/network.ts';
import type { LayerPartition } from './types.ts';
import { communicationVolume, estimateBytes, type EstimateBytesOptions } from './volume.ts';

export interface PartitionSummary {
  readonly scheme: string;
  readonly workers: number;
  readonly neurons: number;
  readonly layers: number;
  readonly totalRowSends: number;
  /** 1-based */
  readonly worstLayer: number;
  readonly worstLayerRowSends: number;
  /** row-sends each worker makes over all layers */
  readonly sendsByWorker: readonly number[];
  readonly maxWorkerRowSends: number;
  /** max over layers of (largest part / average) - 1, in neurons and in weight nonzeros */
  readonly maxImbalance: number;
  readonly maxNonzeroImbalance: number;
  /** layers whose input map differs from their output map (0 for one shared map) */
  readonly remappedLayers: number;
  readonly samples: number;
  readonly totalBytes: number;
  /** the most one worker sends in one layer */
  readonly maxWorkerLayerBytes: number;
  /** 1-based layers the map was optimized on, when only a sample was (volumes cover every layer) */
  readonly sampledLayers?: readonly number[];
  readonly note?: string;
}

export function summarizePartition(network: SparseNetwork, partition: LayerPartition, bytes: EstimateBytesOptions): PartitionSummary {
  const volume = communicationVolume(network, partition);
  const estimate = estimateBytes(volume, bytes);
  let remapped = 0;
  for (let l = 1; l < partition.maps.length; l++) {
    const a = partition.maps[l - 1].owner;
    const b = partition.maps[l].owner;
    if (a === b) continue;
    for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) { remapped++; break; }
  }
  const sendsByWorker = Array.from(volume.sendsByWorker);
  return {
    scheme: partition.scheme,
    workers: partition.workers,
    neurons: network.neurons,
    layers: network.layers.length,
    totalRowSends: volume.totalRowSends,
    worstLayer: volume.worstLayer,
    worstLayerRowSends: volume.layers[volume.worstLayer - 1]?.rowSends ?? 0,
    sendsByWorker,
    maxWorkerRowSends: sendsByWorker.reduce((m, x) => Math.max(m, x), 0),
    maxImbalance: volume.maxImbalance,
    maxNonzeroImbalance: volume.maxNonzeroImbalance,
    remappedLayers: remapped,
    samples: bytes.samples,
    totalBytes: estimate.totalBytes,
    maxWorkerLayerBytes: estimate.maxWorkerLayerBytes,
    ...(partition.sampledLayers ? { sampledLayers: partition.sampledLayers } : {}),
    ...(partition.note ? { note: partition.note } : {}),
  };
}
