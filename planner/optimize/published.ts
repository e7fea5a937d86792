// The planner's own model set beside published runs: the configuration a record ran (workers,
// channel, one group of all layers, its launch tree and memory) is priced by the same ConfigModel
// the search uses, and each counter the record publishes is compared with the prediction. A
// quantity that depends on a latency constant fitted on this very run is marked in-sample: its
// ratio shows the fit, not a prediction (planner/latency/aws-latency.json says which constants
// were fitted on which run).
//
// Scope follows what FSD-Inference counted: its workers and coordinator (Lambda) and its channel's
// requests; not the shard and input reads, the Step Functions workflow, the handoffs or the
// gather that a stepinfer plan adds around them (those are in `plan`, priced separately).

import { UsageError } from '../../model/errors.ts';
import { zeroCounters, type UsageCounters } from '../cost/counters.ts';
import { priceCounters, type CostBreakdown, type CostService } from '../cost/price.ts';
import { overridePriceValues, type PriceTable } from '../cost/prices.ts';
import type { RunRecord } from '../cost/record.ts';
import { constantsFittedOn, type LatencyConstantName } from '../latency/constants.ts';
import type { ConfigModel, PlanConfig, PlanEstimate, StageSpec } from './estimate.ts';

/** "fsd-1024x120-8w-queue": how aws-latency.json names a published run. */
export function publishedRunId(record: RunRecord): string {
  const m = record.model ?? {};
  return `fsd-${m.neurons ?? '?'}x${m.layers ?? '?'}-${record.workers ?? '?'}w-${record.variant ?? '?'}`;
}

/** The configuration and stages a record ran: one group of every layer at its memory, its launch tree. */
export function publishedConfiguration(record: RunRecord, layers: number): { config: PlanConfig; stages: StageSpec[] } {
  const where = { field: 'record' };
  if (record.variant !== 'queue' && record.variant !== 'object') throw new UsageError(`record variant must be queue or object, got ${record.variant}`, where);
  if (record.workers === undefined || record.lambdaMemoryMB === undefined) throw new UsageError('the record names no workers or lambdaMemoryMB', where);
  const launch = record.launch
    ? { kind: 'tree' as const, branchingFactor: record.launch.branchingFactor, levels: record.launch.levels }
    : { kind: 'map' as const };
  return {
    // FSD-Inference's own object layout: the published run's requests and the constants fitted on it.
    config: { workers: record.workers, channel: record.variant, launch, workflowType: 'STANDARD', ...(record.variant === 'object' ? { objectLayout: 'fsd-per-pair' as const } : {}) },
    stages: [{ firstLayer: 1, lastLayer: layers, memoryMB: record.lambdaMemoryMB }],
  };
}

export interface ComparedQuantity {
  readonly name: string;
  readonly predicted: number;
  readonly published: number;
  /** predicted / published. */
  readonly ratio: number;
  /** Fitted constants this quantity depends on. */
  readonly dependsOn: readonly LatencyConstantName[];
  /** Of those, the ones fitted on this run: if any, the ratio is in-sample, not a prediction. */
  readonly fittedOnThisRun: readonly LatencyConstantName[];
  readonly heldOut: boolean;
}

export interface PublishedComparison {
  readonly runId: string;
  readonly label: string;
  readonly estimate: PlanEstimate;
  readonly quantities: readonly ComparedQuantity[];
  /** The predicted workers, coordinator and channel, priced at the record's own prices. */
  readonly predictedCost: CostBreakdown;
  /** The same, counted as FSD's spreadsheet does (one SQS request per receive, no deletes, no 64 KB chunks). */
  readonly predictedCostFsdCounting: CostBreakdown;
}

/** Fitted constants each channel's latency depends on (the rest are sourced, not fitted). */
const LATENCY_FITS: Readonly<Record<'queue' | 'object', readonly LatencyConstantName[]>> = {
  queue: ['snsToSqsDeliverySeconds', 'exchangeArrivalSpreadSeconds'],
  object: ['exchangeArrivalSpreadSeconds', 'objectExchangeSettleSeconds'],
};

/**
 * Compares `model` (built for the record's configuration: see publishedConfiguration) with the
 * record. `basePrices` fill the prices the record does not state.
 */
export function compareWithPublishedRun(model: ConfigModel, record: RunRecord, basePrices: PriceTable): PublishedComparison {
  const L = model.ctx.layerCount;
  const runId = publishedRunId(record);
  const { stages } = publishedConfiguration(record, L);
  const estimate = model.plan(stages);
  const stage = estimate.stages[0];
  const channel = model.config.channel === 'queue' ? 'queue' : 'object';
  const lambda = stage.counters.lambda;
  const exchange = model.exchangeCounters(1, L);
  const traffic = model.exchangeTraffic(1, L);
  const published = record.published as (Record<string, unknown> & { breakdownUSD?: Partial<Record<CostService, number>>; totalUSD: number }) | undefined;
  const c = record.counters;

  const quantities: ComparedQuantity[] = [];
  const add = (name: string, predicted: number, publishedValue: unknown, dependsOn: readonly LatencyConstantName[]) => {
    if (typeof publishedValue !== 'number' || !(publishedValue > 0)) return;
    const fittedOnThisRun = constantsFittedOn(runId, dependsOn);
    quantities.push({ name, predicted, published: publishedValue, ratio: predicted / publishedValue, dependsOn, fittedOnThisRun, heldOut: fittedOnThisRun.length === 0 });
  };
  const latencyFits = LATENCY_FITS[channel];
  add('Lambda invocations', lambda.reduce((t, u) => t + u.invocations, 0), c.lambdaInvocations, []);
  add('Lambda billed seconds (all instances)', lambda.reduce((t, u) => t + u.billedSeconds, 0), c.lambdaBilledSeconds, latencyFits);
  add('seconds per worker', stage.workerSeconds, published?.batchSecondsPerWorker, latencyFits);
  if (channel === 'queue') {
    add('queue messages', traffic.messages, published?.messagesSent, []);
    add('SNS publish calls', exchange.snsPublishCalls, c.snsPublishCalls, []);
    add('SNS published bytes', exchange.snsPublishedBytes, c.snsPublishedBytes, []);
    add('SQS receive calls', exchange.sqsReceiveCalls, c.sqsReceiveCalls, ['exchangeArrivalSpreadSeconds']);
  } else {
    add('S3 PUT requests', exchange.s3PutRequests, c.s3PutRequests, []);
    add('S3 GET requests', exchange.s3GetRequests, c.s3GetRequests, []);
    add('S3 LIST requests', exchange.s3ListRequests, c.s3ListRequests, ['exchangeArrivalSpreadSeconds']);
    add('S3 bytes written', exchange.s3BytesWritten, c.s3BytesWritten, []);
  }

  const prices = record.prices ? overridePriceValues(basePrices, record.prices, `${runId} (record's own prices)`) : basePrices;
  const counters: UsageCounters = { ...exchange, lambda };
  const predictedCost = priceCounters(counters, prices);
  const fsdCounting: UsageCounters = {
    ...zeroCounters(), lambda,
    snsPublishCalls: exchange.snsPublishCalls, snsPublishedBytes: exchange.snsPublishedBytes,
    sqsReceiveCalls: exchange.sqsReceiveCalls, sqsBilledRequests: exchange.sqsReceiveCalls,
    s3PutRequests: exchange.s3PutRequests, s3GetRequests: exchange.s3GetRequests, s3ListRequests: exchange.s3ListRequests,
  };
  const predictedCostFsdCounting = priceCounters(fsdCounting, prices);
  const byService = published?.breakdownUSD ?? {};
  const serviceFits: Readonly<Record<CostService, readonly LatencyConstantName[]>> = {
    lambda: latencyFits, sns: [], sqs: ['exchangeArrivalSpreadSeconds'], s3: ['exchangeArrivalSpreadSeconds'], stepfunctions: [], server: [],
  };
  for (const service of Object.keys(byService) as CostService[]) {
    add(`cost: ${service} (USD)`, predictedCost.byServiceUSD[service], byService[service], serviceFits[service]);
  }
  if (published) {
    const all = [...new Set([...latencyFits, 'exchangeArrivalSpreadSeconds' as const])];
    add('cost: total (USD)', predictedCost.totalUSD, published.totalUSD, all);
    add("cost: total, FSD's counting (USD)", predictedCostFsdCounting.totalUSD, published.totalUSD, all);
  }
  return { runId, label: record.source ?? runId, estimate, quantities, predictedCost, predictedCostFsdCounting };
}
