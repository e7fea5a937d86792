// The planner's traffic model against the code it models: the byte layouts it mirrors equal the
// encoders', its send groups equal the runtime's row groups, and on a generated case its messages,
// publishes, objects and bytes are the ones the channels' packing really produces.
import { describe, expect, it } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseRows } from '../../model/network.ts';
import { prepareLayer, SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';
import { measureParts, rowContentClasses } from '../../functions/serial/traffic-profile.ts';
import { DEFAULT_WIRE_CODEC, encodeWireMessage, headerBytesBound } from '../../functions/channels/wire.ts';
import { packLayerRows } from '../../functions/channels/packing.ts';
import { activationColumns, rowTargets, sourceRowGroups } from '../../functions/channels/routing.ts';
import { publishBatches, queueMessageBytes as runtimeQueueMessageBytes, maxWireBytes } from '../../functions/channels/transport.ts';
import { encodeExchangeObject } from '../../functions/channels/exchange-object.ts';
import { OBJECT_MESSAGE_LIMIT_BYTES as RUNTIME_OBJECT_MESSAGE_LIMIT_BYTES } from '../../functions/channels/object-channel.ts';
import { encodeSlice } from '../../functions/storage/slice-codec.ts';
import {
  exchangeObjectBytes, layerSendGroups, maxQueueWireBytes, OBJECT_MESSAGE_LIMIT_BYTES, publishBatchCount, queueChunkBytes,
  queueMessageBytes, sliceObjectBytes, wireHeaderBytes, wireHeaderBytesBound,
} from '../../planner/optimize/wire-traffic.ts';
import { partPayloadBytes } from '../../planner/latency/workload.ts';
import { partitionNetwork } from '../../planner/partition/index.ts';
import { partitionStats } from '../../planner/optimize/partition-stats.ts';
import { ConfigModel } from '../../planner/optimize/estimate.ts';
import { estimateContext } from '../../planner/optimize/search.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import { defaultCalibrationProfile } from '../../planner/latency/index.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';

describe('byte layouts the planner mirrors', () => {
  it('wire headers: the exact size of encodeWireMessage\'s, with a 5-byte run number, and the same bound', () => {
    for (const [targets, parts, layer, body] of [[[3], [1], 2, 0], [[0, 2, 5], [2, 1, 3], 120, 70_000], [[7], [300], 1, 3_000_000]] as const) {
      const payload = new Uint8Array(body === 0 ? 0 : 100);
      const wire = encodeWireMessage({
        run: 0xdeadbeef, layer, source: 1, samples: 10_000, part: 4, chunkIndex: 0, chunkCount: 1, empty: body === 0, codec: body === 0 ? 'none' : 'brotli',
        targets: targets.map((worker, i) => ({ worker, parts: parts[i] })), bodyBytes: body,
      }, payload);
      expect(wireHeaderBytes({ layer, source: 1, samples: 10_000, part: 4, chunkIndex: 0, chunkCount: 1, targets, partsPerTarget: parts, bodyBytes: body, payloadBytes: payload.length }))
        .toBe(wire.length - payload.length);
      expect(wireHeaderBytesBound(targets.length)).toBe(headerBytesBound(targets.length));
    }
  });

  it('queue messages, batches and limits: transport.ts\'s', () => {
    for (const targets of [[0], [1, 4, 7], Array.from({ length: 40 }, (_, i) => i)]) {
      for (const wire of [0, 1, 2, 3, 1000, 193_536]) expect(queueMessageBytes(wire, targets)).toBe(runtimeQueueMessageBytes('base64-body', wire, targets));
      expect(maxQueueWireBytes(targets, AWS_LIMITS.sqsMessageMaxBytes.value)).toBe(maxWireBytes('base64-body', targets));
    }
    const sizes = [200_000, 30_000, 30_000, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 262_144, 1];
    expect(publishBatchCount(sizes)).toBe(publishBatches(sizes).length);
    expect(publishBatchCount(sizes, 3)).toBe(publishBatches(sizes, { maxEntries: 3 }).length);
    expect(publishBatchCount([])).toBe(0);
    expect(queueChunkBytes(262_144)).toBe(193_536);
    expect(OBJECT_MESSAGE_LIMIT_BYTES).toBe(RUNTIME_OBJECT_MESSAGE_LIMIT_BYTES);
  });

  it('exchange objects and activation slices: their encoders\' sizes', () => {
    const messages = [{ wire: new Uint8Array(130), targets: [1, 2] }, { wire: new Uint8Array(20_000), targets: [5] }, { wire: new Uint8Array(40), targets: [0, 3, 6] }];
    const object = encodeExchangeObject({ run: 0xdeadbeef, layer: 17, source: 4 }, messages);
    expect(exchangeObjectBytes(messages.map((m) => ({ wireBytes: m.wire.length, targets: m.targets })), 17, 4)).toBe(object.length);
    const rows: SparseRows = { rows: 3, columns: 8, rowStart: Uint32Array.of(0, 2, 2, 3), columnIndex: Uint32Array.of(1, 5, 5), value: Float32Array.of(1, 2, 3) };
    expect(sliceObjectBytes(2, 3, 3)).toBe(encodeSlice({ neurons: Uint32Array.of(1, 5), rows }).length);
  });
});

describe('send groups', () => {
  it('are the runtime\'s row groups: per source, the rows each exact set of targets reads (multicast)', () => {
    const network = generateRadixNetwork({ neurons: 1024, layers: 3, seed: 4 });
    const partition = partitionNetwork(network, 5, 'random', { seed: 3 });
    // Every row nonzero: the runtime sends every row with targets.
    const dense: SparseRows = { rows: 1, columns: 1024, rowStart: Uint32Array.of(0, 1024), columnIndex: Uint32Array.from({ length: 1024 }, (_, k) => k), value: new Float32Array(1024).fill(1) };
    const columns = activationColumns(dense);
    for (let l = 1; l <= 3; l++) {
      const inOwner = partition.maps[l - 1].owner, outOwner = partition.maps[l].owner;
      const planned = layerSendGroups(network.layers[l - 1], inOwner, outOwner, 5);
      const targets = rowTargets(network.layers[l - 1], inOwner, outOwner, 5);
      const runtime = Array.from({ length: 5 }, (_, w) => sourceRowGroups(w, columns, targets, inOwner, 'multicast')
        .map((g) => ({ source: w, targets: [...g.targets], neurons: g.rows.map((r) => r.neuron) }))).flat();
      expect(planned.map((g) => ({ source: g.source, targets: [...g.targets], neurons: Array.from(g.neurons) }))).toEqual(runtime);
      expect(planned.length).toBeGreaterThanOrEqual(5);
    }
  });
});

describe('part payloads', () => {
  it('interpolate the measured table in rows and scale with nonzeros', () => {
    const model = { rows: [1, 2, 4], nonzeros: [10, 20, 40], payloadBytes: [100, 150, 200], duplicateRowBytes: 1 };
    expect(partPayloadBytes(model, 1, 10)).toBe(100);
    expect(partPayloadBytes(model, 3, 30)).toBe(175);
    expect(partPayloadBytes(model, 3, 60)).toBe(350);
    expect(partPayloadBytes(model, 0.5, 5)).toBe(50);
    expect(partPayloadBytes(model, 9, 40)).toBe(200);
    expect(partPayloadBytes({ rows: [], nonzeros: [], payloadBytes: [], duplicateRowBytes: 0 }, 3, 3)).toBe(0);
  });

  it('are measured on distinct rows: equal rows share a class, a repeat costs little', () => {
    // Two pairs of equal rows (neurons 0 = 2 and 1 = 3 over the samples), neuron 4 alone, 5 empty.
    const y: SparseRows = {
      rows: 3, columns: 6, rowStart: Uint32Array.of(0, 5, 9, 10),
      columnIndex: Uint32Array.of(0, 1, 2, 3, 4, 0, 1, 2, 3, 4), value: Float32Array.of(1, 2, 1, 2, 5, 3, 4, 3, 4, 6),
    };
    const columns = activationColumns(y);
    expect(Array.from(rowContentClasses(columns))).toEqual([0, 1, 0, 1, 2, -1]);
    const { parts } = measureParts(columns, rowContentClasses(columns), DEFAULT_WIRE_CODEC, 1);
    expect(parts.map((p) => p.rows)).toEqual([1, 1, 2, 2, 3]);
  });
});

describe('the measured traffic of a generated case against the channels\' packing', () => {
  const network = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 2 });
  const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 2 });
  const workload = profileWorkload(network, inputs);
  const ctx = estimateContext(network, workload, { prices: defaultPrices(), calibration: defaultCalibrationProfile() });

  /** What packLayerRows makes of the real activations for the queue channel, layers 2..L. */
  function packed(p: number) {
    const partition = partitionNetwork(network, p, 'hypergraph', { seed: 1 });
    const kernel = new SparseLayerKernel(1024);
    let y = kernel.apply(inputs, prepareLayer(network.layers[0]), network.bias, network.activationCap);
    let messages = 0, publishes = 0, bytes = 0;
    for (let l = 2; l <= network.layers.length; l++) {
      const inOwner = partition.maps[l - 1].owner;
      const targets = rowTargets(network.layers[l - 1], inOwner, partition.maps[l].owner, p);
      const columns = activationColumns(y);
      for (let w = 0; w < p; w++) {
        const peers = [...new Set(Array.from({ length: 1024 }, (_, k) => k).filter((k) => inOwner[k] === w).flatMap((k) => Array.from(targets.target.subarray(targets.start[k], targets.start[k + 1]))))].sort((a, b) => a - b);
        if (peers.length === 0) continue;
        const out = packLayerRows(sourceRowGroups(w, columns, targets, inOwner, 'multicast'), {
          run: 1, layer: l, source: w, samples: 300, codec: DEFAULT_WIRE_CODEC, transport: 'base64-body', peers, multicastEmptyMarker: true, chunkBytes: queueChunkBytes(AWS_LIMITS.sqsMessageMaxBytes.value),
        });
        messages += out.messages.length;
        bytes += out.messages.reduce((t, m) => t + m.queueBytes, 0);
        publishes += publishBatches(out.messages.map((m) => m.queueBytes)).length;
      }
      y = kernel.apply(y, prepareLayer(network.layers[l - 1]), network.bias, network.activationCap);
    }
    return { partition, messages, publishes, bytes };
  }

  // Generated inputs die out within a few layers: a handful of small parts (4 messages at P = 4, 16
  // at P = 8, none at P = 2), where the part tables overestimate by a quarter to a third. On the
  // real case the bytes are within 8% at P = 2, 4, 8 (npm run bench -- distributed); here the
  // ratios are pinned so a change of the model shows.
  it.each([[2, 0], [4, 1.329], [8, 1.238]])('P = %i: the same messages and publishes as packing.ts, bytes x%f', (p, ratio) => {
    const real = packed(p);
    const model = new ConfigModel(ctx, partitionStats(network, real.partition), { workers: p, channel: 'queue', launch: { kind: 'map' }, workflowType: 'STANDARD' });
    const traffic = model.exchangeTraffic(1, network.layers.length);
    const counters = model.exchangeCounters(1, network.layers.length);
    expect(traffic.messages).toBe(real.messages);
    expect(counters.snsPublishCalls).toBe(real.publishes);
    if (ratio === 0) expect([real.bytes, counters.snsPublishedBytes]).toEqual([0, 0]);
    else expect(counters.snsPublishedBytes / real.bytes).toBeCloseTo(ratio, 3);
  });
});
