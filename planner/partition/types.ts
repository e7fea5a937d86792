// The shapes every partitioner returns and every consumer (volume, cost model, optimizer, plan)
// reads: which worker owns each neuron, for the input activations and for every layer's outputs.

/** One neuron -> worker assignment over all N neurons of a layer boundary. */
export interface NeuronMap {
  readonly workers: number;
  /** worker (0-based) of every neuron, length N */
  readonly owner: Uint16Array;
}

/** maps[0] distributes the input activations (layer 0); maps[l] owns layer l's outputs, l = 1..L. */
export interface LayerPartition {
  readonly workers: number;
  readonly maps: readonly NeuronMap[];
  readonly scheme: string;
  /**
   * 1-based layers the map was optimized on, when it was computed on a sample of the layers
   * (networks too large for the whole hypergraph); absent when every layer was used. Volumes are
   * still measured on every layer.
   */
  readonly sampledLayers?: readonly number[];
  /** how the partition was computed, when that is not the obvious (e.g. on a layer sample) */
  readonly note?: string;
}
