// The same layer computed by a gpu.js kernel: on a GPU where one is usable, otherwise gpu.js
// falls back (quietly) to WebAssembly or plain JS; `name` reports the mode that actually ran.
//
// GPUs want regular work, so this backend is dense over the live rows: rows that died are
// dropped before every layer, the rest go up as an R x N matrix, weights as ELL (every output's
// inputs padded to the layer's maximum fan-in with weight 0). Sums run in ascending input order
// like the TypeScript kernel, but gpu.js accumulates in float32 in its GPU and webasm modes, so
// values agree within 1e-4 relative (4e-6 measured after 12 layers; the benchmark's values are
// exact either way, and its categories match).

import { GPU, type IGPUKernelSettings, type IKernelRunShortcut } from 'gpu.js';
import { nonzeroRows, type SparseLayer, type SparseRows } from '../../model/network.ts';
import type { LayerKernel, LayerWork, PreparedLayer } from './layer-kernel.ts';

export type GpuMode = 'gpu' | 'cpu' | 'webasm' | 'webgl' | 'webgl2' | 'headlessgl' | 'webgpu';

interface EllWeights {
  readonly fanIn: number;
  readonly index: Float32Array;
  readonly weight: Float32Array;
}

function toEll(layer: SparseLayer): EllWeights {
  const n = layer.neurons;
  let fanIn = 1;
  for (let j = 0; j < n; j++) fanIn = Math.max(fanIn, layer.outputStart[j + 1] - layer.outputStart[j]);
  const index = new Float32Array(n * fanIn);
  const weight = new Float32Array(n * fanIn);
  for (let j = 0; j < n; j++) {
    let slot = j * fanIn;
    for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++, slot++) {
      index[slot] = layer.inputIndex[e];
      weight[slot] = layer.weight[e];
    }
  }
  return { fanIn, index, weight };
}

export class GpuLayerKernel implements LayerKernel {
  readonly name: string;
  private readonly gpu: GPU;
  private readonly neurons: number;
  private readonly ell = new WeakMap<PreparedLayer, EllWeights>();
  private readonly kernels = new Map<number, IKernelRunShortcut>();

  constructor(neurons: number, mode?: GpuMode) {
    this.neurons = neurons;
    this.gpu = mode ? new GPU({ mode }) : new GPU();
    this.name = `gpu.js (${this.gpu.mode})`;
  }

  /** The mode gpu.js chose (it may differ from the one asked for when that one is unusable). */
  get mode(): string {
    return this.gpu.mode;
  }

  private kernelFor(fanIn: number): IKernelRunShortcut {
    let kernel = this.kernels.get(fanIn);
    if (!kernel) {
      // loopMaxIterations is a real gpu.js setting missing from its .d.ts: gpu.js silently cuts
      // loops at 1000 iterations unless told otherwise.
      const settings: IGPUKernelSettings & { loopMaxIterations: number } = {
        constants: { n: this.neurons, fanIn },
        output: [this.neurons, 1],
        dynamicOutput: true,
        dynamicArguments: true,
        loopMaxIterations: fanIn,
        tactic: 'precision',
      };
      kernel = this.gpu.createKernel(
        function (this: { thread: { x: number; y: number }; constants: { n: number; fanIn: number } }, x: number[], index: number[], weight: number[], bias: number, cap: number) {
          const j = this.thread.x;
          const base = this.thread.y * this.constants.n;
          let s = 0;
          for (let e = 0; e < this.constants.fanIn; e++) {
            s += x[base + index[j * this.constants.fanIn + e]] * weight[j * this.constants.fanIn + e];
          }
          if (s !== 0) s = Math.min(cap, Math.max(0, s + bias));
          return s;
        },
        settings,
      ) as IKernelRunShortcut;
      this.kernels.set(fanIn, kernel);
    }
    return kernel;
  }

  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows {
    const n = this.neurons;
    let ell = this.ell.get(layer);
    if (!ell) { ell = toEll(layer.outputMajor); this.ell.set(layer, ell); }
    const live = nonzeroRows(input);
    const rowStart = new Uint32Array(input.rows + 1);
    if (live.length === 0) {
      return { rows: input.rows, columns: n, rowStart, columnIndex: new Uint32Array(0), value: new Float32Array(0) };
    }
    const x = new Float32Array(live.length * n);
    live.forEach((r, i) => {
      for (let p = input.rowStart[r]; p < input.rowStart[r + 1]; p++) x[i * n + input.columnIndex[p]] = input.value[p];
    });
    const kernel = this.kernelFor(ell.fanIn);
    kernel.setOutput([n, live.length]);
    const result = kernel(x, ell.index, ell.weight, bias, cap) as Float32Array[];
    if (work) { work.multiplyAdds += live.length * n * ell.fanIn; work.gatherRows += live.length; }
    let nnz = 0;
    for (const row of result) for (let j = 0; j < n; j++) if (row[j] !== 0) nnz++;
    const columnIndex = new Uint32Array(nnz);
    const value = new Float32Array(nnz);
    let at = 0, i = 0;
    for (let r = 0; r < input.rows; r++) {
      if (i < live.length && live[i] === r) {
        const row = result[i++];
        for (let j = 0; j < n; j++) if (row[j] !== 0) { columnIndex[at] = j; value[at++] = row[j]; }
      }
      rowStart[r + 1] = at;
    }
    return { rows: input.rows, columns: n, rowStart, columnIndex, value };
  }

  destroy(): void {
    this.gpu.destroy();
  }
}
