// Profiles the workload a plan is sized for by running the real kernel serially on the planning
// inputs (deterministic for a seed: counters only, no clocks). The planner takes the result as a
// value.
//
// Every row is run when that is affordable (a budget of multiply-adds, a few seconds of the
// kernel); otherwise a simple random sample of rows, chosen by a seeded permutation, so every row
// is equally likely and the scaled counts are unbiased. (A strided sample, every k-th row, was
// biased: the real GraphChallenge inputs alternate lighter even and heavier odd rows, and every
// 10th row understated the nonzeros of layers 2-120 by a third.) Rows are independent, so the
// sample runs in batches whose counters add up exactly.

import { ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { activeRowCount, layerNonzeros, rowsNonzeros, type SparseNetwork, type SparseRows } from '../../model/network.ts';
import { SeededRandom } from '../../model/random.ts';
import type { LayerActivity, PartBytesModel, WorkloadProfile } from '../../planner/latency/workload.ts';
import { SparseLayerKernel, prepareLayer, type LayerWork } from '../kernels/layer-kernel.ts';
import { activationColumns } from '../channels/routing.ts';
import { DEFAULT_WIRE_CODEC, wireCodecLabel, type WireCodec } from '../channels/wire.ts';
import { measureParts, partBytesModel, rowContentClasses, PART_SIZE_FACTOR, PART_SIZES_DOUBLING_BELOW, PARTS_PER_SIZE, rowNonzeroCounts } from './traffic-profile.ts';

/** The rows `picks` (ascending indices) of `rows`, copied into a new matrix. */
export function pickRows(rows: SparseRows, picks: Uint32Array): SparseRows {
  const n = picks.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += rows.rowStart[picks[i] + 1] - rows.rowStart[picks[i]];
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

/** A seeded random order of the rows 0..rows-1: a prefix of it is a simple random sample. */
export function sampleOrder(rows: number, seed: number): Uint32Array {
  return new SeededRandom(seed).permutation(rows);
}

export interface ProfileWorkloadOptions {
  /** Run exactly this many rows (a seeded random sample; all rows when >= the inputs' rows). Default: by budget. */
  readonly sampleRows?: number;
  /** Seed of the random sample. Default 1. */
  readonly seed?: number;
  /** Multiply-adds the default sample may cost. Default SAMPLE_MULTIPLY_ADD_BUDGET. */
  readonly multiplyAddBudget?: number;
  readonly onLayer?: (layer: number, of: number) => void;
  /**
   * Codec whose bytes the traffic profile measures (functions/serial/traffic-profile.ts), the one
   * the plan's wire options name; false: no traffic profile (the planner then prices bytes from
   * planner/latency/wire-format.json). Default DEFAULT_WIRE_CODEC.
   */
  readonly wireCodec?: WireCodec | false;
}

/** Multiply-adds the default profile may cost (a few seconds of the kernel on one core). */
export const SAMPLE_MULTIPLY_ADD_BUDGET = 2e9;

/** Rows of the pilot batch that measures the cost per row when not every row is known to be affordable. */
export const PILOT_ROWS = 256;

/** Counters of the rows run so far, summed over batches. */
interface Totals {
  readonly rows: number;
  readonly inputNonzeros: Float64Array;
  readonly inputActiveRows: Float64Array;
  readonly scatterMultiplyAdds: Float64Array;
  readonly gatherMultiplyAdds: Float64Array;
  readonly outputNonzeros: Float64Array;
  readonly finalNonzeros: number;
  readonly finalActiveRows: number;
  /** rowNonzeros[l]: per neuron, the nonzeros of its row of Y_l (l = 0: the inputs), summed over batches. */
  readonly rowNonzeros: Float64Array[];
  /** The part models measured on this batch's rows, per layer (only the batch asked to measure). */
  readonly partBytes: PartBytesModel[] | null;
  /** Samples of the batch the part models were measured on. */
  readonly measuredSamples: number;
  /** Per layer, the row content classes of that batch. */
  readonly rowClass: Int32Array[];
}

function emptyTotals(layers: number): Totals {
  return {
    rows: 0,
    inputNonzeros: new Float64Array(layers), inputActiveRows: new Float64Array(layers),
    scatterMultiplyAdds: new Float64Array(layers), gatherMultiplyAdds: new Float64Array(layers),
    outputNonzeros: new Float64Array(layers), finalNonzeros: 0, finalActiveRows: 0,
    rowNonzeros: [], partBytes: null, measuredSamples: 0, rowClass: [],
  };
}

/** Adds `counts` into `into[l]` (allocated at first use). */
function addRowNonzeros(into: Float64Array[], l: number, counts: Float64Array): void {
  if (!into[l]) into[l] = new Float64Array(counts.length);
  for (let k = 0; k < counts.length; k++) into[l][k] += counts[k];
}

/** Runs every layer on `batch` and adds its counters to `into`; with `measure`, the wire traffic's part models of its rows too. */
function runBatch(network: SparseNetwork, batch: SparseRows, into: Totals, onLayer?: (layer: number, of: number) => void, measure?: { codec: WireCodec; seed: number }): Totals {
  const kernel = new SparseLayerKernel(network.neurons);
  const L = network.layers.length;
  const partBytes: PartBytesModel[] = [];
  const rowClass: Int32Array[] = [];
  let y = batch;
  for (let l = 0; l < L; l++) {
    addRowNonzeros(into.rowNonzeros, l, rowNonzeroCounts(y));
    if (measure) {
      const columns = activationColumns(y);
      const classOf = rowContentClasses(columns);
      const { parts, duplicateRowBytes } = measureParts(columns, classOf, measure.codec, measure.seed + l);
      partBytes.push(partBytesModel(parts, duplicateRowBytes));
      rowClass.push(classOf);
    }
    const layer = network.layers[l];
    // One layer prepared at a time: large networks never hold two input-major copies.
    const prepared = prepareLayer(layer);
    const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
    into.inputNonzeros[l] += rowsNonzeros(y);
    into.inputActiveRows[l] += activeRowCount(y);
    y = kernel.apply(y, prepared, network.bias, network.activationCap, work);
    const gather = work.gatherRows * layerNonzeros(layer);
    into.scatterMultiplyAdds[l] += work.multiplyAdds - gather;
    into.gatherMultiplyAdds[l] += gather;
    into.outputNonzeros[l] += rowsNonzeros(y);
    onLayer?.(l + 1, L);
  }
  addRowNonzeros(into.rowNonzeros, L, rowNonzeroCounts(y));
  return {
    ...into, rows: into.rows + batch.rows, finalNonzeros: into.finalNonzeros + rowsNonzeros(y), finalActiveRows: into.finalActiveRows + activeRowCount(y),
    ...(measure ? { partBytes, rowClass, measuredSamples: batch.rows } : {}),
  };
}

function multiplyAddsOf(t: Totals): number {
  let sum = 0;
  for (let l = 0; l < t.scatterMultiplyAdds.length; l++) sum += t.scatterMultiplyAdds[l] + t.gatherMultiplyAdds[l];
  return sum;
}

/** Ascending copy of `order[from..to)`. */
function slice(order: Uint32Array, from: number, to: number): Uint32Array {
  return order.slice(from, to).sort();
}

/**
 * Multiply-adds per row before any is run: the inputs' own nonzeros per row times the network's
 * average fan-out, at every layer (activations usually thin out, so usually an overestimate).
 */
function aPrioriMultiplyAddsPerRow(network: SparseNetwork, inputs: SparseRows): number {
  const n = network.neurons;
  let fanOutSum = 0;
  for (const layer of network.layers) fanOutSum += layerNonzeros(layer) / n;
  return Math.max(1, (rowsNonzeros(inputs) / inputs.rows) * fanOutSum);
}

/**
 * Runs the real kernel on every row of `inputs` when the budget allows, else on a seeded random
 * sample, and scales the counters to all rows.
 */
export function profileWorkload(network: SparseNetwork, inputs: SparseRows, options: ProfileWorkloadOptions = {}): WorkloadProfile {
  if (inputs.columns !== network.neurons) {
    throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the network ${network.neurons} neurons`, { field: 'inputs' });
  }
  if (inputs.rows < 1) throw new ShapeMismatchError('the planning inputs have no rows', { field: 'inputs' });
  if (options.sampleRows !== undefined && !(Number.isInteger(options.sampleRows) && options.sampleRows >= 1)) {
    throw new UsageError(`sample rows must be an integer >= 1, got ${options.sampleRows}`, { field: 'sampleRows' });
  }
  const L = network.layers.length;
  const R = inputs.rows;
  const budget = options.multiplyAddBudget ?? SAMPLE_MULTIPLY_ADD_BUDGET;
  const codec = options.wireCodec === undefined ? DEFAULT_WIRE_CODEC : options.wireCodec;
  const measure = codec === false ? undefined : { codec, seed: options.seed ?? 1 };
  let totals = emptyTotals(L);
  if (options.sampleRows !== undefined && options.sampleRows >= R) {
    totals = runBatch(network, inputs, totals, options.onLayer, measure);
  } else if (options.sampleRows !== undefined) {
    const order = sampleOrder(R, options.seed ?? 1);
    totals = runBatch(network, pickRows(inputs, slice(order, 0, options.sampleRows)), totals, options.onLayer, measure);
  } else if (aPrioriMultiplyAddsPerRow(network, inputs) * R <= budget) {
    totals = runBatch(network, inputs, totals, options.onLayer, measure);
  } else {
    // A pilot batch measures the cost per row; the rest of the budget runs the next rows of the
    // same random order (or every row, when it turns out affordable).
    const order = sampleOrder(R, options.seed ?? 1);
    const pilot = Math.min(R, PILOT_ROWS, Math.max(16, Math.floor(budget / 4 / aPrioriMultiplyAddsPerRow(network, inputs))));
    const pilotRows = pickRows(inputs, slice(order, 0, pilot));
    totals = runBatch(network, pilotRows, totals, options.onLayer);
    const perRow = Math.max(1, multiplyAddsOf(totals) / pilot);
    const affordable = Math.max(pilot, Math.min(R, Math.floor(budget / perRow)));
    // The part models are measured on the widest batch (the rest of the sample, else the pilot
    // again: its rows' bytes only, its counters are not added twice).
    if (affordable > pilot) totals = runBatch(network, pickRows(inputs, slice(order, pilot, affordable)), totals, options.onLayer, measure);
    else if (measure) totals = { ...totals, ...pick(runBatch(network, pilotRows, emptyTotals(L), undefined, measure)) };
  }
  const scale = R / totals.rows;
  const n = network.neurons;
  const layers = Array.from({ length: L }, (_, l): LayerActivity => ({
    layer: l + 1,
    inputNonzeros: totals.inputNonzeros[l] * scale,
    inputDensity: (totals.inputNonzeros[l] * scale) / (R * n),
    inputActiveRows: totals.inputActiveRows[l] * scale,
    scatterMultiplyAdds: totals.scatterMultiplyAdds[l] * scale,
    gatherMultiplyAdds: totals.gatherMultiplyAdds[l] * scale,
    outputNonzeros: totals.outputNonzeros[l] * scale,
  }));
  return {
    source: 'serial-sample',
    rows: R,
    neurons: n,
    sampleRows: totals.rows,
    sampleSelection: totals.rows === R ? 'all' : 'random',
    layers,
    outputDensity: totals.finalNonzeros / (totals.rows * n),
    categoryFraction: totals.finalActiveRows / totals.rows,
    ...(measure && totals.partBytes ? {
      traffic: {
        codec: wireCodecLabel(measure.codec),
        rowNonzeros: totals.rowNonzeros.map((counts) => counts.map((c) => c * scale)),
        partBytes: totals.partBytes,
        rowClass: totals.rowClass,
        method: `per layer, ${PARTS_PER_SIZE} seeded random sets of distinct rows (equal rows counted once, each repeat at its measured cost), 1, 2, 4, ... ${PART_SIZES_DOUBLING_BELOW}, ${PART_SIZES_DOUBLING_BELOW * PART_SIZE_FACTOR}, ... rows with a nonzero and all of them, encoded (wire format) and compressed with ${wireCodecLabel(measure.codec)} on ${totals.measuredSamples} of ${R} samples; `
          + 'a part priced by the mean bytes at its rows (interpolated) times its nonzeros over theirs; row nonzeros scaled by rows / sample rows',
      },
    } : {}),
  };
}

/** The part models of a batch run only to measure them. */
function pick(t: Totals): Pick<Totals, 'partBytes' | 'measuredSamples' | 'rowClass'> {
  return { partBytes: t.partBytes, measuredSamples: t.measuredSamples, rowClass: t.rowClass };
}
