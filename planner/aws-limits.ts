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
const ASL_SPEC = 'https://states-language.net/spec.html';
const SNS_PUBLISH_BATCH = 'https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html';
const SQS_QUOTAS = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html';
const SQS_RECEIVE = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html';
const SQS_DELETE_BATCH = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html';
const SNS_PRICING = 'https://aws.amazon.com/sns/pricing/';
const SQS_PRICING = 'https://aws.amazon.com/sqs/pricing/';
const SNS_FILTER = 'https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html';
const S3_LIST = 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html';
const S3_DELETE_OBJECTS = 'https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html';

export const AWS_LIMITS = {
  lambdaMinMemoryMB: limit(128, 'MB', LAMBDA_QUOTAS),
  lambdaMaxMemoryMB: limit(10240, 'MB', LAMBDA_QUOTAS),
  lambdaMaxTimeoutSeconds: limit(900, 'seconds per invocation', LAMBDA_QUOTAS),
  lambdaSyncPayloadBytes: limit(6 * 1024 * 1024, 'bytes of a RequestResponse invocation payload', LAMBDA_INVOKE),
  lambdaAsyncPayloadBytes: limit(1024 * 1024, 'bytes of an Event (asynchronous) invocation payload', LAMBDA_INVOKE),
  lambdaUnzippedPackageBytes: limit(250 * 1024 * 1024, 'bytes of a .zip deployment package with its layers, unzipped', LAMBDA_QUOTAS),
  lambdaContainerImageBytes: limit(10 * 1024 * 1024 * 1024, 'bytes of a container image, uncompressed, with all its layers (10 GB; Lambda counts MB and GB in powers of 1,024)', LAMBDA_QUOTAS),
  sfnPayloadBytes: limit(256 * 1024, 'bytes of a state input or output', SFN_QUOTAS),
  sfnExpressMaxSeconds: limit(300, 'seconds of an Express execution', SFN_QUOTAS),
  sfnStandardMaxHistoryEvents: limit(25000, 'events in a Standard execution history', SFN_QUOTAS),
  sfnStateNameMaxChars: limit(80, 'Unicode characters of a state name, unique in the whole state machine (nested states included)', ASL_SPEC),
  sfnInlineMapMaxConcurrency: limit(40, 'iterations an inline Map runs at once', SFN_MAP),
  sfnDistributedMapMaxConcurrency: limit(10000, 'child executions a distributed Map runs at once', SFN_QUOTAS),
  snsPublishBatchEntries: limit(10, 'messages per PublishBatch call', SNS_PUBLISH_BATCH),
  snsPublishBatchBytes: limit(256 * 1024, 'bytes of all messages of one PublishBatch call', SNS_PUBLISH_BATCH),
  sqsMessageMaxBytes: limit(256 * 1024, 'bytes of one message as this project configures its queues (MaximumMessageSize 262144; new queues may allow 1 MiB)', SQS_QUOTAS),
  sqsReceiveMaxMessages: limit(10, 'messages per ReceiveMessage call', SQS_RECEIVE),
  sqsMaxWaitSeconds: limit(20, 'seconds of a long poll', SQS_RECEIVE),
  sqsDeleteBatchEntries: limit(10, 'messages per DeleteMessageBatch call', SQS_DELETE_BATCH),
  snsBillingChunkBytes: limit(64 * 1024, 'bytes: each started chunk of a publish is billed as one request', SNS_PRICING),
  sqsBillingChunkBytes: limit(64 * 1024, 'bytes: each started chunk of a request is billed as one request', SQS_PRICING),
  s3ListMaxKeys: limit(1000, 'keys returned by one ListObjectsV2 call (MaxKeys; more need further calls)', S3_LIST),
  s3DeleteObjectsMaxKeys: limit(1000, 'keys one DeleteObjects request may name', S3_DELETE_OBJECTS),
  snsFilterPolicyMaxWildcards: limit(3, 'wildcards in one filter-policy pattern (DESIGN.md, measured against fauxqs; AWS documents the same bound)', SNS_FILTER),
} as const satisfies Record<string, AwsLimit>;

export type AwsLimitName = keyof typeof AWS_LIMITS;

/** Whether `memoryMB` is a memory size Lambda accepts (whole MB within its range). */
export function isLambdaMemoryMB(memoryMB: number): boolean {
  return Number.isInteger(memoryMB) && memoryMB >= AWS_LIMITS.lambdaMinMemoryMB.value && memoryMB <= AWS_LIMITS.lambdaMaxMemoryMB.value;
}

/** "128-10,240 MB", for messages. */
export const LAMBDA_MEMORY_RANGE_TEXT = `${AWS_LIMITS.lambdaMinMemoryMB.value}-${AWS_LIMITS.lambdaMaxMemoryMB.value.toLocaleString('en-US')} MB`;

// Queue settings the plan's channel carries (SetQueueAttributes / RedrivePolicy ranges).
const SQS_QUEUE_ATTRIBUTES = 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html';

export const SQS_QUEUE_LIMITS = {
  maxVisibilityTimeoutSeconds: limit(43200, 'seconds a received message stays hidden (VisibilityTimeout, 12 hours)', SQS_QUEUE_ATTRIBUTES),
  minRetentionSeconds: limit(60, 'seconds a queue keeps a message at least (MessageRetentionPeriod)', SQS_QUEUE_ATTRIBUTES),
  maxRetentionSeconds: limit(1209600, 'seconds a queue keeps a message at most (MessageRetentionPeriod, 14 days)', SQS_QUEUE_ATTRIBUTES),
  maxReceiveCount: limit(1000, 'receives of a message before the redrive policy moves it to the dead-letter queue (maxReceiveCount 1-1,000)', SQS_QUEUE_ATTRIBUTES),
} as const satisfies Record<string, AwsLimit>;

/** What a resource name may look like, with the page the rule was read from. */
export interface AwsNameRule {
  readonly what: string;
  readonly minChars: number;
  readonly maxChars: number;
  readonly pattern: RegExp;
  /** The allowed characters, for messages. */
  readonly allowed: string;
  readonly source: string;
}

const LETTERS_DIGITS_HYPHENS_UNDERSCORES = /^[A-Za-z0-9_-]+$/;
const nameRule = (what: string, minChars: number, maxChars: number, pattern: RegExp, allowed: string, source: string): AwsNameRule =>
  ({ what, minChars, maxChars, pattern, allowed, source });

export const AWS_NAME_RULES = {
  sqsQueue: nameRule('SQS queue name', 1, 80, LETTERS_DIGITS_HYPHENS_UNDERSCORES, 'letters, digits, hyphens and underscores',
    'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html'),
  snsTopic: nameRule('SNS topic name', 1, 256, LETTERS_DIGITS_HYPHENS_UNDERSCORES, 'letters, digits, hyphens and underscores',
    'https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html'),
  lambdaFunction: nameRule('Lambda function name', 1, 64, LETTERS_DIGITS_HYPHENS_UNDERSCORES, 'letters, digits, hyphens and underscores',
    'https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (a bare function name is limited to 64 characters)'),
  // Names may hold more characters, but CloudWatch logging of the state machine needs this set.
  stateMachine: nameRule('Step Functions state machine name', 1, 80, LETTERS_DIGITS_HYPHENS_UNDERSCORES, 'letters, digits, hyphens and underscores',
    'https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html'),
  stack: nameRule('CloudFormation stack name', 1, 128, /^[A-Za-z][A-Za-z0-9-]*$/, 'letters, digits and hyphens, starting with a letter',
    'https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html'),
  s3Bucket: nameRule('S3 bucket name', 3, 63, /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
    'https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html'),
} as const satisfies Record<string, AwsNameRule>;

export type AwsNameKind = keyof typeof AWS_NAME_RULES;

// General purpose buckets: reserved prefixes and suffixes (same page as the s3Bucket rule).
const S3_RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const S3_RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** Why `name` is not a valid name of that kind, or null when it is. */
export function awsNameProblem(kind: AwsNameKind, name: string): string | null {
  const rule: AwsNameRule = AWS_NAME_RULES[kind];
  if (name.length < rule.minChars || name.length > rule.maxChars) {
    return `${rule.what} "${name}" has ${name.length} characters, allowed ${rule.minChars}-${rule.maxChars}`;
  }
  if (!rule.pattern.test(name)) return `${rule.what} "${name}" may hold only ${rule.allowed}`;
  if (kind === 's3Bucket') {
    if (name.includes('..')) return `${rule.what} "${name}" has two adjacent dots`;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `${rule.what} "${name}" looks like an IP address`;
    const prefix = S3_RESERVED_PREFIXES.find((p) => name.startsWith(p));
    if (prefix) return `${rule.what} "${name}" starts with the reserved prefix ${prefix}`;
    const suffix = S3_RESERVED_SUFFIXES.find((s) => name.endsWith(s));
    if (suffix) return `${rule.what} "${name}" ends with the reserved suffix ${suffix}`;
  }
  return null;
}
