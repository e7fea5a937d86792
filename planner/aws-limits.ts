// The hard limits of the AWS services stepinfer plans for, each once, with the page it was read
// from. Every check, schema bound, chunking rule and generator decision uses these values; none
// repeats the numbers. (Prices live in planner/prices/, latency constants in planner/latency/.)

export interface AwsLimit {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
}

const limit = (value: number, unit: string, source: string): AwsLimit => ({ value, unit, source });

const LAMBDA_QUOTAS = 'https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html';
const LAMBDA_INVOKE = 'https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html';
const SFN_QUOTAS = 'https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html';
const SFN_MAP = 'https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html';
const SNS_PUBLISH_BATCH = 'https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html';
const SQS_QUOTAS = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html';
const SQS_RECEIVE = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html';
const SNS_PRICING = 'https://aws.amazon.com/sns/pricing/';
const SQS_PRICING = 'https://aws.amazon.com/sqs/pricing/';
const SNS_FILTER = 'https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html';
const S3_LIST = 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html';

export const AWS_LIMITS = {
  lambdaMinMemoryMB: limit(128, 'MB', LAMBDA_QUOTAS),
  lambdaMaxMemoryMB: limit(10240, 'MB', LAMBDA_QUOTAS),
  lambdaMaxTimeoutSeconds: limit(900, 'seconds per invocation', LAMBDA_QUOTAS),
  lambdaSyncPayloadBytes: limit(6 * 1024 * 1024, 'bytes of a RequestResponse invocation payload', LAMBDA_INVOKE),
  lambdaAsyncPayloadBytes: limit(1024 * 1024, 'bytes of an Event (asynchronous) invocation payload', LAMBDA_INVOKE),
  lambdaUnzippedPackageBytes: limit(250 * 1024 * 1024, 'bytes of a .zip deployment package with its layers, unzipped', LAMBDA_QUOTAS),
  sfnPayloadBytes: limit(256 * 1024, 'bytes of a state input or output', SFN_QUOTAS),
  sfnExpressMaxSeconds: limit(300, 'seconds of an Express execution', SFN_QUOTAS),
  sfnStandardMaxHistoryEvents: limit(25000, 'events in a Standard execution history', SFN_QUOTAS),
  sfnInlineMapMaxConcurrency: limit(40, 'iterations an inline Map runs at once', SFN_MAP),
  sfnDistributedMapMaxConcurrency: limit(10000, 'child executions a distributed Map runs at once', SFN_QUOTAS),
  snsPublishBatchEntries: limit(10, 'messages per PublishBatch call', SNS_PUBLISH_BATCH),
  snsPublishBatchBytes: limit(256 * 1024, 'bytes of all messages of one PublishBatch call', SNS_PUBLISH_BATCH),
  sqsMessageMaxBytes: limit(256 * 1024, 'bytes of one message as this project configures its queues (MaximumMessageSize 262144; new queues may allow 1 MiB)', SQS_QUOTAS),
  sqsReceiveMaxMessages: limit(10, 'messages per ReceiveMessage call', SQS_RECEIVE),
  sqsMaxWaitSeconds: limit(20, 'seconds of a long poll', SQS_RECEIVE),
  snsBillingChunkBytes: limit(64 * 1024, 'bytes: each started chunk of a publish is billed as one request', SNS_PRICING),
  sqsBillingChunkBytes: limit(64 * 1024, 'bytes: each started chunk of a request is billed as one request', SQS_PRICING),
  s3ListMaxKeys: limit(1000, 'keys returned by one ListObjectsV2 call (MaxKeys; more need further calls)', S3_LIST),
  snsFilterPolicyMaxWildcards: limit(3, 'wildcards in one filter-policy pattern (DESIGN.md, measured against fauxqs; AWS documents the same bound)', SNS_FILTER),
} as const satisfies Record<string, AwsLimit>;

export type AwsLimitName = keyof typeof AWS_LIMITS;

/** Whether `memoryMB` is a memory size Lambda accepts (whole MB within its range). */
export function isLambdaMemoryMB(memoryMB: number): boolean {
  return Number.isInteger(memoryMB) && memoryMB >= AWS_LIMITS.lambdaMinMemoryMB.value && memoryMB <= AWS_LIMITS.lambdaMaxMemoryMB.value;
}

/** "128-10,240 MB", for messages. */
export const LAMBDA_MEMORY_RANGE_TEXT = `${AWS_LIMITS.lambdaMinMemoryMB.value}-${AWS_LIMITS.lambdaMaxMemoryMB.value.toLocaleString('en-US')} MB`;
