// The AWS commands for a stages plan (issue 11), without AWS (it is not reachable here):
// deploy writes the stage files first or demands them and names them to the CDK app; shards upload
// refuses, saying what to do instead; start stages the batch (--input, or generated from --seed)
// under the execution's name and starts it with {}; inspect <executionArn> renders the chain of
// stages from the history. The SDK calls go
// to aws-sdk-client-mock, with responses shaped as the AWS API references give them (Step
// Functions ListStateMachines, ListTagsForResource, StartExecution, StartSyncExecution,
// DescribeExecution, GetExecutionHistory; S3 PutObject). Nothing here ran on AWS.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand, GetExecutionHistoryCommand, ListStateMachinesCommand, ListTagsForResourceCommand, SFNClient,
  StartExecutionCommand, StartSyncExecutionCommand, type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { UsageError } from '../../model/errors.ts';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import { computePlanId } from '../../planner/plan/names.ts';
import { parseStagesPlan, serializeStagesPlan, stagesPlanNames, type StagesPlan } from '../../planner/plan/stages-schema.ts';
import type { DenseStageResult } from '../../functions/handlers/events.ts';
import { encodeTensorObject } from '../../functions/storage/tensor-codec.ts';
import { denseStageStateName } from '../../workflows/asl/index.ts';
import { PLAN_ID_TAG, WORKFLOW_DIGEST_TAG, workflowDigest } from '../../infra/identity.ts';
import { stageModelFile } from '../../infra/stage-package.ts';
import type { AwsCommandClients } from '../../cli/aws.ts';
import { commandLine, deployCommand, stageFilesDir, writeStageFiles } from '../../cli/commands/deploy.ts';
import { uploadPlanShards } from '../../cli/commands/shards-upload.ts';
import { describeStagesExecution, inspectAwsStagesExecution } from '../../cli/commands/inspect.ts';
import { stagesModel } from '../../cli/commands/stages.ts';
import { startExecution, startStagesExecution } from '../../cli/commands/start.ts';
import { seededInput } from '../../cli/commands/run-stages.ts';
import { requireData } from '../helpers/shared-data.ts';
import { modelStagesPlan } from '../helpers/stages-plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');
const stepinfer = (cwd: string, ...args: string[]) => {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const newDir = tempDirs();
let plan: StagesPlan;
let planFile: string;
let sparsePlanFile: string;
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** SqueezeNet in two stages: units 1-9 hand over through S3, 10-33 write the result. */
function modelStagesPlanOf(type: 'STANDARD' | 'EXPRESS'): StagesPlan {
  const model = requireData(join(defaultModelsDir(), 'squeezenet1_1.onnx'), 'the ONNX model squeezenet1_1.onnx');
  const p = modelStagesPlan(model, { lastUnits: [9, 33], memoryMB: [1769, 2048], timeoutSeconds: 20 });
  if (type === 'STANDARD') return p;
  const content = { ...p, workflow: { ...p.workflow, type } };
  const planId = computePlanId({ ...content, planId: '' });
  return parseStagesPlan({ ...content, planId, names: stagesPlanNames(planId, p.stackPrefix, p.functions.map((f) => f.id)) }, 'express stages plan');
}

beforeAll(() => {
  plan = modelStagesPlanOf('STANDARD');
  const dir = mkdtempSync(join(tmpdir(), 'stepinfer-aws-stages-'));
  made.push(dir);
  planFile = join(dir, 'stages-plan.json');
  writeFileSync(planFile, serializeStagesPlan(plan));
  // A sparse plan, for the options a sparse plan refuses.
  sparsePlanFile = join(dir, 'sparse-plan.json');
  const sparse = spawnSync(process.execPath, [bin, 'plan', '--generate', '1024x4', '--samples', '16', '--workers', '1', '-o', sparsePlanFile], { encoding: 'utf8' });
  expect(sparse.stderr).toBe('');
}, 60_000);

/** Clients with a region and static credentials, as the standard configuration would give. */
function testClients() {
  const config = { region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } };
  const sfn = new SFNClient(config), s3 = new S3Client(config);
  const clients: AwsCommandClients = { sfn, s3 };
  return { ...clients, sfnMock: mockClient(sfn), s3Mock: mockClient(s3) };
}

const smArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const tagsOf = (p: StagesPlan) => ({ tags: [{ key: PLAN_ID_TAG, value: p.planId }, { key: WORKFLOW_DIGEST_TAG, value: workflowDigest(p) }] });

describe('stepinfer deploy of a stages plan', () => {
  it('names the folder of the stage files to the CDK app (-c stageModels=<dir>)', () => {
    const dir = newDir();
    const c = deployCommand(plan, planFile, { region: REGION, stageModelsDir: dir });
    expect(c.args).toEqual([
      'deploy', plan.names.stack, '--app', `${process.execPath} infra/app.ts`, '--context', `plan=${resolve(planFile)}`,
      '--context', `stageModels=${dir}`, '--require-approval', 'broadening', '--no-notices',
    ]);
    expect(() => deployCommand(plan, planFile, {})).toThrow(UsageError);
  });

  it('--print: the command with the default folder .stepinfer/stages/<planId>, and nothing written', () => {
    const cwd = newDir();
    const printed = stepinfer(cwd, 'deploy', planFile, '--print');
    expect(printed.stderr).toBe('');
    expect(printed.code).toBe(0);
    const dir = join(cwd, '.stepinfer', 'stages', plan.planId);
    expect(printed.stdout).toBe(`${commandLine(deployCommand(plan, planFile, { stageModelsDir: dir }))}\n`);
    expect(printed.stdout).toContain(` --context stageModels=${dir} `);
    expect(existsSync(join(cwd, '.stepinfer'))).toBe(false);
  });

  it('writes the stage files first: each one stepinfer stages writes, and the stack\'s check accepts them', () => {
    const dir = join(newDir(), 'stages');
    const written = writeStageFiles(plan, dir);
    const { files } = stagesModel(plan);
    expect(written).toEqual(files.map((f) => join(dir, f.name)));
    for (const f of files) expect(readFileSync(join(dir, f.name)).equals(f.bytes)).toBe(true);
    for (const f of plan.functions) expect(stageModelFile(plan, f, dir).bytes).toBe(f.package.modelBytes);
    // A second deploy of the plan replaces them.
    expect(writeStageFiles(plan, dir)).toEqual(written);
    expect(stageFilesDir(plan)).toBe(resolve('.stepinfer', 'stages', plan.planId));
  });

  it('--stage-models demands the files: a folder without them fails before cdk runs, naming the file', () => {
    const cwd = newDir();
    const empty = newDir();
    const run = stepinfer(cwd, 'deploy', planFile, '--stage-models', empty);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`${commandLine(deployCommand(plan, planFile, { stageModelsDir: empty }))}\n`);
    const missing = join(empty, 'stage0.onnx');
    expect(run.stderr).toBe(`stepinfer: ${missing}, field functions.stage0-1769.package.modelFile: stage 0 (${plan.workflow.stages[0].name}) of plan ${plan.planId}: its model file ${missing} is missing: write the stage files with stepinfer stages <plan.json> -o ${empty}\n`);
  });

  it('the stages options are refused for a sparse plan, and --model with --stage-models (exit 2)', () => {
    const cwd = newDir();
    const sparse = stepinfer(cwd, 'deploy', sparsePlanFile, '--stage-models', cwd, '--print');
    expect(sparse.code).toBe(2);
    expect(sparse.stderr).toBe(`stepinfer: field stage-models: --stage-models is for a stages plan; ${sparsePlanFile} is a sparse plan (its model goes up with stepinfer shards upload)\n`);
    const both = stepinfer(cwd, 'deploy', planFile, '--stage-models', cwd, '--model', 'x.onnx', '--print');
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('stepinfer: field model: --model makes the stage files; --stage-models gives them: not both\n');
  });
});

describe('stepinfer start of a stages plan', () => {
  /** The account has the plan's state machine deployed, tagged as this stepinfer deploys it. */
  function deployed(c: ReturnType<typeof testClients>, p: StagesPlan = plan) {
    c.sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [{ stateMachineArn: smArn(p.names.stateMachine), name: p.names.stateMachine, type: p.workflow.type, creationDate: new Date('2026-11-30T09:00:00Z') }] });
    c.sfnMock.on(ListTagsForResourceCommand, { resourceArn: smArn(p.names.stateMachine) }).resolves(tagsOf(p));
    c.s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag"' });
  }
  const dims = () => plan.model.input.dims;
  const resultOutput = (runId: string) => ({ resultKey: `runs/${runId}/result.f32`, crc32: '0a1b2c3d', dims: [1, 1000] });

  it('Standard: stages the generated batch (seed 1, as stepinfer run --model makes it) under the run id, starts with {}, --wait polls until it ends', async () => {
    const c = testClients();
    deployed(c);
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:run-s2`;
    c.sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-11-30T10:00:00Z') });
    c.sfnMock.on(DescribeExecutionCommand)
      .resolvesOnce({ executionArn, stateMachineArn: smArn(plan.names.stateMachine), name: 'run-s2', status: 'RUNNING', startDate: new Date('2026-11-30T10:00:00Z') })
      .resolves({ executionArn, stateMachineArn: smArn(plan.names.stateMachine), name: 'run-s2', status: 'SUCCEEDED', startDate: new Date('2026-11-30T10:00:00Z'), stopDate: new Date('2026-11-30T10:00:04Z'), output: JSON.stringify(resultOutput('run-s2')) });
    const result = await startStagesExecution(planFile, { runId: 'run-s2', wait: true, pollSeconds: 0 }, c);
    const body = encodeTensorObject(seededInput(dims(), 1));
    expect(result).toEqual({
      planId: plan.planId, runId: 'run-s2', stateMachineArn: smArn(plan.names.stateMachine), executionArn,
      staged: { key: 'runs/run-s2/input.f32', dims: [1, 3, 224, 224], bytes: body.length, from: 'generated (seed 1)' },
      status: 'SUCCEEDED', output: resultOutput('run-s2'), error: null, cause: null,
    });
    expect(c.s3Mock.commandCalls(PutObjectCommand).map((x) => [x.args[0].input.Bucket, x.args[0].input.Key, Buffer.from(x.args[0].input.Body as Uint8Array).equals(body)])).toEqual([
      [plan.names.bucket, 'runs/run-s2/input.f32', true],
    ]);
    expect(c.sfnMock.commandCalls(StartExecutionCommand).map((x) => x.args[0].input)).toEqual([{ stateMachineArn: smArn(plan.names.stateMachine), name: 'run-s2', input: '{}' }]);
    expect(c.sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
  });

  it('--input: a raw float32 file of the model\'s input dims is staged as a tensor object; a file of another size is refused before anything is sent', async () => {
    const c = testClients();
    deployed(c);
    c.sfnMock.on(StartExecutionCommand).resolves({ executionArn: `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:run-s3`, startDate: new Date() });
    const data = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => (i % 255) / 255);
    const file = join(newDir(), 'batch.f32');
    writeFileSync(file, new Uint8Array(data.buffer));
    const result = await startStagesExecution(planFile, { runId: 'run-s3', input: file }, c);
    expect(result).toMatchObject({ status: 'RUNNING', staged: { key: 'runs/run-s3/input.f32', from: file } });
    const [put] = c.s3Mock.commandCalls(PutObjectCommand);
    expect(Buffer.from(put.args[0].input.Body as Uint8Array).equals(encodeTensorObject({ dims: [1, 3, 224, 224], data }))).toBe(true);
    const short = join(newDir(), 'short.f32');
    writeFileSync(short, new Uint8Array(12));
    const other = testClients();
    await expect(startStagesExecution(planFile, { runId: 'run-s4', input: short }, other)).rejects.toThrow(`${short}, field input: 12 bytes, the model's input [1, 3, 224, 224] is 602112 bytes of float32 (or a stepinfer tensor object)`);
    expect(other.sfnMock.calls()).toHaveLength(0);
    expect(other.s3Mock.calls()).toHaveLength(0);
  });

  it('Express: StartSyncExecution with {}, which answers when the execution ends', async () => {
    const express = modelStagesPlanOf('EXPRESS');
    const file = join(newDir(), 'express.json');
    writeFileSync(file, serializeStagesPlan(express));
    const c = testClients();
    deployed(c, express);
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:express:${express.names.stateMachine}:run-s5:0a1b`;
    c.sfnMock.on(StartSyncExecutionCommand).resolves({
      executionArn, stateMachineArn: smArn(express.names.stateMachine), name: 'run-s5', startDate: new Date(), stopDate: new Date(),
      status: 'SUCCEEDED', output: JSON.stringify(resultOutput('run-s5')),
    });
    const result = await startStagesExecution(file, { runId: 'run-s5', seed: 7 }, c);
    expect(result).toMatchObject({ executionArn, status: 'SUCCEEDED', output: resultOutput('run-s5'), staged: { from: 'generated (seed 7)' } });
    expect(c.sfnMock.commandCalls(StartSyncExecutionCommand).map((x) => x.args[0].input)).toEqual([{ stateMachineArn: smArn(express.names.stateMachine), name: 'run-s5', input: '{}' }]);
    expect(c.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    const [put] = c.s3Mock.commandCalls(PutObjectCommand);
    expect(Buffer.from(put.args[0].input.Body as Uint8Array).equals(encodeTensorObject(seededInput(dims(), 7)))).toBe(true);
  });

  it('--stage-only: stages the batch and starts nothing; --print-input prints {}', async () => {
    const c = testClients();
    deployed(c);
    const result = await startStagesExecution(planFile, { runId: 'console-1', stageOnly: true }, c);
    expect(result).toMatchObject({ status: 'STAGED', executionArn: null, staged: { key: 'runs/console-1/input.f32' } });
    expect(c.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(c.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(1);
    const printed = stepinfer(newDir(), 'start', planFile, '--print-input');
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe('{}\n');
  });

  it('refused before anything is sent: a sparse plan\'s options, --input with --seed, a bad run id; --input for a sparse plan', async () => {
    for (const [o, message] of [
      [{ samples: 8 }, "field samples: --samples is for a sparse plan's input rows; a stages plan's run reads one batch: --input <file> or --seed <n>"],
      [{ inputs: 'rows.tsv' }, "field inputs: --inputs is for a sparse plan's input rows; a stages plan's run reads one batch: --input <file> or --seed <n>"],
      [{ topScores: 3 }, "field top-scores: --top-scores is for a sparse plan's input rows; a stages plan's run reads one batch: --input <file> or --seed <n>"],
      [{ model: 'x.onnx' }, "field model: --model is for a sparse plan's input rows; a stages plan's run reads one batch: --input <file> or --seed <n>"],
      [{ input: 'batch.f32', seed: 2 }, 'field seed: --seed makes the input; --input gives it: not both'],
      [{ runId: 'no spaces' }, 'field run-id: "no spaces" is not a run id: 1-80 letters, digits, - or _ (it names the execution)'],
    ] as const) {
      const c = testClients();
      const error = await startStagesExecution(planFile, { runId: 'run-r', ...o }, c).then(() => null, (e: Error) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect(error!.message).toBe(message);
      expect(c.sfnMock.calls()).toHaveLength(0);
      expect(c.s3Mock.calls()).toHaveLength(0);
    }
    const c = testClients();
    await expect(startExecution(sparsePlanFile, { runId: 'run-r', input: 'batch.f32' }, c)).rejects.toThrow(new UsageError("--input is a stages plan's batch; a sparse plan's rows are --inputs <tsv> or --samples", { field: 'input' }));
    expect(c.sfnMock.calls()).toHaveLength(0);
  });

  it('a stages plan that is not deployed: names the region and says to deploy, nothing staged', async () => {
    const c = testClients();
    c.sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [] });
    await expect(startStagesExecution(planFile, { runId: 'run-s6' }, c)).rejects.toThrow(
      `plan ${plan.planId} is not deployed in ${REGION}: no state machine ${plan.names.stateMachine}; run stepinfer deploy ${planFile}`);
    expect(c.s3Mock.calls()).toHaveLength(0);
  });
});

describe('stepinfer shards upload of a stages plan', () => {
  it('is refused before anything is sent, saying what to do instead', async () => {
    const c = testClients();
    await expect(uploadPlanShards(planFile, {}, c)).rejects.toThrow(new UsageError(
      `${planFile} is a stages plan: it has no shards (each stage's sub-model is in its function's package: stepinfer deploy ${planFile}) and no default input (each execution reads the batch staged under its own name): stage one and start it with stepinfer start ${planFile} --input <file> (or --seed <n>)`,
      { field: 'plan' },
    ));
    expect(c.sfnMock.calls()).toHaveLength(0);
    expect(c.s3Mock.calls()).toHaveLength(0);
    const run = stepinfer(newDir(), 'shards', 'upload', planFile);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^stepinfer: field plan: .* is a stages plan: it has no shards/);
  });
});

describe('stepinfer inspect <executionArn> of a stages plan', () => {
  const name = 'run-s1';
  const executionArn = () => `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:${name}`;
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const at = (ms: number) => new Date(t0 + ms);

  /** A stage's result as the dense stage handler returns it (functions/handlers/events.ts denseStageResultSchema). */
  const stageResult = (stage: number): DenseStageResult => ({
    runId: name, stage, ok: true, sessionCached: false, threads: 1,
    output: { kind: 'object', key: stage === 0 ? `runs/${name}/stage0/output.f32` : `runs/${name}/result.f32`, dims: [...plan.workflow.stages[stage].output.dims], bytes: 4096, crc32: '0a1b2c3d' },
    timings: { loadMs: 900 + stage, readMs: 40 + stage, runMs: 300 + 100 * stage, writeMs: 60 + stage },
    storage: { puts: 1, gets: 1, putBytes: 4096, getBytes: 4096 }, startMs: t0 + 1000 * (stage + 1), endMs: t0 + 1000 * (stage + 2),
  });

  /** The history of an execution of the two-stage plan; stage 1 fails twice (its second attempt caught) when `fails`. */
  function history(fails: boolean): HistoryEvent[] {
    const events: HistoryEvent[] = [];
    const add = (e: Omit<HistoryEvent, 'id' | 'timestamp'>, ms: number) => {
      const id = events.length + 1;
      events.push({ id, previousEventId: id - 1, timestamp: at(ms), ...e } as HistoryEvent);
    };
    const [s0, s1] = plan.workflow.stages.map(denseStageStateName);
    const task = (state: string, from: number, outcome: () => void) => {
      add({ type: 'TaskStateEntered', stateEnteredEventDetails: { name: state, input: '{}' } }, from);
      add({ type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:s', input: '{}' } }, from + 10);
      add({ type: 'LambdaFunctionStarted' }, from + 20);
      outcome();
    };
    add({ type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}', roleArn: 'arn:aws:iam::123456789012:role/sm' } }, 0);
    task(s0, 100, () => {
      add({ type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: JSON.stringify(stageResult(0)) } }, 1500);
      add({ type: 'TaskStateExited', stateExitedEventDetails: { name: s0, output: '{}' } }, 1510);
    });
    if (!fails) {
      task(s1, 1520, () => {
        add({ type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: JSON.stringify(stageResult(1)) } }, 2900);
        add({ type: 'TaskStateExited', stateExitedEventDetails: { name: s1, output: '{}' } }, 2910);
      });
      add({ type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } }, 2920);
      return events;
    }
    task(s1, 1520, () => {
      add({ type: 'LambdaFunctionFailed', lambdaFunctionFailedEventDetails: { error: 'Lambda.ServiceException', cause: 'throttled' } }, 1600);
      add({ type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:s', input: '{}' } }, 1700);
      add({ type: 'LambdaFunctionStarted' }, 1710);
      add({ type: 'LambdaFunctionFailed', lambdaFunctionFailedEventDetails: { error: 'MissingObjectError', cause: 'stage 1: the handoff is missing' } }, 1800);
      add({ type: 'TaskStateExited', stateExitedEventDetails: { name: s1, output: '{}' } }, 1810);
    });
    task('Clean up', 1820, () => {
      add({ type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: '{"runId":"run-s1","cleanup":{"deletes":1,"deleted":3}}' } }, 1900);
      add({ type: 'TaskStateExited', stateExitedEventDetails: { name: 'Clean up', output: '{}' } }, 1910);
    });
    add({ type: 'FailStateEntered', stateEnteredEventDetails: { name: 'Run failed', input: '{}' } }, 1920);
    add({ type: 'ExecutionFailed', executionFailedEventDetails: { error: 'MissingObjectError', cause: 'stage 1: the handoff is missing' } }, 1930);
    return events;
  }

  function mocked(fails: boolean) {
    const c = testClients();
    c.sfnMock.on(DescribeExecutionCommand, { executionArn: executionArn() }).resolves({
      executionArn: executionArn(), stateMachineArn: smArn(plan.names.stateMachine), name, status: fails ? 'FAILED' : 'SUCCEEDED', startDate: at(0), stopDate: at(fails ? 1930 : 2920),
      ...(fails ? { error: 'MissingObjectError', cause: 'stage 1: the handoff is missing' } : {}),
    });
    c.sfnMock.on(ListTagsForResourceCommand, { resourceArn: smArn(plan.names.stateMachine) }).resolves(tagsOf(plan));
    const events = history(fails);
    c.sfnMock.on(GetExecutionHistoryCommand).callsFake((input: { nextToken?: string }) => (input.nextToken === undefined
      ? { events: events.slice(0, 6), nextToken: 'more' }
      : { events: events.slice(6) }));
    return c;
  }

  it('a successful execution: its states, and each stage with its layers, memory and the phases its function reported', async () => {
    const c = mocked(false);
    const record = await inspectAwsStagesExecution(executionArn(), planFile, (region) => {
      expect(region).toBe(REGION);
      return c;
    });
    expect(c.sfnMock.commandCalls(GetExecutionHistoryCommand)).toHaveLength(2);
    expect(c.sfnMock.commandCalls(ListStateMachinesCommand)).toHaveLength(0);
    const [s0, s1] = plan.workflow.stages;
    expect(record.states.map((s) => [s.name, s.type, s.enteredMs - t0, s.exitedMs! - t0, s.outcome, s.retries])).toEqual([
      [denseStageStateName(s0), 'Task', 100, 1510, 'succeeded', 0],
      [denseStageStateName(s1), 'Task', 1520, 2910, 'succeeded', 0],
    ]);
    expect(record.stages.map((s) => [s.index, s.firstUnit, s.lastUnit, s.memoryMB, s.handoff, s.outcome, s.retries, s.result?.timings ?? null])).toEqual([
      [0, 1, 9, 1769, 'object', 'succeeded', 0, { loadMs: 900, readMs: 40, runMs: 300, writeMs: 60 }],
      [1, 10, 33, 2048, 'object', 'succeeded', 0, { loadMs: 901, readMs: 41, runMs: 400, writeMs: 61 }],
    ]);
    expect(record).toMatchObject({ runId: name, planId: plan.planId, outcome: 'succeeded', error: null, transitions: 2, batch: 1, workflowType: 'STANDARD' });
    expect(record.endMs - record.startMs).toBe(2920);
    const text = describeStagesExecution(record);
    expect(text.split('\n').slice(0, 4)).toEqual([
      `execution    ${name}: succeeded in 2.92 s (AWS execution ${executionArn()})`,
      `plan         ${plan.planId}: stages, 2 stages of 33 units of ${plan.model.path}, batch 1, STANDARD workflow`,
      'transitions  2 states entered',
      `source       from GetExecutionHistory of ${executionArn()} (${history(false).length} events); each stage's phases from its function's result`,
    ]);
    const stagesTable = text.slice(text.indexOf('stages (the chain')).split('\n').slice(1).map((l) => l.trim().split(/\s{2,}/));
    expect(stagesTable).toEqual([
      ['stage', 'units', 'layers', 'memory MB', 'load', 'read', 'run', 'write', 'hands on', 'outcome'],
      ['0', '1-9', s0.name, '1769', '900', '40', '300', '60', 'S3 object', 'succeeded'],
      ['1', '10-33', s1.name, '2048', '901', '41', '400', '61', 'result (S3)', 'succeeded'],
    ]);
    expect(text).toContain(`  ${denseStageStateName(s0)}  │`);
  });

  it('a failed execution: the failed stage with its retries and cause, then the clean-up', async () => {
    const c = mocked(true);
    const record = await inspectAwsStagesExecution(executionArn(), planFile, () => c);
    expect(record.outcome).toBe('failed');
    expect(record.error).toBe('MissingObjectError: stage 1: the handoff is missing');
    expect(record.states.map((s) => [s.name, s.outcome, s.retries])).toEqual([
      [denseStageStateName(plan.workflow.stages[0]), 'succeeded', 0],
      [denseStageStateName(plan.workflow.stages[1]), 'caught', 1],
      ['Clean up', 'succeeded', 0],
      ['Run failed', 'failed', 0],
    ]);
    expect(record.stages.map((s) => [s.index, s.outcome, s.retries, s.error, s.result === null])).toEqual([
      [0, 'succeeded', 0, null, false],
      [1, 'caught', 1, { error: 'MissingObjectError', cause: 'stage 1: the handoff is missing' }, true],
    ]);
    const text = describeStagesExecution(record);
    expect(text).toContain('error        MissingObjectError: stage 1: the handoff is missing');
    expect(text).toMatch(/\n\s+1\s{2,}10-33\s{2,}.*\s{2,}-\s{2,}-\s{2,}-\s{2,}-\s{2,}result \(S3\)\s{2,}caught \(1 retry\): MissingObjectError: stage 1: the handoff is missing/);
  });

  it('the command line reads the stages plan: an Express execution is refused (no history) before any request', () => {
    const express = `arn:aws:states:${REGION}:${ACCOUNT}:express:${plan.names.stateMachine}:${name}:0a1b`;
    const run = stepinfer(newDir(), 'inspect', express, '--plan', planFile);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`stepinfer: ${express} is an Express execution: Step Functions keeps no history of those (GetExecutionHistory is for Standard workflows); its events are in the state machine's CloudWatch Logs group /aws/vendedlogs/states/${plan.names.stateMachine}\n`);
  });
});
