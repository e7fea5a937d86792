// An ONNX model read as an operator DAG for planning AMPS-Inf stages: every node in topological
// order with its FLOPs, the parameter bytes it reads and the activation bytes it writes, and every
// activation tensor with its inferred shape. Parameters are the initializers and the nodes that
// only produce parameters (Constant, and Identity of a parameter: PyTorch exports shared weights
// as Identity aliases); they are marked so cut points and stages can treat them as data, not work.
// Only activations of float32 are handled: the models here are all float32 (data/models/README.md).

import { resolve } from 'node:path';
import { OnnxFormatError, UnsupportedOperatorError } from '../errors.ts';
import { readDataFile } from '../read-file.ts';
import { defaultGraphChallengeDir } from '../graphchallenge.ts';
import { elements, operatorOf, SUPPORTED_OPERATORS } from './operators.ts';
import { elementBytes, FLOAT32, int64, type Int64, onnx, decodedGraph, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.ts';

export interface TensorInfo {
  readonly name: string;
  readonly dims: readonly number[];
  /** Bytes of its data: elements x 4 for the float32 activations. */
  readonly bytes: number;
}

export interface OnnxNode {
  /** Position in `OnnxGraph.nodes` (topological order). */
  readonly index: number;
  /** Its position in the file's node list (the same as `index` unless the file was not in topological order). */
  readonly storedIndex: number;
  /** The node's name, or `<opType>_<storedIndex>` when the file leaves it empty. */
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** True for a node that only makes a parameter (Constant, Identity of a parameter): data, not work. */
  readonly isParameter: boolean;
  /** FLOPs: 2 per multiply-add for Conv and Gemm, 1 per output element for element-wise operators (model/onnx/operators.ts). */
  readonly flops: number;
  /** Bytes of the initializers it reads, through Identity aliases; an initializer read by several nodes counts at the first. */
  readonly paramBytes: number;
  /** Bytes of the activations it writes (0 for a parameter node). */
  readonly outputBytes: number;
}

export interface OnnxGraph {
  readonly file: string;
  /** Version of the default (ai.onnx) operator set. */
  readonly opset: number;
  readonly input: TensorInfo;
  readonly output: TensorInfo;
  /** Every node, in topological order (the file's order when it is one, else a stable sort of it). */
  readonly nodes: readonly OnnxNode[];
  /** Every activation tensor (the input and what compute nodes write) with its inferred shape. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Every initializer (a parameter tensor) with its dims and bytes, in file order. */
  readonly initializers: ReadonlyMap<string, TensorInfo>;
  /** Elements of all initializers (aliases and Constant nodes not counted): the README's parameter counts. */
  readonly parameterCount: number;
  /** Bytes of all initializers. */
  readonly parameterBytes: number;
  /** Sum of the nodes' FLOPs. */
  readonly flops: number;
  /** False for a structure-only file whose initializers have shapes but no data. */
  readonly hasWeights: boolean;
  /** The decoded model (extraction re-encodes parts of it); never modified. */
  readonly proto: ModelProto;
}

/** Where the shared ONNX models live: beside the GraphChallenge data (so $STEPINFER_DATA moves both). */
export function defaultModelsDir(): string {
  return resolve(defaultGraphChallengeDir(), '..', 'models');
}

/** Reads and analyses an ONNX file (FileAccessError when it cannot be read). */
export function readOnnxModelFile(file: string): OnnxGraph {
  return readOnnxModel(readDataFile(file, 'ONNX model file not found'), file);
}

/** Decodes an ONNX model and analyses it; throws OnnxFormatError or UnsupportedOperatorError naming `file`. */
export function readOnnxModel(bytes: Uint8Array, file: string): OnnxGraph {
  if (bytes.length === 0) throw new OnnxFormatError('the file is empty, not an ONNX model', { file });
  let proto: ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxFormatError(`not an ONNX model: its bytes do not decode as an ONNX ModelProto (${(error as Error).message})`, { file });
  }
  return analyzeOnnxModel(proto, file);
}

/** Elements and bytes of an initializer, and whether its data is in the file. */
function initializerInfo(t: TensorProto, file: string): { elements: number; bytes: number; hasData: boolean } {
  const fail = (message: string): never => { throw new OnnxFormatError(`initializer "${t.name}": ${message}`, { file, field: 'graph.initializer' }); };
  const dims = t.dims.map((d) => int64(d));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`dims [${dims.join(', ')}] are not sizes`);
  const perElement = elementBytes(t.dataType);
  if (perElement === undefined) fail(`data type ${t.dataType} is not a numeric type stepinfer knows`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) fail('its data is in an external file; give a self-contained ONNX file');
  const count = elements(dims);
  const typed = t.floatData.length + t.int32Data.length + t.int64Data.length + t.doubleData.length + t.uint64Data.length;
  let hasData: boolean;
  if (t.rawData.length > 0) {
    if (t.rawData.length !== count * perElement!) fail(`raw data has ${t.rawData.length} bytes; dims [${dims.join(', ')}] need ${count * perElement!}`);
    hasData = true;
  } else if (typed > 0) {
    if (typed !== count) fail(`has ${typed} values; dims [${dims.join(', ')}] need ${count}`);
    hasData = true;
  } else hasData = count === 0;
  return { elements: count, bytes: count * perElement!, hasData };
}

type OnnxTypeTensor = { elemType: number; shape?: { dim: { dimValue?: Int64 | null; dimParam?: string | null }[] } | null };

/** Fixed dims of a graph input or output (a symbolic dimension is refused: plans need sizes). */
function declaredDims(v: ValueInfoProto, what: string, file: string): number[] | undefined {
  const tensor = v.type?.tensorType as OnnxTypeTensor | null | undefined;
  if (!tensor) throw new OnnxFormatError(`the graph ${what} "${v.name}" is not a tensor`, { file });
  if (tensor.elemType !== FLOAT32) throw new OnnxFormatError(`the graph ${what} "${v.name}" has element type ${tensor.elemType}; stepinfer handles float32 (1)`, { file });
  if (!tensor.shape) return undefined;
  return tensor.shape.dim.map((d, i) => {
    if (d.dimParam) throw new OnnxFormatError(`the graph ${what} "${v.name}" has a symbolic dimension ${i} ("${d.dimParam}"); stepinfer needs fixed sizes`, { file });
    const n = int64(d.dimValue);
    if (!(Number.isSafeInteger(n) && n >= 1)) throw new OnnxFormatError(`the graph ${what} "${v.name}" has dimension ${i} of size ${n}`, { file });
    return n;
  });
}

/** The stored nodes in topological order: their own order when it is one, else a stable Kahn sort. */
function topologicalOrder(nodes: readonly NodeProto[], available: ReadonlySet<string>, file: string, nodeName: (n: NodeProto, i: number) => string): number[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const out of n.output) {
      if (out === '') continue;
      if (producer.has(out) || available.has(out)) throw new OnnxFormatError(`tensor "${out}" is written twice (node "${nodeName(n, i)}")`, { file });
      producer.set(out, i);
    }
  });
  const waiting = nodes.map((n, i) => {
    let count = 0;
    for (const input of n.input) {
      if (input === '' || available.has(input)) continue;
      if (!producer.has(input)) throw new OnnxFormatError(`node "${nodeName(n, i)}" reads tensor "${input}", which no node, initializer or graph input makes`, { file });
      count++;
    }
    return count;
  });
  const readers = new Map<number, number[]>();
  nodes.forEach((n, i) => {
    for (const input of n.input) {
      const p = producer.get(input);
      if (p !== undefined) readers.set(p, [...(readers.get(p) ?? []), i]);
    }
  });
  // Stable: always take the lowest stored index that is ready, so a file in order keeps its order.
  const ready = new Set<number>();
  waiting.forEach((w, i) => { if (w === 0) ready.add(i); });
  const order: number[] = [];
  while (ready.size > 0) {
    const next = Math.min(...ready);
    ready.delete(next);
    order.push(next);
    for (const r of readers.get(next) ?? []) if (--waiting[r] === 0) ready.add(r);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.findIndex((_n, i) => waiting[i] > 0);
    throw new OnnxFormatError(`the graph has a cycle through node "${nodeName(nodes[stuck], stuck)}"`, { file });
  }
  return order;
}

/** Analyses a decoded model (also used on models we change: withBatch, withDeterministicWeights). */
export function analyzeOnnxModel(proto: ModelProto, file: string): OnnxGraph {
  // Decoded messages are class instances with every repeated field present; the .d.ts types nested
  // messages by their optional-field interfaces, so they are viewed as the classes here.
  if (!proto.graph) throw new OnnxFormatError('not an ONNX model: it has no graph', { file });
  const graph = decodedGraph(proto.graph as GraphProto);
  const opsetEntry = proto.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!opsetEntry) throw new OnnxFormatError('not an ONNX model: it imports no ai.onnx operator set', { file });
  const opset = int64(opsetEntry.version);

  const initializers = new Map<string, { elements: number; bytes: number; hasData: boolean; dims: number[] }>();
  for (const t of graph.initializer) {
    if (initializers.has(t.name)) throw new OnnxFormatError(`initializer "${t.name}" is defined twice`, { file });
    initializers.set(t.name, { ...initializerInfo(t, file), dims: t.dims.map((d) => int64(d)) });
  }
  const realInputs = graph.input.filter((v) => !initializers.has(v.name));
  if (realInputs.length !== 1) {
    throw new OnnxFormatError(`the graph has ${realInputs.length} inputs (${realInputs.map((v) => `"${v.name}"`).join(', ')}); stepinfer plans models with exactly one`, { file });
  }
  if (graph.output.length !== 1) {
    throw new OnnxFormatError(`the graph has ${graph.output.length} outputs; stepinfer plans models with exactly one`, { file });
  }
  const inputDims = declaredDims(realInputs[0], 'input', file);
  if (!inputDims) throw new OnnxFormatError(`the graph input "${realInputs[0].name}" has no shape`, { file });
  const inputName = realInputs[0].name;

  const nodeName = (n: NodeProto, i: number) => n.name || `${n.opType}_${i}`;
  const order = topologicalOrder(graph.node, new Set([inputName, ...initializers.keys()]), file, nodeName);

  // Shapes of every tensor (parameters too: operators check them); which tensors are parameters,
  // and the initializer each parameter tensor stands for (Identity aliases resolved).
  const shapes = new Map<string, readonly number[]>([[inputName, inputDims]]);
  const parameterRoot = new Map<string, string | null>(); // null: a Constant node's value
  for (const [name, info] of initializers) { shapes.set(name, info.dims); parameterRoot.set(name, name); }
  const ownedInitializers = new Set<string>();
  const tensors = new Map<string, TensorInfo>([[inputName, { name: inputName, dims: inputDims, bytes: elements(inputDims) * 4 }]]);
  const nodes: OnnxNode[] = [];
  let flops = 0;
  for (const storedIndex of order) {
    const n = graph.node[storedIndex];
    const name = nodeName(n, storedIndex);
    const operator = operatorOf(n);
    if (!operator) {
      const domain = n.domain !== '' && n.domain !== 'ai.onnx' ? ` of domain "${n.domain}"` : '';
      throw new UnsupportedOperatorError(
        `node "${name}" has operator ${n.opType}${domain}, which stepinfer cannot cost (it knows ${SUPPORTED_OPERATORS.join(', ')})`,
        file, name, n.opType,
      );
    }
    const fail = (message: string): never => { throw new OnnxFormatError(`node "${name}" (${n.opType}): ${message}`, { file }); };
    const [min, max] = operator.inputs;
    if (n.input.length < min || n.input.length > max) fail(`it has ${n.input.length} inputs; ${n.opType} takes ${min === max ? min : `${min} to ${max}`}`);
    const outputs = n.output.filter((o) => o !== '');
    if (outputs.length === 0) fail('it has no output');
    const result = operator.infer(n, n.input.map((i) => (i === '' ? undefined : shapes.get(i))), fail);
    const isParameter = n.opType === 'Constant' || (n.opType === 'Identity' && parameterRoot.has(n.input[0]));
    let paramBytes = 0;
    let outputBytes = 0;
    outputs.forEach((out, k) => {
      const dims = result.outputs[k] ?? fail(`its output ${k + 1} ("${out}") has no shape`);
      shapes.set(out, dims);
      if (isParameter) {
        parameterRoot.set(out, n.opType === 'Constant' ? null : parameterRoot.get(n.input[0])!);
      } else {
        const info = { name: out, dims, bytes: elements(dims) * 4 };
        tensors.set(out, info);
        outputBytes += info.bytes;
      }
    });
    if (!isParameter) {
      for (const input of n.input) {
        const root = parameterRoot.get(input);
        if (root && !ownedInitializers.has(root)) {
          ownedInitializers.add(root);
          paramBytes += initializers.get(root)!.bytes;
        }
      }
    }
    flops += result.flops;
    nodes.push({
      index: nodes.length, storedIndex, name, opType: n.opType, inputs: [...n.input], outputs,
      isParameter, flops: result.flops, paramBytes, outputBytes,
    });
  }

  const outputName = graph.output[0].name;
  const output = tensors.get(outputName);
  if (!output) throw new OnnxFormatError(`the graph output "${outputName}" is not written by any compute node`, { file });
  const declaredOutput = declaredDims(graph.output[0], 'output', file);
  if (declaredOutput && (declaredOutput.length !== output.dims.length || declaredOutput.some((d, i) => d !== output.dims[i]))) {
    throw new OnnxFormatError(`the graph output "${outputName}" is declared [${declaredOutput.join(', ')}] but its nodes make [${output.dims.join(', ')}]`, { file });
  }
  let parameterCount = 0;
  let parameterBytes = 0;
  let hasWeights = true;
  const initializerInfos = new Map<string, TensorInfo>();
  for (const [name, info] of initializers) {
    parameterCount += info.elements;
    parameterBytes += info.bytes;
    hasWeights &&= info.hasData;
    initializerInfos.set(name, { name, dims: info.dims, bytes: info.bytes });
  }
  return {
    file, opset, input: tensors.get(inputName)!, output, nodes, tensors, initializers: initializerInfos,
    parameterCount, parameterBytes, flops, hasWeights, proto,
  };
}
