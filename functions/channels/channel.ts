// What a worker needs of a channel between layers: send its rows of a layer to the workers that
// need them, and receive every row it needs of a layer from its sources, or fail. The queue channel
// (queue-channel.ts, SNS -> SQS) and the S3 object channel (object-channel.ts) implement it. The memory channel
// (memory-channel.ts) is for unit tests of the code above a channel.
//
// Contract of every channel: a receive returns only when every expected source has delivered all
// it announced for this worker (rows, or the explicit empty marker), each row once, ascending by
// neuron; duplicates are dropped; rows of a later layer that arrive early are kept for that layer;
// past the deadline it throws ChannelTimeoutError naming the run, layer, worker and missing sources.

import type { ActivationRow } from './wire.ts';
import type { RowGroup } from './packing.ts';
import { ChannelTimeoutError } from '../../model/errors.ts';

/** What one send or receive call did, counted as AWS bills and limits it. Zero where it does not apply. */
export interface ChannelCounters {
  /** SNS PublishBatch calls. */
  publishes: number;
  /** Messages (queue) or objects (S3) sent. */
  publishedMessages: number;
  /** Bytes sent: queue messages as AWS counts them against the message limit (transport form, attributes); S3 object bodies. */
  publishedBytes: number;
  /** S3 PutObject requests. */
  puts: number;
  /** S3 GetObject requests, those answered NoSuchKey included. */
  gets: number;
  /** S3 body bytes received by GETs. */
  getBytes: number;
  /** S3 ListObjectsV2 requests. */
  lists: number;
  /** Receive calls (SQS ReceiveMessage), empty ones included. */
  receives: number;
  /** Receive calls that returned nothing. */
  emptyReceives: number;
  /** Messages received, duplicates and messages of other runs included. */
  receivedMessages: number;
  /** Received messages dropped as redeliveries of a chunk already held. */
  duplicates: number;
  /** Delete calls (SQS DeleteMessageBatch, S3 DeleteObjects). */
  deletes: number;
  /** Messages deleted. */
  deletedMessages: number;
}

export function zeroCounters(): ChannelCounters {
  return { publishes: 0, publishedMessages: 0, publishedBytes: 0, puts: 0, gets: 0, getBytes: 0, lists: 0, receives: 0, emptyReceives: 0, receivedMessages: 0, duplicates: 0, deletes: 0, deletedMessages: 0 };
}

export interface ReceivedLayer {
  /** Every row sent to this worker in the layer, ascending by neuron. */
  readonly rows: ActivationRow[];
  readonly counters: ChannelCounters;
}

export interface Channel {
  /** The worker this channel endpoint belongs to. */
  readonly worker: number;
  /**
   * Sends this worker's rows of `layer` (1-based, the layer that reads them): each group to its
   * targets (one target, or several for multicast). Every worker of `peers` without a row gets the
   * explicit empty marker, so it knows this source had nothing for it.
   */
  send(layer: number, groups: readonly RowGroup[], peers: readonly number[]): Promise<ChannelCounters>;
  /**
   * The rows of `layer` from every worker of `sources`. `deadlineMs` is a time of the channel's
   * clock (Date.now() unless injected); past it the receive throws ChannelTimeoutError.
   */
  receive(layer: number, sources: readonly number[], deadlineMs: number): Promise<ReceivedLayer>;
}

/** The one wording of a receive past its deadline: run, layer, worker and what each source still owes. */
export function channelTimeoutError(run: number, layer: number, worker: number, waitedMs: number, missing: readonly string[]): ChannelTimeoutError {
  return new ChannelTimeoutError(`run ${run}: receive gave up at its deadline after ${(waitedMs / 1000).toFixed(1)} s; missing ${missing.join('; ')}`, { layer, worker });
}
