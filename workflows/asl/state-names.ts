// Names of the generated states, saying what each does, so the console's graph reads as the
// per-layer execution graph ("Layers 1-60 · 8 workers", "Worker · layers 1-60", "Gather").
// Names are unique in the whole state machine (nested states included) and at most 80 characters
// (validate.ts checks both).

import type { Plan, PlanStage } from '../../planner/plan/schema.ts';

export const READ_INPUT_STATE = 'Read input';
export const START_RUN_STATE = 'Start run';
export const GATHER_STATE = 'Gather';
export const CLEAN_UP_STATE = 'Clean up';
export const RUN_FAILED_STATE = 'Run failed';

/** "layers 1-60", or "layer 7" for one. */
export function layersText(stage: Pick<PlanStage, 'firstLayer' | 'lastLayer'>): string {
  return stage.firstLayer === stage.lastLayer ? `layer ${stage.firstLayer}` : `layers ${stage.firstLayer}-${stage.lastLayer}`;
}

const capitalized = (text: string) => text[0].toUpperCase() + text.slice(1);

/** The stage's state: "Layers 1-60 · 8 workers", "Layers 1-60 · 62 workers (launch tree)". */
export function stageStateName(plan: Plan, stage: PlanStage): string {
  const workers = `${plan.workers} worker${plan.workers === 1 ? '' : 's'}`;
  return `${capitalized(layersText(stage))} · ${workers}${stage.launch.kind === 'tree' ? ' (launch tree)' : ''}`;
}

/** The Task every iteration of a stage's Map runs: "Worker · layers 1-60". */
export function workerStateName(stage: PlanStage): string {
  return `Worker · ${layersText(stage)}`;
}

/** The Choice after a stage failed: retry it under a new attempt, or give up. */
export function stageFailedStateName(stage: PlanStage): string {
  return `${capitalized(layersText(stage))} failed`;
}

/** The Pass that counts the stage's new attempt before it runs again. */
export function retryStageStateName(stage: PlanStage): string {
  return `Retry ${layersText(stage)}`;
}
