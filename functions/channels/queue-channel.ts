// The SNS -> SQS queue channel (issue 8): a worker publishes its rows of a layer to data topic
// (its id mod topics) with a targets attribute (",0,2,"); every worker's queue is subscribed to every
// topic with a filter on its own id and raw delivery (queue-resources.ts), so one publish reaches
// every target of a multicast row. Messages are packed under the message limit and chunked
// (packing.ts), published in PublishBatch calls of at most 10 entries and 256 KiB (transport.ts),
// received by long polling, reassembled in any order with duplicates dropped (reassembly.ts) and
// deleted once the layer's receive has them all: a layer's messages arrive over several receives
// (as its sources finish), and one DeleteMessageBatch of up to 10 of them at the end costs fewer
// requests than one per receive (billed on AWS, CPU in every SDK call here). A message stays
// hidden until then: the queues' visibility timeout is the worker's own timeout
// (planner/plan/build.ts). A message of a later layer is kept in the inbox for that layer.
// A receive past its deadline fails naming the run, layer, worker and missing sources; no rows
// are returned from incomplete data. A worker of a failed attempt that still runs shares its queue
// with the same worker of the stage's next attempt: when it receives a message of a later attempt
// it makes the message visible again at once (for its rightful receiver) and stops, instead of
// holding it for the visibility timeout and starving the retry.

import { PublishBatchCommand, type SNSClient } from '@aws-sdk/client-sns';
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { RunFailedError, StepinferError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { channelTimeoutError, zeroCounters, type Channel, type ChannelCounters, type ReceivedLayer } from './channel.ts';
import { packLayerRows, type RowGroup } from './packing.ts';
import { RowInbox } from './reassembly.ts';
import { fromQueueMessage, publishBatches, ROWS_ATTRIBUTE, toQueueMessage, type QueueTransport } from './transport.ts';
import { decodeWireMessage, type WireCodec } from './wire.ts';
import type { QueueSettings } from './queue-resources.ts';

export interface QueueChannelOptions {
  readonly run: number;
  readonly worker: number;
  /** Samples of the batch (rows of Y). */
  readonly samples: number;
  /** plan.json channel.queue. */
  readonly settings: QueueSettings;
  /** Index k: data topic k's ARN. */
  readonly topicArns: readonly string[];
  /** This worker's queue. */
  readonly queueUrl: string;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly codec: WireCodec;
  /** Rows needed by several workers are published once (groups with several targets), and one empty marker serves every peer without rows. */
  readonly multicast: boolean;
  /** The clock deadlines are measured on. Default Date.now. */
  readonly now?: () => number;
  /**
   * Run numbers of later attempts of this worker's stage (open-channel.ts wireRunNumber): a
   * message of one means the stage runs again without this attempt, which then stops.
   */
  readonly supersedingRuns?: ReadonlySet<number>;
}

/** The transport a plan's body encoding means (plan.json knows only base64 bodies today). */
function transportOf(settings: QueueSettings): QueueTransport {
  return settings.bodyEncoding === 'base64' ? 'base64-body' : 'binary-attribute';
}

export class QueueChannel implements Channel {
  readonly worker: number;
  private readonly o: QueueChannelOptions;
  private readonly transport: QueueTransport;
  private readonly inbox: RowInbox;
  private readonly now: () => number;

  constructor(o: QueueChannelOptions) {
    if (o.topicArns.length !== o.settings.topics) {
      throw new StepinferError(`the queue channel has ${o.topicArns.length} topic ARNs, the plan ${o.settings.topics} topics`, { worker: o.worker });
    }
    this.o = o;
    this.worker = o.worker;
    this.transport = transportOf(o.settings);
    this.inbox = new RowInbox({ run: o.run, target: o.worker, samples: o.samples });
    this.now = o.now ?? Date.now;
  }

  async send(layer: number, groups: readonly RowGroup[], peers: readonly number[]): Promise<ChannelCounters> {
    const { settings } = this.o;
    const counters = zeroCounters();
    const packed = packLayerRows(groups, {
      run: this.o.run, layer, source: this.worker, samples: this.o.samples, codec: this.o.codec, transport: this.transport,
      peers, multicastEmptyMarker: this.o.multicast, limitBytes: settings.maximumMessageSizeBytes, chunkBytes: settings.chunkBytes,
    });
    const messages = packed.messages;
    const topicArn = this.o.topicArns[this.worker % this.o.topicArns.length];
    const batches = publishBatches(messages.map((m) => m.queueBytes), { maxEntries: settings.publishBatchEntries, maxBytes: settings.publishBatchBytes });
    for (const [start, end] of batches) {
      const entries = messages.slice(start, end).map((m, i) => ({ Id: String(start + i), ...toQueueMessage(this.transport, m.wire, m.targets) }));
      const out = await this.o.sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }));
      counters.publishes++;
      if (out.Failed && out.Failed.length > 0) {
        const f = out.Failed[0];
        throw new StepinferError(
          `run ${this.o.run}: PublishBatch to ${topicArn} refused ${out.Failed.length} of ${entries.length} messages (message ${f.Id}: ${f.Code}${f.Message ? `, ${f.Message}` : ''})`,
          { layer, worker: this.worker },
        );
      }
      for (let i = start; i < end; i++) {
        counters.publishedMessages++;
        counters.publishedBytes += messages[i].queueBytes;
      }
    }
    return counters;
  }

  /** Deletes the received messages (receipt handles) in DeleteMessageBatch calls of at most 10, counting them. */
  private async deleteReceived(receiptHandles: readonly string[], counters: ChannelCounters): Promise<void> {
    const { sqs, queueUrl } = this.o;
    const batch = AWS_LIMITS.sqsDeleteBatchEntries.value;
    const calls: Promise<void>[] = [];
    for (let start = 0; start < receiptHandles.length; start += batch) {
      const entries = receiptHandles.slice(start, start + batch).map((ReceiptHandle, i) => ({ Id: String(i), ReceiptHandle }));
      counters.deletes++;
      calls.push(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries })).then((deleted) => {
        // A failed delete is harmless: the message comes back and is dropped as a duplicate.
        counters.deletedMessages += deleted.Successful?.length ?? 0;
      }));
    }
    await Promise.all(calls);
  }

  async receive(layer: number, sources: readonly number[], deadlineMs: number): Promise<ReceivedLayer> {
    const { settings, sqs, queueUrl } = this.o;
    const counters = zeroCounters();
    const started = this.now();
    // Messages held (or dropped as duplicates) in this call, deleted when it ends.
    const held: string[] = [];
    for (;;) {
      if (this.inbox.layerComplete(layer, sources)) {
        await this.deleteReceived(held, counters);
        return { rows: this.inbox.takeLayer(layer, sources), counters };
      }
      const leftMs = deadlineMs - this.now();
      if (leftMs <= 0) {
        // What arrived is not redelivered to a later run of this plan's queues.
        await this.deleteReceived(held, counters).catch(() => undefined);
        throw channelTimeoutError(this.o.run, layer, this.worker, this.now() - started, this.inbox.missing(layer, sources));
      }
      // Long poll, but never past the deadline.
      const waitSeconds = Math.min(settings.waitTimeSeconds, Math.floor(leftMs / 1000));
      const out = await sqs.send(new ReceiveMessageCommand({
        QueueUrl: queueUrl, MaxNumberOfMessages: settings.receiveBatchMessages, WaitTimeSeconds: waitSeconds,
        ...(this.transport === 'binary-attribute' ? { MessageAttributeNames: [ROWS_ATTRIBUTE] } : {}),
      }));
      counters.receives++;
      const received = out.Messages ?? [];
      if (received.length === 0) {
        counters.emptyReceives++;
        // A short poll (under a second left) must not spin.
        if (waitSeconds === 0) await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(0, leftMs))));
        continue;
      }
      const later: { Id: string; ReceiptHandle: string }[] = [];
      let laterRun: number | null = null;
      for (const m of received) {
        counters.receivedMessages++;
        const wire = fromQueueMessage(this.transport, m.Body ?? '', m.MessageAttributes?.[ROWS_ATTRIBUTE]?.BinaryValue);
        const origin = `SQS message ${m.MessageId}`;
        const result = this.inbox.accept(wire, origin);
        if (result === 'duplicate') counters.duplicates++;
        // A message of another run is not ours to delete: it returns after its visibility
        // timeout and goes to the dead-letter queue after maxReceiveCount receives.
        if (result !== 'other-run') held.push(m.ReceiptHandle!);
        else if (this.o.supersedingRuns?.size) {
          const run = decodeWireMessage(wire, origin).header.run;
          if (this.o.supersedingRuns.has(run)) {
            later.push({ Id: String(later.length), ReceiptHandle: m.ReceiptHandle! });
            laterRun = run;
          }
        }
      }
      if (later.length > 0) {
        // Back to the queue at once: the same worker of the later attempt receives them next.
        await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: later.map((e) => ({ ...e, VisibilityTimeout: 0 })) }));
        await this.deleteReceived(held, counters);
        throw new RunFailedError(`run ${this.o.run}: a later attempt (run ${laterRun}) of this stage has started, so this attempt stops`, { layer, worker: this.worker });
      }
    }
  }
}
