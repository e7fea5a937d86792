import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../model/onnx/graph.ts';
import { layerUnits, modulePath } from '../../model/onnx/units.ts';
import { loadModel, MODEL_FILES, tinyInitializer, tinyModel } from '../helpers/onnx-models.ts';

// Per model: how many units (segments between cuts where exactly one activation crosses) and the
// largest activation handed from one unit to the next.
const UNITS = [
  { file: 'mobilenet_v2.onnx', units: 50, largestOutputBytes: 4 * 96 * 112 * 112 },
  { file: 'squeezenet1_1.onnx', units: 33, largestOutputBytes: 4 * 64 * 111 * 111 },
  { file: 'resnet50.graph.onnx', units: 38, largestOutputBytes: 4 * 64 * 112 * 112 },
  { file: 'inception_v3.graph.onnx', units: 26, largestOutputBytes: 4 * 64 * 147 * 147 },
  { file: 'xception.graph.onnx', units: 25, largestOutputBytes: 4 * 64 * 147 * 147 },
] as const;

describe('layer units (valid cut points) of the shared models', () => {
  it('covers every model in data/models', () => {
    expect(UNITS.map((u) => u.file)).toEqual([...MODEL_FILES]);
  });

  it.each(UNITS)('$file: $units units that chain from the input to the output', ({ file, units: count, largestOutputBytes }) => {
    const graph = loadModel(file);
    const units = layerUnits(graph);
    expect(units).toHaveLength(count);
    expect(Math.max(...units.map((u) => u.output.bytes))).toBe(largestOutputBytes);
    expect(units.map((u) => u.index)).toEqual(units.map((_u, i) => i + 1));
    expect(units[0].input).toEqual(graph.input);
    expect(units[units.length - 1].output).toEqual(graph.output);
    for (let k = 1; k < units.length; k++) {
      expect(units[k].input).toBe(units[k - 1].output);
      expect(units[k].firstNode).toBeGreaterThan(units[k - 1].lastNode);
    }
    // Every compute node in exactly one unit; FLOPs add up.
    const compute = graph.nodes.filter((n) => !n.isParameter);
    expect(units.reduce((a, u) => a + u.opTypes.length, 0)).toBe(compute.length);
    expect(units.reduce((a, u) => a + u.flops, 0)).toBe(graph.flops);
    // Names are unique; each unit holds at least its input and output at once.
    expect(new Set(units.map((u) => u.name)).size).toBe(units.length);
    for (const u of units) {
      if (u.opTypes.length === 1) expect(u.peakActivationBytes).toBe(u.input.bytes + u.output.bytes);
      else expect(u.peakActivationBytes).toBeGreaterThan(Math.max(u.input.bytes, u.output.bytes));
    }
    // A unit carries every initializer its nodes read: at least the bytes its nodes own, and
    // together at least the whole model's (shared initializers are copied into each reader).
    for (const u of units) {
      const owned = graph.nodes.slice(u.firstNode, u.lastNode + 1).reduce((a, n) => a + n.paramBytes, 0);
      expect(u.paramBytes).toBeGreaterThanOrEqual(owned);
    }
    expect(units.reduce((a, u) => a + u.paramBytes, 0)).toBeGreaterThanOrEqual(graph.parameterBytes);
  });

  it('ResNet-50: cuts fall between bottleneck blocks (and after each block\'s Add, before its last Relu)', () => {
    const units = layerUnits(loadModel('resnet50.graph.onnx'));
    const blocks = [['layer1', 3], ['layer2', 4], ['layer3', 6], ['layer4', 3]] as const;
    expect(units.map((u) => u.name)).toEqual([
      'conv1', 'relu', 'maxpool',
      ...blocks.flatMap(([layer, n]) => Array.from({ length: n }, (_x, b) => [`${layer}.${b}`, `${layer}.${b}.relu_2`]).flat()),
      'avgpool', 'Flatten', 'fc',
    ]);
    const block = units.find((u) => u.name === 'layer1.0')!;
    expect(block.opTypes).toEqual(['Conv', 'Relu', 'Conv', 'Relu', 'Conv', 'Conv', 'Add']);
    expect(block.input.dims).toEqual([1, 64, 56, 56]);
    expect(block.output.dims).toEqual([1, 256, 56, 56]);
    // Weights of conv1 (64x64x1x1), conv2 (64x64x3x3), conv3 (256x64x1x1), downsample (256x64x1x1);
    // the exporter stored equal biases once (Identity aliases): one of 64 for conv1 and conv2, one
    // of 256 for conv3 and the downsample. Each distinct initializer counts once.
    expect(block.paramBytes).toBe(4 * (64 * 64 + 64 * 64 * 9 + 256 * 64 + 256 * 64 + 64 + 256));
    // Its peak is while Add runs: conv3's output, the downsample's output and their sum (the block
    // input was last read by the downsample, just before).
    expect(block.peakActivationBytes).toBe(4 * 3 * 256 * 56 * 56);
    const conv1 = units[0];
    expect(conv1.peakActivationBytes).toBe(4 * (3 * 224 * 224 + 64 * 112 * 112));
    expect(conv1.flops).toBe(2 * 64 * 112 * 112 * 3 * 7 * 7);
  });

  it('Inception-v3: each Mixed block is one unit; Xception: each block is one unit', () => {
    const inception = layerUnits(loadModel('inception_v3.graph.onnx')).map((u) => u.name);
    expect(inception.slice(12, 23)).toEqual(['Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a', 'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c']);
    const xception = layerUnits(loadModel('xception.graph.onnx')).map((u) => u.name);
    expect(xception.slice(4, 16)).toEqual(Array.from({ length: 12 }, (_x, i) => `block${i + 1}`));
    const mobilenet = layerUnits(loadModel('mobilenet_v2.onnx'));
    // An inverted residual block with a skip is one unit; one without is cut at every layer.
    expect(mobilenet.find((u) => u.name === 'features.3')!.opTypes).toEqual(['Conv', 'Clip', 'Conv', 'Clip', 'Conv', 'Add']);
    expect(mobilenet.slice(5, 10).map((u) => u.name)).toEqual(['features.2.conv.0.0', 'features.2.conv.0.2', 'features.2.conv.1.0', 'features.2.conv.1.2', 'features.2.conv.2']);
  });

  it('module paths from PyTorch scoped node names', () => {
    const node = (name: string) => ({ index: 0, storedIndex: 0, name, opType: 'Conv', inputs: [], outputs: [], isParameter: false, flops: 0, paramBytes: 0, outputBytes: 0 });
    expect(modulePath(node('/layer1/layer1.0/conv1/Conv'))).toEqual(['layer1', '0', 'conv1']);
    expect(modulePath(node('/features/features.0/features.0.0/Conv'))).toEqual(['features', '0', '0']);
    expect(modulePath(node('/block1/rep/rep.0/conv1/Conv'))).toEqual(['block1', 'rep', '0', 'conv1']);
    expect(modulePath(node('/Flatten'))).toEqual(['Flatten']);
    expect(modulePath(node('conv_7'))).toEqual(['conv_7']);
  });
});

describe('layer units of tiny models', () => {
  it('a graph with no valid cut inside is one unit (not an error)', () => {
    // Two branches from the input meet at the end: every inner cut has two tensors crossing.
    const bytes = tinyModel({
      nodes: [
        { op: 'Relu', name: '/a/Relu', inputs: ['input'], outputs: ['a'] },
        { op: 'Clip', name: '/b/Clip', inputs: ['input'], outputs: ['b'] },
        { op: 'Add', name: '/Add', inputs: ['a', 'b'], outputs: ['output'] },
      ],
      input: [1, 8],
      output: [1, 8],
    });
    const units = layerUnits(readOnnxModel(bytes, 'diamond.onnx'));
    expect(units).toHaveLength(1);
    expect(units[0]).toMatchObject({ index: 1, name: 'a..Add', firstNode: 0, lastNode: 2, opTypes: ['Relu', 'Clip', 'Add'], flops: 24 });
    // While Add runs: the input is gone (last read by Clip); a, b and the output are alive.
    expect(units[0].peakActivationBytes).toBe(3 * 32);
  });

  it('a shared initializer (through Identity aliases) is carried by every unit that reads it, owned by its first reader', () => {
    const bytes = tinyModel({
      nodes: [
        { op: 'Identity', name: 'alias_1', inputs: ['bias'], outputs: ['bias_1'] },
        { op: 'Identity', name: 'alias_2', inputs: ['bias_1'], outputs: ['bias_2'] },
        { op: 'Add', name: '/first/Add', inputs: ['input', 'bias_1'], outputs: ['a'] },
        { op: 'Relu', name: '/mid/Relu', inputs: ['a'], outputs: ['r'] },
        { op: 'Add', name: '/second/Add', inputs: ['r', 'bias_2'], outputs: ['output'] },
      ],
      initializers: [tinyInitializer('bias', [4])],
      input: [1, 4],
      output: [1, 4],
    });
    const graph = readOnnxModel(bytes, 'shared.onnx');
    expect(graph.nodes.map((n) => [n.name, n.isParameter, n.paramBytes])).toEqual([
      ['alias_1', true, 0], ['alias_2', true, 0], ['/first/Add', false, 16], ['/mid/Relu', false, 0], ['/second/Add', false, 0],
    ]);
    const units = layerUnits(graph);
    expect(units.map((u) => [u.name, u.firstNode, u.lastNode, u.paramBytes])).toEqual([
      ['first', 2, 2, 16], ['mid', 3, 3, 0], ['second', 4, 4, 16],
    ]);
  });
});
