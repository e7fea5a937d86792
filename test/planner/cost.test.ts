// The cost model: the two published FSD-Inference runs reproduced from their counters and prices,
// billing granularity of every counter, and price overrides.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addCounters, defaultPrices, overridePrices, parseRunRecords, priceCounters, priceRecord, priceServer,
  scaleCounters, snsBilledPublishRequests, sqsBilledRequests, zeroCounters,
  PRICE_NAMES, type UsageCounters,
} from '../../planner/cost/index.ts';
import { FileAccessError, ModelFormatError } from '../../model/errors.ts';
import { readPriceFile, readRunRecords } from '../../cli/files.ts';
import { FSD_RUNS, requireData } from '../helpers/shared-data.ts';

const RUNS = FSD_RUNS;

// "Reproduced exactly": the same sums in another order differ by a few units in the last place of
// a double, no more (measured: 3.3e-16 relative at most).
const EXACT = 4 * Number.EPSILON;
const exactly = (actual: number, expected: number) =>
  expect(Math.abs(actual - expected) / expected).toBeLessThanOrEqual(EXACT);

describe('published FSD-Inference runs', () => {
  it('reproduces both published totals and breakdowns exactly (to double rounding) with the file\'s prices', () => {
    requireData(RUNS, 'the published FSD-Inference runs');
    const records = readRunRecords(RUNS);
    expect(records).toHaveLength(2);
    for (const record of records) {
      const priced = priceRecord(record, defaultPrices(), record.variant!);
      const published = record.published!;
      exactly(priced.breakdown.totalUSD, published.totalUSD);
      for (const [service, usd] of Object.entries(published.breakdownUSD!)) {
        exactly(priced.breakdown.byServiceUSD[service as 'lambda'], usd);
      }
      expect(Math.abs(priced.published!.relativeDifference)).toBeLessThanOrEqual(EXACT);
    }
  });

  it('prices the queue run line by line as the spreadsheet does', () => {
    requireData(RUNS, 'the published FSD-Inference runs');
    const [queue] = readRunRecords(RUNS);
    const { breakdown, counters } = priceRecord(queue, defaultPrices(), 'queue');
    // 104,131,260 bytes over 1,102 calls: 94.5 KB per call, two started 64 KB chunks each.
    expect(snsBilledPublishRequests(counters)).toBe(2204);
    const line = (item: string) => breakdown.lines.find((l) => l.item.startsWith(item))!;
    expect(line('requests').quantity).toBe(9);
    expect(line('duration x86_64').quantity).toBeCloseTo(568.61206 * (1000 / 1024), 6);
    expect(line('publish requests').usd).toBeCloseTo(2204 * 5e-7, 12);
    expect(line('published data').usd).toBeCloseTo(104131260 * 9e-11, 12);
    expect(breakdown.byServiceUSD.sqs).toBeCloseTo(4318 * 4e-7, 12);
    expect(breakdown.byServiceUSD.s3).toBe(0);
  });

  it('prices the object run per PUT, GET and LIST', () => {
    requireData(RUNS, 'the published FSD-Inference runs');
    const [, object] = readRunRecords(RUNS);
    const { breakdown } = priceRecord(object, defaultPrices(), 'object');
    expect(breakdown.byServiceUSD.s3).toBeCloseTo(6452 * 5.3e-6 + 6450 * 4.2e-7 + 1615 * 5.3e-6, 12);
    expect(breakdown.byServiceUSD.sns + breakdown.byServiceUSD.sqs).toBe(0);
  });

  it('can ignore the record\'s prices and use today\'s defaults', () => {
    requireData(RUNS, 'the published FSD-Inference runs');
    const [queue] = readRunRecords(RUNS);
    const own = priceRecord(queue, defaultPrices(), 'queue');
    const today = priceRecord(queue, defaultPrices(), 'queue', { ignoreRecordPrices: true });
    // Lambda's GB-second price differs (1.68e-5 in the spreadsheet vs 1.66667e-5 list price).
    expect(today.breakdown.byServiceUSD.lambda).toBeLessThan(own.breakdown.byServiceUSD.lambda);
    expect(today.prices.prices.lambdaPerGBSecond.value).toBe(0.0000166667);
  });
});

describe('counters and billing granularity', () => {
  const base = zeroCounters();

  it('bills an SNS publish per started 64 KB, from aggregates or as measured', () => {
    expect(snsBilledPublishRequests({ ...base, snsPublishCalls: 10, snsPublishedBytes: 10 * 65536 })).toBe(10);
    expect(snsBilledPublishRequests({ ...base, snsPublishCalls: 10, snsPublishedBytes: 10 * 65537 })).toBe(20);
    expect(snsBilledPublishRequests({ ...base, snsPublishCalls: 3, snsPublishedBytes: 30 })).toBe(3);
    expect(snsBilledPublishRequests({ ...base, snsPublishCalls: 3, snsPublishedBytes: 300000, snsBilledPublishRequests: 7 })).toBe(7);
    expect(snsBilledPublishRequests(base)).toBe(0);
  });

  it('bills SQS receives per 64 KB chunk, empty polls and deletes as one request each', () => {
    const c: UsageCounters = { ...base, sqsReceiveCalls: 10, sqsEmptyReceiveCalls: 4, sqsReceivedBytes: 6 * 200000, sqsDeleteCalls: 6 };
    // 6 non-empty receives of 200,000 bytes: 4 chunks each; 4 empty polls; 6 deletes.
    expect(sqsBilledRequests(c)).toBe(6 * 4 + 4 + 6);
    // Bytes unknown (the spreadsheet's model): one request per call.
    expect(sqsBilledRequests({ ...base, sqsReceiveCalls: 4318 })).toBe(4318);
  });

  it('bills Lambda GB-seconds with 1 GB = 1024 MB, per memory size and architecture', () => {
    const prices = defaultPrices();
    const c: UsageCounters = {
      ...base,
      lambda: [
        { role: 'worker', memoryMB: 2048, architecture: 'x86_64', invocations: 4, billedSeconds: 10 },
        { role: 'worker', memoryMB: 1024, architecture: 'arm64', invocations: 1, billedSeconds: 10 },
      ],
    };
    const b = priceCounters(c, prices);
    expect(b.byServiceUSD.lambda).toBeCloseTo(5 * 2e-7 + 20 * 0.0000166667 + 10 * 0.0000133334, 15);
  });

  it('prices Step Functions transitions and Express requests and duration', () => {
    const b = priceCounters({ ...base, sfnStandardTransitions: 1000, sfnExpressRequests: 1e6, sfnExpressGBSeconds: 100 }, defaultPrices());
    expect(b.byServiceUSD.stepfunctions).toBeCloseTo(0.025 + 1 + 100 * 0.00001667, 12);
  });

  it('adds and scales counter sets, merging Lambda usage of one configuration', () => {
    const a: UsageCounters = { ...base, snsPublishCalls: 1, snsPublishedBytes: 100000, s3PutRequests: 2, lambda: [{ role: 'worker', memoryMB: 1024, architecture: 'x86_64', invocations: 2, billedSeconds: 3 }] };
    const b: UsageCounters = { ...base, snsPublishCalls: 1, snsPublishedBytes: 10, s3PutRequests: 1, lambda: [{ role: 'worker', memoryMB: 1024, architecture: 'x86_64', invocations: 1, billedSeconds: 1 }] };
    const sum = addCounters(a, b);
    expect(sum.s3PutRequests).toBe(3);
    expect(sum.lambda).toEqual([{ role: 'worker', memoryMB: 1024, architecture: 'x86_64', invocations: 3, billedSeconds: 4 }]);
    // Billing granularity survives the sum: 2 chunks + 1 chunk, not ceil(100010 / 2 / 64 KB) x 2.
    expect(snsBilledPublishRequests(sum)).toBe(3);
    const tripled = scaleCounters(a, 3);
    expect(tripled.s3PutRequests).toBe(6);
    expect(tripled.lambda[0].billedSeconds).toBe(9);
    expect(priceCounters(tripled, defaultPrices()).totalUSD).toBeCloseTo(3 * priceCounters(a, defaultPrices()).totalUSD, 15);
  });

  it('prices an always-on server by busy time over utilization', () => {
    const prices = defaultPrices();
    const b = priceServer(36, prices);
    expect(b.totalUSD).toBeCloseTo((36 / 3600 / prices.prices.serverUtilization.value) * prices.prices.serverPerHour.value, 12);
  });
});

describe('prices as data', () => {
  it('gives every default price a unit, a source and a date', () => {
    const prices = defaultPrices();
    expect(prices.region).toBe('us-east-1');
    for (const name of PRICE_NAMES) {
      const entry = prices.prices[name];
      expect(entry.value, name).toBeGreaterThanOrEqual(0);
      expect(entry.source.length, name).toBeGreaterThan(10);
      expect(entry.date, name).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(entry.unit.length, name).toBeGreaterThan(3);
    }
  });

  it('prices SNS-to-SQS data at what AWS charges in one Region (nothing), keeping FSD\'s $0.09/GB in its records only', () => {
    const sns = defaultPrices().prices.snsPerByte;
    expect(sns.value).toBe(0);
    expect(sns.source).toContain('aws.amazon.com/sns/pricing');
    expect(sns.source).toContain('No charge for deliveries to SQS Queues');
    requireData(RUNS, 'the published FSD-Inference runs');
    const [queue] = readRunRecords(RUNS);
    expect(queue.prices!.snsPerByte).toBe(9e-11);
    expect(priceRecord(queue, defaultPrices(), 'queue').breakdown.lines.find((l) => l.price === 'snsPerByte')!.unitPriceUSD).toBe(9e-11);
    expect(priceRecord(queue, defaultPrices(), 'queue', { ignoreRecordPrices: true }).breakdown.byServiceUSD.sns).toBeCloseTo(2204 * 5e-7, 15);
  });

  it('overrides prices from a file, numbers attributed to the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepinfer-prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify({ date: '2030-01-01', prices: { snsPerByte: 0, s3PerPut: { value: 1e-5, source: 'negotiated' } } }));
    const prices = readPriceFile(file);
    expect(prices.prices.snsPerByte.value).toBe(0);
    expect(prices.prices.snsPerByte.source).toContain(file);
    expect(prices.prices.s3PerPut).toMatchObject({ value: 1e-5, source: 'negotiated', date: '2030-01-01' });
    expect(prices.prices.lambdaPerRequest).toEqual(defaultPrices().prices.lambdaPerRequest);
  });

  it('names the file and field of a bad price file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepinfer-prices-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ prices: { s3PerPut: -1 } }));
    expect(() => readPriceFile(file)).toThrow(ModelFormatError);
    expect(() => readPriceFile(file)).toThrow(/bad\.json, field prices\.s3PerPut/);
    writeFileSync(file, JSON.stringify({ prices: { s3PerPutt: 1 } }));
    expect(() => readPriceFile(file)).toThrow(/prices/);
    expect(() => readPriceFile(join(dir, 'missing.json'))).toThrow(FileAccessError);
  });

  it('overrides compose: defaults < file < record', () => {
    const table = overridePrices(defaultPrices(), { prices: { sqsPerRequest: 1e-6 } }, 'file');
    const [record] = parseRunRecords({ lambdaMemoryMB: 1024, counters: { sqsReceiveCalls: 10 }, prices: { sqsPerRequest: 2e-6 } }, 'r.json');
    expect(priceRecord(record, table, 'r').breakdown.byServiceUSD.sqs).toBeCloseTo(2e-5, 15);
    expect(priceRecord(record, table, 'r', { ignoreRecordPrices: true }).breakdown.byServiceUSD.sqs).toBeCloseTo(1e-5, 15);
  });
});

describe('run records', () => {
  it('names the record and field of a bad counter', () => {
    const good = { lambdaMemoryMB: 1000, counters: { lambdaInvocations: 1, lambdaBilledSeconds: 1 } };
    expect(() => parseRunRecords([good, { ...good, counters: { snsPublishCalls: -1 } }], 'runs.json'))
      .toThrow(/runs\.json, field \[1\]\.counters\.snsPublishCalls/);
    expect(() => parseRunRecords({ counters: { lambdaInvocations: 1 } }, 'one.json')).toThrow(/field lambdaMemoryMB/);
    expect(() => parseRunRecords({ counters: { lambdaInvocation: 1 } }, 'one.json')).toThrow(/one\.json, field counters/);
    expect(() => parseRunRecords([], 'empty.json')).toThrow(/no run records/);
  });

  it('accepts several Lambda configurations and every counter', () => {
    const [record] = parseRunRecords({
      counters: {
        lambda: [
          { role: 'worker', memoryMB: 1769, invocations: 8, billedSeconds: 80 },
          { role: 'gather', memoryMB: 1024, invocations: 1, billedSeconds: 1 },
        ],
        s3PutRequests: 10, sfnStandardTransitions: 12,
      },
    }, 'local.json');
    const priced = priceRecord(record, defaultPrices(), 'local');
    expect(priced.counters.lambda).toHaveLength(2);
    expect(priced.breakdown.byServiceUSD.lambda).toBeCloseTo(9 * 2e-7 + (80 * 1769 / 1024 + 1) * 0.0000166667, 12);
    expect(priced.breakdown.byServiceUSD.stepfunctions).toBeCloseTo(12 * 0.000025, 15);
    expect(priced.published).toBeUndefined();
  });
});
