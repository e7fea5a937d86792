// Run records: the counters of one run (published, measured locally, or predicted), optionally the
// unit prices it was costed at and its published totals. The format is the one of
// data/fsd-inference/runs-1024n-8w.json; every counter of UsageCounters may appear flat in
// `counters`, and `counters.lambda` may list several function configurations instead of the
// single `lambdaMemoryMB` / `lambdaInvocations` / `lambdaBilledSeconds` triple.

import { z } from 'zod';
import { AWS_LIMITS } from '../aws-limits.ts';
import { ModelFormatError, fromZodError } from '../../model/errors.ts';
import { zeroCounters, type UsageCounters } from './counters.ts';
import { priceCounters, type CostBreakdown, type CostService } from './price.ts';
import { overridePriceValues, PRICE_NAMES, type PriceTable } from './prices.ts';

const count = z.number().nonnegative();
const memoryMB = z.number().int().min(AWS_LIMITS.lambdaMinMemoryMB.value).max(AWS_LIMITS.lambdaMaxMemoryMB.value);

export const lambdaUsageSchema = z.object({
  role: z.string().default('worker'),
  memoryMB: memoryMB,
  architecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
  invocations: count,
  billedSeconds: count,
});

export const runCountersSchema = z.object({
  lambda: z.array(lambdaUsageSchema).optional(),
  lambdaInvocations: count.optional(),
  lambdaBilledSeconds: count.optional(),
  snsPublishCalls: count.optional(),
  snsPublishedBytes: count.optional(),
  snsBilledPublishRequests: count.optional(),
  sqsReceiveCalls: count.optional(),
  sqsEmptyReceiveCalls: count.optional(),
  sqsReceivedBytes: count.optional(),
  sqsDeleteCalls: count.optional(),
  sqsSendCalls: count.optional(),
  sqsBilledRequests: count.optional(),
  s3PutRequests: count.optional(),
  s3GetRequests: count.optional(),
  s3ListRequests: count.optional(),
  s3BytesWritten: count.optional(),
  s3BytesRead: count.optional(),
  sfnStandardTransitions: count.optional(),
  sfnExpressRequests: count.optional(),
  sfnExpressGBSeconds: count.optional(),
}).strict();

export type RunCounters = z.infer<typeof runCountersSchema>;

const priceValuesSchema = z.partialRecord(z.enum(PRICE_NAMES), z.number().nonnegative());

export const runRecordSchema = z.object({
  source: z.string().optional(),
  variant: z.string().optional(),
  model: z.object({ neurons: z.number().int().positive(), layers: z.number().int().positive(), inputs: z.number().int().nonnegative() }).partial().optional(),
  workers: z.number().int().positive().optional(),
  launch: z.object({ branchingFactor: z.number().int().positive(), levels: z.number().int().positive() }).optional(),
  lambdaMemoryMB: memoryMB.optional(),
  lambdaArchitecture: z.enum(['x86_64', 'arm64']).optional(),
  counters: runCountersSchema,
  prices: priceValuesSchema.optional(),
  published: z.object({
    totalUSD: z.number().nonnegative(),
    breakdownUSD: z.partialRecord(z.enum(['lambda', 'sns', 'sqs', 's3', 'stepfunctions', 'server']), z.number().nonnegative()).optional(),
  }).loose().optional(),
}).loose().superRefine((record, ctx) => {
  const c = record.counters;
  const flat = c.lambdaInvocations !== undefined || c.lambdaBilledSeconds !== undefined;
  if (flat && c.lambda) ctx.addIssue({ code: 'custom', path: ['counters', 'lambda'], message: 'give either counters.lambda or lambdaInvocations/lambdaBilledSeconds, not both' });
  if (flat && record.lambdaMemoryMB === undefined) ctx.addIssue({ code: 'custom', path: ['lambdaMemoryMB'], message: 'lambdaMemoryMB is required with counters.lambdaInvocations / lambdaBilledSeconds' });
});

export type RunRecord = z.infer<typeof runRecordSchema>;

/** The counters of a record, absent ones 0. */
export function recordCounters(record: RunRecord): UsageCounters {
  const c = record.counters;
  const base = zeroCounters();
  const lambda = c.lambda
    ? c.lambda
    : c.lambdaInvocations !== undefined || c.lambdaBilledSeconds !== undefined
      ? [{
          role: 'worker',
          memoryMB: record.lambdaMemoryMB!,
          architecture: record.lambdaArchitecture ?? 'x86_64' as const,
          invocations: c.lambdaInvocations ?? 0,
          billedSeconds: c.lambdaBilledSeconds ?? 0,
        }]
      : [];
  return {
    ...base,
    lambda,
    snsPublishCalls: c.snsPublishCalls ?? 0,
    snsPublishedBytes: c.snsPublishedBytes ?? 0,
    ...(c.snsBilledPublishRequests !== undefined ? { snsBilledPublishRequests: c.snsBilledPublishRequests } : {}),
    sqsReceiveCalls: c.sqsReceiveCalls ?? 0,
    sqsEmptyReceiveCalls: c.sqsEmptyReceiveCalls ?? 0,
    sqsReceivedBytes: c.sqsReceivedBytes ?? 0,
    sqsDeleteCalls: c.sqsDeleteCalls ?? 0,
    sqsSendCalls: c.sqsSendCalls ?? 0,
    ...(c.sqsBilledRequests !== undefined ? { sqsBilledRequests: c.sqsBilledRequests } : {}),
    s3PutRequests: c.s3PutRequests ?? 0,
    s3GetRequests: c.s3GetRequests ?? 0,
    s3ListRequests: c.s3ListRequests ?? 0,
    s3BytesWritten: c.s3BytesWritten ?? 0,
    s3BytesRead: c.s3BytesRead ?? 0,
    sfnStandardTransitions: c.sfnStandardTransitions ?? 0,
    sfnExpressRequests: c.sfnExpressRequests ?? 0,
    sfnExpressGBSeconds: c.sfnExpressGBSeconds ?? 0,
  };
}

/** The counters in the record format (flat, every counter explicit). */
export function countersToRecord(c: UsageCounters): RunCounters {
  return {
    lambda: c.lambda.map((u) => ({ ...u })),
    snsPublishCalls: c.snsPublishCalls,
    snsPublishedBytes: c.snsPublishedBytes,
    ...(c.snsBilledPublishRequests !== undefined ? { snsBilledPublishRequests: c.snsBilledPublishRequests } : {}),
    sqsReceiveCalls: c.sqsReceiveCalls,
    sqsEmptyReceiveCalls: c.sqsEmptyReceiveCalls,
    sqsReceivedBytes: c.sqsReceivedBytes,
    sqsDeleteCalls: c.sqsDeleteCalls,
    sqsSendCalls: c.sqsSendCalls,
    ...(c.sqsBilledRequests !== undefined ? { sqsBilledRequests: c.sqsBilledRequests } : {}),
    s3PutRequests: c.s3PutRequests,
    s3GetRequests: c.s3GetRequests,
    s3ListRequests: c.s3ListRequests,
    s3BytesWritten: c.s3BytesWritten,
    s3BytesRead: c.s3BytesRead,
    sfnStandardTransitions: c.sfnStandardTransitions,
    sfnExpressRequests: c.sfnExpressRequests,
    sfnExpressGBSeconds: c.sfnExpressGBSeconds,
  };
}

export interface PricedRecord {
  readonly label: string;
  readonly counters: UsageCounters;
  readonly prices: PriceTable;
  readonly breakdown: CostBreakdown;
  /** Present when the record has published totals. */
  readonly published?: {
    readonly totalUSD: number;
    readonly breakdownUSD: Partial<Record<CostService, number>>;
    /** (ours - published) / published. */
    readonly relativeDifference: number;
  };
}

export interface PriceRecordOptions {
  /** Ignore the record's own prices (price its counters at `base` instead). */
  readonly ignoreRecordPrices?: boolean;
}

/** Prices one record: `base` prices, overridden by the record's own `prices` unless told not to. */
export function priceRecord(record: RunRecord, base: PriceTable, label: string, options: PriceRecordOptions = {}): PricedRecord {
  const prices = record.prices && !options.ignoreRecordPrices ? overridePriceValues(base, record.prices, `${label} (record's own prices)`) : base;
  const counters = recordCounters(record);
  const breakdown = priceCounters(counters, prices);
  const published = record.published
    ? {
        totalUSD: record.published.totalUSD,
        breakdownUSD: record.published.breakdownUSD ?? {},
        relativeDifference: record.published.totalUSD > 0 ? (breakdown.totalUSD - record.published.totalUSD) / record.published.totalUSD : 0,
      }
    : undefined;
  return { label, counters, prices, breakdown, ...(published ? { published } : {}) };
}

/** Parses one record or an array of records; errors name the file and the field path. */
export function parseRunRecords(json: unknown, file: string): RunRecord[] {
  const list = Array.isArray(json) ? json : [json];
  if (list.length === 0) throw new ModelFormatError('no run records (an empty array)', { file });
  return list.map((item, i) => {
    const parsed = runRecordSchema.safeParse(item);
    if (!parsed.success) {
      throw fromZodError(parsed.error, file, { pathPrefix: Array.isArray(json) ? [i] : [] });
    }
    return parsed.data;
  });
}
