// New ONNX models made from a read one: the sub-model of a run of layer units (what one AMPS-Inf
// stage loads: a real ONNX file any runtime can run), the model with deterministic weights in
// place of missing ones (the structure-only files), and the model for a batch of B inputs.

import { StepinferError, OnnxFormatError } from '../errors.ts';
import { analyzeOnnxModel, type OnnxGraph, type TensorInfo } from './graph.ts';
import { decodedGraph, FLOAT32, onnx, type ModelProto, type TensorProto } from './proto.ts';
import { layerUnits, segmentParameters } from './units.ts';
import { SeededRandom } from '../random.ts';

function tensorValueInfo(tensor: TensorInfo) {
  return { name: tensor.name, type: { tensorType: { elemType: FLOAT32, shape: { dim: tensor.dims.map((d) => ({ dimValue: d })) } } } };
}

/**
 * The ONNX file of units firstUnit..lastUnit (1-based, inclusive): the same IR version and opset,
 * the first unit's input tensor as graph input and the last unit's output as graph output, with
 * their shapes, the unit's compute nodes in order, and a copy of every parameter node and
 * initializer they read. The graph must have its weights (withDeterministicWeights for a
 * structure-only file).
 */
export function extractStageModel(graph: OnnxGraph, firstUnit: number, lastUnit: number): Uint8Array {
  const units = layerUnits(graph);
  if (!(Number.isInteger(firstUnit) && Number.isInteger(lastUnit) && firstUnit >= 1 && firstUnit <= lastUnit && lastUnit <= units.length)) {
    throw new StepinferError(`units ${firstUnit}..${lastUnit} do not exist: the model has units 1..${units.length}`, { file: graph.file });
  }
  if (!graph.hasWeights) {
    throw new OnnxFormatError('the model has no weights (structure only): fill them first (withDeterministicWeights) to make a stage model that runs', { file: graph.file });
  }
  const first = units[firstUnit - 1];
  const last = units[lastUnit - 1];
  const compute = graph.nodes.slice(first.firstNode, last.lastNode + 1).filter((n) => !n.isParameter);
  const { parameterNodes, initializers } = segmentParameters(graph, compute);
  const source = decodedGraph(graph.proto.graph!);
  const keep = new Set(initializers);
  const model = onnx.ModelProto.create({
    irVersion: graph.proto.irVersion,
    opsetImport: graph.proto.opsetImport,
    producerName: 'stepinfer',
    graph: {
      name: `${source.name || 'model'} units ${firstUnit}..${lastUnit}`,
      node: [...parameterNodes, ...compute].map((n) => source.node[n.storedIndex]),
      initializer: source.initializer.filter((t) => keep.has(t.name)),
      input: [tensorValueInfo(first.input)],
      output: [tensorValueInfo(last.output)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** A copy of the model with its graph's fields replaced (the decoded model itself is never changed). */
function withGraph(proto: ModelProto, fields: Record<string, unknown>): ModelProto {
  return onnx.ModelProto.create({ ...proto, graph: onnx.GraphProto.create({ ...proto.graph!, ...fields }) });
}

/** Bound of the uniform bias values: small next to the weighted sums, so they shift little. */
const BIAS_BOUND = 0.01;

/**
 * The model with every float32 initializer that has no data filled from a seeded PRNG
 * (model/random.ts), in file order: same seed, same bytes. Weights (rank >= 2, laid out
 * [out, in / groups, kernel...] as PyTorch exports Conv and Linear) are uniform in
 * +-sqrt(6 / fan-in), He initialization, where fan-in is the product of all dims but the first: a
 * ReLU network keeps its activations' scale layer after layer, so they stay finite through 50+
 * layers. Biases (rank <= 1) are uniform in +-0.01. Initializers that have data are kept.
 */
export function withDeterministicWeights(graph: OnnxGraph, seed: number): OnnxGraph {
  if (graph.hasWeights) return graph;
  const random = new SeededRandom(seed);
  const initializer = decodedGraph(graph.proto.graph!).initializer.map((t): TensorProto => {
    const info = graph.initializers.get(t.name)!;
    if (t.rawData.length > 0 || t.floatData.length > 0) return t;
    if (t.dataType !== FLOAT32) {
      throw new OnnxFormatError(`initializer "${t.name}" has no data and element type ${t.dataType}; only float32 ones can be filled`, { file: graph.file });
    }
    const count = info.bytes / 4;
    const bound = info.dims.length >= 2 ? Math.sqrt(6 / (count / info.dims[0])) : BIAS_BOUND;
    const data = new Uint8Array(info.bytes);
    const view = new DataView(data.buffer);
    for (let i = 0; i < count; i++) view.setFloat32(4 * i, (2 * random.next() - 1) * bound, true);
    return onnx.TensorProto.create({ name: t.name, dims: t.dims, dataType: FLOAT32, rawData: data });
  });
  return analyzeOnnxModel(withGraph(graph.proto, { initializer }), graph.file);
}

/**
 * The model for `batch` inputs at once: the batch dimension (the first) of its input and output
 * set to `batch`, every shape inferred again (Flatten keeps axis 1, Gemm takes the batch as its rows).
 */
export function withBatch(graph: OnnxGraph, batch: number): OnnxGraph {
  if (!(Number.isSafeInteger(batch) && batch >= 1)) throw new StepinferError(`batch ${batch} must be an integer >= 1`, { file: graph.file });
  if (graph.input.dims[0] === batch) return graph;
  const source = decodedGraph(graph.proto.graph!);
  const input = source.input.map((v) => (v.name === graph.input.name ? tensorValueInfo({ ...graph.input, dims: [batch, ...graph.input.dims.slice(1)] }) : v));
  const output = [tensorValueInfo({ ...graph.output, dims: [batch, ...graph.output.dims.slice(1)] })];
  // Intermediate shapes recorded by the exporter would be stale: drop them (they are optional).
  return analyzeOnnxModel(withGraph(graph.proto, { input, output, valueInfo: [] }), graph.file);
}

/** The whole model as an ONNX file (after withDeterministicWeights or withBatch, the changed model). */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  return onnx.ModelProto.encode(graph.proto).finish();
}
