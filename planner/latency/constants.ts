// Latency and throughput constants of AWS (planner/latency/aws-latency.json), each with its
// unit and source; the latency model reads only these and the calibration profile.

import { z } from 'zod';
import { ModelFormatError } from '../../model/errors.ts';
import constantsJson from './aws-latency.json' with { type: 'json' };

export const LATENCY_CONSTANT_NAMES = [
  'lambdaColdStartSeconds', 'lambdaWarmStartSeconds', 'lambdaInvokeSeconds', 'launchInvokeConcurrency',
  'lambdaFullVcpuMemoryMB', 'lambdaMaxVcpus', 'lambdaCoreSpeedRatio', 'lambdaNetworkBytesPerSecond',
  'lambdaRuntimeBaseMB', 'lambdaMaxSeconds', 'serializeBytesPerSecond', 'queueEncodingOverhead',
  'snsPublishSeconds', 'snsPublishThreads', 'snsPublishBatchEntries', 'sqsMessageMaxBytes',
  'snsToSqsDeliverySeconds', 'sqsReceiveSeconds', 'sqsMessagesPerReceive', 'sqsReceiveWaitSeconds',
  's3PutSeconds', 's3GetSeconds', 's3ListSeconds', 's3ListIntervalSeconds', 's3ListsPerExchange', 's3IoThreads',
  'objectExchangeSettleSeconds',
  'sfnExecutionStartSeconds', 'sfnTransitionSeconds', 'sfnTaskInvokeSeconds', 'sfnMapIterationStaggerSeconds',
  'sfnInlineMapMaxConcurrency', 'sfnDistributedChildStartSeconds', 'sfnDistributedMaxConcurrency',
  'sfnStandardMaxHistoryEvents', 'sfnExpressMaxSeconds', 'sfnExpressBilledMemoryMB', 'serverStartSeconds',
] as const;

export type LatencyConstantName = (typeof LATENCY_CONSTANT_NAMES)[number];

export type LatencyConstants = Readonly<Record<LatencyConstantName, number>>;

const entrySchema = z.object({ value: z.number().nonnegative(), unit: z.string(), source: z.string() });

const fileSchema = z.object({
  formatVersion: z.literal(1),
  date: z.string(),
  note: z.string(),
  constants: z.record(z.enum(LATENCY_CONSTANT_NAMES), entrySchema),
});

export interface LatencyConstantsFile {
  readonly date: string;
  readonly note: string;
  readonly constants: Readonly<Record<LatencyConstantName, { readonly value: number; readonly unit: string; readonly source: string }>>;
}

let cached: LatencyConstantsFile | undefined;

export function latencyConstantsFile(): LatencyConstantsFile {
  if (!cached) {
    const parsed = fileSchema.safeParse(constantsJson);
    if (!parsed.success) throw new ModelFormatError(`invalid latency constants: ${z.prettifyError(parsed.error)}`, { file: 'planner/latency/aws-latency.json' });
    cached = parsed.data as LatencyConstantsFile;
  }
  return cached;
}

/** The constants' values, optionally overridden. */
export function latencyConstants(overrides: Partial<Record<LatencyConstantName, number>> = {}): LatencyConstants {
  const out = {} as Record<LatencyConstantName, number>;
  for (const name of LATENCY_CONSTANT_NAMES) out[name] = overrides[name] ?? latencyConstantsFile().constants[name].value;
  return out;
}
