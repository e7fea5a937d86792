// Stages plans written out by hand for the workflow and local-run tests: the contract
// (planner/plan/stages-schema.ts) with every field given, the plan id and names derived as the
// planner derives them, and parsed, so a test has a plan the schema accepts with the stages it
// chooses, without running the planner (its choices may change; these plans do not).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readOnnxModel } from '../../model/onnx/graph.ts';
import { layerUnits } from '../../model/onnx/units.ts';
import { extractStageModel, withBatch, withDeterministicWeights } from '../../model/onnx/extract.ts';
import { computePlanId, DEFAULT_STACK_PREFIX } from '../../planner/plan/names.ts';
import { LAMBDA_RETRY_POLICY, lambdaTaskRetry } from '../../planner/plan/build.ts';
import { PLAN_FORMAT_VERSION } from '../../planner/plan/schema.ts';
import {
  handoffFitsPayload, parseStagesPlan, stageFunctionId, stageModelFile, stagesPlanNames, STAGES_PLAN_KIND, type StagesPlan,
} from '../../planner/plan/stages-schema.ts';

export interface HandStage {
  readonly lastUnit: number;
  readonly name: string;
  readonly memoryMB: number;
  readonly outputDims: readonly number[];
  /** Default: "payload" when it fits, else "object". */
  readonly handoff?: 'payload' | 'object';
  readonly timeoutSeconds?: number;
  /** Bytes of the stage's sub-model file (default 1,000). */
  readonly modelBytes?: number;
}

export interface HandPlan {
  readonly modelPath: string;
  readonly checksum?: string;
  readonly inputDims: readonly number[];
  readonly parameterCount?: number;
  readonly weights?: StagesPlan['model']['weights'];
  readonly stages: readonly HandStage[];
  readonly type?: 'STANDARD' | 'EXPRESS';
}

const bytesOf = (dims: readonly number[]) => 4 * dims.reduce((a, b) => a * b, 1);

/** A valid stages plan of the given stages (units 1..last stage's lastUnit, in order). */
export function handStagesPlan(o: HandPlan): StagesPlan {
  let first = 1;
  const stages = o.stages.map((s, index) => {
    const functionId = stageFunctionId(index, s.memoryMB);
    const bytes = bytesOf(s.outputDims);
    const stage = {
      index, firstUnit: first, lastUnit: s.lastUnit, name: s.name, functionId,
      task: { timeoutSeconds: s.timeoutSeconds ?? 30, retry: LAMBDA_RETRY_POLICY },
      output: { dims: [...s.outputDims], bytes, handoff: s.handoff ?? (handoffFitsPayload(bytes) ? 'payload' as const : 'object' as const) },
    };
    first = s.lastUnit + 1;
    return stage;
  });
  const functions = o.stages.map((s, index) => ({
    id: stageFunctionId(index, s.memoryMB), role: 'stage' as const, stage: index, memoryMB: s.memoryMB,
    timeoutSeconds: s.timeoutSeconds ?? 30, reservedConcurrency: 1 as const, architecture: 'x86_64' as const,
    package: { kind: 'zip' as const, modelFile: stageModelFile(index), modelBytes: s.modelBytes ?? 1000, unzippedBytes: (s.modelBytes ?? 1000) + 40_000_000 },
  }));
  const last = o.stages[o.stages.length - 1];
  const content = {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: STAGES_PLAN_KIND,
    stackPrefix: DEFAULT_STACK_PREFIX,
    model: {
      source: 'onnx' as const,
      path: o.modelPath,
      checksum: { algorithm: 'sha256' as const, value: o.checksum ?? 'ab'.repeat(32) },
      input: { name: 'input', dims: [...o.inputDims] },
      output: { name: 'output', dims: [...last.outputDims] },
      units: last.lastUnit,
      parameterCount: o.parameterCount ?? 1000,
      weights: o.weights ?? { kind: 'file' as const },
    },
    batch: o.inputDims[0],
    shape: 'stages' as const,
    functions,
    workflow: {
      type: o.type ?? 'STANDARD',
      executionTimeoutSeconds: stages.reduce((t, s) => t + s.task.timeoutSeconds, 0) + 60,
      retryPolicies: { [LAMBDA_RETRY_POLICY]: lambdaTaskRetry() },
      stages,
    },
    storage: { inputs: 'runs/<execution>/input.f32', handoff: 'runs/<execution>/stage<stage>/output.f32', result: 'runs/<execution>/result.f32' },
  };
  const planId = computePlanId({ ...content, planId: '' });
  return parseStagesPlan({ ...content, planId, names: stagesPlanNames(planId, DEFAULT_STACK_PREFIX, functions.map((f) => f.id)) }, 'hand-written stages plan');
}

/** A three-stage plan of a ResNet-50-like model: an object handoff, a payload handoff, the result. */
export function threeStagePlan(): StagesPlan {
  return handStagesPlan({
    modelPath: '../shared/data/models/resnet50.graph.onnx',
    inputDims: [1, 3, 224, 224],
    stages: [
      { lastUnit: 14, name: 'conv1 .. layer3.5', memoryMB: 1769, outputDims: [1, 1024, 14, 14] },
      { lastUnit: 18, name: 'layer4.0 .. avgpool', memoryMB: 3008, outputDims: [1, 2048, 1, 1], timeoutSeconds: 20 },
      { lastUnit: 20, name: 'flatten .. fc', memoryMB: 1024, outputDims: [1, 1000] },
    ],
  });
}

export interface ModelStagesOptions {
  /** Each stage's last unit, ascending; the last is the model's unit count. */
  readonly lastUnits: readonly number[];
  /** One memory size for every stage, or one per stage. */
  readonly memoryMB: number | readonly number[];
  readonly batch?: number;
  readonly handoffs?: readonly ('payload' | 'object' | undefined)[];
  readonly timeoutSeconds?: number;
}

/**
 * A stages plan of a real ONNX file cut after the given units, written as the planner writes one
 * (checksum of the file, deterministic weights for a structure-only file, the batch, each stage's
 * sub-model size, its output dims and name from the units), without the planner's choice.
 */
export function modelStagesPlan(modelFile: string, o: ModelStagesOptions): StagesPlan {
  const bytes = readFileSync(modelFile);
  let graph = readOnnxModel(bytes, modelFile);
  const weights = graph.hasWeights ? { kind: 'file' as const } : { kind: 'deterministic' as const, seed: 0 };
  if (weights.kind === 'deterministic') graph = withDeterministicWeights(graph, weights.seed);
  const batch = o.batch ?? 1;
  graph = withBatch(graph, batch);
  const units = layerUnits(graph);
  let first = 1;
  return handStagesPlan({
    modelPath: modelFile,
    checksum: createHash('sha256').update(bytes).digest('hex'),
    inputDims: graph.input.dims,
    parameterCount: graph.parameterCount,
    weights,
    stages: o.lastUnits.map((last, i) => {
      const stage: HandStage = {
        lastUnit: last,
        name: first === last ? units[first - 1].name : `${units[first - 1].name} .. ${units[last - 1].name}`,
        memoryMB: typeof o.memoryMB === 'number' ? o.memoryMB : o.memoryMB[i],
        outputDims: units[last - 1].output.dims,
        handoff: o.handoffs?.[i],
        timeoutSeconds: o.timeoutSeconds,
        modelBytes: extractStageModel(graph, first, last).length,
      };
      first = last + 1;
      return stage;
    }),
  });
}
