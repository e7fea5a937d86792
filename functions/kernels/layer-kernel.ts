// The sparse layer kernel, the hot path of the whole system:
//   Y_next = min(cap, ReLU(Y W + bias on the nonzeros of Y W)), rows of Y sparse.
//
// Each activation row takes one of two paths, chosen by its density:
// - scatter (sparse rows): every nonzero y_k adds y_k * W[k, :] into a dense accumulator; zero
//   activations and dead rows cost nothing.
// - gather (dense rows): every output sums x[k] * W[k, j] over its inputs from a dense copy of
//   the row, reading instead of writing the accumulator, 8 rows at a time (gather.ts: a plain
//   TypeScript engine, and a WebAssembly SIMD one, the default, measured 1.5x faster end to end).
//   The later layers of the benchmark are a few hundred saturated rows, dense.
// Both sum each output's terms in ascending input order in double precision and round to
// float32 once, so the two paths, and any worker that owns a subset of the outputs, produce
// bit-identical values. "Nonzero" means the sum is not exactly 0 (the benchmark's definition).
// Buffers are allocated once per kernel and grown rarely; the loops allocate nothing.

import {
  toInputMajor, layerNonzeros,
  type InputMajorLayer, type SparseLayer, type SparseRows,
} from '../../model/network.ts';
import { createGatherEngine, GATHER_LANES, type GatherEngine, type GatherEngineName, type LaneBuffers } from './gather.ts';
import { ShapeMismatchError } from '../../model/errors.ts';

export interface PreparedLayer {
  readonly outputMajor: SparseLayer;
  readonly inputMajor: InputMajorLayer;
  readonly nonzeros: number;
  /**
   * The only outputs that have inputs, ascending, when a worker computes a subset of the layer
   * (its other outputs are empty rows of `outputMajor`): the kernel then scans these instead of
   * all N outputs. Absent: every output.
   */
  readonly outputs?: Uint32Array;
}

export function prepareLayer(layer: SparseLayer): PreparedLayer {
  return { outputMajor: layer, inputMajor: toInputMajor(layer), nonzeros: layerNonzeros(layer) };
}

/** Prepares a layer of which only `outputs` (ascending; a worker's share) have inputs. */
export function prepareLayerOutputs(layer: SparseLayer, outputs: Uint32Array): PreparedLayer {
  return { ...prepareLayer(layer), outputs };
}

/** What every layer kernel backend implements; serial inference and workers only see this. */
export interface LayerKernel {
  /** Backend name, with the mode that actually ran where the backend picks one (gpu.js). */
  readonly name: string;
  /** Applies one layer; the result is valid until the call after next. */
  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows;
}

export interface LayerWork {
  /** Multiply-adds executed (a gathered row does a full pass over W, zeros included). */
  multiplyAdds: number;
  scatterRows: number;
  gatherRows: number;
}

/** Growable column/value storage. */
class EntryBuffer {
  columnIndex = new Uint32Array(1024);
  value = new Float32Array(1024);
  /** Makes room for `needed` entries, keeping the first `used`. */
  reserve(needed: number, used: number): void {
    if (needed <= this.columnIndex.length) return;
    const size = Math.max(needed, this.columnIndex.length * 2);
    const columnIndex = new Uint32Array(size);
    columnIndex.set(this.columnIndex.subarray(0, used));
    const value = new Float32Array(size);
    value.set(this.value.subarray(0, used));
    this.columnIndex = columnIndex;
    this.value = value;
  }
}

export interface SparseKernelOptions {
  /**
   * A row is gathered (dense pass over W, 8 rows at a time) when its nonzeros exceed this
   * fraction of the neurons; sparser rows are scattered. `npm run bench -- kernel --sweep`
   * measures the choice on the real benchmark.
   */
  readonly gatherAboveDensity?: number;
  /** How dense rows are gathered; both give bit-identical results. Default wasm-simd. */
  readonly gatherEngine?: GatherEngineName;
}

export const DEFAULT_GATHER_ABOVE_DENSITY = 0.25;

/**
 * The plain TypeScript kernel: applies layers to activation rows. One instance per thread; the
 * returned rows are views into its buffers, valid until the call after next (two buffers alternate).
 */
export class SparseLayerKernel implements LayerKernel {
  readonly name: string;
  private readonly neurons: number;
  private readonly gatherThreshold: number;
  /** Scatter accumulator, all zeros between rows. */
  private readonly accumulator: Float64Array;
  /** Generation stamps: very sparse rows track touched outputs instead of scanning all of them. */
  private readonly stamp: Int32Array;
  private readonly touched: Uint32Array;
  private generation = 0;
  /** Dense rows, 8 at a time. */
  private readonly gather: GatherEngine;
  /** Rows are computed out of order (dense ones in full blocks) into `staged`, then assembled. */
  private staged = new EntryBuffer();
  private stagedOffset = new Uint32Array(0);
  private stagedLength = new Uint32Array(0);
  private gatherRowList = new Uint32Array(0);
  private outputs: [EntryBuffer, EntryBuffer] = [new EntryBuffer(), new EntryBuffer()];
  private readonly outputRowStarts: [Uint32Array, Uint32Array] = [new Uint32Array(1), new Uint32Array(1)];
  private current = 0;

  constructor(neurons: number, options: SparseKernelOptions = {}) {
    this.neurons = neurons;
    this.gatherThreshold = (options.gatherAboveDensity ?? DEFAULT_GATHER_ABOVE_DENSITY) * neurons;
    this.accumulator = new Float64Array(neurons);
    this.stamp = new Int32Array(neurons);
    this.touched = new Uint32Array(neurons);
    this.gather = createGatherEngine(options.gatherEngine ?? 'wasm-simd', neurons);
    this.name = `typescript (gather: ${this.gather.name})`;
  }

  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows {
    const n = this.neurons;
    if (input.columns !== n || layer.outputMajor.neurons !== n) {
      throw new ShapeMismatchError(`kernel for ${n} neurons got ${input.columns} input columns and a ${layer.outputMajor.neurons}-neuron layer`);
    }
    const rows = input.rows;
    if (this.stagedOffset.length < rows) {
      this.stagedOffset = new Uint32Array(rows);
      this.stagedLength = new Uint32Array(rows);
      this.gatherRowList = new Uint32Array(rows);
    }
    const { rowStart } = input;
    // A layer's output rarely exceeds 4x its input here; reserving once avoids repeated growth.
    this.staged.reserve(Math.min(rows * n, 4 * rowStart[rows] + n), 0);
    const stagedOffset = this.stagedOffset, stagedLength = this.stagedLength;
    let used = 0, macs = 0, gatherCount = 0, scatterRows = 0;

    // Sparse rows now, in order; dense rows listed for the blocked gather below.
    for (let r = 0; r < rows; r++) {
      const lo = rowStart[r], hi = rowStart[r + 1];
      stagedLength[r] = 0;
      if (hi === lo) continue;
      if (hi - lo > this.gatherThreshold) { this.gatherRowList[gatherCount++] = r; continue; }
      scatterRows++;
      this.staged.reserve(used + n, used);
      stagedOffset[r] = used;
      const rowMacs = scatterMultiplyAdds(input, lo, hi, layer.inputMajor);
      macs += rowMacs;
      used = this.scatterRow(input, lo, hi, layer, bias, cap, used, rowMacs);
      stagedLength[r] = used - stagedOffset[r];
    }
    // The layer is handed to the gather engine once per application (it copies it), then gathered in blocks.
    const laneBuffers = gatherCount > 0 ? this.gather.prepare(layer.outputMajor) : undefined;
    for (let first = 0; first < gatherCount; first += GATHER_LANES) {
      const lanes = Math.min(GATHER_LANES, gatherCount - first);
      this.staged.reserve(used + lanes * n, used);
      used = this.gatherRows(input, this.gatherRowList.subarray(first, first + lanes), laneBuffers!, layer.outputs, bias, cap, used);
      macs += lanes * layer.nonzeros;
    }

    // Assemble rows in order into the next output buffer. When the staged rows already are in
    // order (every row gathered, or every row scattered) the staging buffer becomes the output.
    const outStartSlot = this.current;
    if (this.outputRowStarts[outStartSlot].length < rows + 1) this.outputRowStarts[outStartSlot] = new Uint32Array(rows + 1);
    const outStart = this.outputRowStarts[outStartSlot];
    this.current ^= 1;
    let inOrder = true;
    let nnz = 0;
    outStart[0] = 0;
    for (let r = 0; r < rows; r++) {
      const len = stagedLength[r];
      if (len > 0 && stagedOffset[r] !== nnz) inOrder = false;
      nnz += len;
      outStart[r + 1] = nnz;
    }
    let out: EntryBuffer;
    if (inOrder) {
      out = this.staged;
      this.staged = this.outputs[outStartSlot];
      this.outputs[outStartSlot] = out;
    } else {
      out = this.outputs[outStartSlot];
      out.reserve(used, 0);
      const sc = this.staged.columnIndex, sv = this.staged.value, oc = out.columnIndex, ov = out.value;
      for (let r = 0; r < rows; r++) {
        const len = stagedLength[r];
        if (len === 0) continue;
        const off = stagedOffset[r];
        oc.set(sc.subarray(off, off + len), outStart[r]);
        ov.set(sv.subarray(off, off + len), outStart[r]);
      }
    }
    if (work) { work.multiplyAdds += macs; work.scatterRows += scatterRows; work.gatherRows += gatherCount; }
    return {
      rows, columns: n,
      rowStart: outStart.subarray(0, rows + 1),
      columnIndex: out.columnIndex.subarray(0, nnz),
      value: out.value.subarray(0, nnz),
    };
  }

  /**
   * One sparse row (entries lo..hi of `input`, `macs` multiply-adds) by scatter into the staging
   * buffer at `at`. Returns the new end of the staged entries.
   */
  private scatterRow(input: SparseRows, lo: number, hi: number, layer: PreparedLayer, bias: number, cap: number, at: number, macs: number): number {
    const n = this.neurons;
    const { columnIndex, value } = input;
    const { inputStart, outputIndex, weight } = layer.inputMajor;
    const acc = this.accumulator;
    const oc = this.staged.columnIndex, ov = this.staged.value;
    const outputs = layer.outputs;
    if (macs * 4 >= (outputs ? outputs.length : n)) {
      // Dense accumulator and one scan: no per-multiply-add bookkeeping. An untouched output and
      // a touched one summing to exactly 0 are both "zero" by the benchmark's definition.
      for (let p = lo; p < hi; p++) {
        const k = columnIndex[p], v = value[p];
        const end = inputStart[k + 1];
        for (let e = inputStart[k]; e < end; e++) acc[outputIndex[e]] += v * weight[e];
      }
      if (outputs) {
        // Outputs without inputs are never touched: scan only the ones that have some.
        for (let i = 0; i < outputs.length; i++) {
          const j = outputs[i];
          let s = acc[j];
          if (s !== 0) {
            acc[j] = 0;
            s += bias;
            if (s > 0) { oc[at] = j; ov[at++] = s > cap ? cap : s; }
          }
        }
      } else {
        for (let j = 0; j < n; j++) {
          let s = acc[j];
          if (s !== 0) {
            acc[j] = 0;
            s += bias;
            if (s > 0) { oc[at] = j; ov[at++] = s > cap ? cap : s; }
          }
        }
      }
    } else {
      let gen = ++this.generation;
      if (gen === 0x7fffffff) { this.stamp.fill(0); this.generation = gen = 1; }
      const stamp = this.stamp, touched = this.touched;
      let t = 0;
      for (let p = lo; p < hi; p++) {
        const k = columnIndex[p];
        const end = inputStart[k + 1];
        for (let e = inputStart[k]; e < end; e++) {
          const j = outputIndex[e];
          if (stamp[j] !== gen) { stamp[j] = gen; touched[t++] = j; }
        }
      }
      for (let p = lo; p < hi; p++) {
        const k = columnIndex[p], v = value[p];
        const end = inputStart[k + 1];
        for (let e = inputStart[k]; e < end; e++) acc[outputIndex[e]] += v * weight[e];
      }
      const list = touched.subarray(0, t).sort();
      for (let i = 0; i < t; i++) {
        const j = list[i];
        let s = acc[j];
        acc[j] = 0;
        if (s !== 0) {
          s += bias;
          if (s > 0) { oc[at] = j; ov[at++] = s > cap ? cap : s; }
        }
      }
    }
    return at;
  }

  /**
   * Gathers up to GATHER_LANES dense rows in one pass over W and stages each row's outputs at
   * `used`. Returns the new staging end.
   */
  private gatherRows(input: SparseRows, rowList: Uint32Array, laneBuffers: LaneBuffers, outputs: Uint32Array | undefined, bias: number, cap: number, used: number): number {
    const n = this.neurons;
    const { x, y } = laneBuffers;
    const { rowStart, columnIndex, value } = input;
    const lanes = rowList.length;
    for (let lane = 0; lane < lanes; lane++) {
      const r = rowList[lane];
      for (let p = rowStart[r]; p < rowStart[r + 1]; p++) x[columnIndex[p] * GATHER_LANES + lane] = value[p];
    }
    this.gather.run();
    const oc = this.staged.columnIndex, ov = this.staged.value;
    let at = used;
    for (let lane = 0; lane < lanes; lane++) {
      const r = rowList[lane];
      for (let p = rowStart[r]; p < rowStart[r + 1]; p++) x[columnIndex[p] * GATHER_LANES + lane] = 0;
      this.stagedOffset[r] = at;
      if (outputs) {
        // Outputs without inputs sum to 0: read only the ones that have some.
        for (let i = 0; i < outputs.length; i++) {
          const j = outputs[i];
          let s = y[(j << 3) + lane];
          if (s !== 0) {
            s += bias;
            if (s > 0) { oc[at] = j; ov[at++] = s > cap ? cap : s; }
          }
        }
      } else {
        for (let j = 0; j < n; j++) {
          let s = y[(j << 3) + lane];
          if (s !== 0) {
            s += bias;
            if (s > 0) { oc[at] = j; ov[at++] = s > cap ? cap : s; }
          }
        }
      }
      this.stagedLength[r] = at - this.stagedOffset[r];
    }
    return at;
  }
}

/** Multiply-adds a scattered row (entries lo..hi of `input`) costs: the fan-out of its nonzeros. */
function scatterMultiplyAdds(input: SparseRows, lo: number, hi: number, layer: InputMajorLayer): number {
  const { columnIndex } = input;
  const { inputStart } = layer;
  let macs = 0;
  for (let p = lo; p < hi; p++) macs += inputStart[columnIndex[p] + 1] - inputStart[columnIndex[p]];
  return macs;
}
