// What the stack of either kind of plan is made of in the same way (infra/plan-stack.ts for a
// sparse plan, infra/stages-stack.ts for a stages plan): the plan id tag, the bucket with its
// access log bucket and the run objects' expiry, a Lambda function with its own role and log group
// bundled by NodejsFunction from the one bundling definition (planner/plan/handler-bundle.ts),
// S3 object grants by the plan's key patterns (each `*` acknowledged to cdk-nag with the storage
// field it stands for), the state machine from the generated ASL with every `${Key}` resolved and
// its identity tags, and the stack outputs the CLI reads back. Every construct is created in the
// stack's own scope under the id the sparse stack has always given it, so templates do not move.

import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { HANDLER_BUNDLE } from '../planner/plan/handler-bundle.ts';
import type { AnyPlan } from '../planner/plan/stages-schema.ts';
import { substituteDefinition, workflowFiles, type Substitution } from '../workflows/asl/index.ts';
import { acknowledge } from './nag.ts';
import { BUCKET_OUTPUT, PLAN_ID_OUTPUT, PLAN_ID_TAG, STATE_MACHINE_OUTPUT, WORKFLOW_DIGEST_TAG, workflowDigest } from './identity.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCK_FILE = fileURLToPath(new URL('../package-lock.json', import.meta.url));

/**
 * Days after which the plan bucket's run objects (under the storage patterns' common prefix,
 * `runs/`) expire. A run removes its own intermediates at its end (functions/handlers/cleanup.ts,
 * the dense stage handler's last stage); this removes what a run that never reached its end left
 * behind, and a run's staged inputs no execution of its name read. A sparse plan's default inputs
 * (storage.defaultInputs, `inputs/default/`) lie outside the prefix: they stay until the next
 * `stepinfer shards upload` replaces them. Results share the prefix (S3 lifecycle filters match
 * prefixes, not patterns), so they are kept this long too (a number of our choosing: the plan has
 * no field for it; copy them elsewhere to keep them longer).
 */
export const RUN_OBJECTS_EXPIRATION_DAYS = 30;

/**
 * A storage key pattern as an IAM resource suffix: the placeholders given in `fixed` take their
 * value (a stage's own index), every other <placeholder> matches any text.
 */
export function keyPatternResource(pattern: string, fixed: Readonly<Record<string, string | number>> = {}): string {
  return pattern.replace(/<([a-z]+)>/g, (_, name: string) => (Object.hasOwn(fixed, name) ? String(fixed[name]) : '*'));
}

/** The fixed text before a key pattern's first placeholder. */
export function staticPrefix(pattern: string): string {
  const at = pattern.indexOf('<');
  return at < 0 ? pattern : pattern.slice(0, at);
}

/** The longest common leading text of the strings. */
export function commonPrefix(texts: readonly string[]): string {
  let prefix = texts[0] ?? '';
  for (const t of texts) while (!t.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/** The stack's plan id tag (on every resource that takes tags). */
export function tagPlan(stack: Stack, plan: AnyPlan): void {
  Tags.of(stack).add(PLAN_ID_TAG, plan.planId);
}

/** The server access log bucket of the stack's buckets. */
export function accessLogsBucket(stack: Stack): s3.Bucket {
  const accessLogs = new s3.Bucket(stack, 'AccessLogs', {
    encryption: s3.BucketEncryption.S3_MANAGED, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  acknowledge(accessLogs, 'AwsSolutions-S1', 'the server access log bucket itself: logging its own writes would log without end');
  return accessLogs;
}

/** A plan bucket: encrypted, public access blocked, TLS only, access logged under its name, kept on stack deletion. */
export function planBucket(stack: Stack, id: string, props: { readonly name: string; readonly accessLogs: s3.IBucket; readonly lifecycleRules: s3.LifecycleRule[] }): s3.Bucket {
  return new s3.Bucket(stack, id, {
    bucketName: props.name,
    encryption: s3.BucketEncryption.S3_MANAGED, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, enforceSSL: true,
    serverAccessLogsBucket: props.accessLogs, serverAccessLogsPrefix: `${props.name}/`,
    removalPolicy: RemovalPolicy.RETAIN,
    lifecycleRules: props.lifecycleRules,
  });
}

/** The lifecycle rule expiring the run objects under `runPrefix`. */
export function runObjectsExpiration(runPrefix: string): s3.LifecycleRule {
  return { id: 'expire-run-objects', enabled: true, prefix: runPrefix, expiration: Duration.days(RUN_OBJECTS_EXPIRATION_DAYS) };
}

/** A plan function as the stack deploys it. */
export interface PlanFunctionSpec {
  /** The plan's function id ("worker-1769", "stage0-1769"): the constructs' ids derive from it. */
  readonly id: string;
  /** The function's name (plan.names.functions). */
  readonly name: string;
  /** Its role, for the role's description and the logger's service name. */
  readonly role: string;
  /** The handler's entry file (a path: infra never imports functions/). */
  readonly entry: string;
  readonly memoryMB: number;
  readonly timeoutSeconds: number;
  readonly reservedConcurrency: number;
  readonly architecture: 'x86_64' | 'arm64';
  /** Commands run after esbuild (locally, no Docker): files the package carries beside the bundle. */
  readonly commandHooks?: ICommandHooks;
}

/** The constructs' id of a plan function: "worker-1769" -> "Worker1769". */
export function functionConstructId(functionId: string): string {
  return functionId.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}

/** A plan function with its own role (may write its own log group, nothing else yet) and log group. */
export function planFunction(stack: Stack, f: PlanFunctionSpec): NodejsFunction {
  const id = functionConstructId(f.id);
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, {
    logGroupName: `/aws/lambda/${f.name}`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new iam.Role(stack, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `the ${f.role} function ${f.name}` });
  logGroup.grantWrite(role);
  return new NodejsFunction(stack, id, {
    functionName: f.name,
    entry: f.entry,
    handler: 'handler',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: f.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
    memorySize: f.memoryMB,
    timeout: Duration.seconds(f.timeoutSeconds),
    reservedConcurrentExecutions: f.reservedConcurrency,
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: { POWERTOOLS_SERVICE_NAME: `stepinfer-${f.role}`, POWERTOOLS_LOG_LEVEL: 'INFO' },
    projectRoot: REPO_ROOT,
    depsLockFilePath: LOCK_FILE,
    bundling: {
      format: OutputFormat.ESM, target: HANDLER_BUNDLE.target, mainFields: [...HANDLER_BUNDLE.mainFields], banner: HANDLER_BUNDLE.banner,
      // The bundle carries its SDK clients: the versions the handlers were tested with, and no
      // dependence on what the runtime ships (an explicit externalModules replaces bundleAwsSDK's
      // default list). Only the contract's native modules stay outside it, and the package carries
      // them (commandHooks).
      bundleAwsSDK: true,
      externalModules: [...HANDLER_BUNDLE.external],
      ...(f.commandHooks ? { commandHooks: f.commandHooks } : {}),
      forceDockerBundling: false, logLevel: LogLevel.WARNING,
    },
  });
}

/** A function's role (planFunction gives each its own). */
export function roleOf(fn: NodejsFunction): iam.Role {
  return fn.role as iam.Role;
}

/** A statement on the role, when it names any resource. */
export function allow(role: iam.Role, actions: string[], resources: string[], conditions?: Record<string, unknown>): void {
  if (resources.length > 0) role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources, conditions }));
}

/** The token cdk-nag writes for a bucket's ARN in a finding's id. */
export function nagBucketArn(stack: Stack, bucket: s3.Bucket): string {
  return `<${stack.resolve((bucket.node.defaultChild as s3.CfnBucket).logicalId) as string}.Arn>`;
}

/** An object grant's key, by the storage field it comes from: `[field, pattern as an IAM suffix]`. */
export type ObjectKeyGrant = readonly [field: string, resource: string];

/**
 * Actions on objects of `bucket` named by key patterns (already IAM suffixes: keyPatternResource),
 * each `*` acknowledged to cdk-nag with the storage field it stands for and `why` (the
 * placeholders' meaning).
 */
export function allowObjects(stack: Stack, role: iam.Role, bucket: s3.Bucket, actions: string[], keys: readonly ObjectKeyGrant[], why: string): void {
  allow(role, actions, keys.map(([, r]) => `${bucket.bucketArn}/${r}`));
  for (const [field, r] of keys) {
    if (r.includes('*')) acknowledge(role, `AwsSolutions-IAM5[Resource::${nagBucketArn(stack, bucket)}/${r}]`, `storage.${field} objects (${r}): ${why}`);
  }
}

/** The plan's workflow definition with every `${Key}` replaced by its value in the stack. */
export function resolvedDefinition(plan: AnyPlan, valueOf: (s: Substitution) => string): object {
  const files = workflowFiles(plan);
  const values: Record<string, string> = {};
  for (const [key, s] of Object.entries(files.rendered.substitutions)) values[key] = valueOf(s);
  return substituteDefinition(JSON.parse(files.definition.text) as object, values);
}

/**
 * The state machine of the plan: the resolved definition inline, Standard or Express as the plan
 * says, all events logged with their data to its own vended log group, traced; it may invoke
 * exactly the plan's functions. Tagged with the workflow's digest (infra/identity.ts).
 */
export function planStateMachine(stack: Stack, plan: AnyPlan, definition: object, functions: readonly NodejsFunction[]): sfn.StateMachine {
  const logGroup = new logs.LogGroup(stack, 'StateMachineLogs', {
    // Step Functions' vended logs: the /aws/vendedlogs/ prefix keeps the log resource policy small.
    logGroupName: `/aws/vendedlogs/states/${plan.names.stateMachine}`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY,
  });
  const stateMachine = new sfn.StateMachine(stack, 'StateMachine', {
    stateMachineName: plan.names.stateMachine,
    stateMachineType: plan.workflow.type === 'EXPRESS' ? sfn.StateMachineType.EXPRESS : sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition, null, 2)),
    timeout: Duration.seconds(plan.workflow.executionTimeoutSeconds),
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    tracingEnabled: true,
  });
  // Only the plan's functions, by their exact ARNs (grantInvoke would add every version, `:*`).
  stateMachine.addToRolePolicy(new iam.PolicyStatement({
    actions: ['lambda:InvokeFunction'], resources: functions.map((fn) => fn.functionArn),
  }));
  acknowledge(stateMachine, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray segments and CloudWatch Logs delivery (logs:*LogDelivery*) name no resource: AWS requires Resource "*" for them');
  Tags.of(stateMachine).add(WORKFLOW_DIGEST_TAG, workflowDigest(plan));
  return stateMachine;
}

/** The outputs the CLI reads back: the plan id, the state machine and the bucket. */
export function planOutputs(stack: Stack, plan: AnyPlan, stateMachine: sfn.StateMachine, bucket: s3.Bucket): void {
  new CfnOutput(stack, PLAN_ID_OUTPUT, { value: plan.planId, description: 'the id of the plan this stack was deployed from' });
  new CfnOutput(stack, STATE_MACHINE_OUTPUT, { value: stateMachine.stateMachineArn });
  new CfnOutput(stack, BUCKET_OUTPUT, { value: bucket.bucketName });
}
