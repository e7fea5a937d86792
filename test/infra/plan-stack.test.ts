// The CDK stack of a plan (infra/), asserted on its synthesized template: resources and their
// counts for P in {1, 8, 62}, memory sizes, timeouts and reserved concurrency from the plan, the
// queue channel's filter policies and attributes, least-privilege IAM statements, the state machine
// with every substitution resolved, cdk-nag's AwsSolutions with no finding. Unit synths skip
// bundling and CloudFormation validation (seconds each otherwise); ONE full synth bundles the
// handlers with esbuild and validates, through the `cdk synth` CLI as cdk.json runs it, and its
// worker bundle runs a small model from the bundle
// alone, exact against serial inference.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Template, Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { serializePlan, type Plan } from '../../planner/plan/index.ts';
import { workerFilterPolicy } from '../../planner/plan/resources.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { runStateMachineLocally } from '../../workflows/local/state-machine-run.ts';
import { placeholdersIn, workflowFiles } from '../../workflows/asl/index.ts';
import { planApp } from '../../infra/app.ts';
import { PlanStack } from '../../infra/plan-stack.ts';
import { PLAN_ID_OUTPUT, PLAN_ID_TAG, WORKFLOW_DIGEST_TAG, workflowDigest } from '../../infra/identity.ts';
import { workflowCase } from '../helpers/workflow-plans.ts';
import { reidentified, testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';

const outdirs: string[] = [];
const newOutdir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepinfer-cdk-'));
  outdirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

interface Synthesized {
  readonly stack: PlanStack;
  /** The stack's own template. */
  readonly template: Template;
  /** Its queue groups' (nested stacks). */
  readonly groups: Template[];
}

/** A stack synthesized without bundling or CloudFormation validation (unit tests). */
function unitStack(plan: Plan): Synthesized {
  const { stack } = planApp(plan, { outdir: newOutdir(), builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } });
  return { stack, template: Template.fromStack(stack), groups: stack.queueGroups.map((g) => Template.fromStack(g)) };
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
/** Resources of a type, over one template or several (a stack and its nested stacks). */
const ofType = (templates: Template | readonly Template[], type: string) => [templates].flat()
  .flatMap((t) => Object.entries(t.toJSON().Resources as Resources)).filter(([, r]) => r.Type === type);

/** Every string in a CloudFormation value (Fn::Join parts included). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

const CASES = [
  { name: 'serial', workers: 1 },
  { name: 'groups-8-queue', workers: 8 },
  { name: 'groups-62-queue-tree', workers: 62 },
] as const;

const built = new Map<string, Synthesized & { plan: Plan }>();
beforeAll(async () => {
  for (const c of CASES) {
    const { plan } = await workflowCase(c.name);
    built.set(c.name, { plan, ...unitStack(plan) });
  }
}, 120_000);

describe('the stack of a plan', () => {
  it.each(CASES)('$name: one bucket (+ access logs), P queues + a DLQ, topics x P subscriptions, a function per plan function, one state machine', ({ name, workers }) => {
    const { plan, template, groups } = built.get(name)!;
    expect(plan.workers).toBe(workers);
    const all = [template, ...groups];
    const count = (type: string) => ofType(all, type).length;
    const topics = plan.channel.queue?.topics ?? 0;
    expect(count('AWS::S3::Bucket')).toBe(2 + plan.names.exchangeBuckets.length);
    expect(count('AWS::SNS::Topic')).toBe(topics);
    expect(count('AWS::SQS::Queue')).toBe(plan.channel.queue ? workers + 1 : 0);
    expect(count('AWS::SNS::Subscription')).toBe(topics * (plan.channel.queue ? workers : 0));
    expect(count('AWS::Lambda::Function')).toBe(plan.functions.length);
    expect(count('AWS::StepFunctions::StateMachine')).toBe(1);
    expect(count('AWS::Lambda::EventInvokeConfig')).toBe(1);
    // Every template within CloudFormation's 500 resources: 620 subscriptions of P = 62 need two groups.
    for (const t of all) expect(Object.keys(t.toJSON().Resources as Resources).length).toBeLessThanOrEqual(500);
    expect({ topics, subscriptions: count('AWS::SNS::Subscription'), groups: groups.length, resources: all.map((t) => Object.keys(t.toJSON().Resources as Resources).length), functions: plan.functions.map((f) => f.role) }).toEqual({
      serial: { topics: 0, subscriptions: 0, groups: 0, resources: [13], functions: ['stage'] },
      'groups-8-queue': { topics: 8, subscriptions: 64, groups: 1, resources: [36, 73], functions: ['worker', 'gather'] },
      'groups-62-queue-tree': { topics: 10, subscriptions: 620, groups: 2, resources: [46, 496, 188], functions: ['worker', 'coordinator', 'gather'] },
    }[name]);
  });

  it.each(CASES)('$name: every function has the plan\'s name, memory, timeout, reserved concurrency and architecture, on Node 24', ({ name }) => {
    const { plan, template } = built.get(name)!;
    for (const f of plan.functions) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: plan.names.functions[f.id], MemorySize: f.memoryMB, Timeout: f.timeoutSeconds,
        ReservedConcurrentExecutions: f.reservedConcurrency, Runtime: 'nodejs24.x', Handler: 'index.handler',
        Architectures: [f.architecture], LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
      });
    }
    // Workers are invoked asynchronously: Lambda must not retry one (it would run a second copy of a peer).
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0, Qualifier: '$LATEST' });
  });

  it('P = 8: queues of 262144 bytes with the plan\'s timings and a DLQ, raw subscriptions filtered on each worker', () => {
    const { plan, template, groups } = built.get('groups-8-queue')!;
    const q = plan.channel.queue!;
    expect(groups).toHaveLength(1);
    for (let w = 0; w < plan.workers; w++) {
      groups[0].hasResourceProperties('AWS::SQS::Queue', {
        QueueName: plan.names.queues[w], MaximumMessageSize: 262144, VisibilityTimeout: q.visibilityTimeoutSeconds,
        MessageRetentionPeriod: q.messageRetentionSeconds, ReceiveMessageWaitTimeSeconds: q.waitTimeSeconds,
        RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: q.deadLetter.maxReceiveCount },
      });
    }
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: plan.names.deadLetterQueue, MessageRetentionPeriod: q.deadLetter.messageRetentionSeconds });
    const subscriptions = ofType(groups, 'AWS::SNS::Subscription').map(([, r]) => r.Properties);
    expect(subscriptions).toHaveLength(64);
    const policies = subscriptions.map((s) => JSON.stringify(s.FilterPolicy)).sort();
    const expected = Array.from({ length: 8 }, (_, k) => Array.from({ length: 8 }, (__, w) => workerFilterPolicy(q, w))).flat().sort();
    expect(policies).toEqual(expected);
    expect(workerFilterPolicy(q, 3)).toBe('{"targets":[{"wildcard":"*,3,*"}]}');
    for (const s of subscriptions) expect(s).toMatchObject({ Protocol: 'sqs', RawMessageDelivery: true, FilterPolicyScope: 'MessageAttributes' });
    // One queue policy for the group: TLS only, and only the plan's topics may send.
    groups[0].resourceCountIs('AWS::SQS::QueuePolicy', 1);
    groups[0].hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: [
        Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        Match.objectLike({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'sns.amazonaws.com' }, Condition: { ArnEquals: { 'aws:SourceArn': Match.anyValue() } } }),
      ] },
    });
  });

  it('buckets: encrypted, public access blocked, TLS enforced, access logs; run objects and exchange objects expire', async () => {
    const { plan, template } = built.get('groups-8-queue')!;
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: plan.names.bucket,
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: `${plan.names.bucket}/` },
      LifecycleConfiguration: { Rules: [{ Id: 'expire-run-objects', Status: 'Enabled', Prefix: 'runs/', ExpirationInDays: 30 }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const { plan: objectPlan } = await workflowCase('groups-8-object');
    const { stack: objectStack, template: objectTemplate } = unitStack(objectPlan);
    for (const name of objectPlan.names.exchangeBuckets) {
      objectTemplate.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: name, LifecycleConfiguration: { Rules: [{ Id: 'expire-exchange-objects', Status: 'Enabled', ExpirationInDays: objectPlan.channel.object!.expirationDays }] },
      });
    }
    objectTemplate.resourceCountIs('AWS::SQS::Queue', 0);
    expect(new AwsSolutionsChecks().validateScope(objectStack).violations.map((v) => v.ruleName)).toEqual([]);
  });

  it.each(CASES)('$name: the state machine is the generated ASL with every substitution resolved, of the plan\'s type, logged and traced', ({ name }) => {
    const { plan, template } = built.get(name)!;
    const [[, sm]] = ofType(template, 'AWS::StepFunctions::StateMachine');
    const p = sm.Properties;
    expect(p.StateMachineName).toBe(plan.names.stateMachine);
    expect(p.StateMachineType).toBe(plan.workflow.type);
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    expect(p.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
    expect(p.DefinitionSubstitutions).toBeUndefined();
    const parts = strings(p.DefinitionString);
    expect(parts.join('')).not.toContain('${');
    // Every key of substitutions.json became a reference to the stack's resource.
    const files = workflowFiles(plan);
    const keys = Object.keys(files.rendered.substitutions);
    expect(keys.length).toBe(placeholdersIn(files.rendered.definition).size);
    const refs = JSON.stringify(p.DefinitionString);
    for (const f of plan.functions) {
      const [[logicalId]] = ofType(template, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.FunctionName === plan.names.functions[f.id]);
      expect(refs).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }));
    }
    const tags = p.Tags as { Key: string; Value: string }[];
    expect(tags).toEqual(expect.arrayContaining([{ Key: PLAN_ID_TAG, Value: plan.planId }, { Key: WORKFLOW_DIGEST_TAG, Value: workflowDigest(plan) }]));
    expect(template.toJSON().Outputs[PLAN_ID_OUTPUT].Value).toBe(plan.planId);
  });

  it.each(CASES)('$name: the state machine may invoke exactly the plan\'s functions; no statement has a wildcard action', ({ name }) => {
    const { plan, template } = built.get(name)!;
    const policies = ofType(template, 'AWS::IAM::Policy');
    for (const [, policy] of policies) {
      for (const st of (policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement) {
        for (const action of [st.Action].flat()) expect(action).not.toContain('*');
      }
    }
    const smPolicy = policies.find(([id]) => id.startsWith('StateMachineRole'))![1];
    const invoke = (smPolicy.Properties.PolicyDocument as { Statement: { Action: string; Resource: unknown }[] }).Statement.filter((s) => s.Action === 'lambda:InvokeFunction');
    expect(invoke).toHaveLength(1);
    const fnIds = ofType(template, 'AWS::Lambda::Function').map(([id]) => id).sort();
    const resources = [invoke[0].Resource].flat() as { 'Fn::GetAtt': [string, string] }[];
    expect(resources.map((r) => r['Fn::GetAtt'][0]).sort()).toEqual(fnIds);
    expect(resources.every((r) => r['Fn::GetAtt'][1] === 'Arn')).toBe(true);
    expect(resources).toHaveLength(plan.functions.length);
  });

  it('P = 8: each role does only what its handler does, on the plan\'s own resources', () => {
    const { template } = built.get('groups-8-queue')!;
    const statements = (prefix: string) => {
      const [[, policy]] = ofType(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith(prefix));
      return (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[] }).Statement
        .map((s) => ({ actions: [s.Action].flat(), resources: [s.Resource].flat().map((r) => strings(r).join('')), condition: s.Condition ?? null }));
    };
    const bucket = ofType(template, 'AWS::S3::Bucket').find(([, r]) => typeof r.Properties.BucketName === 'string' && !String(r.Properties.BucketName).includes('-x'))![0];
    expect(statements('Worker1769Role')).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/^Worker1769Logs\w+Arn$/)], condition: null },
      // A run's own staged inputs, or the plan's default inputs (storage.defaultInputs), which only the client writes.
      { actions: ['s3:GetObject'], resources: [`${bucket}Arn/shards/worker-*.shard`, `${bucket}Arn/runs/*/inputs/*/*`, `${bucket}Arn/inputs/default/*/*`, `${bucket}Arn/runs/*/handoff/*/*/*`], condition: null },
      { actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [`${bucket}Arn/runs/*/handoff/*/*/*`, `${bucket}Arn/runs/*/outputs/worker-*`, `${bucket}Arn/runs/*/status/*/*/worker-*.json`], condition: null },
      { actions: ['sns:Publish'], resources: Array.from({ length: 8 }, (_, k) => expect.stringMatching(new RegExp(`^Topic${k}\\w+$`))), condition: null },
      { actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'], resources: Array.from({ length: 8 }, (_, w) => expect.stringMatching(new RegExp(`^QueueGroup0\\w+Outputs\\.PlanStackQueueGroup0Queue${w}\\w+Arn$`))), condition: null },
    ]);
    expect(statements('Gather')).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/^Gather\d+Logs\w+Arn$/)], condition: null },
      { actions: ['s3:GetObject'], resources: [`${bucket}Arn/runs/*/outputs/worker-*`], condition: null },
      { actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [`${bucket}Arn/runs/*/result`, `${bucket}Arn/runs/*/categories.json`], condition: null },
      { actions: ['s3:DeleteObject'], resources: [`${bucket}Arn/runs/*/*`], condition: null },
      { actions: ['s3:ListBucket'], resources: [`${bucket}Arn`], condition: { StringLike: { 's3:prefix': ['runs/*'] } } },
    ]);
  });

  it.each(CASES)('$name: only the worker (or stage) function may read the default inputs, and no function may write or delete them', ({ name }) => {
    const { template } = built.get(name)!;
    let grants = 0;
    for (const [id, policy] of ofType(template, 'AWS::IAM::Policy')) {
      for (const st of (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement) {
        const resources = [st.Resource].flat().map((r) => strings(r).join(''));
        // Nothing names the default inputs' prefix but the read grant (the run objects' grants all start with runs/).
        if (!resources.some((r) => r.includes('/inputs/default/'))) continue;
        expect([id, st.Action]).toEqual([expect.stringMatching(/^(Worker|Stage)\d+Role/), 's3:GetObject']);
        grants++;
      }
    }
    expect(grants).toBe(1);
  });

  it('default inputs under the run objects\' prefix would expire with them: the stack refuses such a plan', async () => {
    const { plan } = built.get('serial')!;
    const under = reidentified({ ...plan, storage: { ...plan.storage, defaultInputs: 'runs/default/<target>/<source>' } });
    expect(() => unitStack(under)).toThrow('field storage.defaultInputs: storage.defaultInputs (runs/default/<target>/<source>) lies under the run objects\' prefix "runs/", which expires after 30 days');
  });

  it('P = 62, launch tree: the coordinator may invoke the worker function; workers may invoke their own function (children)', () => {
    const { plan, template } = built.get('groups-62-queue-tree')!;
    const text = JSON.stringify(ofType(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('Coordinator')));
    const [[workerId]] = ofType(template, 'AWS::Lambda::Function').filter(([, r]) => String(r.Properties.FunctionName).includes('-worker-'));
    expect(text).toContain(`{"Action":"lambda:InvokeFunction","Effect":"Allow","Resource":{"Fn::GetAtt":["${workerId}","Arn"]}}`);
    const workerPolicy = JSON.stringify(ofType(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('Worker')));
    const workerName = plan.names.functions[plan.functions.find((f) => f.role === 'worker')!.id];
    expect(workerPolicy).toContain(`:function:${workerName}"`);
  });

  it('a distributed Map (P = 41): the state machine may start its own child executions, and watch and stop only those', async () => {
    const { plan } = await workflowCase('groups-41-queue');
    expect(plan.workflow.stages.every((st) => st.launch.kind === 'map' && st.launch.mode === 'distributed')).toBe(true);
    const { stack, template } = unitStack(plan);
    const [[, policy]] = ofType(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('StateMachineRole'));
    const statements = (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement
      .filter((st) => String(st.Action).startsWith('states:')).map((st) => [st.Action, strings(st.Resource).join('')]);
    expect(statements).toEqual([
      ['states:StartExecution', `arn:AWS::Partition:states:AWS::Region:AWS::AccountId:stateMachine:${plan.names.stateMachine}`],
      [['states:DescribeExecution', 'states:StopExecution'], `arn:AWS::Partition:states:AWS::Region:AWS::AccountId:execution:${plan.names.stateMachine}/*`],
    ]);
    expect(new AwsSolutionsChecks().validateScope(stack).violations.map((v) => v.ruleName)).toEqual([]);
  });

  it.each(CASES)('$name: cdk-nag AwsSolutions finds nothing unacknowledged', ({ name }) => {
    const { stack } = built.get(name)!;
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('a synth with a finding cdk-nag does not accept fails, naming the rule', () => {
    const { plan: serialPlan } = built.get('serial')!;
    const { app, stack } = planApp(serialPlan, { outdir: newOutdir(), builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } });
    new sqs.Queue(stack, 'UnencryptedExtra');
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
    } finally {
      process.stderr.write = stderr;
    }
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { pluginName: string; violations: { ruleName: string }[] }[] };
    expect(report.pluginReports.find((r) => r.pluginName === 'AwsSolutions')!.violations.map((v) => v.ruleName).sort()).toEqual(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']);
  });
});

describe('the full synth', () => {
  it('`cdk synth -c plan=...` (the CLI, offline, through cdk.json) bundles the handlers with the local esbuild, validates, and the worker bundle runs a small model from the bundle alone, exact', async () => {
    const network = generateRadixNetwork({ neurons: 1024, layers: 4, seed: 21 });
    const inputs = generateInputs({ neurons: 1024, samples: 40, seed: 22 });
    const plan = await testPlan(network, { workers: 1, rows: inputs.rows });
    const outdir = newOutdir();
    const planFile = join(outdir, 'plan.json');
    writeFileSync(planFile, serializePlan(plan));
    const cdkOut = join(outdir, 'cdk.out');
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const cli = spawnSync(join(repoRoot, 'node_modules/.bin/cdk'), ['synth', '-c', `plan=${planFile}`, '-o', cdkOut, '--quiet', '--no-notices'], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
    });
    expect(cli.status, cli.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(cdkOut, 'PlanStack.template.json'), 'utf8')) as { Resources: Resources; Outputs: Record<string, { Value: unknown }> };
    expect(template.Outputs[PLAN_ID_OUTPUT].Value).toBe(plan.planId);
    const [[, fn]] = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const key = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
    const assetDir = join(cdkOut, `asset.${key}`);
    expect(readdirSync(assetDir)).toEqual(['index.mjs']);

    // The bundle alone, in a folder with nothing beside it: it cannot resolve our sources or node_modules.
    const alone = mkdtempSync(join(tmpdir(), 'stepinfer-bundle-'));
    outdirs.push(alone);
    cpSync(assetDir, alone, { recursive: true });
    const handler = join(alone, 'index.mjs');
    const result = await runStateMachineLocally(plan, network, inputs, { logSink: () => undefined, handlerModules: { stage: handler, worker: handler } });
    const serial = inferSerial(network, inputs);
    expect(result.categories).toEqual(serial.categories);
    expectSameRows(result.activations, serial.activations);
    expect(serial.categories.length).toBeGreaterThan(0);
  }, 180_000);
});
