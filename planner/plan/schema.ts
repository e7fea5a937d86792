// plan.json: the deployment contract. Workflows, handlers and the CDK stack are generated from it
// alone, so it says everything they need and nothing else (predictions, alternatives and the
// prices used are in the report beside it, report.ts). Versioned (formatVersion 2), identified by
// a hash of its content (planId), validated once at the edge by this zod schema with cross-field
// checks (stages cover the layers, functions exist, launch trees have the plan's size, timeouts
// within Lambda's and Express's limits, names valid for AWS and derived from the plan id, neuron
// maps decode), so inner code trusts it. plan.schema.json is this schema exported for editors.

import { z } from 'zod';
import { fromZodError, PlanFormatError } from '../../model/errors.ts';
import { parseJsonText } from '../../model/json.ts';
import { NETWORK_CHECKSUM_ALGORITHM } from '../../model/checksum.ts';
import { AWS_LIMITS, SQS_QUEUE_LIMITS } from '../aws-limits.ts';
import { launchTreeSize } from '../launch-tree.ts';
import { EXCHANGE_OBJECT_KEY_PATTERN } from '../object-exchange.ts';
import { decodeNeuronMap, encodedNeuronMapSchema } from './neuron-maps.ts';
import { WIRE_COMPRESSIONS } from '../latency/wire-format.ts';
import {
  computePlanId, nameProblems, planNames, PLAN_ID_HEX_DIGITS, stackPrefixProblem, STACK_PREFIX_MAX_CHARS, STACK_PREFIX_PATTERN,
  type PlanNames,
} from './names.ts';

export const PLAN_FORMAT_VERSION = 2;

/** Gather engines of functions/kernels/gather.ts (planner/ cannot import it; a test keeps them equal). */
export const KERNEL_GATHER_ENGINES = ['wasm-simd', 'typescript'] as const;


const L = AWS_LIMITS;
const int = z.number().int();
const memoryMB = int
  .min(L.lambdaMinMemoryMB.value, `Lambda memory must be at least ${L.lambdaMinMemoryMB.value} MB`)
  .max(L.lambdaMaxMemoryMB.value, `Lambda memory must be at most ${L.lambdaMaxMemoryMB.value.toLocaleString('en-US')} MB`);
const timeoutSeconds = int.min(1).max(L.lambdaMaxTimeoutSeconds.value, `a Lambda timeout is at most ${L.lambdaMaxTimeoutSeconds.value} seconds`);
const architecture = z.enum(['x86_64', 'arm64']);
export const planShapeSchema = z.enum(['serial', 'stages', 'map-per-layer', 'layer-groups']);
const channelKind = z.enum(['queue', 'object', 'none']);
const functionId = z.string().regex(/^[a-z]+-\d+$/, 'a function id: <role>-<memoryMB>');
const keyPattern = z.string().regex(/^[A-Za-z0-9_./<>-]+$/, 'an S3 key pattern of letters, digits, / . _ - and <placeholders>');

const launchSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('task') }).strict().describe('one Task invokes the stage function once (one worker)'),
  z.object({
    kind: z.literal('map'),
    mode: z.enum(['inline', 'distributed']).describe(`inline: up to ${L.sfnInlineMapMaxConcurrency.value} iterations at once; distributed: child executions (Express)`),
    maxConcurrency: int.min(1),
  }).strict().describe('a Map state runs one Task per worker'),
  z.object({
    kind: z.literal('tree'),
    branchingFactor: int.min(1),
    levels: int.min(1),
    coordinatorFunctionId: functionId.describe('the function the Task invokes; it starts the launch tree of workers'),
  }).strict().describe("FSD-Inference's launch tree: b + b^2 + ... + b^levels workers"),
]);

export const retrySchema = z.object({
  errorEquals: z.array(z.string().min(1)).min(1),
  intervalSeconds: int.min(1),
  maxAttempts: int.min(0),
  backoffRate: z.number().min(1),
}).strict();

export const retryPolicyName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'a retry policy name');

export const taskSchema = z.object({
  timeoutSeconds: timeoutSeconds.describe('TimeoutSeconds of the Task state'),
  retry: retryPolicyName.describe('the Retry of the Task state: a policy of workflow.retryPolicies'),
}).strict();

const stageSchema = z.object({
  index: int.nonnegative(),
  firstLayer: int.min(1).describe('1-based, inclusive'),
  lastLayer: int.min(1).describe('1-based, inclusive'),
  functionId: functionId.describe("the function that runs this stage's layers (role worker, or stage with one worker)"),
  launch: launchSchema,
  channel: channelKind.describe("channel between this stage's layers ('none' for one layer or one worker)"),
  task: taskSchema,
}).strict();

const functionSchema = z.object({
  id: functionId,
  role: z.enum(['worker', 'gather', 'coordinator', 'stage']),
  memoryMB,
  timeoutSeconds,
  reservedConcurrency: int.min(1).describe('concurrent instances one execution needs: every worker of a stage runs at once'),
  architecture,
}).strict();

const queueChannelSchema = z.object({
  topics: int.min(1).describe('data topics; a message goes to topic (source worker mod topics)'),
  subscriptions: z.literal('every-queue-every-topic').describe("every worker's queue subscribes to every topic, filtered on its own id"),
  filterAttribute: z.string().min(1).describe('String message attribute listing the target workers, comma-delimited with a leading and a trailing comma (",0,2,"): one publish reaches every target'),
  filterPolicyPattern: z.string().min(1).describe('filter policy of worker <worker> queue subscriptions'),
  rawMessageDelivery: z.literal(true),
  maximumMessageSizeBytes: z.literal(L.sqsMessageMaxBytes.value).describe('MaximumMessageSize of every queue (new AWS queues allow more; senders must not rely on it)'),
  bodyEncoding: z.literal('base64').describe('SNS and SQS carry text: message bodies are the base64 of the wire bytes'),
  chunkBytes: int.min(1).describe('wire bytes per message at most: a payload is split into chunks of this size'),
  attributeAllowanceBytes: int.nonnegative().describe('bytes kept free in every message for its attributes'),
  publishBatchEntries: int.min(1).max(L.snsPublishBatchEntries.value),
  publishBatchBytes: int.min(1).max(L.snsPublishBatchBytes.value),
  receiveBatchMessages: int.min(1).max(L.sqsReceiveMaxMessages.value),
  waitTimeSeconds: int.min(0).max(L.sqsMaxWaitSeconds.value).describe('long-poll seconds of a receive'),
  visibilityTimeoutSeconds: int.min(0).max(SQS_QUEUE_LIMITS.maxVisibilityTimeoutSeconds.value),
  messageRetentionSeconds: int.min(SQS_QUEUE_LIMITS.minRetentionSeconds.value).max(SQS_QUEUE_LIMITS.maxRetentionSeconds.value),
  deadLetter: z.object({
    maxReceiveCount: int.min(1).max(SQS_QUEUE_LIMITS.maxReceiveCount.value),
    messageRetentionSeconds: int.min(SQS_QUEUE_LIMITS.minRetentionSeconds.value).max(SQS_QUEUE_LIMITS.maxRetentionSeconds.value),
  }).strict(),
}).strict();

const objectChannelSchema = z.object({
  buckets: int.min(1),
  bucketOfKey: z.literal('layer-mod-buckets').describe("layer l's objects live in exchange bucket (l mod buckets): each layer's burst on its own bucket and prefix"),
  keyPattern: z.literal(EXCHANGE_OBJECT_KEY_PATTERN).describe('one object per (run attempt, layer, source): everything the source sends in the layer to all its targets, behind a directory; <run> names the run and its attempt, so a retried group never reads a failed attempt\'s objects'),
  readiness: z.object({
    method: z.literal('get-then-list').describe("a target GETs each expected source's object by its key; after a NoSuchKey it waits (initialPollSeconds, doubling up to maxPollSeconds) and LISTs the layer's prefix once a round, GETting only the sources that arrived"),
    firstRangeBytes: int.min(1).describe("bytes of a target's first ranged GET of an object (all of it when smaller); its messages beyond take one more GET"),
    initialPollSeconds: z.number().positive(),
    maxPollSeconds: z.number().positive(),
  }).strict(),
  parallelRequests: int.min(1).describe("a worker's concurrent GETs"),
  emptyMarkers: z.literal(true).describe('a source with nothing for anyone still writes its object: the readiness signal, whose empty marker tells each target "nothing for you"'),
  expirationDays: int.min(1).describe('a lifecycle rule removes exchange objects after this many days (what a failed run left; a finished run removes its own)'),
}).strict();

export const namesSchema = z.object({
  stack: z.string(),
  stateMachine: z.string(),
  bucket: z.string(),
  functions: z.record(z.string(), z.string()),
  topics: z.array(z.string()),
  queues: z.array(z.string()).describe('index w: the queue of worker w'),
  deadLetterQueue: z.string().nullable(),
  exchangeBuckets: z.array(z.string()),
}).strict().describe('every resource name: <stackPrefix>-<planId>[-<role>], derived, never chosen');

export const planSchema = z.object({
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  kind: z.literal('stepinfer-plan'),
  planId: z.string().regex(new RegExp(`^[0-9a-f]{${PLAN_ID_HEX_DIGITS}}$`), `a plan id: ${PLAN_ID_HEX_DIGITS} lowercase hex digits`)
    .describe('SHA-256 of the canonical JSON of every other field but names, first 16 hex digits'),
  stackPrefix: z.string().max(STACK_PREFIX_MAX_CHARS, `at most ${STACK_PREFIX_MAX_CHARS} characters`)
    .regex(STACK_PREFIX_PATTERN, 'lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen')
    .describe('first part of every resource name'),
  model: z.object({
    source: z.enum(['graphchallenge-tsv', 'sdnn', 'generated']),
    path: z.string().nullable().describe('directory or file as given on the command line (null when generated)'),
    generate: z.object({ neurons: int.min(2), layers: int.min(1), seed: int }).strict().nullable(),
    neurons: int.min(1),
    layers: int.min(1),
    bias: z.number(),
    activationCap: z.number(),
    checksum: z.object({
      algorithm: z.literal(NETWORK_CHECKSUM_ALGORITHM),
      value: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
    }).strict(),
  }).strict(),
  inputRows: int.min(1).describe('input rows of one run the memory and timeouts were planned for'),
  shape: planShapeSchema,
  workers: int.min(1).max(65535),
  partition: z.object({
    maps: z.array(encodedNeuronMapSchema).describe("maps[0] owns the inputs' neurons, maps[l] layer l's outputs"),
  }).strict(),
  wire: z.object({
    version: int.min(1),
    compression: z.enum(WIRE_COMPRESSIONS),
    compressionLevel: int.nonnegative().nullable(),
  }).strict().describe('the wire format of activation rows (functions/channels/wire.ts), as the planner priced it'),
  kernel: z.object({
    gatherAboveDensity: z.number().min(0).max(1),
    gatherEngine: z.enum(KERNEL_GATHER_ENGINES),
    threads: int.min(1),
  }).strict(),
  functions: z.array(functionSchema).min(1),
  workflow: z.object({
    type: z.enum(['STANDARD', 'EXPRESS']),
    executionTimeoutSeconds: int.min(1),
    retryPolicies: z.record(retryPolicyName, z.array(retrySchema)).describe('Retry lists of the Task states, by name'),
    stages: z.array(stageSchema).min(1),
    gather: z.object({ functionId, task: taskSchema }).strict().nullable(),
  }).strict(),
  channel: z.object({
    kind: channelKind,
    queue: queueChannelSchema.nullable(),
    object: objectChannelSchema.nullable(),
  }).strict(),
  storage: z.object({
    shards: z.object({ keyPattern, manifestKey: keyPattern }).strict(),
    inputs: keyPattern.describe('input rows source <source> (by maps[0]) holds that worker <target> reads in layer 1, staged by the client for one run (stepinfer start --inputs); <execution> is the run id the execution input\'s `inputs` names (its own, normally); removed by that run\'s clean-up'),
    defaultInputs: keyPattern.describe('the plan\'s default inputs (the rows it was made with), by <target> and <source> as inputs; staged once by stepinfer shards upload and read when the execution input\'s `inputs` is "default" (an empty input); outside every run\'s keys, so no clean-up removes them and the run objects\' lifecycle rule does not expire them'),
    handoff: keyPattern.describe('rows of the layer before stage <stage> that worker <target> reads in its first layer, from their owner <source>'),
    outputs: keyPattern.describe("a worker's final rows"),
    status: keyPattern.describe("a worker's result (or failure) for one attempt of a stage, JSON: what its launcher waits for"),
    result: keyPattern.describe('the gathered final rows'),
    categories: keyPattern.describe('the gathered categories, JSON'),
  }).strict().describe('keys in the bucket names.bucket; <execution> is the Step Functions execution name'),
  names: namesSchema,
}).strict().superRefine((plan, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const layers = plan.model.layers, neurons = plan.model.neurons, p = plan.workers;
  const express = plan.workflow.type === 'EXPRESS';
  const expressMax = L.sfnExpressMaxSeconds.value;
  const fn = (id: string) => plan.functions.find((f) => f.id === id);

  // The default inputs are no run's: keyed by target and source only.
  const defaultPlaceholders = [...plan.storage.defaultInputs.matchAll(/<([a-z]+)>/g)].map((m) => m[1]).sort().join(',');
  if (defaultPlaceholders !== 'source,target') issue(['storage', 'defaultInputs'], 'must have the placeholders <target> and <source> and no other (the default inputs belong to no run)');

  // Functions: unique ids, the role and memory their id says, concurrency for every worker.
  const ids = new Set<string>();
  plan.functions.forEach((f, i) => {
    if (ids.has(f.id)) issue(['functions', i, 'id'], `function "${f.id}" is listed twice`);
    ids.add(f.id);
    if (f.id !== `${f.role}-${f.memoryMB}`) issue(['functions', i, 'id'], `must be ${f.role}-${f.memoryMB} (role and memory)`);
    const needed = f.role === 'worker' ? p : 1;
    if (f.reservedConcurrency !== needed) issue(['functions', i, 'reservedConcurrency'], `must be ${needed}: ${f.role === 'worker' ? 'every worker runs at once' : 'one instance per execution'}`);
    if (express && f.timeoutSeconds > expressMax) issue(['functions', i, 'timeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);
    if (f.role === 'worker' && p === 1) issue(['functions', i, 'role'], 'one worker runs as role stage');
    if (f.role === 'stage' && p > 1) issue(['functions', i, 'role'], 'several workers run as role worker');
  });

  // Stages cover layers 1..L in order, each on a function of the right role.
  let expect = 1;
  plan.workflow.stages.forEach((s, i) => {
    const at = ['workflow', 'stages', i];
    if (s.index !== i) issue([...at, 'index'], `must be ${i} (stages are listed in order)`);
    if (s.firstLayer !== expect) issue([...at, 'firstLayer'], `must be ${expect}: stages cover layers 1..${layers} without gaps or overlaps`);
    if (s.lastLayer < s.firstLayer) issue([...at, 'lastLayer'], `must be >= firstLayer (${s.firstLayer})`);
    if (s.lastLayer > layers) issue([...at, 'lastLayer'], `the model has ${layers} layers`);
    expect = s.lastLayer + 1;
    const role = p === 1 ? 'stage' : 'worker';
    const f = fn(s.functionId);
    if (!f || f.role !== role) issue([...at, 'functionId'], `no ${role} function "${s.functionId}" in functions`);
    const l = s.launch;
    if (l.kind === 'tree') {
      const size = launchTreeSize(l);
      if (size !== p) issue([...at, 'launch'], `a tree of branching ${l.branchingFactor} and ${l.levels} levels launches ${size} workers, the plan has ${p}`);
      const c = fn(l.coordinatorFunctionId);
      if (!c || c.role !== 'coordinator') issue([...at, 'launch', 'coordinatorFunctionId'], `no coordinator function "${l.coordinatorFunctionId}" in functions`);
    }
    if (l.kind === 'map') {
      if (l.mode === 'inline' && p > L.sfnInlineMapMaxConcurrency.value && s.lastLayer > s.firstLayer) {
        issue([...at, 'launch'], `an inline Map runs at most ${L.sfnInlineMapMaxConcurrency.value} iterations at once; workers that exchange rows must all run: use mode distributed`);
      }
      if (l.mode === 'inline' && l.maxConcurrency > L.sfnInlineMapMaxConcurrency.value) issue([...at, 'launch', 'maxConcurrency'], `an inline Map runs at most ${L.sfnInlineMapMaxConcurrency.value} iterations at once`);
      if (l.mode === 'distributed' && l.maxConcurrency > L.sfnDistributedMapMaxConcurrency.value) issue([...at, 'launch', 'maxConcurrency'], `a distributed Map runs at most ${L.sfnDistributedMapMaxConcurrency.value} children at once`);
      if (l.mode === 'distributed' && express) issue([...at, 'launch', 'mode'], 'a distributed Map runs only in a Standard workflow');
      // Distributed Map children are Express executions.
      if (l.mode === 'distributed' && s.task.timeoutSeconds > expressMax) issue([...at, 'task', 'timeoutSeconds'], `a distributed Map child (Express) lasts at most ${expressMax} seconds`);
      if (l.mode === 'distributed' && f && f.timeoutSeconds > expressMax) issue([...at, 'functionId'], `function "${f.id}" runs in distributed Map children (Express): its timeout must be at most ${expressMax} seconds`);
    }
    if (l.kind === 'task' && p !== 1) issue([...at, 'launch'], 'a single Task runs one worker; use map or tree');
    if (p > 1 && s.lastLayer > s.firstLayer && s.channel === 'none') issue([...at, 'channel'], 'layers of a multi-layer stage exchange rows: queue or object');
    if (s.channel !== 'none' && s.channel !== plan.channel.kind) issue([...at, 'channel'], `must match channel.kind (${plan.channel.kind})`);
    if (express && s.task.timeoutSeconds > expressMax) issue([...at, 'task', 'timeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);
  });
  const policies = plan.workflow.retryPolicies;
  plan.workflow.stages.forEach((s, i) => {
    if (!Object.hasOwn(policies, s.task.retry)) issue(['workflow', 'stages', i, 'task', 'retry'], `no retry policy "${s.task.retry}" in workflow.retryPolicies`);
  });
  if (plan.workflow.gather && !Object.hasOwn(policies, plan.workflow.gather.task.retry)) issue(['workflow', 'gather', 'task', 'retry'], `no retry policy "${plan.workflow.gather.task.retry}" in workflow.retryPolicies`);
  if (expect !== layers + 1) issue(['workflow', 'stages'], `stages end at layer ${expect - 1}, the model has ${layers} layers`);
  if (p === 1 && plan.shape !== 'serial' && plan.shape !== 'stages') issue(['shape'], 'one worker runs serial or stages');
  if (p > 1 && (plan.shape === 'serial' || plan.shape === 'stages')) issue(['shape'], `${plan.shape} runs one worker`);
  if (p > neurons) issue(['workers'], `${p} workers exceed the model's ${neurons} neurons`);
  const gather = plan.workflow.gather;
  if (p > 1 && !gather) issue(['workflow', 'gather'], 'required with more than one worker');
  if (p === 1 && gather) issue(['workflow', 'gather'], 'one worker writes the result itself: must be null');
  if (gather) {
    const g = fn(gather.functionId);
    if (!g || g.role !== 'gather') issue(['workflow', 'gather', 'functionId'], `no gather function "${gather.functionId}" in functions`);
    if (express && gather.task.timeoutSeconds > expressMax) issue(['workflow', 'gather', 'task', 'timeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);
  }
  if (express && plan.workflow.executionTimeoutSeconds > expressMax) issue(['workflow', 'executionTimeoutSeconds'], `an Express execution lasts at most ${expressMax} seconds`);

  // Channel.
  const ch = plan.channel;
  if (p === 1 && ch.kind !== 'none') issue(['channel', 'kind'], 'one worker exchanges nothing: none');
  if ((ch.kind === 'queue') !== (ch.queue !== null)) issue(['channel', 'queue'], ch.kind === 'queue' ? 'required for the queue channel' : 'must be null unless channel.kind is queue');
  if ((ch.kind === 'object') !== (ch.object !== null)) issue(['channel', 'object'], ch.kind === 'object' ? 'required for the object channel' : 'must be null unless channel.kind is object');
  if (ch.queue) {
    const q = ch.queue;
    const messageBytes = Math.ceil(q.chunkBytes / 3) * 4 + q.attributeAllowanceBytes;
    if (messageBytes > q.maximumMessageSizeBytes) issue(['channel', 'queue', 'chunkBytes'], `a chunk of ${q.chunkBytes} bytes is ${messageBytes} bytes as base64 with its attribute allowance, over the ${q.maximumMessageSizeBytes}-byte message limit`);
    if (q.topics > p) issue(['channel', 'queue', 'topics'], `more topics than the ${p} workers that publish`);
  }
  if (ch.object && ch.object.readiness.maxPollSeconds < ch.object.readiness.initialPollSeconds) {
    issue(['channel', 'object', 'readiness', 'maxPollSeconds'], `must be at least initialPollSeconds (${ch.object.readiness.initialPollSeconds})`);
  }

  // Names: derived from the prefix and the plan id, valid for AWS.
  const prefixProblem = stackPrefixProblem(plan.stackPrefix);
  if (prefixProblem) issue(['stackPrefix'], prefixProblem);
  const expected = planNames({
    planId: plan.planId,
    stackPrefix: plan.stackPrefix,
    workers: p,
    functionIds: plan.functions.map((f) => f.id),
    topics: ch.queue?.topics ?? 0,
    queues: ch.queue ? p : 0,
    deadLetterQueue: ch.queue !== null,
    exchangeBuckets: ch.object?.buckets ?? 0,
  });
  for (const key of Object.keys(expected) as (keyof PlanNames)[]) {
    if (JSON.stringify(plan.names[key]) !== JSON.stringify(expected[key])) {
      issue(['names', key], `must be ${JSON.stringify(expected[key]).slice(0, 120)} (derived from stackPrefix and planId)`);
    }
  }
  for (const problem of nameProblems(plan.names as PlanNames)) issue(problem.field, problem.message);

  // Neuron maps: L + 1 of them, each N owners below the worker count.
  const maps = plan.partition.maps;
  if (maps.length !== layers + 1) issue(['partition', 'maps'], `needs ${layers + 1} maps (inputs and every layer), has ${maps.length}`);
  else {
    const decoded: Uint16Array[] = [];
    for (let l = 0; l < maps.length; l++) {
      const owner = decodeNeuronMap(maps[l], neurons, decoded);
      if (typeof owner === 'string') { issue(['partition', 'maps', l], owner); break; }
      let max = 0;
      for (let j = 0; j < owner.length; j++) if (owner[j] > max) max = owner[j];
      if (max >= p) { issue(['partition', 'maps', l], `owner ${max} is not one of the ${p} workers`); break; }
      decoded.push(owner);
    }
  }

  // Last: the id covers every field, so any other problem also shows here.
  const id = computePlanId(plan);
  if (plan.planId !== id) issue(['planId'], `does not match the plan's content (${id}): plan.json was changed after stepinfer plan wrote it; re-run stepinfer plan`);
});

export type Plan = z.infer<typeof planSchema>;
export type PlanStage = Plan['workflow']['stages'][number];
export type PlanLaunch = PlanStage['launch'];
export type PlanFunction = Plan['functions'][number];
export type PlanTask = PlanStage['task'];
export type PlanRetry = Plan['workflow']['retryPolicies'][string];
export type PlanShape = z.infer<typeof planShapeSchema>;

/** A plan file's value: JSON text parsed (model/read-file.ts), or a value already parsed. */
export function planJsonValue(json: unknown, file: string): unknown {
  return typeof json === 'string' ? parseJsonText(json, file, PlanFormatError) : json;
}

/** Refuses a plan of another format version (of either kind), before its fields are read. */
export function checkFormatVersion(value: unknown, file: string): void {
  if (value && typeof value === 'object' && 'formatVersion' in value && (value as { formatVersion: unknown }).formatVersion !== PLAN_FORMAT_VERSION) {
    throw new PlanFormatError(
      `plan format version ${String((value as { formatVersion: unknown }).formatVersion)} is not supported (this stepinfer reads version ${PLAN_FORMAT_VERSION}); re-run stepinfer plan`,
      { file, field: 'formatVersion' },
    );
  }
}

/**
 * A plan of either kind (JSON text or an already parsed value) checked by its schema: the format
 * version first, then every field. Throws PlanFormatError naming `file` and the field path of the
 * first problem (all problems are in `issues`).
 */
export function validatePlanValue<T>(schema: z.ZodType<T>, json: unknown, file: string): T {
  const value = planJsonValue(json, file);
  checkFormatVersion(value, file);
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, file, { kind: PlanFormatError });
  return parsed.data;
}

/** Parses and validates a sparse plan (validatePlanValue with the plan schema). */
export function parsePlan(json: unknown, file: string): Plan {
  return validatePlanValue(planSchema, json, file);
}

/** The plan as JSON text (validated first: a plan that does not parse is never written). */
export function serializePlan(plan: Plan): string {
  parsePlan(plan, '(plan being written)');
  return `${JSON.stringify(plan, null, 2)}\n`;
}

/** The owner arrays of a validated plan's neuron maps (index 0 = inputs). */
export function planNeuronMaps(plan: Plan): Uint16Array[] {
  const decoded: Uint16Array[] = [];
  for (const map of plan.partition.maps) {
    const owner = decodeNeuronMap(map, plan.model.neurons, decoded);
    if (typeof owner === 'string') throw new PlanFormatError(owner, { field: `partition.maps[${decoded.length}]` });
    decoded.push(owner);
  }
  return decoded;
}
