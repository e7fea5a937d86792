// Latency, usage counters and cost of a plan, stage by stage. A plan runs its layers in stages
// (consecutive layer ranges, each a Map of P workers or one Task); inside a stage, layers exchange
// activation rows over the queue (SNS -> SQS) or object (S3) channel; between stages, rows go
// through S3 (the "handoff"), which with one layer per stage is the map-per-layer shape.
//
// Per worker and layer l of a stage [a..b]:
//   compute_l  = max-share of W_l x (scatter MACs / scatter rate + gather MACs / gather rate) / CPU speed(memory)
//   exchange_l = max_w send_w + channel latency + wait for the slowest peer + max_w receive_w    (layers a+1..b)
// and per stage:
//   worker  = start (cold first stage, warm after) + shard load + handoff in + compute + exchanges + handoff out
//   stage   = launch (Map or launch tree) + worker + close
// Communication and compute of a layer are added, not overlapped (FSD overlaps local compute with
// rows in flight; the estimate is an upper bound of that). Stage estimates are independent of the
// other stages' memory, so a plan's latency and cost are sums over stages: what the MILP needs.
//
// Bytes: every message or object is priced by the wire format (planner/latency/wire-format.json:
// header + rows x row header + nonzeros x bytes per nonzero), the queue channel's bodies times the
// transport encoding (queueEncodingOverhead). Requests come from the channel's real layout:
//   queue:  one message per target (split at the message size limit), PublishBatch of up to 10
//           entries and 256 KiB; a receiver takes the messages that arrived before it started
//           polling 10 per receive, and each later source's messages in their own receive (at most
//           one per receive round trip over the arrival window); a long poll that waits its whole
//           wait time without an arrival returns empty; one DeleteMessageBatch per non-empty receive.
//   object: this project's layout (planner/object-exchange.ts): one PUT per source with targets,
//           one ranged GET per (target, source) pair, one more where the source's object is
//           larger than the first range, a GET answered NoSuchKey per source not there yet, and
//           after such a miss readiness LISTs of the layer's prefix with a growing backoff until
//           the slowest source is there.
//   object, layout 'fsd-per-pair' (FSD-Inference's published run only): keys
//           <layer>/<target>/<target>_<source>: one PUT per other worker (an empty marker when
//           nothing is sent), readiness by LIST every s3ListIntervalSeconds until all P - 1 keys
//           are there (pages of 1,000 keys), one GET per other worker.
// Peers' rows arrive spread over exchangeArrivalSpreadSeconds; with S peers taken as uniform over
// that window and the receiver's own start among them, a worker waits on average
// window x S / (2 (S + 2)) for its slowest peer, and S / 2 of them arrive after it starts polling
// (S x (window - g)^2 / (2 window^2) of them more than a GET round trip g after).

import type { LambdaArchitecture, UsageCounters } from '../cost/counters.ts';
import { addCounters, zeroCounters } from '../cost/counters.ts';
import { priceCounters, priceServer, type CostBreakdown } from '../cost/price.ts';
import type { PriceTable } from '../cost/prices.ts';
import type { LatencyConstants } from '../latency/constants.ts';
import {
  computeSeconds, kernelThreadsFor, lambdaCpuSpeed, requestSeconds, serializeSeconds, transferSeconds,
  type ComputeRates,
} from '../latency/model.ts';
import type { WireFormat } from '../latency/wire-format.ts';
import type { WorkloadProfile } from '../latency/workload.ts';
import type { PartitionStats } from './partition-stats.ts';
import { AWS_LIMITS, isLambdaMemoryMB, LAMBDA_MEMORY_RANGE_TEXT } from '../aws-limits.ts';
import { launchTreeLabel, launchTreeSize } from '../launch-tree.ts';
import { EXCHANGE_FIRST_RANGE_BYTES, EXCHANGE_POLL_SECONDS, listRoundsToCover } from '../object-exchange.ts';
import { UsageError } from '../../model/errors.ts';
import { layerTraffic, sliceObjectBytes, type SourceLayerTraffic } from './wire-traffic.ts';

/** Memory sizes searched: Lambda's whole range (AWS_LIMITS), with the points where the vCPU share is whole (1,769 MB each). */
export const LAMBDA_MEMORY_GRID_MB: readonly number[] = [
  AWS_LIMITS.lambdaMinMemoryMB.value, 256, 512, 768, 1024, 1280, 1536, 1769, 2048, 3008, 3538, 4096, 5307, 6144, 7076, 8192, 8845,
  AWS_LIMITS.lambdaMaxMemoryMB.value,
];

/**
 * Pass states every generated workflow runs before its first stage (workflows/asl/render.ts: the
 * execution input beside its defaults, then merged, with an attempt counter per stage); a test
 * keeps the planner's transitions equal to the generated workflow's.
 */
export const WORKFLOW_START_PASS_STATES = 2;

/**
 * Bytes of one activation nonzero held in a worker's memory: SparseRows keeps a Uint32 column index
 * and a Float32 value (model/network.ts). Memory footprint only; what travels is the wire format.
 */
export const ACTIVATION_BYTES_PER_NONZERO = 8;

export type ChannelKind = 'queue' | 'object';

/**
 * How the object channel lays out its objects: 'per-source' is what functions/channels/
 * object-channel.ts does; 'fsd-per-pair' is FSD-Inference's layout, priced only to compare with
 * its published run (planner/optimize/published.ts), on which constants were fitted.
 */
export type ObjectLayout = 'per-source' | 'fsd-per-pair';

export type LaunchSpec =
  | { readonly kind: 'task' }
  | { readonly kind: 'map' }
  | { readonly kind: 'tree'; readonly branchingFactor: number; readonly levels: number };

export type WorkflowType = 'STANDARD' | 'EXPRESS';

export interface PlanConfig {
  readonly workers: number;
  /** Channel between the layers of a stage; irrelevant when every stage has one layer or P = 1. */
  readonly channel: ChannelKind | 'none';
  readonly launch: LaunchSpec;
  readonly workflowType: WorkflowType;
  /** Object channel layout. Default 'per-source'. */
  readonly objectLayout?: ObjectLayout;
}

export interface StageSpec {
  /** 1-based, inclusive. */
  readonly firstLayer: number;
  readonly lastLayer: number;
  readonly memoryMB: number;
}

export interface EstimateContext {
  readonly neurons: number;
  readonly layerCount: number;
  readonly layerNonzeros: readonly number[];
  readonly workload: WorkloadProfile;
  readonly rates: ComputeRates;
  readonly constants: LatencyConstants;
  readonly prices: PriceTable;
  /** Bytes of every message and object the channels and handoffs send (planner/latency/wire-format.json). */
  readonly wireFormat: WireFormat;
  /** The wire format's bytes per nonzero, restated for plan.json's assumptions; the estimates read wireFormat. */
  readonly bytesPerNonzero: number;
  /**
   * Amdahl's parallel fraction of the kernel's threads (the calibration profile's; 0 when it has
   * none). Each memory size runs the threads kernelThreadsFor chooses (ConfigModel.threadsAt).
   */
  readonly kernelParallelFraction: number;
  readonly architecture: LambdaArchitecture;
  /** Memory of the gather function. */
  readonly gatherMemoryMB: number;
  /** Predicted durations times this must stay within Lambda's and Express's limits. */
  readonly safetyFactor: number;
}

/** Seconds of a prediction, by where they go; they add up to the latency. */
export interface LatencyParts {
  /** Step Functions start, Map/Task dispatch, launch tree, cold and warm starts. */
  readonly launch: number;
  /** Weight shards and inputs read from S3. */
  readonly load: number;
  readonly compute: number;
  /** Exchanges inside stages and S3 handoffs between them, final outputs. */
  readonly communication: number;
  /** Transitions, gather. */
  readonly orchestration: number;
}

export const ZERO_PARTS: LatencyParts = { launch: 0, load: 0, compute: 0, communication: 0, orchestration: 0 };

export function addParts(...parts: readonly LatencyParts[]): LatencyParts {
  const out = { ...ZERO_PARTS };
  for (const p of parts) {
    out.launch += p.launch; out.load += p.load; out.compute += p.compute;
    out.communication += p.communication; out.orchestration += p.orchestration;
  }
  return out;
}

export type MapMode = 'inline' | 'distributed' | 'none';

export interface StageEstimate extends StageSpec {
  /** Kernel threads per worker at this memory (ConfigModel.threadsAt). */
  readonly threads: number;
  readonly requiredMemoryMB: number;
  /** Billed seconds of each worker (start to end of its handler). */
  readonly workerSeconds: number;
  /** Wall-clock seconds of the stage in the workflow. */
  readonly seconds: number;
  readonly parts: LatencyParts;
  readonly counters: UsageCounters;
  readonly costUSD: number;
  readonly historyEvents: number;
  readonly mapMode: MapMode;
  readonly feasible: boolean;
  readonly reasons: readonly string[];
}

export interface WorkflowOverhead {
  readonly seconds: number;
  readonly parts: LatencyParts;
  readonly counters: UsageCounters;
  readonly costUSD: number;
  readonly historyEvents: number;
}

export interface PlanEstimate {
  readonly config: PlanConfig;
  readonly stages: readonly StageEstimate[];
  /**
   * Kernel threads of every worker (plan.kernel.threads is one number): the most any stage's
   * memory runs (StageEstimate.threads). A stage of less memory then runs threads its vCPUs cannot
   * use (no faster, no slower in the model), and must hold their memory.
   */
  readonly threads: number;
  readonly overhead: WorkflowOverhead;
  readonly latencySeconds: number;
  readonly parts: LatencyParts;
  readonly counters: UsageCounters;
  readonly cost: CostBreakdown;
  readonly historyEvents: number;
  readonly feasible: boolean;
  readonly reasons: readonly string[];
}

/** What the in-stage exchanges of layers a+1..b move, beyond the billed counters. */
export interface ExchangeTraffic {
  /** Queue messages published (each one SQS message per target). */
  readonly messages: number;
  /** Receive calls that returned messages, and long polls that returned none. */
  readonly nonEmptyReceives: number;
  readonly emptyReceives: number;
  /** Message or object bytes before transport encoding. */
  readonly wireBytes: number;
}

/**
 * A configuration the estimates can price: a launch tree must start exactly the workers (FSD's
 * b + b^2 + ... + b^levels), a single Task launches one worker. Anything else is refused, never
 * priced.
 */
export function validateLaunch(config: PlanConfig): void {
  const { launch, workers } = config;
  if (launch.kind === 'tree') {
    const size = launchTreeSize(launch);
    if (size !== workers) {
      throw new UsageError(`a launch ${launchTreeLabel(launch)} starts ${size} workers, not ${workers}: choose a tree of b + b^2 + ... + b^levels = ${workers} workers`, { field: 'launch' });
    }
  }
  if (launch.kind === 'task' && workers !== 1) throw new UsageError(`a single Task launches one worker, not ${workers}`, { field: 'launch' });
}

/**
 * Bytes of the categories object (functions/handlers/gather.ts: JSON of the run id, samples and the
 * ascending category indices, no top scores): the indices' digits and commas, about 100 bytes
 * around them. The categories are taken spread evenly over the samples.
 */
export function categoriesObjectBytes(rows: number, categoryFraction: number): number {
  const count = Math.round(rows * categoryFraction);
  let digits = 0;
  for (let d = 1, lo = 0; lo < rows; d++, lo = lo === 0 ? 10 : lo * 10) digits += (Math.min(rows, lo === 0 ? 10 : lo * 10) - lo) * d;
  return 100 + (count > 0 ? count * (digits / rows + 1) : 0);
}

/** Billed Lambda seconds of one invocation: rounded up to the millisecond. */
export function billedSeconds(seconds: number): number {
  return Math.ceil(seconds * 1000 - 1e-9) / 1000;
}

// Counter vector of an exchange or handoff, kept as numbers for prefix sums.
const V_SNS_CALLS = 0, V_SNS_BYTES = 1, V_SNS_BILLED = 2, V_SQS_RECV = 3, V_SQS_EMPTY = 4, V_SQS_RECV_BYTES = 5, V_SQS_DELETES = 6,
  V_SQS_BILLED = 7, V_S3_PUT = 8, V_S3_GET = 9, V_S3_LIST = 10, V_S3_BYTES_W = 11, V_S3_BYTES_R = 12,
  V_MESSAGES = 13, V_WIRE_BYTES = 14, V_SIZE = 15;

function vectorCounters(v: Float64Array | number[]): UsageCounters {
  return {
    ...zeroCounters(),
    snsPublishCalls: v[V_SNS_CALLS], snsPublishedBytes: v[V_SNS_BYTES], snsBilledPublishRequests: v[V_SNS_BILLED],
    sqsReceiveCalls: v[V_SQS_RECV], sqsEmptyReceiveCalls: v[V_SQS_EMPTY], sqsReceivedBytes: v[V_SQS_RECV_BYTES],
    sqsDeleteCalls: v[V_SQS_DELETES], sqsBilledRequests: v[V_SQS_BILLED],
    s3PutRequests: v[V_S3_PUT], s3GetRequests: v[V_S3_GET], s3ListRequests: v[V_S3_LIST], s3BytesWritten: v[V_S3_BYTES_W], s3BytesRead: v[V_S3_BYTES_R],
  };
}

/** Billed requests of `calls` calls moving `bytes` in all: every started 64 KB of a call is one request. */
function billedChunks(calls: number, bytes: number, chunkBytes: number): number {
  return calls > 0 ? calls * Math.max(1, Math.ceil(bytes / calls / chunkBytes)) : 0;
}

/**
 * Expected wait of a worker for the slowest of `peers` peers whose arrivals, like its own start,
 * are uniform over `windowSeconds`: window x E[(max of S uniforms - U)+] = window x S / (2 (S + 2)).
 */
export function slowestPeerWaitSeconds(peers: number, windowSeconds: number): number {
  return peers > 0 ? (windowSeconds * peers) / (2 * (peers + 2)) : 0;
}

/**
 * Expected non-empty receive calls of a worker that gets `messages` messages from `sources` sources
 * (each source's messages together). Its start is uniform among the sources' arrivals (k of S
 * before it, k uniform in 0..S): the k early sources' messages are taken `perReceive` at a time;
 * each later source's in their own receive(s), but no more than `window / roundTrip` such receives
 * (arrivals closer than a round trip share one).
 */
export function expectedReceiveCalls(messages: number, sources: number, perReceive: number, windowSeconds: number, roundTripSeconds: number): number {
  if (messages <= 0 || sources <= 0) return 0;
  const perSource = messages / sources;
  const receivesPerSource = Math.ceil(perSource / perReceive);
  const maxSeparate = roundTripSeconds > 0 ? windowSeconds / roundTripSeconds : Infinity;
  let sum = 0;
  for (let k = 0; k <= sources; k++) {
    const early = k > 0 ? Math.ceil((k * perSource) / perReceive) : 0;
    const laterMessages = (sources - k) * perSource;
    const later = sources - k > 0
      ? Math.max(Math.ceil(laterMessages / perReceive), Math.min((sources - k) * receivesPerSource, Math.max(1, maxSeparate)))
      : 0;
    sum += early + later;
  }
  return sum / (sources + 1);
}

/** One worker's side of a queue exchange. */
interface QueueWorkerTraffic {
  readonly messages: number;
  readonly publishCalls: number;
  /** Published bytes, transport encoding included. */
  readonly publishedBytes: number;
  /** Bytes of what it sends before transport encoding (what it serializes). */
  readonly wireBytesOut: number;
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  readonly wireBytesIn: number;
  readonly nonEmptyReceives: number;
  readonly emptyReceives: number;
  readonly sources: number;
}

/** One worker's side of a per-source object exchange (expected values). */
interface ObjectWorkerTraffic {
  readonly puts: number;
  /** Bytes of its object (what it serializes and PUTs). */
  readonly objectBytes: number;
  /** GETs: one per source, plus NoSuchKey answers and second ranged GETs. */
  readonly gets: number;
  /** Of those, the second ranged GETs (objects larger than the first range). */
  readonly rangedExtraGets: number;
  readonly lists: number;
  /** Bytes its GETs bring (whole objects up to the first range, then its own messages). */
  readonly readBytes: number;
  /** Bytes of the messages for it (what it decodes). */
  readonly wireBytesIn: number;
  readonly sources: number;
}

/**
 * Probability that a source's object is not there at a receiver's first GET: arrivals and the
 * receiver's start uniform over `windowSeconds`, the source later by more than a GET round trip.
 */
export function lateSourceProbability(windowSeconds: number, getSeconds: number): number {
  return windowSeconds > getSeconds ? (windowSeconds - getSeconds) ** 2 / (2 * windowSeconds ** 2) : 0;
}

/** Probability that at least one of `sources` sources is late in that sense (integrated over the receiver's start). */
export function anySourceLateProbability(sources: number, windowSeconds: number, getSeconds: number): number {
  if (sources <= 0 || windowSeconds <= getSeconds) return 0;
  const r = getSeconds / windowSeconds;
  return 1 - ((1 - r ** (sources + 1)) / (sources + 1) + r);
}

interface MemoryTables {
  /** Prefix sums over layers 1..L (index l = sum of layers 1..l). */
  readonly compute: Float64Array;
  readonly exchange: Float64Array;
}

/**
 * The estimates of one configuration (workers, channel, launch, workflow type) for any stage and
 * memory. Per-layer quantities are computed once (per memory where they depend on the CPU share)
 * and summed with prefix sums, so a stage costs O(workers) to estimate.
 */
export class ConfigModel {
  readonly ctx: EstimateContext;
  readonly stats: PartitionStats;
  readonly config: PlanConfig;
  private readonly p: number;
  private readonly layers: number;
  /** nonzerosPerRow[l]: nonzeros of one neuron's activation row (all inputs) as read by layer l; l = L + 1: final outputs. */
  private readonly nonzerosPerRow: Float64Array;
  /** Exchange counters of layer l (as if it were inside a stage), prefix-summed: [l * V_SIZE + k]. */
  private readonly exchangeVectorPrefix: Float64Array;
  /** shardPrefix[w * (L + 1) + l]: bytes of worker w's weight shards of layers 1..l. */
  private readonly shardPrefix: Float64Array;
  private readonly byMemory = new Map<number, MemoryTables>();
  private readonly queueTraffic: (readonly QueueWorkerTraffic[] | undefined)[] = [];
  private readonly objectTraffic: (readonly ObjectWorkerTraffic[] | undefined)[] = [];
  private readonly stageCache = new Map<string, StageEstimate>();
  /** The channels' messages per layer, from the measured traffic profile (null: priced by wire-format.json). */
  private readonly measuredTraffic: (SourceLayerTraffic[] | undefined)[] | null;
  /** Per map m, the bytes of the slice objects each worker writes and reads (measured profile). */
  private readonly sliceBytesCache = new Map<number, { readonly out: Float64Array; readonly in: Float64Array }>();

  constructor(ctx: EstimateContext, stats: PartitionStats, config: PlanConfig) {
    validateLaunch(config);
    this.ctx = ctx;
    this.stats = stats;
    this.config = config;
    this.p = config.workers;
    this.layers = ctx.layerCount;
    const L = this.layers, p = this.p, n = ctx.neurons;
    this.nonzerosPerRow = new Float64Array(L + 2);
    for (let l = 1; l <= L; l++) this.nonzerosPerRow[l] = ctx.workload.layers[l - 1].inputNonzeros / n;
    this.nonzerosPerRow[L + 1] = ctx.workload.rows * ctx.workload.outputDensity;
    this.shardPrefix = new Float64Array(p * (L + 1));
    for (let w = 0; w < p; w++) {
      let sum = 0;
      for (let l = 1; l <= L; l++) {
        // outputStart entries of owned outputs + (input index, weight) per owned nonzero.
        sum += stats.ownedNeurons[l][w] * 4 + stats.layers[l - 1].ownedNonzerosByWorker[w] * 8;
        this.shardPrefix[w * (L + 1) + l] = sum;
      }
    }
    // The measured profile prices what the channels send (wire-traffic.ts); FSD-Inference's own
    // object layout (its published run) keeps the wire-format.json model it was compared with.
    this.measuredTraffic = ctx.workload.traffic && stats.sendGroups && stats.owners && config.objectLayout !== 'fsd-per-pair' ? [] : null;
    this.exchangeVectorPrefix = new Float64Array((L + 1) * V_SIZE);
    for (let l = 1; l <= L; l++) {
      const v = this.exchangeVector(l);
      for (let k = 0; k < V_SIZE; k++) this.exchangeVectorPrefix[l * V_SIZE + k] = this.exchangeVectorPrefix[(l - 1) * V_SIZE + k] + v[k];
    }
  }

  /** Kernel threads of a worker at `memoryMB`. */
  threadsAt(memoryMB: number): number {
    return kernelThreadsFor(memoryMB, this.ctx.constants, this.ctx.kernelParallelFraction);
  }

  speed(memoryMB: number): number {
    return lambdaCpuSpeed(memoryMB, this.threadsAt(memoryMB), this.ctx.constants, this.ctx.kernelParallelFraction);
  }

  /** Bytes in a worker's memory of `rows` activation rows as read by layer l. */
  private memoryBytes(rows: number, l: number): number {
    return rows * this.nonzerosPerRow[l] * ACTIVATION_BYTES_PER_NONZERO;
  }

  /** Wire bytes of `messages` messages (or objects) carrying `rows` rows as read by layer l, before transport encoding. */
  private wireBytes(messages: number, rows: number, l: number): number {
    const f = this.ctx.wireFormat;
    return messages * f.messageHeaderBytes + rows * (f.rowHeaderBytes + this.nonzerosPerRow[l] * f.bytesPerNonzero);
  }

  /** Every source's messages in the exchange feeding layer l, from the measured profile (wire-traffic.ts). */
  private measuredLayer(l: number): readonly SourceLayerTraffic[] {
    const cache = this.measuredTraffic!;
    let layer = cache[l];
    if (!layer) {
      const traffic = this.ctx.workload.traffic!;
      layer = layerTraffic(this.stats.sendGroups![l - 1], traffic.rowNonzeros[l - 1], traffic.rowClass[l - 1], traffic.partBytes[l - 1], {
        layer: l, workers: this.p, samples: this.ctx.workload.rows, channel: this.config.channel === 'object' ? 'object' : 'queue',
        queueLimitBytes: AWS_LIMITS.sqsMessageMaxBytes.value, publishBatchEntries: this.ctx.constants.snsPublishBatchEntries,
      });
      cache[l] = layer;
    }
    return layer;
  }

  /** Nonzeros of the rows of `neurons` as read by layer l (l = L + 1: the final outputs), from the measured profile. */
  private rowsNonzeros(neurons: ArrayLike<number>, l: number): number {
    const counts = this.ctx.workload.traffic!.rowNonzeros[l - 1];
    let z = 0;
    for (let i = 0; i < neurons.length; i++) z += counts[neurons[i]];
    return z;
  }

  /**
   * Bytes of the activation-slice objects every worker writes (`out`) and reads (`in`) of map m
   * (Y_m, read by layer m + 1), from the measured profile: its own rows, and for m < L one slice
   * per (source, reader) pair of the rows the reader needs in layer m + 1 (the staged inputs,
   * m = 0, and the hand-offs between stages; worker.ts writeStageOutput). One pass over the map's
   * send groups for all workers at once (per worker it was O(P x groups), the search's hot spot).
   */
  private sliceBytes(m: number): { readonly out: Float64Array; readonly in: Float64Array } {
    const cached = this.sliceBytesCache.get(m);
    if (cached !== undefined) return cached;
    const p = this.p, owner = this.stats.owners![m], counts = this.ctx.workload.traffic!.rowNonzeros[m], rows = this.ctx.workload.rows;
    const ownNeurons = new Float64Array(p), ownZ = new Float64Array(p);
    for (let k = 0; k < owner.length; k++) { ownNeurons[owner[k]]++; ownZ[owner[k]] += counts[k]; }
    const out = new Float64Array(p), into = new Float64Array(p);
    for (let w = 0; w < p; w++) out[w] = into[w] = sliceObjectBytes(ownNeurons[w], rows, ownZ[w]);
    if (m < this.layers) {
      // pair (source, target) -> the rows and nonzeros the target reads from the source.
      const pairNeurons = new Float64Array(p * p), pairZ = new Float64Array(p * p);
      for (const g of this.stats.sendGroups![m]) {
        const gz = this.rowsNonzeros(g.neurons, m + 1);
        for (const t of g.targets) { pairNeurons[g.source * p + t] += g.neurons.length; pairZ[g.source * p + t] += gz; }
      }
      for (let source = 0; source < p; source++) {
        for (let t = 0; t < p; t++) {
          const i = source * p + t;
          if (pairNeurons[i] === 0) continue;
          const bytes = sliceObjectBytes(pairNeurons[i], rows, pairZ[i]);
          out[source] += bytes;
          into[t] += bytes;
        }
      }
    }
    const tables = { out, in: into };
    this.sliceBytesCache.set(m, tables);
    return tables;
  }

  /**
   * Non-empty receive calls of a worker that gets `messages` messages from `sources` sources in a
   * layer (measured profile): at least one per 10 messages (a receive takes at most 10), and
   * otherwise sqrt(sources). The square root is EMPIRICAL, fitted on this project's local runs of
   * the real case (fauxqs, P = 2, 4, 8: 1.00, 1.68 and 2.48 receives per worker and layer against
   * sqrt(S) = 1, 1.73, 2.65): arrivals closer than a receive's round trip share a receive, and the
   * more sources, the more of them do. How sources' messages spread in time depends on the
   * platform (on AWS, SNS->SQS delivery and Lambda's CPU), so this count is a timing-dependent
   * estimate, not a property of the partition like the messages and bytes.
   */
  private static measuredReceiveCalls(messages: number, sources: number): number {
    return messages > 0 ? Math.max(Math.ceil(messages / AWS_LIMITS.sqsReceiveMaxMessages.value), Math.sqrt(sources)) : 0;
  }

  /** Queue exchange feeding layer l, from the measured profile: what every worker sends and gets. */
  private measuredQueueExchange(l: number): QueueWorkerTraffic[] {
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    const sent = this.measuredLayer(l);
    const receivedMessages = new Float64Array(p), receivedBytes = new Float64Array(p), wireIn = new Float64Array(p);
    sent.forEach((t) => t.messages.forEach((m, i) => {
      for (const target of m.targets) { receivedMessages[target]++; receivedBytes[target] += t.queueBytes[i]; wireIn[target] += m.wireBytes; }
    }));
    const window = c.exchangeArrivalSpreadSeconds;
    return sent.map((t, w): QueueWorkerTraffic => {
      const sources = s.sourcesByWorker[w];
      return {
        messages: t.messages.length,
        publishCalls: t.publishCalls,
        publishedBytes: t.queueBytes.reduce((a, b) => a + b, 0),
        wireBytesOut: t.messages.reduce((a, m) => a + m.wireBytes, 0),
        receivedMessages: receivedMessages[w], receivedBytes: receivedBytes[w], wireBytesIn: wireIn[w],
        nonEmptyReceives: ConfigModel.measuredReceiveCalls(receivedMessages[w], sources),
        emptyReceives: sources > 0 && c.sqsReceiveWaitSeconds > 0 ? Math.floor(window / (sources + 1) / c.sqsReceiveWaitSeconds) / (sources + 1) : 0,
        sources,
      };
    });
  }

  /** Object exchange feeding layer l, from the measured profile: one object per source, GETs per (target, source). */
  private measuredObjectExchange(l: number): ObjectWorkerTraffic[] {
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    const sent = this.measuredLayer(l);
    const window = c.exchangeArrivalSpreadSeconds;
    const late = lateSourceProbability(window, c.s3GetSeconds);
    const pages = Math.ceil(p / AWS_LIMITS.s3ListMaxKeys.value);
    const polling = { initialPollSeconds: EXCHANGE_POLL_SECONDS.initial, maxPollSeconds: EXCHANGE_POLL_SECONDS.max };
    const gets = new Float64Array(p), extra = new Float64Array(p), readBytes = new Float64Array(p), wireIn = new Float64Array(p);
    for (const t of sent) {
      for (const [target, end] of t.readEnd) {
        const beyond = end > EXCHANGE_FIRST_RANGE_BYTES ? 1 : 0;
        gets[target] += 1 + late + beyond;
        extra[target] += beyond;
        readBytes[target] += Math.min(t.objectBytes, EXCHANGE_FIRST_RANGE_BYTES) + Math.max(0, end - EXCHANGE_FIRST_RANGE_BYTES);
      }
      for (const m of t.messages) for (const target of m.targets) wireIn[target] += m.wireBytes;
    }
    return sent.map((t, w): ObjectWorkerTraffic => {
      const sources = s.sourcesByWorker[w];
      const anyLate = anySourceLateProbability(sources, window, c.s3GetSeconds);
      const waitWhenLate = anyLate > 0 ? slowestPeerWaitSeconds(sources, window) / anyLate : 0;
      return {
        puts: t.objectBytes > 0 ? 1 : 0,
        objectBytes: t.objectBytes,
        gets: gets[w],
        rangedExtraGets: extra[w],
        lists: anyLate > 0 ? anyLate * pages * listRoundsToCover(waitWhenLate, polling, c.s3ListSeconds) : 0,
        readBytes: readBytes[w],
        wireBytesIn: wireIn[w],
        sources,
      };
    });
  }

  /**
   * Per-worker traffic of the queue exchange feeding layer l. It does not depend on memory, so it
   * is computed once and shared by the counters and the seconds (which are per memory size).
   */
  private queueExchange(l: number): readonly QueueWorkerTraffic[] {
    const cached = this.queueTraffic[l];
    if (cached) return cached;
    if (this.measuredTraffic) return (this.queueTraffic[l] = this.measuredQueueExchange(l));
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1], f = this.ctx.wireFormat;
    const encoding = c.queueEncodingOverhead;
    const maxMessage = AWS_LIMITS.sqsMessageMaxBytes.value;
    const out = Array.from({ length: p }, () => ({ messages: 0, publishCalls: 0, publishedBytes: 0, wireBytesOut: 0 }));
    let totalMessages = 0, totalBytes = 0, totalWire = 0, totalReceives = 0;
    for (let w = 0; w < p; w++) {
      const targets = s.targetsByWorker[w], rows = s.sendsByWorker[w];
      totalReceives += s.receivesByWorker[w];
      if (targets === 0) continue;
      // The rows for one target (taken as an even share), split into messages of at most the
      // limit after encoding, each with its own header.
      const payloadPerTarget = this.wireBytes(0, rows / targets, l);
      const perMessage = Math.max(1, maxMessage / encoding - f.messageHeaderBytes);
      const messages = targets * Math.max(1, Math.ceil(payloadPerTarget / perMessage));
      const wire = this.wireBytes(messages, rows, l);
      const published = wire * encoding;
      // PublishBatch: at most 10 entries and 256 KiB in all per call.
      const perCall = Math.max(1, Math.min(AWS_LIMITS.snsPublishBatchEntries.value, Math.floor(AWS_LIMITS.snsPublishBatchBytes.value / (published / messages))));
      out[w] = { messages, publishCalls: Math.ceil(messages / perCall), publishedBytes: published, wireBytesOut: wire };
      totalMessages += messages; totalBytes += published; totalWire += wire;
    }
    const window = c.exchangeArrivalSpreadSeconds;
    const traffic = out.map((o, w): QueueWorkerTraffic => {
      const share = totalReceives > 0 ? s.receivesByWorker[w] / totalReceives : 0;
      const sources = s.sourcesByWorker[w];
      const receivedMessages = totalMessages * share;
      const nonEmptyReceives = expectedReceiveCalls(receivedMessages, sources, AWS_LIMITS.sqsReceiveMaxMessages.value, window, c.sqsReceiveSeconds);
      // Empty polls: a long poll waits its whole wait time without an arrival only when the first
      // peer arrives that long after the receiver started (it has no early peer with probability
      // 1 / (S + 1), and then waits window / (S + 1) on average).
      const emptyReceives = sources > 0 && c.sqsReceiveWaitSeconds > 0
        ? Math.floor(window / (sources + 1) / c.sqsReceiveWaitSeconds) / (sources + 1)
        : 0;
      return {
        ...o, receivedMessages, receivedBytes: totalBytes * share, wireBytesIn: totalWire * share,
        nonEmptyReceives, emptyReceives, sources,
      };
    });
    this.queueTraffic[l] = traffic;
    return traffic;
  }

  /** Expected readiness LISTs of one worker in an object exchange with `peers` peers. */
  private objectListCalls(peers: number): number {
    const c = this.ctx.constants;
    const pages = Math.ceil(peers / AWS_LIMITS.s3ListMaxKeys.value);
    const cycle = c.s3ListSeconds + c.s3ListIntervalSeconds;
    const wait = slowestPeerWaitSeconds(peers, c.exchangeArrivalSpreadSeconds);
    return pages * (1 + (cycle > 0 ? wait / cycle : 0));
  }

  /**
   * Per-worker traffic of the per-source object exchange feeding layer l (planner/object-exchange.ts).
   * An object's bytes are taken as one message per target (rows counted per target: an upper
   * bound where rows are multicast and stored once).
   */
  private objectExchange(l: number): readonly ObjectWorkerTraffic[] {
    const cached = this.objectTraffic[l];
    if (cached) return cached;
    if (this.measuredTraffic) return (this.objectTraffic[l] = this.measuredObjectExchange(l));
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    const polling = { initialPollSeconds: EXCHANGE_POLL_SECONDS.initial, maxPollSeconds: EXCHANGE_POLL_SECONDS.max };
    const window = c.exchangeArrivalSpreadSeconds;
    const objectBytes = Array.from({ length: p }, (_, w) => (s.targetsByWorker[w] > 0 ? this.wireBytes(s.targetsByWorker[w], s.sendsByWorker[w], l) : 0));
    // Over all (target, source) pairs: the share whose object exceeds the first range, and the bytes a read brings.
    let pairs = 0, largePairs = 0, pairBytes = 0;
    for (let w = 0; w < p; w++) {
      const t = s.targetsByWorker[w];
      pairs += t;
      if (objectBytes[w] > EXCHANGE_FIRST_RANGE_BYTES) largePairs += t;
      pairBytes += t * objectBytes[w];
    }
    const largeShare = pairs > 0 ? largePairs / pairs : 0;
    const bytesPerPair = pairs > 0 ? pairBytes / pairs : 0;
    const late = lateSourceProbability(window, c.s3GetSeconds);
    const pages = Math.ceil(p / AWS_LIMITS.s3ListMaxKeys.value);
    const traffic = objectBytes.map((bytes, w): ObjectWorkerTraffic => {
      const sources = s.sourcesByWorker[w];
      const anyLate = anySourceLateProbability(sources, window, c.s3GetSeconds);
      const waitWhenLate = anyLate > 0 ? slowestPeerWaitSeconds(sources, window) / anyLate : 0;
      const rangedExtraGets = sources * largeShare;
      return {
        puts: s.targetsByWorker[w] > 0 ? 1 : 0,
        objectBytes: bytes,
        gets: sources * (1 + late) + rangedExtraGets,
        rangedExtraGets,
        lists: anyLate > 0 ? anyLate * pages * listRoundsToCover(waitWhenLate, polling, c.s3ListSeconds) : 0,
        readBytes: sources * bytesPerPair,
        wireBytesIn: this.wireBytes(sources, s.receivesByWorker[w], l),
        sources,
      };
    });
    this.objectTraffic[l] = traffic;
    return traffic;
  }

  /** Counters of the in-stage exchange feeding layer l. */
  private exchangeVector(l: number): number[] {
    const v = new Array<number>(V_SIZE).fill(0);
    const p = this.p, s = this.stats.layers[l - 1];
    if (p === 1 || this.config.channel === 'none') return v;
    if (this.config.channel === 'queue') {
      for (const t of this.queueExchange(l)) {
        v[V_MESSAGES] += t.messages;
        v[V_WIRE_BYTES] += t.wireBytesOut;
        v[V_SNS_CALLS] += t.publishCalls;
        v[V_SNS_BYTES] += t.publishedBytes;
        v[V_SNS_BILLED] += billedChunks(t.publishCalls, t.publishedBytes, AWS_LIMITS.snsBillingChunkBytes.value);
        v[V_SQS_RECV] += t.nonEmptyReceives + t.emptyReceives;
        v[V_SQS_EMPTY] += t.emptyReceives;
        v[V_SQS_RECV_BYTES] += t.receivedBytes;
        // A layer's messages are deleted once it is complete, in DeleteMessageBatch calls of at
        // most 10 (queue-channel.ts deleteReceived).
        const deletes = Math.ceil(t.receivedMessages / AWS_LIMITS.sqsDeleteBatchEntries.value);
        v[V_SQS_DELETES] += deletes;
        v[V_SQS_BILLED] += billedChunks(t.nonEmptyReceives, t.receivedBytes, AWS_LIMITS.sqsBillingChunkBytes.value) + t.emptyReceives + deletes;
      }
    } else if (this.config.objectLayout !== 'fsd-per-pair') {
      for (const t of this.objectExchange(l)) {
        v[V_S3_PUT] += t.puts;
        v[V_S3_GET] += t.gets;
        v[V_S3_LIST] += t.lists;
        v[V_S3_BYTES_W] += t.objectBytes;
        v[V_S3_BYTES_R] += t.readBytes;
        v[V_WIRE_BYTES] += t.objectBytes;
      }
    } else {
      // Object channel (FSD): one object per other worker (an empty marker when nothing is sent),
      // read by its target once a LIST shows all of them.
      for (let w = 0; w < p; w++) {
        const out = this.wireBytes(s.targetsByWorker[w], s.sendsByWorker[w], l);
        const inBytes = this.wireBytes(s.sourcesByWorker[w], s.receivesByWorker[w], l);
        v[V_S3_PUT] += p - 1;
        v[V_S3_GET] += p - 1;
        v[V_S3_LIST] += this.objectListCalls(p - 1);
        v[V_S3_BYTES_W] += out;
        v[V_S3_BYTES_R] += inBytes;
        v[V_WIRE_BYTES] += out;
      }
    }
    return v;
  }

  /** Billed counters of the in-stage exchanges of stage [a..b] alone (no shards, handoffs, Lambda or Step Functions). */
  exchangeCounters(a: number, b: number): UsageCounters {
    const v = new Float64Array(V_SIZE);
    for (let k = 0; k < V_SIZE; k++) v[k] = this.exchangeVectorPrefix[b * V_SIZE + k] - this.exchangeVectorPrefix[a * V_SIZE + k];
    return vectorCounters(v);
  }

  /** Messages, receives and wire bytes of the in-stage exchanges of stage [a..b] (feeding layers a+1..b). */
  exchangeTraffic(a: number, b: number): ExchangeTraffic {
    const at = (k: number) => this.exchangeVectorPrefix[b * V_SIZE + k] - this.exchangeVectorPrefix[a * V_SIZE + k];
    const receives = at(V_SQS_RECV), empty = at(V_SQS_EMPTY);
    return { messages: at(V_MESSAGES), nonEmptyReceives: receives - empty, emptyReceives: empty, wireBytes: at(V_WIRE_BYTES) };
  }

  /** Seconds of the in-stage exchange feeding layer l at CPU `speed`. */
  private exchangeSeconds(l: number, speed: number): number {
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    if (p === 1 || this.config.channel === 'none') return 0;
    let send = 0, receive = 0, wait = 0, any = false;
    if (this.config.channel === 'queue') {
      for (const t of this.queueExchange(l)) {
        if (t.publishCalls > 0) {
          any = true;
          send = Math.max(send, requestSeconds(t.publishCalls, c.snsPublishSeconds, c.snsPublishThreads) + transferSeconds(t.publishedBytes, c) + serializeSeconds(t.wireBytesOut, speed, c));
        }
        if (t.receivedMessages === 0) continue;
        wait = Math.max(wait, slowestPeerWaitSeconds(t.sources, c.exchangeArrivalSpreadSeconds));
        receive = Math.max(receive, t.nonEmptyReceives * c.sqsReceiveSeconds + t.emptyReceives * c.sqsReceiveWaitSeconds
          + transferSeconds(t.receivedBytes, c) + serializeSeconds(t.wireBytesIn, speed, c));
      }
      return any ? send + c.snsToSqsDeliverySeconds + wait + receive : 0;
    }
    if (this.config.objectLayout !== 'fsd-per-pair') {
      // PUT its object; wait for the slowest source (the LISTs after a miss overlap that wait,
      // but for their own round trips); GET its sources' objects, `s3IoThreads` at a time.
      let sources = 0;
      for (const t of this.objectExchange(l)) {
        if (t.puts > 0) {
          any = true;
          send = Math.max(send, requestSeconds(t.puts, c.s3PutSeconds, c.s3IoThreads) + transferSeconds(t.objectBytes, c) + serializeSeconds(t.objectBytes, speed, c));
        }
        sources = Math.max(sources, t.sources);
        receive = Math.max(receive, requestSeconds(t.sources + t.rangedExtraGets, c.s3GetSeconds, c.s3IoThreads) + t.lists * c.s3ListSeconds
          + transferSeconds(t.readBytes, c) + serializeSeconds(t.wireBytesIn, speed, c));
      }
      wait = slowestPeerWaitSeconds(sources, c.exchangeArrivalSpreadSeconds);
      return any ? send + wait + c.objectExchangeSettleSeconds + receive : 0;
    }
    for (let w = 0; w < p; w++) {
      const out = this.wireBytes(s.targetsByWorker[w], s.sendsByWorker[w], l);
      const inBytes = this.wireBytes(s.sourcesByWorker[w], s.receivesByWorker[w], l);
      send = Math.max(send, requestSeconds(p - 1, c.s3PutSeconds, c.s3IoThreads) + transferSeconds(out, c) + serializeSeconds(out, speed, c));
      receive = Math.max(receive, requestSeconds(p - 1, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(inBytes, c) + serializeSeconds(inBytes, speed, c));
    }
    // LISTs until every peer's object is there: one round trip plus the wait for the slowest peer.
    const pages = Math.ceil((p - 1) / AWS_LIMITS.s3ListMaxKeys.value);
    return send + pages * c.s3ListSeconds + slowestPeerWaitSeconds(p - 1, c.exchangeArrivalSpreadSeconds) + c.objectExchangeSettleSeconds + receive;
  }

  private layerComputeSeconds(l: number, speed: number): number {
    const a = this.ctx.workload.layers[l - 1];
    const share = this.stats.layers[l - 1].maxNonzeroShare;
    return computeSeconds(a.scatterMultiplyAdds * share, a.gatherMultiplyAdds * share, this.ctx.rates, speed);
  }

  private tables(memoryMB: number): MemoryTables {
    let t = this.byMemory.get(memoryMB);
    if (!t) {
      const L = this.layers, speed = this.speed(memoryMB);
      const compute = new Float64Array(L + 1), exchange = new Float64Array(L + 1);
      for (let l = 1; l <= L; l++) {
        compute[l] = compute[l - 1] + this.layerComputeSeconds(l, speed);
        exchange[l] = exchange[l - 1] + this.exchangeSeconds(l, speed);
      }
      t = { compute, exchange };
      this.byMemory.set(memoryMB, t);
    }
    return t;
  }

  /** Compute seconds of layers a..b at `memoryMB` (each layer: the slowest worker). */
  computeSecondsOf(a: number, b: number, memoryMB: number): number {
    const t = this.tables(memoryMB);
    return t.compute[b] - t.compute[a - 1];
  }

  /** Memory a worker of stage [a..b] running `threads` kernel threads needs, MB. */
  requiredMemoryMB(a: number, b: number, threads = 1): number {
    const L = this.layers, p = this.p, n = this.ctx.neurons;
    let shard = 0;
    for (let w = 0; w < p; w++) shard = Math.max(shard, this.shardPrefix[w * (L + 1) + b] - this.shardPrefix[w * (L + 1) + a - 1]);
    let rows = 0;
    for (let l = a; l <= b; l++) {
      const s = this.stats.layers[l - 1];
      for (let w = 0; w < p; w++) {
        rows = Math.max(rows, this.memoryBytes(this.stats.ownedNeurons[l - 1][w] + s.receivesByWorker[w], l) + this.memoryBytes(this.stats.ownedNeurons[l][w], l + 1));
      }
    }
    // Output-major shard + its input-major copy; activations in, received and out twice (the
    // kernel's alternating buffers and staging); the kernel's dense per-neuron buffers; each
    // kernel thread beyond the first: its Node.js worker thread and its per-neuron buffers.
    const c = this.ctx.constants;
    const bytes = 2 * shard + 2 * rows + 144 * n + (threads - 1) * c.kernelThreadBytesPerNeuron * n;
    return Math.ceil((c.lambdaRuntimeBaseMB + (threads - 1) * c.kernelThreadMB + bytes / 2 ** 20) * 1.2);
  }

  private mapMode(): MapMode {
    if (this.config.launch.kind !== 'map') return 'none';
    return this.p <= AWS_LIMITS.sfnInlineMapMaxConcurrency.value ? 'inline' : 'distributed';
  }

  /** Estimates stage [a..b] at `memoryMB` (the stage holding layer 1 starts cold). Cached. */
  stage(a: number, b: number, memoryMB: number): StageEstimate {
    const key = `${a}/${b}/${memoryMB}`;
    let estimate = this.stageCache.get(key);
    if (!estimate) {
      estimate = this.estimateStage(a, b, memoryMB);
      this.stageCache.set(key, estimate);
    }
    return estimate;
  }

  private estimateStage(a: number, b: number, memoryMB: number): StageEstimate {
    const c = this.ctx.constants, p = this.p, L = this.layers;
    const speed = this.speed(memoryMB);
    const t = this.tables(memoryMB);
    const reasons: string[] = [];
    const first = a === 1;
    const start = first ? c.lambdaColdStartSeconds : c.lambdaWarmStartSeconds;

    // Shards: one GET per worker of its weights of layers a..b.
    let shard = 0, shardBytesTotal = 0;
    for (let w = 0; w < p; w++) {
      const bytes = this.shardPrefix[w * (L + 1) + b] - this.shardPrefix[w * (L + 1) + a - 1];
      shard = Math.max(shard, bytes);
      shardBytesTotal += bytes;
    }
    const load = c.s3GetSeconds + transferSeconds(shard, c);

    // Handoff in: the rows layer a reads, from S3 (inputs staged per worker for the first stage).
    const sa = this.stats.layers[a - 1];
    let handoffIn = 0, inputGets = 0, inputBytes = 0, stagingPuts = 0;
    const measured = this.measuredTraffic !== null;
    for (let w = 0; w < p; w++) {
      // Every worker reads its own slice and one from each source (the first stage too: the
      // client stages the inputs that way; a measured profile prices the slices' bytes).
      const gets = measured || !first ? 1 + sa.sourcesByWorker[w] : 1;
      const bytes = measured ? this.sliceBytes(a - 1).in[w] : this.wireBytes(gets, this.stats.ownedNeurons[a - 1][w] + sa.receivesByWorker[w], a);
      inputGets += gets;
      inputBytes += bytes;
      handoffIn = Math.max(handoffIn, requestSeconds(gets, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(bytes, c) + serializeSeconds(bytes, speed, c));
    }
    // The client stages the inputs (not on the critical path): one object per worker, or with a
    // measured profile what it really writes, one per worker and one per reader of its rows.
    if (first) stagingPuts = measured ? p + sa.targetsByWorker.reduce((t, x) => t + x, 0) : p;

    // Handoff out: the rows the next stage's first layer reads, or the final outputs.
    let handoffOut = 0, outPuts = 0, outBytes = 0;
    for (let w = 0; w < p; w++) {
      let puts: number, bytes: number;
      if (b < L) {
        const sn = this.stats.layers[b];
        puts = 1 + sn.targetsByWorker[w];
        bytes = measured ? this.sliceBytes(b).out[w] : this.wireBytes(puts, this.stats.ownedNeurons[b][w] + sn.sendsByWorker[w], b + 1);
      } else {
        puts = 1;
        bytes = measured ? this.sliceBytes(L).out[w] : this.wireBytes(1, this.stats.ownedNeurons[L][w], L + 1);
      }
      outPuts += puts;
      outBytes += bytes;
      handoffOut = Math.max(handoffOut, requestSeconds(puts, c.s3PutSeconds, c.s3IoThreads) + transferSeconds(bytes, c) + serializeSeconds(bytes, speed, c));
    }

    const compute = t.compute[b] - t.compute[a - 1];
    const exchange = t.exchange[b] - t.exchange[a];
    const workerSeconds = start + load + handoffIn + compute + exchange + handoffOut;

    // Launch and close in the workflow.
    const mapMode = this.mapMode();
    const launch = this.config.launch;
    let launchSeconds = 0, coordinatorSeconds = 0, transitions = 0, events = 0, expressChildren = 0;
    if (launch.kind === 'task') {
      launchSeconds = c.sfnTaskInvokeSeconds;
      transitions = 1; events = 5;
    } else if (launch.kind === 'map') {
      if (mapMode === 'inline') {
        launchSeconds = c.sfnTransitionSeconds + c.sfnTaskInvokeSeconds + (p - 1) * c.sfnMapIterationStaggerSeconds;
        transitions = 1 + p; events = 4 + 7 * p;
      } else {
        launchSeconds = c.sfnTransitionSeconds + c.sfnDistributedChildStartSeconds + c.sfnTaskInvokeSeconds;
        // The parent records the Map Run; each child is an Express execution with one Task. The
        // Map state is one transition and every child execution it starts one more
        // (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html).
        transitions = 1 + p; events = 8; expressChildren = p;
        if (p > AWS_LIMITS.sfnDistributedMapMaxConcurrency.value) reasons.push(`${p} workers exceed the distributed Map's ${AWS_LIMITS.sfnDistributedMapMaxConcurrency.value} concurrent children`);
        if (this.config.workflowType === 'EXPRESS') reasons.push('a distributed Map (needed above 40 concurrent workers) runs only in a Standard workflow');
        if (workerSeconds * this.ctx.safetyFactor > AWS_LIMITS.sfnExpressMaxSeconds.value) reasons.push(`a distributed Map child (Express) would run ${workerSeconds.toFixed(0)} s, over its ${AWS_LIMITS.sfnExpressMaxSeconds.value} s limit with margin`);
      }
    } else {
      // The tree starts exactly p workers (validateLaunch, in the constructor).
      const { branchingFactor: bf, levels } = launch;
      const perLevel = requestSeconds(bf, c.lambdaInvokeSeconds, c.launchInvokeConcurrency);
      // The coordinator starts, invokes the roots; every inner level starts, then invokes its children.
      launchSeconds = c.sfnTaskInvokeSeconds + start + levels * perLevel + (levels - 1) * start;
      coordinatorSeconds = start + levels * perLevel + (levels - 1) * start + workerSeconds;
      transitions = 1; events = 5;
    }
    const close = c.sfnTransitionSeconds;
    const seconds = launchSeconds + workerSeconds + close;

    if (workerSeconds * this.ctx.safetyFactor > AWS_LIMITS.lambdaMaxTimeoutSeconds.value) {
      reasons.push(`a worker would run ${workerSeconds.toFixed(0)} s, over Lambda's ${AWS_LIMITS.lambdaMaxTimeoutSeconds.value} s limit with margin x${this.ctx.safetyFactor}`);
    }
    if (coordinatorSeconds * this.ctx.safetyFactor > AWS_LIMITS.lambdaMaxTimeoutSeconds.value) {
      reasons.push(`the launch coordinator would run ${coordinatorSeconds.toFixed(0)} s, over Lambda's ${AWS_LIMITS.lambdaMaxTimeoutSeconds.value} s limit with margin`);
    }
    const threads = this.threadsAt(memoryMB);
    const requiredMemoryMB = this.requiredMemoryMB(a, b, threads);
    if (requiredMemoryMB > memoryMB) reasons.push(`a worker needs about ${requiredMemoryMB} MB${threads > 1 ? ` with ${threads} kernel threads` : ''}, more than ${memoryMB} MB`);
    if (!isLambdaMemoryMB(memoryMB)) reasons.push(`memory ${memoryMB} MB is outside Lambda's ${LAMBDA_MEMORY_RANGE_TEXT}`);

    // Counters.
    const v = new Float64Array(V_SIZE);
    for (let k = 0; k < V_SIZE; k++) v[k] = this.exchangeVectorPrefix[b * V_SIZE + k] - this.exchangeVectorPrefix[a * V_SIZE + k];
    // With a measured profile, also each worker's status object (functions/handlers/worker.ts):
    // written at its end, read once by whoever waits for the stage.
    const statusObjects = measured ? p : 0;
    v[V_S3_GET] += p + inputGets + statusObjects;
    v[V_S3_BYTES_R] += shardBytesTotal + inputBytes;
    v[V_S3_PUT] += outPuts + stagingPuts + statusObjects;
    v[V_S3_BYTES_W] += outBytes + (first ? inputBytes : 0);
    const lambda = [{ role: 'worker', memoryMB, architecture: this.ctx.architecture, invocations: p, billedSeconds: p * billedSeconds(workerSeconds) }];
    if (launch.kind === 'tree') lambda.push({ role: 'coordinator', memoryMB, architecture: this.ctx.architecture, invocations: 1, billedSeconds: billedSeconds(coordinatorSeconds) });
    const expressMemoryGB = c.sfnExpressBilledMemoryMB / 1024;
    const counters: UsageCounters = {
      ...vectorCounters(v),
      lambda,
      sfnStandardTransitions: this.config.workflowType === 'STANDARD' ? transitions : 0,
      sfnExpressRequests: expressChildren,
      sfnExpressGBSeconds: expressChildren * Math.ceil(workerSeconds * 10) / 10 * expressMemoryGB
        + (this.config.workflowType === 'EXPRESS' ? seconds * expressMemoryGB : 0),
    };
    const parts: LatencyParts = {
      launch: launchSeconds + start,
      load,
      compute,
      communication: handoffIn + exchange + handoffOut,
      orchestration: close,
    };
    return {
      firstLayer: a, lastLayer: b, memoryMB, threads, requiredMemoryMB, workerSeconds, seconds, parts, counters,
      costUSD: priceCounters(counters, this.ctx.prices).totalUSD,
      historyEvents: this.config.workflowType === 'STANDARD' ? events : 0,
      mapMode, feasible: reasons.length === 0, reasons,
    };
  }

  /** What every execution adds beyond its stages: the start, the gather of final outputs, the end. */
  overhead(): WorkflowOverhead {
    const c = this.ctx.constants, p = this.p;
    let gatherSeconds = 0;
    const counters: UsageCounters[] = [];
    // The execution's start and end, and the generated workflow's two Pass states before the
    // first stage (workflows/asl/render.ts: the input over its defaults, the attempt counters),
    // 2 history events each.
    let events = 2 + 2 * WORKFLOW_START_PASS_STATES;
    let transitions = WORKFLOW_START_PASS_STATES;
    if (p > 1) {
      // The gather function reads every worker's final rows and writes the result.
      const measured = this.measuredTraffic !== null;
      let finalBytes = 0;
      for (let w = 0; w < p; w++) finalBytes += measured ? this.sliceBytes(this.layers).out[w] : this.wireBytes(1, this.stats.ownedNeurons[this.layers][w], this.layers + 1);
      const handler = c.lambdaColdStartSeconds + requestSeconds(p, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(finalBytes, c) + c.s3PutSeconds;
      gatherSeconds = c.sfnTaskInvokeSeconds + handler + c.sfnTransitionSeconds;
      transitions += 1; events += 5;
      counters.push({
        ...zeroCounters(),
        lambda: [{ role: 'gather', memoryMB: this.ctx.gatherMemoryMB, architecture: this.ctx.architecture, invocations: 1, billedSeconds: billedSeconds(handler) }],
        s3GetRequests: p, s3BytesRead: finalBytes, s3PutRequests: 1,
      });
      if (measured) {
        // What the priced run also does (functions/handlers/gather.ts, workflows/local): the
        // gather writes a second object, the categories (JSON), beside the result slice; the
        // client reads both and lists the run's prefix once to check nothing was left behind.
        const w = this.ctx.workload;
        const resultBytes = sliceObjectBytes(this.ctx.neurons, w.rows, w.rows * w.outputDensity * this.ctx.neurons);
        counters.push({
          ...zeroCounters(),
          s3PutRequests: 1, s3BytesWritten: resultBytes + categoriesObjectBytes(w.rows, w.categoryFraction),
          s3GetRequests: 2, s3ListRequests: 1,
        });
      }
    }
    const seconds = c.sfnExecutionStartSeconds + gatherSeconds;
    const expressMemoryGB = c.sfnExpressBilledMemoryMB / 1024;
    counters.push({
      ...zeroCounters(),
      sfnStandardTransitions: this.config.workflowType === 'STANDARD' ? transitions : 0,
      sfnExpressRequests: this.config.workflowType === 'EXPRESS' ? 1 : 0,
      sfnExpressGBSeconds: this.config.workflowType === 'EXPRESS' ? seconds * expressMemoryGB : 0,
    });
    const total = addCounters(...counters);
    return {
      seconds,
      parts: { ...ZERO_PARTS, launch: c.sfnExecutionStartSeconds, orchestration: gatherSeconds },
      counters: total,
      costUSD: priceCounters(total, this.ctx.prices).totalUSD,
      historyEvents: this.config.workflowType === 'STANDARD' ? events : 0,
    };
  }

  /** The whole plan: its stages must cover layers 1..L in order. */
  plan(stages: readonly StageSpec[]): PlanEstimate {
    const estimates = stages.map((s) => this.stage(s.firstLayer, s.lastLayer, s.memoryMB));
    const overhead = this.overhead();
    const reasons = estimates.flatMap((s) => s.reasons.map((r) => `stage ${s.firstLayer}-${s.lastLayer}: ${r}`));
    let expect = 1;
    for (const s of stages) {
      if (s.firstLayer !== expect || s.lastLayer < s.firstLayer) reasons.push(`stages must cover layers 1..${this.layers} in order (at layer ${expect})`);
      expect = s.lastLayer + 1;
    }
    if (expect !== this.layers + 1) reasons.push(`stages must cover layers 1..${this.layers}`);
    const threads = Math.max(1, ...estimates.map((s) => s.threads));
    for (const s of estimates) {
      if (s.threads === threads) continue;
      const required = this.requiredMemoryMB(s.firstLayer, s.lastLayer, threads);
      if (required > s.memoryMB) reasons.push(`stage ${s.firstLayer}-${s.lastLayer}: a worker needs about ${required} MB with the plan's ${threads} kernel threads, more than ${s.memoryMB} MB`);
    }
    const latencySeconds = overhead.seconds + estimates.reduce((t, s) => t + s.seconds, 0);
    const historyEvents = overhead.historyEvents + estimates.reduce((t, s) => t + s.historyEvents, 0);
    if (this.config.workflowType === 'STANDARD' && historyEvents > AWS_LIMITS.sfnStandardMaxHistoryEvents.value) {
      reasons.push(`about ${historyEvents} history events, over the Standard limit of ${AWS_LIMITS.sfnStandardMaxHistoryEvents.value}`);
    }
    if (this.config.workflowType === 'EXPRESS' && latencySeconds * this.ctx.safetyFactor > AWS_LIMITS.sfnExpressMaxSeconds.value) {
      reasons.push(`an Express execution of ${latencySeconds.toFixed(0)} s is over the ${AWS_LIMITS.sfnExpressMaxSeconds.value} s limit with margin`);
    }
    const counters = addCounters(overhead.counters, ...estimates.map((s) => s.counters));
    return {
      config: this.config,
      stages: estimates,
      threads,
      overhead,
      latencySeconds,
      parts: addParts(overhead.parts, ...estimates.map((s) => s.parts)),
      counters,
      cost: priceCounters(counters, this.ctx.prices),
      historyEvents,
      feasible: reasons.length === 0,
      reasons,
    };
  }
}

export interface ServerEstimate {
  readonly latencySeconds: number;
  readonly cost: CostBreakdown;
  readonly requiredMemoryMB: number;
  readonly feasible: boolean;
  readonly reasons: readonly string[];
}

/**
 * The always-on server: the model stays in memory, every layer runs on one core (the kernel is
 * single-threaded), and the request pays its busy time divided by the server's utilization.
 */
export function estimateServer(ctx: EstimateContext, serial: ConfigModel): ServerEstimate {
  const latencySeconds = ctx.constants.serverStartSeconds + serial.computeSecondsOf(1, ctx.layerCount, ctx.constants.lambdaFullVcpuMemoryMB) * ctx.constants.lambdaCoreSpeedRatio;
  const requiredMemoryMB = serial.requiredMemoryMB(1, ctx.layerCount);
  const reasons: string[] = [];
  if (requiredMemoryMB > ctx.prices.server.memoryGiB * 1024) reasons.push(`needs about ${requiredMemoryMB} MB, the ${ctx.prices.server.instanceType} has ${ctx.prices.server.memoryGiB} GiB`);
  return { latencySeconds, cost: priceServer(latencySeconds, ctx.prices), requiredMemoryMB, feasible: reasons.length === 0, reasons };
}
