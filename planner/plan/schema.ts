// plan.json: the planner's output and the single input from which workflows/, functions/ and infra/
// are generated. Versioned (formatVersion 1) and validated once at the edge by a zod schema, with
// cross-field checks (stages cover the layers in order, neuron maps decode to N owners below the
// worker count, launch trees have the stated size, timeouts within Lambda's limit), so inner code
// trusts it. parsePlan names the file and the field path of the first problem.

import { z } from 'zod';
import { fromZodError, PlanFormatError } from '../../model/errors.ts';
import { PRICE_NAMES } from '../cost/prices.ts';
import { runCountersSchema } from '../cost/record.ts';
import { LATENCY_CONSTANT_NAMES } from '../latency/constants.ts';
import { decodeNeuronMap, encodedNeuronMapSchema } from './neuron-maps.ts';

export const PLAN_FORMAT_VERSION = 1;

const int = z.number().int();
const nonnegative = z.number().nonnegative();
const seconds = z.number().nonnegative();
const memoryMB = int.min(128, 'Lambda memory must be at least 128 MB').max(10240, 'Lambda memory must be at most 10,240 MB');
const timeoutSeconds = int.min(1).max(900, 'a Lambda timeout is at most 900 seconds');
const architecture = z.enum(['x86_64', 'arm64']);
const shape = z.enum(['serial', 'stages', 'map-per-layer', 'layer-groups']);
const channelKind = z.enum(['queue', 'object', 'none']);

const launchSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('task') }).strict(),
  z.object({
    kind: z.literal('map'),
    /** inline: up to 40 concurrent iterations; distributed: child executions (Express). */
    mode: z.enum(['inline', 'distributed']),
    maxConcurrency: int.min(1),
  }).strict(),
  z.object({
    kind: z.literal('tree'),
    branchingFactor: int.min(1),
    levels: int.min(1),
  }).strict(),
]);

const latencyPartsSchema = z.object({
  launch: seconds, load: seconds, compute: seconds, communication: seconds, orchestration: seconds,
}).strict();

const byServiceSchema = z.object({
  lambda: nonnegative, sns: nonnegative, sqs: nonnegative, s3: nonnegative, stepfunctions: nonnegative, server: nonnegative,
}).strict();

const costLineSchema = z.object({
  service: z.enum(['lambda', 'sns', 'sqs', 's3', 'stepfunctions', 'server']),
  item: z.string(),
  quantity: nonnegative,
  unit: z.string(),
  price: z.enum(PRICE_NAMES),
  unitPriceUSD: nonnegative,
  usd: nonnegative,
}).strict();

const stageSchema = z.object({
  index: int.nonnegative(),
  /** 1-based, inclusive. */
  firstLayer: int.min(1),
  lastLayer: int.min(1),
  memoryMB,
  functionId: z.string().min(1),
  launch: launchSchema,
  /** Channel between the layers of this stage ('none' for one layer or one worker). */
  channel: channelKind,
  timeoutSeconds,
  predicted: z.object({
    seconds,
    workerSeconds: seconds,
    costUSD: nonnegative,
    requiredMemoryMB: int.nonnegative(),
    latency: latencyPartsSchema,
  }).strict(),
}).strict();

const alternativeSchema = z.object({
  label: z.string(),
  family: z.string(),
  shape,
  method: z.enum(['screen', 'milp']),
  workers: int.min(1),
  channel: channelKind,
  launch: z.string(),
  workflowType: z.enum(['STANDARD', 'EXPRESS']),
  stages: z.array(z.object({ firstLayer: int.min(1), lastLayer: int.min(1), memoryMB }).strict()),
  latencySeconds: seconds,
  costUSD: nonnegative,
  byServiceUSD: byServiceSchema,
  latency: latencyPartsSchema,
  meetsSlo: z.boolean(),
  pareto: z.boolean(),
  chosen: z.boolean(),
}).strict();

export const planSchema = z.object({
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  kind: z.literal('stepinfer-plan'),
  generator: z.object({ name: z.string(), version: z.string() }).strict(),
  model: z.object({
    source: z.enum(['graphchallenge-tsv', 'sdnn', 'generated']),
    /** Directory or file as given on the command line (null when generated). */
    path: z.string().nullable(),
    generate: z.object({ neurons: int.min(2), layers: int.min(1), seed: int }).strict().nullable(),
    neurons: int.min(1),
    layers: int.min(1),
    nonzeros: int.nonnegative(),
    bias: z.number(),
    activationCap: z.number(),
    checksum: z.object({ algorithm: z.literal('sha256-network-v1'), value: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest') }).strict(),
  }).strict(),
  workload: z.object({
    inputs: z.object({
      source: z.enum(['tsv', 'generated']),
      path: z.string().nullable(),
      samples: int.min(1),
      seed: int.nullable(),
      density: z.number().nullable(),
    }).strict(),
    rows: int.min(1),
    /** Where per-layer activation density comes from. */
    densitySource: z.enum(['serial-sample', 'assumed-density']),
    sampleRows: int.nonnegative(),
    assumedDensity: z.number().nullable(),
    outputDensity: z.number().min(0).max(1),
    categoryFraction: z.number().min(0).max(1),
    layers: z.array(z.object({
      layer: int.min(1),
      inputDensity: z.number().min(0).max(1),
      inputNonzeros: nonnegative,
      scatterMultiplyAdds: nonnegative,
      gatherMultiplyAdds: nonnegative,
    }).strict()),
  }).strict(),
  objective: z.object({ kind: z.enum(['cost', 'latency']), sloSeconds: z.number().positive().nullable() }).strict(),
  shape,
  workers: int.min(1).max(65535),
  /** Largest stage memory (every stage has its own in stages[].memoryMB). */
  memoryMB,
  architecture,
  threadsPerWorker: int.min(1),
  workflow: z.object({
    type: z.enum(['STANDARD', 'EXPRESS']),
    executionTimeoutSeconds: int.min(1),
    predictedHistoryEvents: int.nonnegative(),
  }).strict(),
  partition: z.object({
    scheme: z.string(),
    seed: int,
    workers: int.min(1),
    /** maps[0] owns the inputs, maps[l] layer l's outputs. */
    maps: z.array(encodedNeuronMapSchema),
    totalRowSends: int.nonnegative(),
    maxNonzeroImbalance: nonnegative,
  }).strict(),
  channel: z.object({
    kind: channelKind,
    queue: z.object({
      topics: int.min(1),
      queues: int.min(1),
      messageMaxBytes: int.min(1024).max(262144),
      publishBatchEntries: int.min(1).max(10),
      receiveBatchMessages: int.min(1).max(10),
      waitTimeSeconds: int.min(0).max(20),
      rawMessageDelivery: z.boolean(),
    }).strict().nullable(),
    object: z.object({
      buckets: int.min(1),
      keyPattern: z.string(),
      listIntervalSeconds: z.number().positive(),
      emptyMarkers: z.boolean(),
    }).strict().nullable(),
  }).strict(),
  handoff: z.object({ kind: z.literal('s3'), keyPattern: z.string() }).strict(),
  resources: z.object({ topics: int.nonnegative(), queues: int.nonnegative(), buckets: int.min(1) }).strict(),
  functions: z.array(z.object({
    id: z.string().min(1),
    role: z.enum(['worker', 'gather']),
    memoryMB,
    timeoutSeconds,
    architecture,
  }).strict()).min(1),
  stages: z.array(stageSchema).min(1),
  gather: z.object({ functionId: z.string(), timeoutSeconds }).strict().nullable(),
  predicted: z.object({
    latencySeconds: seconds,
    costUSD: nonnegative,
    latency: latencyPartsSchema,
    cost: z.object({ totalUSD: nonnegative, byServiceUSD: byServiceSchema, lines: z.array(costLineSchema) }).strict(),
    counters: runCountersSchema,
  }).strict(),
  explanation: z.string(),
  alternatives: z.array(alternativeSchema),
  server: z.object({
    instanceType: z.string(),
    latencySeconds: seconds,
    costUSD: nonnegative,
    utilization: z.number().min(0).max(1),
    feasible: z.boolean(),
    note: z.string(),
  }).strict(),
  prices: z.object({
    region: z.string(),
    date: z.string(),
    values: z.record(z.enum(PRICE_NAMES), nonnegative),
    sources: z.record(z.enum(PRICE_NAMES), z.string()),
  }).strict(),
  calibration: z.object({
    default: z.boolean(),
    path: z.string().nullable(),
    date: z.string(),
    cpuModel: z.string(),
    scatterMacsPerSecond: z.number().positive(),
    gatherMacsPerSecond: z.number().positive(),
  }).strict(),
  latencyConstants: z.object({ date: z.string(), values: z.record(z.enum(LATENCY_CONSTANT_NAMES), nonnegative) }).strict(),
  assumptions: z.object({
    bytesPerNonzero: z.number().positive(),
    safetyFactor: z.number().min(1),
    notes: z.array(z.string()),
  }).strict(),
}).strict().superRefine((plan, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const L = plan.model.layers, N = plan.model.neurons;
  // Stages cover layers 1..L in order.
  let expect = 1;
  plan.stages.forEach((s, i) => {
    if (s.index !== i) issue(['stages', i, 'index'], `must be ${i} (stages are listed in order)`);
    if (s.firstLayer !== expect) issue(['stages', i, 'firstLayer'], `must be ${expect}: stages cover layers 1..${L} without gaps or overlaps`);
    if (s.lastLayer < s.firstLayer) issue(['stages', i, 'lastLayer'], `must be >= firstLayer (${s.firstLayer})`);
    if (s.lastLayer > L) issue(['stages', i, 'lastLayer'], `the model has ${L} layers`);
    expect = s.lastLayer + 1;
    if (!plan.functions.some((f) => f.id === s.functionId && f.role === 'worker' && f.memoryMB === s.memoryMB)) {
      issue(['stages', i, 'functionId'], `no worker function "${s.functionId}" of ${s.memoryMB} MB in functions`);
    }
    if (s.launch.kind === 'tree') {
      let size = 0, power = 1;
      for (let k = 0; k < s.launch.levels; k++) { power *= s.launch.branchingFactor; size += power; }
      if (size !== plan.workers) issue(['stages', i, 'launch'], `a tree of branching ${s.launch.branchingFactor} and ${s.launch.levels} levels launches ${size} workers, the plan has ${plan.workers}`);
    }
    if (s.launch.kind === 'map' && s.launch.mode === 'inline' && plan.workers > 40 && s.lastLayer > s.firstLayer) {
      issue(['stages', i, 'launch'], 'an inline Map runs at most 40 iterations at once; workers that exchange rows must all run: use mode distributed');
    }
    if (s.launch.kind === 'task' && plan.workers !== 1) issue(['stages', i, 'launch'], 'a single Task runs one worker; use map or tree');
    if (plan.workers > 1 && s.lastLayer > s.firstLayer && s.channel === 'none') issue(['stages', i, 'channel'], 'layers of a multi-layer stage exchange rows: queue or object');
    if (s.channel !== 'none' && s.channel !== plan.channel.kind) issue(['stages', i, 'channel'], `must match channel.kind (${plan.channel.kind})`);
  });
  if (expect !== L + 1) issue(['stages'], `stages end at layer ${expect - 1}, the model has ${L} layers`);
  const maxMemory = Math.max(...plan.stages.map((s) => s.memoryMB));
  if (plan.memoryMB !== maxMemory) issue(['memoryMB'], `must be the largest stage memory (${maxMemory})`);
  if (plan.workers > N) issue(['workers'], `${plan.workers} workers exceed the model's ${N} neurons`);
  if (plan.workers === 1 && plan.shape !== 'serial' && plan.shape !== 'stages') issue(['shape'], 'one worker runs serial or stages');
  if (plan.workers > 1 && (plan.shape === 'serial' || plan.shape === 'stages')) issue(['shape'], `${plan.shape} runs one worker`);
  if (plan.channel.kind === 'queue' && !plan.channel.queue) issue(['channel', 'queue'], 'required for the queue channel');
  if (plan.channel.kind === 'object' && !plan.channel.object) issue(['channel', 'object'], 'required for the object channel');
  if (plan.workers > 1 && !plan.gather) issue(['gather'], 'required with more than one worker');
  if (plan.gather && !plan.functions.some((f) => f.id === plan.gather!.functionId && f.role === 'gather')) issue(['gather', 'functionId'], `no gather function "${plan.gather.functionId}"`);
  if (plan.workload.layers.length !== L) issue(['workload', 'layers'], `has ${plan.workload.layers.length} entries, the model ${L} layers`);
  if (plan.workflow.type === 'EXPRESS' && plan.workflow.executionTimeoutSeconds > 300) issue(['workflow', 'executionTimeoutSeconds'], 'an Express execution lasts at most 300 seconds');
  // Neuron maps: L + 1 of them, each N owners below the worker count.
  const part = plan.partition;
  if (part.workers !== plan.workers) issue(['partition', 'workers'], `must equal workers (${plan.workers})`);
  if (part.maps.length !== L + 1) {
    issue(['partition', 'maps'], `needs ${L + 1} maps (inputs and every layer), has ${part.maps.length}`);
    return;
  }
  const decoded: Uint16Array[] = [];
  for (let l = 0; l < part.maps.length; l++) {
    const owner = decodeNeuronMap(part.maps[l], N, decoded);
    if (typeof owner === 'string') { issue(['partition', 'maps', l], owner); return; }
    let max = 0;
    for (let j = 0; j < owner.length; j++) if (owner[j] > max) max = owner[j];
    if (max >= plan.workers) { issue(['partition', 'maps', l], `owner ${max} is not one of the ${plan.workers} workers`); return; }
    decoded.push(owner);
  }
});

export type Plan = z.infer<typeof planSchema>;
export type PlanStage = Plan['stages'][number];
export type PlanLaunch = PlanStage['launch'];
export type PlanAlternative = Plan['alternatives'][number];

/**
 * Parses and validates a plan (JSON text or an already parsed value). Throws PlanFormatError
 * naming `file` and the field path of the first problem (all problems are in `issues`).
 */
export function parsePlan(json: unknown, file: string): Plan {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new PlanFormatError(`not valid JSON: ${(error as Error).message}`, { file });
    }
  }
  if (value && typeof value === 'object' && 'formatVersion' in value && (value as { formatVersion: unknown }).formatVersion !== PLAN_FORMAT_VERSION) {
    throw new PlanFormatError(
      `plan format version ${String((value as { formatVersion: unknown }).formatVersion)} is not supported (this stepinfer reads version ${PLAN_FORMAT_VERSION}); re-run stepinfer plan`,
      { file, field: 'formatVersion' },
    );
  }
  const parsed = planSchema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, file, { kind: PlanFormatError });
  return parsed.data;
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
