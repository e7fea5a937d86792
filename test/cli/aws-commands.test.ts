// The AWS commands without AWS (it is not reachable here): deploy, shards upload, start and
// inspect <executionArn> against aws-sdk-client-mock, with responses shaped as the AWS API
// references give them (Step Functions ListStateMachines, ListTagsForResource, StartExecution,
// StartSyncExecution, DescribeExecution, GetExecutionHistory; S3 PutObject). What they show: the
// requests each command sends, and each clear error: no region, no credentials, a plan not
// deployed or out of date, a stack of another plan, an execution that does not exist. Nothing here
// ran on AWS.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand, ExecutionDoesNotExist, GetExecutionHistoryCommand, ListStateMachinesCommand, ListTagsForResourceCommand,
  SFNClient, StartExecutionCommand, StartSyncExecutionCommand, type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App } from 'aws-cdk-lib';
import { AwsAccessError, UsageError } from '../../model/errors.ts';
import { parsePlan, serializePlan, type Plan } from '../../planner/plan/index.ts';
import type { WorkerResult } from '../../functions/handlers/events.ts';
import { stageStateName, workerStateName } from '../../workflows/asl/index.ts';
import { PLAN_ID_TAG, WORKFLOW_DIGEST_TAG, workflowDigest } from '../../infra/identity.ts';
import { appFromContext } from '../../infra/app.ts';
import { checkAwsAccess, type AwsCommandClients } from '../../cli/aws.ts';
import { commandLine, deployCommand } from '../../cli/commands/deploy.ts';
import { startExecution } from '../../cli/commands/start.ts';
import { describeUpload, uploadPlanShards } from '../../cli/commands/shards-upload.ts';
import { loadPlanModel } from '../../cli/commands/shards.ts';
import { generateInputs } from '../../model/generate.ts';
import { formatRowsTsv } from '../../model/load.ts';
import { buildShards } from '../../model/shard.ts';
import { planNeuronMaps } from '../../planner/plan/index.ts';
import { stageInputSlices } from '../../functions/worker/activation-slice.ts';
import { encodeSlice } from '../../functions/storage/slice-codec.ts';
import { describeAwsExecution, inspectAwsExecution } from '../../cli/commands/inspect.ts';
import { executionGraph } from '../../cli/run-report.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { reidentified } from '../helpers/plans.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');
const stepinfer = (...args: string[]) => {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const newDir = tempDirs();
let dir: string;
let planFile: string;
let plan: Plan;
let expressFile: string;
let expressPlan: Plan;

afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  // A 4-worker plan of a generated 1024 x 6 network (the model is generated again from the plan), Standard, launched by a Map.
  dir = mkdtempSync(join(tmpdir(), 'stepinfer-aws-'));
  planFile = join(dir, 'plan.json');
  const made = stepinfer('plan', '--generate', '1024x6', '--samples', '64', '--workers', '4', '--workflow', 'standard', '--launch', 'map', '-o', planFile);
  expect(made.stderr).toBe('');
  plan = parsePlan(readFileSync(planFile, 'utf8'), planFile);
  expressPlan = reidentified({ ...plan, workflow: { ...plan.workflow, type: 'EXPRESS' } });
  expressFile = join(dir, 'express.json');
  writeFileSync(expressFile, serializePlan(expressPlan));
}, 60_000);

/** Clients with a region and static credentials, as the standard configuration would give. */
function testClients() {
  const config = { region: REGION, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } };
  const sfn = new SFNClient(config), s3 = new S3Client(config);
  const clients: AwsCommandClients = { sfn, s3 };
  return { ...clients, sfnMock: mockClient(sfn), s3Mock: mockClient(s3) };
}

const smArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const tagsOf = (p: Plan) => ({ tags: [{ key: PLAN_ID_TAG, value: p.planId }, { key: WORKFLOW_DIGEST_TAG, value: workflowDigest(p) }, { key: 'aws:cloudformation:stack-name', value: p.names.stack }] });
const machine = (name: string) => ({ stateMachineArn: smArn(name), name, type: 'STANDARD' as const, creationDate: new Date('2026-11-30T09:00:00Z') });

/** The account has the plan's state machine deployed (on the second page of ListStateMachines). */
function deployed(c: ReturnType<typeof testClients>, p: Plan, tags = tagsOf(p)) {
  c.sfnMock.on(ListStateMachinesCommand).callsFake((input: { nextToken?: string }) => (input.nextToken === undefined
    ? { stateMachines: [machine('someone-elses')], nextToken: 'page-2' }
    : { stateMachines: [machine(p.names.stateMachine)] }));
  c.sfnMock.on(ListTagsForResourceCommand, { resourceArn: smArn(p.names.stateMachine) }).resolves(tags);
}

describe('stepinfer deploy', () => {
  it('runs cdk deploy of the plan\'s stack with the app infra/app.ts and -c plan=<file>, telemetry and notices off', () => {
    const c = deployCommand(plan, planFile, { region: REGION });
    const root = resolve(import.meta.dirname, '../..');
    expect(c).toEqual({
      command: join(root, 'node_modules/.bin/cdk'),
      args: ['deploy', plan.names.stack, '--app', `${process.execPath} infra/app.ts`, '--context', `plan=${planFile}`, '--require-approval', 'broadening', '--no-notices'],
      cwd: root,
      env: { CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_REGION: REGION, CDK_DEFAULT_REGION: REGION },
    });
    const printed = stepinfer('deploy', planFile, '--region', REGION, '--print');
    expect(printed.code).toBe(0);
    // The spawned CLI runs on this same Node, so it prints the same command.
    expect(printed.stdout).toBe(`${commandLine(c)}\n`);
    expect(printed.stdout).toContain(` deploy ${plan.names.stack} --app '${process.execPath} infra/app.ts' --context plan=${planFile} `);
  });

  it('a bad --approval level is a usage error (exit 2) before anything runs', () => {
    const run = stepinfer('deploy', planFile, '--approval', 'sometimes', '--print');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('expected never or any-change or broadening, got "sometimes"');
  });

  it('the app it names synthesizes the plan\'s stack from -c plan=<file>', () => {
    const outdir = newDir();
    const app = appFromContext(new App({ outdir, builtinCloudFormationValidation: false, context: { plan: planFile, 'aws:cdk:bundling-stacks': [] } }));
    const assembly = app.synth();
    const stack = assembly.getStackByName(plan.names.stack);
    expect(stack.stackName).toBe(plan.names.stack);
    expect((stack.template as { Outputs: Record<string, { Value: string }> }).Outputs.PlanId.Value).toBe(plan.planId);
    expect(() => appFromContext(new App({ outdir: newDir() }))).toThrow(/name the plan: cdk synth -c plan=path\/to\/plan.json/);
  });
});

describe('AWS access', () => {
  it('no region: one clear line', async () => {
    const sfn = new SFNClient({ region: (): Promise<string> => Promise.reject(new Error('Region is missing')), credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    await expect(checkAwsAccess(sfn)).rejects.toThrow(new AwsAccessError('no AWS region: set AWS_REGION (or a region in your AWS profile), or give --region'));
  });

  it('no credentials: one clear line naming the region and what to set', async () => {
    const sfn = new SFNClient({ region: REGION, credentials: () => Promise.reject(new Error('Could not load credentials from any providers')) });
    await expect(checkAwsAccess(sfn)).rejects.toThrow(new AwsAccessError(`no AWS credentials for region ${REGION}: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sign in with aws sso login (Could not load credentials from any providers)`));
  });

  it('the command line: stepinfer start without a region or credentials fails with that line and exit 1', () => {
    const run = spawnSync(process.execPath, [bin, 'start', planFile], {
      encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: newDir(), AWS_EC2_METADATA_DISABLED: 'true' },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('stepinfer: no AWS region: set AWS_REGION (or a region in your AWS profile), or give --region\n');
  });
});

describe('stepinfer start', () => {
  it('--print-input prints an input to paste into the console: the plan\'s defaults, the default inputs first', () => {
    const run = stepinfer('start', planFile, '--print-input');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('{\n  "inputs": "default",\n  "samples": 64,\n  "topScores": 0\n}\n');
  });

  it('without inputs of its own: reads the plan\'s default inputs, stages nothing', async () => {
    const c = testClients();
    deployed(c, plan);
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:run-d`;
    c.sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-11-30T10:00:00Z') });
    const result = await startExecution(planFile, { runId: 'run-d', topScores: 3 }, c);
    expect(result).toMatchObject({ runId: 'run-d', executionArn, status: 'RUNNING', input: { inputs: 'default', samples: 64, topScores: 3 } });
    expect(c.sfnMock.commandCalls(StartExecutionCommand).map((x) => x.args[0].input)).toEqual([
      { stateMachineArn: smArn(plan.names.stateMachine), name: 'run-d', input: '{"inputs":"default","samples":64,"topScores":3}' },
    ]);
    expect(c.s3Mock.calls()).toHaveLength(0);
  });

  it('refused before anything is sent: a run named "default", --stage-only or --model without inputs of its own', async () => {
    for (const [o, message] of [
      [{ runId: 'default', samples: 8 }, 'field run-id: a run cannot be named "default": the execution input\'s inputs "default" names the plan\'s default inputs'],
      [{ runId: 'run-s', stageOnly: true }, "field stage-only: --stage-only stages a run's own inputs: give --inputs or --samples (the plan's default inputs are staged by stepinfer shards upload)"],
      [{ runId: 'run-m', model: 'm.sdnn' }, "field model: --model cuts a run's own inputs (--inputs or --samples) by the plan's neuron maps; the plan's default inputs are staged already"],
    ] as const) {
      const c = testClients();
      const error = await startExecution(planFile, o, c).then(() => null, (e: Error) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect(error!.message).toBe(message);
      expect(c.sfnMock.calls()).toHaveLength(0);
    }
  });

  it('--stage-only: stages the run\'s own rows and prints the input that names them', async () => {
    const c = testClients();
    deployed(c, plan);
    c.s3Mock.on(PutObjectCommand).resolves({});
    const result = await startExecution(planFile, { runId: 'rows-8', samples: 8, stageOnly: true }, c);
    expect(result).toMatchObject({ status: 'STAGED', executionArn: null, input: { inputs: 'rows-8', samples: 8, topScores: 0 } });
    expect(c.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(c.s3Mock.commandCalls(PutObjectCommand).every((x) => /^runs\/rows-8\/inputs\/\d+\/\d+$/.test(x.args[0].input.Key!))).toBe(true);
  });

  it('Standard: stages the inputs under the run id, StartExecution named by it, --wait polls DescribeExecution until it ends', async () => {
    const c = testClients();
    deployed(c, plan);
    c.s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag"' });
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:run-1`;
    c.sfnMock.on(StartExecutionCommand).resolves({ executionArn, startDate: new Date('2026-11-30T10:00:00Z') });
    const output = { runId: 'run-1', categoryCount: 12 };
    c.sfnMock.on(DescribeExecutionCommand)
      .resolvesOnce({ executionArn, stateMachineArn: smArn(plan.names.stateMachine), name: 'run-1', status: 'RUNNING', startDate: new Date('2026-11-30T10:00:00Z') })
      .resolves({ executionArn, stateMachineArn: smArn(plan.names.stateMachine), name: 'run-1', status: 'SUCCEEDED', startDate: new Date('2026-11-30T10:00:00Z'), stopDate: new Date('2026-11-30T10:00:09Z'), output: JSON.stringify(output) });
    const result = await startExecution(planFile, { runId: 'run-1', samples: 20, wait: true, pollSeconds: 0 }, c);
    expect(result).toEqual({
      planId: plan.planId, runId: 'run-1', stateMachineArn: smArn(plan.names.stateMachine), executionArn,
      input: { inputs: 'run-1', samples: 20, topScores: 0 }, status: 'SUCCEEDED', output, error: null, cause: null,
    });
    expect(c.sfnMock.commandCalls(ListStateMachinesCommand).map((x) => x.args[0].input.nextToken)).toEqual([undefined, 'page-2']);
    expect(c.sfnMock.commandCalls(StartExecutionCommand).map((x) => x.args[0].input)).toEqual([
      { stateMachineArn: smArn(plan.names.stateMachine), name: 'run-1', input: '{"inputs":"run-1","samples":20,"topScores":0}' },
    ]);
    expect(c.sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
    const keys = c.s3Mock.commandCalls(PutObjectCommand).map((x) => x.args[0].input);
    expect(keys.length).toBeGreaterThanOrEqual(plan.workers);
    for (const k of keys) {
      expect(k.Bucket).toBe(plan.names.bucket);
      expect(k.Key).toMatch(/^runs\/run-1\/inputs\/\d+\/\d+$/);
    }
  });

  it('without --wait: started, RUNNING, nothing polled', async () => {
    const c = testClients();
    deployed(c, plan);
    c.s3Mock.on(PutObjectCommand).resolves({});
    c.sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:x:run-2', startDate: new Date() });
    const result = await startExecution(planFile, { runId: 'run-2', samples: 8 }, c);
    expect(result.status).toBe('RUNNING');
    expect(c.sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('Express: StartSyncExecution, which answers when the execution ends', async () => {
    const c = testClients();
    deployed(c, expressPlan);
    c.s3Mock.on(PutObjectCommand).resolves({});
    const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:express:${expressPlan.names.stateMachine}:run-3:0a1b`;
    c.sfnMock.on(StartSyncExecutionCommand).resolves({
      executionArn, stateMachineArn: smArn(expressPlan.names.stateMachine), name: 'run-3', startDate: new Date(), stopDate: new Date(),
      status: 'FAILED', error: 'MissingObjectError', cause: 'the shard of worker 1 is missing',
    });
    const result = await startExecution(expressFile, { runId: 'run-3', samples: 8, topScores: 2 }, c);
    expect(result).toMatchObject({ executionArn, status: 'FAILED', error: 'MissingObjectError', cause: 'the shard of worker 1 is missing', output: null });
    expect(c.sfnMock.commandCalls(StartSyncExecutionCommand).map((x) => x.args[0].input)).toEqual([
      { stateMachineArn: smArn(expressPlan.names.stateMachine), name: 'run-3', input: '{"inputs":"run-3","samples":8,"topScores":2}' },
    ]);
    expect(c.sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('a plan that is not deployed: names the region and says to deploy', async () => {
    const c = testClients();
    c.sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [machine('someone-elses')] });
    await expect(startExecution(planFile, { runId: 'run-4', samples: 8 }, c)).rejects.toThrow(new AwsAccessError(
      `plan ${plan.planId} is not deployed in ${REGION}: no state machine ${plan.names.stateMachine}; run stepinfer deploy ${planFile}`));
    expect(c.s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('a stack that is out of date: the deployed stack of the prefix is of an older plan id', async () => {
    const c = testClients();
    const older = `${plan.stackPrefix}-0123456789abcdef`;
    c.sfnMock.on(ListStateMachinesCommand).resolves({ stateMachines: [machine(older)] });
    await expect(startExecution(planFile, { runId: 'run-5', samples: 8 }, c)).rejects.toThrow(new AwsAccessError(
      `plan ${plan.planId} is not deployed in ${REGION}, and the stack deployed there (state machine ${older}) is out of date: it is of plan 0123456789abcdef; run stepinfer deploy ${planFile}`));
  });

  it('a stack that is out of date: the plan id matches, the deployed workflow is another stepinfer\'s', async () => {
    const c = testClients();
    deployed(c, plan, { tags: [{ key: PLAN_ID_TAG, value: plan.planId }, { key: WORKFLOW_DIGEST_TAG, value: '0000000000000000' }] });
    await expect(startExecution(planFile, { runId: 'run-6', samples: 8 }, c)).rejects.toThrow(new AwsAccessError(
      `the stack of plan ${plan.planId} is out of date: its workflow (0000000000000000) is not the one this stepinfer generates for the plan (${workflowDigest(plan)}); run stepinfer deploy again`));
  });

  it('a state machine of the plan\'s name that belongs to another plan\'s stack', async () => {
    const c = testClients();
    deployed(c, plan, { tags: [{ key: PLAN_ID_TAG, value: 'ffffffffffffffff' }] });
    await expect(startExecution(planFile, { runId: 'run-7', samples: 8 }, c)).rejects.toThrow(new AwsAccessError(
      `state machine ${smArn(plan.names.stateMachine)} belongs to the stack of plan ffffffffffffffff, not of plan ${plan.planId}`));
  });

  it('a bad run id is refused before anything is sent', async () => {
    const c = testClients();
    await expect(startExecution(planFile, { runId: 'no spaces', samples: 8 }, c)).rejects.toThrow(UsageError);
    expect(c.sfnMock.calls()).toHaveLength(0);
  });
});

describe('stepinfer shards upload', () => {
  it('uploads one shard per worker under storage.shards, and stages the rows the plan was made with as its default inputs', async () => {
    const c = testClients();
    deployed(c, plan);
    c.s3Mock.on(PutObjectCommand).resolves({});
    const result = await uploadPlanShards(planFile, {}, c);
    const puts = c.s3Mock.commandCalls(PutObjectCommand).map((x) => x.args[0].input);
    const shardPuts = puts.filter((p) => p.Key!.startsWith('shards/'));
    const inputPuts = puts.filter((p) => !p.Key!.startsWith('shards/'));
    expect(shardPuts.map((p) => [p.Bucket, p.Key]).sort()).toEqual(Array.from({ length: 4 }, (_, w) => [plan.names.bucket, `shards/worker-${w}.shard`]));
    // The plan was made with 64 generated rows (seed 1, the generator's density): those, cut by its layer-1 maps.
    const made = generateInputs({ neurons: 1024, samples: 64, seed: 1 });
    const { network } = loadPlanModel(plan, planFile, undefined);
    const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum: plan.model.checksum.value, workers: plan.workers });
    const expected = shards.flatMap((shard) => stageInputSlices(made, shard, shard.layers[0]).map((x) => [`inputs/default/${x.target}/${shard.worker}`, Buffer.from(encodeSlice(x.slice)).toString('hex')]));
    expect(inputPuts.map((p) => [p.Key, Buffer.from(p.Body as Uint8Array).toString('hex')]).sort()).toEqual(expected.sort());
    expect(inputPuts.every((p) => p.Bucket === plan.names.bucket)).toBe(true);
    const bytes = (ps: typeof puts) => ps.reduce((t, p) => t + (p.Body as Uint8Array).length, 0);
    expect(result).toEqual({
      planId: plan.planId, bucket: plan.names.bucket, shards: 4, bytes: bytes(shardPuts), puts: 4,
      defaultInputs: { rows: 64, from: '64 generated inputs (seed 1, density 0.104)', keyPattern: 'inputs/default/<target>/<source>', puts: inputPuts.length, bytes: bytes(inputPuts) },
    });
    expect(describeUpload(result).split('\n')[1]).toBe(
      `staged the plan's default inputs (64 rows: 64 generated inputs (seed 1, density 0.104); ${inputPuts.length} objects) under s3://${plan.names.bucket}/inputs/default/: an execution started with {} runs them`,
    );
  });

  it('default inputs that are not the plan\'s rows, or a report that is missing, fail before anything is sent', async () => {
    const c = testClients();
    const other = join(newDir(), 'other.tsv');
    writeFileSync(other, formatRowsTsv(generateInputs({ neurons: 1024, samples: 10, seed: 1 })));
    await expect(uploadPlanShards(planFile, { inputs: other }, c)).rejects.toThrow(
      `${planFile}, field inputRows: the default inputs must be the 64 input rows of 1024 neurons plan ${plan.planId} was made with (inputRows), the inputs (${other}) are 10 rows of 1024`);
    const bare = join(newDir(), 'plan.json');
    writeFileSync(bare, readFileSync(planFile));
    await expect(uploadPlanShards(bare, {}, c)).rejects.toThrow(`${bare.replace(/\.json$/, '.report.json')}: the plan's report is missing (stepinfer plan writes it beside ${bare})`);
    expect(c.sfnMock.calls()).toHaveLength(0);
    expect(c.s3Mock.calls()).toHaveLength(0);
  });
});

describe('stepinfer inspect <executionArn>', () => {
  const name = 'run-8';
  const executionArn = () => `arn:aws:states:${REGION}:${ACCOUNT}:execution:${plan.names.stateMachine}:${name}`;
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const at = (ms: number) => new Date(t0 + ms);

  /** A worker's result as the worker handler returns it (functions/handlers/events.ts workerResultSchema). */
  const workerResult = (worker: number): WorkerResult => ({
    runId: name, attempt: 0, stage: 0, worker, ok: true, shardCached: false, startMs: t0 + 1000, endMs: t0 + 4000, launched: [],
    layers: Array.from({ length: 6 }, (_, i) => ({
      layer: i + 1, startMs: t0 + 1000 + i * 500, endMs: t0 + 1500 + i * 500, sendMs: 20 + worker, computeMs: 300 + 10 * i, waitMs: 40,
      via: i === 0 ? 'objects' as const : 'channel' as const,
      counters: { publishes: 1, publishedMessages: 2, publishedBytes: 1000, puts: 0, gets: 0, getBytes: 0, lists: 0, receives: 2, emptyReceives: 0, receivedMessages: 3, duplicates: 0, deletes: 1, deletedMessages: 3 },
      multiplyAdds: 1000,
    })),
    storage: { puts: 1, gets: 2, putBytes: 100, getBytes: 200 }, outputKeys: [`runs/${name}/outputs/worker-${worker}`], heapUsedMB: 60,
  });

  /** The history of a successful execution of the 4-worker plan, as GetExecutionHistory returns it. */
  function history(): HistoryEvent[] {
    const stage = stageStateName(plan, plan.workflow.stages[0]);
    const workerState = workerStateName(plan.workflow.stages[0]);
    const events: HistoryEvent[] = [];
    const add = (e: Omit<HistoryEvent, 'id' | 'timestamp'>, ms: number, previousEventId?: number) => {
      const id = events.length + 1;
      events.push({ id, previousEventId: previousEventId ?? id - 1, timestamp: at(ms), ...e } as HistoryEvent);
      return id;
    };
    add({ type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}', roleArn: 'arn:aws:iam::123456789012:role/sm' } }, 0, 0);
    add({ type: 'PassStateEntered', stateEnteredEventDetails: { name: 'Read input', input: '{}' } }, 10);
    add({ type: 'PassStateExited', stateExitedEventDetails: { name: 'Read input', output: '{}' } }, 20);
    add({ type: 'MapStateEntered', stateEnteredEventDetails: { name: stage, input: '{}' } }, 30);
    const mapStarted = add({ type: 'MapStateStarted', mapStateStartedEventDetails: { length: 4 } }, 40);
    const iterationEnds: number[] = [];
    for (let w = 0; w < 4; w++) {
      const started = add({ type: 'MapIterationStarted', mapIterationStartedEventDetails: { name: stage, index: w } }, 50 + w, mapStarted);
      const entered = add({ type: 'TaskStateEntered', stateEnteredEventDetails: { name: workerState, input: '{}' } }, 60 + w, started);
      add({ type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:w', input: '{}' } }, 70 + w, entered);
      if (w === 2) {
        // Worker 2's first invocation failed and its Task retried.
        add({ type: 'LambdaFunctionStarted' }, 80 + w);
        add({ type: 'LambdaFunctionFailed', lambdaFunctionFailedEventDetails: { error: 'Lambda.ServiceException', cause: 'throttled' } }, 90 + w);
        add({ type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:w', input: '{}' } }, 900 + w);
      }
      add({ type: 'LambdaFunctionStarted' }, 1000 + w);
      add({ type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: JSON.stringify(workerResult(w)) } }, 4000 + w);
      add({ type: 'TaskStateExited', stateExitedEventDetails: { name: workerState, output: '{}' } }, 4010 + w);
      iterationEnds.push(add({ type: 'MapIterationSucceeded', mapIterationSucceededEventDetails: { name: stage, index: w } }, 4020 + w));
    }
    add({ type: 'MapStateSucceeded' }, 4100, iterationEnds[3]);
    add({ type: 'MapStateExited', stateExitedEventDetails: { name: stage, output: '{}' } }, 4110);
    add({ type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Gather', input: '{}' } }, 4120);
    add({ type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:g', input: '{}' } }, 4130);
    add({ type: 'LambdaFunctionStarted' }, 4140);
    add({ type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: '{"runId":"run-8","categoryCount":12}' } }, 5000);
    add({ type: 'TaskStateExited', stateExitedEventDetails: { name: 'Gather', output: '{}' } }, 5010);
    add({ type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } }, 5020);
    return events;
  }

  function described(c: ReturnType<typeof testClients>, tags = tagsOf(plan)) {
    c.sfnMock.on(DescribeExecutionCommand, { executionArn: executionArn() }).resolves({
      executionArn: executionArn(), stateMachineArn: smArn(plan.names.stateMachine), name, status: 'SUCCEEDED', startDate: at(0), stopDate: at(5020),
    });
    c.sfnMock.on(ListTagsForResourceCommand, { resourceArn: smArn(plan.names.stateMachine) }).resolves(tags);
  }

  it('reads the whole history (paginated) and renders the per-layer graph with the same renderer as a local run', async () => {
    const c = testClients();
    described(c);
    const events = history();
    c.sfnMock.on(GetExecutionHistoryCommand).callsFake((input: { nextToken?: string }) => (input.nextToken === undefined
      ? { events: events.slice(0, 20), nextToken: 'more' }
      : { events: events.slice(20) }));
    const record = await inspectAwsExecution(executionArn(), planFile, (region) => {
      expect(region).toBe(REGION);
      return c;
    });
    expect(c.sfnMock.commandCalls(GetExecutionHistoryCommand).map((x) => x.args[0].input)).toEqual([
      { executionArn: executionArn(), maxResults: 1000, nextToken: undefined, includeExecutionData: true },
      { executionArn: executionArn(), maxResults: 1000, nextToken: 'more', includeExecutionData: true },
    ]);
    const stage = stageStateName(plan, plan.workflow.stages[0]);
    const workerState = workerStateName(plan.workflow.stages[0]);
    expect(record.states.map((s) => [s.name, s.type, s.index, s.enteredMs - t0, s.exitedMs! - t0, s.outcome, s.retries])).toEqual([
      ['Read input', 'Pass', null, 10, 20, 'succeeded', 0],
      [stage, 'Map', null, 30, 4110, 'succeeded', 0],
      [workerState, 'Task', 0, 60, 4010, 'succeeded', 0],
      [workerState, 'Task', 1, 61, 4011, 'succeeded', 0],
      [workerState, 'Task', 2, 62, 4012, 'succeeded', 1],
      [workerState, 'Task', 3, 63, 4013, 'succeeded', 0],
      ['Gather', 'Task', null, 4120, 5010, 'succeeded', 0],
    ]);
    expect(record.attempts.map((a) => [a.stage, a.attempt, a.succeeded, a.workers.map((w) => w.worker)])).toEqual([[0, 0, true, [0, 1, 2, 3]]]);
    expect(record.attempts[0].workers[3]).toEqual(workerResult(3));
    expect(record.outcome).toBe('succeeded');
    expect(record.transitions.transitions).toBe(7);
    const text = describeAwsExecution(record);
    expect(text).toContain(executionGraph(record));
    expect(text.split('\n').slice(0, 2)).toEqual([
      `execution    ${name}: succeeded in 5.02 s (AWS execution ${executionArn()})`,
      `plan         ${plan.planId}: ${plan.shape}, 4 workers, ${plan.channel.kind} channel, 1 stage, STANDARD workflow`,
    ]);
    expect(executionGraph(record)).toContain(`${stage} · attempt 0: 4 of 4 workers reported`);
  });

  it('a launch tree: the coordinator\'s brief results point at the status objects, read while they exist', async () => {
    const c = testClients();
    described(c);
    const stage = stageStateName(plan, plan.workflow.stages[0]);
    const statusKey = (w: number) => `runs/${name}/status/0/0/worker-${w}.json`;
    const coordinator = { runId: name, attempt: 0, stage: 0, startMs: t0 + 100, endMs: t0 + 4100, invokes: 2, lists: 5, workers: [0, 1, 2, 3].map((w) => ({ worker: w, startMs: t0 + 1000, endMs: t0 + 4000, statusKey: statusKey(w) })) };
    const events: HistoryEvent[] = [
      { id: 1, previousEventId: 0, timestamp: at(0), type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
      { id: 2, previousEventId: 1, timestamp: at(30), type: 'TaskStateEntered', stateEnteredEventDetails: { name: stage, input: '{}' } },
      { id: 3, previousEventId: 2, timestamp: at(40), type: 'LambdaFunctionScheduled', lambdaFunctionScheduledEventDetails: { resource: 'arn:aws:lambda:eu-west-1:123456789012:function:c', input: '{}' } },
      { id: 4, previousEventId: 3, timestamp: at(50), type: 'LambdaFunctionStarted' },
      { id: 5, previousEventId: 4, timestamp: at(4100), type: 'LambdaFunctionSucceeded', lambdaFunctionSucceededEventDetails: { output: JSON.stringify(coordinator) } },
      { id: 6, previousEventId: 5, timestamp: at(4110), type: 'TaskStateExited', stateExitedEventDetails: { name: stage, output: '{}' } },
      { id: 7, previousEventId: 6, timestamp: at(4120), type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } },
    ];
    c.sfnMock.on(GetExecutionHistoryCommand).resolves({ events });
    // Workers 0-2's statuses are still there; worker 3's was removed with the run's intermediates.
    for (const w of [0, 1, 2]) {
      const bytes = new TextEncoder().encode(JSON.stringify(workerResult(w)));
      c.s3Mock.on(GetObjectCommand, { Bucket: plan.names.bucket, Key: statusKey(w) }).resolves({ Body: { transformToByteArray: async () => bytes } as never });
    }
    c.s3Mock.on(GetObjectCommand, { Bucket: plan.names.bucket, Key: statusKey(3) }).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));
    const record = await inspectAwsExecution(executionArn(), planFile, () => c);
    expect(record.attempts.map((a) => [a.stage, a.attempt, a.workers.map((w) => w.worker)])).toEqual([[0, 0, [0, 1, 2]]]);
    expect(record.notes.map((n) => n.note)).toEqual([
      `from GetExecutionHistory of ${executionArn()} (7 events); per-layer timings from the workers' results`,
      "1 worker's per-layer results were in status objects the run removed at its end (launch tree); their log lines are in CloudWatch Logs",
    ]);
    expect(executionGraph(record)).toContain(`${stage} · attempt 0: 3 of 4 workers reported`);
  });

  it('an execution that does not exist', async () => {
    const c = testClients();
    c.sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${executionArn()}'`, $metadata: { httpStatusCode: 400 } }));
    await expect(inspectAwsExecution(executionArn(), planFile, () => c)).rejects.toThrow(new AwsAccessError(
      `execution ${executionArn()} does not exist (in ${REGION}, for these credentials)`));
  });

  it('an execution of another plan\'s stack', async () => {
    const c = testClients();
    described(c, { tags: [{ key: PLAN_ID_TAG, value: 'ffffffffffffffff' }] });
    await expect(inspectAwsExecution(executionArn(), planFile, () => c)).rejects.toThrow(new AwsAccessError(
      `state machine ${smArn(plan.names.stateMachine)} belongs to the stack of plan ffffffffffffffff, not of plan ${plan.planId}: execution ${executionArn()} did not run ${planFile}`));
    expect(c.sfnMock.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('an Express execution has no history to read; a non-ARN and a missing --plan are usage errors', async () => {
    const express = `arn:aws:states:${REGION}:${ACCOUNT}:express:${expressPlan.names.stateMachine}:run-9:0a1b`;
    await expect(inspectAwsExecution(express, expressFile, () => { throw new Error('no client needed'); })).rejects.toThrow(
      /is an Express execution: Step Functions keeps no history of those .*\/aws\/vendedlogs\/states\//);
    await expect(inspectAwsExecution('arn:aws:lambda:eu-west-1:123456789012:function:x', planFile)).rejects.toThrow(UsageError);
    await expect(inspectAwsExecution(executionArn(), undefined)).rejects.toThrow(/needs --plan <plan.json>/);
  });
});
