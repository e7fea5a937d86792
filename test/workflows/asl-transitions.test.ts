// The generator produces what the planner priced: the state transitions one successful execution
// of the generated definition makes (counted by walking it) equal the planner's count for every
// shape, launch and workflow type, and the walk agrees with the states aws-local-stepfunctions
// actually enters.

import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import { countTransitions, renderWorkflow, substituteDefinition, type StateMachine as Definition } from '../../workflows/asl/index.ts';
import { WORKFLOW_CASES, workflowCase, type WorkflowCaseName } from '../helpers/workflow-plans.ts';

const CASES = Object.keys(WORKFLOW_CASES) as WorkflowCaseName[];

/** Transitions of one successful execution, pinned: 2 start Pass states, each stage, the gather. */
const EXPECTED: Record<WorkflowCaseName, { transitions: number; childExecutions: number }> = {
  'serial': { transitions: 2 + 1, childExecutions: 0 },
  'serial-express': { transitions: 2 + 1, childExecutions: 0 },
  'stages': { transitions: 2 + 3, childExecutions: 0 },
  // 12 Maps of 8 iterations of one Task each.
  'map-per-layer-8': { transitions: 2 + 12 * (1 + 8) + 1, childExecutions: 0 },
  'groups-8-queue': { transitions: 2 + 2 * (1 + 8) + 1, childExecutions: 0 },
  'groups-8-object': { transitions: 2 + 2 * (1 + 8) + 1, childExecutions: 0 },
  'groups-8-queue-express': { transitions: 2 + 2 * (1 + 8) + 1, childExecutions: 0 },
  'groups-40-queue': { transitions: 2 + (1 + 40) + 1, childExecutions: 0 },
  // A distributed Map: one transition, one per child execution started; the children are Express.
  'groups-41-queue': { transitions: 2 + (1 + 41) + 1, childExecutions: 41 },
  'groups-62-queue': { transitions: 2 + (1 + 62) + 1, childExecutions: 62 },
  'groups-62-object-tree': { transitions: 2 + 1 + 1, childExecutions: 0 },
  'groups-62-queue-tree': { transitions: 2 + 2 + 1, childExecutions: 0 },
};

describe('state transitions of a successful execution', () => {
  it.each(CASES)('%s: the generated definition makes exactly what the planner priced', async (name) => {
    const { plan, report } = await workflowCase(name);
    const count = countTransitions(renderWorkflow(plan).definition);
    expect({ transitions: count.transitions, childExecutions: count.childExecutions }).toEqual(EXPECTED[name]);
    const priced = report.predicted.counters;
    if (plan.workflow.type === 'STANDARD') {
      expect(priced.sfnStandardTransitions).toBe(count.transitions);
      expect(priced.sfnExpressRequests).toBe(count.childExecutions);
    } else {
      // An Express workflow is billed per execution and duration, not per transition.
      expect(priced.sfnStandardTransitions).toBe(0);
      expect(priced.sfnExpressRequests).toBe(1 + count.childExecutions);
    }
    // Each child execution runs one worker Task.
    expect(count.childTransitions).toBe(count.childExecutions);
  });

  it.each(['serial', 'stages', 'groups-8-queue', 'map-per-layer-8', 'groups-62-object-tree'] as const)(
    '%s: equal the states aws-local-stepfunctions enters', async (name) => {
      const { plan } = await workflowCase(name);
      const { definition, substitutions } = renderWorkflow(plan);
      const concrete = substituteDefinition(definition, Object.fromEntries(Object.keys(substitutions).map((k) => [k, `arn:aws:lambda:us-east-1:123456789012:function:${k}`])));
      const machine = new StateMachine(concrete as never);
      // Every Task answers with what its ResultSelector reads.
      const answer = async () => ({
        worker: 0, attempt: 0, ok: true, startMs: 1, endMs: 2, stage: 0, invokes: 1,
        categoryCount: 1, categoriesKey: 'c', resultKey: 'r', resultCrc32: '00000000', finalNonzeros: 1,
      });
      const handlers = Object.fromEntries(allTaskNames(concrete).map((n) => [n, answer]));
      const execution = machine.run({}, { context: { Execution: { Name: 'run-1' } } as never, overrides: { taskResourceLocalHandlers: handlers } });
      let entered = 0;
      const events = (async () => { for await (const e of execution.eventLogs) if (e.type === 'StateEntered') entered++; })();
      await execution.result;
      await events;
      expect(entered).toBe(countTransitions(definition).transitions);
    },
  );

  it('refuse a path a successful execution cannot take (a Choice, a Fail) or a loop', () => {
    const choice: Definition = {
      QueryLanguage: 'JSONPath', StartAt: 'Which',
      States: { Which: { Type: 'Choice', Choices: [{ Variable: '$.x', IsPresent: true, Next: 'Done' }], Default: 'Done' }, Done: { Type: 'Succeed' } },
    };
    expect(() => countTransitions(choice)).toThrow(new WorkflowDefinitionError('state "Which": a Choice on the path of a successful execution, whose branch depends on the data', { field: 'States' }));
    const fail: Definition = { QueryLanguage: 'JSONPath', StartAt: 'Stop', States: { Stop: { Type: 'Fail', Error: 'E' } } };
    expect(() => countTransitions(fail)).toThrow(/state "Stop": a successful execution never reaches a Fail state/);
    const loop: Definition = { QueryLanguage: 'JSONPath', StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', Next: 'A' } } };
    expect(() => countTransitions(loop)).toThrow(/state "A": entered twice/);
    const parallel: Definition = {
      QueryLanguage: 'JSONPath', StartAt: 'Both',
      States: { Both: { Type: 'Parallel', Branches: [{ StartAt: 'X', States: { X: { Type: 'Pass', End: true } } }, { StartAt: 'Y', States: { Y: { Type: 'Pass', Next: 'Z' }, Z: { Type: 'Succeed' } } }], End: true } },
    };
    expect(countTransitions(parallel)).toEqual({ transitions: 4, childExecutions: 0, childTransitions: 0 });
  });
});

/** Names of every Task state, nested ones included (the local runtime's handlers are keyed by state name). */
function allTaskNames(definition: Definition): string[] {
  const out: string[] = [];
  const visit = (states: Definition['States']) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') out.push(name);
      if (state.Type === 'Map') visit(state.ItemProcessor.States);
    }
  };
  visit(definition.States);
  return out;
}
