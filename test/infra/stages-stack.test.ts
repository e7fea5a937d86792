// The CDK stack of a stages plan (infra/stages-stack.ts), asserted on its synthesized template for
// plans of 1, 2 and 3 stages of SqueezeNet: one function per stage with the plan's memory,
// timeout and reserved concurrency on Node 24, each stage's role allowed exactly its own reads,
// writes and deletes, the bucket as the sparse stack's, the state machine the generated chain of
// Tasks with every substitution resolved, invoking only the stage functions, and cdk-nag's
// AwsSolutions with no finding. A stage file that is missing or of another size fails the synth
// naming it. Unit synths skip bundling and CloudFormation validation; two synths bundle (each
// function's package: its stage file, onnxruntime-node's linux binaries, within 250 MB), and ONE
// full synth runs the `cdk synth` CLI with validation, whose one-stage package runs the plan's
// workflow from the package alone, exact against the whole model.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import { encodeOnnxModel } from '../../model/onnx/extract.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { computePlanId, DEFAULT_STACK_PREFIX } from '../../planner/plan/names.ts';
import { parseStagesPlan, serializeStagesPlan, stagesPlanNames, type StagesPlan } from '../../planner/plan/stages-schema.ts';
import { createOnnxSession, runOnnx } from '../../functions/dense/onnx-session.ts';
import type { DenseTensor } from '../../functions/storage/tensor-codec.ts';
import { placeholdersIn, workflowFiles } from '../../workflows/asl/index.ts';
import { runStagesLocally } from '../../workflows/local/stages-run.ts';
import { appFromContext, stagesApp } from '../../infra/app.ts';
import { PLAN_ID_OUTPUT, PLAN_ID_TAG, WORKFLOW_DIGEST_TAG, workflowDigest } from '../../infra/identity.ts';
import type { StagesStack } from '../../infra/stages-stack.ts';
import { onnxRuntimeFiles } from '../../infra/stage-package.ts';
import { stagesModel, type StageFile } from '../../cli/commands/stages.ts';
import { requireData } from '../helpers/shared-data.ts';
import { handStagesPlan, modelStagesPlan } from '../helpers/stages-plans.ts';

const dirs: string[] = [];
const newDir = (prefix = 'stepinfer-cdk-') => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
const ofType = (template: Template, type: string) => Object.entries(template.toJSON().Resources as Resources).filter(([, r]) => r.Type === type);

/** Every string in a CloudFormation value (Fn::Join parts included). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

/** A folder holding the stage files. */
function stageFilesDir(files: readonly Pick<StageFile, 'name' | 'bytes'>[]): string {
  const dir = newDir('stepinfer-stage-files-');
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
  return dir;
}

/** A stack synthesized without bundling or CloudFormation validation (unit tests). */
function unitStack(plan: StagesPlan, dir: string): { stack: StagesStack; template: Template } {
  const { stack } = stagesApp(plan, dir, { outdir: newDir(), builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } });
  return { stack, template: Template.fromStack(stack) };
}

const MODEL = 'squeezenet1_1.onnx';
/** SqueezeNet's 33 units cut three ways: after unit 9 its output goes through S3, after 17 in the state payload. */
const CASES = [
  { name: '1 stage', lastUnits: [33], memoryMB: [2048], handoffs: [] },
  { name: '2 stages', lastUnits: [17, 33], memoryMB: [1769, 3008], handoffs: ['payload'] },
  { name: '3 stages', lastUnits: [9, 17, 33], memoryMB: [1769, 1024, 3008], handoffs: ['object', 'payload'] },
] as const;

interface Built {
  readonly plan: StagesPlan;
  readonly files: readonly StageFile[];
  readonly dir: string;
  readonly stack: StagesStack;
  readonly template: Template;
}
const built = new Map<string, Built>();
let modelFile: string;

beforeAll(() => {
  modelFile = requireData(join(defaultModelsDir(), MODEL), `the ONNX model ${MODEL}`);
  for (const c of CASES) {
    const plan = modelStagesPlan(modelFile, { lastUnits: c.lastUnits, memoryMB: c.memoryMB, timeoutSeconds: 20 });
    expect(plan.workflow.stages.slice(0, -1).map((s) => s.output.handoff)).toEqual(c.handoffs);
    const { files } = stagesModel(plan);
    const dir = stageFilesDir(files);
    built.set(c.name, { plan, files, dir, ...unitStack(plan, dir) });
  }
}, 120_000);

describe('the stack of a stages plan', () => {
  it.each(CASES)('$name: the bucket (+ access logs), a function, role and log group per stage, one state machine; no queues, topics or async configs', ({ name, lastUnits }) => {
    const { template } = built.get(name)!;
    const count = (type: string) => ofType(template, type).length;
    const stages = lastUnits.length;
    expect({
      buckets: count('AWS::S3::Bucket'), functions: count('AWS::Lambda::Function'), roles: count('AWS::IAM::Role'), logGroups: count('AWS::Logs::LogGroup'),
      stateMachines: count('AWS::StepFunctions::StateMachine'), queues: count('AWS::SQS::Queue'), topics: count('AWS::SNS::Topic'),
      asyncConfigs: count('AWS::Lambda::EventInvokeConfig'), nested: count('AWS::CloudFormation::Stack'),
    }).toEqual({ buckets: 2, functions: stages, roles: stages + 1, logGroups: stages + 1, stateMachines: 1, queues: 0, topics: 0, asyncConfigs: 0, nested: 0 });
  });

  it.each(CASES)('$name: every stage function has the plan\'s name, memory, timeout, reserved concurrency and architecture, on Node 24, runs the dense stage handler', ({ name }) => {
    const { plan, template } = built.get(name)!;
    for (const f of plan.functions) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: plan.names.functions[f.id], MemorySize: f.memoryMB, Timeout: f.timeoutSeconds,
        ReservedConcurrentExecutions: f.reservedConcurrency, Runtime: 'nodejs24.x', Handler: 'index.handler',
        Architectures: [f.architecture], LoggingConfig: Match.objectLike({ LogFormat: 'JSON' }),
        Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'stepinfer-stage', POWERTOOLS_LOG_LEVEL: 'INFO' } },
      });
    }
    expect(ofType(template, 'AWS::Lambda::Function').map(([, r]) => [r.Properties.MemorySize, r.Properties.ReservedConcurrentExecutions])).toEqual(
      { '1 stage': [[2048, 1]], '2 stages': [[1769, 1], [3008, 1]], '3 stages': [[1769, 1], [1024, 1], [3008, 1]] }[name],
    );
  });

  it('the bucket: encrypted, public access blocked, TLS enforced, access logs, run objects expire after 30 days', () => {
    const { plan, template } = built.get('3 stages')!;
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: plan.names.bucket,
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: `${plan.names.bucket}/` },
      LifecycleConfiguration: { Rules: [{ Id: 'expire-run-objects', Status: 'Enabled', Prefix: 'runs/', ExpirationInDays: 30 }] },
    });
    const policies = ofType(template, 'AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(2);
    for (const [, p] of policies) {
      expect(p.Properties.PolicyDocument).toMatchObject({ Statement: expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) });
    }
  });

  it.each(CASES)('$name: the state machine is the generated chain of stages with every substitution resolved, logged and traced, tagged', ({ name }) => {
    const { plan, template } = built.get(name)!;
    const [[, sm]] = ofType(template, 'AWS::StepFunctions::StateMachine');
    const p = sm.Properties;
    expect(p.StateMachineName).toBe(plan.names.stateMachine);
    expect(p.StateMachineType).toBe('STANDARD');
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    expect(p.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
    expect(p.DefinitionSubstitutions).toBeUndefined();
    const text = strings(p.DefinitionString).join('');
    expect(text).not.toContain('${');
    const files = workflowFiles(plan);
    expect(Object.keys(files.rendered.substitutions).sort()).toEqual([
      'Bucket', ...plan.workflow.stages.map((s) => `Stage${s.index}FunctionArn`),
    ].sort());
    expect(placeholdersIn(files.rendered.definition).size).toBe(plan.workflow.stages.length + 1);
    // The definition is the generated one: its states in order, each stage's Task invoking its own function.
    const refs = JSON.stringify(p.DefinitionString);
    for (const f of plan.functions) {
      const [[logicalId]] = ofType(template, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.FunctionName === plan.names.functions[f.id]);
      expect(refs).toContain(JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }));
    }
    expect(refs).toContain(JSON.stringify({ Ref: ofType(template, 'AWS::S3::Bucket').find(([, r]) => r.Properties.BucketName === plan.names.bucket)![0] }));
    const stateNames = Object.keys((JSON.parse(files.definition.text) as { States: object }).States);
    for (const state of stateNames) expect(text).toContain(JSON.stringify(state));
    expect(stateNames).toHaveLength(plan.workflow.stages.length + 2);
    const tags = p.Tags as { Key: string; Value: string }[];
    expect(tags).toEqual(expect.arrayContaining([{ Key: PLAN_ID_TAG, Value: plan.planId }, { Key: WORKFLOW_DIGEST_TAG, Value: workflowDigest(plan) }]));
    expect(template.toJSON().Outputs[PLAN_ID_OUTPUT].Value).toBe(plan.planId);
  });

  it('an Express plan gets an Express state machine', () => {
    const plan = handStagesPlan({
      modelPath: 'model.onnx', inputDims: [1, 8], type: 'EXPRESS',
      stages: [{ lastUnit: 1, name: 'a', memoryMB: 512, outputDims: [1, 4] }, { lastUnit: 2, name: 'b', memoryMB: 512, outputDims: [1, 2] }],
    });
    const { template } = unitStack(plan, stageFilesDir(plan.functions.map((f) => ({ name: f.package.modelFile, bytes: new Uint8Array(f.package.modelBytes) }))));
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: plan.names.stateMachine, StateMachineType: 'EXPRESS' });
  });

  it.each(CASES)('$name: the state machine may invoke exactly the stage functions; no statement has a wildcard action', ({ name }) => {
    const { plan, template } = built.get(name)!;
    const policies = ofType(template, 'AWS::IAM::Policy');
    for (const [, policy] of policies) {
      for (const st of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
        for (const action of [st.Action].flat()) expect(action).not.toContain('*');
      }
    }
    const smPolicy = policies.find(([id]) => id.startsWith('StateMachineRole'))![1];
    const invoke = (smPolicy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter((s) => s.Action === 'lambda:InvokeFunction');
    expect(invoke).toHaveLength(1);
    const resources = [invoke[0].Resource].flat() as { 'Fn::GetAtt': [string, string] }[];
    expect(resources.map((r) => r['Fn::GetAtt'][0]).sort()).toEqual(ofType(template, 'AWS::Lambda::Function').map(([id]) => id).sort());
    expect(resources.every((r) => r['Fn::GetAtt'][1] === 'Arn')).toBe(true);
    expect(resources).toHaveLength(plan.functions.length);
  });

  it.each(CASES)('$name: each stage reads its input, writes its handoff object or the result, and only the last stage (and Clean up on stage 0) deletes', ({ name }) => {
    const { plan, template } = built.get(name)!;
    const [bucket] = ofType(template, 'AWS::S3::Bucket').find(([, r]) => r.Properties.BucketName === plan.names.bucket)!;
    const arn = (key: string) => `${bucket}Arn/${key}`;
    const statementsOf = (functionId: string) => {
      const prefix = functionId.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
      const [[, policy]] = ofType(template, 'AWS::IAM::Policy').filter(([id]) => id.startsWith(`${prefix}Role`));
      return (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement
        .map((s) => ({ actions: [s.Action].flat(), resources: [s.Resource].flat().map((r) => strings(r).join('')), condition: s.Condition ?? null }));
    };
    const logs = (functionId: string) => ({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(new RegExp(`^${functionId.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase())}Logs\\w+Arn$`))], condition: null });
    const get = (...keys: string[]) => ({ actions: ['s3:GetObject'], resources: keys.map(arn), condition: null });
    const put = (...keys: string[]) => ({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: keys.map(arn), condition: null });
    const del = (...keys: string[]) => ({ actions: ['s3:DeleteObject'], resources: keys.map(arn), condition: null });
    const ids = plan.functions.map((f) => f.id);
    const actual = Object.fromEntries(ids.map((id) => [id, statementsOf(id)]));
    const expected = {
      '1 stage': () => ({
        [ids[0]]: [logs(ids[0]), get('runs/*/input.f32'), put('runs/*/result.f32'), del('runs/*/input.f32', 'runs/*/result.f32')],
      }),
      // Stage 0 hands over in the state payload: no object between the stages.
      '2 stages': () => ({
        [ids[0]]: [logs(ids[0]), get('runs/*/input.f32'), del('runs/*/input.f32', 'runs/*/stage0/output.f32', 'runs/*/result.f32')],
        [ids[1]]: [logs(ids[1]), put('runs/*/result.f32'), del('runs/*/input.f32', 'runs/*/stage0/output.f32')],
      }),
      // Stage 0 hands over through S3, stage 1 in the state payload.
      '3 stages': () => ({
        [ids[0]]: [logs(ids[0]), get('runs/*/input.f32'), put('runs/*/stage0/output.f32'), del('runs/*/input.f32', 'runs/*/stage0/output.f32', 'runs/*/stage1/output.f32', 'runs/*/result.f32')],
        [ids[1]]: [logs(ids[1]), get('runs/*/stage0/output.f32')],
        [ids[2]]: [logs(ids[2]), put('runs/*/result.f32'), del('runs/*/input.f32', 'runs/*/stage0/output.f32', 'runs/*/stage1/output.f32')],
      }),
    }[name]!;
    expect(actual).toEqual(expected());
  });

  it.each(CASES)('$name: cdk-nag AwsSolutions finds nothing unacknowledged', ({ name }) => {
    const { stack } = built.get(name)!;
    expect(new AwsSolutionsChecks().validateScope(stack).violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('the stage files', () => {
  it('a missing stage file fails the synth naming the stage, the file and how to write it', () => {
    const { plan, files } = built.get('3 stages')!;
    const dir = stageFilesDir(files.filter((f) => f.stage !== 1));
    const path = join(dir, 'stage1.onnx');
    expect(() => unitStack(plan, dir)).toThrow(`${path}, field functions.stage1-1024.package.modelFile: stage 1 (${plan.workflow.stages[1].name}) of plan ${plan.planId}: its model file ${path} is missing: write the stage files with stepinfer stages <plan.json> -o ${dir}`);
  });

  it('a stage file of another size (another plan\'s or model\'s) fails the synth naming it', () => {
    const { plan, files } = built.get('2 stages')!;
    const dir = stageFilesDir(files.map((f) => (f.stage === 0 ? { name: f.name, bytes: f.bytes.subarray(1) } : f)));
    const path = join(dir, 'stage0.onnx');
    expect(() => unitStack(plan, dir)).toThrow(`${path}, field functions.stage0-1769.package.modelBytes: stage 0 (${plan.workflow.stages[0].name}) of plan ${plan.planId}: its model file ${path} has ${files[0].bytes.length - 1} bytes, the plan's package ${files[0].bytes.length}: it is another plan's or another model's; write it again with stepinfer stages <plan.json> -o ${dir}`);
  });

  it('a container-image package is refused: the stack deploys .zip packages', () => {
    const { plan } = built.get('1 stage')!;
    const content = { ...plan, functions: plan.functions.map((f) => ({ ...f, package: { ...f.package, kind: 'image' as const } })) };
    const planId = computePlanId({ ...content, planId: '' });
    const image = parseStagesPlan({ ...content, planId, names: stagesPlanNames(planId, DEFAULT_STACK_PREFIX, content.functions.map((f) => f.id)) }, 'image plan');
    expect(() => unitStack(image, built.get('1 stage')!.dir)).toThrow(`field functions.${image.functions[0].id}.package.kind: stage 0 (${image.workflow.stages[0].name}) of plan ${planId} is packaged as a container image: this stack deploys .zip packages only`);
  });

  it('`cdk synth` of a stages plan without -c stageModels fails saying how to name them', () => {
    const { plan } = built.get('1 stage')!;
    const file = join(newDir(), 'plan.json');
    writeFileSync(file, serializeStagesPlan(plan));
    expect(() => appFromContext(new App({ outdir: newDir(), context: { plan: file } }))).toThrow(
      `${file} is a stages plan: name the folder of its stage files, cdk synth -c plan=${file} -c stageModels=DIR (written by stepinfer stages ${file} -o DIR)`,
    );
  });

  it('the runtime a package carries: onnxruntime-node\'s JavaScript and its linux binaries of one architecture, and onnxruntime-common', () => {
    const relative = (arch: 'x86_64' | 'arm64') => onnxRuntimeFiles(arch).map((f) => f.to).filter((to) => to.includes('/bin/'));
    expect(relative('x86_64')).toEqual(['node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1', 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node']);
    expect(relative('arm64')).toEqual(['node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1', 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node']);
    const x64 = onnxRuntimeFiles('x86_64');
    expect(x64.filter((f) => !f.to.includes('/bin/')).every((f) => f.to.endsWith('.js') || f.to.endsWith('package.json'))).toBe(true);
    expect(x64.map((f) => f.to)).toEqual(expect.arrayContaining(['node_modules/onnxruntime-node/package.json', 'node_modules/onnxruntime-node/dist/index.js', 'node_modules/onnxruntime-common/package.json', 'node_modules/onnxruntime-common/dist/cjs/index.js', 'node_modules/onnxruntime-common/dist/cjs/package.json']));
    const bytes = x64.reduce((t, f) => t + f.bytes, 0);
    expect(bytes).toBeGreaterThan(40e6);
    expect(bytes).toBeLessThan(50e6);
  });
});

/** Every file under `dir`, relative, with its size. */
function tree(dir: string, prefix = ''): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of readdirSync(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const s = statSync(join(dir, rel));
    if (s.isDirectory()) for (const [k, v] of tree(dir, rel)) out.set(k, v);
    else out.set(rel, s.size);
  }
  return out;
}

/** The asset folder of each stage function of a synthesized template, by function id. */
function functionAssets(plan: StagesPlan, template: { Resources: Resources }, outdir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of plan.functions) {
    const [, fn] = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.FunctionName === plan.names.functions[f.id])!;
    const key = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
    out.set(f.id, join(outdir, `asset.${key}`));
  }
  return out;
}

/** Checks each stage package: the bundle, its own stage file, the linux x64 runtime only, within 250 MB unzipped. */
function expectStagePackages(plan: StagesPlan, files: readonly StageFile[], assets: Map<string, string>): void {
  const runtime = onnxRuntimeFiles('x86_64');
  for (const f of plan.functions) {
    const dir = assets.get(f.id)!;
    const contents = tree(dir);
    const stageFile = files.find((x) => x.stage === f.stage)!;
    expect(readFileSync(join(dir, f.package.modelFile)).equals(stageFile.bytes)).toBe(true);
    // Its own stage file only, the bundle, and exactly the runtime's files.
    expect([...contents.keys()].sort()).toEqual(['index.mjs', f.package.modelFile, ...runtime.map((r) => r.to)].sort());
    expect(contents.get('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')).toBeGreaterThan(0);
    expect(contents.get('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1')).toBeGreaterThan(40e6);
    const total = [...contents.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(AWS_LIMITS.lambdaUnzippedPackageBytes.value);
    // The bundle imports onnxruntime-node from beside it, and carries everything else.
    const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
    expect(bundle).toMatch(/from ["']onnxruntime-node["']/);
    expect(bundle).not.toMatch(/from ["']@aws-sdk\//);
  }
}

describe('bundled stage packages', () => {
  it.each(['2 stages', '3 stages'])('%s: each function\'s package holds the bundle, its stage file and onnxruntime-node for linux x64, within 250 MB', (name) => {
    const { plan, files, dir } = built.get(name)!;
    const outdir = newDir();
    const { app } = stagesApp(plan, dir, { outdir, builtinCloudFormationValidation: false });
    const stderr = process.stderr.write;
    process.stderr.write = () => true;
    try {
      app.synth();
    } finally {
      process.stderr.write = stderr;
    }
    const template = JSON.parse(readFileSync(join(outdir, 'PlanStack.template.json'), 'utf8')) as { Resources: Resources };
    const assets = functionAssets(plan, template, outdir);
    expect(new Set(assets.values()).size).toBe(plan.functions.length);
    expectStagePackages(plan, files, assets);
  }, 180_000);
});

describe('the full synth', () => {
  it('`cdk synth -c plan=... -c stageModels=...` (the CLI, offline, validated) packages the stage, and its package alone runs the plan\'s workflow, exact against the whole model', async () => {
    const { plan, files, dir } = built.get('1 stage')!;
    const outdir = newDir();
    const planFile = join(outdir, 'plan.json');
    writeFileSync(planFile, serializeStagesPlan(plan));
    const cdkOut = join(outdir, 'cdk.out');
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const cli = spawnSync(join(repoRoot, 'node_modules/.bin/cdk'), ['synth', '-c', `plan=${planFile}`, '-c', `stageModels=${dir}`, '-o', cdkOut, '--quiet', '--no-notices'], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
    });
    expect(cli.status, cli.stderr).toBe(0);
    const template = JSON.parse(readFileSync(join(cdkOut, 'PlanStack.template.json'), 'utf8')) as { Resources: Resources; Outputs: Record<string, { Value: unknown }> };
    expect(template.Outputs[PLAN_ID_OUTPUT].Value).toBe(plan.planId);
    const assets = functionAssets(plan, template, cdkOut);
    expectStagePackages(plan, files, assets);

    // The package alone, in a folder with nothing above it: the bundle, the stage file and the runtime it carries.
    const alone = newDir('stepinfer-stage-package-');
    cpSync(assets.get(plan.functions[0].id)!, alone, { recursive: true });
    expect(existsSync(join(alone, '..', 'node_modules'))).toBe(false);
    const input: DenseTensor = { dims: [...plan.model.input.dims], data: Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i) * 0.5) };
    const run = await runStagesLocally(plan, input, { stageFilesDir: alone, handlerModule: join(alone, 'index.mjs'), logSink: () => undefined });
    const whole = await runOnnx(await createOnnxSession(encodeOnnxModel(stagesModel(plan).graph), 1, MODEL), input, MODEL);
    expect(run.output.dims).toEqual([1, 1000]);
    expect([...new Uint32Array(run.output.data.buffer, run.output.data.byteOffset, run.output.data.length)])
      .toEqual([...new Uint32Array(whole.data.buffer, whole.data.byteOffset, whole.data.length)]);
    expect(new Set(whole.data).size).toBeGreaterThan(100);
    expect(run.stages.map((s) => [s.index, s.memoryMB])).toEqual([[0, 2048]]);
  }, 240_000);
});
