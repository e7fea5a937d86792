// The events and results of every Lambda handler (worker, gather, coordinator; a stages plan's
// dense stage function at the end), as zod schemas:
// the one definition the handlers parse their input with, the coordinator and the local runtime
// build their calls from, and the generated workflows (workflows/) fill their Task Parameters
// from. An event carries what one invocation needs from plan.json (settings, key patterns) and the
// deployment (resource names and ARNs) so a handler never reads the plan; the shard it loads
// carries the layer structure, checked against the plan id given here.
//
// Payload limits: an Event (asynchronous) invocation takes at most 1 MB (256 KB before 2025;
// planner/aws-limits.ts), a state 256 KiB: events hold references and settings, never rows.

import { z } from 'zod';
import { EventFormatError, fromZodError } from '../../model/errors.ts';
import { planSchema } from '../../planner/plan/schema.ts';
import { stagesPlanSchema } from '../../planner/plan/stages-schema.ts';
import { tensorPayloadSchema } from '../storage/tensor-codec.ts';

const int = z.number().int();
const nonnegative = int.nonnegative();

/** A Step Functions execution name (and S3 key segment): 1-80 of letters, digits, - and _. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;
const runId = z.string().regex(RUN_ID_PATTERN, 'a run id: 1-80 letters, digits, - or _ (a Step Functions execution name)');
const planId = z.string().regex(/^[0-9a-f]{16}$/, 'a plan id: 16 lowercase hex digits');

const planShape = planSchema.shape;
const queueSettings = planShape.channel.shape.queue.unwrap();
const objectSettings = planShape.channel.shape.object.unwrap();

/** Where a worker's channel lives: the plan's settings plus the deployed addresses. */
export const channelAddressSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({
    kind: z.literal('queue'),
    settings: queueSettings,
    /** Index k: data topic k's ARN. */
    topicArns: z.array(z.string().min(1)).min(1),
    /** Index w: worker w's queue URL (a worker reads its own, a test may read any). */
    queueUrls: z.array(z.string().min(1)).min(1),
  }).strict(),
  z.object({
    kind: z.literal('object'),
    settings: objectSettings,
    /** Index k: exchange bucket k's name. */
    buckets: z.array(z.string().min(1)).min(1),
  }).strict(),
]);
export type ChannelAddress = z.infer<typeof channelAddressSchema>;

/** One stage of a run as every worker of it sees it: the same for all of them but `worker`. */
export const stageRunSchema = z.object({
  runId,
  /** 0 for the first attempt; a retried stage runs under a new attempt, so nothing of a failed one mixes in. */
  attempt: nonnegative,
  planId,
  /** The plan's bucket (shards, inputs, handoff, outputs, status). */
  bucket: z.string().min(1),
  storage: planShape.storage,
  stage: nonnegative,
  stages: int.min(1),
  /** 1-based, inclusive. */
  firstLayer: int.min(1),
  lastLayer: int.min(1),
  workers: int.min(1).max(65535),
  /**
   * Stage 0: whose staged input rows its workers read: "default" (the plan's default inputs,
   * storage.defaultInputs) or the run id they were staged for (storage.inputs). Later stages read
   * the hand-off of the stage before: null.
   */
  inputs: runId.nullable(),
  /** Input rows of this run (samples). */
  samples: int.min(1),
  wire: planShape.wire,
  kernel: planShape.kernel,
  channel: channelAddressSchema,
  /** A receive waits at most this long for a layer's rows before the worker fails naming what is missing. */
  receiveTimeoutSeconds: z.number().positive(),
  /** How the stage's workers start: all by the coordinator, or by FSD's launch tree (each worker starts its children). */
  launch: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('flat') }).strict(),
    z.object({ kind: z.literal('tree'), branchingFactor: int.min(1), levels: int.min(1) }).strict(),
  ]),
  /** The worker function's name or ARN (a tree worker invokes its children with it). */
  workerFunction: z.string().min(1),
  /** A one-worker run writes its result itself: with k > 0, each category's k highest activations too. */
  topScores: nonnegative,
}).strict().refine((sr) => (sr.stage === 0) === (sr.inputs !== null), {
  path: ['inputs'], message: 'the first stage names the staged inputs it reads; a later stage reads the hand-off (null)',
});
export type StageRun = z.infer<typeof stageRunSchema>;

export const workerEventSchema = z.object({
  stageRun: stageRunSchema,
  worker: nonnegative,
  /** Depth in the launch tree (1 = started by the coordinator); 0 when launched by a Map state. */
  depth: nonnegative,
}).strict();
export type WorkerEvent = z.infer<typeof workerEventSchema>;

/** What a channel call did, counted as AWS bills it (functions/channels/channel.ts ChannelCounters). */
export const channelCountersSchema = z.object({
  publishes: nonnegative, publishedMessages: nonnegative, publishedBytes: nonnegative,
  puts: nonnegative, gets: nonnegative, getBytes: nonnegative, lists: nonnegative,
  receives: nonnegative, emptyReceives: nonnegative, receivedMessages: nonnegative, duplicates: nonnegative,
  deletes: nonnegative, deletedMessages: nonnegative,
}).strict();

/** One layer at one worker: where its time went and what its exchange cost. */
export const workerLayerSchema = z.object({
  layer: int.min(1),
  /** Epoch ms at the layer's start and end. */
  startMs: z.number(),
  endMs: z.number(),
  /** Splitting and sending this worker's rows. */
  sendMs: z.number().nonnegative(),
  /** The layer kernel. */
  computeMs: z.number().nonnegative(),
  /** Waiting for remote rows after the local work was done (receive time not hidden by overlap). */
  waitMs: z.number().nonnegative(),
  /** Where the layer's remote rows came from: the stage's channel, S3 objects at a stage's start, or nowhere (one worker). */
  via: z.enum(['channel', 'objects', 'local']),
  counters: channelCountersSchema,
  multiplyAdds: nonnegative,
}).strict();
export type WorkerLayer = z.infer<typeof workerLayerSchema>;

/** S3 requests of a handler's own objects (shard, inputs or handoff, outputs; not the status object it ends with: one PUT more). */
export const storageCountersSchema = z.object({ puts: nonnegative, gets: nonnegative, putBytes: nonnegative, getBytes: nonnegative }).strict();
export type StorageCounters = z.infer<typeof storageCountersSchema>;

export const workerResultSchema = z.object({
  runId,
  attempt: nonnegative,
  stage: nonnegative,
  worker: nonnegative,
  ok: z.literal(true),
  /** Whether this invocation loaded the shard (a cold start) or found it cached (warm). */
  shardCached: z.boolean(),
  startMs: z.number(),
  endMs: z.number(),
  /** Workers this one invoked (launch tree). */
  launched: z.array(nonnegative),
  layers: z.array(workerLayerSchema),
  storage: storageCountersSchema,
  /** Where its final rows of the stage went. */
  outputKeys: z.array(z.string()),
  /** The V8 heap in use at the end, MB (the plan's memory size bounds it). */
  heapUsedMB: z.number().nonnegative(),
}).strict();
export type WorkerResult = z.infer<typeof workerResultSchema>;

/** A worker that failed writes this as its status, so its launcher fails at once instead of at its deadline. */
export const workerFailureSchema = z.object({
  runId,
  attempt: nonnegative,
  stage: nonnegative,
  worker: nonnegative,
  ok: z.literal(false),
  errorType: z.string(),
  errorMessage: z.string(),
  layer: int.min(1).nullable(),
  endMs: z.number(),
}).strict();
export type WorkerFailure = z.infer<typeof workerFailureSchema>;

export const workerStatusSchema = z.discriminatedUnion('ok', [workerResultSchema, workerFailureSchema]);
export type WorkerStatus = z.infer<typeof workerStatusSchema>;

export const coordinatorEventSchema = z.object({
  stageRun: stageRunSchema,
  /** The coordinator fails naming the missing workers when not all have reported by then. */
  waitTimeoutSeconds: z.number().positive(),
  /** Seconds between two looks at the status prefix (one ListObjectsV2 each). */
  pollSeconds: z.number().positive(),
}).strict();
export type CoordinatorEvent = z.infer<typeof coordinatorEventSchema>;

export const coordinatorResultSchema = z.object({
  runId,
  attempt: nonnegative,
  stage: nonnegative,
  startMs: z.number(),
  endMs: z.number(),
  /** Invoke calls the coordinator made (the tree's inner workers make the rest). */
  invokes: nonnegative,
  /** ListObjectsV2 calls while waiting. */
  lists: nonnegative,
  /**
   * Each worker's outcome in brief (its full result, per-layer timings and counters, is its status
   * object): a Lambda or state output is at most 256 KiB, and P full results are not.
   */
  workers: z.array(z.object({ worker: nonnegative, startMs: z.number(), endMs: z.number(), statusKey: z.string() }).strict()),
}).strict();
export type CoordinatorResult = z.infer<typeof coordinatorResultSchema>;

export const gatherEventSchema = z.object({
  runId,
  planId,
  bucket: z.string().min(1),
  storage: planShape.storage,
  workers: int.min(1).max(65535),
  samples: int.min(1),
  neurons: int.min(1),
  /** Also return, for every input, its k highest final activations (0: categories only). */
  topScores: nonnegative,
  /** The object channel's exchange buckets (none for other channels): the run's objects there are removed too. */
  exchangeBuckets: z.array(z.string().min(1)),
  /**
   * true: the run failed; delete its intermediates under runs/<runId>/ (handoff rows, statuses,
   * partial outputs) instead of gathering. The workflow's final Catch sends it (workflows/asl/).
   * A gather that succeeds removes them as well, after writing the result.
   */
  cleanup: z.boolean().optional(),
}).strict();
export type GatherEvent = z.infer<typeof gatherEventSchema>;

export const gatherResultSchema = z.object({
  runId,
  /** Inputs with a nonzero final activation (the GraphChallenge categories), count; the list is at categoriesKey. */
  categoryCount: nonnegative,
  categoriesKey: z.string(),
  /** The merged final rows (all N columns), at resultKey. */
  resultKey: z.string(),
  finalNonzeros: nonnegative,
  /** CRC-32 (hex) of the merged final rows' encoding: equal runs give equal checksums. */
  resultCrc32: z.string().regex(/^[0-9a-f]{8}$/),
  storage: storageCountersSchema,
  /** Removing the run's intermediates: ListObjectsV2 and DeleteObjects calls, objects deleted. */
  cleanup: z.object({ lists: nonnegative, deletes: nonnegative, deleted: nonnegative }).strict(),
  startMs: z.number(),
  endMs: z.number(),
}).strict();
export type GatherResult = z.infer<typeof gatherResultSchema>;

/** What a gather with `cleanup` answers. */
export const cleanupResultSchema = z.object({
  runId,
  cleanup: z.object({ lists: nonnegative, deletes: nonnegative, deleted: nonnegative }).strict(),
}).strict();
export type CleanupResult = z.infer<typeof cleanupResultSchema>;

/** The categories object (storage.categories). */
export const categoriesObjectSchema = z.object({
  runId,
  samples: int.min(1),
  /** 0-based input ids, ascending. */
  categories: z.array(nonnegative),
  /** With topScores > 0: per category, its [neuron, value] pairs, highest first. */
  topScores: z.array(z.array(z.tuple([nonnegative, z.number()]))).nullable(),
}).strict();
export type CategoriesObject = z.infer<typeof categoriesObjectSchema>;

/** Parses a handler's input; a malformed event fails naming the handler and field. */
export function parseEvent<T>(schema: z.ZodType<T>, value: unknown, handler: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, `${handler} event`, { kind: EventFormatError });
  return parsed.data;
}

// ---- Dense stages (a stages plan, planner/plan/stages-schema.ts): the stage function's event and result.

const denseDims = z.array(int.min(1)).min(1);

/**
 * Where a stage's output went, as the next stage reads it: in the state payload, or an S3 object
 * (a handoff, or the last stage's result) with the CRC-32 (hex) of the object's bytes.
 */
export const denseTensorRefSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('payload'), tensor: tensorPayloadSchema }).strict(),
  z.object({ kind: z.literal('object'), key: z.string().min(1), dims: denseDims, bytes: int.min(1), crc32: z.string().regex(/^[0-9a-f]{8}$/) }).strict(),
]);
export type DenseTensorRef = z.infer<typeof denseTensorRefSchema>;

const stagesStorage = stagesPlanSchema.shape.storage;

export const denseStageEventSchema = z.object({
  runId,
  planId,
  /** The plan's bucket (staged input, handoff objects, result). */
  bucket: z.string().min(1),
  storage: stagesStorage,
  stage: nonnegative,
  stages: int.min(1),
  /** The stage's name in the plan ("conv1 .. layer2.0"), for messages. */
  name: z.string().min(1),
  /** The stage's sub-model in its package (the plan's package.modelFile) and its size, checked before it is loaded. */
  modelFile: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a file name in the package'),
  modelBytes: int.min(1),
  /** The function's memory size: its vCPUs set onnxruntime's intra-op threads. */
  memoryMB: int.min(1),
  /** Stage 0: the batch staged under storage.inputs of the run; later stages: the previous stage's output. */
  input: z.union([z.object({ kind: z.literal('staged') }).strict(), denseTensorRefSchema]),
  inputDims: denseDims,
  output: stagesPlanSchema.shape.workflow.shape.stages.element.shape.output.pick({ dims: true, handoff: true }),
}).strict();
export type DenseStageEvent = z.infer<typeof denseStageEventSchema>;

/** Milliseconds of one stage invocation by phase: what the stage logs and returns. */
export const denseStageTimingsSchema = z.object({
  /** Creating the onnxruntime session from the sub-model file (0 when warm: cached per execution environment). */
  loadMs: z.number().nonnegative(),
  /** Reading and decoding the input (S3 or payload). */
  readMs: z.number().nonnegative(),
  /** onnxruntime's run of the sub-model. */
  runMs: z.number().nonnegative(),
  /** Encoding and writing the output (S3 or payload), and removing the run's intermediates after the last stage. */
  writeMs: z.number().nonnegative(),
}).strict();
export type DenseStageTimings = z.infer<typeof denseStageTimingsSchema>;

export const denseStageResultSchema = z.object({
  runId,
  stage: nonnegative,
  ok: z.literal(true),
  /** The last stage: the result object (storage.result). */
  output: denseTensorRefSchema,
  sessionCached: z.boolean(),
  /** onnxruntime's intra-op threads. */
  threads: int.min(1),
  timings: denseStageTimingsSchema,
  storage: storageCountersSchema,
  startMs: z.number(),
  endMs: z.number(),
}).strict();
export type DenseStageResult = z.infer<typeof denseStageResultSchema>;

/** A failed run's clean-up (the workflow's "Clean up" Task): its staged input, handoffs and any result removed. */
export const denseCleanupEventSchema = z.object({
  runId,
  bucket: z.string().min(1),
  storage: stagesStorage,
  stages: int.min(1),
  cleanup: z.literal(true),
}).strict();
export type DenseCleanupEvent = z.infer<typeof denseCleanupEventSchema>;

export const denseCleanupResultSchema = z.object({
  runId,
  /** DeleteObjects calls and the keys they named. */
  cleanup: z.object({ deletes: nonnegative, deleted: nonnegative }).strict(),
}).strict();
export type DenseCleanupResult = z.infer<typeof denseCleanupResultSchema>;
