// Generated workflows (workflows/asl/): every shape, launch, channel and workflow type renders a
// definition that asl-validator and our own validation accept; the shape is the plan's (states
// named for what they do, Tasks with the plan's timeouts and jittered retries, the Map mode the
// worker count needs); every ARN and name is a substitution; an inline Map of exchanging peers
// past 40 and a payload past 256 KiB are refused.

import { describe, expect, it } from 'vitest';
import validator from 'asl-validator';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import type { Plan } from '../../planner/plan/index.ts';
import {
  allStates, parseStateMachineInput, renderWorkflow, stageStateName, stateMachineInputJsonSchema, substituteDefinition, STAGE_RETRIES, workflowProblems,
  type MapState, type StateMachine, type TaskState,
} from '../../workflows/asl/index.ts';
import { WORKFLOW_CASES, workflowCase, type WorkflowCaseName } from '../helpers/workflow-plans.ts';

const CASES = Object.keys(WORKFLOW_CASES) as WorkflowCaseName[];

async function rendered(name: WorkflowCaseName) {
  const { plan } = await workflowCase(name);
  return { plan, ...renderWorkflow(plan) };
}

const topStates = (d: StateMachine) => Object.keys(d.States);
const tasks = (d: StateMachine) => allStates(d).filter((s): s is { name: string; state: TaskState } => s.state.Type === 'Task');
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('every generated workflow', () => {
  it.each(CASES)('%s: passes asl-validator and our validation', async (name) => {
    const { definition, substitutions } = await rendered(name);
    // asl-validator adds QueryLanguage to the states it is given: it gets a copy.
    const result = validator(copy(definition), { checkPaths: true, checkArn: true });
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
    expect(workflowProblems({ definition, substitutions })).toEqual([]);
  });

  it.each(CASES)('%s: every Task has the plan\'s TimeoutSeconds and its retry policy with full jitter, and keeps a small result', async (name) => {
    const { plan, definition } = await rendered(name);
    const policy = plan.workflow.retryPolicies['lambda-transient'].map((r) => ({
      ErrorEquals: r.errorEquals, IntervalSeconds: r.intervalSeconds, MaxAttempts: r.maxAttempts, BackoffRate: r.backoffRate, JitterStrategy: 'FULL',
    }));
    const timeouts = new Set([...plan.workflow.stages.map((s) => s.task.timeoutSeconds), plan.workflow.gather?.task.timeoutSeconds]);
    for (const { name: state, state: task } of tasks(definition)) {
      expect(timeouts, state).toContain(task.TimeoutSeconds);
      expect(task.Retry, state).toEqual(policy);
      expect(task.ResultSelector !== undefined || task.ResultPath === null, state).toBe(true);
    }
    expect(definition.TimeoutSeconds).toBe(plan.workflow.executionTimeoutSeconds);
    expect(definition.QueryLanguage).toBe('JSONPath');
  });

  it.each(CASES)('%s: names every ARN and resource by a substitution that resolves to a plan name', async (name) => {
    const { plan, definition, substitutions } = await rendered(name);
    const text = JSON.stringify(definition);
    expect(text).not.toMatch(/arn:aws/);
    for (const resourceName of [plan.names.bucket, ...Object.values(plan.names.functions), ...plan.names.topics, ...plan.names.queues, ...plan.names.exchangeBuckets]) {
      expect(text).not.toContain(`"${resourceName}"`);
    }
    const planNames = new Set<string>([plan.names.bucket, ...Object.values(plan.names.functions), ...plan.names.topics, ...plan.names.queues, ...plan.names.exchangeBuckets]);
    for (const [key, s] of Object.entries(substitutions)) {
      expect(text, key).toContain(`\${${key}}`);
      expect(planNames.has(s.name), `${key} -> ${s.name}`).toBe(true);
    }
  });
});

describe('the shapes', () => {
  it('serial: one Task on the stage function, between the input states and the failure path', async () => {
    const { plan, definition, substitutions } = await rendered('serial');
    expect(topStates(definition)).toEqual(['Read input', 'Start run', 'Layers 1-12 · 1 worker', 'Layers 1-12 failed', 'Retry layers 1-12', 'Run failed']);
    const task = definition.States['Layers 1-12 · 1 worker'] as TaskState;
    const stageFunction = plan.functions.find((f) => f.role === 'stage')!;
    expect(task.Resource).toBe(`\${Stage${stageFunction.memoryMB}FunctionArn}`);
    expect(task).toMatchObject({ ResultPath: '$.result', OutputPath: '$.result', End: true });
    expect(task.Parameters).toMatchObject({ worker: 0, depth: 0, stageRun: { stage: 0, stages: 1, firstLayer: 1, lastLayer: 12, workers: 1, channel: { kind: 'none' }, launch: { kind: 'flat' } } });
    // One worker writes its result itself: no gather, so a failed run ends without a clean-up Task.
    expect((definition.States['Layers 1-12 failed'] as { Default: string }).Default).toBe('Run failed');
    expect(Object.keys(substitutions)).toEqual(['Bucket', `Stage${stageFunction.memoryMB}FunctionArn`]);
  });

  it('stages: a chain of Tasks, one per stage of the plan, each on its stage function', async () => {
    const { plan, definition } = await rendered('stages');
    expect(plan.workflow.stages.map((s) => [s.firstLayer, s.lastLayer])).toEqual([[1, 4], [5, 8], [9, 12]]);
    const chain = ['Layers 1-4 · 1 worker', 'Layers 5-8 · 1 worker', 'Layers 9-12 · 1 worker'];
    expect(topStates(definition).slice(0, 5)).toEqual(['Read input', 'Start run', ...chain]);
    chain.forEach((name, i) => {
      const task = definition.States[name] as TaskState;
      expect(task.Type).toBe('Task');
      expect(task.Resource).toBe(`\${Stage${plan.functions.find((f) => f.id === plan.workflow.stages[i].functionId)!.memoryMB}FunctionArn}`);
      expect(task.Next ?? 'end').toBe(chain[i + 1] ?? 'end');
      expect((task.Parameters as { stageRun: { stage: number; stages: number } }).stageRun).toMatchObject({ stage: i, stages: 3 });
    });
  });

  it('map-per-layer: a Map of the P workers per layer, then the gather Task', async () => {
    const { definition } = await rendered('map-per-layer-8');
    const layers = Array.from({ length: 12 }, (_, l) => `Layer ${l + 1} · 8 workers`);
    expect(topStates(definition).slice(0, 15)).toEqual(['Read input', 'Start run', ...layers, 'Gather']);
    for (const name of layers) {
      const map = definition.States[name] as MapState;
      expect(map.Type).toBe('Map');
      expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
      expect((map.ItemSelector as { stageRun: { channel: unknown } }).stageRun.channel).toEqual({ kind: 'none' });
    }
    expect(Object.keys((definition.States['Layer 7 · 8 workers'] as MapState).ItemProcessor.States)).toEqual(['Worker · layer 7']);
  });

  it('layer groups: a Map per group, the channel inside it, then the gather; a failed run is cleaned up and fails with the cause', async () => {
    const { plan, definition, substitutions } = await rendered('groups-8-queue');
    expect(topStates(definition)).toEqual([
      'Read input', 'Start run', 'Layers 1-6 · 8 workers', 'Layers 7-12 · 8 workers', 'Gather',
      'Layers 1-6 failed', 'Retry layers 1-6', 'Layers 7-12 failed', 'Retry layers 7-12', 'Clean up', 'Run failed',
    ]);
    const map = definition.States['Layers 1-6 · 8 workers'] as MapState;
    expect(map).toMatchObject({ ItemsPath: '$.workers', MaxConcurrency: 8, ResultPath: null, Next: 'Layers 7-12 · 8 workers' });
    expect(map.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Layers 1-6 failed' }]);
    const channel = (map.ItemSelector as { stageRun: { channel: { kind: string; topicArns: string[]; queueUrls: string[]; settings: unknown } } }).stageRun.channel;
    expect(channel.kind).toBe('queue');
    expect(channel.settings).toEqual(plan.channel.queue);
    expect(channel.topicArns).toEqual(plan.names.topics.map((_, k) => `\${TopicArn${k}}`));
    expect(channel.queueUrls).toEqual(plan.names.queues.map((_, w) => `\${QueueUrl${w}}`));
    expect(definition.States['Gather']).toMatchObject({ Type: 'Task', ResultPath: '$.result', OutputPath: '$.result', End: true, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Clean up' }] });
    expect(definition.States['Clean up']).toMatchObject({ Type: 'Task', ResultPath: null, Next: 'Run failed', Parameters: { cleanup: true } });
    expect(definition.States['Run failed']).toEqual({ Type: 'Fail', Comment: expect.any(String), ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' });
    expect(definition.States['Layers 7-12 failed']).toEqual({
      Type: 'Choice', Comment: `At most ${STAGE_RETRIES} more attempts.`,
      Choices: [{ Variable: '$.attempts.stage1', NumericLessThan: STAGE_RETRIES, Next: 'Retry layers 7-12' }], Default: 'Clean up',
    });
    expect(definition.States['Retry layers 7-12']).toMatchObject({
      Type: 'Pass', Parameters: { 'stage0.$': '$.attempts.stage0', 'stage1.$': 'States.MathAdd($.attempts.stage1, 1)' }, ResultPath: '$.attempts', Next: 'Layers 7-12 · 8 workers',
    });
    const gather = plan.functions.find((f) => f.role === 'gather')!, worker = plan.functions.find((f) => f.role === 'worker')!;
    expect(Object.keys(substitutions)).toEqual([
      'Bucket', ...plan.names.topics.map((_, k) => `TopicArn${k}`), ...plan.names.queues.map((_, w) => `QueueUrl${w}`),
      `Worker${worker.memoryMB}FunctionArn`, `Gather${gather.memoryMB}FunctionArn`,
    ]);
    expect(substitutions.QueueUrl3).toEqual({ meaning: "URL of worker 3's queue of the queue channel", resource: 'sqsQueue', value: 'url', name: plan.names.queues[3] });
  });

  it('layer groups over the object channel name the exchange buckets', async () => {
    const { plan, definition } = await rendered('groups-8-object');
    const channel = ((definition.States['Layers 1-6 · 8 workers'] as MapState).ItemSelector as { stageRun: { channel: unknown } }).stageRun.channel;
    expect(channel).toEqual({ kind: 'object', settings: plan.channel.object, buckets: plan.names.exchangeBuckets.map((_, k) => `\${ExchangeBucket${k}}`) });
  });

  it('a launch tree is one Task invoking the coordinator, whose workers start each other', async () => {
    const { plan, definition } = await rendered('groups-62-queue-tree');
    const stage = plan.workflow.stages[0];
    if (stage.launch.kind !== 'tree') throw new Error('expected a tree');
    const name = `Layers ${stage.firstLayer}-${stage.lastLayer} · 62 workers (launch tree)`;
    const task = definition.States[name] as TaskState;
    const coordinator = plan.functions.find((f) => f.id === (stage.launch as { coordinatorFunctionId: string }).coordinatorFunctionId)!;
    expect(task.Type).toBe('Task');
    expect(task.Resource).toBe(`\${Coordinator${coordinator.memoryMB}FunctionArn}`);
    expect(task.Parameters).toMatchObject({
      pollSeconds: 1, waitTimeoutSeconds: coordinator.timeoutSeconds - 5,
      stageRun: { launch: { kind: 'tree', branchingFactor: stage.launch.branchingFactor, levels: stage.launch.levels }, workerFunction: `\${Worker${plan.functions.find((f) => f.role === 'worker')!.memoryMB}FunctionArn}` },
    });
    expect(allStates(definition).some((s) => s.state.Type === 'Map')).toBe(false);
    // No Map: the state carries no worker list.
    expect((definition.States['Start run'] as { Parameters: Record<string, unknown> }).Parameters.workers).toBeUndefined();
  });
});

describe('how a stage runs all its workers at once', () => {
  // Workers of a group exchange rows and wait for each other: every one must run at once.
  it.each([
    ['groups-8-queue', 8, 'INLINE'],
    ['groups-40-queue', 40, 'INLINE'],
    ['groups-41-queue', 41, 'DISTRIBUTED'],
    ['groups-62-queue', 62, 'DISTRIBUTED'],
  ] as const)('%s: %i workers in a Map of mode %s with MaxConcurrency %i', async (name, workers, mode) => {
    const { plan, definition } = await rendered(name);
    expect(plan.workers).toBe(workers);
    const maps = allStates(definition).filter((s) => s.state.Type === 'Map').map((s) => s.state as MapState);
    expect(maps.length).toBe(plan.workflow.stages.length);
    for (const map of maps) {
      expect(map.MaxConcurrency).toBe(workers);
      expect(map.ItemProcessor.ProcessorConfig).toEqual(mode === 'INLINE' ? { Mode: 'INLINE' } : { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' });
      expect(map.ToleratedFailurePercentage).toBe(mode === 'INLINE' ? undefined : 0);
      expect((map.ItemSelector as { stageRun: { workers: number; channel: { kind: string } } }).stageRun).toMatchObject({ workers, channel: { kind: 'queue' } });
    }
  });

  it('62 workers by a launch tree: one coordinator Task, no Map', async () => {
    const { plan, definition } = await rendered('groups-62-object-tree');
    expect(plan.workflow.stages.map((s) => s.launch.kind)).toEqual(['tree']);
    const stageStates = allStates(definition).filter((s) => s.name.startsWith('Layers') && s.name.endsWith('(launch tree)'));
    expect(stageStates.map((s) => s.state.Type)).toEqual(['Task']);
  });

  it('refuses an inline Map of more than 40 exchanging workers, which would deadlock, and a MaxConcurrency below the workers', async () => {
    const { plan } = await workflowCase('groups-62-queue');
    const inline = copy(plan);
    inline.workflow.stages[0].launch = { kind: 'map', mode: 'inline', maxConcurrency: 40 };
    const error = (() => { try { renderWorkflow(inline); return null; } catch (e) { return e; } })();
    expect(error).toBeInstanceOf(WorkflowDefinitionError);
    const issues = (error as WorkflowDefinitionError).issues;
    expect(issues).toEqual([
      'state "Layers 1-12 · 62 workers": an inline Map runs at most 40 iterations at once, and its 62 workers exchange rows and wait for each other: it would deadlock (use a distributed Map or a launch tree)',
      'state "Layers 1-12 · 62 workers": MaxConcurrency 40 runs fewer than its 62 workers at once, and they wait for each other: it would deadlock',
    ]);
    expect((error as Error).message).toBe(`workflow of plan ${plan.planId}: ${issues[0]} (and 1 more problem)`);
  });

  it('accepts an inline Map above 40 when the workers exchange nothing (one layer per stage)', async () => {
    const { plan } = await workflowCase('groups-62-queue');
    const oneLayer = copy(plan);
    oneLayer.workflow.stages = Array.from({ length: 12 }, (_, l) => ({
      ...plan.workflow.stages[0], index: l, firstLayer: l + 1, lastLayer: l + 1, channel: 'none' as const,
      launch: { kind: 'map' as const, mode: 'inline' as const, maxConcurrency: 40 },
    }));
    const { definition } = renderWorkflow(oneLayer);
    expect((definition.States['Layer 3 · 62 workers'] as MapState).ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
  });
});

describe('payloads', () => {
  it('stay small: events carry references, Tasks keep a few fields of their results, Maps drop theirs', async () => {
    const { definition, substitutions } = await rendered('groups-62-queue');
    const map = definition.States['Layers 1-12 · 62 workers'] as MapState;
    expect(map.ResultPath).toBeNull();
    expect(Object.values(map.ItemProcessor.States)[0]).toMatchObject({ ResultSelector: { 'worker.$': '$.worker', 'attempt.$': '$.attempt', 'ok.$': '$.ok', 'startMs.$': '$.startMs', 'endMs.$': '$.endMs' } });
    expect(Object.keys(substitutions)).toHaveLength(1 + 10 + 62 + 2);
  });

  it('are refused past 256 KiB: 800 workers\' queue URLs in every event', async () => {
    const { plan } = await workflowCase('groups-62-queue');
    const big: Plan = copy(plan);
    big.workers = 800;
    big.names.queues = Array.from({ length: 800 }, (_, w) => `${plan.names.stack}-w${w}`);
    big.workflow.stages[0].launch = { kind: 'map', mode: 'distributed', maxConcurrency: 800 };
    const error = (() => { try { renderWorkflow(big); return null; } catch (e) { return e as WorkflowDefinitionError; } })();
    expect(error).toBeInstanceOf(WorkflowDefinitionError);
    expect(error!.issues).toHaveLength(1);
    expect(error!.issues[0]).toMatch(new RegExp(`^state "Layers 1-12 · 800 workers": its ItemSelector may reach \\d+ bytes per iteration, over the ${AWS_LIMITS.sfnPayloadBytes.value}-byte payload limit$`));
  });
});

describe('substitutions', () => {
  it('are filled in as CloudFormation would, refusing a missing or unknown key', async () => {
    const { definition, substitutions } = await rendered('serial');
    const values = Object.fromEntries(Object.keys(substitutions).map((k) => [k, `value-of-${k}`]));
    const concrete = substituteDefinition(definition, values);
    expect(JSON.stringify(concrete)).not.toMatch(/\$\{/);
    const task = Object.values(concrete.States).find((s) => s.Type === 'Task') as TaskState;
    expect(task.Resource).toMatch(/^value-of-Stage\d+FunctionArn$/);
    expect((task.Parameters as { stageRun: { bucket: string } }).stageRun.bucket).toBe('value-of-Bucket');
    const { Bucket: _, ...missing } = values;
    expect(() => substituteDefinition(definition, missing)).toThrow(/^field substitutions: no value for \$\{Bucket\}$/);
    expect(() => substituteDefinition(definition, { ...values, Bukket: 'x' })).toThrow(/^field substitutions: the definition has no \$\{Bukket\}$/);
  });
});

describe('the execution input', () => {
  it('is optional field by field: {} runs the plan\'s default inputs as planned; a bad field is named', async () => {
    const { plan } = await workflowCase('groups-8-queue');
    expect(parseStateMachineInput({}, plan)).toEqual({ inputs: 'default', samples: 20_000, topScores: 0 });
    expect(parseStateMachineInput({ samples: 10, topScores: 3 }, plan)).toEqual({ inputs: 'default', samples: 10, topScores: 3 });
    expect(parseStateMachineInput({ inputs: 'run-7', samples: 10 }, plan)).toEqual({ inputs: 'run-7', samples: 10, topScores: 0 });
    expect(() => parseStateMachineInput({ samples: 20_001 }, plan)).toThrow(/^state machine input, field samples: Too big: expected number to be <=20000$/);
    expect(() => parseStateMachineInput({ inputs: 'runs/x' }, plan)).toThrow(/^state machine input, field inputs: a run id \(1-80 letters, digits, - or _\) or "default"$/);
    expect(() => parseStateMachineInput({ topscores: 1 }, plan, 'input.json')).toThrow(/^input\.json, field \(root\): Unrecognized key: "topscores"$/);
    const schema = stateMachineInputJsonSchema(plan);
    expect(schema).toMatchObject({
      type: 'object', additionalProperties: false,
      properties: {
        inputs: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,80}$', description: expect.stringContaining(`default "default": the plan's default inputs, the 20000 rows it was made with, which stepinfer shards upload stages under ${plan.storage.defaultInputs}`) },
        samples: { type: 'integer', minimum: 1, maximum: 20_000 }, topScores: { type: 'integer', minimum: 0, maximum: 1024 },
      },
    });
    expect((schema as { required?: unknown }).required).toBeUndefined();
  });

  it('reaches the first stage\'s workers as the staged inputs they read; later stages read the hand-off (null)', async () => {
    const { plan, definition } = await rendered('groups-8-queue');
    const stageRunOf = (i: number) => ((definition.States[stageStateName(plan, plan.workflow.stages[i])] as MapState).ItemSelector as { stageRun: Record<string, unknown> }).stageRun;
    expect(stageRunOf(0)['inputs.$']).toBe('$.input.inputs');
    expect(stageRunOf(0)).not.toHaveProperty('inputs');
    expect(stageRunOf(1).inputs).toBeNull();
    expect(stageRunOf(1)).not.toHaveProperty('inputs.$');
  });

  it("defaults are what the workflow's first state merges the given input over", async () => {
    const { plan, definition } = await rendered('groups-8-queue');
    expect(definition.States['Read input']).toMatchObject({ Type: 'Pass', Parameters: { defaults: parseStateMachineInput({}, plan), 'given.$': '$' } });
    expect(definition.States['Start run']).toMatchObject({ Type: 'Pass', Parameters: { 'input.$': 'States.JsonMerge($.defaults, $.given, false)', attempts: { stage0: 0, stage1: 0 }, workers: [0, 1, 2, 3, 4, 5, 6, 7] } });
  });
});
