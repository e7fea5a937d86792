// The plans the workflow tests render, one per shape, launch, channel and workflow type, built once
// per test file by the planner on the generated 1024 x 12 network (test/helpers/plans.ts).

import type { BuiltPlan } from '../../planner/plan/index.ts';
import { builtPlanOf, slowStepFunctions, type PlanCase } from './plans.ts';

const grouped = (workers: number, channel: 'queue' | 'object', launch: 'map' | 'tree', extra: Partial<PlanCase['search']> = {}): PlanCase => ({
  rows: 20_000, constants: slowStepFunctions,
  search: { objective: 'latency', workerCounts: [workers], channels: [channel], launches: [launch], shapes: ['layer-groups'], workflowTypes: ['STANDARD'], ...extra },
});

/** Every case by name: serial and stages (one worker), map-per-layer, layer groups by channel, launch and worker count. */
export const WORKFLOW_CASES = {
  'serial': { rows: 2000, search: { workerCounts: [1], shapes: ['serial'], workflowTypes: ['STANDARD'] } },
  'serial-express': { rows: 2000, search: { workerCounts: [1], shapes: ['serial'], workflowTypes: ['EXPRESS'] } },
  'stages': { rows: 2000, search: { workerCounts: [1], shapes: ['stages'], groups: 3, workflowTypes: ['STANDARD'] } },
  'map-per-layer-8': { rows: 20_000, search: { workerCounts: [8], shapes: ['map-per-layer'], workflowTypes: ['STANDARD'] } },
  'groups-8-queue': grouped(8, 'queue', 'map', { groups: 2 }),
  'groups-8-object': grouped(8, 'object', 'map', { groups: 2 }),
  'groups-8-queue-express': grouped(8, 'queue', 'map', { groups: 2, workflowTypes: ['EXPRESS'] }),
  'groups-40-queue': grouped(40, 'queue', 'map'),
  'groups-41-queue': grouped(41, 'queue', 'map'),
  'groups-62-queue': grouped(62, 'queue', 'map'),
  'groups-62-object-tree': grouped(62, 'object', 'tree'),
  'groups-62-queue-tree': grouped(62, 'queue', 'tree', { groups: 2 }),
} as const satisfies Record<string, PlanCase>;

export type WorkflowCaseName = keyof typeof WORKFLOW_CASES;

const built = new Map<WorkflowCaseName, Promise<BuiltPlan>>();

/** The plan and report of a case, built on first use. */
export function workflowCase(name: WorkflowCaseName): Promise<BuiltPlan> {
  let plan = built.get(name);
  if (!plan) {
    plan = builtPlanOf(WORKFLOW_CASES[name]);
    built.set(name, plan);
  }
  return plan;
}
