// What one worker runs on its shard, layer by layer: the step the distributed worker of the next
// issue calls between receiving and sending. A layer step merges the worker's own columns of
// Y_{l-1} with the ones it received, runs the layer kernel, and keeps its own columns of Y_l.
//
// Exactness: the kernel runs on an N x N layer whose outputs this worker does not own are empty
// (no inputs), from rows that hold only the columns it has. Each owned output sums exactly the
// same terms as in serial inference (all of its inputs are present: owned or received) in the
// same ascending input order, in float64, rounded once: bit-identical values. Non-owned outputs
// sum nothing, are zero, and never appear. The cost: the kernel's per-row work over N outputs
// (the gather pass scans every output's empty range; scatter is untouched), measured on the real
// case in test/shards/shard-exactness.test.ts.

import { ShapeMismatchError } from '../../model/errors.ts';
import type { Shard, ShardLayer } from '../../model/shard.ts';
import type { SparseLayer, SparseRows } from '../../model/network.ts';
import { prepareLayerOutputs, SparseLayerKernel, type LayerKernel, type LayerWork, type PreparedLayer, type SparseKernelOptions } from '../kernels/layer-kernel.ts';
import { columnsToRows, rowsToColumns, selectColumns, type ActivationColumns } from './activation-columns.ts';

/** A batch of columns for one target. */
export interface OutgoingColumns {
  readonly target: number;
  readonly columns: ActivationColumns;
}

/** Columns received from one source. */
export interface IncomingColumns {
  readonly source: number;
  readonly columns: ActivationColumns;
}

export interface ShardWorkerOptions extends SparseKernelOptions {
  /** Another kernel backend (functions/kernels/backends.ts); default the reference kernel with these options. */
  readonly kernel?: LayerKernel;
}

/** The shard layer as an N x N layer: the owned outputs' rows, every other output empty. */
export function expandShardLayer(layer: ShardLayer, neurons: number): SparseLayer {
  const outputStart = new Uint32Array(neurons + 1);
  let o = 0;
  for (let j = 0; j < neurons; j++) {
    if (o < layer.outputNeuron.length && layer.outputNeuron[o] === j) {
      outputStart[j + 1] = outputStart[j] + layer.outputStart[o + 1] - layer.outputStart[o];
      o++;
    } else {
      outputStart[j + 1] = outputStart[j];
    }
  }
  // Owned outputs are ascending, so the shard's inputIndex and weight are already in N x N order.
  return { neurons, outputStart, inputIndex: layer.inputIndex, weight: layer.weight };
}

/** One worker: its shard's layers prepared for the kernel, and the sends of every layer by target. */
export class ShardWorker {
  readonly shard: Shard;
  private readonly kernel: LayerKernel;
  private readonly prepared: PreparedLayer[];
  /** sendsByTarget[l - 1]: for each target, the neurons it gets in the exchange feeding layer l. */
  private readonly sendsByTarget: { readonly target: number; readonly neurons: Uint32Array }[][];
  readonly work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };

  constructor(shard: Shard, options: ShardWorkerOptions = {}) {
    this.shard = shard;
    this.kernel = options.kernel ?? new SparseLayerKernel(shard.neurons, options);
    this.prepared = shard.layers.map((l) => prepareLayerOutputs(expandShardLayer(l, shard.neurons), l.outputNeuron));
    this.sendsByTarget = shard.layers.map((l) => {
      const byTarget = new Map<number, number[]>();
      for (let i = 0; i < l.sendNeuron.length; i++) {
        for (let t = l.sendStart[i]; t < l.sendStart[i + 1]; t++) {
          const target = l.sendTarget[t];
          let list = byTarget.get(target);
          if (!list) byTarget.set(target, list = []);
          list.push(l.sendNeuron[i]);
        }
      }
      return [...byTarget.entries()].sort((a, b) => a[0] - b[0]).map(([target, neurons]) => ({ target, neurons: Uint32Array.from(neurons) }));
    });
  }

  /** This worker's input columns (its maps[0] neurons) of the inputs: what the client stages for it. */
  inputColumns(inputs: SparseRows): ActivationColumns {
    if (inputs.columns !== this.shard.neurons) throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the model ${this.shard.neurons} neurons`, { worker: this.shard.worker });
    return rowsToColumns(inputs, this.shard.inputNeuron);
  }

  /** What this worker sends, per target, in the exchange feeding layer `layer` (1-based), from its columns of Y_{layer-1}. */
  outgoing(layer: number, own: ActivationColumns): OutgoingColumns[] {
    return this.sendsByTarget[layer - 1].map(({ target, neurons }) => ({ target, columns: selectColumns(own, neurons) }));
  }

  /**
   * Layer `layer` (1-based): from this worker's columns of Y_{layer-1} and the columns received
   * from every source of the shard, its columns of Y_layer. What was received must be exactly
   * what the shard says (sources and neurons), else ShapeMismatchError naming the worker and layer.
   */
  computeLayer(layer: number, own: ActivationColumns, received: readonly IncomingColumns[]): ActivationColumns {
    const s = this.shard, at = s.layers[layer - 1];
    const place = { worker: s.worker, layer };
    const bySource = [...received].sort((a, b) => a.source - b.source);
    if (bySource.length !== at.receiveSource.length || bySource.some((x, i) => x.source !== at.receiveSource[i])) {
      throw new ShapeMismatchError(`received from workers [${bySource.map((x) => x.source).join(', ')}], the shard expects [${Array.from(at.receiveSource).join(', ')}]`, place);
    }
    bySource.forEach((x, i) => {
      const expected = at.receiveNeuron.subarray(at.receiveStart[i], at.receiveStart[i + 1]);
      if (x.columns.neuron.length !== expected.length || x.columns.neuron.some((k, n) => k !== expected[n])) {
        throw new ShapeMismatchError(`worker ${x.source} sent ${x.columns.neuron.length} neurons, not the ${expected.length} the shard lists`, place);
      }
    });
    const rows = own.rows;
    const input = columnsToRows([own, ...bySource.map((x) => x.columns)], rows, s.neurons);
    const output = this.kernel.apply(input, this.prepared[layer - 1], s.bias, s.activationCap, this.work);
    return rowsToColumns(output, at.outputNeuron);
  }
}
