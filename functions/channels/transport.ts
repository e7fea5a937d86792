// How wire messages (wire.ts) travel as SNS -> SQS messages, and what AWS counts of them: the size
// of one message against the 256 KiB limit and of a PublishBatch against its own 256 KiB. The
// queue channel builds its SDK calls from these; the packer (packing.ts) sizes messages with them.
//
// AWS facts used (read 2026-11 from the pages named):
// - SNS and SQS message bodies are strings (SQS accepts only XML characters: #x9, #xA, #xD,
//   #x20-#xD7FF, ...; API_SendMessage.html), so binary travels base64-encoded in the body, or as a
//   Binary message attribute (SNS API_MessageAttributeValue.html: "Type: Base64-encoded binary data
//   object" in the API; "can store any binary data, for example, compressed data").
// - "All parts of the message attribute, including name, type, and value, are included in the
//   message size restriction" (SNS and SQS API_MessageAttributeValue.html), and SNS checks "the
//   combined size of the message body and message attributes" (sns/latest/dg/large-message-payloads).
//   How a Binary value is counted is not stated there; AWS's own SQS extended client library counts
//   its raw byte length (awslabs/amazon-sqs-java-extended-client-lib,
//   AmazonSQSExtendedClientUtil.getMsgAttributesSize: binaryVal.asByteArray().length). So
//   'binary-attribute' counts raw bytes: verify on AWS before relying on the 25% it saves.
// - SNS raw message delivery to SQS strips SNS metadata and sends the message as is, with at most
//   10 message attributes (sns-large-payload-raw-message-delivery.html, SNSMessageAttributes.html).
//   Message bodies must not be empty: the binary-attribute form sends a one-character body.
// - Targets are named in one comma-delimited String attribute (",0,2,"), matched per queue by a
//   wildcard filter policy (DESIGN.md: what both AWS and fauxqs accept), so one publish reaches
//   every target of a multicast message.
// - Billing (SNS publish, SQS requests) is per started 64 KB of a call's payload
//   (planner/aws-limits.ts: snsBillingChunkBytes, sqsBillingChunkBytes).

import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { WireFormatError } from '../../model/errors.ts';
import { TARGETS_ATTRIBUTE } from '../../planner/plan/build.ts';

export type QueueTransport = 'base64-body' | 'binary-attribute';

export const QUEUE_TRANSPORTS: readonly QueueTransport[] = ['base64-body', 'binary-attribute'];

/** Message attribute naming the target workers, for the queues' filter policies: the plan's (planner/plan/build.ts). */
export { TARGETS_ATTRIBUTE };
/** Message attribute carrying the wire bytes in the binary-attribute transport. */
export const ROWS_ATTRIBUTE = 'rows';
/** The body of a binary-attribute message (bodies must not be empty). */
export const PLACEHOLDER_BODY = '.';

/** ",0,2,5,": every target between commas, so a filter "*,2,*" matches target 2 only. */
export function targetsAttributeValue(targets: readonly number[]): string {
  return `,${targets.join(',')},`;
}

export function base64Bytes(rawBytes: number): number {
  return 4 * Math.ceil(rawBytes / 3);
}

/** Bytes AWS counts for the String targets attribute: name, data type and value. */
function targetsAttributeBytes(targets: readonly number[]): number {
  return TARGETS_ATTRIBUTE.length + 'String'.length + targetsAttributeValue(targets).length;
}

/** Bytes of one queue message carrying `wireBytes` to `targets`, as AWS counts them against the size limit. */
export function queueMessageBytes(transport: QueueTransport, wireBytes: number, targets: readonly number[]): number {
  const attributes = targetsAttributeBytes(targets);
  return transport === 'base64-body'
    ? base64Bytes(wireBytes) + attributes
    : PLACEHOLDER_BODY.length + ROWS_ATTRIBUTE.length + 'Binary'.length + wireBytes + attributes;
}

/** The largest wire message that fits one queue message to `targets`. */
export function maxWireBytes(transport: QueueTransport, targets: readonly number[], limitBytes: number = AWS_LIMITS.sqsMessageMaxBytes.value): number {
  const room = limitBytes - queueMessageBytes(transport, 0, targets);
  return transport === 'base64-body' ? 3 * Math.floor(room / 4) : room;
}

/** A message as the SNS SDK takes it (PublishBatch entry without its Id), for either transport. */
export interface QueueMessage {
  readonly Message: string;
  readonly MessageAttributes: Record<string, { DataType: 'String'; StringValue: string } | { DataType: 'Binary'; BinaryValue: Uint8Array }>;
}

export function toQueueMessage(transport: QueueTransport, wire: Uint8Array, targets: readonly number[]): QueueMessage {
  const targetsAttribute = { DataType: 'String' as const, StringValue: targetsAttributeValue(targets) };
  return transport === 'base64-body'
    ? { Message: Buffer.from(wire.buffer, wire.byteOffset, wire.length).toString('base64'), MessageAttributes: { [TARGETS_ATTRIBUTE]: targetsAttribute } }
    : { Message: PLACEHOLDER_BODY, MessageAttributes: { [TARGETS_ATTRIBUTE]: targetsAttribute, [ROWS_ATTRIBUTE]: { DataType: 'Binary', BinaryValue: wire } } };
}

/** The wire bytes of a received message (SQS raw delivery: the body and attributes as published). */
export function fromQueueMessage(transport: QueueTransport, body: string, rowsAttribute?: Uint8Array): Uint8Array {
  if (transport === 'binary-attribute') {
    if (!rowsAttribute) throw new WireFormatError(`a binary-attribute message arrived without its "${ROWS_ATTRIBUTE}" attribute`);
    return rowsAttribute;
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/**
 * Splits messages, in order, into PublishBatch calls: at most 10 entries and 256 KiB (counted as
 * for the message limit) each, or the smaller bounds given. Returns the index ranges [start, end) of the batches.
 */
export function publishBatches(
  messageBytes: readonly number[],
  // A plan may ask for smaller batches than AWS allows (plan.json channel.queue.publishBatch*).
  { maxEntries = AWS_LIMITS.snsPublishBatchEntries.value, maxBytes = AWS_LIMITS.snsPublishBatchBytes.value } = {},
): Array<[number, number]> {
  const batches: Array<[number, number]> = [];
  let start = 0, bytes = 0;
  for (let i = 0; i < messageBytes.length; i++) {
    if (messageBytes[i] > maxBytes) throw new WireFormatError(`message ${i} of ${messageBytes[i]} bytes exceeds a PublishBatch's ${maxBytes}`);
    if (i > start && (i - start === maxEntries || bytes + messageBytes[i] > maxBytes)) {
      batches.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += messageBytes[i];
  }
  if (messageBytes.length > start) batches.push([start, messageBytes.length]);
  return batches;
}
