// The workers' queues of the queue channel and their subscriptions, in nested stacks of at most
// a few hundred resources each: every queue subscribes to every topic, so P workers and T topics
// make P x T subscriptions (62 workers of 10 topics: 620), over CloudFormation's 500 resources per
// stack. A group holds a run of workers: their queues, their subscriptions to every topic and one
// queue policy for all of them (TLS only; SNS may send from the plan's topics only).
// @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html

import { Duration, NestedStack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { QueueResourceList } from '../planner/plan/resources.ts';

/** CloudFormation's resources per template (the limits page above). */
export const STACK_MAX_RESOURCES = 500;
/** CloudFormation's outputs per template: the parent reads each queue's ARN and URL from its group. */
export const STACK_MAX_OUTPUTS = 200;

/** Workers per group: each costs a queue and T subscriptions (and two outputs); one queue policy per group. */
export function workersPerQueueGroup(topics: number): number {
  return Math.max(1, Math.min(Math.floor(STACK_MAX_OUTPUTS / 2), Math.floor((STACK_MAX_RESOURCES - 1) / (1 + topics))));
}

export interface QueueGroupProps {
  readonly list: QueueResourceList;
  /** Workers [firstWorker, endWorker) of the list. */
  readonly firstWorker: number;
  readonly endWorker: number;
  readonly topics: readonly sns.ITopic[];
  readonly deadLetterQueue: sqs.IQueue | null;
}

export class QueueGroup extends NestedStack {
  /** Index i: worker firstWorker + i's queue. */
  readonly queues: sqs.Queue[];

  constructor(scope: Construct, id: string, props: QueueGroupProps) {
    super(scope, id, { description: `queues of workers ${props.firstWorker}-${props.endWorker - 1}` });
    const { list } = props;
    const number = (attributes: Readonly<Record<string, string>>, key: string) => Number(attributes[key]);
    const dlq = list.deadLetterQueue;
    this.queues = [];
    for (let w = props.firstWorker; w < props.endWorker; w++) {
      const q = list.queues[w];
      this.queues.push(new sqs.Queue(this, `Queue${w}`, {
        queueName: q.name, encryption: sqs.QueueEncryption.SQS_MANAGED,
        maxMessageSizeBytes: number(q.attributes, 'MaximumMessageSize'),
        visibilityTimeout: Duration.seconds(number(q.attributes, 'VisibilityTimeout')),
        retentionPeriod: Duration.seconds(number(q.attributes, 'MessageRetentionPeriod')),
        receiveMessageWaitTime: Duration.seconds(number(q.attributes, 'ReceiveMessageWaitTimeSeconds')),
        deadLetterQueue: props.deadLetterQueue && dlq ? { queue: props.deadLetterQueue, maxReceiveCount: dlq.maxReceiveCount } : undefined,
      }));
    }
    // One subscription per (topic, queue) of this group, as the list says.
    for (const s of list.subscriptions) {
      if (s.worker < props.firstWorker || s.worker >= props.endWorker) continue;
      new sns.CfnSubscription(this, `Subscription${s.topic}x${s.worker}`, {
        topicArn: props.topics[s.topic].topicArn, protocol: 'sqs', endpoint: this.queues[s.worker - props.firstWorker].queueArn,
        rawMessageDelivery: s.attributes.RawMessageDelivery === 'true',
        filterPolicyScope: s.attributes.FilterPolicyScope,
        filterPolicy: JSON.parse(s.attributes.FilterPolicy) as unknown,
      });
    }
    const policy = new sqs.QueuePolicy(this, 'QueuePolicy', { queues: this.queues });
    const arns = this.queues.map((q) => q.queueArn);
    policy.document.addStatements(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY, principals: [new iam.AnyPrincipal()], actions: ['sqs:*'], resources: arns,
        conditions: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')], actions: ['sqs:SendMessage'], resources: arns,
        conditions: { ArnEquals: { 'aws:SourceArn': props.topics.map((t) => t.topicArn) } },
      }),
    );
  }
}
