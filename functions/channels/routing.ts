// Which activation rows a worker sends to whom between layers, from a layer partition: the traffic
// the wire format (wire.ts) carries. In layer l, input neuron k is owned by maps[l-1].owner[k] and
// must reach every other worker that owns an output of layer l reading k (the row-sends of
// planner/partition/volume.ts, pair for pair). A row is neuron k's activations over the samples: a
// column of the activation matrix Y (samples x neurons), so Y is transposed once per layer.

import type { SparseRows } from '../../model/network.ts';
import type { RowTargets } from '../../planner/partition/volume.ts';
import type { ActivationRow } from './wire.ts';
import type { RowGroup } from './packing.ts';

/** Y by columns: neuron k's samples are sampleIndex[start[k] .. start[k+1]), ascending, with their values. */
export interface ActivationColumns {
  readonly neurons: number;
  readonly samples: number;
  readonly start: Uint32Array;
  readonly sampleIndex: Uint32Array;
  readonly value: Float32Array;
}

/** Transposes activations (samples x neurons, CSR) into columns. O(nonzeros). */
export function activationColumns(y: SparseRows): ActivationColumns {
  // The arrays read once: the kernel's output rows expose them through checked accessors, which
  // cost more than the transpose itself when read per element.
  const { rowStart, columnIndex, value: rowValue } = y;
  const nonzeros = rowStart[y.rows];
  const start = new Uint32Array(y.columns + 1);
  for (let i = 0; i < nonzeros; i++) start[columnIndex[i] + 1]++;
  for (let k = 0; k < y.columns; k++) start[k + 1] += start[k];
  const cursor = start.slice(0, y.columns);
  const sampleIndex = new Uint32Array(nonzeros);
  const value = new Float32Array(nonzeros);
  for (let r = 0; r < y.rows; r++) {
    for (let i = rowStart[r]; i < rowStart[r + 1]; i++) {
      const at = cursor[columnIndex[i]]++;
      sampleIndex[at] = r;
      value[at] = rowValue[i];
    }
  }
  return { neurons: y.columns, samples: y.rows, start, sampleIndex, value };
}

/** Neuron k's row: views into the columns, no copy. */
export function activationRow(columns: ActivationColumns, neuron: number): ActivationRow {
  const lo = columns.start[neuron], hi = columns.start[neuron + 1];
  return { neuron, sampleIndex: columns.sampleIndex.subarray(lo, hi), value: columns.value.subarray(lo, hi) };
}

// rowTargets (which workers need each input row) lives with the volume metric it counts, in the
// pure planner, which prices exactly these sends (planner/optimize/wire-traffic.ts).
export { rowTargets, type RowTargets } from '../../planner/partition/volume.ts';

export type SendMode = 'unicast' | 'multicast';

/**
 * The same targets from a shard layer's send lists (model/shard.ts): only the neurons its worker
 * owns and sends have targets, so every row with targets is the worker's own.
 */
export function shardRowTargets(layer: { readonly sendNeuron: Uint32Array; readonly sendStart: Uint32Array; readonly sendTarget: Uint32Array }, neurons: number): RowTargets {
  const start = new Uint32Array(neurons + 1);
  for (let i = 0; i < layer.sendNeuron.length; i++) start[layer.sendNeuron[i] + 1] = layer.sendStart[i + 1] - layer.sendStart[i];
  for (let k = 0; k < neurons; k++) start[k + 1] += start[k];
  // sendNeuron ascends, so the shard's targets are already in neuron order.
  return { start, target: Uint16Array.from(layer.sendTarget) };
}

/**
 * The row groups `source` sends in a layer: one group per target (unicast: a row needed by three
 * workers is sent three times), or one group per distinct set of targets (multicast: every row
 * published once). Rows without a nonzero are not sent (the receiver's missing rows are zeros).
 * Groups are ordered by target (unicast) or by their first neuron (multicast); rows ascend.
 * `inputOwner` null: every neuron with targets is the source's (shardRowTargets).
 */
export function sourceRowGroups(source: number, columns: ActivationColumns, targets: RowTargets, inputOwner: Uint16Array | null, mode: SendMode): RowGroup[] {
  const byKey = new Map<string, { targets: number[]; rows: ActivationRow[] }>();
  const unicast: ActivationRow[][] = [];
  for (let k = 0; k < columns.neurons; k++) {
    if ((inputOwner !== null && inputOwner[k] !== source) || columns.start[k + 1] === columns.start[k]) continue;
    const lo = targets.start[k], hi = targets.start[k + 1];
    if (hi === lo) continue;
    const row = activationRow(columns, k);
    if (mode === 'unicast') {
      for (let i = lo; i < hi; i++) (unicast[targets.target[i]] ??= []).push(row);
    } else {
      const list = Array.from(targets.target.subarray(lo, hi));
      const key = list.join(',');
      let group = byKey.get(key);
      if (!group) byKey.set(key, group = { targets: list, rows: [] });
      group.rows.push(row);
    }
  }
  if (mode === 'multicast') return [...byKey.values()];
  const groups: RowGroup[] = [];
  unicast.forEach((rows, target) => { if (rows) groups.push({ targets: [target], rows }); });
  return groups;
}

/**
 * Received rows (ascending by neuron, from activationRow or a channel) back into activations by
 * sample, `columns` wide: rows of neurons not received are zeros.
 */
export function rowsBySample(rows: readonly ActivationRow[], samples: number, columns: number): SparseRows {
  const rowStart = new Uint32Array(samples + 1);
  let total = 0;
  for (const row of rows) {
    total += row.sampleIndex.length;
    for (let i = 0; i < row.sampleIndex.length; i++) rowStart[row.sampleIndex[i] + 1]++;
  }
  for (let r = 0; r < samples; r++) rowStart[r + 1] += rowStart[r];
  const cursor = rowStart.slice(0, samples);
  const columnIndex = new Uint32Array(total), value = new Float32Array(total);
  // Neurons ascend, so each sample's columns land ascending.
  for (const row of rows) {
    for (let i = 0; i < row.sampleIndex.length; i++) {
      const at = cursor[row.sampleIndex[i]]++;
      columnIndex[at] = row.neuron;
      value[at] = row.value[i];
    }
  }
  return { rows: samples, columns, rowStart, columnIndex, value };
}
