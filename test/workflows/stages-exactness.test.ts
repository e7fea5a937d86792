// Staged output equals whole-model output, bit for bit (tolerance 0), on every model in
// ../shared/data/models (the structure-only three with the plan's deterministic weights), each cut
// into three stages of different memory sizes (so 1 and 2 onnxruntime threads), run through the
// real local workflow: the generated stages workflow in aws-local-stepfunctions, each stage's
// function in the local Lambda host from its bundle with its own sub-model file, handoffs in the
// state payload and through fauxqs's S3. The whole model runs with onnxruntime-node in this
// process on the same input. Zero is expected: the stages run the same kernels in the same order
// (functions/dense/onnx-session.ts says why the layout optimizations are off).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeOnnxModel } from '../../model/onnx/extract.ts';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import { createOnnxSession, runOnnx } from '../../functions/dense/onnx-session.ts';
import { runStagesLocally } from '../../workflows/local/stages-run.ts';
import { stagesModel } from '../../cli/commands/stages.ts';
import { SeededRandom } from '../../model/random.ts';
import { requireData } from '../helpers/shared-data.ts';
import { modelStagesPlan } from '../helpers/stages-plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const tmp = tempDirs();

/** Each model cut in three (unit counts from model/onnx/units.ts: 33, 50, 38, 26, 25), the handoffs each cut makes. */
const MODELS = [
  { file: 'squeezenet1_1.onnx', lastUnits: [9, 17, 33], handoffs: ['object', 'payload'] },
  { file: 'mobilenet_v2.onnx', lastUnits: [11, 40, 50], handoffs: ['object', 'payload'] },
  { file: 'resnet50.graph.onnx', lastUnits: [13, 29, 38], handoffs: ['object', 'object'] },
  { file: 'inception_v3.graph.onnx', lastUnits: [12, 21, 26], handoffs: ['object', 'object'] },
  { file: 'xception.graph.onnx', lastUnits: [7, 22, 25], handoffs: ['object', 'object'] },
] as const;

describe('staged output equals the whole model, bit for bit, through the local workflow', () => {
  it.each(MODELS)('$file', async ({ file, lastUnits, handoffs }) => {
    const modelFile = requireData(join(defaultModelsDir(), file), `the ONNX model ${file}`);
    const plan = modelStagesPlan(modelFile, { lastUnits, memoryMB: [1769, 3008, 1024] });
    expect(plan.workflow.stages.slice(0, 2).map((s) => s.output.handoff)).toEqual(handoffs);
    const { graph, files } = stagesModel(plan);
    const dir = tmp();
    for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
    const random = new SeededRandom(1);
    const input = { dims: plan.model.input.dims, data: Float32Array.from({ length: plan.model.input.dims.reduce((a, b) => a * b, 1) }, () => 2 * random.next() - 1) };

    const run = await runStagesLocally(plan, input, { stageFilesDir: dir, logSink: () => undefined });
    const whole = await runOnnx(await createOnnxSession(encodeOnnxModel(graph), 1, file), input, file);

    expect(run.output.dims).toEqual(whole.dims);
    let maxAbsDiff = 0;
    for (let i = 0; i < whole.data.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(run.output.data[i] - whole.data[i]));
    expect(maxAbsDiff).toBe(0);
    expect([...new Uint32Array(run.output.data.buffer, run.output.data.byteOffset, run.output.data.length)])
      .toEqual([...new Uint32Array(whole.data.buffer, whole.data.byteOffset, whole.data.length)]);
    // Finite, not all equal: the comparison compares something.
    expect(whole.data.every(Number.isFinite)).toBe(true);
    expect(new Set(whole.data).size).toBeGreaterThan(100);

    expect(run.stages.map((s) => [s.index, s.firstUnit, s.lastUnit, s.memoryMB, s.handoff, s.cold])).toEqual([
      [0, 1, lastUnits[0], 1769, handoffs[0], true],
      [1, lastUnits[0] + 1, lastUnits[1], 3008, handoffs[1], true],
      [2, lastUnits[1] + 1, lastUnits[2], 1024, 'object', true],
    ]);
    expect(run.states.map((s) => `${s.name}: ${s.outcome}`)).toEqual(plan.workflow.stages.map((s) => `Stage ${s.index}: ${s.name}: succeeded`));
  }, 300_000);
});
