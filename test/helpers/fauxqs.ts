// fauxqs (SNS, SQS and S3 emulated on loopback; DESIGN.md "fauxqs 2.4") in process for a test
// file: SDK clients pointed at it with dummy credentials. Stop it in afterAll.

import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';

export interface Fauxqs {
  readonly server: FauxqsServer;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  /** Path-style addressing: fauxqs serves buckets under its one loopback address. */
  readonly s3: S3Client;
  stop(): Promise<void>;
}

export async function startLocalFauxqs(): Promise<Fauxqs> {
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  const config = { endpoint: server.address, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const sns = new SNSClient(config);
  const sqs = new SQSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  return {
    server, sns, sqs, s3,
    async stop() {
      sns.destroy();
      sqs.destroy();
      s3.destroy();
      await server.stop();
    },
  };
}
