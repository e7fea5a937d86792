// A handler's S3 objects in one bucket, every request counted (StorageCounters) as S3 bills it:
// what a run's record and its measured cost are computed from.
//
// AWS facts used:
// - A GET of a missing key fails with NoSuchKey (404) and is billed as a GET
//   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
// - One PutObject takes up to 5 GB, but fauxqs (the local emulator) needs multipart above 11 MiB
//   (DESIGN.md), so bodies above MULTIPART_ABOVE_BYTES go up in parts through @aws-sdk/lib-storage:
//   CreateMultipartUpload + one UploadPart per part + CompleteMultipartUpload, each a request.
// - ListObjectsV2 and DeleteObjects take at most 1,000 keys a call (planner/aws-limits.ts).

import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MissingObjectError, StepinferError, type ErrorPlace } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import type { StorageCounters } from '../handlers/events.ts';

export const MULTIPART_ABOVE_BYTES = 8 * 2 ** 20;
const PART_BYTES = 8 * 2 ** 20;

export function zeroStorageCounters(): StorageCounters {
  return { puts: 0, gets: 0, putBytes: 0, getBytes: 0 };
}

export function addStorageCounters(into: StorageCounters, add: StorageCounters): void {
  into.puts += add.puts;
  into.gets += add.gets;
  into.putBytes += add.putBytes;
  into.getBytes += add.getBytes;
}

export class ObjectStore {
  readonly bucket: string;
  readonly counters: StorageCounters = zeroStorageCounters();
  /** ListObjectsV2 and DeleteObjects calls (not part of a stage's own objects, reported apart). */
  lists = 0;
  deletes = 0;
  private readonly s3: S3Client;

  constructor(s3: S3Client, bucket: string) {
    this.s3 = s3;
    this.bucket = bucket;
  }

  where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** The object's bytes, or null when there is no such key. */
  async getOptional(key: string): Promise<Uint8Array | null> {
    this.counters.gets++;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = await out.Body!.transformToByteArray();
      this.counters.getBytes += bytes.length;
      return bytes;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async get(key: string, what: string, place: ErrorPlace = {}): Promise<Uint8Array> {
    const bytes = await this.getOptional(key);
    if (bytes === null) throw new MissingObjectError(`${what} is missing: no object ${this.where(key)}`, place);
    return bytes;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.counters.putBytes += bytes.length;
    if (bytes.length <= MULTIPART_ABOVE_BYTES) {
      this.counters.puts++;
      await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes }));
      return;
    }
    this.counters.puts += Math.ceil(bytes.length / PART_BYTES) + 2;
    await new Upload({ client: this.s3, params: { Bucket: this.bucket, Key: key, Body: bytes }, partSize: PART_BYTES, queueSize: 2 }).done();
  }

  /** Every key under `prefix`, ascending. */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      this.lists++;
      const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: AWS_LIMITS.s3ListMaxKeys.value }));
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Deletes `keys`, 1,000 a call; returns how many S3 reported deleted. */
  async deleteKeys(keys: readonly string[]): Promise<number> {
    let deleted = 0;
    const batch = AWS_LIMITS.s3DeleteObjectsMaxKeys.value;
    for (let i = 0; i < keys.length; i += batch) {
      this.deletes++;
      const out = await this.s3.send(new DeleteObjectsCommand({
        Bucket: this.bucket, Delete: { Objects: keys.slice(i, i + batch).map((Key) => ({ Key })), Quiet: false },
      }));
      if (out.Errors && out.Errors.length > 0) {
        const e = out.Errors[0];
        throw new StepinferError(`DeleteObjects in s3://${this.bucket} refused ${out.Errors.length} keys (${e.Key}: ${e.Code}${e.Message ? `, ${e.Message}` : ''})`);
      }
      deleted += out.Deleted?.length ?? 0;
    }
    return deleted;
  }
}
