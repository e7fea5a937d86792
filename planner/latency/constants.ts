// Latency and throughput constants of AWS (planner/latency/aws-latency.json), each with its
// unit and source; the latency model reads only these, the AWS limits and the calibration
// profile. A constant fitted on a published run says so in `fit` (which runs, which quantity, and
// the held-out runs that validate it, if any), so a comparison with that run can tell an in-sample
// fit from a prediction. The hard AWS limits the model also needs (message size, batch entries,
// Map concurrency, history events, Express and Lambda durations) are not repeated in the JSON:
// they come from planner/aws-limits.ts under the names the model has always used.

import { z } from 'zod';
import { fromZodError } from '../../model/errors.ts';
import { AWS_LIMITS, type AwsLimitName } from '../aws-limits.ts';
import constantsJson from './aws-latency.json' with { type: 'json' };

/** Constants read from aws-latency.json. */
export const MEASURED_LATENCY_CONSTANT_NAMES = [
  'lambdaColdStartSeconds', 'lambdaWarmStartSeconds', 'lambdaInvokeSeconds', 'launchInvokeConcurrency',
  'lambdaFullVcpuMemoryMB', 'lambdaMaxVcpus', 'lambdaCoreSpeedRatio', 'lambdaNetworkBytesPerSecond',
  'lambdaRuntimeBaseMB', 'kernelThreadMB', 'kernelThreadBytesPerNeuron', 'serializeBytesPerSecond', 'queueEncodingOverhead',
  'snsPublishSeconds', 'snsPublishThreads', 'snsToSqsDeliverySeconds', 'sqsReceiveSeconds', 'sqsReceiveWaitSeconds',
  's3PutSeconds', 's3GetSeconds', 's3ListSeconds', 's3ListIntervalSeconds', 's3IoThreads', 'exchangeArrivalSpreadSeconds',
  'objectExchangeSettleSeconds',
  'sfnExecutionStartSeconds', 'sfnTransitionSeconds', 'sfnTaskInvokeSeconds', 'sfnMapIterationStaggerSeconds',
  'sfnDistributedChildStartSeconds', 'sfnExpressBilledMemoryMB', 'serverStartSeconds',
] as const;

/** Constants that are AWS hard limits: their values come from AWS_LIMITS (one place). */
const FROM_AWS_LIMITS = {
  sqsMessageMaxBytes: 'sqsMessageMaxBytes',
  snsPublishBatchEntries: 'snsPublishBatchEntries',
  sfnInlineMapMaxConcurrency: 'sfnInlineMapMaxConcurrency',
  sfnDistributedMaxConcurrency: 'sfnDistributedMapMaxConcurrency',
  sfnStandardMaxHistoryEvents: 'sfnStandardMaxHistoryEvents',
  sfnExpressMaxSeconds: 'sfnExpressMaxSeconds',
  lambdaMaxSeconds: 'lambdaMaxTimeoutSeconds',
} as const satisfies Record<string, AwsLimitName>;

export const LATENCY_CONSTANT_NAMES = [
  ...MEASURED_LATENCY_CONSTANT_NAMES,
  ...(Object.keys(FROM_AWS_LIMITS) as (keyof typeof FROM_AWS_LIMITS)[]),
] as const;

export type LatencyConstantName = (typeof LATENCY_CONSTANT_NAMES)[number];

export type LatencyConstants = Readonly<Record<LatencyConstantName, number>>;

const fitSchema = z.object({
  /** Ids of the published runs the value was fitted on (planner/optimize/published.ts runId). */
  runs: z.array(z.string()).min(1),
  /** Which quantity of those runs it reproduces. */
  quantity: z.string(),
  /** Runs not used in the fit on which it can be checked (often none). */
  heldOutRuns: z.array(z.string()),
  /** Why there is no held-out run, or what the held-out check showed. */
  note: z.string().min(1),
}).strict();

const entrySchema = z.object({
  value: z.number().nonnegative(),
  unit: z.string(),
  source: z.string(),
  fit: fitSchema.optional(),
}).strict();

const fileSchema = z.object({
  formatVersion: z.literal(1),
  date: z.string(),
  note: z.string(),
  constants: z.record(z.enum(MEASURED_LATENCY_CONSTANT_NAMES), entrySchema),
});

export type ConstantFit = z.infer<typeof fitSchema>;

export interface LatencyConstantEntry {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
  readonly fit?: ConstantFit;
}

export interface LatencyConstantsFile {
  readonly date: string;
  readonly note: string;
  readonly constants: Readonly<Record<LatencyConstantName, LatencyConstantEntry>>;
}

let cached: LatencyConstantsFile | undefined;

export function latencyConstantsFile(): LatencyConstantsFile {
  if (!cached) {
    const parsed = fileSchema.safeParse(constantsJson);
    if (!parsed.success) throw fromZodError(parsed.error, 'planner/latency/aws-latency.json');
    const constants = { ...parsed.data.constants } as Record<LatencyConstantName, LatencyConstantEntry>;
    for (const [name, limit] of Object.entries(FROM_AWS_LIMITS) as [keyof typeof FROM_AWS_LIMITS, AwsLimitName][]) {
      const { value, unit, source } = AWS_LIMITS[limit];
      constants[name] = { value, unit, source: `${source} (AWS_LIMITS.${limit})` };
    }
    cached = { date: parsed.data.date, note: parsed.data.note, constants };
  }
  return cached;
}

/** The constants' values, optionally overridden. */
export function latencyConstants(overrides: Partial<Record<LatencyConstantName, number>> = {}): LatencyConstants {
  const out = {} as Record<LatencyConstantName, number>;
  for (const name of LATENCY_CONSTANT_NAMES) out[name] = overrides[name] ?? latencyConstantsFile().constants[name].value;
  return out;
}

/** The constants among `names` fitted on the published run `runId`. */
export function constantsFittedOn(runId: string, names: readonly LatencyConstantName[]): LatencyConstantName[] {
  const file = latencyConstantsFile();
  return names.filter((name) => file.constants[name].fit?.runs.includes(runId) ?? false);
}
