// The AMPS-Inf stage program on the five shared models with the checked-in calibration
// (planner/latency/dense-calibration.json): HiGHS (planner/optimize/milp.ts, on the reduced
// options) and the dynamic program over cut points (planner/stages/dp.ts, on every option) find the
// same optimum, cost and stages, for every batch, workflow type and a tight, a medium and a loose
// SLO; with Lambda's package limit (every model fits one function) and with a limit of the runtime
// plus 40% of the model (splits forced). The chosen plans are pinned exactly.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { layerUnits } from '../../model/onnx/units.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { latencyConstants } from '../../planner/latency/constants.ts';
import { solveStageProgram } from '../../planner/optimize/milp.ts';
import { readDataFile } from '../../model/read-file.ts';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import {
  calibrationForModel, parseDenseCalibration, runtimePackageBytes, searchStages, solveStagesByDynamicProgram, stageContext, stageModelOf,
  stageProgramOf, WORKFLOW_TYPES, DEFAULT_BATCHES, type StageContext, type StagesSolution,
} from '../../planner/stages/index.ts';
import { loadModel, MODEL_FILES, type ModelFile } from '../helpers/onnx-models.ts';
import { join } from 'node:path';

const calibrationFile = parseDenseCalibration(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../planner/latency/dense-calibration.json'), 'utf8')), 'dense-calibration.json');

/** The context of a model; `splitLimit`: a package limit of the runtime and 40% of the model's bytes. */
function contextOf(file: ModelFile, splitLimit = false): StageContext {
  const graph = loadModel(file);
  const bytes = readDataFile(join(defaultModelsDir(), file), 'model');
  const checksum = createHash('sha256').update(bytes).digest('hex');
  const calibration = calibrationForModel(calibrationFile, 'dense-calibration.json', file, checksum);
  const modelBytes = calibration.units.reduce((t, u) => t + u.modelBytes, 0);
  return stageContext({
    model: { path: file, checksum, input: graph.input, output: graph.output, units: layerUnits(graph), parameterCount: graph.parameterCount, hasWeights: graph.hasWeights },
    calibrationFile, calibration, constants: latencyConstants(), prices: defaultPrices(),
    packageLimitBytes: splitLimit ? runtimePackageBytes(calibrationFile) + 0.4 * modelBytes : undefined,
  });
}

const stagesOf = (s: { stages: readonly { firstLayer?: number; lastLayer?: number; firstUnit?: number; lastUnit?: number; memoryMB: number }[] }) =>
  s.stages.map((x) => `${x.firstLayer ?? x.firstUnit}-${x.lastLayer ?? x.lastUnit}@${x.memoryMB}`).join(' ');

/** Tight, medium and loose SLOs (seconds) per model: the fastest plan at batch 1 is 1.0-1.8 s with Lambda's limit, 2.5-4.1 s with the split limit. */
const SLOS = { lambda: [1.8, 3, 10], split: [4.5, 6, 15] } as const;

async function crossCheck(ctx: StageContext, slos: readonly number[]): Promise<number> {
  let compared = 0;
  for (const batch of DEFAULT_BATCHES) {
    for (const type of WORKFLOW_TYPES) {
      const model = stageModelOf(ctx, batch, type);
      for (const slo of slos) {
        const dp = solveStagesByDynamicProgram(stageProgramOf(model, slo, undefined, false));
        const milp = await solveStageProgram(stageProgramOf(model, slo));
        const where = `${ctx.model.path} batch ${batch} ${type} SLO ${slo}`;
        expect(milp === null, where).toBe(dp === null);
        if (!dp || !milp) continue;
        expect(stagesOf(milp), where).toBe(stagesOf(dp));
        expect(Math.abs(milp.costUSD - dp.costUSD), where).toBeLessThanOrEqual(1e-15);
        expect(milp.optimality.proven, where).toBe(true);
        compared++;
      }
    }
  }
  return compared;
}

describe('the stage program: HiGHS and the dynamic program agree', () => {
  it.each(MODEL_FILES)('%s, within Lambda\'s package limit', async (file) => {
    expect(await crossCheck(contextOf(file), SLOS.lambda)).toBeGreaterThanOrEqual(15);
  });

  it.each(MODEL_FILES.filter((f) => f !== 'squeezenet1_1.onnx'))('%s, with splits forced by a package limit of the runtime and 40 percent of the model', async (file) => {
    expect(await crossCheck(contextOf(file, true), SLOS.split)).toBeGreaterThanOrEqual(10);
  });
});

/**
 * The cheapest plan per input of every model at SLOs of 2 and 5 s (with Lambda's package limit
 * every model fits one function, and one stage is cheapest: another stage adds a cold start), and
 * at 6 s with the split limit (forced stages, each with its own memory).
 */
const PINNED: Record<ModelFile, Record<string, unknown>> = {
  'mobilenet_v2.onnx': {
    'slo 2': { batch: 16, type: 'EXPRESS', stages: '1-50@1280', latency: 1.96, costUSD: 5.11468e-05, perInput: 3.19667e-06 },
    'slo 5': { batch: 16, type: 'EXPRESS', stages: '1-50@512', latency: 3.229, costUSD: 4.0781e-05, perInput: 2.54881e-06 },
    'split limit, slo 6': { batch: 16, type: 'EXPRESS', stages: '1-40@512 41-48@256 49-50@256', latency: 4.983, costUSD: 5.40547e-05, perInput: 3.37842e-06 },
  },
  'squeezenet1_1.onnx': {
    'slo 2': { batch: 16, type: 'EXPRESS', stages: '1-33@768', latency: 1.695, costUSD: 3.27162e-05, perInput: 2.04476e-06 },
    'slo 5': { batch: 16, type: 'EXPRESS', stages: '1-33@512', latency: 2.013, costUSD: 2.9372e-05, perInput: 1.83575e-06 },
  },
  'resnet50.graph.onnx': {
    'slo 2': { batch: 2, type: 'EXPRESS', stages: '1-38@1536', latency: 1.976, costUSD: 5.89842e-05, perInput: 2.94921e-05 },
    'slo 5': { batch: 16, type: 'EXPRESS', stages: '1-38@1536', latency: 4.685, costUSD: 0.000129506, perInput: 8.09412e-06 },
    'split limit, slo 6': { batch: 8, type: 'EXPRESS', stages: '1-29@1769 30-30@512 31-37@768 38-38@256', latency: 5.966, costUSD: 0.000123221, perInput: 1.54026e-05 },
  },
  'inception_v3.graph.onnx': {
    'slo 2': { batch: 2, type: 'EXPRESS', stages: '1-26@1536', latency: 1.998, costUSD: 5.95315e-05, perInput: 2.97658e-05 },
    'slo 5': { batch: 16, type: 'EXPRESS', stages: '1-26@1769', latency: 4.617, costUSD: 0.000144591, perInput: 9.03694e-06 },
    'split limit, slo 6': { batch: 8, type: 'EXPRESS', stages: '1-19@1280 20-22@768 23-26@512', latency: 5.998, costUSD: 0.000117654, perInput: 1.47067e-05 },
  },
  'xception.graph.onnx': {
    'slo 2': { batch: 1, type: 'EXPRESS', stages: '1-25@1769', latency: 1.962, costUSD: 6.53813e-05, perInput: 6.53813e-05 },
    'slo 5': { batch: 8, type: 'EXPRESS', stages: '1-25@1536', latency: 4.738, costUSD: 0.000130886, perInput: 1.63608e-05 },
    'split limit, slo 6': { batch: 8, type: 'EXPRESS', stages: '1-11@2048 12-17@2048 18-25@1280', latency: 5.989, costUSD: 0.000201973, perInput: 2.52467e-05 },
  },
};

describe('the chosen plans (pinned)', () => {
  const summary = (s: StagesSolution) => ({
    batch: s.batch, type: s.workflowType, stages: stagesOf(s), latency: Number(s.latencySeconds.toFixed(3)),
    costUSD: Number(s.costUSD.toPrecision(6)), perInput: Number(s.costPerInputUSD.toPrecision(6)),
  });
  it.each(MODEL_FILES)('%s', async (file) => {
    const out: Record<string, unknown> = {};
    for (const slo of [2, 5]) out[`slo ${slo}`] = summary((await searchStages(contextOf(file), { sloSeconds: slo })).chosen);
    if (file !== 'squeezenet1_1.onnx') {
      const split = contextOf(file, true);
      const milp = (await searchStages(split, { sloSeconds: 6 })).chosen;
      out['split limit, slo 6'] = summary(milp);
      // The same search with the dynamic program chooses the same.
      expect(summary((await searchStages(split, { sloSeconds: 6, solver: 'dp' })).chosen)).toEqual(summary(milp));
    }
    expect(out).toEqual(PINNED[file]);
  });
});
