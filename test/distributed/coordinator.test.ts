// The coordinator's report of a failed stage (functions/handlers/coordinator.ts), against real S3
// status objects in fauxqs: one fault makes several workers give up, and the one to report is the
// earliest in the chain (the peers of a dead worker, the receiver of a lost message), not the
// first status to land; a failure that is not a receive timeout is a cause in itself and is
// reported at once. The end-to-end cases are in faults.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { generateRadixNetwork } from '../../model/generate.ts';
import { causeOf, runCoordinator } from '../../functions/handlers/coordinator.ts';
import type { AwsClients } from '../../functions/handlers/clients.ts';
import type { StageRun, WorkerFailure } from '../../functions/handlers/events.ts';
import { logger } from '../../functions/handlers/log.ts';
import { stageRunsOf } from '../../functions/handlers/stage-run.ts';
import { statusKey } from '../../functions/handlers/status.ts';
import { testPlan } from '../helpers/plans.ts';

const BUCKET = 'coordinator-test';
let server: FauxqsServer;
let s3: S3Client;
let stageRun: StageRun;
let runs = 0;

/** Answers every Invoke as Lambda answers an accepted Event invocation; the statuses are written by the test. */
const lambda = { send: async () => ({ StatusCode: 202 }), destroy: () => undefined } as unknown as LambdaClient;

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  s3 = new S3Client({ endpoint: server.address, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const plan = await testPlan(generateRadixNetwork({ neurons: 1024, layers: 4, seed: 2 }), { workers: 3, channel: 'queue', rows: 50, groups: 1 });
  stageRun = stageRunsOf(plan, { bucket: BUCKET, topicArns: ['arn:t0'], queueUrls: ['q0', 'q1', 'q2'], exchangeBuckets: [], functionNames: {} }, { runId: 'r', samples: 50 })[0];
});

afterAll(async () => {
  s3?.destroy();
  await server?.stop();
});

/** A stage run of its own (fresh status keys) with this receive timeout. */
function freshStage(receiveTimeoutSeconds: number): StageRun {
  return { ...stageRun, runId: `coordinator-${++runs}`, receiveTimeoutSeconds, launch: { kind: 'flat' } };
}

function failure(sr: StageRun, worker: number, layer: number | null, errorType: string, errorMessage: string): WorkerFailure {
  return { runId: sr.runId, attempt: sr.attempt, stage: sr.stage, worker, ok: false, errorType, errorMessage, layer, endMs: Date.now() };
}

const writeStatus = (sr: StageRun, f: WorkerFailure) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: statusKey(sr, f.worker), Body: JSON.stringify(f) }));

/** S3 that calls `afterList(n)` after its n-th ListObjectsV2 answer (the coordinator's n-th look at the statuses). */
function watchedS3(afterList: (n: number) => Promise<void>): S3Client {
  let lists = 0;
  return {
    send: async (command: unknown) => {
      const out = await s3.send(command as never);
      if (command instanceof ListObjectsV2Command) await afterList(++lists);
      return out;
    },
  } as unknown as S3Client;
}

const clients = (s3Client: S3Client): AwsClients => ({ s3: s3Client, lambda, sns: undefined as never, sqs: undefined as never });

const timeout = (layer: number, worker: number, missing: string) =>
  `layer ${layer}, worker ${worker}: run 1: receive gave up at its deadline after 1.0 s; missing ${missing}`;

describe('the coordinator reporting a failed stage', () => {
  it('names the earliest failure of a chain even when a downstream one lands first, and the worker that never reported', async () => {
    const sr = freshStage(1);
    // Worker 1 died in layer 3; worker 2, one layer on, gave up first, naming worker 0, which
    // was itself stuck waiting for worker 1; worker 0's own failure lands after the first look.
    await writeStatus(sr, failure(sr, 2, 4, 'ChannelTimeoutError', timeout(4, 2, 'worker 0: nothing yet')));
    const watched = watchedS3(async (n) => {
      if (n === 1) await writeStatus(sr, failure(sr, 0, 3, 'ChannelTimeoutError', timeout(3, 0, 'worker 1: nothing yet')));
    });
    await expect(runCoordinator({ stageRun: sr, waitTimeoutSeconds: 60, pollSeconds: 0.05 }, clients(watched))).rejects.toThrow(
      `layer 3, worker 0: run ${sr.runId} stage 0 (layers 1-4, attempt 0): worker 0 failed in layer 3: ChannelTimeoutError: ${timeout(3, 0, 'worker 1: nothing yet')}; `
      + 'also failed: worker 2 in layer 4; no status from worker 1',
    );
  });

  it('reports a failure that is not a receive timeout at once, before the timeouts it causes', async () => {
    // A receive timeout of a minute: waiting for the others would outlast the test.
    const sr = freshStage(60);
    await writeStatus(sr, failure(sr, 0, 2, 'ChannelTimeoutError', timeout(2, 0, 'worker 1: nothing yet')));
    await writeStatus(sr, failure(sr, 1, 2, 'MissingObjectError', 'layer 2, worker 1: the shard of worker 1 is missing'));
    await expect(runCoordinator({ stageRun: sr, waitTimeoutSeconds: 120, pollSeconds: 0.05 }, clients(s3))).rejects.toThrow(
      `layer 2, worker 1: run ${sr.runId} stage 0 (layers 1-4, attempt 0): worker 1 failed in layer 2: MissingObjectError: layer 2, worker 1: the shard of worker 1 is missing; `
      + 'also failed: worker 0 in layer 2; no status from worker 2',
    );
  }, 20_000);

  it('reports as soon as every worker has reported', async () => {
    const sr = freshStage(60);
    await writeStatus(sr, failure(sr, 0, 4, 'ChannelTimeoutError', timeout(4, 0, 'worker 1: nothing yet; worker 2: nothing yet')));
    await writeStatus(sr, failure(sr, 2, 3, 'ChannelTimeoutError', timeout(3, 2, 'worker 0: 1 of 2 parts')));
    await writeStatus(sr, failure(sr, 1, 3, 'ChannelTimeoutError', timeout(3, 1, 'worker 0: 1 of 2 parts')));
    await expect(runCoordinator({ stageRun: sr, waitTimeoutSeconds: 120, pollSeconds: 0.05 }, clients(s3))).rejects.toThrow(
      /worker 1 failed in layer 3: ChannelTimeoutError: .*; also failed: worker 2 in layer 3, worker 0 in layer 4$/,
    );
  }, 20_000);

  it('ranks failures: not caused by waiting, then the earliest layer, then the lowest worker', () => {
    const sr = freshStage(1);
    const f = (worker: number, layer: number | null, errorType = 'ChannelTimeoutError') => failure(sr, worker, layer, errorType, '');
    expect(causeOf([f(3, 5), f(2, 4), f(1, 4)]).worker).toBe(1);
    expect(causeOf([f(0, 2), f(3, 7, 'RangeError')]).worker).toBe(3);
    expect(causeOf([f(2, null, 'MissingObjectError'), f(1, 3, 'WireFormatError')]).worker).toBe(2);
  });
});
