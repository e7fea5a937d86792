// Running an ONNX model (a stage's sub-model, or a whole model for comparison) with
// onnxruntime-node: one way to create a session and one way to run it on a float32 tensor, so the
// stage handler and the whole-model reference run use the same session options and kernels.
//
// onnxruntime-node is a native module: handler bundles leave it external
// (planner/plan/handler-bundle.ts) and it is installed beside the bundle.

import * as ort from 'onnxruntime-node';
import { ModelFormatError, ShapeMismatchError, type ErrorPlace } from '../../model/errors.ts';
import { latencyConstants } from '../../planner/latency/constants.ts';
import { lambdaVcpus } from '../../planner/latency/model.ts';
import type { DenseTensor } from '../storage/tensor-codec.ts';

/** A loaded model: its session, its one input and one output. */
export interface OnnxModelSession {
  readonly session: ort.InferenceSession;
  readonly inputName: string;
  readonly outputName: string;
  /** onnxruntime's intra-op threads. */
  readonly threads: number;
}

/**
 * Intra-op threads for a function of `memoryMB`: its vCPUs rounded up (Lambda gives CPU in
 * proportion to memory, 1,769 MB = one vCPU, at most 6: planner/latency/aws-latency.json), at least one.
 */
export function threadsForMemory(memoryMB: number): number {
  return Math.max(1, Math.ceil(lambdaVcpus(memoryMB, latencyConstants()) - 1e-9));
}

const dimsText = (dims: readonly number[]) => `[${dims.join(', ')}]`;

/**
 * onnxruntime's graph optimizations for every stage and whole-model session: 'extended' (constant
 * folding, redundant-node removal, operator fusions), not 'all', whose layout level adds the NCHWc
 * transformer. That transformer reorders a Conv chain into blocked NCHWc tensors; a stage's
 * sub-model starts from a plain NCHW graph input, so the operators just after a cut run other
 * kernels (other summation orders) than the same operators inside the whole model. Measured here
 * (three stages at units n/3 and 2n/3, onnxruntime-node 1.30): with 'all' the staged output
 * differs from the whole model's by up to 7.3e-4 (ResNet-50, outputs up to 2,525), 0.81
 * (Xception, up to 1.7e6) and 3.3e-16 (MobileNetV2, up to 1.1e-9), 0 for SqueezeNet and
 * Inception-v3; with 'extended' by 0 on all five. The price: 'all' ran 1.2-2.2x faster on one
 * thread of this machine (ResNet-50 270 against 364 ms, MobileNetV2 25 against 55 ms, Xception
 * 784 against 929 ms). Exact stages are the contract here; planning calibrates with these options.
 */
export const ONNX_GRAPH_OPTIMIZATION = 'extended';

/** The session options of every stage and whole-model session (and of calibration, so its times are the handler's). */
export function stageSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: ONNX_GRAPH_OPTIMIZATION };
}

/**
 * A session of the model at `source` (a file path, or the model's bytes); `what` names the model in
 * errors ("stage 1 (layer2.1 .. layer3.5): /var/task/stage1.onnx"). A file onnxruntime cannot load
 * fails as a ModelFormatError saying why; a model with other than one input and one output too.
 */
export async function createOnnxSession(source: string | Uint8Array, threads: number, what: string, place: ErrorPlace = {}): Promise<OnnxModelSession> {
  let session: ort.InferenceSession;
  const options = stageSessionOptions(threads);
  try {
    session = typeof source === 'string'
      ? await ort.InferenceSession.create(source, options)
      : await ort.InferenceSession.create(source, options);
  } catch (error) {
    throw new ModelFormatError(`${what}: onnxruntime cannot load it: ${(error as Error).message.split('\n')[0]}`, place);
  }
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
    await session.release();
    throw new ModelFormatError(`${what}: a stage model has one input and one output, this one ${session.inputNames.length} and ${session.outputNames.length}`, place);
  }
  return { session, inputName: session.inputNames[0], outputName: session.outputNames[0], threads };
}

/** The dims the model declares for its input (symbolic dims as -1). */
export function declaredInputDims(model: OnnxModelSession): number[] | null {
  const meta = model.session.inputMetadata[0];
  if (!meta?.isTensor) return null;
  return meta.shape.map((d) => (typeof d === 'number' ? d : -1));
}

/** Runs the model on `input`; the output must have `outputDims` when given. */
export async function runOnnx(model: OnnxModelSession, input: DenseTensor, what: string, outputDims?: readonly number[], place: ErrorPlace = {}): Promise<DenseTensor> {
  const feeds = { [model.inputName]: new ort.Tensor('float32', input.data, [...input.dims]) };
  let results: ort.InferenceSession.ReturnType;
  try {
    results = await model.session.run(feeds);
  } catch (error) {
    throw new ShapeMismatchError(`${what}: onnxruntime failed on an input of dims ${dimsText(input.dims)}: ${(error as Error).message.split('\n')[0]}`, place);
  }
  const output = results[model.outputName] as ort.Tensor;
  if (output.type !== 'float32') throw new ShapeMismatchError(`${what}: the output is ${output.type}, a stage passes float32`, place);
  const dims = output.dims.map(Number);
  if (outputDims && (dims.length !== outputDims.length || dims.some((d, i) => d !== outputDims[i]))) {
    throw new ShapeMismatchError(`${what}: the output has dims ${dimsText(dims)}, the plan says ${dimsText(outputDims)}`, place);
  }
  return { dims, data: output.data as Float32Array };
}
