// The stages plan (kind "stepinfer-stages-plan"): the deployment contract of a dense ONNX model cut
// into sequential stages (AMPS-Inf), one Lambda function per stage with its own memory size and its
// own sub-model file. It is its own plan kind beside the sparse plan (schema.ts), with the same
// conventions: formatVersion, a content-hash planId, names derived from it, validated once at the
// edge by zod with cross-field checks (stages cover the units in order, each stage on its own
// function, output shapes carry the batch, a "payload" hand-off fits the state payload, packages
// within Lambda's limits), so the stage handler, the workflow and the stack trust it.
// parseAnyPlan reads either kind.

import { z } from 'zod';
import { PlanFormatError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../aws-limits.ts';
import {
  computePlanId, nameProblems, planNames, PLAN_ID_HEX_DIGITS, stackPrefixProblem, STACK_PREFIX_MAX_CHARS, STACK_PREFIX_PATTERN,
  type PlanNames,
} from './names.ts';
import {
  checkFormatVersion,
  namesSchema, parsePlan, planJsonValue, PLAN_FORMAT_VERSION, retryPolicyName, retrySchema, taskSchema, validatePlanValue, type Plan,
} from './schema.ts';

export const STAGES_PLAN_KIND = 'stepinfer-stages-plan';

/** The model's checksum: SHA-256 of the ONNX file's bytes, as read. */
export const ONNX_FILE_CHECKSUM_ALGORITHM = 'sha256';

/** Bytes of one float32 element: every tensor of a stages plan is float32. */
export const FLOAT32_BYTES = 4;

/**
 * Bytes of a state payload kept free beside a "payload" hand-off's base64 text: the JSON keys and
 * dims around it, a checksum, and the execution's own fields the workflow passes along.
 */
export const STAGE_PAYLOAD_ALLOWANCE_BYTES = 16 * 1024;

/** Characters of the base64 text of `bytes` bytes. */
export function base64Chars(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * Whether a tensor of `bytes` bytes travels in the Step Functions state payload: its base64 text and
 * the allowance fit the 256 KiB limit. Otherwise it goes through S3 (handoff "object").
 */
export function handoffFitsPayload(bytes: number): boolean {
  return base64Chars(bytes) + STAGE_PAYLOAD_ALLOWANCE_BYTES <= AWS_LIMITS.sfnPayloadBytes.value;
}

/** The largest package of a kind: 250 MB unzipped for a .zip, 10 GB for a container image. */
export function packageLimitBytes(kind: 'zip' | 'image'): number {
  return kind === 'zip' ? AWS_LIMITS.lambdaUnzippedPackageBytes.value : AWS_LIMITS.lambdaContainerImageBytes.value;
}

/** The function id of stage `stage` at `memoryMB`: stage<index>-<memoryMB>. */
export const stageFunctionId = (stage: number, memoryMB: number): string => `stage${stage}-${memoryMB}`;

/** The sub-model file of stage `stage` in its package. */
export const stageModelFile = (stage: number): string => `stage${stage}.onnx`;

const L = AWS_LIMITS;
const int = z.number().int();
const memoryMB = int
  .min(L.lambdaMinMemoryMB.value, `Lambda memory must be at least ${L.lambdaMinMemoryMB.value} MB`)
  .max(L.lambdaMaxMemoryMB.value, `Lambda memory must be at most ${L.lambdaMaxMemoryMB.value.toLocaleString('en-US')} MB`);
const timeoutSeconds = int.min(1).max(L.lambdaMaxTimeoutSeconds.value, `a Lambda timeout is at most ${L.lambdaMaxTimeoutSeconds.value} seconds`);
const stageFunctionIdSchema = z.string().regex(/^stage\d+-\d+$/, 'a stage function id: stage<index>-<memoryMB>');
const keyPattern = z.string().regex(/^[A-Za-z0-9_./<>-]+$/, 'an S3 key pattern of letters, digits, / . _ - and <placeholders>');
const dims = z.array(int.min(1)).min(1).describe('tensor shape; dims[0] is the batch');
const tensorSchema = z.object({
  name: z.string().min(1).describe('the graph input or output name'),
  dims,
}).strict();

const packageSchema = z.object({
  kind: z.enum(['zip', 'image']).describe(`zip: at most ${L.lambdaUnzippedPackageBytes.value} bytes unzipped; image: a container image of at most ${L.lambdaContainerImageBytes.value} bytes`),
  modelFile: z.string().regex(/^stage\d+\.onnx$/, 'stage<index>.onnx').describe("the stage's sub-model (ONNX), in the package"),
  modelBytes: int.min(1).describe('bytes of the sub-model file'),
  unzippedBytes: int.min(1).describe('bytes of the whole package unzipped: the sub-model, the handler bundle and the ONNX runtime'),
}).strict();

const stageFunctionSchema = z.object({
  id: stageFunctionIdSchema,
  role: z.literal('stage'),
  stage: int.nonnegative().describe('the index of the stage this function runs'),
  memoryMB,
  timeoutSeconds,
  reservedConcurrency: z.literal(1).describe('one instance per execution: stages run one after the other'),
  architecture: z.enum(['x86_64', 'arm64']),
  package: packageSchema,
}).strict();

const stageOutputSchema = z.object({
  dims,
  bytes: int.min(1).describe('float32 bytes of the tensor: 4 x the product of dims'),
  handoff: z.enum(['payload', 'object']).describe(
    `payload: in the state output as { dims, base64 } (only when its base64 and ${STAGE_PAYLOAD_ALLOWANCE_BYTES} bytes of allowance fit ${L.sfnPayloadBytes.value} bytes); object: in S3 at storage.handoff; the last stage writes its output to storage.result whatever this says, and the planner sets object`,
  ),
}).strict();

const workflowStageSchema = z.object({
  index: int.nonnegative(),
  firstUnit: int.min(1).describe('1-based, inclusive: a layer unit of model/onnx/units.ts'),
  lastUnit: int.min(1).describe('1-based, inclusive'),
  name: z.string().min(1).describe('readable, from the units\' names ("conv1 .. layer2.0")'),
  functionId: stageFunctionIdSchema.describe("the function that runs this stage's units"),
  task: taskSchema,
  output: stageOutputSchema,
}).strict();

export const stagesPlanSchema = z.object({
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  kind: z.literal(STAGES_PLAN_KIND),
  planId: z.string().regex(new RegExp(`^[0-9a-f]{${PLAN_ID_HEX_DIGITS}}$`), `a plan id: ${PLAN_ID_HEX_DIGITS} lowercase hex digits`)
    .describe('SHA-256 of the canonical JSON of every other field but names, first 16 hex digits'),
  stackPrefix: z.string().max(STACK_PREFIX_MAX_CHARS, `at most ${STACK_PREFIX_MAX_CHARS} characters`)
    .regex(STACK_PREFIX_PATTERN, 'lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen')
    .describe('first part of every resource name'),
  model: z.object({
    source: z.literal('onnx'),
    path: z.string().min(1).describe('the ONNX file as given on the command line'),
    checksum: z.object({
      algorithm: z.literal(ONNX_FILE_CHECKSUM_ALGORITHM),
      value: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
    }).strict().describe("SHA-256 of the file's bytes"),
    input: tensorSchema.describe('the graph input with the batch: dims[0] = batch'),
    output: tensorSchema.describe('the graph output with the batch: dims[0] = batch'),
    units: int.min(1).describe('layer units of the graph (model/onnx/units.ts layerUnits)'),
    parameterCount: int.nonnegative(),
    weights: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('file') }).strict().describe("the file's own initializers"),
      z.object({ kind: z.literal('deterministic'), seed: int }).strict()
        .describe('a structure-only file: weights of the right shapes from a seeded generator (model/onnx/extract.ts withDeterministicWeights)'),
    ]),
  }).strict(),
  batch: int.min(1).describe('inputs per execution'),
  shape: z.literal('stages'),
  functions: z.array(stageFunctionSchema).min(1).describe('one per stage, each with its own sub-model'),
  workflow: z.object({
    type: z.enum(['STANDARD', 'EXPRESS']),
    executionTimeoutSeconds: int.min(1),
    retryPolicies: z.record(retryPolicyName, z.array(retrySchema)).describe('Retry lists of the Task states, by name'),
    stages: z.array(workflowStageSchema).min(1),
  }).strict(),
  storage: z.object({
    inputs: keyPattern.describe("the batch's input tensor, staged by the client (<execution>)"),
    handoff: keyPattern.describe('a stage\'s output when its handoff is "object" (<execution>, <stage>)'),
    result: keyPattern.describe("the last stage's output, the execution's result (<execution>)"),
  }).strict().describe('keys in the bucket names.bucket; <execution> is the Step Functions execution name, <stage> the stage index'),
  names: namesSchema,
}).strict().superRefine((plan, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const units = plan.model.units, batch = plan.batch;
  const express = plan.workflow.type === 'EXPRESS';
  const expressMax = L.sfnExpressMaxSeconds.value;
  const stages = plan.workflow.stages;

  // The model's tensors carry the batch.
  if (plan.model.input.dims[0] !== batch) issue(['model', 'input', 'dims', 0], `must be the batch (${batch})`);
  if (plan.model.output.dims[0] !== batch) issue(['model', 'output', 'dims', 0], `must be the batch (${batch})`);

  // Functions: unique ids, the stage and memory their id says, one stage each, packages within limits.
  const ids = new Set<string>();
  plan.functions.forEach((f, i) => {
    const at = ['functions', i];
    if (ids.has(f.id)) issue([...at, 'id'], `function "${f.id}" is listed twice`);
    ids.add(f.id);
    if (f.id !== stageFunctionId(f.stage, f.memoryMB)) issue([...at, 'id'], `must be ${stageFunctionId(f.stage, f.memoryMB)} (stage and memory)`);
    if (f.package.modelFile !== stageModelFile(f.stage)) issue([...at, 'package', 'modelFile'], `must be ${stageModelFile(f.stage)}`);
    if (f.package.modelBytes > f.package.unzippedBytes) issue([...at, 'package', 'modelBytes'], `the package (${f.package.unzippedBytes} bytes) holds the model: cannot be larger`);
    const limit = packageLimitBytes(f.package.kind);
    if (f.package.unzippedBytes > limit) {
      issue([...at, 'package', 'unzippedBytes'], f.package.kind === 'zip'
        ? `${f.package.unzippedBytes} bytes exceed the ${limit}-byte limit of an unzipped .zip package (a container image allows ${L.lambdaContainerImageBytes.value} bytes)`
        : `${f.package.unzippedBytes} bytes exceed the ${limit}-byte limit of a container image`);
    }
    if (express && f.timeoutSeconds > expressMax) issue([...at, 'timeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);
    const users = stages.filter((s) => s.functionId === f.id).length;
    if (users !== 1) issue([...at, 'id'], `function "${f.id}" runs ${users} stages: each stage has its own function`);
  });

  // Stages cover units 1..units in order, each on its own function, outputs with the batch.
  let expect = 1;
  stages.forEach((s, i) => {
    const at = ['workflow', 'stages', i];
    if (s.index !== i) issue([...at, 'index'], `must be ${i} (stages are listed in order)`);
    if (s.firstUnit !== expect) issue([...at, 'firstUnit'], `must be ${expect}: stages cover units 1..${units} without gaps or overlaps`);
    if (s.lastUnit < s.firstUnit) issue([...at, 'lastUnit'], `must be >= firstUnit (${s.firstUnit})`);
    if (s.lastUnit > units) issue([...at, 'lastUnit'], `the model has ${units} units`);
    expect = Math.max(expect, s.lastUnit + 1);
    const f = plan.functions.find((g) => g.id === s.functionId);
    if (!f) issue([...at, 'functionId'], `no stage function "${s.functionId}" in functions`);
    else if (f.stage !== i) issue([...at, 'functionId'], `function "${f.id}" is for stage ${f.stage}`);
    const o = s.output;
    if (o.dims[0] !== batch) issue([...at, 'output', 'dims', 0], `must be the batch (${batch})`);
    const bytes = o.dims.reduce((a, b) => a * b, FLOAT32_BYTES);
    if (o.bytes !== bytes) issue([...at, 'output', 'bytes'], `must be ${bytes} (${FLOAT32_BYTES} bytes x ${o.dims.join(' x ')})`);
    if (o.handoff === 'payload' && !handoffFitsPayload(o.bytes)) {
      issue([...at, 'output', 'handoff'], `${o.bytes} bytes are ${base64Chars(o.bytes)} characters as base64, over the ${L.sfnPayloadBytes.value}-byte state payload with its ${STAGE_PAYLOAD_ALLOWANCE_BYTES}-byte allowance: must be object`);
    }
    if (!Object.hasOwn(plan.workflow.retryPolicies, s.task.retry)) issue([...at, 'task', 'retry'], `no retry policy "${s.task.retry}" in workflow.retryPolicies`);
    if (express && s.task.timeoutSeconds > expressMax) issue([...at, 'task', 'timeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);
  });
  if (expect !== units + 1) issue(['workflow', 'stages'], `stages end at unit ${expect - 1}, the model has ${units} units`);
  const last = stages[stages.length - 1];
  if (JSON.stringify(last.output.dims) !== JSON.stringify(plan.model.output.dims)) {
    issue(['workflow', 'stages', stages.length - 1, 'output', 'dims'], `the last stage's output must be the model's output ${JSON.stringify(plan.model.output.dims)}`);
  }
  if (express && plan.workflow.executionTimeoutSeconds > expressMax) issue(['workflow', 'executionTimeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);

  // Storage keys name what tells runs and stages apart.
  const needs: [keyof typeof plan.storage, string[]][] = [['inputs', ['execution']], ['handoff', ['execution', 'stage']], ['result', ['execution']]];
  for (const [key, placeholders] of needs) {
    for (const p of placeholders) if (!plan.storage[key].includes(`<${p}>`)) issue(['storage', key], `must contain <${p}>`);
  }

  // Names: derived from the prefix and the plan id, valid for AWS.
  const prefixProblem = stackPrefixProblem(plan.stackPrefix);
  if (prefixProblem) issue(['stackPrefix'], prefixProblem);
  const expected = stagesPlanNames(plan.planId, plan.stackPrefix, plan.functions.map((f) => f.id));
  for (const key of Object.keys(expected) as (keyof PlanNames)[]) {
    if (JSON.stringify(plan.names[key]) !== JSON.stringify(expected[key])) {
      issue(['names', key], `must be ${JSON.stringify(expected[key]).slice(0, 120)} (derived from stackPrefix and planId)`);
    }
  }
  for (const problem of nameProblems(plan.names as PlanNames)) issue(problem.field, problem.message);

  // Last: the id covers every field, so any other problem also shows here.
  const id = computePlanId(plan);
  if (plan.planId !== id) issue(['planId'], `does not match the plan's content (${id}): the plan was changed after stepinfer plan wrote it; re-run stepinfer plan`);
});

export type StagesPlan = z.infer<typeof stagesPlanSchema>;
export type StagesPlanStage = StagesPlan['workflow']['stages'][number];
export type StagesPlanFunction = StagesPlan['functions'][number];
export type StagesPlanModel = StagesPlan['model'];

/** The names of a stages plan: one worker, no topics, queues or exchange buckets. */
export function stagesPlanNames(planId: string, stackPrefix: string, functionIds: readonly string[]): StagesPlan['names'] {
  const names = planNames({ planId, stackPrefix, workers: 1, functionIds, topics: 0, queues: 0, deadLetterQueue: false, exchangeBuckets: 0 });
  return { ...names, functions: { ...names.functions }, topics: [...names.topics], queues: [...names.queues], exchangeBuckets: [...names.exchangeBuckets] };
}

/** Parses and validates a stages plan (validatePlanValue with the stages plan schema). */
export function parseStagesPlan(json: unknown, file: string): StagesPlan {
  return validatePlanValue(stagesPlanSchema, json, file);
}

/** The stages plan as JSON text (validated first: a plan that does not parse is never written). */
export function serializeStagesPlan(plan: StagesPlan): string {
  parseStagesPlan(plan, '(plan being written)');
  return `${JSON.stringify(plan, null, 2)}\n`;
}

/** Either kind of plan; `kind` tells them apart. */
export type AnyPlan = Plan | StagesPlan;

/**
 * Reads either kind of plan, by its `kind`: "stepinfer-plan" (sparse, schema.ts) or
 * "stepinfer-stages-plan" (dense stages, this file).
 */
export function parseAnyPlan(json: unknown, file: string): AnyPlan {
  const value = planJsonValue(json, file);
  const kind = value && typeof value === 'object' && !Array.isArray(value) ? (value as { kind?: unknown }).kind : undefined;
  if (kind === STAGES_PLAN_KIND) return parseStagesPlan(value, file);
  if (kind === 'stepinfer-plan') return parsePlan(value, file);
  checkFormatVersion(value, file);
  throw new PlanFormatError(
    `${kind === undefined ? 'missing' : `unknown kind ${JSON.stringify(kind)}`}: a plan is "stepinfer-plan" or "${STAGES_PLAN_KIND}"`,
    { file, field: 'kind' },
  );
}
