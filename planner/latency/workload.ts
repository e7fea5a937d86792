// The workload a plan is sized for: per layer, how dense the activations are and how many
// multiply-adds the kernel does in each regime. It comes from running the real kernel serially on
// a strided sample of the planning inputs and scaling to all rows (deterministic: counters only,
// no clocks), or from a stated density when no inputs are run. Density drives both the bytes the
// channels move and the compute time.

import { UsageError } from '../errors.ts';
import { layerNonzeros, rowsNonzeros, type SparseNetwork, type SparseRows } from '../model/network.ts';
import { SparseLayerKernel, prepareLayer, DEFAULT_GATHER_ABOVE_DENSITY, type LayerWork } from '../../functions/kernels/layer-kernel.ts';

export interface LayerActivity {
  /** 1-based. */
  readonly layer: number;
  /** Nonzeros of the activations this layer reads, over all rows (scaled from the sample). */
  readonly inputNonzeros: number;
  /** inputNonzeros / (rows x neurons). */
  readonly inputDensity: number;
  /** Rows with any nonzero among those this layer reads. */
  readonly inputActiveRows: number;
  /** Multiply-adds of rows the kernel scatters (sparse rows). */
  readonly scatterMultiplyAdds: number;
  /** Multiply-adds of rows it gathers (dense rows: a full pass over W each). */
  readonly gatherMultiplyAdds: number;
  readonly outputNonzeros: number;
}

export type WorkloadSource = 'serial-sample' | 'assumed-density';

export interface WorkloadProfile {
  readonly source: WorkloadSource;
  /** Rows (input samples) of the workload. */
  readonly rows: number;
  readonly neurons: number;
  /** Rows actually run (serial-sample) and how they were chosen. */
  readonly sampleRows: number;
  readonly sampleSelection: 'strided' | 'none';
  /** The density assumed for every layer (assumed-density). */
  readonly assumedDensity?: number;
  readonly layers: readonly LayerActivity[];
  /** Density of the final activations. */
  readonly outputDensity: number;
  /** Fraction of rows with a nonzero final row (the benchmark's categories), from the sample. */
  readonly categoryFraction: number;
}

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

function activeRows(rows: SparseRows): number {
  let active = 0;
  for (let r = 0; r < rows.rows; r++) if (rows.rowStart[r + 1] > rows.rowStart[r]) active++;
  return active;
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
    throw new UsageError(`inputs have ${inputs.columns} columns, the network ${network.neurons} neurons`, { field: 'inputs' });
  }
  if (inputs.rows < 1) throw new UsageError('the planning inputs have no rows', { field: 'inputs' });
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
    const inputActive = activeRows(y) * scale;
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
    categoryFraction: activeRows(y) / sample.rows,
  };
}

/**
 * A workload of `rows` rows whose activations have `density` at every layer (a stated default
 * when no inputs are run). Rows above the kernel's gather threshold are counted as gathered.
 */
export function assumedWorkload(network: SparseNetwork, rows: number, density: number): WorkloadProfile {
  if (!(density > 0 && density <= 1)) throw new UsageError(`assumed density must be in (0, 1], got ${density}`, { field: 'density' });
  if (!Number.isInteger(rows) || rows < 1) throw new UsageError(`rows must be an integer >= 1, got ${rows}`, { field: 'rows' });
  const n = network.neurons;
  const gathered = density > DEFAULT_GATHER_ABOVE_DENSITY;
  const layers = network.layers.map((layer, l): LayerActivity => {
    const nnz = layerNonzeros(layer);
    const inputNonzeros = rows * density * n;
    // A scattered row does (its nonzeros x average out-degree) multiply-adds; a gathered one nnz(W).
    const macs = gathered ? rows * nnz : rows * density * nnz;
    return {
      layer: l + 1, inputNonzeros, inputDensity: density, inputActiveRows: rows,
      scatterMultiplyAdds: gathered ? 0 : macs, gatherMultiplyAdds: gathered ? macs : 0,
      outputNonzeros: inputNonzeros,
    };
  });
  return {
    source: 'assumed-density', rows, neurons: n, sampleRows: 0, sampleSelection: 'none', assumedDensity: density,
    layers, outputDensity: density, categoryFraction: 1,
  };
}
