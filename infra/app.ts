// The CDK app: `npx cdk synth -c plan=path/to/plan.json` (cdk.json runs this file) builds the
// stack of that plan, with cdk-nag's AwsSolutions checks on the synth. The plan is read and
// validated here, at the edge; the stack is built from it alone.

import { readFileSync } from 'node:fs';
import { App, type AppProps } from 'aws-cdk-lib';
import { fileAccessError, StepinferError, UsageError } from '../model/errors.ts';
import { parsePlan, type Plan } from '../planner/plan/schema.ts';
import { addNagChecks } from './nag.ts';
import { PlanStack } from './plan-stack.ts';
import { PLAN_CONTEXT_KEY } from './context.ts';

export { PLAN_CONTEXT_KEY };

/** A plan file read and validated (a missing or bad file fails naming it). */
export function readPlanFile(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw fileAccessError(error, file);
  }
  return parsePlan(text, file);
}

/**
 * Feature flags the stack is written for, set on the app here (not in cdk.json) so tests' apps
 * get them too: the access log bucket takes S3's log delivery by a bucket policy, not the
 * deprecated LogDeliveryWrite ACL.
 */
export const PLAN_APP_FLAGS: Readonly<Record<string, boolean>> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/** The plan's stack in an app, checked by cdk-nag on synth. */
export function addPlanStack(app: App, plan: Plan): PlanStack {
  for (const [flag, value] of Object.entries(PLAN_APP_FLAGS)) app.node.setContext(flag, value);
  addNagChecks(app);
  return new PlanStack(app, 'PlanStack', { plan });
}

/** A new app of one plan (tests pass an outdir and context). */
export function planApp(plan: Plan, props: AppProps = {}): { app: App; stack: PlanStack } {
  const app = new App(props);
  return { app, stack: addPlanStack(app, plan) };
}

/** The app the CDK CLI runs: the plan named by `-c plan=...`. */
export function appFromContext(app: App = new App()): App {
  const file = app.node.tryGetContext(PLAN_CONTEXT_KEY) as unknown;
  if (typeof file !== 'string' || file === '') throw new UsageError('name the plan: cdk synth -c plan=path/to/plan.json', { field: 'plan' });
  addPlanStack(app, readPlanFile(file));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    appFromContext().synth();
  } catch (error) {
    if (error instanceof StepinferError) {
      console.error(`stepinfer infra: ${error.message}`);
      process.exit(error.exitCode);
    }
    throw error;
  }
}
