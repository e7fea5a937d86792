// Reading a plan file of either kind at the edge: a stages plan (planner/plan/stages-schema.ts)
// beside the sparse plan cli/files.ts readPlanFile reads, through parseAnyPlan's dispatch on
// `kind`. Errors name the file and field.

import { parseAnyPlan, parseStagesPlan, type AnyPlan, type StagesPlan } from '../../planner/plan/stages-schema.ts';
import { readJsonFile } from '../files.ts';

/** A stages plan file, read and validated. */
export function readStagesPlanFile(file: string): StagesPlan {
  return parseStagesPlan(readJsonFile(file, 'plan file not found'), file);
}

/** A plan file of either kind, read and validated. */
export function readAnyPlanFile(file: string): AnyPlan {
  return parseAnyPlan(readJsonFile(file, 'plan file not found'), file);
}
