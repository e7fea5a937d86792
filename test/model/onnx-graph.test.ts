import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { readOnnxModel, readOnnxModelFile } from '../../model/onnx/graph.ts';
import { onnx } from '../../model/onnx/proto.ts';
import { SeededRandom } from '../../model/random.ts';
import { FileAccessError, OnnxFormatError, UnsupportedOperatorError } from '../../model/errors.ts';
import { loadModel, MODEL_FILES, tinyInitializer, tinyModel } from '../helpers/onnx-models.ts';
import { tempDirs } from '../helpers/tmp.ts';

// Per model: nodes (all / compute), parameters (data/models/README.md), FLOPs (2 per multiply-add
// for Conv and Gemm, 1 per element for element-wise operators, window area per pooled output) and
// the Conv + Gemm multiply-adds alone, which match the published figures: torchvision lists
// 0.30, 0.35, 4.09 and 5.71 GMAC for MobileNetV2, SqueezeNet 1.1, ResNet-50 and Inception-v3;
// timm 8.4 for Xception at 299x299.
const MODELS = [
  { file: 'mobilenet_v2.onnx', nodes: 209, compute: 100, params: 3_475_008, flops: 607_933_440, macs: 300_774_272, side: 224, weights: true },
  { file: 'squeezenet1_1.onnx', nodes: 83, compute: 65, params: 1_233_288, flops: 704_033_808, macs: 349_151_936, side: 224, weights: true },
  { file: 'resnet50.graph.onnx', nodes: 169, compute: 122, params: 25_507_944, flops: 8_195_403_264, macs: 4_089_184_256, side: 224, weights: false },
  { file: 'inception_v3.graph.onnx', nodes: 298, compute: 215, params: 23_802_088, flops: 11_459_930_112, macs: 5_713_216_096, side: 299, weights: false },
  { file: 'xception.graph.onnx', nodes: 160, compute: 128, params: 22_807_240, flops: 16_746_780_904, macs: 8_357_403_496, side: 299, weights: false },
] as const;

describe('ONNX reader: the operator DAG of the shared models', () => {
  it('covers every model in data/models', () => {
    expect(MODELS.map((m) => m.file)).toEqual([...MODEL_FILES]);
  });

  it.each(MODELS)('$file: nodes, parameters, FLOPs, shapes', (m) => {
    const g = loadModel(m.file);
    expect(g.opset).toBe(17);
    expect(g.nodes).toHaveLength(m.nodes);
    expect(g.nodes.filter((n) => !n.isParameter)).toHaveLength(m.compute);
    expect(g.parameterCount).toBe(m.params);
    expect(g.parameterBytes).toBe(4 * m.params);
    expect(g.flops).toBe(m.flops);
    expect(g.nodes.reduce((a, n) => a + n.flops, 0)).toBe(m.flops);
    const macs = g.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm').reduce((a, n) => a + n.flops / 2, 0);
    expect(macs).toBe(m.macs);
    expect(g.hasWeights).toBe(m.weights);
    expect(g.input).toEqual({ name: 'input', dims: [1, 3, m.side, m.side], bytes: 4 * 3 * m.side * m.side });
    expect(g.output).toEqual({ name: 'output', dims: [1, 1000], bytes: 4000 });
    // Every initializer counted once, at its first reader (Identity aliases resolved).
    expect(g.nodes.reduce((a, n) => a + n.paramBytes, 0)).toBe(g.parameterBytes);
    // Stored in topological order already.
    expect(g.nodes.every((n, i) => n.index === i && n.storedIndex === i)).toBe(true);
    // Parameter nodes are exactly the Constants and the Identity aliases of initializers here.
    expect(g.nodes.filter((n) => n.isParameter).every((n) => n.opType === 'Constant' || n.opType === 'Identity')).toBe(true);
    expect(g.nodes.filter((n) => n.isParameter).every((n) => n.flops === 0 && n.paramBytes === 0 && n.outputBytes === 0)).toBe(true);
  });

  it('ResNet-50 by hand: conv1, the first bottleneck and fc', () => {
    const g = loadModel('resnet50.graph.onnx');
    const node = (name: string) => g.nodes.find((n) => n.name === name)!;
    // conv1: 64 filters of 3x7x7 over a 112x112 output (stride 2, pad 3): 2 x 64 x 112 x 112 x 147 FLOPs.
    expect(node('/conv1/Conv').flops).toBe(2 * 64 * 112 * 112 * 3 * 7 * 7);
    expect(node('/conv1/Conv').paramBytes).toBe(4 * (64 * 3 * 7 * 7 + 64));
    expect(g.tensors.get(node('/conv1/Conv').outputs[0])!.dims).toEqual([1, 64, 112, 112]);
    // maxpool 3x3 stride 2 pad 1: 112 -> 56; 9 comparisons per output.
    expect(g.tensors.get(node('/maxpool/MaxPool').outputs[0])!.dims).toEqual([1, 64, 56, 56]);
    expect(node('/maxpool/MaxPool').flops).toBe(64 * 56 * 56 * 9);
    expect(node('/layer1/layer1.0/Add').flops).toBe(256 * 56 * 56);
    expect(node('/layer1/layer1.0/Add').outputBytes).toBe(4 * 256 * 56 * 56);
    // fc: 2048 -> 1000 (transB), 2 x 2048 x 1000 FLOPs, weight and bias.
    expect(node('/fc/Gemm').flops).toBe(2 * 2048 * 1000);
    expect(node('/fc/Gemm').paramBytes).toBe(4 * (2048 * 1000 + 1000));
    expect(g.tensors.get(node('/Flatten').outputs[0])!.dims).toEqual([1, 2048]);
  });

  it('Inception-v3 and SqueezeNet: Concat, AveragePool and ceil_mode shapes', () => {
    const inception = loadModel('inception_v3.graph.onnx');
    const shape = (g: typeof inception, name: string) => g.tensors.get(g.nodes.find((n) => n.name === name)!.outputs[0])!.dims;
    expect(shape(inception, '/Mixed_5b/Concat')).toEqual([1, 256, 35, 35]);
    expect(shape(inception, '/Mixed_6a/Concat')).toEqual([1, 768, 17, 17]);
    expect(shape(inception, '/Mixed_7c/Concat')).toEqual([1, 2048, 8, 8]);
    expect(shape(inception, '/Mixed_5b/AveragePool')).toEqual([1, 192, 35, 35]);
    const squeeze = loadModel('squeezenet1_1.onnx');
    // MaxPool 3x3 stride 2 with ceil_mode: 111 -> 55 -> 27 -> 13.
    expect(shape(squeeze, '/features/features.2/MaxPool')).toEqual([1, 64, 55, 55]);
    expect(shape(squeeze, '/features/features.5/MaxPool')).toEqual([1, 128, 27, 27]);
    expect(shape(squeeze, '/features/features.8/MaxPool')).toEqual([1, 256, 13, 13]);
    // Xception's grouped (depthwise) convolution: 728 groups of one channel.
    const xception = loadModel('xception.graph.onnx');
    const depthwise = xception.nodes.find((n) => n.name === '/block4/rep/rep.1/conv1/Conv')!;
    expect(depthwise.flops).toBe(2 * 728 * 19 * 19 * 9);
  });
});

/** A 3x3 "same" convolution node. */
const conv = (name: string, input: string, output: string, weight: string) =>
  ({ op: 'Conv', name, inputs: [input, weight], outputs: [output], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });

describe('ONNX reader: tiny models', () => {
  it('sorts nodes stored out of topological order (stable), and keeps where they were stored', () => {
    const bytes = tinyModel({
      nodes: [
        { op: 'Relu', name: 'second', inputs: ['a'], outputs: ['output'] },
        { op: 'Relu', name: 'first', inputs: ['input'], outputs: ['a'] },
      ],
      input: [1, 2, 4, 4],
      output: [1, 2, 4, 4],
    });
    const g = readOnnxModel(bytes, 'tiny.onnx');
    expect(g.nodes.map((n) => [n.name, n.index, n.storedIndex])).toEqual([['first', 0, 1], ['second', 1, 0]]);
    expect(g.flops).toBe(2 * 32);
  });

  it('auto_pad SAME_UPPER, strides and Flatten/Gemm/Concat attributes', () => {
    const bytes = tinyModel({
      nodes: [
        { op: 'Conv', inputs: ['input', 'w'], outputs: ['same'], attributes: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
        { op: 'Conv', inputs: ['input', 'w'], outputs: ['valid'], attributes: { strides: [2, 2] } },
        { op: 'MaxPool', inputs: ['same'], outputs: ['p'], attributes: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 } },
        { op: 'Concat', inputs: ['p', 'valid'], outputs: ['cc'], attributes: { axis: -3 } },
        { op: 'Flatten', inputs: ['cc'], outputs: ['f'], attributes: { axis: 1 } },
        { op: 'Gemm', inputs: ['f', 'g'], outputs: ['output'], attributes: { transB: 1 } },
      ],
      initializers: [tinyInitializer('w', [4, 2, 3, 3]), tinyInitializer('g', [5, 8 * 2 * 2])],
      input: [1, 2, 5, 5],
      output: [1, 5],
    });
    const g = readOnnxModel(bytes, 'tiny.onnx');
    expect(g.tensors.get('same')!.dims).toEqual([1, 4, 3, 3]); // ceil(5 / 2)
    expect(g.tensors.get('valid')!.dims).toEqual([1, 4, 2, 2]); // floor((5 - 3) / 2) + 1
    expect(g.tensors.get('p')!.dims).toEqual([1, 4, 2, 2]); // ceil((3 - 2) / 2) + 1
    expect(g.tensors.get('cc')!.dims).toEqual([1, 8, 2, 2]);
    expect(g.tensors.get('f')!.dims).toEqual([1, 32]);
    expect(g.output.dims).toEqual([1, 5]);
    expect(g.nodes.map((n) => n.flops)).toEqual([2 * 4 * 9 * 2 * 9, 2 * 4 * 4 * 2 * 9, 4 * 4 * 4, 0, 0, 2 * 5 * 32]);
  });

  it('the hasWeights flag: false when an initializer has dims but no data', () => {
    const model = (withData: boolean) => tinyModel({
      nodes: [conv('/c/Conv', 'input', 'output', 'w')],
      initializers: [tinyInitializer('w', [2, 2, 3, 3], withData)],
      input: [1, 2, 4, 4],
      output: [1, 2, 4, 4],
    });
    expect(readOnnxModel(model(true), 'a.onnx').hasWeights).toBe(true);
    expect(readOnnxModel(model(false), 'b.onnx').hasWeights).toBe(false);
  });
});

describe('ONNX reader: errors', () => {
  const newDir = tempDirs();
  const random = new SeededRandom(11);

  it.each([
    ['random bytes', Uint8Array.from({ length: 4096 }, () => random.nextInt(256)), /x\.onnx: not an ONNX model: its bytes do not decode as an ONNX ModelProto/],
    ['a GraphChallenge TSV', new TextEncoder().encode('1\t1\t0.0625\n2\t1\t0.0625\n'), /x\.onnx: not an ONNX model: it has no graph/],
    ['a JSON file', new TextEncoder().encode('{"version": 1}'), /x\.onnx: not an ONNX model: its bytes do not decode/],
    ['an empty file', new Uint8Array(0), /x\.onnx: the file is empty, not an ONNX model/],
    ['a model with no graph', onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }).finish(), /x\.onnx: not an ONNX model: it has no graph/],
  ])('%s is not an ONNX model', (_what, bytes, message) => {
    const file = join(newDir(), 'x.onnx');
    writeFileSync(file, bytes);
    expect(() => readOnnxModelFile(file)).toThrow(OnnxFormatError);
    expect(() => readOnnxModelFile(file)).toThrow(message);
  });

  it('a missing file is a FileAccessError naming it', () => {
    const file = join(newDir(), 'nope.onnx');
    expect(() => readOnnxModelFile(file)).toThrow(FileAccessError);
    expect(() => readOnnxModelFile(file)).toThrow(`${file}: ONNX model file not found`);
  });

  it('an operator it cannot cost names the node, the operator and the file', () => {
    const bytes = tinyModel({
      nodes: [
        { op: 'Relu', inputs: ['input'], outputs: ['a'] },
        { op: 'LSTM', name: '/rnn/LSTM', inputs: ['a', 'w', 'r'], outputs: ['output'] },
      ],
      initializers: [tinyInitializer('w', [1, 16, 4]), tinyInitializer('r', [1, 16, 4])],
      input: [3, 1, 4],
      output: [3, 1, 1, 4],
    });
    let error: unknown;
    try { readOnnxModel(bytes, 'models/rnn.onnx'); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(UnsupportedOperatorError);
    expect((error as UnsupportedOperatorError).message).toBe(
      'models/rnn.onnx: node "/rnn/LSTM" has operator LSTM, which stepinfer cannot cost (it knows Conv, Relu, Clip, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, Add, Concat, Identity, Constant)',
    );
    expect((error as UnsupportedOperatorError).nodeName).toBe('/rnn/LSTM');
    expect((error as UnsupportedOperatorError).opType).toBe('LSTM');
  });

  it('shapes that do not agree, a symbolic dimension, a missing tensor, a cycle, two inputs', () => {
    const base = { input: [1, 2, 4, 4], output: [1, 2, 4, 4] };
    const bad = (options: Parameters<typeof tinyModel>[0]) => () => readOnnxModel(tinyModel(options), 'bad.onnx');
    expect(bad({ ...base, nodes: [conv('/c/Conv', 'input', 'output', 'w')], initializers: [tinyInitializer('w', [2, 3, 3, 3])] }))
      .toThrow('bad.onnx: node "/c/Conv" (Conv): input channels 2, weight [2, 3, 3, 3] and group 1 do not agree');
    expect(bad({ ...base, nodes: [{ op: 'Add', name: 'sum', inputs: ['input', 'b'], outputs: ['output'] }], initializers: [tinyInitializer('b', [3])] }))
      .toThrow('bad.onnx: node "sum" (Add): shapes [1, 2, 4, 4] and [3] do not broadcast');
    expect(bad({ ...base, nodes: [{ op: 'Relu', name: 'r', inputs: ['nothing'], outputs: ['output'] }] }))
      .toThrow('bad.onnx: node "r" reads tensor "nothing", which no node, initializer or graph input makes');
    expect(bad({ ...base, nodes: [{ op: 'Add', name: 'p', inputs: ['input', 'q'], outputs: ['p'] }, { op: 'Relu', name: 'q', inputs: ['p'], outputs: ['q'] }] }))
      .toThrow(/bad\.onnx: (tensor "p" is written twice|the graph has a cycle)/);
    expect(bad({ ...base, nodes: [{ op: 'Relu', name: 'r', inputs: ['input'], outputs: ['output'] }], output: [1, 2, 4, 5] }))
      .toThrow('bad.onnx: the graph output "output" is declared [1, 2, 4, 5] but its nodes make [1, 2, 4, 4]');
    const symbolic = onnx.ModelProto.decode(tinyModel({ ...base, nodes: [{ op: 'Relu', inputs: ['input'], outputs: ['output'] }] }));
    symbolic.graph!.input![0].type!.tensorType!.shape!.dim![0] = { dimParam: 'batch' };
    expect(() => readOnnxModel(onnx.ModelProto.encode(symbolic).finish(), 'bad.onnx'))
      .toThrow('bad.onnx: the graph input "input" has a symbolic dimension 0 ("batch"); stepinfer needs fixed sizes');
    const twoInputs = onnx.ModelProto.decode(tinyModel({ ...base, nodes: [{ op: 'Add', inputs: ['input', 'other'], outputs: ['output'] }] }));
    twoInputs.graph!.input!.push({ ...twoInputs.graph!.input![0], name: 'other' });
    expect(() => readOnnxModel(onnx.ModelProto.encode(twoInputs).finish(), 'bad.onnx'))
      .toThrow('bad.onnx: the graph has 2 inputs ("input", "other"); stepinfer plans models with exactly one');
  });

  it('a cycle is refused, naming a node on it', () => {
    const bytes = tinyModel({
      nodes: [
        { op: 'Add', name: 'p', inputs: ['input', 'q'], outputs: ['p'] },
        { op: 'Relu', name: 'q', inputs: ['p'], outputs: ['q'] },
        { op: 'Relu', name: 'out', inputs: ['p'], outputs: ['output'] },
      ],
      input: [1, 2],
      output: [1, 2],
    });
    expect(() => readOnnxModel(bytes, 'loop.onnx')).toThrow('loop.onnx: the graph has a cycle through node "p"');
  });

  it('initializer data of the wrong size is refused', () => {
    const w = { ...tinyInitializer('w', [2, 2, 3, 3]), floatData: [1, 2, 3] };
    const bytes = tinyModel({ nodes: [conv('/c/Conv', 'input', 'output', 'w')], initializers: [w], input: [1, 2, 4, 4], output: [1, 2, 4, 4] });
    expect(() => readOnnxModel(bytes, 'w.onnx')).toThrow('w.onnx, field graph.initializer: initializer "w": has 3 values; dims [2, 2, 3, 3] need 36');
  });
});
