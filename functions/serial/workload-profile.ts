// Profiles the workload a plan is sized for by running the real kernel serially on the planning
// inputs (deterministic: counters only, no clocks). The planner takes the result as a value.

import { ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { activeRowCount, layerNonzeros, rowsNonzeros, type SparseNetwork, type SparseRows } from '../../model/network.ts';
import type { LayerActivity, WorkloadProfile } from '../../planner/latency/workload.ts';
import { SparseLayerKernel, prepareLayer, type LayerWork } from '../kernels/layer-kernel.ts';

/** Rows floor(i x rows / count) for i < count: spread over the whole input, deterministic. */
export function stridedRows(rows: SparseRows, count: number): SparseRows {
  const n = Math.min(count, rows.rows);
  if (n === rows.rows) return rows;
  const picks = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const r = Math.floor((i * rows.rows) / n);
    picks[i] = r;
    total += rows.rowStart[r + 1] - rows.rowStart[r];
  }
  const rowStart = new Uint32Array(n + 1);
  const columnIndex = new Uint32Array(total);
  const value = new Float32Array(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const lo = rows.rowStart[picks[i]], hi = rows.rowStart[picks[i] + 1];
    columnIndex.set(rows.columnIndex.subarray(lo, hi), at);
    value.set(rows.value.subarray(lo, hi), at);
    at += hi - lo;
    rowStart[i + 1] = at;
  }
  return { rows: n, columns: rows.columns, rowStart, columnIndex, value };
}

export interface ProfileWorkloadOptions {
  /** Rows of the sample to run serially. Default: defaultSampleRows(). */
  readonly sampleRows?: number;
  readonly onLayer?: (layer: number, of: number) => void;
}

/** Multiply-adds the default sample may cost (a few seconds of the kernel). */
export const SAMPLE_MULTIPLY_ADD_BUDGET = 2e9;

/**
 * Default sample: every row up to 1,000, fewer for large networks so that the serial run stays
 * within SAMPLE_MULTIPLY_ADD_BUDGET at a typical density of 0.25 (at least 16 rows).
 */
export function defaultSampleRows(network: SparseNetwork, rows: number): number {
  let nonzeros = 0;
  for (const layer of network.layers) nonzeros += layerNonzeros(layer);
  const affordable = Math.floor(SAMPLE_MULTIPLY_ADD_BUDGET / Math.max(1, 0.25 * nonzeros));
  return Math.min(rows, 1000, Math.max(16, affordable));
}

/** Runs the real kernel on a strided sample of `inputs` and scales its counters to all rows. */
export function profileWorkload(network: SparseNetwork, inputs: SparseRows, options: ProfileWorkloadOptions = {}): WorkloadProfile {
  if (inputs.columns !== network.neurons) {
    throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the network ${network.neurons} neurons`, { field: 'inputs' });
  }
  if (inputs.rows < 1) throw new ShapeMismatchError('the planning inputs have no rows', { field: 'inputs' });
  const requested = options.sampleRows ?? defaultSampleRows(network, inputs.rows);
  if (!Number.isInteger(requested) || requested < 1) throw new UsageError(`sample rows must be an integer >= 1, got ${requested}`, { field: 'sampleRows' });
  const sample = stridedRows(inputs, requested);
  const scale = inputs.rows / sample.rows;
  const n = network.neurons;
  const kernel = new SparseLayerKernel(n);
  const layers: LayerActivity[] = [];
  let y = sample;
  for (let l = 0; l < network.layers.length; l++) {
    const layer = network.layers[l];
    // One layer prepared at a time: large networks never hold two input-major copies.
    const prepared = prepareLayer(layer);
    const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
    const inputNonzeros = rowsNonzeros(y) * scale;
    const inputActive = activeRowCount(y) * scale;
    y = kernel.apply(y, prepared, network.bias, network.activationCap, work);
    const gather = work.gatherRows * layerNonzeros(layer);
    layers.push({
      layer: l + 1,
      inputNonzeros,
      inputDensity: inputNonzeros / (inputs.rows * n),
      inputActiveRows: inputActive,
      scatterMultiplyAdds: (work.multiplyAdds - gather) * scale,
      gatherMultiplyAdds: gather * scale,
      outputNonzeros: rowsNonzeros(y) * scale,
    });
    options.onLayer?.(l + 1, network.layers.length);
  }
  return {
    source: 'serial-sample',
    rows: inputs.rows,
    neurons: n,
    sampleRows: sample.rows,
    sampleSelection: sample.rows === inputs.rows ? 'none' : 'strided',
    layers,
    outputDensity: rowsNonzeros(y) / (sample.rows * n),
    categoryFraction: activeRowCount(y) / sample.rows,
  };
}
