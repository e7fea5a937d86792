// Latency, usage counters and cost of a plan, stage by stage. A plan runs its layers in stages
// (consecutive layer ranges, each a Map of P workers or one Task); inside a stage, layers exchange
// activation rows over the queue (SNS -> SQS) or object (S3) channel; between stages, rows go
// through S3 (the "handoff"), which with one layer per stage is the map-per-layer shape.
//
// Per worker and layer l of a stage [a..b]:
//   compute_l  = max-share of W_l x (scatter MACs / scatter rate + gather MACs / gather rate) / CPU speed(memory)
//   exchange_l = max_w send_w + channel latency + max_w receive_w    (layers a+1..b)
// and per stage:
//   worker  = start (cold first stage, warm after) + shard load + handoff in + compute + exchanges + handoff out
//   stage   = launch (Map or launch tree) + worker + close
// Communication and compute of a layer are added, not overlapped (FSD overlaps local compute with
// rows in flight; the estimate is an upper bound of that). Stage estimates are independent of the
// other stages' memory, so a plan's latency and cost are sums over stages: what the MILP needs.

import type { LambdaArchitecture, UsageCounters } from '../cost/counters.ts';
import { addCounters, zeroCounters } from '../cost/counters.ts';
import { priceCounters, priceServer, type CostBreakdown } from '../cost/price.ts';
import type { PriceTable } from '../cost/prices.ts';
import type { LatencyConstants } from '../latency/constants.ts';
import {
  computeSeconds, lambdaCpuSpeed, requestSeconds, serializeSeconds, transferSeconds,
  type ComputeRates,
} from '../latency/model.ts';
import type { WorkloadProfile } from '../latency/workload.ts';
import type { PartitionStats } from './partition-stats.ts';
import { treeShapes } from '../launch-tree.ts';
export { treeShapes };

/** Memory sizes searched: Lambda's range 128..10,240 MB, with the points where the vCPU share is whole. */
export const LAMBDA_MEMORY_GRID_MB: readonly number[] = [128, 256, 512, 768, 1024, 1280, 1536, 1769, 2048, 3008, 3538, 4096, 5307, 6144, 7076, 8192, 8845, 10240];

export const LAMBDA_MIN_MEMORY_MB = 128;
export const LAMBDA_MAX_MEMORY_MB = 10240;

export type ChannelKind = 'queue' | 'object';

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
  /** Bytes per sent or stored activation nonzero (4-byte index + 4-byte value). */
  readonly bytesPerNonzero: number;
  /** Kernel threads per worker (the TypeScript kernel: 1). */
  readonly threads: number;
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
  readonly overhead: WorkflowOverhead;
  readonly latencySeconds: number;
  readonly parts: LatencyParts;
  readonly counters: UsageCounters;
  readonly cost: CostBreakdown;
  readonly historyEvents: number;
  readonly feasible: boolean;
  readonly reasons: readonly string[];
}

/** Billed Lambda seconds of one invocation: rounded up to the millisecond. */
function billedSeconds(seconds: number): number {
  return Math.ceil(seconds * 1000 - 1e-9) / 1000;
}

// Counter vector of an exchange or handoff, kept as numbers for prefix sums.
const V_SNS_CALLS = 0, V_SNS_BYTES = 1, V_SNS_BILLED = 2, V_SQS_RECV = 3, V_SQS_RECV_BYTES = 4, V_SQS_DELETES = 5,
  V_SQS_BILLED = 6, V_S3_PUT = 7, V_S3_GET = 8, V_S3_LIST = 9, V_S3_BYTES_W = 10, V_S3_BYTES_R = 11, V_SIZE = 12;

function vectorCounters(v: Float64Array | number[]): UsageCounters {
  return {
    ...zeroCounters(),
    snsPublishCalls: v[V_SNS_CALLS], snsPublishedBytes: v[V_SNS_BYTES], snsBilledPublishRequests: v[V_SNS_BILLED],
    sqsReceiveCalls: v[V_SQS_RECV], sqsReceivedBytes: v[V_SQS_RECV_BYTES], sqsDeleteCalls: v[V_SQS_DELETES], sqsBilledRequests: v[V_SQS_BILLED],
    s3PutRequests: v[V_S3_PUT], s3GetRequests: v[V_S3_GET], s3ListRequests: v[V_S3_LIST], s3BytesWritten: v[V_S3_BYTES_W], s3BytesRead: v[V_S3_BYTES_R],
  };
}

const CHUNK = 64 * 1024;

/** One worker's side of a queue exchange: what it publishes and the receive calls it makes. */
interface QueueWorkerTraffic {
  readonly publishBytes: number;
  readonly publishCalls: number;
  /** Activation rows (neurons over all inputs) it receives. */
  readonly receivedRows: number;
  readonly receiveCalls: number;
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
  /** rowBytes[l]: bytes of one neuron's activations over all rows, as read by layer l (l = L + 1: final outputs). */
  private readonly rowBytes: Float64Array;
  /** Exchange counters of layer l (as if it were inside a stage), prefix-summed: [l * V_SIZE + k]. */
  private readonly exchangeVectorPrefix: Float64Array;
  /** shardPrefix[w * (L + 1) + l]: bytes of worker w's weight shards of layers 1..l. */
  private readonly shardPrefix: Float64Array;
  private readonly byMemory = new Map<number, MemoryTables>();
  private readonly exchangeTotals: ({ targets: number; receives: number } | undefined)[] = [];
  private readonly queueTraffic: (readonly QueueWorkerTraffic[] | undefined)[] = [];
  private readonly stageCache = new Map<string, StageEstimate>();

  constructor(ctx: EstimateContext, stats: PartitionStats, config: PlanConfig) {
    this.ctx = ctx;
    this.stats = stats;
    this.config = config;
    this.p = config.workers;
    this.layers = ctx.layerCount;
    const L = this.layers, p = this.p, rows = ctx.workload.rows;
    this.rowBytes = new Float64Array(L + 2);
    for (let l = 1; l <= L; l++) this.rowBytes[l] = rows * ctx.workload.layers[l - 1].inputDensity * ctx.bytesPerNonzero;
    this.rowBytes[L + 1] = rows * ctx.workload.outputDensity * ctx.bytesPerNonzero;
    this.shardPrefix = new Float64Array(p * (L + 1));
    for (let w = 0; w < p; w++) {
      let sum = 0;
      for (let l = 1; l <= L; l++) {
        // outputStart entries of owned outputs + (input index, weight) per owned nonzero.
        sum += stats.ownedNeurons[l][w] * 4 + stats.layers[l - 1].ownedNonzerosByWorker[w] * 8;
        this.shardPrefix[w * (L + 1) + l] = sum;
      }
    }
    this.exchangeVectorPrefix = new Float64Array((L + 1) * V_SIZE);
    for (let l = 1; l <= L; l++) {
      const v = this.exchangeVector(l);
      for (let k = 0; k < V_SIZE; k++) this.exchangeVectorPrefix[l * V_SIZE + k] = this.exchangeVectorPrefix[(l - 1) * V_SIZE + k] + v[k];
    }
  }

  speed(memoryMB: number): number {
    return lambdaCpuSpeed(memoryMB, this.ctx.threads, this.ctx.constants);
  }

  /** Messages a worker sends in the exchange feeding layer l (queue channel): per target, split at the message size. */
  private queueMessages(l: number, w: number): { bytes: number; messages: number; calls: number } {
    const c = this.ctx.constants;
    const s = this.stats.layers[l - 1];
    const bytes = s.sendsByWorker[w] * this.rowBytes[l] * c.queueEncodingOverhead;
    const targets = s.targetsByWorker[w];
    if (targets === 0 || bytes === 0) return { bytes: 0, messages: 0, calls: 0 };
    const messages = Math.max(targets, Math.ceil(bytes / c.sqsMessageMaxBytes));
    const calls = Math.max(Math.ceil(messages / c.snsPublishBatchEntries), Math.ceil(bytes / c.sqsMessageMaxBytes));
    return { bytes, messages, calls };
  }

  /** Distinct source workers a worker receives from in the exchange feeding layer l (estimated from its share of received rows). */
  private sources(l: number, w: number): number {
    const s = this.stats.layers[l - 1];
    let totals = this.exchangeTotals[l];
    if (!totals) {
      let targets = 0, receives = 0;
      for (let q = 0; q < this.p; q++) { targets += s.targetsByWorker[q]; receives += s.receivesByWorker[q]; }
      totals = this.exchangeTotals[l] = { targets, receives };
    }
    if (totals.receives === 0) return 0;
    return Math.min(this.p - 1, Math.ceil((totals.targets * s.receivesByWorker[w]) / totals.receives));
  }

  /**
   * Per-worker traffic of the queue exchange feeding layer l. It does not depend on memory, so it
   * is computed once and shared by the counters and the seconds (which are per memory size).
   * Receive calls split the messages in proportion to the rows each worker receives.
   */
  private queueExchange(l: number): readonly QueueWorkerTraffic[] {
    const cached = this.queueTraffic[l];
    if (cached) return cached;
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    const published = Array.from({ length: p }, (_, w) => this.queueMessages(l, w));
    let totalMessages = 0, totalReceives = 0;
    for (let w = 0; w < p; w++) { totalMessages += published[w].messages; totalReceives += s.receivesByWorker[w]; }
    const traffic = published.map((m, w) => {
      const receives = s.receivesByWorker[w];
      const receiveCalls = totalReceives === 0 || receives === 0
        ? 0
        : Math.ceil((totalMessages * receives) / totalReceives / c.sqsMessagesPerReceive);
      return { publishBytes: m.bytes, publishCalls: m.calls, receivedRows: receives, receiveCalls };
    });
    this.queueTraffic[l] = traffic;
    return traffic;
  }

  /** Counters of the in-stage exchange feeding layer l. */
  private exchangeVector(l: number): number[] {
    const v = new Array<number>(V_SIZE).fill(0);
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    if (p === 1 || this.config.channel === 'none') return v;
    if (this.config.channel === 'queue') {
      for (const t of this.queueExchange(l)) {
        v[V_SNS_CALLS] += t.publishCalls;
        v[V_SNS_BYTES] += t.publishBytes;
        if (t.publishCalls > 0) v[V_SNS_BILLED] += t.publishCalls * Math.max(1, Math.ceil(t.publishBytes / t.publishCalls / CHUNK));
        // No messages (every activation feeding layer l is zero): nothing received, nothing billed.
        if (t.receiveCalls === 0) continue;
        const bytesIn = t.receivedRows * this.rowBytes[l] * c.queueEncodingOverhead;
        v[V_SQS_RECV] += t.receiveCalls;
        v[V_SQS_RECV_BYTES] += bytesIn;
        v[V_SQS_DELETES] += t.receiveCalls;
        v[V_SQS_BILLED] += t.receiveCalls * Math.max(1, Math.ceil(bytesIn / t.receiveCalls / CHUNK)) + t.receiveCalls;
      }
    } else {
      // Object channel (FSD): one object per other worker (an empty marker when nothing is sent),
      // read by its target after readiness LISTs.
      for (let w = 0; w < p; w++) {
        const out = s.sendsByWorker[w] * this.rowBytes[l];
        const inBytes = s.receivesByWorker[w] * this.rowBytes[l];
        v[V_S3_PUT] += p - 1;
        v[V_S3_GET] += p - 1;
        v[V_S3_LIST] += c.s3ListsPerExchange;
        v[V_S3_BYTES_W] += out;
        v[V_S3_BYTES_R] += inBytes;
      }
    }
    return v;
  }

  /** Seconds of the in-stage exchange feeding layer l at CPU `speed`. */
  private exchangeSeconds(l: number, speed: number): number {
    const p = this.p, c = this.ctx.constants, s = this.stats.layers[l - 1];
    if (p === 1 || this.config.channel === 'none') return 0;
    let send = 0, receive = 0, any = false;
    if (this.config.channel === 'queue') {
      for (const t of this.queueExchange(l)) {
        if (t.publishCalls > 0) {
          any = true;
          const raw = t.publishBytes / c.queueEncodingOverhead;
          send = Math.max(send, requestSeconds(t.publishCalls, c.snsPublishSeconds, c.snsPublishThreads) + transferSeconds(t.publishBytes, c) + serializeSeconds(raw, speed, c));
        }
        if (t.receivedRows === 0) continue;
        const raw = t.receivedRows * this.rowBytes[l];
        receive = Math.max(receive, t.receiveCalls * c.sqsReceiveSeconds + transferSeconds(raw * c.queueEncodingOverhead, c) + serializeSeconds(raw, speed, c));
      }
      return any ? send + c.snsToSqsDeliverySeconds + receive : 0;
    }
    for (let w = 0; w < p; w++) {
      const out = s.sendsByWorker[w] * this.rowBytes[l];
      const inBytes = s.receivesByWorker[w] * this.rowBytes[l];
      send = Math.max(send, requestSeconds(p - 1, c.s3PutSeconds, c.s3IoThreads) + transferSeconds(out, c) + serializeSeconds(out, speed, c));
      receive = Math.max(receive, requestSeconds(p - 1, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(inBytes, c) + serializeSeconds(inBytes, speed, c));
    }
    const lists = c.s3ListsPerExchange * c.s3ListSeconds + Math.max(0, c.s3ListsPerExchange - 1) * c.s3ListIntervalSeconds;
    return send + lists + c.objectExchangeSettleSeconds + receive;
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

  /** Memory a worker of stage [a..b] needs, MB. */
  requiredMemoryMB(a: number, b: number): number {
    const L = this.layers, p = this.p, n = this.ctx.neurons;
    let shard = 0;
    for (let w = 0; w < p; w++) shard = Math.max(shard, this.shardPrefix[w * (L + 1) + b] - this.shardPrefix[w * (L + 1) + a - 1]);
    let rows = 0;
    for (let l = a; l <= b; l++) {
      const s = this.stats.layers[l - 1];
      for (let w = 0; w < p; w++) {
        rows = Math.max(rows, (this.stats.ownedNeurons[l - 1][w] + s.receivesByWorker[w]) * this.rowBytes[l] + this.stats.ownedNeurons[l][w] * this.rowBytes[l + 1]);
      }
    }
    // Output-major shard + its input-major copy; activations in, received and out twice (the
    // kernel's alternating buffers and staging); the kernel's dense per-neuron buffers.
    const bytes = 2 * shard + 2 * rows + 144 * n;
    return Math.ceil((this.ctx.constants.lambdaRuntimeBaseMB + bytes / 2 ** 20) * 1.2);
  }

  private mapMode(): MapMode {
    if (this.config.launch.kind !== 'map') return 'none';
    return this.p <= this.ctx.constants.sfnInlineMapMaxConcurrency ? 'inline' : 'distributed';
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
    for (let w = 0; w < p; w++) {
      const bytes = (this.stats.ownedNeurons[a - 1][w] + sa.receivesByWorker[w]) * this.rowBytes[a];
      const gets = first ? 1 : 1 + this.sources(a, w);
      inputGets += gets;
      inputBytes += bytes;
      handoffIn = Math.max(handoffIn, requestSeconds(gets, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(bytes, c) + serializeSeconds(bytes, speed, c));
    }
    // The client stages the inputs as one object per worker (not on the critical path).
    if (first) stagingPuts = p;

    // Handoff out: the rows the next stage's first layer reads, or the final outputs.
    let handoffOut = 0, outPuts = 0, outBytes = 0;
    for (let w = 0; w < p; w++) {
      let puts: number, bytes: number;
      if (b < L) {
        const sn = this.stats.layers[b];
        puts = 1 + sn.targetsByWorker[w];
        bytes = (this.stats.ownedNeurons[b][w] + sn.sendsByWorker[w]) * this.rowBytes[b + 1];
      } else {
        puts = 1;
        bytes = this.stats.ownedNeurons[L][w] * this.rowBytes[L + 1];
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
      if (p !== 1) reasons.push('a single Task launches one worker only');
    } else if (launch.kind === 'map') {
      if (mapMode === 'inline') {
        launchSeconds = c.sfnTransitionSeconds + c.sfnTaskInvokeSeconds + (p - 1) * c.sfnMapIterationStaggerSeconds;
        transitions = 1 + p; events = 4 + 7 * p;
      } else {
        launchSeconds = c.sfnTransitionSeconds + c.sfnDistributedChildStartSeconds + c.sfnTaskInvokeSeconds;
        // The parent records the Map Run; each child is an Express execution with one Task.
        transitions = 1; events = 8; expressChildren = p;
        if (p > c.sfnDistributedMaxConcurrency) reasons.push(`${p} workers exceed the distributed Map's ${c.sfnDistributedMaxConcurrency} concurrent children`);
        if (this.config.workflowType === 'EXPRESS') reasons.push('a distributed Map (needed above 40 concurrent workers) runs only in a Standard workflow');
        if (workerSeconds * this.ctx.safetyFactor > c.sfnExpressMaxSeconds) reasons.push(`a distributed Map child (Express) would run ${workerSeconds.toFixed(0)} s, over its ${c.sfnExpressMaxSeconds} s limit with margin`);
      }
    } else {
      const { branchingFactor: bf, levels } = launch;
      let size = 0, power = 1;
      for (let i = 0; i < levels; i++) { power *= bf; size += power; }
      if (size !== p) reasons.push(`a launch tree of branching ${bf} and ${levels} levels has ${size} workers, not ${p}`);
      const perLevel = requestSeconds(bf, c.lambdaInvokeSeconds, c.launchInvokeConcurrency);
      // The coordinator starts, invokes the roots; every inner level starts, then invokes its children.
      launchSeconds = c.sfnTaskInvokeSeconds + start + levels * perLevel + (levels - 1) * start;
      coordinatorSeconds = start + levels * perLevel + (levels - 1) * start + workerSeconds;
      transitions = 1; events = 5;
    }
    const close = c.sfnTransitionSeconds;
    const seconds = launchSeconds + workerSeconds + close;

    if (workerSeconds * this.ctx.safetyFactor > c.lambdaMaxSeconds) {
      reasons.push(`a worker would run ${workerSeconds.toFixed(0)} s, over Lambda's ${c.lambdaMaxSeconds} s limit with margin x${this.ctx.safetyFactor}`);
    }
    if (coordinatorSeconds * this.ctx.safetyFactor > c.lambdaMaxSeconds) {
      reasons.push(`the launch coordinator would run ${coordinatorSeconds.toFixed(0)} s, over Lambda's ${c.lambdaMaxSeconds} s limit with margin`);
    }
    const requiredMemoryMB = this.requiredMemoryMB(a, b);
    if (requiredMemoryMB > memoryMB) reasons.push(`a worker needs about ${requiredMemoryMB} MB, more than ${memoryMB} MB`);
    if (memoryMB < 128 || memoryMB > 10240) reasons.push(`memory ${memoryMB} MB is outside Lambda's 128-10,240 MB`);

    // Counters.
    const v = new Float64Array(V_SIZE);
    for (let k = 0; k < V_SIZE; k++) v[k] = this.exchangeVectorPrefix[b * V_SIZE + k] - this.exchangeVectorPrefix[a * V_SIZE + k];
    v[V_S3_GET] += p + inputGets;
    v[V_S3_BYTES_R] += shardBytesTotal + inputBytes;
    v[V_S3_PUT] += outPuts + stagingPuts;
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
      firstLayer: a, lastLayer: b, memoryMB, requiredMemoryMB, workerSeconds, seconds, parts, counters,
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
    let events = 2;
    let transitions = 0;
    if (p > 1) {
      // The gather function reads every worker's final rows and writes the result.
      let finalBytes = 0;
      for (let w = 0; w < p; w++) finalBytes += this.stats.ownedNeurons[this.layers][w] * this.rowBytes[this.layers + 1];
      const handler = c.lambdaColdStartSeconds + requestSeconds(p, c.s3GetSeconds, c.s3IoThreads) + transferSeconds(finalBytes, c) + c.s3PutSeconds;
      gatherSeconds = c.sfnTaskInvokeSeconds + handler + c.sfnTransitionSeconds;
      transitions += 1; events += 5;
      counters.push({
        ...zeroCounters(),
        lambda: [{ role: 'gather', memoryMB: this.ctx.gatherMemoryMB, architecture: this.ctx.architecture, invocations: 1, billedSeconds: billedSeconds(handler) }],
        s3GetRequests: p, s3BytesRead: finalBytes, s3PutRequests: 1,
      });
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
    const c = this.ctx.constants;
    const estimates = stages.map((s) => this.stage(s.firstLayer, s.lastLayer, s.memoryMB));
    const overhead = this.overhead();
    const reasons = estimates.flatMap((s) => s.reasons.map((r) => `stage ${s.firstLayer}-${s.lastLayer}: ${r}`));
    let expect = 1;
    for (const s of stages) {
      if (s.firstLayer !== expect || s.lastLayer < s.firstLayer) reasons.push(`stages must cover layers 1..${this.layers} in order (at layer ${expect})`);
      expect = s.lastLayer + 1;
    }
    if (expect !== this.layers + 1) reasons.push(`stages must cover layers 1..${this.layers}`);
    const latencySeconds = overhead.seconds + estimates.reduce((t, s) => t + s.seconds, 0);
    const historyEvents = overhead.historyEvents + estimates.reduce((t, s) => t + s.historyEvents, 0);
    if (this.config.workflowType === 'STANDARD' && historyEvents > c.sfnStandardMaxHistoryEvents) {
      reasons.push(`about ${historyEvents} history events, over the Standard limit of ${c.sfnStandardMaxHistoryEvents}`);
    }
    if (this.config.workflowType === 'EXPRESS' && latencySeconds * this.ctx.safetyFactor > c.sfnExpressMaxSeconds) {
      reasons.push(`an Express execution of ${latencySeconds.toFixed(0)} s is over the ${c.sfnExpressMaxSeconds} s limit with margin`);
    }
    const counters = addCounters(overhead.counters, ...estimates.map((s) => s.counters));
    return {
      config: this.config,
      stages: estimates,
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
