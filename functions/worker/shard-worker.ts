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
//
// Overlap: a layer's owned outputs are split once into those whose inputs are all the worker's
// own (computed while remote rows are in flight) and the rest (computed once they arrive). Each
// output is still summed whole, by one kernel call, in ascending input order: the split changes
// when an output is computed, never how, so results stay bit-identical.

import { ShapeMismatchError } from '../../model/errors.ts';
import type { Shard, ShardLayer } from '../../model/shard.ts';
import type { SparseLayer, SparseRows } from '../../model/network.ts';
import { prepareLayerOutputs, SparseLayerKernel, type LayerKernel, type LayerWork, type PreparedLayer, type SparseKernelOptions } from '../kernels/layer-kernel.ts';
import { activationColumns, rowsBySample, shardRowTargets, sourceRowGroups, type SendMode } from '../channels/routing.ts';
import type { RowGroup } from '../channels/packing.ts';
import type { ActivationRow } from '../channels/wire.ts';
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

/**
 * The shard layer as an N x N layer holding only the rows of `outputs` (ascending positions in
 * the shard's outputNeuron; default all), every other output empty.
 */
export function expandShardLayer(layer: ShardLayer, neurons: number, outputs?: readonly number[]): SparseLayer {
  const picked = outputs ?? Array.from(layer.outputNeuron.keys());
  let entries = 0;
  for (const o of picked) entries += layer.outputStart[o + 1] - layer.outputStart[o];
  const outputStart = new Uint32Array(neurons + 1);
  const inputIndex = new Uint32Array(entries), weight = new Float32Array(entries);
  let at = 0, next = 0;
  for (const o of picked) {
    const j = layer.outputNeuron[o];
    for (; next < j; next++) outputStart[next + 1] = at;
    const lo = layer.outputStart[o], hi = layer.outputStart[o + 1];
    inputIndex.set(layer.inputIndex.subarray(lo, hi), at);
    weight.set(layer.weight.subarray(lo, hi), at);
    at += hi - lo;
    outputStart[j + 1] = at;
    next = j + 1;
  }
  for (; next < neurons; next++) outputStart[next + 1] = at;
  return { neurons, outputStart, inputIndex, weight };
}

/** One layer's owned outputs split for overlap, each part ready for the kernel. */
interface SplitLayer {
  /** Outputs whose inputs are all this worker's own, and the kernel's view of them. */
  readonly localOutputs: Uint32Array;
  readonly local: PreparedLayer;
  /** Outputs that read a remote row. */
  readonly remoteOutputs: Uint32Array;
  readonly remote: PreparedLayer;
  /** Every neuron received in this layer (all sources), ascending. */
  readonly receiveNeurons: Uint32Array;
}

function splitLayer(layer: ShardLayer, own: Uint32Array, neurons: number): SplitLayer {
  const mine = new Uint8Array(neurons);
  for (let i = 0; i < own.length; i++) mine[own[i]] = 1;
  const local: number[] = [], remote: number[] = [];
  for (let o = 0; o < layer.outputNeuron.length; o++) {
    let allOwn = true;
    for (let e = layer.outputStart[o]; e < layer.outputStart[o + 1] && allOwn; e++) allOwn = mine[layer.inputIndex[e]] === 1;
    (allOwn ? local : remote).push(o);
  }
  const outputsOf = (list: number[]) => Uint32Array.from(list, (o) => layer.outputNeuron[o]);
  const localOutputs = outputsOf(local), remoteOutputs = outputsOf(remote);
  return {
    localOutputs, local: prepareLayerOutputs(expandShardLayer(layer, neurons, local), localOutputs),
    remoteOutputs, remote: prepareLayerOutputs(expandShardLayer(layer, neurons, remote), remoteOutputs),
    receiveNeurons: Uint32Array.from(layer.receiveNeuron).sort(),
  };
}

/** One worker: its shard's layers prepared for the kernel, and the sends of every layer by target. */
export class ShardWorker {
  readonly shard: Shard;
  private readonly kernel: LayerKernel;
  private readonly split: SplitLayer[];
  /** sends[l - 1]: who gets which neurons in the exchange feeding layer l. */
  private readonly sends: SendIndex[];
  readonly work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };

  constructor(shard: Shard, options: ShardWorkerOptions = {}) {
    this.shard = shard;
    this.kernel = options.kernel ?? new SparseLayerKernel(shard.neurons, options);
    this.split = shard.layers.map((l, i) => splitLayer(l, i === 0 ? shard.inputNeuron : shard.layers[i - 1].outputNeuron, shard.neurons));
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

  /** Releases the kernel's helper threads, if it has any (a threaded kernel). */
  close(): void {
    (this.kernel as Partial<{ close(): void }>).close?.();
  }

  /** The row groups this worker sends in the exchange feeding `layer`, from its slice of Y_{layer-1}: one per target, or per target set (multicast). */
  sendGroups(layer: number, own: ActivationSlice, mode: SendMode): RowGroup[] {
    const at = this.shard.layers[layer - 1];
    return sourceRowGroups(this.shard.worker, activationColumns(own.rows), shardRowTargets(at, this.shard.neurons), null, mode);
  }

  /** Workers this one sends to in `layer` (each waits for its rows or an empty marker), ascending. */
  peers(layer: number): number[] {
    return [...new Set(this.shard.layers[layer - 1].sendTarget)].sort((a, b) => a - b);
  }

  /** Workers this one receives from in `layer`, ascending. */
  sources(layer: number): number[] {
    return Array.from(this.shard.layers[layer - 1].receiveSource);
  }

  /** Layer `layer`'s outputs that read only this worker's own rows: computable before anything arrives. */
  computeLocal(layer: number, own: ActivationSlice): ActivationSlice {
    const s = this.shard, split = this.split[layer - 1];
    if (split.localOutputs.length === 0) return sliceOf(emptyRows(own.rows.rows, s.neurons), split.localOutputs);
    const output = this.kernel.apply(own.rows, split.local, s.bias, s.activationCap, this.work);
    return sliceOf(output, split.localOutputs);
  }

  /**
   * The rest of layer `layer` once every remote row has arrived (`received`: rows by sample holding
   * only neurons the shard lists as received in this layer), merged with `local` into this
   * worker's slice of Y_layer.
   */
  computeRemote(layer: number, own: ActivationSlice, received: SparseRows, local: ActivationSlice): ActivationSlice {
    const s = this.shard, split = this.split[layer - 1], at = s.layers[layer - 1];
    let remote: ActivationSlice;
    if (split.remoteOutputs.length === 0) {
      remote = sliceOf(emptyRows(own.rows.rows, s.neurons), split.remoteOutputs);
    } else {
      const input = mergeSlices([own, { neurons: split.receiveNeurons, rows: received }], own.rows.rows, s.neurons);
      remote = sliceOf(this.kernel.apply(input, split.remote, s.bias, s.activationCap, this.work), split.remoteOutputs);
    }
    return { neurons: at.outputNeuron, rows: mergeSlices([local, remote], own.rows.rows, s.neurons) };
  }

  /**
   * Received rows of `layer` (from a channel) as rows by sample; fails unless every row is a
   * neuron the shard lists as received in this layer.
   */
  receivedRows(layer: number, rows: readonly ActivationRow[], samples: number): SparseRows {
    const expected = this.split[layer - 1].receiveNeurons;
    let e = 0;
    for (const row of rows) {
      while (e < expected.length && expected[e] < row.neuron) e++;
      if (e === expected.length || expected[e] !== row.neuron) {
        throw new ShapeMismatchError(`received a row of neuron ${row.neuron}, which the shard does not list as received in this layer`, { worker: this.shard.worker, layer });
      }
    }
    return rowsBySample(rows, samples, this.shard.neurons);
  }

  /**
   * Layer `layer` (1-based) at once: from this worker's slice of Y_{layer-1} and the slices
   * received from every source of the shard, its slice of Y_layer. What was received must be
   * exactly what the shard says (sources and neurons), else ShapeMismatchError naming the worker and layer.
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
    const local = this.computeLocal(layer, own);
    return this.computeRemote(layer, own, mergeSlices(bySource.map((x) => x.slice), own.rows.rows, s.neurons), local);
  }
}

function emptyRows(rows: number, columns: number): SparseRows {
  return { rows, columns, rowStart: new Uint32Array(rows + 1), columnIndex: new Uint32Array(0), value: new Float32Array(0) };
}
