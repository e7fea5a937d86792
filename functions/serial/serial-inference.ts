// Serial inference: every layer on one thread, the reference every distributed or staged run
// must match. Also what the `serial` workflow shape runs inside its single Lambda task.

import { activeRowCount, nonzeroRows, rowsNonzeros, type SparseNetwork, type SparseRows } from '../../model/network.ts';
import { prepareLayer, SparseLayerKernel, type LayerKernel, type LayerWork, type SparseKernelOptions } from '../kernels/layer-kernel.ts';
import { ShapeMismatchError } from '../../model/errors.ts';

export interface LayerReport {
  /** 1-based. */
  readonly layer: number;
  readonly activeRows: number;
  readonly nonzeros: number;
  readonly multiplyAdds: number;
  readonly seconds: number;
}

export interface SerialInferenceResult {
  readonly backend: string;
  /** 0-based ids of the inputs whose final activation row has a nonzero. */
  readonly categories: number[];
  /** Final activations, owned by the caller. */
  readonly activations: SparseRows;
  readonly layers: readonly LayerReport[];
  readonly multiplyAdds: number;
  /** Seconds spent in the layer loop (preparation excluded). */
  readonly seconds: number;
}

export interface SerialInferenceOptions extends SparseKernelOptions {
  /** Another backend (functions/kernels/backends.ts); default the reference kernel with these options. */
  readonly kernel?: LayerKernel;
  readonly onLayer?: (report: LayerReport, of: number) => void;
}

export function copyRows(rows: SparseRows): SparseRows {
  return {
    rows: rows.rows, columns: rows.columns,
    rowStart: rows.rowStart.slice(), columnIndex: rows.columnIndex.slice(), value: rows.value.slice(),
  };
}

/** Runs all layers of `network` on `inputs` on one thread with the chosen kernel. */
export function inferSerial(network: SparseNetwork, inputs: SparseRows, options: SerialInferenceOptions = {}): SerialInferenceResult {
  if (inputs.columns !== network.neurons) {
    throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the network ${network.neurons} neurons`);
  }
  const prepared = network.layers.map(prepareLayer);
  const kernel = options.kernel ?? new SparseLayerKernel(network.neurons, options);
  const reports: LayerReport[] = [];
  let y = inputs;
  let totalMacs = 0;
  const t0 = performance.now();
  for (let l = 0; l < prepared.length; l++) {
    const started = performance.now();
    const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
    y = kernel.apply(y, prepared[l], network.bias, network.activationCap, work);
    totalMacs += work.multiplyAdds;
    if (options.onLayer) {
      const report: LayerReport = {
        layer: l + 1, activeRows: activeRowCount(y), nonzeros: rowsNonzeros(y),
        multiplyAdds: work.multiplyAdds, seconds: (performance.now() - started) / 1000,
      };
      reports.push(report);
      options.onLayer(report, prepared.length);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const activations = copyRows(y);
  return { backend: kernel.name, categories: nonzeroRows(activations), activations, layers: reports, multiplyAdds: totalMacs, seconds };
}
