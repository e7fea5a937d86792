// The files `stepinfer regenerate` writes for a plan of either kind (render.ts, render-stages.ts), as text: `<names.stateMachine>.asl.json`
// (the definition), `substitutions.json` (every `${Key}` with its meaning and plan name) and
// `input.schema.json` (the execution input). Deterministic: the same plan gives byte-identical
// files, 2-space JSON with a trailing newline. The definition keeps the order it was rendered in
// (states as a successful run enters them, then the failure path; each state's fields in one fixed
// order), so a changed plan changes only the lines it should; in the other two files, where order
// means nothing, keys are sorted (numbers in keys in numeric order: QueueUrl2 before QueueUrl10).

import type { Plan } from '../../planner/plan/schema.ts';
import { STAGES_PLAN_KIND, type AnyPlan } from '../../planner/plan/stages-schema.ts';
import { stateMachineInputJsonSchema } from './input.ts';
import { renderWorkflow, type RenderOptions, type RenderedWorkflow } from './render.ts';
import { renderStagesWorkflow, stagesInputJsonSchema } from './render-stages.ts';

export interface WorkflowFile {
  /** File name, without a folder. */
  readonly name: string;
  readonly text: string;
}

export interface WorkflowFiles {
  readonly rendered: RenderedWorkflow;
  readonly definition: WorkflowFile;
  readonly substitutions: WorkflowFile;
  readonly inputSchema: WorkflowFile;
}

export const SUBSTITUTIONS_FILE = 'substitutions.json';
export const INPUT_SCHEMA_FILE = 'input.schema.json';

/** The definition's file name: the state machine's name. */
export function definitionFileName(plan: Pick<Plan, 'names'>): string {
  return `${plan.names.stateMachine}.asl.json`;
}

/** Compares keys with runs of digits as numbers ("a2" < "a10"), else by UTF-16 code units. */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [], pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x), ny = /^\d/.test(y);
    if (nx && ny) return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** The value with every object's keys in natural order (arrays keep theirs). */
export function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort(naturalCompare).map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

const jsonText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The workflow files of a plan of either kind (validated while rendered; `options` apply to a sparse plan's). */
export function workflowFiles(plan: AnyPlan, options: RenderOptions = {}): WorkflowFiles {
  const stages = plan.kind === STAGES_PLAN_KIND;
  const rendered = stages ? renderStagesWorkflow(plan) : renderWorkflow(plan, options);
  const inputSchema = stages ? stagesInputJsonSchema(plan) : stateMachineInputJsonSchema(plan);
  return {
    rendered,
    definition: { name: definitionFileName(plan), text: jsonText(rendered.definition) },
    substitutions: { name: SUBSTITUTIONS_FILE, text: jsonText(sortedKeys(rendered.substitutions)) },
    inputSchema: { name: INPUT_SCHEMA_FILE, text: jsonText(sortedKeys(inputSchema)) },
  };
}
