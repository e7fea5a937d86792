// Activation rows as workers hold and exchange them. FSD-Inference's "activation row" is one
// neuron's activations over all samples: a column of Y (samples x neurons), so a worker's share of
// Y is a set of columns, stored column-major. The kernel reads rows (SparseRows, CSR by sample),
// so a layer step turns columns into rows (merging its own with the received ones, in ascending
// neuron order, which gives the kernel its ascending inputs) and its output rows back into columns.
// Both turns are counting sorts: O(nonzeros + neurons), no comparison sort.

import { ShapeMismatchError } from '../../model/errors.ts';
import type { SparseRows } from '../../model/network.ts';

export interface ActivationColumns {
  /** Samples (rows of Y). */
  readonly rows: number;
  /** Global neuron ids, strictly ascending. */
  readonly neuron: Uint32Array;
  /** Neuron i's nonzeros are at [start[i], start[i + 1]). */
  readonly start: Uint32Array;
  /** Sample of each nonzero, ascending within a neuron. */
  readonly row: Uint32Array;
  readonly value: Float32Array;
}

export function emptyColumns(rows: number): ActivationColumns {
  return { rows, neuron: new Uint32Array(0), start: new Uint32Array(1), row: new Uint32Array(0), value: new Float32Array(0) };
}

/** Nonzeros of a set of columns. */
export function columnsNonzeros(c: ActivationColumns): number {
  return c.start[c.neuron.length];
}

/**
 * The columns `neurons` (ascending) of `rows`, copied out (the kernel's output buffers are
 * reused). Columns of `rows` not in `neurons` are dropped.
 */
export function rowsToColumns(rows: SparseRows, neurons: Uint32Array): ActivationColumns {
  const slot = new Int32Array(rows.columns).fill(-1);
  for (let i = 0; i < neurons.length; i++) slot[neurons[i]] = i;
  const start = new Uint32Array(neurons.length + 1);
  const nnz = rows.rowStart[rows.rows];
  for (let p = 0; p < nnz; p++) {
    const s = slot[rows.columnIndex[p]];
    if (s >= 0) start[s + 1]++;
  }
  for (let i = 0; i < neurons.length; i++) start[i + 1] += start[i];
  const cursor = start.slice(0, neurons.length);
  const row = new Uint32Array(start[neurons.length]);
  const value = new Float32Array(row.length);
  // Rows in ascending order, so each column's samples come out ascending.
  for (let r = 0; r < rows.rows; r++) {
    for (let p = rows.rowStart[r]; p < rows.rowStart[r + 1]; p++) {
      const s = slot[rows.columnIndex[p]];
      if (s < 0) continue;
      const at = cursor[s]++;
      row[at] = r;
      value[at] = rows.value[p];
    }
  }
  return { rows: rows.rows, neuron: Uint32Array.from(neurons), start, row, value };
}

/** The columns `neurons` (ascending, each present in `columns`) of `columns`. */
export function selectColumns(columns: ActivationColumns, neurons: Uint32Array): ActivationColumns {
  const picked = new Uint32Array(neurons.length);
  const start = new Uint32Array(neurons.length + 1);
  let i = 0;
  for (let n = 0; n < neurons.length; n++) {
    while (i < columns.neuron.length && columns.neuron[i] < neurons[n]) i++;
    if (i === columns.neuron.length || columns.neuron[i] !== neurons[n]) {
      throw new ShapeMismatchError(`neuron ${neurons[n]} is not among the columns held (${columns.neuron.length} columns)`);
    }
    picked[n] = i;
    start[n + 1] = start[n] + columns.start[i + 1] - columns.start[i];
  }
  const row = new Uint32Array(start[neurons.length]);
  const value = new Float32Array(row.length);
  for (let n = 0; n < neurons.length; n++) {
    const lo = columns.start[picked[n]], hi = columns.start[picked[n] + 1];
    row.set(columns.row.subarray(lo, hi), start[n]);
    value.set(columns.value.subarray(lo, hi), start[n]);
  }
  return { rows: columns.rows, neuron: Uint32Array.from(neurons), start, row, value };
}

/**
 * Rows (CSR by sample, `columns` wide) holding every column of `parts`, which hold disjoint
 * neurons. Neurons are visited in ascending order, so every row's columns come out ascending.
 */
export function columnsToRows(parts: readonly ActivationColumns[], rows: number, columns: number): SparseRows {
  const partOf = new Int32Array(columns).fill(-1);
  const indexIn = new Uint32Array(columns);
  const rowStart = new Uint32Array(rows + 1);
  parts.forEach((part, p) => {
    if (part.rows !== rows) throw new ShapeMismatchError(`columns of ${part.rows} samples merged into ${rows} rows`);
    for (let i = 0; i < part.neuron.length; i++) {
      const k = part.neuron[i];
      if (k >= columns) throw new ShapeMismatchError(`neuron ${k} is beyond the ${columns} columns`);
      if (partOf[k] >= 0) throw new ShapeMismatchError(`neuron ${k} is held twice`);
      partOf[k] = p;
      indexIn[k] = i;
    }
    const nnz = columnsNonzeros(part);
    for (let e = 0; e < nnz; e++) rowStart[part.row[e] + 1]++;
  });
  for (let r = 0; r < rows; r++) rowStart[r + 1] += rowStart[r];
  const cursor = rowStart.slice(0, rows);
  const columnIndex = new Uint32Array(rowStart[rows]);
  const value = new Float32Array(columnIndex.length);
  for (let k = 0; k < columns; k++) {
    const p = partOf[k];
    if (p < 0) continue;
    const part = parts[p], i = indexIn[k];
    for (let e = part.start[i]; e < part.start[i + 1]; e++) {
      const at = cursor[part.row[e]]++;
      columnIndex[at] = k;
      value[at] = part.value[e];
    }
  }
  return { rows, columns, rowStart, columnIndex, value };
}
