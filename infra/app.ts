// The CDK app: `npx cdk synth -c plan=path/to/plan.json` (cdk.json runs this file) builds the
// stack of that plan, with cdk-nag's AwsSolutions checks on the synth. The plan is read and
// validated here, at the edge, and may be of either kind (parseAnyPlan): a sparse plan's stack is
// built from it alone (infra/plan-stack.ts), a stages plan's from it and the folder of its stage
// files, `-c stageModels=DIR` (infra/stages-stack.ts).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { fileAccessError, StepinferError, UsageError } from '../model/errors.ts';
import type { Plan } from '../planner/plan/schema.ts';
import { parseAnyPlan, STAGES_PLAN_KIND, type AnyPlan, type StagesPlan } from '../planner/plan/stages-schema.ts';
import { addNagChecks } from './nag.ts';
import { PlanStack } from './plan-stack.ts';
import { StagesStack } from './stages-stack.ts';
import { PLAN_CONTEXT_KEY, STAGE_MODELS_CONTEXT_KEY } from './context.ts';

export { PLAN_CONTEXT_KEY, STAGE_MODELS_CONTEXT_KEY };

/** A plan file of either kind, read and validated (a missing or bad file fails naming it). */
export function readPlanFile(file: string): AnyPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw fileAccessError(error, file);
  }
  return parseAnyPlan(text, file);
}

/**
 * Feature flags the stack is written for, set on the app here (not in cdk.json) so tests' apps
 * get them too: the access log bucket takes S3's log delivery by a bucket policy, not the
 * deprecated LogDeliveryWrite ACL.
 */
export const PLAN_APP_FLAGS: Readonly<Record<string, boolean>> = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/** The app's construct id of the plan's stack, of either kind (its template: PlanStack.template.json). */
export const PLAN_STACK_ID = 'PlanStack';

/** Sets the stack's feature flags and cdk-nag's checks on the app. */
function preparePlanApp(app: App): void {
  for (const [flag, value] of Object.entries(PLAN_APP_FLAGS)) app.node.setContext(flag, value);
  addNagChecks(app);
}

/** The plan's stack in an app, checked by cdk-nag on synth. */
export function addPlanStack(app: App, plan: Plan): PlanStack {
  preparePlanApp(app);
  return new PlanStack(app, PLAN_STACK_ID, { plan });
}

/** A stages plan's stack in an app, its packages holding the stage files of `stageModelsDir`, checked by cdk-nag on synth. */
export function addStagesStack(app: App, plan: StagesPlan, stageModelsDir: string): StagesStack {
  preparePlanApp(app);
  return new StagesStack(app, PLAN_STACK_ID, { plan, stageModelsDir: resolve(stageModelsDir) });
}

/** A new app of one plan (tests pass an outdir and context). */
export function planApp(plan: Plan, props: AppProps = {}): { app: App; stack: PlanStack } {
  const app = new App(props);
  return { app, stack: addPlanStack(app, plan) };
}

/** A new app of one stages plan and its stage files (tests pass an outdir and context). */
export function stagesApp(plan: StagesPlan, stageModelsDir: string, props: AppProps = {}): { app: App; stack: StagesStack } {
  const app = new App(props);
  return { app, stack: addStagesStack(app, plan, stageModelsDir) };
}

/** The app the CDK CLI runs: the plan named by `-c plan=...` (and a stages plan's stage files by `-c stageModels=DIR`). */
export function appFromContext(app: App = new App()): App {
  const file = app.node.tryGetContext(PLAN_CONTEXT_KEY) as unknown;
  if (typeof file !== 'string' || file === '') throw new UsageError('name the plan: cdk synth -c plan=path/to/plan.json', { field: PLAN_CONTEXT_KEY });
  const plan = readPlanFile(file);
  if (plan.kind !== STAGES_PLAN_KIND) {
    addPlanStack(app, plan);
    return app;
  }
  const dir = app.node.tryGetContext(STAGE_MODELS_CONTEXT_KEY) as unknown;
  if (typeof dir !== 'string' || dir === '') {
    throw new UsageError(`${file} is a stages plan: name the folder of its stage files, cdk synth -c plan=${file} -c ${STAGE_MODELS_CONTEXT_KEY}=DIR (written by stepinfer stages ${file} -o DIR)`, { field: STAGE_MODELS_CONTEXT_KEY });
  }
  addStagesStack(app, plan, dir);
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
