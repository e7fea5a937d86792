// What one worker runs on its shard, layer by layer: the step the distributed worker of the next
// issue calls between receiving and sending. A layer step merges the worker's own slice of
// Y_{l-1} with the slices it received, runs the layer kernel, and keeps its own slice of Y_l.
//
// Exactness: the kernel runs on an N x N layer whose outputs this worker does not own are empty
// (no inputs), from rows that hold only the columns it has. Each owned output sums exactly the
// same terms as in serial inference (all of its inputs are present: owned or received) in the
// same ascending input order, in float64, rounded once: bit-identical values. Non-owned outputs
// sum nothing, are zero, and never appear. The kernel is told the owned outputs
// (prepareLayerOutputs), so it reads only those instead of scanning all N for nonzeros: on the
// real case (P = 8) that cut the workers' kernel time by a quarter.

import { ShapeMismatchError } from '../../model/errors.ts';
import type { Shard, ShardLayer } from '../../model/shard.ts';
import type { SparseLayer, SparseRows } from '../../model/network.ts';
import { prepareLayerOutputs, SparseLayerKernel, type LayerKernel, type LayerWork, type PreparedLayer, type SparseKernelOptions } from '../kernels/layer-kernel.ts';
import { mergeSlices, sendIndex, sliceOf, splitForTargets, type ActivationSlice, type SendIndex } from './activation-slice.ts';

/** What one target gets. */
export interface OutgoingSlice {
  readonly target: number;
  readonly slice: ActivationSlice;
}

/** What came from one source. */
export interface IncomingSlice {
  readonly source: number;
  readonly slice: ActivationSlice;
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
  /** sends[l - 1]: who gets which neurons in the exchange feeding layer l. */
  private readonly sends: SendIndex[];
  readonly work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };

  constructor(shard: Shard, options: ShardWorkerOptions = {}) {
    this.shard = shard;
    this.kernel = options.kernel ?? new SparseLayerKernel(shard.neurons, options);
    this.prepared = shard.layers.map((l) => prepareLayerOutputs(expandShardLayer(l, shard.neurons), l.outputNeuron));
    this.sends = shard.layers.map((l) => sendIndex(shard.neurons, l.sendNeuron, l.sendStart, l.sendTarget));
  }

  /** This worker's slice of the inputs (its maps[0] neurons): what the client stages for it. */
  inputSlice(inputs: SparseRows): ActivationSlice {
    if (inputs.columns !== this.shard.neurons) throw new ShapeMismatchError(`inputs have ${inputs.columns} columns, the model ${this.shard.neurons} neurons`, { worker: this.shard.worker });
    return sliceOf(inputs, this.shard.inputNeuron);
  }

  /** What this worker sends, per target, in the exchange feeding layer `layer` (1-based), from its slice of Y_{layer-1}. */
  outgoing(layer: number, own: ActivationSlice): OutgoingSlice[] {
    const index = this.sends[layer - 1];
    return splitForTargets(own, index).map((slice, i) => ({ target: index.targets[i], slice }));
  }

  /**
   * Layer `layer` (1-based): from this worker's slice of Y_{layer-1} and the slices received from
   * every source of the shard, its slice of Y_layer. What was received must be exactly what the
   * shard says (sources and neurons), else ShapeMismatchError naming the worker and layer.
   */
  computeLayer(layer: number, own: ActivationSlice, received: readonly IncomingSlice[]): ActivationSlice {
    const s = this.shard, at = s.layers[layer - 1];
    const place = { worker: s.worker, layer };
    const bySource = [...received].sort((a, b) => a.source - b.source);
    if (bySource.length !== at.receiveSource.length || bySource.some((x, i) => x.source !== at.receiveSource[i])) {
      throw new ShapeMismatchError(`received from workers [${bySource.map((x) => x.source).join(', ')}], the shard expects [${Array.from(at.receiveSource).join(', ')}]`, place);
    }
    bySource.forEach((x, i) => {
      const expected = at.receiveNeuron.subarray(at.receiveStart[i], at.receiveStart[i + 1]);
      if (x.slice.neurons.length !== expected.length || x.slice.neurons.some((k, n) => k !== expected[n])) {
        throw new ShapeMismatchError(`worker ${x.source} sent ${x.slice.neurons.length} neurons, not the ${expected.length} the shard lists`, place);
      }
    });
    const input = mergeSlices([own, ...bySource.map((x) => x.slice)], own.rows.rows, s.neurons);
    const output = this.kernel.apply(input, this.prepared[layer - 1], s.bias, s.activationCap, this.work);
    return sliceOf(output, at.outputNeuron);
  }
}
