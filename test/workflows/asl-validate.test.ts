// Validation of workflows collects every problem before it fails, each naming its state.

import { describe, expect, it } from 'vitest';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import {
  assertValidWorkflow, templateBytesBound, workflowProblems, DYNAMIC_VALUE_MAX_BYTES,
  type Retrier, type StateMachine, type Substitutions,
} from '../../workflows/asl/index.ts';

const retry: Retrier[] = [{ ErrorEquals: ['Lambda.ServiceException'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' }];
const bucket: Substitutions = { Bucket: { meaning: 'the bucket', resource: 's3Bucket', value: 'name', name: 'b-1' } };

describe('workflow validation', () => {
  it('accepts a small valid workflow', () => {
    const ok: StateMachine = {
      QueryLanguage: 'JSONPath', StartAt: 'Work', TimeoutSeconds: 100,
      States: {
        Work: { Type: 'Task', Resource: 'arn:f', Parameters: { bucket: '${Bucket}' }, TimeoutSeconds: 10, Retry: retry, ResultPath: null, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }], End: true },
        Failed: { Type: 'Fail', Error: 'Failed' },
      },
    };
    expect(workflowProblems({ definition: ok, substitutions: bucket })).toEqual([]);
    expect(() => assertValidWorkflow({ definition: ok, substitutions: bucket }, 'w')).not.toThrow();
  });

  it('lists every problem, each with its state, before it fails', () => {
    const longName = 'L'.repeat(81);
    const broken = {
      QueryLanguage: 'JSONPath', StartAt: 'Start', TimeoutSeconds: 50,
      States: {
        Start: { Type: 'Pass', Next: 'Nowhere' },
        Slow: { Type: 'Task', Resource: 'arn:f', TimeoutSeconds: 60, Retry: retry, ResultSelector: { 'x.$': '$.x' }, Next: 'Loop' },
        Untimed: { Type: 'Task', Resource: 'arn:f', Retry: [{ ...retry[0], JitterStrategy: 'NONE' }], End: true },
        Loop: { Type: 'Pass', Next: 'Slow' },
        Jsonata: { Type: 'Pass', Output: '{% $states.input %}', End: true },
        [longName]: { Type: 'Succeed' },
        Fan: {
          Type: 'Map', MaxConcurrency: 10, End: true,
          ItemSelector: { stageRun: { workers: 50, channel: { kind: 'queue' }, bucket: '${Bucket}', url: '${QueueUrl0}' } },
          ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Fan', States: { Fan: { Type: 'Task', Resource: 'arn:f', TimeoutSeconds: 5, Retry: retry, ResultSelector: {}, End: true } } },
        },
      },
    } as unknown as StateMachine;
    const problems = workflowProblems({ definition: broken, substitutions: { ...bucket, Unused: { ...bucket.Bucket, name: 'b-2' } } });
    expect(problems).toEqual([
      `state name "${longName}" has 81 characters, allowed 1-80`,
      'state name "Fan" is used 2 times: names are unique in the whole state machine, nested states included',
      'state "Start": goes to "Nowhere", which is not a state of the state machine',
      'state "Slow": is never reached from the state machine\'s StartAt "Start"',
      'state "Untimed": is never reached from the state machine\'s StartAt "Start"',
      'state "Loop": is never reached from the state machine\'s StartAt "Start"',
      'state "Jsonata": is never reached from the state machine\'s StartAt "Start"',
      `state "${longName}": is never reached from the state machine's StartAt "Start"`,
      'state "Fan": is never reached from the state machine\'s StartAt "Start"',
      'state "Start": no path from it ends the state machine',
      'state "Slow": no path from it ends the state machine',
      'state "Loop": no path from it ends the state machine',
      'state "Slow": TimeoutSeconds 60 is longer than the execution\'s 50',
      'state "Untimed": needs TimeoutSeconds, a whole number >= 1 (a Task without one dies after 60 s locally, waits up to a year on AWS)',
      'state "Untimed": a Retry of Lambda.ServiceException needs JitterStrategy FULL, so throttled workers do not retry in step',
      'state "Untimed": keep only small fields of the result (ResultSelector) or drop it (ResultPath null): results count against the 262144-byte payload',
      'state "Jsonata": Output is JSONata or variables, which aws-local-stepfunctions ignores: JSONPath only',
      'state "Fan": an inline Map runs at most 40 iterations at once, and its 50 workers exchange rows and wait for each other: it would deadlock (use a distributed Map or a launch tree)',
      'state "Fan": MaxConcurrency 10 runs fewer than its 50 workers at once, and they wait for each other: it would deadlock',
      '${QueueUrl0} has no substitution',
      'substitution Unused is not used by the definition',
    ]);
    const error = (() => { try { assertValidWorkflow({ definition: broken }, 'plan.asl.json'); return null; } catch (e) { return e as WorkflowDefinitionError; } })();
    expect(error).toBeInstanceOf(WorkflowDefinitionError);
    expect(error!.message).toBe(`plan.asl.json: state name "${longName}" has 81 characters, allowed 1-80 (and ${error!.issues.length - 1} more problems)`);
  });

  it('bounds a payload template: static JSON, run-time values and substitutions at their longest', () => {
    expect(templateBytesBound({ a: 1, b: [true, null] })).toBe(JSON.stringify({ a: 1, b: [true, null] }).length);
    expect(templateBytesBound({ 'n.$': '$.n' })).toBe('{"n":}'.length + DYNAMIC_VALUE_MAX_BYTES);
    // A bucket name is at most 63 characters; 256 more cover an ARN's or URL's prefix.
    expect(templateBytesBound({ b: '${Bucket}' }, bucket)).toBe('{"b":""}'.length + 63 + 256);
  });
});
