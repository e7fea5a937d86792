// The state transitions one successful execution of a workflow makes, counted by walking its
// definition, as Step Functions bills them: every state entered is one transition (Pass, Task,
// Map, Parallel, and each state inside every iteration of an inline Map or branch of a Parallel);
// a distributed Map is one transition plus one per child execution it starts, whose own states are
// billed as Express executions (per request and duration), not as transitions. Retries and
// redrives would add more; a successful execution without them is what the planner prices
// (planner/optimize/estimate.ts), and a test keeps the two counts equal for every shape.
// @see https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html

import { WorkflowDefinitionError } from '../../model/errors.ts';
import type { Branch, MapState, State } from './asl.ts';
import { mapStage } from './validate.ts';

export interface TransitionCount {
  /** Transitions of the execution itself: what a Standard workflow bills. */
  readonly transitions: number;
  /** Child executions started by distributed Maps (Express: billed per request and duration). */
  readonly childExecutions: number;
  /** States entered inside those child executions. */
  readonly childTransitions: number;
}

/** Iterations of a Map in the execution being counted. */
export type MapIterations = (name: string, state: MapState) => number;

/** The iterations of a generated stage Map: its workers (the StageRun template of its ItemSelector says how many). */
export const stageMapIterations: MapIterations = (name, state) => {
  const stage = mapStage(state);
  if (!stage) throw new WorkflowDefinitionError(`state "${name}": a Map of no stage; say how many iterations it runs`, { field: 'mapIterations' });
  return stage.workers;
};

interface Tally { transitions: number; childExecutions: number; childTransitions: number }

function walk(scope: Branch, iterations: MapIterations, tally: Tally): void {
  let name: string | undefined = scope.StartAt;
  const seen = new Set<string>();
  while (name !== undefined) {
    if (seen.has(name)) throw new WorkflowDefinitionError(`state "${name}": entered twice on the way to the end, a loop no successful execution takes`, { field: 'States' });
    seen.add(name);
    const state: State | undefined = scope.States[name];
    if (!state) throw new WorkflowDefinitionError(`no state "${name}"`, { field: 'States' });
    tally.transitions += 1;
    if (state.Type === 'Choice') {
      throw new WorkflowDefinitionError(`state "${name}": a Choice on the path of a successful execution, whose branch depends on the data`, { field: 'States' });
    }
    if (state.Type === 'Fail') throw new WorkflowDefinitionError(`state "${name}": a successful execution never reaches a Fail state`, { field: 'States' });
    if (state.Type === 'Parallel') for (const branch of state.Branches) walk(branch, iterations, tally);
    if (state.Type === 'Map') {
      const n = iterations(name, state);
      const inner: Tally = { transitions: 0, childExecutions: 0, childTransitions: 0 };
      walk(state.ItemProcessor, iterations, inner);
      if (state.ItemProcessor.ProcessorConfig.Mode === 'DISTRIBUTED') {
        tally.transitions += n;
        tally.childExecutions += n * (1 + inner.childExecutions);
        tally.childTransitions += n * (inner.transitions + inner.childTransitions);
      } else {
        tally.transitions += n * inner.transitions;
        tally.childExecutions += n * inner.childExecutions;
        tally.childTransitions += n * inner.childTransitions;
      }
    }
    name = 'Next' in state && typeof state.Next === 'string' ? state.Next : undefined;
  }
}

/** The transitions of one successful execution without retries. */
export function countTransitions(definition: Branch, iterations: MapIterations = stageMapIterations): TransitionCount {
  const tally: Tally = { transitions: 0, childExecutions: 0, childTransitions: 0 };
  walk(definition, iterations, tally);
  return { ...tally };
}
