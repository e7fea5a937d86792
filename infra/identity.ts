// What identifies a deployed stack: the plan id and the digest of the generated workflow, as tags
// (and stack outputs). The stack writes them (infra/plan-stack.ts); the CLI reads them back
// through Step Functions' ListTagsForResource to tell a stack of this plan from one of another plan
// or of an older workflow. Light on purpose: no aws-cdk-lib, so the CLI loads fast.

import { createHash } from 'node:crypto';
import type { AnyPlan } from '../planner/plan/stages-schema.ts';
import { workflowFiles } from '../workflows/asl/index.ts';

export const PLAN_ID_TAG = 'stepinfer:plan-id';
export const WORKFLOW_DIGEST_TAG = 'stepinfer:workflow-sha256';
export const PLAN_ID_OUTPUT = 'PlanId';
export const STATE_MACHINE_OUTPUT = 'StateMachineArn';
export const BUCKET_OUTPUT = 'BucketName';

/**
 * The digest of the generated workflow a stack was deployed with: the first 16 hex digits of the
 * SHA-256 of the definition file's text. A stack of the same plan id with another digest was
 * deployed by another stepinfer version: out of date.
 */
export function workflowDigest(plan: AnyPlan): string {
  return createHash('sha256').update(workflowFiles(plan).definition.text).digest('hex').slice(0, 16);
}
