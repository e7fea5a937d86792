// The AWS resources a plan's channels and storage consist of, as plain lists derived from
// plan.json alone: the one list the local cloud creates (functions/channels/queue-resources.ts,
// object-resources.ts, through SDK clients) and infra deploys (infra/plan-stack.ts, through CDK).
// Pure: every setting comes from the plan; nothing here chooses a value.

import type { Plan } from './schema.ts';
import { PlanFormatError } from '../../model/errors.ts';

export type QueueSettings = NonNullable<Plan['channel']['queue']>;
export type ObjectSettings = NonNullable<Plan['channel']['object']>;

export interface QueueResourceList {
  readonly topics: readonly string[];
  /** With the receives of a message before it moves there (the workers' queues' RedrivePolicy). */
  readonly deadLetterQueue: { readonly name: string; readonly attributes: Readonly<Record<string, string>>; readonly maxReceiveCount: number } | null;
  /** Index w: worker w's queue, with its attributes but the RedrivePolicy and Policy (they need ARNs). */
  readonly queues: readonly { readonly name: string; readonly attributes: Readonly<Record<string, string>> }[];
  /** Every queue subscribed to every topic, filtered on its worker. */
  readonly subscriptions: readonly { readonly topic: number; readonly worker: number; readonly attributes: Readonly<Record<string, string>> }[];
}

/** The filter policy of worker `worker`'s subscriptions: the plan's pattern with <worker> filled in. */
export function workerFilterPolicy(settings: QueueSettings, worker: number): string {
  return settings.filterPolicyPattern.replaceAll('<worker>', String(worker));
}

/** What a plan's queue channel consists of. */
export function queueResourceList(plan: Pick<Plan, 'channel' | 'names'>): QueueResourceList {
  const q = plan.channel.queue;
  if (!q) throw new PlanFormatError(`the plan has no queue channel (channel.kind is "${plan.channel.kind}")`, { field: 'channel.queue' });
  const { topics, queues, deadLetterQueue } = plan.names;
  const queueAttributes = {
    MaximumMessageSize: String(q.maximumMessageSizeBytes),
    VisibilityTimeout: String(q.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(q.messageRetentionSeconds),
    ReceiveMessageWaitTimeSeconds: String(q.waitTimeSeconds),
  };
  const subscriptions: { topic: number; worker: number; attributes: Record<string, string> }[] = [];
  for (let topic = 0; topic < topics.length; topic++) {
    for (let worker = 0; worker < queues.length; worker++) {
      subscriptions.push({
        topic, worker,
        attributes: { RawMessageDelivery: String(q.rawMessageDelivery), FilterPolicyScope: 'MessageAttributes', FilterPolicy: workerFilterPolicy(q, worker) },
      });
    }
  }
  return {
    topics: [...topics],
    deadLetterQueue: deadLetterQueue === null ? null : { name: deadLetterQueue, attributes: { MessageRetentionPeriod: String(q.deadLetter.messageRetentionSeconds) }, maxReceiveCount: q.deadLetter.maxReceiveCount },
    queues: queues.map((name) => ({ name, attributes: queueAttributes })),
    subscriptions,
  };
}

export interface ObjectBucket {
  readonly name: string;
  /** Days after which a lifecycle rule removes every object; null: kept (shards, results). */
  readonly expirationDays: number | null;
}

export interface ObjectResourceList {
  /** The plan's bucket first, then exchange bucket k at index k + 1. */
  readonly buckets: readonly ObjectBucket[];
}

/** Lifecycle rule id on the exchange buckets. */
export const EXCHANGE_EXPIRATION_RULE_ID = 'expire-exchange-objects';

/** What a plan's S3 storage consists of: its bucket, and the object channel's exchange buckets when it has one. */
export function objectResourceList(plan: Pick<Plan, 'channel' | 'names'>): ObjectResourceList {
  const object = plan.channel.object;
  return {
    buckets: [
      { name: plan.names.bucket, expirationDays: null },
      ...plan.names.exchangeBuckets.map((name) => ({ name, expirationDays: object?.expirationDays ?? null })),
    ],
  };
}
