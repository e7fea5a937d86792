// The `stages` workflow of a stages plan (workflows/asl/render-stages.ts): a chain of Tasks named
// after their layers, each with its stage's timeout and the plan's jittered Retry, every error
// caught into "Clean up" and "Run failed"; stage 0 reads the staged input, each later stage the
// output the one before it returned; ARNs and the bucket are substitutions (one key per stage:
// two stages may share a memory size); asl-validator and our validation accept it; the files
// `stepinfer regenerate` writes are snapshots.

import { describe, expect, it } from 'vitest';
import validator from 'asl-validator';
import {
  CLEAN_UP_STATE, denseStageStateName, renderStagesWorkflow, RUN_FAILED_STATE, stagesInputJsonSchema, workflowFiles, workflowProblems,
  type TaskState,
} from '../../workflows/asl/index.ts';
import { denseStageEventSchema, denseCleanupEventSchema } from '../../functions/handlers/events.ts';
import { handStagesPlan, threeStagePlan } from '../helpers/stages-plans.ts';

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('the stages workflow', () => {
  const plan = threeStagePlan();
  const { definition, substitutions } = renderStagesWorkflow(plan);
  const names = plan.workflow.stages.map(denseStageStateName);

  it('passes asl-validator and our validation', () => {
    const result = validator(copy(definition), { checkPaths: true, checkArn: true });
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
    expect(workflowProblems({ definition, substitutions })).toEqual([]);
  });

  it('is a chain of Tasks named after their layers, then the failure path', () => {
    expect(names).toEqual(['Stage 0: conv1 .. layer3.5', 'Stage 1: layer4.0 .. avgpool', 'Stage 2: flatten .. fc']);
    expect(Object.keys(definition.States)).toEqual([...names, CLEAN_UP_STATE, RUN_FAILED_STATE]);
    expect(definition.StartAt).toBe(names[0]);
    const [s0, s1, s2] = names.map((n) => definition.States[n] as TaskState);
    expect([s0.Next, s1.Next, s2.End]).toEqual([names[1], names[2], true]);
    for (const [i, task] of [s0, s1, s2].entries()) {
      expect(task.TimeoutSeconds).toBe(plan.workflow.stages[i].task.timeoutSeconds);
      expect(task.Retry).toEqual(plan.workflow.retryPolicies['lambda-transient'].map((r) => ({
        ErrorEquals: r.errorEquals, IntervalSeconds: r.intervalSeconds, MaxAttempts: r.maxAttempts, BackoffRate: r.backoffRate, JitterStrategy: 'FULL',
      })));
      expect(task.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: CLEAN_UP_STATE }]);
      expect(task.Resource).toBe(`\${Stage${i}FunctionArn}`);
    }
    expect(definition.TimeoutSeconds).toBe(plan.workflow.executionTimeoutSeconds);
    expect(definition.States[RUN_FAILED_STATE]).toMatchObject({ Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' });
    expect(definition.States[CLEAN_UP_STATE]).toMatchObject({ Type: 'Task', Resource: '${Stage0FunctionArn}', ResultPath: null, Next: RUN_FAILED_STATE });
  });

  it("passes each stage the event its handler parses, the input from the stage before", () => {
    const [s0, s1, s2] = names.map((n) => definition.States[n] as TaskState);
    // Stage 0's event is complete but for the execution name.
    const event0 = { ...s0.Parameters, runId: 'run-1' } as Record<string, unknown>;
    delete event0['runId.$'];
    const parsed = denseStageEventSchema.parse(event0);
    expect(parsed).toMatchObject({
      stage: 0, stages: 3, name: 'conv1 .. layer3.5', modelFile: 'stage0.onnx', memoryMB: 1769, input: { kind: 'staged' },
      inputDims: [1, 3, 224, 224], output: { dims: [1, 1024, 14, 14], handoff: 'object' }, bucket: '${Bucket}', planId: plan.planId,
    });
    expect(s1.Parameters).toMatchObject({ 'input.$': '$.handoff.output', inputDims: [1, 1024, 14, 14], output: { dims: [1, 2048, 1, 1], handoff: 'payload' } });
    expect(s2.Parameters).toMatchObject({ 'input.$': '$.handoff.output', inputDims: [1, 2048, 1, 1] });
    expect([s0.ResultPath, s1.ResultPath, s2.ResultPath]).toEqual(['$.handoff', '$.handoff', '$.result']);
    expect(s2.ResultSelector).toEqual({ 'resultKey.$': '$.output.key', 'crc32.$': '$.output.crc32', 'dims.$': '$.output.dims' });
    expect(s2.OutputPath).toBe('$.result');
    const cleanup = { ...(definition.States[CLEAN_UP_STATE] as TaskState).Parameters, runId: 'run-1' } as Record<string, unknown>;
    delete cleanup['runId.$'];
    expect(denseCleanupEventSchema.parse(cleanup)).toEqual({ runId: 'run-1', bucket: '${Bucket}', storage: plan.storage, stages: 3, cleanup: true });
  });

  it('names each stage function by its stage, so two stages of one memory size keep their own ARNs', () => {
    expect(Object.keys(substitutions).sort()).toEqual(['Bucket', 'Stage0FunctionArn', 'Stage1FunctionArn', 'Stage2FunctionArn']);
    expect(substitutions.Stage1FunctionArn).toMatchObject({ resource: 'lambdaFunction', value: 'arn', name: plan.names.functions['stage1-3008'] });
    const same = handStagesPlan({
      modelPath: 'm.onnx', inputDims: [1, 8],
      stages: [{ lastUnit: 1, name: 'a', memoryMB: 2048, outputDims: [1, 8] }, { lastUnit: 2, name: 'b', memoryMB: 2048, outputDims: [1, 4] }],
    });
    const r = renderStagesWorkflow(same);
    expect(r.substitutions.Stage0FunctionArn.name).toBe(same.names.functions['stage0-2048']);
    expect(r.substitutions.Stage1FunctionArn.name).toBe(same.names.functions['stage1-2048']);
  });

  it('shortens a stage name past 80 characters', () => {
    const long = `${'layer'.repeat(20)} .. fc`;
    expect(denseStageStateName({ index: 12, name: long })).toBe(`Stage 12: ${long}`.slice(0, 79) + '…');
    expect([...denseStageStateName({ index: 12, name: long })].length).toBe(80);
  });

  it('takes {} as input: the batch is staged under the execution\'s name', () => {
    const schema = stagesInputJsonSchema(plan);
    expect(schema).toMatchObject({ type: 'object', additionalProperties: false, title: `input of state machine ${plan.names.stateMachine}` });
    expect(schema.description).toContain('runs/<execution>/input.f32');
  });

  it('writes the files regenerate writes (snapshots)', async () => {
    const files = workflowFiles(plan);
    expect(files.definition.name).toBe(`${plan.names.stateMachine}.asl.json`);
    for (const f of [files.definition, files.substitutions, files.inputSchema]) {
      await expect(f.text).toMatchFileSnapshot(`./__snapshots__/stages-render/three-stages.${f.name.replace(plan.names.stateMachine, 'state-machine')}`);
    }
  });
});
