// The shared ONNX models the tests read (data/models: failing loudly when missing, never skipped),
// and tiny ONNX models built in code for the cases the real ones do not have.
import { join } from 'node:path';
import { defaultModelsDir, readOnnxModelFile, type OnnxGraph } from '../../model/onnx/graph.ts';
import { onnx } from '../../model/onnx/proto.ts';
import { requireData } from './shared-data.ts';

export const MODEL_FILES = ['mobilenet_v2.onnx', 'squeezenet1_1.onnx', 'resnet50.graph.onnx', 'inception_v3.graph.onnx', 'xception.graph.onnx'] as const;
export type ModelFile = (typeof MODEL_FILES)[number];

const cache = new Map<string, OnnxGraph>();

/** A model of data/models, read once per test file. */
export function loadModel(file: ModelFile): OnnxGraph {
  let graph = cache.get(file);
  if (!graph) {
    graph = readOnnxModelFile(requireData(join(defaultModelsDir(), file), `the ONNX model ${file}`));
    cache.set(file, graph);
  }
  return graph;
}

export interface TinyNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly attributes?: Readonly<Record<string, number | readonly number[] | string>>;
}

/** A float32 initializer of the given dims, filled with 0.01 * (i + 1) (or left without data). */
export function tinyInitializer(name: string, dims: readonly number[], withData = true) {
  const count = dims.reduce((a, d) => a * d, 1);
  return { name, dims: [...dims], dataType: 1, floatData: withData ? Array.from({ length: count }, (_, i) => 0.01 * (i + 1)) : [] };
}

/** Encodes a one-input, one-output float32 ONNX model (opset 17, IR 8) of the given nodes. */
export function tinyModel(options: {
  readonly nodes: readonly TinyNode[];
  readonly initializers?: readonly ReturnType<typeof tinyInitializer>[];
  readonly input: readonly number[];
  readonly output: readonly number[];
  readonly inputName?: string;
  readonly outputName?: string;
}): Uint8Array {
  const valueInfo = (name: string, dims: readonly number[]) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'stepinfer-test',
    graph: {
      name: 'tiny',
      node: options.nodes.map((n, i) => ({
        name: n.name ?? `/${n.op.toLowerCase()}_${i}/${n.op}`,
        opType: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes ?? {}).map(([name, v]) =>
          typeof v === 'number' ? { name, type: 2, i: v } : typeof v === 'string' ? { name, type: 3, s: new TextEncoder().encode(v) } : { name, type: 7, ints: [...v] }),
      })),
      initializer: [...(options.initializers ?? [])],
      input: [valueInfo(options.inputName ?? 'input', options.input)],
      output: [valueInfo(options.outputName ?? 'output', options.output)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
