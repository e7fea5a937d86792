// An independent, deliberately naive implementation of the benchmark's layer rule on dense
// matrices, to check the optimized kernels against.
import type { SparseNetwork, SparseRows } from '../../model/network.ts';

export function toDense(rows: SparseRows): Float64Array[] {
  const out: Float64Array[] = [];
  for (let r = 0; r < rows.rows; r++) {
    const row = new Float64Array(rows.columns);
    for (let p = rows.rowStart[r]; p < rows.rowStart[r + 1]; p++) row[rows.columnIndex[p]] = rows.value[p];
    out.push(row);
  }
  return out;
}

/** Y <- min(cap, ReLU(Y W + bias on nonzeros)), W[k][j] dense, summing k ascending, float32 storage. */
export function naiveInference(network: SparseNetwork, inputs: SparseRows): Float64Array[] {
  const n = network.neurons;
  let y = toDense(inputs);
  for (const layer of network.layers) {
    const w: Float64Array[] = Array.from({ length: n }, () => new Float64Array(n));
    for (let j = 0; j < n; j++) {
      for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) w[layer.inputIndex[e]][j] = layer.weight[e];
    }
    y = y.map((row) => {
      const next = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) if (row[k] !== 0 && w[k][j] !== 0) s += row[k] * w[k][j];
        if (s !== 0) next[j] = Math.fround(Math.min(network.activationCap, Math.max(0, s + network.bias)));
      }
      return next;
    });
  }
  return y;
}
