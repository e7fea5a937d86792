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

/**
 * Bytes of one part's payload (a set of whole rows, encoded and compressed as one, before its
 * message header) as measured on parts of the profiled rows really encoded and compressed
 * (functions/serial/traffic-profile.ts): at each measured size, the mean rows, nonzeros and
 * payload bytes. Compression makes bytes strongly concave in rows (the real case's layer 2: 1 row
 * 3.9 KB, 256 rows 141 KB, all 880 rows 140 KB), so a part is priced by interpolating this table
 * (partPayloadBytes), not by a line.
 */
export interface PartBytesModel {
  /** Ascending. */
  readonly rows: readonly number[];
  readonly nonzeros: readonly number[];
  readonly payloadBytes: readonly number[];
  /** What a row adds whose content (samples and values) another row of the part already has. */
  readonly duplicateRowBytes: number;
}

/**
 * Payload bytes of a part of `rows` rows with `nonzeros` nonzeros: the measured bytes at that many
 * rows (linear between measured sizes, proportional below the first, the largest above the last,
 * which holds every row with a nonzero), times the part's nonzeros over the measured parts' at
 * that size (denser rows, more bytes).
 */
export function partPayloadBytes(model: PartBytesModel, rows: number, nonzeros: number): number {
  const n = model.rows.length;
  if (n === 0 || rows <= 0) return 0;
  let bytes: number, measuredNonzeros: number;
  if (rows <= model.rows[0]) {
    bytes = (model.payloadBytes[0] * rows) / model.rows[0];
    measuredNonzeros = (model.nonzeros[0] * rows) / model.rows[0];
  } else if (rows >= model.rows[n - 1]) {
    bytes = model.payloadBytes[n - 1];
    measuredNonzeros = model.nonzeros[n - 1];
  } else {
    let i = 1;
    while (model.rows[i] < rows) i++;
    const f = (rows - model.rows[i - 1]) / (model.rows[i] - model.rows[i - 1]);
    bytes = model.payloadBytes[i - 1] + f * (model.payloadBytes[i] - model.payloadBytes[i - 1]);
    measuredNonzeros = model.nonzeros[i - 1] + f * (model.nonzeros[i] - model.nonzeros[i - 1]);
  }
  return measuredNonzeros > 0 ? bytes * (nonzeros / measuredNonzeros) : bytes;
}

/**
 * What the channels' wire format makes of the workload's activations, measured when profiling:
 * the planner prices the rows each partition really sends with it (planner/optimize/wire-traffic.ts).
 */
export interface WireTrafficProfile {
  /** The codec the parts were compressed with ("brotli-5"): the plan's wire options must name it. */
  readonly codec: string;
  /**
   * rowNonzeros[l - 1][k]: nonzeros of neuron k's activation row (over all workload rows, scaled
   * from the sample) as read by layer l; index L: the final outputs.
   */
  readonly rowNonzeros: readonly Float64Array[];
  /**
   * rowClass[l - 1][k]: id of the content of neuron k's row as read by layer l (equal rows, equal
   * id; -1 without a nonzero): a part is priced by its distinct rows.
   */
  readonly rowClass: readonly Int32Array[];
  /** partBytes[l - 1]: the payload model of the (distinct) rows layer l reads. */
  readonly partBytes: readonly PartBytesModel[];
  /** How the part models were measured (sizes, sample), for reports. */
  readonly method: string;
}

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
  /** The wire format's bytes of these activations (serial-sample only); without it the planner falls back to wire-format.json. */
  readonly traffic?: WireTrafficProfile;
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
