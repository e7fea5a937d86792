// The workload a plan is sized for: per layer, how dense the activations are and how many
// multiply-adds the kernel does in each regime. It comes from running the real kernel serially on
// the planning inputs (functions/serial/workload-profile.ts, at the edge: the planner runs no
// kernel), or from a stated density when no inputs are run. Density drives both the bytes the
// channels move and the compute time.

import { UsageError } from '../../model/errors.ts';
import { layerNonzeros, type SparseNetwork } from '../../model/network.ts';

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
  /** Rows actually run (serial-sample) and how they were chosen: every row, a seeded simple random sample, or none (assumed density). */
  readonly sampleRows: number;
  readonly sampleSelection: 'all' | 'random' | 'none';
  /** The density assumed for every layer (assumed-density). */
  readonly assumedDensity?: number;
  readonly layers: readonly LayerActivity[];
  /** Density of the final activations. */
  readonly outputDensity: number;
  /** Fraction of rows with a nonzero final row (the benchmark's categories), from the sample. */
  readonly categoryFraction: number;
}

/**
 * A workload of `rows` rows whose activations have `density` at every layer (a stated default
 * when no inputs are run). Rows above the kernel's gather threshold `gatherAboveDensity` are
 * counted as gathered.
 */
export function assumedWorkload(network: SparseNetwork, rows: number, density: number, gatherAboveDensity: number): WorkloadProfile {
  if (!(density > 0 && density <= 1)) throw new UsageError(`assumed density must be in (0, 1], got ${density}`, { field: 'density' });
  if (!Number.isInteger(rows) || rows < 1) throw new UsageError(`rows must be an integer >= 1, got ${rows}`, { field: 'rows' });
  const n = network.neurons;
  const gathered = density > gatherAboveDensity;
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
