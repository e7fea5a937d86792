// The SNS -> SQS queue channel over fauxqs (in process, loopback): the plan's resources are
// created from its settings and names, workers exchange rows, and every worker gets exactly the
// rows routing.ts sends it, bit for bit, with duplicates, early layers, empty markers and a
// missing source handled as issue 8 says.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetSubscriptionAttributesCommand, PublishBatchCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { MemoryBus, MemoryChannel } from '../../functions/channels/memory-channel.ts';
import { startLocalFauxqs, type Fauxqs } from '../helpers/fauxqs.ts';
import { QueueChannel } from '../../functions/channels/queue-channel.ts';
import { createQueueResources, queueResourceList, workerFilterPolicy, type QueueResources, type QueueSettings } from '../../functions/channels/queue-resources.ts';
import { packLayerRows, type RowGroup } from '../../functions/channels/packing.ts';
import { activationColumns, activationRow, rowTargets, sourceRowGroups } from '../../functions/channels/routing.ts';
import { toQueueMessage } from '../../functions/channels/transport.ts';
import type { ActivationRow, WireCodec } from '../../functions/channels/wire.ts';
import { zeroCounters, type ChannelCounters } from '../../functions/channels/channel.ts';
import { ChannelTimeoutError, RunFailedError } from '../../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseRows } from '../../model/network.ts';
import { prepareLayer, SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { copyRows } from '../../functions/serial/serial-inference.ts';
import { partitionNetwork } from '../../planner/partition/index.ts';
import { planNames } from '../../planner/plan/names.ts';
import { TARGETS_ATTRIBUTE } from '../../planner/plan/build.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';

// plan.json channel.queue as planner/plan/build.ts writes it, with 1-second long polls to keep the file fast.
const SETTINGS: QueueSettings = {
  topics: 2,
  subscriptions: 'every-queue-every-topic',
  filterAttribute: TARGETS_ATTRIBUTE,
  filterPolicyPattern: JSON.stringify({ [TARGETS_ATTRIBUTE]: [{ wildcard: '*,<worker>,*' }] }),
  rawMessageDelivery: true,
  maximumMessageSizeBytes: AWS_LIMITS.sqsMessageMaxBytes.value,
  bodyEncoding: 'base64',
  chunkBytes: 193536,
  attributeAllowanceBytes: 4096,
  publishBatchEntries: 10,
  publishBatchBytes: AWS_LIMITS.snsPublishBatchBytes.value,
  receiveBatchMessages: 10,
  waitTimeSeconds: 1,
  visibilityTimeoutSeconds: 60,
  messageRetentionSeconds: 600,
  deadLetter: { maxReceiveCount: 3, messageRetentionSeconds: 1209600 },
};
const CODEC: WireCodec = { name: 'zstd', level: 3 };
const RUN = 7;
const EXPECTED_MULTICAST_BYTES = 78;
const EXPECTED_EMPTY_BYTES = 44;

const plain = (rows: readonly ActivationRow[]) =>
  rows.map((r) => ({ neuron: r.neuron, samples: Array.from(r.sampleIndex), bits: Array.from(new Uint32Array(r.value.buffer, r.value.byteOffset, r.value.length)) }));
const row = (neuron: number, samples: number[], values: number[]): ActivationRow =>
  ({ neuron, sampleIndex: Uint32Array.from(samples), value: Float32Array.from(values) });

let fauxqs: Fauxqs;
let planCount = 0;

beforeAll(async () => { fauxqs = await startLocalFauxqs(); });
afterAll(async () => { await fauxqs?.stop(); });

/** A fresh set of the plan's topics and queues (its own plan id, so tests never share a queue). */
async function deploy(workers: number): Promise<QueueResources> {
  const names = planNames({
    planId: `00000000000000${String(++planCount).padStart(2, '0')}`, stackPrefix: 'qtest', workers, functionIds: [],
    topics: SETTINGS.topics, queues: workers, deadLetterQueue: true, exchangeBuckets: 0,
  });
  return createQueueResources(queueResourceList({ channel: { kind: 'queue', queue: SETTINGS, object: null }, names: { ...names, functions: {}, topics: [...names.topics], queues: [...names.queues], exchangeBuckets: [] } }), fauxqs.sns, fauxqs.sqs);
}

function channels(resources: QueueResources, samples: number, multicast: boolean): QueueChannel[] {
  return resources.queueUrls.map((queueUrl, worker) => new QueueChannel({
    run: RUN, worker, samples, settings: SETTINGS, topicArns: resources.topicArns, queueUrl, sns: fauxqs.sns, sqs: fauxqs.sqs, codec: CODEC, multicast,
  }));
}

const soon = (ms: number) => Date.now() + ms;

describe('queue resources from plan.json', () => {
  it('lists every queue subscribed to every topic with its own filter, raw delivery and the DLQ redrive', () => {
    const names = planNames({ planId: 'abcdef0123456789', stackPrefix: 'qtest', workers: 3, functionIds: [], topics: 2, queues: 3, deadLetterQueue: true, exchangeBuckets: 0 });
    const list = queueResourceList({ channel: { kind: 'queue', queue: SETTINGS, object: null }, names: { ...names, functions: {}, topics: [...names.topics], queues: [...names.queues], exchangeBuckets: [] } });
    expect(list.topics).toEqual(['qtest-abcdef0123456789-t0', 'qtest-abcdef0123456789-t1']);
    expect(list.queues.map((q) => q.name)).toEqual(['qtest-abcdef0123456789-w0', 'qtest-abcdef0123456789-w1', 'qtest-abcdef0123456789-w2']);
    expect(list.queues[0].attributes).toEqual({ MaximumMessageSize: '262144', VisibilityTimeout: '60', MessageRetentionPeriod: '600', ReceiveMessageWaitTimeSeconds: '1' });
    expect(list.deadLetterQueue).toEqual({ name: 'qtest-abcdef0123456789-dlq', attributes: { MessageRetentionPeriod: '1209600' }, maxReceiveCount: 3 });
    expect(list.subscriptions.map((s) => [s.topic, s.worker])).toEqual([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
    expect(list.subscriptions[5].attributes).toEqual({ RawMessageDelivery: 'true', FilterPolicyScope: 'MessageAttributes', FilterPolicy: '{"targets":[{"wildcard":"*,2,*"}]}' });
    expect(workerFilterPolicy(SETTINGS, 12)).toBe('{"targets":[{"wildcard":"*,12,*"}]}');
  });
});

describe('queue channel over fauxqs', () => {
  it('creates the listed queues with the DLQ redrive and the subscriptions with filter and raw delivery', async () => {
    const resources = await deploy(2);
    expect(resources.topicArns.length).toBe(2);
    expect(resources.subscriptionArns.length).toBe(4);
    const queue = await fauxqs.sqs.send(new GetQueueAttributesCommand({ QueueUrl: resources.queueUrls[1], AttributeNames: ['All'] }));
    const dlqArn = (await fauxqs.sqs.send(new GetQueueAttributesCommand({ QueueUrl: resources.deadLetterQueueUrl!, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn;
    expect(queue.Attributes!.MaximumMessageSize).toBe('262144');
    expect(queue.Attributes!.VisibilityTimeout).toBe('60');
    expect(JSON.parse(queue.Attributes!.RedrivePolicy!)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 });
    // Subscriptions are topic-major: topic 1, worker 1 is the last.
    const sub = await fauxqs.sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: resources.subscriptionArns[3] }));
    expect(sub.Attributes!.RawMessageDelivery).toBe('true');
    expect(sub.Attributes!.FilterPolicy).toBe('{"targets":[{"wildcard":"*,1,*"}]}');
    expect(sub.Attributes!.Endpoint).toBe(resources.queueArns[1]);
  });

  it('4 workers exchange one generated layer: each gets exactly the rows routed to it, bit-exact, unicast and multicast', async () => {
    const workers = 4, samples = 300;
    const network = generateRadixNetwork({ neurons: 64, layers: 3, seed: 3, connections: 16, weight: 1 / 8, bias: -0.05 });
    const kernel = new SparseLayerKernel(64);
    const activations: SparseRows[] = [generateInputs({ neurons: 64, samples, seed: 3 })];
    for (const layer of network.layers) activations.push(copyRows(kernel.apply(activations.at(-1)!, prepareLayer(layer), network.bias, network.activationCap)));
    const partition = partitionNetwork(network, workers, 'hypergraph', { seed: 1 });
    const layer = 2;
    const inputOwner = partition.maps[layer - 1].owner;
    const columns = activationColumns(activations[layer - 1]);
    const targets = rowTargets(network.layers[layer - 1], inputOwner, partition.maps[layer].owner, workers);
    const everyone = [0, 1, 2, 3];
    const published: Record<string, { messages: number; deliveries: number }> = {};
    for (const mode of ['unicast', 'multicast'] as const) {
      const chans = channels(await deploy(workers), samples, mode === 'multicast');
      let messages = 0, packedMessages = 0, packedDeliveries = 0;
      for (const source of everyone) {
        const groups = sourceRowGroups(source, columns, targets, inputOwner, mode);
        const peers = everyone.filter((w) => w !== source);
        const counters = await chans[source].send(layer, groups, peers);
        messages += counters.publishedMessages;
        const packed = packLayerRows(groups, { run: RUN, layer, source, samples, codec: CODEC, transport: 'base64-body', peers, multicastEmptyMarker: mode === 'multicast' }).messages;
        packedMessages += packed.length;
        for (const m of packed) packedDeliveries += m.targets.length;
      }
      const received = await Promise.all(everyone.map((w) => chans[w].receive(layer, everyone.filter((s) => s !== w), soon(20_000))));
      const deliveries = received.reduce((n, r) => n + r.counters.receivedMessages, 0);
      expect(messages).toBe(packedMessages);
      expect(deliveries).toBe(packedDeliveries);
      published[mode] = { messages, deliveries };
      for (const target of everyone) {
        const expected: ActivationRow[] = [];
        for (let k = 0; k < 64; k++) {
          const needs = Array.from(targets.target.subarray(targets.start[k], targets.start[k + 1])).includes(target);
          if (needs && columns.start[k + 1] > columns.start[k]) expected.push(activationRow(columns, k));
        }
        expect(expected.length).toBeGreaterThan(0);
        expect(plain(received[target].rows)).toEqual(plain(expected));
        expect(received[target].counters.duplicates).toBe(0);
      }
    }
    // Multicast publishes a row needed by several workers once; SNS delivers it to each of them.
    expect(published).toEqual({ unicast: { messages: 12, deliveries: 12 }, multicast: { messages: 8, deliveries: 12 } });
  });

  it('multicast publishes once for several targets and an empty marker tells a receiver a source had nothing: exact counters', async () => {
    const chans = channels(await deploy(3), 4, true);
    const groups: RowGroup[] = [{ targets: [1, 2], rows: [row(5, [0, 3], [0.5, 1]), row(6, [1], [2])] }];
    const sent0 = await chans[0].send(1, groups, [1, 2]);
    const sent1 = await chans[1].send(1, [], [2]); // worker 1 has nothing for worker 2: one empty marker
    const expectedBytes0 = packLayerRows(groups, { run: RUN, layer: 1, source: 0, samples: 4, codec: CODEC, transport: 'base64-body', peers: [1, 2], multicastEmptyMarker: true }).messages[0].queueBytes;
    const zero: ChannelCounters = zeroCounters();
    expect(sent0).toEqual({ ...zero, publishes: 1, publishedMessages: 1, publishedBytes: expectedBytes0 });
    expect(expectedBytes0).toBe(EXPECTED_MULTICAST_BYTES);
    expect(sent1).toEqual({ ...zero, publishes: 1, publishedMessages: 1, publishedBytes: EXPECTED_EMPTY_BYTES });
    const at1 = await chans[1].receive(1, [0], soon(10_000));
    const at2 = await chans[2].receive(1, [0, 1], soon(10_000));
    const rows = plain(groups[0].rows);
    expect(plain(at1.rows)).toEqual(rows);
    expect(plain(at2.rows)).toEqual(rows);
    expect(at1.counters).toEqual({ ...zero, receives: 1, receivedMessages: 1, deletes: 1, deletedMessages: 1 });
    expect(at2.counters).toEqual({ ...zero, receives: 1, receivedMessages: 2, deletes: 1, deletedMessages: 2 });
  });

  it('drops a duplicated message by its key', async () => {
    const resources = await deploy(2);
    const chans = channels(resources, 4, false);
    const groups: RowGroup[] = [{ targets: [1], rows: [row(3, [0, 1, 2], [1, 2, 3])] }];
    await chans[0].send(1, groups, [1]);
    // The same message again, as SQS's at-least-once delivery may hand it over.
    const again = packLayerRows(groups, { run: RUN, layer: 1, source: 0, samples: 4, codec: CODEC, transport: 'base64-body', peers: [1], multicastEmptyMarker: false }).messages[0];
    await fauxqs.sns.send(new PublishBatchCommand({ TopicArn: resources.topicArns[0], PublishBatchRequestEntries: [{ Id: '0', ...toQueueMessage('base64-body', again.wire, again.targets) }] }));
    const got = await chans[1].receive(1, [0], soon(10_000));
    expect(plain(got.rows)).toEqual(plain(groups[0].rows));
    expect(got.counters.receivedMessages).toBe(2);
    expect(got.counters.duplicates).toBe(1);
    expect(got.counters.deletedMessages).toBe(2);
  });

  it('keeps an early message of layer l+1 for that layer', async () => {
    const chans = channels(await deploy(2), 4, false);
    const layer2: RowGroup[] = [{ targets: [1], rows: [row(9, [3], [4])] }];
    const layer1: RowGroup[] = [{ targets: [1], rows: [row(2, [0], [1])] }];
    await chans[0].send(2, layer2, [1]);
    await chans[0].send(1, layer1, [1]);
    const first = await chans[1].receive(1, [0], soon(10_000));
    expect(plain(first.rows)).toEqual(plain(layer1[0].rows));
    expect(first.counters.receivedMessages).toBe(2);
    const second = await chans[1].receive(2, [0], soon(10_000));
    expect(plain(second.rows)).toEqual(plain(layer2[0].rows));
    expect(second.counters.receives).toBe(0); // already held: no call to SQS
  });

  it('a worker of a failed attempt releases a message of the next attempt at once and stops; the next attempt gets it', async () => {
    const resources = await deploy(2);
    const open = (run: number, worker: number, supersedingRuns?: Set<number>) => new QueueChannel({
      run, worker, samples: 4, settings: SETTINGS, topicArns: resources.topicArns, queueUrl: resources.queueUrls[worker], sns: fauxqs.sns, sqs: fauxqs.sqs, codec: CODEC, multicast: false, supersedingRuns,
    });
    const NEXT = RUN + 1;
    const stale = open(RUN, 1, new Set([NEXT]));
    const groups: RowGroup[] = [{ targets: [1], rows: [row(5, [1, 3], [2, 4])] }];
    await open(NEXT, 0).send(1, groups, [1]);
    const error = await stale.receive(1, [0], soon(5_000)).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(RunFailedError);
    expect((error as Error).message).toBe(`layer 1, worker 1: run ${RUN}: a later attempt (run ${NEXT}) of this stage has started, so this attempt stops`);
    // Visible again at once, not after the 60 s visibility timeout.
    const got = await open(NEXT, 1).receive(1, [0], soon(5_000));
    expect(plain(got.rows)).toEqual(plain(groups[0].rows));
  });

  it('fails at its deadline naming the run, layer, worker and the missing source; no rows from incomplete data', async () => {
    const chans = channels(await deploy(3), 4, false);
    await chans[0].send(1, [{ targets: [2], rows: [row(1, [0], [1])] }], [2]);
    const error = await chans[2].receive(1, [0, 1], soon(1500)).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelTimeoutError);
    expect((error as Error).message).toMatch(/^layer 1, worker 2: run 7: receive gave up at its deadline after \d+\.\d s; missing worker 1: nothing yet$/);
  });
});

describe('memory channel (for unit tests above a channel)', () => {
  it('keeps the channel contract: rows to their targets, empty markers, early layers, a deadline error', async () => {
    const bus = new MemoryBus();
    const chans = [0, 1, 2].map((worker) => new MemoryChannel({ bus, run: RUN, worker, samples: 4, codec: CODEC, multicast: true }));
    const rows = [row(5, [0, 3], [0.5, 1])];
    await chans[0].send(2, [{ targets: [1], rows: [row(8, [2], [3])] }], [1]);
    expect((await chans[0].send(1, [{ targets: [1, 2], rows }], [1, 2])).publishedMessages).toBe(1);
    await chans[1].send(1, [], [2]);
    expect(plain((await chans[2].receive(1, [0, 1], soon(5000))).rows)).toEqual(plain(rows));
    expect(plain((await chans[1].receive(1, [0], soon(5000))).rows)).toEqual(plain(rows));
    expect(plain((await chans[1].receive(2, [0], soon(5000))).rows)).toEqual([{ neuron: 8, samples: [2], bits: [0x40400000] }]);
    await expect(chans[2].receive(2, [0, 1], soon(50))).rejects.toThrow(/^layer 2, worker 2: run 7: receive gave up at its deadline after \d+\.\d s; missing worker 0: nothing yet; worker 1: nothing yet$/);
  });
});
