// Prices a set of usage counters: one line per billed item (quantity x unit price), subtotals per
// service and a total. The formulas are the FSD-Inference cost model extended to Step Functions:
//   Lambda = invocations x request price + sum(billed seconds x memory GB) x GB-second price
//   SNS    = billed publish requests (per started 64 KB) x request price + bytes x byte price
//   SQS    = billed requests (per 64 KB chunk; empty polls and deletes count) x request price
//   S3     = PUTs x put price + GETs x get price + LISTs x list price
//   Step Functions = Standard transitions x transition price + Express requests and GB-seconds

import {
  lambdaGBSeconds, snsBilledPublishRequests, sqsBilledRequests,
  type UsageCounters,
} from './counters.ts';
import type { PriceName, PriceTable } from './prices.ts';

export type CostService = 'lambda' | 'sns' | 'sqs' | 's3' | 'stepfunctions' | 'server';

export const COST_SERVICES: readonly CostService[] = ['lambda', 'sns', 'sqs', 's3', 'stepfunctions', 'server'];

export interface CostLine {
  readonly service: CostService;
  readonly item: string;
  readonly quantity: number;
  /** What one unit of `quantity` is. */
  readonly unit: string;
  readonly price: PriceName;
  readonly unitPriceUSD: number;
  readonly usd: number;
}

export interface CostBreakdown {
  readonly totalUSD: number;
  readonly byServiceUSD: Readonly<Record<CostService, number>>;
  readonly lines: readonly CostLine[];
}

function line(service: CostService, item: string, quantity: number, unit: string, price: PriceName, prices: PriceTable): CostLine {
  const unitPriceUSD = prices.prices[price].value;
  return { service, item, quantity, unit, price, unitPriceUSD, usd: quantity * unitPriceUSD };
}

/** Sums lines into a breakdown (lines with zero quantity are dropped). */
export function breakdownOf(lines: readonly CostLine[]): CostBreakdown {
  const byServiceUSD = { lambda: 0, sns: 0, sqs: 0, s3: 0, stepfunctions: 0, server: 0 };
  let totalUSD = 0;
  const kept = lines.filter((l) => l.quantity !== 0);
  for (const l of kept) {
    byServiceUSD[l.service] += l.usd;
    totalUSD += l.usd;
  }
  return { totalUSD, byServiceUSD, lines: kept };
}

/** The cost of `counters` at `prices`. */
export function priceCounters(counters: UsageCounters, prices: PriceTable): CostBreakdown {
  const lines: CostLine[] = [];
  let invocations = 0;
  let gbSecondsX86 = 0;
  let gbSecondsArm = 0;
  for (const usage of counters.lambda) {
    invocations += usage.invocations;
    if (usage.architecture === 'arm64') gbSecondsArm += lambdaGBSeconds(usage);
    else gbSecondsX86 += lambdaGBSeconds(usage);
  }
  lines.push(line('lambda', 'requests', invocations, 'invocation', 'lambdaPerRequest', prices));
  lines.push(line('lambda', 'duration x86_64', gbSecondsX86, 'GB-second', 'lambdaPerGBSecond', prices));
  lines.push(line('lambda', 'duration arm64', gbSecondsArm, 'GB-second', 'lambdaArmPerGBSecond', prices));
  lines.push(line('sns', 'publish requests (per started 64 KB)', snsBilledPublishRequests(counters), 'billed request', 'snsPerPublishRequest', prices));
  lines.push(line('sns', 'published data', counters.snsPublishedBytes, 'byte', 'snsPerByte', prices));
  lines.push(line('sqs', 'requests (per 64 KB chunk; empty polls and deletes included)', sqsBilledRequests(counters), 'billed request', 'sqsPerRequest', prices));
  lines.push(line('s3', 'PUT requests', counters.s3PutRequests, 'request', 's3PerPut', prices));
  lines.push(line('s3', 'GET requests', counters.s3GetRequests, 'request', 's3PerGet', prices));
  lines.push(line('s3', 'LIST requests', counters.s3ListRequests, 'request', 's3PerList', prices));
  lines.push(line('stepfunctions', 'Standard state transitions', counters.sfnStandardTransitions, 'transition', 'sfnStandardPerTransition', prices));
  lines.push(line('stepfunctions', 'Express requests', counters.sfnExpressRequests, 'execution', 'sfnExpressPerRequest', prices));
  lines.push(line('stepfunctions', 'Express duration', counters.sfnExpressGBSeconds, 'GB-second', 'sfnExpressPerGBSecond', prices));
  return breakdownOf(lines);
}

/**
 * An always-on server's share of one request: it runs `busySeconds` per request but is paid for
 * every hour, of which only `serverUtilization` is busy.
 */
export function priceServer(busySeconds: number, prices: PriceTable): CostBreakdown {
  const utilization = prices.prices.serverUtilization.value;
  const paidHours = busySeconds / 3600 / (utilization > 0 ? utilization : 1);
  return breakdownOf([
    line('server', `${prices.server.instanceType} hours (${busySeconds.toFixed(2)} s busy at ${(utilization * 100).toFixed(0)}% utilization)`, paidHours, 'instance-hour', 'serverPerHour', prices),
  ]);
}

/** Adds breakdowns (lines concatenated, per-service sums added). */
export function addBreakdowns(...parts: readonly CostBreakdown[]): CostBreakdown {
  return breakdownOf(parts.flatMap((p) => p.lines));
}
