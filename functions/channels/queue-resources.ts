// The SNS topics, SQS queues and subscriptions of a plan's queue channel (plan.json
// channel.queue and names), as one list: queueResourceList (planner/plan/resources.ts, pure, so
// infra deploys the same list) says what exists, createQueueResources creates it through the SNS
// and SQS clients it is given (fauxqs in tests). Every setting comes from the plan; nothing here chooses a value.
//
// AWS facts used:
// - An SQS subscription of an SNS topic needs a queue policy letting sns.amazonaws.com send from
//   that topic (https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html).
// - Subscription attributes RawMessageDelivery, FilterPolicy and FilterPolicyScope
//   ("MessageAttributes", the default) are set at Subscribe
//   (https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html).
// - Queue attributes MaximumMessageSize, VisibilityTimeout, MessageRetentionPeriod,
//   ReceiveMessageWaitTimeSeconds and RedrivePolicy {deadLetterTargetArn, maxReceiveCount}
//   (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html).

import { CreateTopicCommand, SubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueResourceList } from '../../planner/plan/resources.ts';

export { queueResourceList, workerFilterPolicy, type QueueResourceList, type QueueSettings } from '../../planner/plan/resources.ts';

export interface QueueResources {
  /** Index k: topic k's ARN. */
  readonly topicArns: string[];
  /** Index w: worker w's queue URL. */
  readonly queueUrls: string[];
  readonly queueArns: string[];
  readonly deadLetterQueueUrl: string | null;
  readonly subscriptionArns: string[];
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`SQS returned no QueueArn for ${queueUrl}`);
  return arn;
}

/** Lets SNS deliver from the plan's topics to a queue (and nothing else). */
function snsDeliveryPolicy(queueArnValue: string, topicArns: readonly string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{
      Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArnValue,
      Condition: { ArnEquals: { 'aws:SourceArn': [...topicArns] } },
    }],
  });
}

/** Creates the list (CreateTopic, CreateQueue and Subscribe are idempotent for the same attributes). */
export async function createQueueResources(list: QueueResourceList, sns: SNSClient, sqs: SQSClient): Promise<QueueResources> {
  let deadLetterQueueUrl: string | null = null;
  let redrive: Record<string, string> = {};
  if (list.deadLetterQueue) {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: list.deadLetterQueue.name, Attributes: { ...list.deadLetterQueue.attributes } }));
    deadLetterQueueUrl = out.QueueUrl!;
    redrive = { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(sqs, deadLetterQueueUrl), maxReceiveCount: list.deadLetterQueue.maxReceiveCount }) };
  }
  const topicArns: string[] = [];
  for (const name of list.topics) topicArns.push((await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!);
  const queueUrls: string[] = [];
  const queueArns: string[] = [];
  for (const queue of list.queues) {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: { ...queue.attributes, ...redrive } }))).QueueUrl!;
    const arn = await queueArn(sqs, url);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: snsDeliveryPolicy(arn, topicArns) } }));
    queueUrls.push(url);
    queueArns.push(arn);
  }
  const subscriptionArns: string[] = [];
  for (const s of list.subscriptions) {
    const out = await sns.send(new SubscribeCommand({
      TopicArn: topicArns[s.topic], Protocol: 'sqs', Endpoint: queueArns[s.worker], Attributes: { ...s.attributes }, ReturnSubscriptionArn: true,
    }));
    subscriptionArns.push(out.SubscriptionArn!);
  }
  return { topicArns, queueUrls, queueArns, deadLetterQueueUrl, subscriptionArns };
}
