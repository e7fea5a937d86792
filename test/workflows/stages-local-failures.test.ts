// A stages run on the local runtime that fails, fails loudly, naming the stage and the cause, and
// returns no result: a stage whose model file is missing or corrupt; a handoff object that is gone
// when the next stage reads it (named by its key); a stage that hangs until the host's timeout
// (Sandbox.Timedout). Each failed run goes through "Clean up" to "Run failed", and nothing is left
// running. SqueezeNet cut in three: [1-9] hands over through S3, [10-17] in the state payload.

import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RunFailedError } from '../../model/errors.ts';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import type { StagesPlan } from '../../planner/plan/stages-schema.ts';
import type { DenseTensor } from '../../functions/storage/tensor-codec.ts';
import { denseStageStateName } from '../../workflows/asl/index.ts';
import { runStagesLocally, type StagesRunOptions } from '../../workflows/local/stages-run.ts';
import type { ExecutedState } from '../../workflows/local/execution-events.ts';
import { stagesModel, type StageFile } from '../../cli/commands/stages.ts';
import { STAGE_FAULT_VARIABLE, type InjectedStageFault } from '../helpers/faulty-stage.ts';
import { requireData } from '../helpers/shared-data.ts';
import { modelStagesPlan } from '../helpers/stages-plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const FAULTY_STAGE = fileURLToPath(new URL('../helpers/faulty-stage.ts', import.meta.url));
const tmp = tempDirs();
let plan: StagesPlan;
let files: readonly StageFile[];
let input: DenseTensor;

beforeAll(() => {
  const model = requireData(join(defaultModelsDir(), 'squeezenet1_1.onnx'), 'the ONNX model squeezenet1_1.onnx');
  plan = modelStagesPlan(model, { lastUnits: [9, 17, 33], memoryMB: 1769, timeoutSeconds: 20 });
  files = stagesModel(plan).files;
  input = { dims: plan.model.input.dims, data: new Float32Array(3 * 224 * 224).fill(0.5) };
});

afterEach(() => {
  delete process.env[STAGE_FAULT_VARIABLE];
});

/** A folder with the stage files, `change` applied to them first. */
function stageFiles(change: (dir: string) => void = () => undefined): string {
  const dir = tmp();
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
  change(dir);
  return dir;
}

/**
 * The run's error, after checking the failure path ran (the failed stage caught, "Clean up"
 * succeeded, "Run failed") and left nothing of the run in S3.
 */
async function failedRun(dir: string, o: Partial<StagesRunOptions> = {}, fault?: InjectedStageFault): Promise<Error> {
  if (fault) process.env[STAGE_FAULT_VARIABLE] = JSON.stringify(fault);
  let after: { states: readonly ExecutedState[]; leftover: string[] } | undefined;
  const error = await runStagesLocally(plan, input, {
    stageFilesDir: dir, logSink: () => undefined, ...(fault ? { handlerModule: FAULTY_STAGE } : {}),
    afterExecution: async (cloud, runId, states) => {
      const out = await cloud.s3.send(new ListObjectsV2Command({ Bucket: cloud.bucket, Prefix: `runs/${runId}/` }));
      after = { states, leftover: (out.Contents ?? []).map((x) => x.Key!) };
    },
    ...o,
  }).then(() => null, (e: Error) => e);
  expect(error).toBeInstanceOf(RunFailedError);
  expect(after!.states.slice(-3).map((x) => `${x.type} ${x.outcome}`)).toEqual(['Task caught', 'Task succeeded', 'Fail failed']);
  expect(after!.states.slice(-2).map((x) => x.name)).toEqual(['Clean up', 'Run failed']);
  expect(after!.leftover).toEqual([]);
  return error!;
}

const stateOf = (i: number) => denseStageStateName(plan.workflow.stages[i]).replace(/[.()]/g, '\\$&');

describe('a stages run that fails, fails loudly naming the stage', () => {
  it('a stage whose model file is missing', async () => {
    const dir = stageFiles((d) => rmSync(join(d, 'stage1.onnx')));
    const error = await failedRun(dir);
    expect(error.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stateOf(1)}": FileAccessError: .*stage1\\.onnx: stage 1 \\(features\\.5 \\.\\. features\\.8\\): its model file .*stage1\\.onnx is missing$`));
  });

  it('a stage whose model file is corrupt', async () => {
    const dir = stageFiles((d) => {
      const bytes = Buffer.from(files[2].bytes);
      bytes.fill(0x5a, 0, 64);
      writeFileSync(join(d, 'stage2.onnx'), bytes);
    });
    const error = await failedRun(dir);
    expect(error.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stateOf(2)}": ModelFormatError: .*stage2\\.onnx: stage 2 \\(.*\\): its model file .*stage2\\.onnx: onnxruntime cannot load it: `));
  });

  it('a handoff object that is gone when the next stage reads it, named by its key', async () => {
    const error = await failedRun(stageFiles(), {}, { kind: 'remove-input', stage: 1 });
    expect(error.message).toMatch(new RegExp(`^run (run-\\d+-\\d+) failed in "${stateOf(1)}": MissingObjectError: field input: the input of stage 1 \\(.*\\), handed over by stage 0, is missing: no object s3://${plan.names.bucket}/runs/\\1/stage0/output\\.f32$`));
  });

  it('a staged input that is gone, named by its key', async () => {
    const error = await failedRun(stageFiles(), {}, { kind: 'remove-input', stage: 0 });
    expect(error.message).toMatch(new RegExp(`^run (run-\\d+-\\d+) failed in "${stateOf(0)}": MissingObjectError: field input: the input of stage 0 \\(.*\\), staged by the client, is missing: no object s3://${plan.names.bucket}/runs/\\1/input\\.f32$`));
  });

  it('a stage that hangs is ended at its timeout and the run fails naming it', async () => {
    // The plan's 20 s x 0.15 = 3 s in the host.
    const error = await failedRun(stageFiles(), { timeoutScale: 0.15 }, { kind: 'hang', stage: 1 });
    expect(error.message).toMatch(new RegExp(`^run run-\\d+-\\d+ failed in "${stateOf(1)}": Sandbox\\.Timedout: Task timed out after 3\\.00 seconds$`));
  });
});
