// The interpreter's event log read back (workflows/local/execution-events.ts), on hand-made logs:
// events out of dispatch order are put in time order, a retried state stays one entry with its
// retries, a caught failure and an iteration stopped with its Map are told apart, and transitions
// are counted as Step Functions bills them, a distributed Map's child executions apart.

import { describe, expect, it } from 'vitest';
import { executedStates, transitionsOf, type ExecutionEvent } from '../../workflows/local/execution-events.ts';
import type { StateMachine } from '../../workflows/asl/index.ts';

const state = (name: string, type = 'Task') => ({ name, type: type as 'Task', input: null });
const at = (timestamp: number, e: Record<string, unknown>) => ({ timestamp, ...e }) as unknown as ExecutionEvent;

/** Start -> a distributed Map of one Task per worker -> End. */
const definition = (mode: 'INLINE' | 'DISTRIBUTED'): StateMachine => ({
  QueryLanguage: 'JSONPath', StartAt: 'Start', States: {
    Start: { Type: 'Pass', Next: 'Stage' },
    Stage: {
      Type: 'Map', ItemsPath: '$.workers', End: true,
      ItemProcessor: { ProcessorConfig: mode === 'DISTRIBUTED' ? { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } : { Mode: 'INLINE' }, StartAt: 'Worker', States: { Worker: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:w', TimeoutSeconds: 9, End: true } } },
    },
  },
});

// Dispatch order as the interpreter forwards a Map's iterations: not time order.
const LOG: ExecutionEvent[] = [
  at(0, { type: 'ExecutionStarted', input: {} }),
  at(1, { type: 'StateEntered', state: state('Start', 'Pass') }),
  at(2, { type: 'StateExited', state: state('Start', 'Pass') }),
  at(3, { type: 'StateEntered', state: state('Stage', 'Map') }),
  at(40, { type: 'StateExited', state: state('Stage', 'Map') }),
  at(4, { type: 'MapIterationStarted', index: 1, parentState: state('Stage', 'Map') }),
  at(5, { type: 'StateEntered', state: state('Worker'), index: 1 }),
  at(9, { type: 'StateFailed', state: state('Worker'), index: 1, Error: 'Lambda.ServiceException', Cause: 'busy' }),
  at(10, { type: 'StateRetried', state: state('Worker'), index: 1, retry: { retrier: {}, attempt: 1 } }),
  at(30, { type: 'StateExited', state: state('Worker'), index: 1 }),
  at(31, { type: 'MapIterationSucceeded', index: 1, parentState: state('Stage', 'Map') }),
  at(4, { type: 'MapIterationStarted', index: 0, parentState: state('Stage', 'Map') }),
  at(6, { type: 'StateEntered', state: state('Worker'), index: 0 }),
  at(20, { type: 'StateExited', state: state('Worker'), index: 0 }),
  at(24, { type: 'MapIterationSucceeded', index: 0, parentState: state('Stage', 'Map') }),
  at(41, { type: 'ExecutionSucceeded', output: {} }),
];

describe('the event log read back', () => {
  it('states in the order entered, each with its times, outcome and retries', () => {
    expect(executedStates(LOG).map((s) => [s.name, s.index, s.enteredMs, s.exitedMs, s.outcome, s.retries])).toEqual([
      ['Start', null, 1, 2, 'succeeded', 0],
      ['Stage', null, 3, 40, 'succeeded', 0],
      ['Worker', 1, 5, 30, 'succeeded', 1],
      ['Worker', 0, 6, 20, 'succeeded', 0],
    ]);
  });

  it('a caught failure, a failure that ended the execution and an iteration stopped with its Map', () => {
    const states = executedStates([
      at(1, { type: 'StateEntered', state: state('Stage', 'Map') }),
      at(2, { type: 'StateEntered', state: state('Worker'), index: 0 }),
      at(2, { type: 'StateEntered', state: state('Worker'), index: 1 }),
      at(5, { type: 'StateFailed', state: state('Worker'), index: 1, Error: 'WorkerCrashed', Cause: 'boom' }),
      at(6, { type: 'StateFailed', state: state('Stage', 'Map'), Error: 'WorkerCrashed', Cause: 'boom' }),
      at(6, { type: 'StateCaught', state: state('Stage', 'Map'), catch: { catcher: {} } }),
      at(7, { type: 'StateExited', state: state('Stage', 'Map') }),
      at(8, { type: 'StateEntered', state: state('Clean up') }),
      at(9, { type: 'StateFailed', state: state('Clean up'), Error: 'S3.AccessDenied', Cause: 'denied' }),
    ]);
    expect(states.map((s) => [s.name, s.index, s.outcome, s.exitedMs, s.error])).toEqual([
      ['Stage', null, 'caught', 7, { error: 'WorkerCrashed', cause: 'boom' }],
      ['Worker', 0, 'aborted', null, null],
      ['Worker', 1, 'failed', 5, { error: 'WorkerCrashed', cause: 'boom' }],
      ['Clean up', null, 'failed', 9, { error: 'S3.AccessDenied', cause: 'denied' }],
    ]);
  });

  it('transitions: every state entered and retried; a distributed Map bills one per child started, the children\'s states apart', () => {
    expect(transitionsOf(LOG, definition('INLINE'))).toEqual({ transitions: 5, childExecutions: 0, childTransitions: 0, childExecutionMs: [], executionMs: 41 });
    expect(transitionsOf(LOG, definition('DISTRIBUTED'))).toEqual({ transitions: 4, childExecutions: 2, childTransitions: 3, childExecutionMs: [20, 27], executionMs: 41 });
  });
});
