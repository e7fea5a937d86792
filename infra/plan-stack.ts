// The CDK stack of one plan, built from plan.json alone: the plan's bucket and exchange buckets,
// the queue channel's topics, queues and subscriptions (the same lists the local cloud creates,
// planner/plan/resources.ts), one Lambda function per plan function (the handlers of
// functions/handlers/, bundled by NodejsFunction with the local esbuild), and the state machine:
// the generated ASL file (workflows/asl/) with its `${Key}` substitutions resolved to this stack's
// ARNs, URLs and names. Least privilege: each function's own role may do only what its handler
// does, on the plan's own resources and key prefixes; the state machine may invoke only the plan's
// functions. The stack carries the plan id and the workflow's digest (tags and outputs) so the CLI
// can tell a stack of this plan, of another plan, or of an older workflow apart.

import { fileURLToPath } from 'node:url';
import { ArnFormat, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { PlanFormatError } from '../model/errors.ts';
import type { Plan, PlanFunction } from '../planner/plan/schema.ts';
import { objectResourceList, queueResourceList, EXCHANGE_EXPIRATION_RULE_ID } from '../planner/plan/resources.ts';
import type { Substitution } from '../workflows/asl/index.ts';
import { acknowledge } from './nag.ts';
import { QueueGroup, workersPerQueueGroup } from './queue-group.ts';
import {
  accessLogsBucket, allow, allowObjects, commonPrefix, keyPatternResource, nagBucketArn, planBucket, planFunction, planOutputs,
  planStateMachine, resolvedDefinition, roleOf, runObjectsExpiration, RUN_OBJECTS_EXPIRATION_DAYS, staticPrefix, tagPlan,
} from './stack-parts.ts';

/** The handler entry file of each role (paths, not imports: infra never imports functions/). */
export const HANDLER_ENTRIES: Readonly<Record<PlanFunction['role'], string>> = {
  worker: fileURLToPath(new URL('../functions/handlers/worker.ts', import.meta.url)),
  stage: fileURLToPath(new URL('../functions/handlers/worker.ts', import.meta.url)),
  coordinator: fileURLToPath(new URL('../functions/handlers/coordinator.ts', import.meta.url)),
  gather: fileURLToPath(new URL('../functions/handlers/gather.ts', import.meta.url)),
};

export interface PlanStackProps extends StackProps {
  readonly plan: Plan;
}

export class PlanStack extends Stack {
  readonly plan: Plan;
  readonly bucket: s3.Bucket;
  readonly exchangeBuckets: s3.Bucket[];
  readonly topics: sns.Topic[];
  readonly queues: sqs.Queue[];
  readonly deadLetterQueue: sqs.Queue | null;
  /** Nested stacks holding the workers' queues and subscriptions (infra/queue-group.ts). */
  readonly queueGroups: QueueGroup[] = [];
  /** By plan function id. */
  readonly functions: Readonly<Record<string, NodejsFunction>>;
  readonly stateMachine: sfn.StateMachine;
  /** The fixed start of every run object's key (storage.inputs, handoff, outputs, status): `runs/`. */
  readonly runPrefix: string;

  constructor(scope: Construct, id: string, props: PlanStackProps) {
    super(scope, id, { ...props, stackName: props.plan.names.stack, description: `stepinfer plan ${props.plan.planId}: ${props.plan.shape}, ${props.plan.workers} worker(s), ${props.plan.channel.kind} channel` });
    const plan = this.plan = props.plan;
    tagPlan(this, plan);

    // Storage: the plan's bucket first, then the exchange buckets (one list with the local cloud).
    const accessLogs = accessLogsBucket(this);
    const runPrefix = this.runPrefix = commonPrefix([plan.storage.inputs, plan.storage.handoff, plan.storage.outputs, plan.storage.status].map(staticPrefix));
    // The default inputs are staged once per plan (stepinfer shards upload): the run objects' expiry must not reach them.
    if (runPrefix === '' || staticPrefix(plan.storage.defaultInputs).startsWith(runPrefix)) {
      throw new PlanFormatError(`storage.defaultInputs (${plan.storage.defaultInputs}) lies under the run objects' prefix "${runPrefix}", which expires after ${RUN_OBJECTS_EXPIRATION_DAYS} days`, { field: 'storage.defaultInputs' });
    }
    const buckets = objectResourceList(plan).buckets.map((b, i) => planBucket(this, i === 0 ? 'Bucket' : `ExchangeBucket${i - 1}`, {
      name: b.name, accessLogs,
      lifecycleRules: b.expirationDays !== null
        ? [{ id: EXCHANGE_EXPIRATION_RULE_ID, enabled: true, expiration: Duration.days(b.expirationDays) }]
        : [runObjectsExpiration(runPrefix)],
    }));
    this.bucket = buckets[0];
    this.exchangeBuckets = buckets.slice(1);

    // The queue channel: topics, per-worker queues with a dead-letter queue, filtered raw subscriptions.
    this.topics = [];
    this.queues = [];
    this.deadLetterQueue = null;
    if (plan.channel.queue) {
      const list = queueResourceList(plan);
      const attribute = (attributes: Readonly<Record<string, string>>, key: string) => Number(attributes[key]);
      const dlq = list.deadLetterQueue;
      if (dlq) {
        this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
          queueName: dlq.name, enforceSSL: true, encryption: sqs.QueueEncryption.SQS_MANAGED,
          retentionPeriod: Duration.seconds(attribute(dlq.attributes, 'MessageRetentionPeriod')),
        });
        acknowledge(this.deadLetterQueue, 'AwsSolutions-SQS3', 'this is the dead-letter queue of the workers\' queues');
      }
      this.topics = list.topics.map((name, k) => new sns.Topic(this, `Topic${k}`, { topicName: name, enforceSSL: true }));
      const perGroup = workersPerQueueGroup(list.topics.length);
      const groups: QueueGroup[] = [];
      for (let first = 0; first < list.queues.length; first += perGroup) {
        groups.push(new QueueGroup(this, `QueueGroup${groups.length}`, {
          list, firstWorker: first, endWorker: Math.min(list.queues.length, first + perGroup), topics: this.topics, deadLetterQueue: this.deadLetterQueue,
        }));
      }
      this.queueGroups = groups;
      this.queues = groups.flatMap((g) => g.queues);
    }

    // Functions: one per plan function, each with its own role and log group.
    const functions: Record<string, NodejsFunction> = {};
    for (const f of plan.functions) functions[f.id] = this.planFunction(f);
    this.functions = functions;
    for (const f of plan.functions) this.grantRole(f);

    // The state machine: the generated definition with every ${Key} resolved to this stack's resources.
    const definition = resolvedDefinition(plan, (s) => this.substitutionValue(s));
    this.stateMachine = planStateMachine(this, plan, definition, plan.functions.map((f) => functions[f.id]));
    if (plan.workflow.stages.some((st) => st.launch.kind === 'map' && st.launch.mode === 'distributed')) {
      // A distributed Map runs its iterations as child executions of this state machine: it starts
      // them and watches and stops them ("IAM policies for using Distributed Map states",
      // https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html). The
      // ARNs are built from the plan's name: the role cannot name its own state machine's token.
      const own = this.formatArn({ service: 'states', resource: 'stateMachine', resourceName: plan.names.stateMachine, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      const children = this.formatArn({ service: 'states', resource: 'execution', resourceName: `${plan.names.stateMachine}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [own] }));
      this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [children] }));
      acknowledge(this.stateMachine, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${plan.names.stateMachine}/*]`, "the distributed Map's child executions of this state machine, named at run time");
    }
    planOutputs(this, plan, this.stateMachine, this.bucket);
  }

  /** A function's ARN from its plan name (no token of the function: a role may name its own function). */
  private functionArnByName(name: string): string {
    return this.formatArn({ service: 'lambda', resource: 'function', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  private planFunction(f: PlanFunction): NodejsFunction {
    const fn = planFunction(this, {
      id: f.id, name: this.plan.names.functions[f.id], role: f.role, entry: HANDLER_ENTRIES[f.role],
      memoryMB: f.memoryMB, timeoutSeconds: f.timeoutSeconds, reservedConcurrency: f.reservedConcurrency, architecture: f.architecture,
    });
    if (f.role === 'worker' || f.role === 'stage') {
      // Workers are invoked asynchronously (InvocationType Event) by the coordinator and by their
      // parents in the launch tree. Lambda retries a failed asynchronous invocation twice by
      // default ("If the function returns an error, by default Lambda attempts to run it two more
      // times", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
      // a retried worker would run a second copy of a peer that the others already exchange rows
      // with. Its launcher sees its failure status and retries the whole stage under a new attempt.
      fn.configureAsyncInvoke({ retryAttempts: 0 });
    }
    return fn;
  }

  /**
   * What each role's handler does, on the plan's resources only: explicit actions, the plan's own
   * buckets, topics, queues and functions. S3 object resources are the plan's key patterns with each
   * <placeholder> as `*`: every worker of a function shares its role, and run ids exist only at run
   * time, so a pattern is as narrow as a policy can name them. cdk-nag flags every `*` (IAM5); each
   * is acknowledged with the storage field it stands for.
   */
  private grantRole(f: PlanFunction): void {
    const plan = this.plan, storage = plan.storage;
    const role = roleOf(this.functions[f.id]);
    const grant = (actions: string[], resources: string[], conditions?: Record<string, unknown>) => allow(role, actions, resources, conditions);
    /** Objects of the plan's bucket by storage field: `[field, pattern]`. */
    const allowObjectsOf = (actions: string[], fields: readonly (readonly [string, string])[]) => allowObjects(
      this, role, this.bucket, actions, fields.map(([field, p]) => [field, keyPatternResource(p)] as const),
      'the placeholders are run ids (known only at run time) and worker ids (every worker of the function shares its role)',
    );
    const allowExchange = (actions: string[]) => {
      grant(actions, this.exchangeBuckets.map((b) => `${b.bucketArn}/*`));
      for (const b of this.exchangeBuckets) {
        acknowledge(role, `AwsSolutions-IAM5[Resource::${nagBucketArn(this, b)}/*]`, `an exchange bucket holds only the object channel's exchange objects (${plan.channel.object?.keyPattern}), keyed by run ids known at run time`);
      }
      if (this.exchangeBuckets.length > 0) grant(['s3:ListBucket'], this.exchangeBuckets.map((b) => b.bucketArn));
    };
    // A run's objects as a whole: cleanup lists and removes everything under runs/<execution>/ but its result.
    const runObjects: [string, string] = ['inputs, handoff, outputs and status', `${this.runPrefix}<execution>`];
    const listRuns = () => grant(['s3:ListBucket'], [this.bucket.bucketArn], { StringLike: { 's3:prefix': [`${this.runPrefix}*`] } });
    // PutObject also covers a multipart upload's parts (functions/storage/object-store.ts uploads large rows so).
    const put = ['s3:PutObject', 's3:AbortMultipartUpload'];
    if (f.role === 'worker' || f.role === 'stage') {
      // Stage 0 reads a run's own staged inputs or the plan's default inputs (the execution input says which).
      allowObjectsOf(['s3:GetObject'], [
        ['shards.keyPattern', storage.shards.keyPattern], ['inputs', storage.inputs], ['defaultInputs', storage.defaultInputs], ['handoff', storage.handoff],
      ]);
      allowObjectsOf(put, [['handoff', storage.handoff], ['outputs', storage.outputs], ['status', storage.status]]);
      if (f.role === 'stage') {
        // One worker gathers its own rows: it writes the result and removes its run's intermediates.
        allowObjectsOf(put, [['result', storage.result], ['categories', storage.categories]]);
        allowObjectsOf(['s3:DeleteObject'], [[runObjects[0], `${runObjects[1]}/*`]]);
        listRuns();
      }
      allowExchange(['s3:GetObject', 's3:PutObject']);
      if (this.topics.length > 0) grant(['sns:Publish'], this.topics.map((t) => t.topicArn));
      if (this.queues.length > 0) grant(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'], this.queues.map((q) => q.queueArn));
      if (plan.workflow.stages.some((s) => s.launch.kind === 'tree')) {
        // Inner workers of FSD's launch tree start their children: the worker function itself.
        grant(['lambda:InvokeFunction'], [this.functionArnByName(plan.names.functions[f.id])]);
      }
    }
    if (f.role === 'coordinator') {
      grant(['lambda:InvokeFunction'], plan.functions.filter((x) => x.role === 'worker' || x.role === 'stage').map((x) => this.functions[x.id].functionArn));
      allowObjectsOf(['s3:GetObject'], [['status', storage.status]]);
      listRuns();
    }
    if (f.role === 'gather') {
      allowObjectsOf(['s3:GetObject'], [['outputs', storage.outputs]]);
      allowObjectsOf(put, [['result', storage.result], ['categories', storage.categories]]);
      allowObjectsOf(['s3:DeleteObject'], [[runObjects[0], `${runObjects[1]}/*`]]);
      listRuns();
      allowExchange(['s3:DeleteObject']);
    }
  }

  /** The value a substitution key resolves to in this stack. */
  private substitutionValue(s: Substitution): string {
    const plan = this.plan;
    switch (s.resource) {
      case 'lambdaFunction': {
        const id = Object.keys(plan.names.functions).find((k) => plan.names.functions[k] === s.name);
        if (id === undefined) break;
        return this.functions[id].functionArn;
      }
      case 'snsTopic': {
        const k = plan.names.topics.indexOf(s.name);
        if (k < 0) break;
        return this.topics[k].topicArn;
      }
      case 'sqsQueue': {
        const w = plan.names.queues.indexOf(s.name);
        if (w < 0) break;
        return this.queues[w].queueUrl;
      }
      case 's3Bucket': {
        if (s.name === plan.names.bucket) return this.bucket.bucketName;
        const k = plan.names.exchangeBuckets.indexOf(s.name);
        if (k < 0) break;
        return this.exchangeBuckets[k].bucketName;
      }
      default: break;
    }
    throw new Error(`no resource of the stack for substitution ${s.resource} ${s.name}`);
  }
}
