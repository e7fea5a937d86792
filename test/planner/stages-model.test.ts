// One stage of a dense model (planner/stages/model.ts) against its formula, on SqueezeNet 1.1 with
// the checked-in calibration: where its input comes from and its output goes (payload or S3), its
// seconds by part, the billed duration, the memory it needs, the package limit, and what it bills;
// and the baselines the plan command prints beside the chosen stages.

import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import { layerUnits } from '../../model/onnx/units.ts';
import { readDataFile } from '../../model/read-file.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { latencyConstants } from '../../planner/latency/constants.ts';
import { lambdaCpuSpeed } from '../../planner/latency/model.ts';
import { handoffFitsPayload } from '../../planner/plan/stages-schema.ts';
import {
  calibrationForModel, fitSessionCreate, MB, parseDenseCalibration, runtimePackageBytes, searchStages, secondsAtBatch, STAGE_CONSTANTS,
  stageContext, stageModelOf, stagesBaselines, type StageContext,
} from '../../planner/stages/index.ts';
import { loadModel, type ModelFile } from '../helpers/onnx-models.ts';

const calibrationFile = parseDenseCalibration(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../planner/latency/dense-calibration.json'), 'utf8')), 'dense-calibration.json');

function contextOf(file: ModelFile, packageLimitBytes?: number): StageContext {
  const graph = loadModel(file);
  const checksum = createHash('sha256').update(readDataFile(join(defaultModelsDir(), file), 'model')).digest('hex');
  return stageContext({
    model: { path: file, checksum, input: graph.input, output: graph.output, units: layerUnits(graph), parameterCount: graph.parameterCount, hasWeights: graph.hasWeights },
    calibrationFile, calibration: calibrationForModel(calibrationFile, 'c', file, checksum), constants: latencyConstants(), prices: defaultPrices(), packageLimitBytes,
  });
}

describe('a stage of SqueezeNet 1.1 (33 units)', () => {
  const ctx = contextOf('squeezenet1_1.onnx');
  const c = ctx.constants, cal = ctx.calibration, units = ctx.model.units;

  it('hands a tensor on in the payload only when it fits, and the last stage always writes the result to S3', () => {
    const model = stageModelOf(ctx, 4, 'EXPRESS');
    // Unit 17's output (features.8, 173,056 bytes at batch 1) is 692 KB at batch 4: through S3.
    expect(units[16].output.bytes).toBe(173_056);
    const after17 = model.stage(18, 20, 1024);
    expect(after17.input).toBe('object');
    expect(model.stage(1, 17, 1024).output.handoff).toBe('object');
    // Unit 18's output (32,448 bytes) is 129,792 bytes at batch 4: in the payload.
    expect(handoffFitsPayload(4 * units[17].output.bytes)).toBe(true);
    expect(model.stage(1, 18, 1024).output).toEqual({ dims: [4, 48, 13, 13], bytes: 129_792, handoff: 'payload' });
    expect(model.stage(19, 33, 1024).input).toBe('payload');
    expect(model.stage(1, 33, 1024)).toMatchObject({ input: 'staged', output: { dims: [4, 1000], bytes: 16_000, handoff: 'object' } });
  });

  it('adds up its seconds as the formula says, and bills INIT and the handler rounded up to the millisecond', () => {
    const model = stageModelOf(ctx, 4, 'EXPRESS');
    const e = model.stage(19, 33, 1024);
    const speed = lambdaCpuSpeed(1024, 1, c, model.parallelFraction);
    expect(e.threads).toBe(1);
    const packageBytes = model.modelBytesOf(19, 33) + runtimePackageBytes(calibrationFile);
    expect(e.packageBytes).toBe(packageBytes);
    expect(e.parts.start).toBeCloseTo(c.lambdaColdStartSeconds + packageBytes / STAGE_CONSTANTS.packageFetchBytesPerSecond.value + cal.process.importSeconds, 12);
    const fit = fitSessionCreate(cal);
    expect(e.parts.load).toBeCloseTo((fit.interceptSeconds + fit.secondsPerMB * model.modelBytesOf(19, 33) / MB) / lambdaCpuSpeed(1024, 1, c, 0), 12);
    const unitSeconds = cal.units.slice(18, 33).reduce((t, u) => t + secondsAtBatch(u.times, 4), 0);
    expect(e.parts.compute).toBeCloseTo(unitSeconds * model.unitScale / speed, 12);
    expect(e.parts.input).toBe(0);
    expect(e.parts.output).toBeCloseTo(c.s3PutSeconds + 16_000 / c.lambdaNetworkBytesPerSecond, 12);
    expect(e.parts.orchestration).toBeCloseTo(c.sfnTaskInvokeSeconds + c.sfnTransitionSeconds, 12);
    const handler = e.parts.load + e.parts.input + e.parts.compute + e.parts.output;
    expect(e.seconds).toBeCloseTo(e.parts.start + handler + e.parts.orchestration, 12);
    expect(e.functionSeconds).toBe(Math.ceil((e.parts.start + handler) * 1000 - 1e-9) / 1000);
    expect(e.counters.lambda).toEqual([{ role: 'stage-19-33', memoryMB: 1024, architecture: 'x86_64', invocations: 1, billedSeconds: e.functionSeconds }]);
    expect(e.counters.s3PutRequests).toBe(1);
    expect(e.counters.s3GetRequests).toBe(0);
    expect(e.counters.sfnExpressGBSeconds).toBeCloseTo(e.seconds * 64 / 1024, 12);
    expect(e.costUSD).toBeCloseTo(2e-7 + e.functionSeconds * 1.66667e-5 + 1 * 5e-6 + e.seconds * (64 / 1024) * 1.667e-5, 15);
    // All units in one stage take what the whole model took (scaled units).
    expect(model.computeSecondsOf(1, 33)).toBeCloseTo(secondsAtBatch(cal.whole.times, 4), 12);
  });

  it('needs memory for the runtime, the session, the model, the live activations and its tensors; refuses less', () => {
    const model = stageModelOf(ctx, 16, 'STANDARD');
    const p = cal.process;
    const peak = Math.max(...units.map((u) => u.peakActivationBytes));
    const bytes = c.lambdaRuntimeBaseMB * MB + p.runtimeResidentBytes + p.sessionResidentBytes + model.modelBytesOf(1, 33) * p.residentBytesPerModelByte
      + peak * 16 * p.residentBytesPerActivationByte + 2 * 16 * (units[0].input.bytes + units[32].output.bytes);
    expect(model.requiredMemoryMB(1, 33)).toBe(Math.ceil(bytes / MB));
    const small = model.stage(1, 33, 128);
    expect(small.feasible).toBe(false);
    expect(small.reasons).toEqual([`needs about ${model.requiredMemoryMB(1, 33)} MB, more than 128 MB`]);
    // Standard: one transition per Task, five history events.
    expect(model.stage(1, 33, 1024)).toMatchObject({ feasible: true, historyEvents: 5, counters: { sfnStandardTransitions: 1, sfnExpressGBSeconds: 0 } });
  });

  it('refuses a package over the limit, naming its size', () => {
    const tight = contextOf('squeezenet1_1.onnx', runtimePackageBytes(calibrationFile) + 2 * MB);
    const e = stageModelOf(tight, 1, 'EXPRESS').stage(1, 33, 1024);
    expect(e.feasible).toBe(false);
    expect(e.reasons[0]).toMatch(/^a zip package of \d+\.\d MB, over the 49 MB limit$/);
  });
});

describe('baselines', () => {
  it('compare the chosen stages with one function, a uniform split and the server at the chosen batch (ResNet-50, SLO 20 s, split limit)', async () => {
    const ctx = contextOf('resnet50.graph.onnx', runtimePackageBytes(calibrationFile) + 0.4 * calibrationFile.models.find((m) => m.file === 'resnet50.graph.onnx')!.units.reduce((t, u) => t + u.modelBytes, 0));
    const { chosen } = await searchStages(ctx, { sloSeconds: 20 });
    const b = stagesBaselines(ctx, chosen, 20);
    // The whole model does not fit one package under this limit.
    expect(b.singleFunction.solution).toBeNull();
    expect(b.singleFunction.reason).toMatch(/^it does not fit one function: a zip package of \d+\.\d MB, over the \d+ MB limit$/);
    // The uniform split: equal unit counts, one memory size; never cheaper than the optimum.
    expect(b.uniformSplit.solution).not.toBeNull();
    expect(b.uniformSplit.saving).toBeGreaterThanOrEqual(0);
    expect(b.uniformSplit.solution!.latencySeconds).toBeLessThanOrEqual(20);
    const sizes = b.uniformSplit.solution!.stages.map((s) => s.lastUnit - s.firstUnit + 1);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(new Set(b.uniformSplit.solution!.stages.map((s) => s.memoryMB)).size).toBe(1);
    // The server: m6i.large at 10% utilization, the calibrated 2-thread time at the batch.
    expect(b.server.instanceType).toBe('m6i.large');
    expect(b.server.latencySeconds).toBe(secondsAtBatch(ctx.calibration.whole.times, chosen.batch, 'two'));
    expect(b.server.costPerInputUSD).toBeCloseTo(0.096 * b.server.latencySeconds / 3600 / 0.1 / chosen.batch, 15);
    expect(b.server.requestIntervalSeconds).toBeCloseTo(b.server.latencySeconds / 0.1, 12);
    expect(b.server.saving).toBeCloseTo(1 - chosen.costPerInputUSD / b.server.costPerInputUSD, 12);
    expect({ uniformStages: b.uniformSplit.stageCount, uniformMemoryMB: b.uniformSplit.solution!.stages[0].memoryMB, uniformSaving: Number(b.uniformSplit.saving!.toFixed(4)), serverSaving: Number(b.server.saving.toFixed(4)) })
      .toEqual({ uniformStages: 8, uniformMemoryMB: 768, uniformSaving: 0.4987, serverSaving: 0.5868 });
  });
});
