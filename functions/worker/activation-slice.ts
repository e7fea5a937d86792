// A worker's share of the activations. FSD-Inference's "activation row" is one neuron's
// activations over all samples, a column of Y (samples x neurons); a worker holds, sends and
// receives sets of them. They are kept row-major, as the kernel reads and writes them: a slice is
// Y restricted to some neurons (CSR by sample, global ascending column ids), with the list of
// those neurons (a neuron may be zero in every sample). Selecting the neurons for each target and
// merging received slices into the kernel's input are sequential passes over the rows (a
// column-major form needed two transposes per layer, measured as costly as the kernel itself).

import { ShapeMismatchError } from '../../model/errors.ts';
import type { SparseRows } from '../../model/network.ts';

export interface ActivationSlice {
  /** The neurons (columns of Y) this slice holds, strictly ascending. */
  readonly neurons: Uint32Array;
  /** Y restricted to `neurons`: every sample's row, only those columns (N wide, ascending ids). */
  readonly rows: SparseRows;
}

/** Marks `neurons` in a fresh N-long mask (1 = held). */
function maskOf(neurons: Uint32Array, columns: number): Uint8Array {
  const mask = new Uint8Array(columns);
  for (let i = 0; i < neurons.length; i++) {
    if (neurons[i] >= columns) throw new ShapeMismatchError(`neuron ${neurons[i]} is beyond the ${columns} columns`);
    mask[neurons[i]] = 1;
  }
  return mask;
}

/** The slice of `rows` holding `neurons` (ascending), copied out: kernel output buffers are reused. */
export function sliceOf(rows: SparseRows, neurons: Uint32Array): ActivationSlice {
  const mask = maskOf(neurons, rows.columns);
  const { rowStart, columnIndex, value } = rows;
  const outStart = new Uint32Array(rows.rows + 1);
  let kept = 0;
  for (let p = 0; p < rowStart[rows.rows]; p++) kept += mask[columnIndex[p]];
  const outColumn = new Uint32Array(kept), outValue = new Float32Array(kept);
  let at = 0;
  for (let r = 0; r < rows.rows; r++) {
    for (let p = rowStart[r]; p < rowStart[r + 1]; p++) {
      if (mask[columnIndex[p]] === 0) continue;
      outColumn[at] = columnIndex[p];
      outValue[at++] = value[p];
    }
    outStart[r + 1] = at;
  }
  return { neurons: Uint32Array.from(neurons), rows: { rows: rows.rows, columns: rows.columns, rowStart: outStart, columnIndex: outColumn, value: outValue } };
}

/** An index of which targets get each neuron: for neuron k, targets[start[slot[k]] .. start[slot[k] + 1]). */
export interface SendIndex {
  /** Target workers, ascending. */
  readonly targets: readonly number[];
  /** For each target (same order), the neurons it gets, ascending. */
  readonly neuronsByTarget: readonly Uint32Array[];
  /** slot[k]: k's entry in `start`, or -1 when k goes nowhere. */
  readonly slot: Int32Array;
  readonly start: Uint32Array;
  /** Indices into `targets`. */
  readonly targetIndex: Uint32Array;
}

/** Builds the send index from per-neuron target lists (a shard layer's sendNeuron / sendStart / sendTarget). */
export function sendIndex(columns: number, sendNeuron: Uint32Array, sendStart: Uint32Array, sendTarget: Uint32Array): SendIndex {
  const targets = [...new Set(sendTarget)].sort((a, b) => a - b);
  const position = new Map(targets.map((t, i) => [t, i]));
  const byTarget: number[][] = targets.map(() => []);
  const slot = new Int32Array(columns).fill(-1);
  const targetIndex = new Uint32Array(sendTarget.length);
  for (let i = 0; i < sendNeuron.length; i++) {
    slot[sendNeuron[i]] = i;
    for (let e = sendStart[i]; e < sendStart[i + 1]; e++) {
      const t = position.get(sendTarget[e])!;
      targetIndex[e] = t;
      byTarget[t].push(sendNeuron[i]);
    }
  }
  return { targets, neuronsByTarget: byTarget.map((list) => Uint32Array.from(list)), slot, start: sendStart, targetIndex };
}

/** The slice for every target of `index`, in one pass over `own` (which holds every neuron sent). */
export function splitForTargets(own: ActivationSlice, index: SendIndex): ActivationSlice[] {
  const { rows } = own;
  const { rowStart, columnIndex, value } = rows;
  const t = index.targets.length, n = rows.rows;
  const { slot, start, targetIndex } = index;
  // Every target's entries in one buffer, target i's at [offset[i], offset[i + 1]).
  const offset = new Uint32Array(t + 1);
  for (let p = 0; p < rowStart[n]; p++) {
    const s = slot[columnIndex[p]];
    if (s < 0) continue;
    for (let e = start[s]; e < start[s + 1]; e++) offset[targetIndex[e] + 1]++;
  }
  for (let i = 0; i < t; i++) offset[i + 1] += offset[i];
  const column = new Uint32Array(offset[t]), values = new Float32Array(offset[t]);
  const starts = new Uint32Array(t * (n + 1));
  const at = offset.slice(0, t);
  for (let r = 0; r < n; r++) {
    for (let p = rowStart[r]; p < rowStart[r + 1]; p++) {
      const s = slot[columnIndex[p]];
      if (s < 0) continue;
      for (let e = start[s]; e < start[s + 1]; e++) {
        const i = targetIndex[e];
        column[at[i]] = columnIndex[p];
        values[at[i]++] = value[p];
      }
    }
    for (let i = 0; i < t; i++) starts[i * (n + 1) + r + 1] = at[i] - offset[i];
  }
  return index.targets.map((_, i) => ({
    neurons: index.neuronsByTarget[i],
    rows: {
      rows: n, columns: rows.columns,
      rowStart: starts.subarray(i * (n + 1), (i + 1) * (n + 1)),
      columnIndex: column.subarray(offset[i], offset[i + 1]),
      value: values.subarray(offset[i], offset[i + 1]),
    },
  }));
}

/** Rows holding the entries of `a` and `b` (disjoint columns), each row ascending: one linear merge per row. */
function mergeTwo(a: SparseRows, b: SparseRows): SparseRows {
  const rows = a.rows;
  const as = a.rowStart, ac = a.columnIndex, av = a.value, bs = b.rowStart, bc = b.columnIndex, bv = b.value;
  const rowStart = new Uint32Array(rows + 1);
  const total = as[rows] + bs[rows];
  const columnIndex = new Uint32Array(total), value = new Float32Array(total);
  let at = 0;
  for (let r = 0; r < rows; r++) {
    let i = as[r], j = bs[r];
    const ie = as[r + 1], je = bs[r + 1];
    while (i < ie && j < je) {
      if (ac[i] < bc[j]) { columnIndex[at] = ac[i]; value[at++] = av[i++]; } else { columnIndex[at] = bc[j]; value[at++] = bv[j++]; }
    }
    while (i < ie) { columnIndex[at] = ac[i]; value[at++] = av[i++]; }
    while (j < je) { columnIndex[at] = bc[j]; value[at++] = bv[j++]; }
    rowStart[r + 1] = at;
  }
  return { rows, columns: a.columns, rowStart, columnIndex, value };
}

/**
 * One set of rows holding every neuron of `parts`, which hold disjoint neurons, each row ascending
 * as the kernel needs: pairwise merges, log2(parts) passes over the entries (measured on the real
 * case about twice as fast as picking the smallest head among all parts for every entry).
 */
export function mergeSlices(parts: readonly ActivationSlice[], rows: number, columns: number): SparseRows {
  const held = new Uint8Array(columns);
  for (const part of parts) {
    if (part.rows.rows !== rows || part.rows.columns !== columns) {
      throw new ShapeMismatchError(`a slice of ${part.rows.rows} x ${part.rows.columns} merged into ${rows} x ${columns}`);
    }
    for (let i = 0; i < part.neurons.length; i++) {
      const k = part.neurons[i];
      if (k >= columns) throw new ShapeMismatchError(`neuron ${k} is beyond the ${columns} columns`);
      if (held[k]) throw new ShapeMismatchError(`neuron ${k} is held twice`);
      held[k] = 1;
    }
  }
  let level = parts.map((p) => p.rows);
  if (level.length === 0) return { rows, columns, rowStart: new Uint32Array(rows + 1), columnIndex: new Uint32Array(0), value: new Float32Array(0) };
  while (level.length > 1) {
    const next: SparseRows[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? mergeTwo(level[i], level[i + 1]) : level[i]);
    level = next;
  }
  return level[0];
}

/**
 * What a worker stages before a run's first layer from the inputs: its own rows (its maps[0]
 * neurons, for itself) and, for every worker that reads some of them in layer 1, those rows.
 * `layer1` is the worker's shard layer 1 (its send lists).
 */
export function stageInputSlices(
  inputs: SparseRows,
  own: { readonly worker: number; readonly inputNeuron: Uint32Array },
  layer1: { readonly sendNeuron: Uint32Array; readonly sendStart: Uint32Array; readonly sendTarget: Uint32Array },
): { target: number; slice: ActivationSlice }[] {
  const mine = sliceOf(inputs, own.inputNeuron);
  const index = sendIndex(inputs.columns, layer1.sendNeuron, layer1.sendStart, layer1.sendTarget);
  return [{ target: own.worker, slice: mine }, ...splitForTargets(mine, index).map((slice, i) => ({ target: index.targets[i], slice }))];
}
