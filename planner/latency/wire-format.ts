// The bytes of one channel message: the wire format's parameters as data
// (planner/latency/wire-format.json), so the planner prices the bytes that will really be sent and
// says whether they were measured or assumed. A message (an SNS/SQS message or one S3 object)
// carries activation rows; its size before any transport encoding is
//   messageHeaderBytes + rows x rowHeaderBytes + nonzeros x bytesPerNonzero.
// Transport encoding (base64 where a channel carries text) is a separate constant
// (queueEncodingOverhead in aws-latency.json).

import { z } from 'zod';
import { fromZodError } from '../../model/errors.ts';
import defaultWireFormatJson from './wire-format.json' with { type: 'json' };

export const WIRE_COMPRESSIONS = ['none', 'deflate', 'brotli', 'zstd'] as const;

export const wireFormatSchema = z.object({
  formatVersion: z.literal(1),
  /** Version of the wire format these parameters describe (functions/channels/). */
  wireFormatVersion: z.number().int().positive(),
  compression: z.enum(WIRE_COMPRESSIONS),
  /** The codec's level (brotli 0-11, zstd 1-22, deflate 0-9); null without compression. */
  compressionLevel: z.number().int().nonnegative().nullable(),
  messageHeaderBytes: z.number().nonnegative(),
  rowHeaderBytes: z.number().nonnegative(),
  bytesPerNonzero: z.number().positive(),
  /** 'assumed' until the format's parameters are measured on real traffic. */
  status: z.enum(['assumed', 'measured']),
  source: z.string().min(1),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD'),
  note: z.string(),
}).strict();

export type WireFormat = z.infer<typeof wireFormatSchema>;

export const DEFAULT_WIRE_FORMAT_FILE = 'planner/latency/wire-format.json';

export function parseWireFormat(json: unknown, file: string): WireFormat {
  const parsed = wireFormatSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, file);
  return parsed.data;
}

let cached: WireFormat | undefined;

/** The checked-in parameters (planner/latency/wire-format.json). */
export function defaultWireFormat(): WireFormat {
  cached ??= parseWireFormat(defaultWireFormatJson, DEFAULT_WIRE_FORMAT_FILE);
  return cached;
}

/** Bytes of one message holding `rows` activation rows with `nonzeros` nonzeros, before transport encoding. */
export function messageBytes(format: WireFormat, rows: number, nonzeros: number): number {
  return format.messageHeaderBytes + rows * format.rowHeaderBytes + nonzeros * format.bytesPerNonzero;
}

/** One line for reports: what the byte model assumes, and whether it was measured. */
export function describeWireFormat(format: WireFormat): string {
  return `wire format v${format.wireFormatVersion} (${format.status}${format.status === 'assumed' ? ', not measured' : ` ${format.date}`}): ` +
    `${format.bytesPerNonzero} bytes per nonzero, ${format.rowHeaderBytes} per row, ${format.messageHeaderBytes} per message, compression ${format.compression}${format.compressionLevel === null ? '' : `-${format.compressionLevel}`}`;
}
