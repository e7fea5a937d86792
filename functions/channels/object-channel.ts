// The S3 object channel (issue 8): a worker writes ONE object per layer holding everything it
// sends in that layer to all its targets (exchange-object.ts: the wire messages of packing.ts
// behind a directory; a multicast row stored once; the empty marker for targets without rows),
// at key <runKey>/<layer>/<source> in exchange bucket (layer mod buckets)
// (planner/object-exchange.ts). The object is also the readiness signal: a source with nothing for
// anyone still writes its tiny object.
//
// A receiver GETs each source it expects by its exact key with a Range of the first bytes (the
// whole object, mostly), reads the directory, and makes one more ranged GET (If-Match the first
// one's ETag) only when its own messages lie beyond. GETs run in parallel, bounded. A GET answered
// NoSuchKey means "not yet": the receiver waits (a backoff growing to maxPollSeconds, never past
// its deadline) and then makes ONE ListObjectsV2 of the layer's prefix to learn which missing
// sources have arrived, and GETs only those. Every request is counted. Rows go through the same
// RowInbox as the queue channel's (reassembly.ts): each row once, ascending, duplicates dropped.
// A receive past its deadline fails naming the run, layer, worker and missing sources; no rows
// come from incomplete data: after its object is read, a source must be complete, or it fails.
//
// Why this layout: FSD-Inference writes one object per (layer, target, source) and lists every
// 0.1 s (its 8-worker run: 6,452 PUT, 6,450 GET, 1,615 LIST); here a layer costs one PUT per
// source, one GET per (target, source) pair plus NoSuchKey answers and ranged extras, and LISTs
// only after a miss.
//
// AWS facts used:
// - A GET of a missing key answers 404 NoSuchKey when the caller may list the bucket (403
//   AccessDenied otherwise): the workers' role needs s3:ListBucket on the exchange buckets
//   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
// - 4XX answers such as NoSuchKey are billed like successful requests
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorCodeBilling.html): they are counted.
// - S3 is strongly consistent for PUT, GET and LIST, so an object a LIST shows can be read at once
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel).
// - A Range beyond the object's end returns the bytes there are (206 with Content-Range
//   "bytes 0-n/total"); If-Match fails with 412 PreconditionFailed when the object changed
//   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
// - ListObjectsV2 returns at most 1,000 keys a call (AWS_LIMITS.s3ListMaxKeys); DeleteObjects
//   takes at most 1,000 keys (AWS_LIMITS.s3DeleteObjectsMaxKeys).

import {
  GetObjectCommand, ListObjectsV2Command, PutObjectCommand,
  type GetObjectCommandOutput, type S3Client,
} from '@aws-sdk/client-s3';
import { StepinferError, WireFormatError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import {
  exchangeBucketIndex, exchangeLayerPrefix, exchangeObjectKey, pollDelaySeconds,
} from '../../planner/object-exchange.ts';
import { channelTimeoutError, zeroCounters, type Channel, type ChannelCounters, type ReceivedLayer } from './channel.ts';
import { encodeExchangeObject, entriesFor, readExchangeDirectory, type DirectoryEntry, type ExchangeDirectory } from './exchange-object.ts';
import { packLayerRows, type RowGroup } from './packing.ts';
import { RowInbox } from './reassembly.ts';
import type { WireCodec } from './wire.ts';
import type { ObjectSettings } from './object-resources.ts';
import { ObjectStore } from '../storage/object-store.ts';

/**
 * Largest wire message of an object: parts are cut to fit it (packing.ts), which bounds what a
 * receiver decodes at once. No S3 limit applies (a PUT takes up to 5 GB); the real case's whole
 * objects are at most 221 KB (planner/object-exchange.ts).
 */
export const OBJECT_MESSAGE_LIMIT_BYTES = 4 * 1024 * 1024;

/** Run keys: path segments of letters, digits and . _ - : (no empty segment, no leading or trailing slash). */
const RUN_KEY = /^[A-Za-z0-9._:-]+(\/[A-Za-z0-9._:-]+)*$/;

export interface ObjectChannelOptions {
  /** The run number every wire message carries (wire.ts header): it must match, as on the queue channel. */
  readonly run: number;
  /**
   * Key prefix of this run AND attempt (planner/object-exchange.ts exchangeRunKey): a retried group
   * writes and reads under a new one, so it never reads a failed attempt's objects.
   */
  readonly runKey: string;
  readonly worker: number;
  /** Samples of the batch (rows of Y). */
  readonly samples: number;
  /** plan.json channel.object. */
  readonly settings: ObjectSettings;
  /** plan.json names.exchangeBuckets: index k is exchange bucket k. */
  readonly buckets: readonly string[];
  readonly s3: S3Client;
  readonly codec: WireCodec;
  /** The clock deadlines are measured on. Default Date.now. */
  readonly now?: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

function isNoSuchKey(error: unknown): boolean {
  return (error as { name?: string })?.name === 'NoSuchKey';
}

function isPreconditionFailed(error: unknown): boolean {
  return (error as { name?: string })?.name === 'PreconditionFailed';
}

function isAbort(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** Runs `task` on every item, at most `limit` at once; resolves when all are done, rejects on the first failure. */
async function eachBounded<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Total bytes of the object a ranged or whole GET answered from. */
function objectBytesOf(out: GetObjectCommandOutput, where: string): number {
  const range = out.ContentRange ? /\/(\d+)$/.exec(out.ContentRange) : null;
  if (range) return Number(range[1]);
  if (out.ContentLength !== undefined) return out.ContentLength;
  throw new WireFormatError(`${where}: the GET answered without Content-Range or Content-Length`);
}

export class ObjectChannel implements Channel {
  readonly worker: number;
  private readonly o: ObjectChannelOptions;
  private readonly inbox: RowInbox;
  private readonly now: () => number;

  constructor(o: ObjectChannelOptions) {
    if (o.buckets.length !== o.settings.buckets) {
      throw new StepinferError(`the object channel has ${o.buckets.length} exchange buckets, the plan ${o.settings.buckets}`, { worker: o.worker });
    }
    if (!RUN_KEY.test(o.runKey)) throw new StepinferError(`run key "${o.runKey}" is not a key prefix of letters, digits and . _ - : separated by single slashes`, { worker: o.worker });
    this.o = o;
    this.worker = o.worker;
    this.inbox = new RowInbox({ run: o.run, target: o.worker, samples: o.samples });
    this.now = o.now ?? Date.now;
  }

  private bucketOf(layer: number): string {
    return this.o.buckets[exchangeBucketIndex(layer, this.o.buckets.length)];
  }

  /** Writes this worker's object of `layer`: its rows to every target, an empty marker for peers without rows. */
  async send(layer: number, groups: readonly RowGroup[], peers: readonly number[]): Promise<ChannelCounters> {
    const counters = zeroCounters();
    // Nobody waits for a worker without peers and rows: no object.
    if (peers.length === 0 && groups.every((g) => g.rows.length === 0)) return counters;
    const packed = packLayerRows(groups, {
      run: this.o.run, layer, source: this.worker, samples: this.o.samples, codec: this.o.codec, transport: 'binary-attribute',
      peers, multicastEmptyMarker: true, limitBytes: OBJECT_MESSAGE_LIMIT_BYTES,
    });
    const body = encodeExchangeObject({ run: this.o.run, layer, source: this.worker }, packed.messages);
    const bucket = this.bucketOf(layer);
    const key = exchangeObjectKey(this.o.runKey, layer, this.worker);
    try {
      await this.o.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'application/octet-stream' }));
    } catch (error) {
      throw new StepinferError(`run ${this.o.run}: PUT s3://${bucket}/${key} failed: ${(error as Error).name}: ${(error as Error).message}`, { layer, worker: this.worker });
    } finally {
      counters.puts++;
    }
    counters.publishedMessages++;
    counters.publishedBytes += body.length;
    return counters;
  }

  async receive(layer: number, sources: readonly number[], deadlineMs: number): Promise<ReceivedLayer> {
    const counters = zeroCounters();
    const started = this.now();
    const { settings } = this.o;
    const bucket = this.bucketOf(layer);
    const timeout = () => channelTimeoutError(this.o.run, layer, this.worker, this.now() - started, this.inbox.missing(layer, sources));
    const read = new Set<number>();
    let toRead = sources.filter((s) => !this.inbox.layerComplete(layer, [s]));
    for (let round = 1; ; round++) {
      try {
        await eachBounded(toRead, settings.parallelRequests, async (source) => {
          if (await this.readSource(bucket, layer, source, deadlineMs, counters)) read.add(source);
        });
      } catch (error) {
        if (isAbort(error)) throw timeout();
        throw error;
      }
      const missing = sources.filter((s) => !read.has(s) && !this.inbox.layerComplete(layer, [s]));
      if (missing.length === 0) return { rows: this.inbox.takeLayer(layer, sources), counters };
      // Not yet there: wait, then one LIST tells which of them arrived.
      const leftMs = deadlineMs - this.now();
      if (leftMs <= 0) throw timeout();
      await sleep(Math.min(pollDelaySeconds(round, settings.readiness) * 1000, leftMs));
      if (deadlineMs - this.now() <= 0) throw timeout();
      let listed: Set<string>;
      try {
        listed = await this.listLayer(bucket, layer, deadlineMs, counters);
      } catch (error) {
        if (isAbort(error)) throw timeout();
        throw error;
      }
      toRead = missing.filter((s) => listed.has(exchangeObjectKey(this.o.runKey, layer, s)));
    }
  }

  /** Keys of `layer`'s objects there are now (one ListObjectsV2 per 1,000 keys). */
  private async listLayer(bucket: string, layer: number, deadlineMs: number, counters: ChannelCounters): Promise<Set<string>> {
    const keys = new Set<string>();
    let token: string | undefined;
    do {
      const prefix = exchangeLayerPrefix(this.o.runKey, layer);
      const out = await this.request(
        (abortSignal) => this.o.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: AWS_LIMITS.s3ListMaxKeys.value }), { abortSignal }),
        deadlineMs, `LIST s3://${bucket}/${prefix}`, layer, () => counters.lists++,
      );
      for (const o of out.Contents ?? []) if (o.Key) keys.add(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /**
   * One S3 call, aborted at the deadline and counted whatever its answer. Errors other than an
   * abort or those `passThrough` lets the caller handle become one line naming the request.
   */
  private async request<T>(call: (abortSignal: AbortSignal) => Promise<T>, deadlineMs: number, what: string, layer: number, count: () => void, passThrough: (e: unknown) => boolean = () => false): Promise<T> {
    const leftMs = deadlineMs - this.now();
    if (leftMs <= 0) throw Object.assign(new Error(`${what}: the deadline has passed`), { name: 'AbortError' });
    try {
      return await call(AbortSignal.timeout(leftMs));
    } catch (error) {
      if (isAbort(error) || passThrough(error)) throw error;
      throw new StepinferError(`run ${this.o.run}: ${what} failed: ${(error as Error).name}: ${(error as Error).message}`, { layer, worker: this.worker });
    } finally {
      count();
    }
  }

  /** A ranged GET and its body; NoSuchKey and PreconditionFailed reach the caller as S3 threw them. */
  private async get(bucket: string, key: string, range: string, ifMatch: string | undefined, deadlineMs: number, layer: number, counters: ChannelCounters): Promise<{ out: GetObjectCommandOutput; body: Uint8Array }> {
    const what = `GET s3://${bucket}/${key} (${range})`;
    return this.request(async (abortSignal) => {
      const out = await this.o.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range, ...(ifMatch ? { IfMatch: ifMatch } : {}) }), { abortSignal });
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      counters.getBytes += body.length;
      return { out, body };
    }, deadlineMs, what, layer, () => counters.gets++, (e) => isNoSuchKey(e) || isPreconditionFailed(e));
  }

  /**
   * Reads `source`'s object of `layer` and takes this worker's messages from it. False when it is
   * not there yet; fails when it is not what its key promises or leaves the source incomplete.
   */
  private async readSource(bucket: string, layer: number, source: number, deadlineMs: number, counters: ChannelCounters): Promise<boolean> {
    const key = exchangeObjectKey(this.o.runKey, layer, source);
    const where = `s3://${bucket}/${key}`;
    const firstRange = this.o.settings.readiness.firstRangeBytes;
    let first: Awaited<ReturnType<ObjectChannel['get']>>;
    try {
      first = await this.get(bucket, key, `bytes=0-${firstRange - 1}`, undefined, deadlineMs, layer, counters);
    } catch (error) {
      if (isNoSuchKey(error)) return false;
      throw error;
    }
    const objectBytes = objectBytesOf(first.out, where);
    const etag = first.out.ETag;
    let head = first.body;
    const more = async (from: number, to: number): Promise<Uint8Array> => {
      try {
        return (await this.get(bucket, key, `bytes=${from}-${to - 1}`, etag, deadlineMs, layer, counters)).body;
      } catch (error) {
        if (isNoSuchKey(error) || isPreconditionFailed(error)) {
          throw new WireFormatError(`${where} changed or vanished between two reads of it (its source wrote it again with other content, or it was removed)`);
        }
        throw error;
      }
    };
    let directory = readExchangeDirectory(head, objectBytes, where);
    if ('needBytes' in directory) {
      // A directory longer than the first range (thousands of messages): read the rest of it.
      head = Buffer.concat([head, await more(head.length, directory.needBytes)]);
      directory = readExchangeDirectory(head, objectBytes, where) as ExchangeDirectory;
    }
    const d = directory as ExchangeDirectory;
    if (d.run !== this.o.run || d.layer !== layer || d.source !== source) {
      throw new WireFormatError(`${where}: holds run ${d.run}, layer ${d.layer}, worker ${d.source}; its key is run ${this.o.run}, layer ${layer}, worker ${source}`);
    }
    const mine = entriesFor(d, this.worker);
    if (mine.length === 0) {
      throw new WireFormatError(`${where}: nothing in it is addressed to worker ${this.worker} (its messages are for workers ${[...new Set(d.entries.flatMap((e) => e.targets))].join(', ') || 'none'}): the source does not count this worker among its targets`);
    }
    // Messages beyond the first read: one more GET from the first of them to the last.
    const beyond = mine.filter((e) => e.offset + e.length > head.length);
    let tail: Uint8Array = new Uint8Array(0), tailStart = 0;
    if (beyond.length > 0) {
      tailStart = Math.min(...beyond.map((e) => e.offset));
      tail = await more(tailStart, Math.max(...beyond.map((e) => e.offset + e.length)));
    }
    const slice = (e: DirectoryEntry) => (e.offset + e.length <= head.length ? head.subarray(e.offset, e.offset + e.length) : tail.subarray(e.offset - tailStart, e.offset - tailStart + e.length));
    for (const e of mine) {
      const wire = slice(e);
      if (wire.length !== e.length) throw new WireFormatError(`${where}: the message at byte ${e.offset} is cut short (${wire.length} of ${e.length} bytes read)`);
      const result = this.inbox.accept(wire, `${where}, message at byte ${e.offset}`);
      counters.receivedMessages++;
      if (result === 'duplicate') counters.duplicates++;
      if (result === 'other-run') throw new WireFormatError(`${where}: the message at byte ${e.offset} is of another run than ${this.o.run}`);
    }
    // The object holds everything the source sends this worker in the layer.
    const incomplete = this.inbox.missing(layer, [source]);
    if (incomplete.length > 0) throw new WireFormatError(`${where}: its messages for worker ${this.worker} leave the source incomplete: ${incomplete.join('; ')}`);
    return true;
  }
}

/**
 * Removes every object of the run attempt `runKey` from the exchange buckets (ListObjectsV2, then
 * DeleteObjects of at most 1,000 keys a call), for the coordinator or client at the run's end.
 * Counts lists, deletes and the objects deleted.
 */
export async function removeRunObjects(s3: S3Client, buckets: readonly string[], runKey: string): Promise<ChannelCounters> {
  if (!RUN_KEY.test(runKey)) throw new StepinferError(`run key "${runKey}" is not a key prefix of letters, digits and . _ - : separated by single slashes`);
  const counters = zeroCounters();
  for (const bucket of buckets) {
    const store = new ObjectStore(s3, bucket);
    const deleted = await store.deleteKeys(await store.list(`${runKey}/`));
    counters.lists += store.lists;
    counters.deletes += store.deletes;
    counters.deletedMessages += deleted;
  }
  return counters;
}
