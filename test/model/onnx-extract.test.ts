import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { readOnnxModel, type OnnxGraph } from '../../model/onnx/graph.ts';
import { layerUnits, segmentParamBytes } from '../../model/onnx/units.ts';
import { encodeOnnxModel, extractStageModel, withBatch, withDeterministicWeights } from '../../model/onnx/extract.ts';
import { onnx } from '../../model/onnx/proto.ts';
import { SeededRandom } from '../../model/random.ts';
import { OnnxFormatError, StepinferError } from '../../model/errors.ts';
import { loadModel, MODEL_FILES, type ModelFile } from '../helpers/onnx-models.ts';

// The same kernels in the same order give the same bits, so stages must match the whole model
// exactly. onnxruntime's default level ('all') adds layout optimizations (NCHWc blocked
// convolutions) whose choice depends on the graph around each node: the whole MobileNetV2 folds
// each residual Add into an NCHWc Conv, while a stage ending at that Add reorders back to NCHW and
// adds separately, so the last bits differ (max abs difference 4.4e-4 on ResNet-50's outputs of
// magnitude 1186, 2.2e-16 on MobileNetV2's). 'extended' fuses within an operator's neighbourhood
// only, identically in both: exact. Stage handlers must use the same level as the reference run.
const SESSION: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'extended', intraOpNumThreads: 1, interOpNumThreads: 1 };

async function run(model: Uint8Array, input: ort.Tensor, inputName: string, outputName: string): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(model, SESSION);
  try {
    return (await session.run({ [inputName]: input }))[outputName];
  } finally {
    await session.release();
  }
}

/** Runs stages (first..last unit ranges) in sequence, each its own ONNX file and session. */
async function runStages(graph: OnnxGraph, stages: readonly (readonly [number, number])[], input: ort.Tensor): Promise<ort.Tensor> {
  const units = layerUnits(graph);
  let x = input;
  for (const [first, last] of stages) {
    x = await run(extractStageModel(graph, first, last), x, units[first - 1].input.name, units[last - 1].output.name);
    expect(x.dims).toEqual(units[last - 1].output.dims);
  }
  return x;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const bytesOf = (t: ort.Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);

function randomInput(graph: OnnxGraph, seed: number): ort.Tensor {
  const random = new SeededRandom(seed);
  return new ort.Tensor('float32', Float32Array.from({ length: graph.input.bytes / 4 }, () => random.next()), graph.input.dims);
}

/** 2 to 4 stages over the units, at seeded random cuts. */
function randomSplit(unitCount: number, seed: number): [number, number][] {
  const random = new SeededRandom(seed);
  const stages = 2 + random.nextInt(3);
  const cuts = [...random.permutation(unitCount - 1)].slice(0, stages - 1).map((c) => c + 1).sort((a, b) => a - b);
  const bounds = [0, ...cuts, unitCount];
  return bounds.slice(1).map((end, k) => [bounds[k] + 1, end]);
}

describe('stage sub-models: every unit and a random split equal the whole model, bit for bit', () => {
  it.each(MODEL_FILES.map((file, i) => ({ file, seed: i + 1 })))('$file', async ({ file, seed }: { file: ModelFile; seed: number }) => {
    const read = loadModel(file);
    const graph = withDeterministicWeights(read, 1);
    expect(graph.hasWeights).toBe(true);
    const input = randomInput(graph, 100 + seed);
    const whole = await run(encodeOnnxModel(graph), input, graph.input.name, graph.output.name);
    expect(whole.dims).toEqual(graph.output.dims);
    expect((whole.data as Float32Array).every(Number.isFinite)).toBe(true);
    expect(new Set(whole.data as Float32Array).size).toBeGreaterThan(500); // not a constant (SqueezeNet's ReLU zeroes some)

    const units = layerUnits(graph);
    const everyUnit = await runStages(graph, units.map((u) => [u.index, u.index] as const), input);
    expect(maxAbsDifference(everyUnit.data as Float32Array, whole.data as Float32Array)).toBe(0);
    expect(bytesOf(everyUnit).equals(bytesOf(whole))).toBe(true);

    const split = randomSplit(units.length, seed);
    expect(split.length).toBeGreaterThanOrEqual(2);
    expect(split.length).toBeLessThanOrEqual(4);
    const staged = await runStages(graph, split, input);
    expect(bytesOf(staged).equals(bytesOf(whole))).toBe(true);

    // A stage file is a model in its own right: read back, it has exactly its units.
    const [first, last] = split[1];
    const stage = readOnnxModel(extractStageModel(graph, first, last), `${file} stage 2`);
    expect(layerUnits(stage).map((u) => u.name)).toEqual(units.slice(first - 1, last).map((u) => u.name));
    expect(stage.input).toEqual(units[first - 1].input);
    expect(stage.output).toEqual(units[last - 1].output);
    expect(stage.opset).toBe(17);
    expect(stage.proto.irVersion).toEqual(read.proto.irVersion);
    // It carries what its nodes read, once: no less than any of its units, no more than all of them.
    const mine = units.slice(first - 1, last);
    expect(stage.parameterBytes).toBe(segmentParamBytes(graph, graph.nodes.slice(mine[0].firstNode, mine.at(-1)!.lastNode + 1).filter((n) => !n.isParameter)));
    expect(stage.parameterBytes).toBeGreaterThanOrEqual(Math.max(...mine.map((u) => u.paramBytes)));
    expect(stage.parameterBytes).toBeLessThanOrEqual(mine.reduce((a, u) => a + u.paramBytes, 0));
  });

  it('the stage of a single unit carries only the initializers it reads', () => {
    const graph = loadModel('mobilenet_v2.onnx');
    const fc = layerUnits(graph).at(-1)!;
    const model = onnx.ModelProto.decode(extractStageModel(graph, fc.index, fc.index));
    expect(model.graph!.node!.map((n) => n.opType)).toEqual(['Gemm']);
    expect(model.graph!.initializer!.map((t) => t.name)).toEqual(['classifier.1.weight', 'classifier.1.bias']);
    expect(model.graph!.input!.map((v) => v.name)).toEqual([fc.input.name]);
  });

  it('refuses units that do not exist and a model without weights', () => {
    const graph = loadModel('squeezenet1_1.onnx');
    expect(() => extractStageModel(graph, 0, 2)).toThrow(StepinferError);
    expect(() => extractStageModel(graph, 3, 34)).toThrow(/squeezenet1_1\.onnx: units 3\.\.34 do not exist: the model has units 1\.\.33/);
    expect(() => extractStageModel(graph, 5, 4)).toThrow('units 5..4 do not exist');
    expect(() => extractStageModel(loadModel('resnet50.graph.onnx'), 1, 1)).toThrow(OnnxFormatError);
    expect(() => extractStageModel(loadModel('resnet50.graph.onnx'), 1, 1)).toThrow(/resnet50\.graph\.onnx: the model has no weights \(structure only\)/);
  });
});

describe('withDeterministicWeights', () => {
  it('fills ResNet-50 the same way for the same seed (SHA-256 of the encoded model pinned)', () => {
    const structure = loadModel('resnet50.graph.onnx');
    const filled = withDeterministicWeights(structure, 1);
    expect(filled.hasWeights).toBe(true);
    expect(structure.hasWeights).toBe(false); // the model read is not changed
    expect(filled.parameterCount).toBe(structure.parameterCount);
    expect(filled.flops).toBe(structure.flops);
    const sha = (g: OnnxGraph) => createHash('sha256').update(encodeOnnxModel(g)).digest('hex');
    expect(sha(filled)).toBe('ab11529bc70d47454f61b7bf4fb42dbe267726dbd33c3de661cb936b845651a2');
    expect(sha(withDeterministicWeights(structure, 1))).toBe(sha(filled));
    expect(sha(withDeterministicWeights(structure, 2))).not.toBe(sha(filled));
  });

  it('weights are He-uniform by fan-in, biases within +-0.01', () => {
    const filled = withDeterministicWeights(loadModel('resnet50.graph.onnx'), 1);
    const values = (name: string) => {
      const t = filled.proto.graph!.initializer!.find((i) => i.name === name)!;
      return new Float32Array(t.rawData!.slice().buffer);
    };
    const conv1 = filled.nodes.find((n) => n.name === '/conv1/Conv')!;
    const weight = values(conv1.inputs[1]);
    const bound = Math.sqrt(6 / (3 * 7 * 7));
    expect(weight).toHaveLength(64 * 3 * 7 * 7);
    expect(Math.max(...weight)).toBeLessThanOrEqual(bound);
    expect(Math.min(...weight)).toBeGreaterThanOrEqual(-bound);
    expect(Math.max(...weight)).toBeGreaterThan(0.95 * bound);
    const bias = values(conv1.inputs[2]);
    expect(bias).toHaveLength(64);
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(0.01);
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(0.009);
  });

  it('leaves a model that has its weights as it is', () => {
    const graph = loadModel('mobilenet_v2.onnx');
    expect(withDeterministicWeights(graph, 1)).toBe(graph);
  });
});

describe('withBatch', () => {
  it('sets the batch dimension everywhere: FLOPs and activation bytes scale, parameters do not', () => {
    const one = loadModel('resnet50.graph.onnx');
    const four = withBatch(one, 4);
    expect(four.input.dims).toEqual([4, 3, 224, 224]);
    expect(four.output.dims).toEqual([4, 1000]);
    expect(four.flops).toBe(4 * one.flops);
    expect(four.parameterBytes).toBe(one.parameterBytes);
    const units1 = layerUnits(one);
    const units4 = layerUnits(four);
    expect(units4.map((u) => u.name)).toEqual(units1.map((u) => u.name));
    units4.forEach((u, k) => {
      expect(u.output.bytes).toBe(4 * units1[k].output.bytes);
      expect(u.peakActivationBytes).toBe(4 * units1[k].peakActivationBytes);
      expect(u.paramBytes).toBe(units1[k].paramBytes);
    });
    expect(withBatch(one, 1)).toBe(one);
    expect(() => withBatch(one, 0)).toThrow('resnet50.graph.onnx: batch 0 must be an integer >= 1');
  });

  it('a batch of 3 runs staged exactly as whole (SqueezeNet)', async () => {
    const graph = withBatch(loadModel('squeezenet1_1.onnx'), 3);
    const input = randomInput(graph, 9);
    const whole = await run(encodeOnnxModel(graph), input, graph.input.name, graph.output.name);
    expect(whole.dims).toEqual([3, 1000]);
    const staged = await runStages(graph, randomSplit(layerUnits(graph).length, 9), input);
    expect(bytesOf(staged).equals(bytesOf(whole))).toBe(true);
  });
});
