// The S3 object channel over fauxqs's S3 (in process, loopback): the plan's buckets are created
// from its names, workers exchange rows through one object per (run attempt, layer, source), and
// every worker gets exactly the rows routing.ts sends it, bit for bit, with every request counted
// as S3 saw it; late sources, overwritten objects, a missing source, other attempts' objects and
// the removal of a run's objects behave as issue 8 says.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetBucketLifecycleConfigurationCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startLocalFauxqs, type Fauxqs } from '../helpers/fauxqs.ts';
import { ObjectChannel, removeRunObjects } from '../../functions/channels/object-channel.ts';
import { createObjectResources, EXCHANGE_EXPIRATION_RULE_ID, objectResourceList, type ObjectSettings } from '../../functions/channels/object-resources.ts';
import { encodeExchangeObject, readExchangeDirectory, type ExchangeDirectory } from '../../functions/channels/exchange-object.ts';
import { packLayerRows, type RowGroup } from '../../functions/channels/packing.ts';
import { activationColumns, activationRow, rowTargets, sourceRowGroups, type ActivationColumns, type RowTargets } from '../../functions/channels/routing.ts';
import { decodePartPayload, decodeWireMessage, type ActivationRow, type WireCodec } from '../../functions/channels/wire.ts';
import { zeroCounters, type ChannelCounters } from '../../functions/channels/channel.ts';
import { ChannelTimeoutError, WireFormatError } from '../../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { prepareLayer, SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { copyRows } from '../../functions/serial/serial-inference.ts';
import { partitionNetwork, type LayerPartition } from '../../planner/partition/index.ts';
import { planNames } from '../../planner/plan/names.ts';
import { EXCHANGE_FIRST_RANGE_BYTES, EXCHANGE_OBJECT_KEY_PATTERN, exchangeBucketIndex, exchangeObjectKey, exchangeRunKey } from '../../planner/object-exchange.ts';
import { defaultGraphChallengeDir, graphChallengePaths, readGraphChallengeNetwork, readInputTsv } from '../../model/graphchallenge.ts';
import { requireData } from '../helpers/shared-data.ts';

// plan.json channel.object as planner/plan/build.ts writes it, with 2 exchange buckets.
const SETTINGS: ObjectSettings = {
  buckets: 2,
  bucketOfKey: 'layer-mod-buckets',
  keyPattern: EXCHANGE_OBJECT_KEY_PATTERN,
  readiness: { method: 'get-then-list', firstRangeBytes: EXCHANGE_FIRST_RANGE_BYTES, initialPollSeconds: 0.05, maxPollSeconds: 1 },
  parallelRequests: 4,
  emptyMarkers: true,
  expirationDays: 1,
};
const CODEC: WireCodec = { name: 'zstd', level: 3 };
const RUN = 7;

const plain = (rows: readonly ActivationRow[]) =>
  rows.map((r) => ({ neuron: r.neuron, samples: Array.from(r.sampleIndex), bits: Array.from(new Uint32Array(r.value.buffer, r.value.byteOffset, r.value.length)) }));
const row = (neuron: number, samples: number[], values: number[]): ActivationRow =>
  ({ neuron, sampleIndex: Uint32Array.from(samples), value: Float32Array.from(values) });
const soon = (ms: number) => Date.now() + ms;

const names = planNames({ planId: '0b1ec7c4a2be1000', stackPrefix: 'otest', workers: 8, functionIds: [], topics: 0, queues: 0, deadLetterQueue: false, exchangeBuckets: SETTINGS.buckets });
const PLAN = {
  channel: { kind: 'object' as const, queue: null, object: SETTINGS },
  names: { ...names, functions: {}, topics: [], queues: [], exchangeBuckets: [...names.exchangeBuckets] },
};
const BUCKETS = PLAN.names.exchangeBuckets;

let fauxqs: Fauxqs;
let runCount = 0;
/** A run key of its own for every exchange, so tests never share an object. */
const freshRunKey = () => `exec-${++runCount}/a1`;

beforeAll(async () => {
  fauxqs = await startLocalFauxqs();
  await createObjectResources(objectResourceList(PLAN), fauxqs.s3);
});
afterAll(async () => { await fauxqs?.stop(); });

interface Requests { PutObjectCommand: number; GetObjectCommand: number; ListObjectsV2Command: number }

/**
 * fauxqs's S3 client, counting the requests S3 answered by command, with `after` run once each
 * answered (or failed), before the channel sees the answer.
 */
function observedS3(after: (command: { constructor: { name: string }; input: Record<string, unknown> }, error: unknown) => Promise<void> = async () => {}): { s3: S3Client; requests: Requests } {
  const requests: Requests = { PutObjectCommand: 0, GetObjectCommand: 0, ListObjectsV2Command: 0 };
  const s3 = new Proxy(fauxqs.s3, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (command: { constructor: { name: string }; input: Record<string, unknown> }, options?: unknown) => {
        const name = command.constructor.name as keyof Requests;
        if (name in requests) requests[name]++;
        let out: unknown;
        try {
          out = await target.send(command as never, options as never);
        } catch (error) {
          await after(command, error);
          throw error;
        }
        await after(command, null);
        return out;
      };
    },
  });
  return { s3, requests };
}

function channels(runKey: string, workers: number, samples: number, s3: S3Client = fauxqs.s3, settings: ObjectSettings = SETTINGS, run = RUN): ObjectChannel[] {
  return Array.from({ length: workers }, (_, worker) => new ObjectChannel({ run, runKey, worker, samples, settings, buckets: BUCKETS, s3, codec: CODEC }));
}

const add = (a: ChannelCounters, b: ChannelCounters): ChannelCounters =>
  Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof ChannelCounters] + b[k as keyof ChannelCounters]])) as unknown as ChannelCounters;

async function objectBytes(bucket: string, key: string): Promise<Uint8Array> {
  const out = await fauxqs.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body!.transformToByteArray();
}

/** The neurons an object holds, message by message. */
function objectNeurons(bytes: Uint8Array): { directory: ExchangeDirectory; neurons: number[][] } {
  const directory = readExchangeDirectory(bytes, bytes.length, 'test object') as ExchangeDirectory;
  const neurons = directory.entries.map((e) => {
    const { header, payload } = decodeWireMessage(bytes.subarray(e.offset, e.offset + e.length));
    return decodePartPayload(header, payload).map((r) => r.neuron);
  });
  return { directory, neurons };
}

/** One layer's routing: who sends which rows to whom. */
interface LayerRouting {
  readonly columns: ActivationColumns;
  readonly targets: RowTargets;
  readonly inputOwner: Uint16Array;
  /** Index s: the workers s sends to (the shard's send list). */
  readonly peers: number[][];
  /** Index t: the workers t receives from (the shard's receive list). */
  readonly sources: number[][];
}

function routing(network: SparseNetwork, partition: LayerPartition, activations: SparseRows, layer: number): LayerRouting {
  const workers = partition.workers;
  const inputOwner = partition.maps[layer - 1].owner;
  const columns = activationColumns(activations);
  const targets = rowTargets(network.layers[layer - 1], inputOwner, partition.maps[layer].owner, workers);
  const peerSets = Array.from({ length: workers }, () => new Set<number>());
  for (let k = 0; k < network.neurons; k++) for (let i = targets.start[k]; i < targets.start[k + 1]; i++) peerSets[inputOwner[k]].add(targets.target[i]);
  const peers = peerSets.map((set) => [...set].sort((a, b) => a - b));
  const sources = Array.from({ length: workers }, (_, t) => peers.flatMap((list, s) => (list.includes(t) ? [s] : [])));
  return { columns, targets, inputOwner, peers, sources };
}

/** The rows `target` must receive in a layer: every nonzero row of another worker it reads. */
function expectedRows(r: LayerRouting, target: number): ActivationRow[] {
  const out: ActivationRow[] = [];
  for (let k = 0; k < r.columns.neurons; k++) {
    const needs = Array.from(r.targets.target.subarray(r.targets.start[k], r.targets.start[k + 1])).includes(target);
    if (needs && r.columns.start[k + 1] > r.columns.start[k]) out.push(activationRow(r.columns, k));
  }
  return out;
}

/** Activations Y_0 .. Y_L of a generated network, as the serial kernel computes them. */
function generatedRun(layers: number, samples: number): { network: SparseNetwork; activations: SparseRows[] } {
  const network = generateRadixNetwork({ neurons: 64, layers, seed: 3, connections: 16, weight: 1 / 8, bias: -0.05 });
  const kernel = new SparseLayerKernel(64);
  const activations: SparseRows[] = [generateInputs({ neurons: 64, samples, seed: 3 })];
  for (const layer of network.layers) activations.push(copyRows(kernel.apply(activations.at(-1)!, prepareLayer(layer), network.bias, network.activationCap)));
  return { network, activations };
}

describe('object resources from plan.json', () => {
  it('lists the plan bucket (kept) and the exchange buckets (expiring), and creates them idempotently', async () => {
    expect(objectResourceList(PLAN)).toEqual({
      buckets: [
        { name: 'otest-0b1ec7c4a2be1000', expirationDays: null },
        { name: 'otest-0b1ec7c4a2be1000-x0', expirationDays: 1 },
        { name: 'otest-0b1ec7c4a2be1000-x1', expirationDays: 1 },
      ],
    });
    // Created in beforeAll; again is fine.
    expect(await createObjectResources(objectResourceList(PLAN), fauxqs.s3)).toEqual({ buckets: ['otest-0b1ec7c4a2be1000', 'otest-0b1ec7c4a2be1000-x0', 'otest-0b1ec7c4a2be1000-x1'] });
    const rules = await fauxqs.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKETS[1] }));
    expect(rules.Rules?.map((r) => ({ id: r.ID, status: r.Status, days: r.Expiration?.Days }))).toEqual([{ id: EXCHANGE_EXPIRATION_RULE_ID, status: 'Enabled', days: 1 }]);
  });

  it('a plan without the object channel still has its bucket, and no exchange buckets', () => {
    expect(objectResourceList({ channel: { kind: 'queue', queue: null, object: null }, names: { ...PLAN.names, exchangeBuckets: [] } })).toEqual({
      buckets: [{ name: 'otest-0b1ec7c4a2be1000', expirationDays: null }],
    });
  });
});

describe('exchange object format', () => {
  it('puts a directory of lengths and targets before the wire messages, and refuses corruption', () => {
    const a = Uint8Array.of(1, 2, 3), b = Uint8Array.of(4, 5);
    const bytes = encodeExchangeObject({ run: 7, layer: 3, source: 2 }, [{ wire: a, targets: [0, 1] }, { wire: b, targets: [4] }]);
    // magic "SX", version 1, D = 22 (u32), run 7, layer 3, source 2, 2 messages: (3 bytes, to 0 and 1), (2 bytes, to 4), CRC-32, the messages.
    expect(Array.from(bytes.subarray(0, 18))).toEqual([0x53, 0x58, 1, 22, 0, 0, 0, 7, 3, 2, 2, 3, 2, 0, 1, 2, 1, 4]);
    expect(Array.from(bytes.subarray(22))).toEqual([1, 2, 3, 4, 5]);
    expect(readExchangeDirectory(bytes.subarray(0, 5), bytes.length, 'o')).toEqual({ needBytes: 7 });
    expect(readExchangeDirectory(bytes.subarray(0, 10), bytes.length, 'o')).toEqual({ needBytes: 22 });
    expect(readExchangeDirectory(bytes, bytes.length, 'o')).toEqual({
      run: 7, layer: 3, source: 2, directoryBytes: 22, objectBytes: 27,
      entries: [{ offset: 22, length: 3, targets: [0, 1] }, { offset: 25, length: 2, targets: [4] }],
    });
    const flipped = bytes.slice();
    flipped[7] ^= 1; // the run
    expect(() => readExchangeDirectory(flipped, flipped.length, 's3://b/k')).toThrow(/^s3:\/\/b\/k \(27 bytes\): directory checksum mismatch: the object is corrupt$/);
    expect(() => readExchangeDirectory(bytes, 26, 's3://b/k')).toThrow(/^s3:\/\/b\/k \(26 bytes\): the directory accounts for 27 bytes$/);
    expect(() => readExchangeDirectory(Uint8Array.of(0x53, 0x57, 1, 0, 0, 0, 0, 0), 8, 's3://b/k')).toThrow(WireFormatError);
  });
});

describe('object channel over fauxqs S3', () => {
  it('4 workers exchange 3 generated layers: each gets exactly the rows routed to it, bit-exact; one PUT per source, one GET per pair, no LIST', async () => {
    const workers = 4, samples = 300;
    const { network, activations } = generatedRun(3, samples);
    // A random partition: every worker reads from every other, every row goes to several workers.
    const partition = partitionNetwork(network, workers, 'random', { seed: 1 });
    const runKey = freshRunKey();
    const { s3, requests } = observedS3();
    const chans = channels(runKey, workers, samples, s3);
    let sent = zeroCounters(), received = zeroCounters(), rowsReceived = 0, multicastMessages = 0;
    const perLayer: { puts: number; gets: number }[] = [];
    for (let layer = 1; layer <= 3; layer++) {
      const r = routing(network, partition, activations[layer - 1], layer);
      for (let s = 0; s < workers; s++) sent = add(sent, await chans[s].send(layer, sourceRowGroups(s, r.columns, r.targets, r.inputOwner, 'multicast'), r.peers[s]));
      const got = await Promise.all(chans.map((c, t) => c.receive(layer, r.sources[t], soon(20_000))));
      for (let t = 0; t < workers; t++) {
        const expected = expectedRows(r, t);
        rowsReceived += expected.length;
        expect(plain(got[t].rows)).toEqual(plain(expected));
        received = add(received, got[t].counters);
      }
      perLayer.push({ puts: r.peers.filter((p) => p.length > 0).length, gets: r.sources.reduce((n, list) => n + list.length, 0) });
      // Every row an object holds is stored once, however many targets read it.
      for (let s = 0; s < workers; s++) {
        if (r.peers[s].length === 0) continue; // nobody waits for it: no object
        const { directory, neurons } = objectNeurons(await objectBytes(BUCKETS[layer % 2], exchangeObjectKey(runKey, layer, s)));
        const all = neurons.flat();
        expect(new Set(all).size).toBe(all.length);
        multicastMessages += directory.entries.filter((e) => e.targets.length > 1).length;
      }
    }
    expect(perLayer).toEqual([{ puts: 4, gets: 12 }, { puts: 4, gets: 12 }, { puts: 4, gets: 12 }]);
    expect(sent.puts).toBe(12);
    expect(sent.publishedMessages).toBe(12);
    expect(received.gets).toBe(36);
    expect(received.lists).toBe(0);
    expect(received.duplicates).toBe(0);
    // The counters are the requests S3 answered (the inspection reads above bypass the counting client).
    expect(requests).toEqual({ PutObjectCommand: sent.puts, GetObjectCommand: received.gets, ListObjectsV2Command: received.lists });
    expect(received.receivedMessages).toBe(36);
    expect(rowsReceived).toBe(516);
    // Each object is one multicast message to its 3 readers, who each read all of it (it is under the first range).
    expect(multicastMessages).toBe(12);
    expect(received.getBytes).toBe(3 * sent.publishedBytes);
  }, 30_000);

  it('multicast stores a row once for several targets and an empty marker tells a receiver a source had nothing: exact counters', async () => {
    const runKey = freshRunKey();
    const chans = channels(runKey, 3, 4);
    const groups: RowGroup[] = [{ targets: [1, 2], rows: [row(5, [0, 3], [0.5, 1]), row(6, [1], [2])] }];
    const sent0 = await chans[0].send(1, groups, [1, 2]);
    const sent1 = await chans[1].send(1, [], [2]); // worker 1 has nothing for worker 2: its object holds the empty marker
    const sent2 = await chans[2].send(1, [], []); // worker 2 sends to nobody: no object
    const packed0 = packLayerRows(groups, { run: RUN, layer: 1, source: 0, samples: 4, codec: CODEC, transport: 'binary-attribute', peers: [1, 2], multicastEmptyMarker: true });
    const object0 = await objectBytes(BUCKETS[1], exchangeObjectKey(runKey, 1, 0));
    const object1 = await objectBytes(BUCKETS[1], exchangeObjectKey(runKey, 1, 1));
    // One message to workers 1 and 2, the rows in it once.
    expect(objectNeurons(object0)).toMatchObject({ directory: { entries: [{ targets: [1, 2], length: packed0.messages[0].wire.length }] }, neurons: [[5, 6]] });
    expect(objectNeurons(object1)).toMatchObject({ directory: { entries: [{ targets: [2] }] }, neurons: [[]] });
    const zero = zeroCounters();
    expect(sent0).toEqual({ ...zero, puts: 1, publishedMessages: 1, publishedBytes: object0.length });
    expect(sent1).toEqual({ ...zero, puts: 1, publishedMessages: 1, publishedBytes: object1.length });
    expect(sent2).toEqual(zero);
    expect([object0.length, object1.length]).toEqual([64, 38]);
    const at1 = await chans[1].receive(1, [0], soon(10_000));
    const at2 = await chans[2].receive(1, [0, 1], soon(10_000));
    const rows = plain(groups[0].rows);
    expect(plain(at1.rows)).toEqual(rows);
    expect(plain(at2.rows)).toEqual(rows);
    expect(at1.counters).toEqual({ ...zero, gets: 1, getBytes: 64, receivedMessages: 1 });
    expect(at2.counters).toEqual({ ...zero, gets: 2, getBytes: 64 + 38, receivedMessages: 2 });
  });

  it('a source that arrives late: its GET misses, one LIST after the wait finds it, one GET reads it; every request counted', async () => {
    const runKey = freshRunKey();
    let senders: ObjectChannel[] = [];
    let missed = false;
    // The late source writes right after the receiver's GET of its key has missed.
    const { s3, requests } = observedS3(async (command, error) => {
      if (!missed && command.constructor.name === 'GetObjectCommand' && (error as Error | null)?.name === 'NoSuchKey') {
        missed = true;
        await senders[1].send(2, [{ targets: [2], rows: [row(9, [1, 2], [3, 4])] }], [2]);
      }
    });
    senders = channels(runKey, 3, 4);
    const receiver = channels(runKey, 3, 4, s3)[2];
    await senders[0].send(2, [{ targets: [2], rows: [row(1, [0], [1])] }], [2]);
    const got = await receiver.receive(2, [0, 1], soon(10_000));
    expect(plain(got.rows)).toEqual(plain([row(1, [0], [1]), row(9, [1, 2], [3, 4])]));
    expect(got.counters).toMatchObject({ gets: 3, lists: 1, receivedMessages: 2 });
    expect(requests).toEqual({ PutObjectCommand: 0, GetObjectCommand: 3, ListObjectsV2Command: 1 });
  });

  it('reads its messages beyond the first range with one more GET, also when the object was rewritten with the same content in between', async () => {
    const runKey = freshRunKey();
    const small: ObjectSettings = { ...SETTINGS, readiness: { ...SETTINGS.readiness, firstRangeBytes: 40 } };
    const groups: RowGroup[] = [
      { targets: [1], rows: [row(2, [0, 1, 2, 3], [1, 2, 3, 4])] },
      { targets: [2], rows: [row(3, [0, 2], [5, 6]), row(4, [1], [7])] },
    ];
    let rewritten = false;
    let senders: ObjectChannel[] = [];
    const { s3 } = observedS3(async (command, error) => {
      if (!rewritten && !error && command.constructor.name === 'GetObjectCommand') {
        rewritten = true;
        await senders[0].send(1, groups, [1, 2]); // a retried send: the same bytes again
      }
    });
    senders = channels(runKey, 3, 4, fauxqs.s3, small);
    const sent = await senders[0].send(1, groups, [1, 2]);
    const readers = channels(runKey, 3, 4, s3, small);
    const at2 = await readers[2].receive(1, [0], soon(10_000));
    expect(plain(at2.rows)).toEqual(plain(groups[1].rows));
    expect(at2.counters).toMatchObject({ gets: 2, lists: 0, receivedMessages: 1, duplicates: 0 });
    // The first range was 40 bytes; the second read from worker 2's message to its end.
    const object = await objectBytes(BUCKETS[1], exchangeObjectKey(runKey, 1, 0));
    const { directory } = objectNeurons(object);
    const mine = directory.entries.find((e) => e.targets.includes(2))!;
    expect(at2.counters.getBytes).toBe(40 + mine.length);
    expect(sent.publishedBytes).toBe(object.length);
  });

  it('reads a directory longer than the first range with one more GET, then its messages with another', async () => {
    const runKey = freshRunKey();
    const tiny: ObjectSettings = { ...SETTINGS, readiness: { ...SETTINGS.readiness, firstRangeBytes: 8 } };
    const groups: RowGroup[] = [{ targets: [1], rows: [row(2, [0, 1], [1, 2])] }, { targets: [2], rows: [row(3, [3], [5])] }];
    const chans = channels(runKey, 3, 4, fauxqs.s3, tiny);
    const sent = await chans[0].send(1, groups, [1, 2]);
    const at1 = await chans[1].receive(1, [0], soon(10_000));
    expect(plain(at1.rows)).toEqual(plain(groups[0].rows));
    const { directory } = objectNeurons(await objectBytes(BUCKETS[1], exchangeObjectKey(runKey, 1, 0)));
    const mine = directory.entries.find((e) => e.targets.includes(1))!;
    // 8 bytes, the rest of the directory, then worker 1's message (the first one).
    expect(mine.offset).toBe(directory.directoryBytes);
    expect(at1.counters).toMatchObject({ gets: 3, getBytes: directory.directoryBytes + mine.length, lists: 0 });
    expect(sent.publishedBytes).toBe(directory.objectBytes);
  });

  it('keeps a later layer\'s object for that layer: each receive reads only its own layer\'s keys', async () => {
    const runKey = freshRunKey();
    const chans = channels(runKey, 2, 4);
    const layer1 = [row(2, [0], [1])], layer2 = [row(9, [3], [4])];
    await chans[0].send(2, [{ targets: [1], rows: layer2 }], [1]);
    await chans[0].send(1, [{ targets: [1], rows: layer1 }], [1]);
    const first = await chans[1].receive(1, [0], soon(10_000));
    expect(plain(first.rows)).toEqual(plain(layer1));
    const second = await chans[1].receive(2, [0], soon(10_000));
    expect(plain(second.rows)).toEqual(plain(layer2));
    expect([first.counters.gets, second.counters.gets]).toEqual([1, 1]);
  });

  it('fails when an object changes between its two reads (other content under the same key)', async () => {
    const runKey = freshRunKey();
    const small: ObjectSettings = { ...SETTINGS, readiness: { ...SETTINGS.readiness, firstRangeBytes: 40 } };
    const groups = (value: number): RowGroup[] => [
      { targets: [1], rows: [row(2, [0, 1, 2, 3], [1, 2, 3, 4])] },
      { targets: [2], rows: [row(3, [0, 2], [value, 6]), row(4, [1], [7])] },
    ];
    let senders: ObjectChannel[] = [];
    let rewritten = false;
    const { s3 } = observedS3(async (command, error) => {
      if (!rewritten && !error && command.constructor.name === 'GetObjectCommand') {
        rewritten = true;
        await senders[0].send(1, groups(99), [1, 2]);
      }
    });
    senders = channels(runKey, 3, 4, fauxqs.s3, small);
    await senders[0].send(1, groups(5), [1, 2]);
    const reader = channels(runKey, 3, 4, s3, small)[2];
    await expect(reader.receive(1, [0], soon(10_000))).rejects.toThrow(
      new RegExp(`^s3://${BUCKETS[1]}/${runKey}/1/0 changed or vanished between two reads of it \\(its source wrote it again with other content, or it was removed\\)$`),
    );
  });

  it('fails at its deadline naming the run, layer, worker and the missing source; no rows from incomplete data', async () => {
    const runKey = freshRunKey();
    const chans = channels(runKey, 3, 4);
    await chans[0].send(1, [{ targets: [2], rows: [row(1, [0], [1])] }], [2]);
    const error = await chans[2].receive(1, [0, 1], soon(1500)).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelTimeoutError);
    expect((error as Error).message).toMatch(/^layer 1, worker 2: run 7: receive gave up at its deadline after \d+\.\d s; missing worker 1: nothing yet$/);
  });

  it('never reads an object of another attempt, and refuses an object whose content belongs to another run', async () => {
    const failed = `exec-${++runCount}/a1`, retried = failed.replace('/a1', '/a2');
    const old = [row(1, [0], [111])], fresh = [row(1, [0], [222])];
    // The failed attempt wrote worker 0's object; the retry has not yet.
    await channels(failed, 2, 4)[0].send(1, [{ targets: [1], rows: old }], [1]);
    const retry = channels(retried, 2, 4);
    const early = await retry[1].receive(1, [0], soon(600)).then(() => null, (e: unknown) => e);
    expect((early as Error).message).toMatch(/^layer 1, worker 1: run 7: receive gave up at its deadline after \d+\.\d s; missing worker 0: nothing yet$/);
    await retry[0].send(1, [{ targets: [1], rows: fresh }], [1]);
    expect(plain((await retry[1].receive(1, [0], soon(10_000))).rows)).toEqual(plain(fresh));

    // An object of run 8 under a run-7 key (a wrong run key): refused, naming both.
    const wrongKey = freshRunKey();
    const body = encodeExchangeObject({ run: 8, layer: 1, source: 0 }, packLayerRows([{ targets: [1], rows: old }], { run: 8, layer: 1, source: 0, samples: 4, codec: CODEC, transport: 'binary-attribute', peers: [1], multicastEmptyMarker: true }).messages);
    await fauxqs.s3.send(new PutObjectCommand({ Bucket: BUCKETS[1], Key: exchangeObjectKey(wrongKey, 1, 0), Body: body }));
    await expect(channels(wrongKey, 2, 4)[1].receive(1, [0], soon(10_000))).rejects.toThrow(
      new RegExp(`^s3://${BUCKETS[1]}/${wrongKey}/1/0: holds run 8, layer 1, worker 0; its key is run 7, layer 1, worker 0$`),
    );
  });

  it('refuses an object that has nothing for a worker expecting it (the source does not list it as a target)', async () => {
    const runKey = freshRunKey();
    const chans = channels(runKey, 3, 4);
    await chans[0].send(1, [{ targets: [1], rows: [row(1, [0], [1])] }], [1]);
    await expect(chans[2].receive(1, [0], soon(10_000))).rejects.toThrow(
      new RegExp(`^s3://${BUCKETS[1]}/${runKey}/1/0: nothing in it is addressed to worker 2 \\(its messages are for workers 1\\): the source does not count this worker among its targets$`),
    );
  });

  it('removeRunObjects deletes a run attempt\'s objects from every exchange bucket, 1,000 keys a call, and nothing of another attempt', async () => {
    const runKey = `exec-${++runCount}/a1`, other = `exec-${runCount}/a10`;
    const chans = channels(runKey, 2, 4);
    for (let layer = 1; layer <= 3; layer++) {
      await chans[0].send(layer, [{ targets: [1], rows: [row(layer, [0], [1])] }], [1]);
      await chans[1].send(layer, [], [0]);
    }
    await channels(other, 2, 4)[0].send(1, [], [1]);
    // 1,000 more keys in bucket 1 (layers 1 and 3 live there): two DeleteObjects calls for it.
    const filler = Array.from({ length: 1000 }, (_, i) => `${runKey}/filler/${i}`);
    for (let i = 0; i < filler.length; i += 50) {
      await Promise.all(filler.slice(i, i + 50).map((Key) => fauxqs.s3.send(new PutObjectCommand({ Bucket: BUCKETS[1], Key, Body: 'x' }))));
    }
    const removed = await removeRunObjects(fauxqs.s3, BUCKETS, runKey);
    // Bucket 0: layer 2's 2 objects; bucket 1: layers 1 and 3 (4 objects) and the filler, over 2 LIST pages.
    expect(removed).toEqual({ ...zeroCounters(), lists: 1 + 2, deletes: 1 + 2, deletedMessages: 2 + 1004 });
    for (const bucket of BUCKETS) {
      expect((await fauxqs.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${runKey}/` }))).KeyCount ?? 0).toBe(0);
    }
    expect((await fauxqs.s3.send(new ListObjectsV2Command({ Bucket: BUCKETS[1], Prefix: `${other}/` }))).KeyCount).toBe(1);
    expect(await removeRunObjects(fauxqs.s3, BUCKETS, runKey)).toEqual({ ...zeroCounters(), lists: 2 });
  }, 30_000);

  it('keys a run attempt\'s objects <execution>/attempt-<n>/<layer>/<source>, layer l in bucket l mod buckets', () => {
    expect(exchangeObjectKey(exchangeRunKey('exec-42', 2), 17, 5)).toBe('exec-42/attempt-2/17/5');
    expect([1, 2, 3, 10].map((l) => exchangeBucketIndex(l, 2))).toEqual([1, 0, 1, 0]);
    expect(() => channels(exchangeRunKey('exec-42', 2), 2, 4)).not.toThrow();
  });

  it('refuses a run key that is not a clean key prefix, and a bucket list that is not the plan\'s', () => {
    expect(() => channels('exec/', 2, 4)).toThrow(/^worker 0: run key "exec\/" is not a key prefix/);
    expect(() => new ObjectChannel({ run: RUN, runKey: 'r/a1', worker: 0, samples: 4, settings: SETTINGS, buckets: [BUCKETS[0]], s3: fauxqs.s3, codec: CODEC }))
      .toThrow(/^worker 0: the object channel has 1 exchange buckets, the plan 2$/);
  });
});

describe('object channel on the real data', () => {
  it('8 workers exchange the real layers 1-3 (first 1,000 inputs): rows bit-exact, one PUT per source, one GET per (target, source) pair', async () => {
    const paths = graphChallengePaths(defaultGraphChallengeDir());
    const network = readGraphChallengeNetwork(requireData(paths.weightsDir, 'the GraphChallenge weights'), { layers: 3 });
    const inputs = readInputTsv(requireData(paths.inputs!, 'the GraphChallenge inputs'), network.neurons, { limit: 1000 });
    const workers = 8;
    const partition = partitionNetwork(network, workers, 'hypergraph', { seed: 1 });
    const kernel = new SparseLayerKernel(network.neurons);
    const runKey = freshRunKey();
    const { s3, requests } = observedS3();
    const chans = channels(runKey, workers, inputs.rows, s3, SETTINGS, 1);
    let y: SparseRows = inputs;
    const totals = { puts: 0, gets: 0, lists: 0, pairs: 0, objectBytes: 0, getBytes: 0, readerBytes: 0 };
    for (let layer = 1; layer <= 3; layer++) {
      const r = routing(network, partition, y, layer);
      for (let s = 0; s < workers; s++) {
        const c = await chans[s].send(layer, sourceRowGroups(s, r.columns, r.targets, r.inputOwner, 'multicast'), r.peers[s]);
        totals.puts += c.puts;
        totals.objectBytes += c.publishedBytes;
        // Every reader of this object reads all of it (each is under the first range).
        totals.readerBytes += c.publishedBytes * r.peers[s].length;
      }
      const got = await Promise.all(chans.map((c, t) => c.receive(layer, r.sources[t], soon(60_000))));
      got.forEach((g, t) => {
        expect(plain(g.rows), `layer ${layer}, worker ${t}`).toEqual(plain(expectedRows(r, t)));
        totals.gets += g.counters.gets;
        totals.lists += g.counters.lists;
        totals.getBytes += g.counters.getBytes;
      });
      totals.pairs += r.sources.reduce((n, list) => n + list.length, 0);
      y = kernel.apply(y, prepareLayer(network.layers[layer - 1]), network.bias, network.activationCap);
    }
    expect(totals.puts).toBe(24);
    expect(totals.gets).toBe(totals.pairs);
    expect(totals.pairs).toBe(35);
    expect(totals.lists).toBe(0);
    expect(totals.getBytes).toBe(totals.readerBytes);
    expect(requests).toEqual({ PutObjectCommand: 24, GetObjectCommand: 35, ListObjectsV2Command: 0 });
  }, 60_000);
});
