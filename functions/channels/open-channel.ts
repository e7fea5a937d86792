// The one place a worker's Channel is made from its event's channel address (plan settings plus
// deployed addresses, functions/handlers/events.ts): queue or object, with the plan's wire codec.
// Rows several workers need are always published once to all of them (multicast), which
// FSD-Inference never did; the planner prices what is really sent.

import { crc32 } from 'node:zlib';
import { StepinferError } from '../../model/errors.ts';
import type { AwsClients } from '../handlers/clients.ts';
import type { ChannelAddress } from '../handlers/events.ts';
import type { Channel } from './channel.ts';
import { QueueChannel } from './queue-channel.ts';
import { ObjectChannel } from './object-channel.ts';
import type { WireCodec } from './wire.ts';
import type { SendMode } from './routing.ts';

export const SEND_MODE: SendMode = 'multicast';

/**
 * The run number in every wire header: a hash of the run id, stage and attempt, so a message of
 * another run, or of a failed attempt of this one, is told apart and never mixed in.
 */
export function wireRunNumber(runId: string, stage: number, attempt: number): number {
  return crc32(`${runId}/${stage}/${attempt}`);
}

export function wireCodecOf(wire: { readonly compression: WireCodec['name']; readonly compressionLevel: number | null }): WireCodec {
  return { name: wire.compression, level: wire.compressionLevel ?? 0 };
}

/**
 * Later attempts a worker recognises: a failed stage runs again at most a few times
 * (workflows/asl STAGE_RETRIES), so 8 cover every workflow with room to spare.
 */
export const RECOGNISED_LATER_ATTEMPTS = 8;

/** The run numbers of the next attempts of a stage: a message of one tells a worker its own attempt was given up. */
export function laterAttemptRuns(runId: string, stage: number, attempt: number): Set<number> {
  return new Set(Array.from({ length: RECOGNISED_LATER_ATTEMPTS }, (_, k) => wireRunNumber(runId, stage, attempt + 1 + k)));
}

export interface OpenChannelOptions {
  readonly address: ChannelAddress;
  readonly run: number;
  /** Run numbers of later attempts of the stage (laterAttemptRuns): the queue channel stops on a message of one. */
  readonly supersedingRuns?: ReadonlySet<number>;
  /** The key prefix of the run and attempt (object channel: planner/object-exchange.ts exchangeRunKey). */
  readonly runKey: string;
  readonly worker: number;
  readonly samples: number;
  readonly codec: WireCodec;
  readonly clients: AwsClients;
}

/** The worker's channel, or null for a stage without one ('none': one layer, or one worker). */
export function openChannel(o: OpenChannelOptions): Channel | null {
  const a = o.address;
  const multicast = SEND_MODE === 'multicast';
  switch (a.kind) {
    case 'none':
      return null;
    case 'queue': {
      const queueUrl = a.queueUrls[o.worker];
      if (queueUrl === undefined) throw new StepinferError(`the event lists ${a.queueUrls.length} queue URLs, none for this worker`, { worker: o.worker, field: 'channel.queueUrls' });
      return new QueueChannel({
        run: o.run, worker: o.worker, samples: o.samples, settings: a.settings, topicArns: a.topicArns, queueUrl,
        sns: o.clients.sns, sqs: o.clients.sqs, codec: o.codec, multicast, supersedingRuns: o.supersedingRuns,
      });
    }
    case 'object':
      return new ObjectChannel({
        run: o.run, runKey: o.runKey, worker: o.worker, samples: o.samples, settings: a.settings, buckets: a.buckets, s3: o.clients.s3, codec: o.codec,
      });
  }
}
