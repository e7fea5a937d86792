// The AWS SDK v3 clients of a handler, made once per execution environment (reused across warm
// invocations, as AWS advises) from the environment alone, so the same handler code runs on AWS,
// against the local emulators and in tests.
//
// Endpoints are the SDKs' own service-specific settings, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
// unset on AWS; the local runtime points them at fauxqs and the local Lambda host. S3 addresses
// buckets by path when an endpoint is overridden: an emulator on 127.0.0.1 has no per-bucket host
// names; and SQS then keeps that endpoint instead of taking each queue URL's host (fauxqs's queue
// URLs name a host, sqs.<region>.127.0.0.1, that does not resolve).
//
// Integrity checks the SDK would repeat are left to our formats, on AWS as locally (the same code
// path): every shard, staged slice and wire message carries its own CRC-32, checked when decoded
// (model/shard.ts, functions/storage/slice-codec.ts, functions/channels/wire.ts). So S3 computes
// and validates its checksums only where an operation requires one ('WHEN_REQUIRED'; the SDK's
// default since 3.729.0 is a CRC32 of every upload and the validation of every download that has
// one: https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/s3-checksums.html), and
// SQS does not hash every received body for its MD5 (the client's `md5: false`).

import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface AwsClients {
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
}

/** Client settings of every S3 and SQS client of ours (handlers, the local cloud's own clients): see above. */
export const S3_CLIENT_SETTINGS = { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } as const;
export const SQS_CLIENT_SETTINGS = { md5: false } as const;

export function clientsFromEnvironment(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const s3Endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const sqsEndpoint = env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
  return {
    s3: new S3Client({ ...S3_CLIENT_SETTINGS, forcePathStyle: s3Endpoint !== undefined }),
    sns: new SNSClient({}),
    sqs: new SQSClient({ ...SQS_CLIENT_SETTINGS, useQueueUrlAsEndpoint: sqsEndpoint === undefined }),
    lambda: new LambdaClient({}),
  };
}

let cached: AwsClients | undefined;

/** The execution environment's clients, made on first use. */
export function environmentClients(): AwsClients {
  return cached ??= clientsFromEnvironment();
}
