// Usage counters: everything a run bills, counted explicitly. One set of counters prices a
// prediction (the optimizer fills them from the latency and volume models), a local run's measured
// counters, or a published record, with the same code (planner/cost/price.ts).

import { AWS_LIMITS } from '../aws-limits.ts';

export type LambdaArchitecture = 'x86_64' | 'arm64';

/** Invocations of one Lambda function configuration (one memory size, one architecture). */
export interface LambdaUsage {
  /** What these invocations did: worker, coordinator, gather, serial, stage-2 ... */
  readonly role: string;
  readonly memoryMB: number;
  readonly architecture: LambdaArchitecture;
  readonly invocations: number;
  /** Billed duration summed over all invocations (each rounded up to 1 ms by Lambda). */
  readonly billedSeconds: number;
}

export interface UsageCounters {
  readonly lambda: readonly LambdaUsage[];
  /** Publish and PublishBatch calls. */
  readonly snsPublishCalls: number;
  /** Payload bytes over all publish calls. */
  readonly snsPublishedBytes: number;
  /**
   * Billed publish requests when measured call by call (sum of ceil(call bytes / 64 KB)); when
   * absent they are derived from the aggregates as ceil(bytes per call / 64 KB) x calls.
   */
  readonly snsBilledPublishRequests?: number;
  /** ReceiveMessage calls, empty long polls included. */
  readonly sqsReceiveCalls: number;
  /** Of which returned no message. */
  readonly sqsEmptyReceiveCalls: number;
  /** Message bytes returned by all receive calls (0 when not measured). */
  readonly sqsReceivedBytes: number;
  /** DeleteMessage / DeleteMessageBatch calls. */
  readonly sqsDeleteCalls: number;
  /** SendMessage / SendMessageBatch calls (the channels here send through SNS; usually 0). */
  readonly sqsSendCalls: number;
  /** Billed SQS requests when measured call by call; otherwise derived (see sqsBilledRequests()). */
  readonly sqsBilledRequests?: number;
  readonly s3PutRequests: number;
  readonly s3GetRequests: number;
  readonly s3ListRequests: number;
  readonly s3BytesWritten: number;
  readonly s3BytesRead: number;
  readonly sfnStandardTransitions: number;
  readonly sfnExpressRequests: number;
  /** Express executions' duration x memory (64 MB chunks), in GB-seconds. */
  readonly sfnExpressGBSeconds: number;
}

export function zeroCounters(): UsageCounters {
  return {
    lambda: [],
    snsPublishCalls: 0, snsPublishedBytes: 0,
    sqsReceiveCalls: 0, sqsEmptyReceiveCalls: 0, sqsReceivedBytes: 0, sqsDeleteCalls: 0, sqsSendCalls: 0,
    s3PutRequests: 0, s3GetRequests: 0, s3ListRequests: 0, s3BytesWritten: 0, s3BytesRead: 0,
    sfnStandardTransitions: 0, sfnExpressRequests: 0, sfnExpressGBSeconds: 0,
  };
}

type NumericCounter = Exclude<keyof UsageCounters, 'lambda' | 'snsBilledPublishRequests' | 'sqsBilledRequests'>;

const NUMERIC_COUNTERS: readonly NumericCounter[] = [
  'snsPublishCalls', 'snsPublishedBytes',
  'sqsReceiveCalls', 'sqsEmptyReceiveCalls', 'sqsReceivedBytes', 'sqsDeleteCalls', 'sqsSendCalls',
  's3PutRequests', 's3GetRequests', 's3ListRequests', 's3BytesWritten', 's3BytesRead',
  'sfnStandardTransitions', 'sfnExpressRequests', 'sfnExpressGBSeconds',
];

/**
 * The sum of several counter sets. Lambda usage of the same role, memory and architecture is
 * merged. Billed SNS and SQS requests are summed part by part (each part's measured value, or its
 * own derived one), so the sum keeps every part's billing granularity.
 */
export function addCounters(...parts: readonly UsageCounters[]): UsageCounters {
  const out: Record<string, number> = {};
  for (const key of NUMERIC_COUNTERS) out[key] = 0;
  const lambda = new Map<string, LambdaUsage>();
  let snsBilled = 0;
  let sqsBilled = 0;
  for (const part of parts) {
    for (const key of NUMERIC_COUNTERS) out[key] += part[key];
    for (const usage of part.lambda) {
      const key = `${usage.role}/${usage.memoryMB}/${usage.architecture}`;
      const seen = lambda.get(key);
      lambda.set(key, seen
        ? { ...seen, invocations: seen.invocations + usage.invocations, billedSeconds: seen.billedSeconds + usage.billedSeconds }
        : usage);
    }
    snsBilled += snsBilledPublishRequests(part);
    sqsBilled += sqsBilledRequests(part);
  }
  return {
    ...(out as Record<NumericCounter, number>),
    lambda: [...lambda.values()],
    snsBilledPublishRequests: snsBilled,
    sqsBilledRequests: sqsBilled,
  };
}

/** Multiplies every counter by `factor` (e.g. per-layer counters times repetitions). */
export function scaleCounters(c: UsageCounters, factor: number): UsageCounters {
  const out: Record<string, unknown> = { ...c };
  for (const key of NUMERIC_COUNTERS) out[key] = c[key] * factor;
  out.lambda = c.lambda.map((u) => ({ ...u, invocations: u.invocations * factor, billedSeconds: u.billedSeconds * factor }));
  if (c.snsBilledPublishRequests !== undefined) out.snsBilledPublishRequests = c.snsBilledPublishRequests * factor;
  if (c.sqsBilledRequests !== undefined) out.sqsBilledRequests = c.sqsBilledRequests * factor;
  return out as unknown as UsageCounters;
}

/** Billed SNS publish requests: ceil(bytes per call / 64 KB) x calls, unless measured exactly. */
export function snsBilledPublishRequests(c: UsageCounters): number {
  if (c.snsBilledPublishRequests !== undefined) return c.snsBilledPublishRequests;
  if (c.snsPublishCalls <= 0) return 0;
  const perCall = c.snsPublishedBytes / c.snsPublishCalls;
  return c.snsPublishCalls * Math.max(1, Math.ceil(perCall / AWS_LIMITS.snsBillingChunkBytes.value));
}

/**
 * Billed SQS requests: every empty receive, delete and send is one request; a receive that returned
 * messages is billed per started 64 KB of its payload, from the aggregates ceil(bytes per
 * non-empty receive / 64 KB) (1 when the bytes were not measured, the FSD spreadsheet's model).
 */
export function sqsBilledRequests(c: UsageCounters): number {
  if (c.sqsBilledRequests !== undefined) return c.sqsBilledRequests;
  const nonEmpty = Math.max(0, c.sqsReceiveCalls - c.sqsEmptyReceiveCalls);
  const chunksPerReceive = nonEmpty > 0 && c.sqsReceivedBytes > 0 ? Math.max(1, Math.ceil(c.sqsReceivedBytes / nonEmpty / AWS_LIMITS.sqsBillingChunkBytes.value)) : 1;
  return c.sqsEmptyReceiveCalls + nonEmpty * chunksPerReceive + c.sqsDeleteCalls + c.sqsSendCalls;
}

/** Lambda GB-seconds of one usage: billed seconds x memory in GB (1 GB = 1024 MB, as AWS bills). */
export function lambdaGBSeconds(usage: LambdaUsage): number {
  return usage.billedSeconds * (usage.memoryMB / 1024);
}
