// The CDK stack of a stages plan (planner/plan/stages-schema.ts; AMPS-Inf's dense stages), built
// from the plan and the folder of its stage files alone, as the sparse plan's stack is
// (infra/plan-stack.ts, with which it shares its parts: infra/stack-parts.ts): the plan's bucket
// (run objects under `runs/` expire), one Lambda function per stage running the dense stage
// handler (functions/handlers/dense-stage.ts) whose package holds the stage's own sub-model and
// onnxruntime-node for its architecture (infra/stage-package.ts), and the state machine: the
// generated chain of Tasks (workflows/asl/render-stages.ts) with every `${Key}` resolved.
//
// Least privilege, per stage, exactly what the handler does with the plan's keys (`<execution>`
// is the run, known at run time: `*`; `<stage>` is the stage's own index):
// - stage 0 reads the input staged under the run (storage.inputs); a later stage reads the
//   previous stage's handoff object, when that stage hands over through S3 (handoff "object");
// - a stage that hands over through S3 writes its own handoff object; the last stage writes the
//   result and deletes the run's intermediates (the staged input and every handoff key);
// - stage 0's function also runs the workflow's "Clean up" of a failed run, which deletes the
//   intermediates and a result the last stage may have written.
// Nothing lists the bucket. The state machine may invoke only the stage functions.

import { fileURLToPath } from 'node:url';
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { PlanFormatError } from '../model/errors.ts';
import type { StagesPlan, StagesPlanFunction } from '../planner/plan/stages-schema.ts';
import type { Substitution } from '../workflows/asl/index.ts';
import {
  accessLogsBucket, allowObjects, commonPrefix, keyPatternResource, planBucket, planFunction, planOutputs, planStateMachine,
  resolvedDefinition, roleOf, runObjectsExpiration, staticPrefix, tagPlan, type ObjectKeyGrant,
} from './stack-parts.ts';
import { copyIntoPackage, onnxRuntimeFiles, stagePackageFiles, type PackageFile } from './stage-package.ts';

/** The dense stage handler every stage function runs (a path: infra never imports functions/). */
export const STAGE_HANDLER_ENTRY = fileURLToPath(new URL('../functions/handlers/dense-stage.ts', import.meta.url));

export interface StagesStackProps extends StackProps {
  readonly plan: StagesPlan;
  /** The folder of the plan's stage files (package.modelFile of each function), as `stepinfer stages` writes them. */
  readonly stageModelsDir: string;
}

export class StagesStack extends Stack {
  readonly plan: StagesPlan;
  readonly bucket: s3.Bucket;
  /** By plan function id. */
  readonly functions: Readonly<Record<string, NodejsFunction>>;
  /** What each function's package holds besides its bundle, by plan function id. */
  readonly packageFiles: Readonly<Record<string, readonly PackageFile[]>>;
  readonly stateMachine: sfn.StateMachine;
  /** The fixed start of every run object's key (storage.inputs, handoff, result): `runs/`. */
  readonly runPrefix: string;

  constructor(scope: Construct, id: string, props: StagesStackProps) {
    const { plan } = props;
    const stages = plan.workflow.stages.length;
    super(scope, id, { ...props, stackName: plan.names.stack, description: `stepinfer plan ${plan.planId}: stages, ${stages} stage(s) of ${plan.model.units} units, batch ${plan.batch}` });
    this.plan = plan;
    tagPlan(this, plan);

    // Every stage file is checked before anything is built: a missing or another plan's file fails the synth naming it.
    const runtime = new Map<string, PackageFile[]>();
    const packageFiles: Record<string, PackageFile[]> = {};
    for (const f of plan.functions) {
      let ort = runtime.get(f.architecture);
      if (!ort) runtime.set(f.architecture, ort = onnxRuntimeFiles(f.architecture));
      packageFiles[f.id] = stagePackageFiles(plan, f, props.stageModelsDir, ort);
    }
    this.packageFiles = packageFiles;

    const accessLogs = accessLogsBucket(this);
    const runPrefix = this.runPrefix = commonPrefix([plan.storage.inputs, plan.storage.handoff, plan.storage.result].map(staticPrefix));
    if (runPrefix === '') throw new PlanFormatError('storage.inputs, handoff and result share no fixed prefix for the run objects\' expiry', { field: 'storage' });
    this.bucket = planBucket(this, 'Bucket', { name: plan.names.bucket, accessLogs, lifecycleRules: [runObjectsExpiration(runPrefix)] });

    const functions: Record<string, NodejsFunction> = {};
    for (const f of plan.functions) {
      functions[f.id] = planFunction(this, {
        id: f.id, name: plan.names.functions[f.id], role: f.role, entry: STAGE_HANDLER_ENTRY,
        memoryMB: f.memoryMB, timeoutSeconds: f.timeoutSeconds, reservedConcurrency: f.reservedConcurrency, architecture: f.architecture,
        commandHooks: copyIntoPackage(packageFiles[f.id]),
      });
    }
    this.functions = functions;
    for (const f of plan.functions) this.grantStage(f);

    const definition = resolvedDefinition(plan, (s) => this.substitutionValue(s));
    this.stateMachine = planStateMachine(this, plan, definition, plan.functions.map((f) => functions[f.id]));
    planOutputs(this, plan, this.stateMachine, this.bucket);
  }

  /** The S3 object grants of stage function `f`: see the top of this file. */
  private grantStage(f: StagesPlanFunction): void {
    const plan = this.plan, storage = plan.storage, stages = plan.workflow.stages;
    const k = f.stage, last = stages.length - 1;
    const role = roleOf(this.functions[f.id]);
    const input: ObjectKeyGrant = ['inputs', keyPatternResource(storage.inputs)];
    const handoff = (stage: number): ObjectKeyGrant => ['handoff', keyPatternResource(storage.handoff, { stage })];
    const result: ObjectKeyGrant = ['result', keyPatternResource(storage.result)];
    // The run's intermediates as the handler removes them: the staged input and every stage's handoff key but the last's.
    const intermediates = [input, ...Array.from({ length: last }, (_, s) => handoff(s))];
    const why = 'the placeholder is the run (the execution name, known only at run time)';
    // PutObject also covers a multipart upload's parts (functions/storage/object-store.ts uploads large tensors so).
    const put = ['s3:PutObject', 's3:AbortMultipartUpload'];

    const reads = k === 0 ? [input] : stages[k - 1].output.handoff === 'object' ? [handoff(k - 1)] : [];
    allowObjects(this, role, this.bucket, ['s3:GetObject'], reads, why);
    const writes = k === last ? [result] : stages[k].output.handoff === 'object' ? [handoff(k)] : [];
    allowObjects(this, role, this.bucket, put, writes, why);
    const deletes: ObjectKeyGrant[] = [];
    if (k === last) deletes.push(...intermediates);
    // "Clean up" runs on stage 0's function: the intermediates and the result.
    if (k === 0) for (const key of [...intermediates, result]) if (!deletes.some((d) => d[1] === key[1])) deletes.push(key);
    allowObjects(this, role, this.bucket, ['s3:DeleteObject'], deletes, why);
  }

  /** The value a substitution key resolves to in this stack: a stage function's ARN or the bucket's name. */
  private substitutionValue(s: Substitution): string {
    const plan = this.plan;
    if (s.resource === 'lambdaFunction') {
      const id = Object.keys(plan.names.functions).find((k) => plan.names.functions[k] === s.name);
      if (id !== undefined) return this.functions[id].functionArn;
    }
    if (s.resource === 's3Bucket' && s.name === plan.names.bucket) return this.bucket.bucketName;
    throw new Error(`no resource of the stack for substitution ${s.resource} ${s.name}`);
  }
}
