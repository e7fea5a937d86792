// In-memory forms of sparse DNNs and activations, shared by the planner, the kernels and the
// model files. Everything is typed arrays so that layers can be cut into shards and sent without
// conversion.

/**
 * One layer's weights W (Y_next = f(Y W)), stored output-major: output neuron j reads inputs
 * `inputIndex[outputStart[j] .. outputStart[j+1])` with the matching `weight`s, indices ascending.
 * This is the CSC form of W, the natural unit for partitioning output neurons over workers.
 */
export interface SparseLayer {
  readonly neurons: number;
  readonly outputStart: Uint32Array;
  readonly inputIndex: Uint32Array;
  readonly weight: Float32Array;
}

/** A GraphChallenge-style network: Y <- min(cap, ReLU(Y W_l + bias on nonzeros)) for every layer. */
export interface SparseNetwork {
  readonly neurons: number;
  readonly layers: readonly SparseLayer[];
  /** Added to the nonzero entries of Y W only (the benchmark's definition). */
  readonly bias: number;
  /** Activations are clamped to at most this value (YMAX = 32 in the benchmark). */
  readonly activationCap: number;
}

/**
 * A sparse matrix of activations, one row per input sample, CSR with ascending column indices.
 * Rows with no nonzeros are "dead" and cost nothing in the kernels.
 */
export interface SparseRows {
  readonly rows: number;
  readonly columns: number;
  readonly rowStart: Uint32Array;
  readonly columnIndex: Uint32Array;
  readonly value: Float32Array;
}

/** GraphChallenge bias by network size (the benchmark's reference code). */
export const GRAPH_CHALLENGE_BIAS: Readonly<Record<number, number>> = {
  1024: -0.3,
  4096: -0.35,
  16384: -0.4,
  65536: -0.45,
};

export const GRAPH_CHALLENGE_ACTIVATION_CAP = 32;

export function layerNonzeros(layer: SparseLayer): number {
  return layer.outputStart[layer.neurons];
}

export function networkNonzeros(network: SparseNetwork): number {
  let total = 0;
  for (const layer of network.layers) total += layerNonzeros(layer);
  return total;
}

export function rowsNonzeros(rows: SparseRows): number {
  return rows.rowStart[rows.rows];
}

/** Neurons grouped by their owning worker: worker q's neurons are members[start[q] .. start[q+1]), ascending. */
export interface OwnerGroups {
  readonly start: Uint32Array;
  readonly members: Uint32Array;
}

/** Groups neurons by owner (a counting sort, O(N + P)); `into` reuses the buffers of an earlier call of the same sizes. */
export function groupByOwner(owner: Uint16Array, workers: number, into?: OwnerGroups): OwnerGroups {
  const n = owner.length;
  const start = into?.start ?? new Uint32Array(workers + 1);
  const members = into?.members ?? new Uint32Array(n);
  start.fill(0);
  for (let j = 0; j < n; j++) start[owner[j] + 1]++;
  for (let q = 0; q < workers; q++) start[q + 1] += start[q];
  const cursor = start.slice(0, workers);
  for (let j = 0; j < n; j++) members[cursor[owner[j]]++] = j;
  return { start, members };
}

/** How many rows have at least one nonzero. */
export function activeRowCount(rows: SparseRows): number {
  let active = 0;
  const { rowStart } = rows; // read once: kernel rows expose it through an accessor
  for (let r = 0; r < rows.rows; r++) if (rowStart[r + 1] > rowStart[r]) active++;
  return active;
}

/** 0-based indices of rows with at least one nonzero: the benchmark's "categories". */
export function nonzeroRows(rows: SparseRows): number[] {
  const out: number[] = [];
  const { rowStart } = rows; // read once: kernel rows expose it through an accessor
  for (let r = 0; r < rows.rows; r++) if (rowStart[r + 1] > rowStart[r]) out.push(r);
  return out;
}

/** The first `count` rows of a matrix, sharing its arrays. */
export function firstRows(rows: SparseRows, count: number): SparseRows {
  const n = Math.min(count, rows.rows);
  const end = rows.rowStart[n];
  return {
    rows: n,
    columns: rows.columns,
    rowStart: rows.rowStart.subarray(0, n + 1),
    columnIndex: rows.columnIndex.subarray(0, end),
    value: rows.value.subarray(0, end),
  };
}

/**
 * The input-major (CSR of W) copy of a layer: input k feeds `outputIndex[inputStart[k] ..
 * inputStart[k+1])`. The scatter kernel walks this form; it is derived, never stored.
 */
export interface InputMajorLayer {
  readonly neurons: number;
  readonly inputStart: Uint32Array;
  readonly outputIndex: Uint32Array;
  readonly weight: Float32Array;
}

/**
 * Fills the input-major index of `layer` into preallocated arrays: input k feeds outputs
 * `outputIndex[inputStart[k] .. inputStart[k+1])`, ascending, and `slot[e]` is where output-major
 * entry e landed. Allocation-free, for loops over many layers.
 */
export function fillInputMajorIndex(layer: SparseLayer, inputStart: Uint32Array, outputIndex: Uint32Array, cursor: Uint32Array, slot?: Uint32Array): void {
  const n = layer.neurons;
  const nnz = layerNonzeros(layer);
  inputStart.fill(0, 0, n + 1);
  for (let e = 0; e < nnz; e++) inputStart[layer.inputIndex[e] + 1]++;
  for (let k = 0; k < n; k++) inputStart[k + 1] += inputStart[k];
  cursor.set(inputStart.subarray(0, n));
  // Outputs are visited in ascending order, so each input's outputs come out ascending too.
  for (let j = 0; j < n; j++) {
    for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) {
      const at = cursor[layer.inputIndex[e]]++;
      outputIndex[at] = j;
      if (slot) slot[e] = at;
    }
  }
}

export function toInputMajor(layer: SparseLayer): InputMajorLayer {
  const n = layer.neurons;
  const nnz = layerNonzeros(layer);
  const inputStart = new Uint32Array(n + 1);
  const outputIndex = new Uint32Array(nnz);
  const slot = new Uint32Array(nnz);
  fillInputMajorIndex(layer, inputStart, outputIndex, new Uint32Array(n), slot);
  const weight = new Float32Array(nnz);
  for (let e = 0; e < nnz; e++) weight[slot[e]] = layer.weight[e];
  return { neurons: n, inputStart, outputIndex, weight };
}
