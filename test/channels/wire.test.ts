import { describe, expect, it } from 'vitest';
import { deflateRawSync } from 'node:zlib';
import {
  decodeRowsBody, decodeWireMessage, decodePartPayload, encodeRowsBody, encodeWireMessage, parseWireCodec, wireCodecLabel,
  headerBytesBound, type ActivationRow, type WireAddress, type WireCodec,
} from '../../functions/channels/wire.ts';
import { packLayerRows, type RowGroup } from '../../functions/channels/packing.ts';
import { RowInbox } from '../../functions/channels/reassembly.ts';
import { activationColumns, activationRow, rowTargets, sourceRowGroups, type SendMode } from '../../functions/channels/routing.ts';
import {
  base64Bytes, fromQueueMessage, maxWireBytes, publishBatches, queueMessageBytes, toQueueMessage, type QueueTransport,
} from '../../functions/channels/transport.ts';
import { WireFormatError } from '../../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseRows } from '../../model/network.ts';
import { SeededRandom } from '../../model/random.ts';
import { prepareLayer, SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { copyRows } from '../../functions/serial/serial-inference.ts';
import { communicationVolume, partitionNetwork } from '../../planner/partition/index.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];
const bitsOf = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
const row = (neuron: number, samples: number[], values: number[]): ActivationRow =>
  ({ neuron, sampleIndex: Uint32Array.from(samples), value: Float32Array.from(values) });
const plain = (rows: readonly ActivationRow[]) => rows.map((r) => ({ neuron: r.neuron, samples: Array.from(r.sampleIndex), bits: bitsOf(r.value) }));

// A message written by hand from the layout in the header comment of functions/channels/wire.ts.
const HAND_BODY = [
  0x04, 0x02, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x42, // 4 rows; palette [0.5, 32]
  0x04, 0x08, 0x02, 0x00, 0x0e, 0x00, 0x01, //                  neuron 4: LIST samples 0, 15; PALETTE codes 0, 1
  0x01, 0x06, 0x00, 0x00, 0x00, 0x42, //                        neuron 6: SAME samples; CONST 32
  0x00, 0x0e, //                                                neuron 7: SAME samples; SAME values
  0xc0, 0x01, 0x09, 0x06, 0x03, 0x01, 0xaf, //                  neuron 200: BITMAP 6 samples from 3: 0b10101111
  0x00, 0x01, 0x00, 0x01, 0x01, 0x00, //                                    PALETTE codes
];
const HAND_MESSAGE = Uint8Array.from([
  0x53, 0x57, 0x01, 0x00, //                   "SW", version 1, flags: not empty, codec none
  0x07, 0x03, 0x02, 0x14, 0x00, 0x00, 0x01, // run 7, layer 3, source 2, 20 samples, part 0, chunk 0 of 1
  0x02, 0x01, 0x01, 0x05, 0x02, //             2 targets: worker 1 expects 1 part, worker 5 expects 2
  0x26, 0x26, 0x69, 0x13, 0xa5, 0xb8, //       body 38 bytes, payload 38 bytes, CRC-32 0xb8a51369 (from Python's zlib)
  ...HAND_BODY,
]);
const HAND_ROWS = [
  row(4, [0, 15], [0.5, 32]),
  row(6, [0, 15], [32, 32]),
  row(7, [0, 15], [32, 32]),
  row(200, [3, 4, 5, 6, 8, 10], [0.5, 32, 0.5, 32, 32, 0.5]),
];
const HAND_ADDRESS: WireAddress = {
  run: 7, layer: 3, source: 2, samples: 20, part: 0, chunkIndex: 0, chunkCount: 1, empty: false, codec: 'none',
  targets: [{ worker: 1, parts: 1 }, { worker: 5, parts: 2 }], bodyBytes: 38,
};

describe('wire format, version 1', () => {
  it('decodes a hand-made message', () => {
    const { header, payload } = decodeWireMessage(HAND_MESSAGE);
    expect(header).toEqual({
      ...HAND_ADDRESS, version: 1, payloadBytes: 38, payloadCrc32: 0xb8a51369, headerBytes: 22,
    });
    const rows = decodePartPayload(header, payload);
    expect(plain(rows)).toEqual(plain(HAND_ROWS));
    // SAME shares the previous row's arrays instead of copying them.
    expect(rows[1].sampleIndex).toBe(rows[0].sampleIndex);
    expect(rows[2].value).toBe(rows[1].value);
  });

  it('encodes those rows to exactly the hand-made bytes', () => {
    const stats = { sampleEntries: 0, valueEntries: 0 };
    const body = encodeRowsBody(HAND_ROWS, 20, stats);
    expect(Array.from(body)).toEqual(HAND_BODY);
    // Rows 4 and 200 spell out their samples and palette codes; rows 6 and 7 repeat or are constant.
    expect(stats).toEqual({ sampleEntries: 8, valueEntries: 8 });
    expect(encodeWireMessage(HAND_ADDRESS, body)).toEqual(HAND_MESSAGE);
  });

  it('copies float32 bit patterns exactly: -0, NaN payloads, subnormals, negatives (RAW values, bitmap samples)', () => {
    const special = [0x80000000, 0x7fc00001, 0x00000001, 0xc0600000]; // -0, a NaN with payload 1, the smallest subnormal, -3.5
    const rows = [{ neuron: 0, sampleIndex: Uint32Array.of(0, 1, 2, 3), value: new Float32Array(Uint32Array.from(special).buffer) }];
    const body = encodeRowsBody(rows, 4);
    expect(Array.from(body)).toEqual([
      0x01, 0x00, //                   1 row, no palette (4 distinct values in 4: a palette would not pay)
      0x00, 0x01, 0x04, 0x00, 0x01, 0x0f, // neuron 0, BITMAP + RAW, 4 samples from 0, bits 0-3
      0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0xc0, 0x7f, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0xc0,
    ]);
    const back = decodeRowsBody(body, 4);
    expect(bitsOf(back[0].value)).toEqual(special);
    expect(Object.is(back[0].value[0], -0)).toBe(true);
    // +0 and -0 are different values to the encoder: not a constant row.
    const mixed = decodeRowsBody(encodeRowsBody([row(3, [1, 2], [0, -0])], 3), 3);
    expect(bitsOf(mixed[0].value)).toEqual([0, 0x80000000]);
  });

  it('writes an empty row, a u16 palette and large ids and indices', () => {
    const many = Array.from({ length: 300 }, (_, i) => f32(0x3f800000 + i)); // 300 distinct values, each 3 times
    const big = row(70000, Array.from({ length: 900 }, (_, i) => 100000 + 7 * i), [...many, ...many, ...many]);
    const rows = [row(5, [], []), big, row(0xfffffffe, [199999], [1])];
    const body = encodeRowsBody(rows, 200000);
    expect(Array.from(body.subarray(1, 3))).toEqual([0xac, 0x02]); // palette of 300 (a 2-byte varint): u16 codes; the last row is a CONST
    expect(plain(decodeRowsBody(body, 200000))).toEqual(plain(rows));
  });

  it.each([
    [[row(2, [1], [1]), row(2, [3], [1])], 'neuron 2 follows neuron 2'],
    [[row(2, [3, 1], [1, 1])], 'sample index 1 at position 1 is not above the previous one'],
    [[row(2, [10], [1])], 'sample index 10 at position 0 is not below the 10 samples'],
    [[{ neuron: 1, sampleIndex: Uint32Array.of(1), value: new Float32Array(2) }], '1 sample indices but 2 values'],
  ])('refuses to encode malformed rows (%#)', (rows, message) => {
    expect(() => encodeRowsBody(rows as ActivationRow[], 10)).toThrow(message);
  });

  it('parses codec names', () => {
    expect(parseWireCodec('zstd-3')).toEqual({ name: 'zstd', level: 3 });
    expect(parseWireCodec('brotli')).toEqual({ name: 'brotli', level: 5 });
    expect(parseWireCodec('none')).toEqual({ name: 'none', level: 0 });
    expect(wireCodecLabel({ name: 'deflate', level: 9 })).toBe('deflate-9');
    expect(() => parseWireCodec('zstd-25')).toThrow('codec "zstd-25": level must be 1..19');
    expect(() => parseWireCodec('lz4')).toThrow('unknown codec "lz4"');
  });
});

describe('hostile and broken messages', () => {
  const cases: Array<[string, (m: Uint8Array) => Uint8Array, string | RegExp]> = [
    ['truncated payload', (m) => m.slice(0, m.length - 5), 'message from worker 2, layer 3, part 0, chunk 1 of 1: truncated: the header announces 38 payload bytes, 33 follow'],
    ['truncated header', (m) => m.slice(0, 9), 'queue message 17 (9 bytes): truncated: chunk index ends at offset 9, the end of the data'],
    ['wrong version', (m) => { const c = m.slice(); c[2] = 2; return c; }, 'queue message 17 (60 bytes): wire format version 2 is not supported (this build reads 1)'],
    ['bad magic', (m) => { const c = m.slice(); c[0] = 0x7b; return c; }, 'queue message 17 (60 bytes): not a stepinfer wire message (bad magic)'],
    ['reserved flag', (m) => { const c = m.slice(); c[3] = 0x10; return c; }, 'flags 0x10 have reserved bits set'],
    ['trailing bytes', (m) => Uint8Array.from([...m, 0, 0]), 'message from worker 2, layer 3, part 0, chunk 1 of 1: 2 unexpected bytes after the 38-byte payload'],
    ['flipped payload byte', (m) => { const c = m.slice(); c[40] ^= 4; return c; }, 'message from worker 2, layer 3, part 0, chunk 1 of 1: payload checksum mismatch: the message is corrupt'],
    ['chunk index past the count', (m) => { const c = m.slice(); c[9] = 1; return c; }, 'message from worker 2, layer 3, part 0, chunk 2 of 1: chunk index 1 is not below the chunk count 1'],
  ];
  it.each(cases)('%s', (_, corrupt, message) => {
    expect(() => decodeWireMessage(corrupt(HAND_MESSAGE), 'queue message 17')).toThrow(message);
    expect(() => decodeWireMessage(corrupt(HAND_MESSAGE), 'queue message 17')).toThrow(WireFormatError);
  });

  it('rejects a body that lies about its rows', () => {
    const body = Uint8Array.from(HAND_BODY);
    expect(() => decodeRowsBody(body.slice(0, 31), 20, 'part 0')).toThrow('part 0: row 3 (neuron 200): truncated: bitmap needs 1 bytes at offset 31, 0 left');
    const badCode = body.slice(); badCode[16] = 2;
    expect(() => decodeRowsBody(badCode, 20, 'part 0')).toThrow('part 0: row 0 (neuron 4): palette code 2 at position 1, the palette has 2 values');
    expect(() => decodeRowsBody(body, 12, 'part 0')).toThrow('part 0: row 0 (neuron 4): sample index 15 is not below the 12 samples');
    const sameFirst = Uint8Array.of(0x01, 0x00, 0x00, 0x02);
    expect(() => decodeRowsBody(sameFirst, 5)).toThrow("body: row 0 (neuron 0): the first row cannot repeat a previous row's samples");
    expect(() => decodeRowsBody(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00), 5)).toThrow('body: 4294967295 rows cannot fit in 0 bytes');
  });

  it('refuses to inflate a payload past the size its header declares', () => {
    const body = encodeRowsBody([row(1, [0, 1, 2], [1, 1, 1])], 3);
    const address: WireAddress = { ...HAND_ADDRESS, codec: 'deflate', bodyBytes: body.length - 1 };
    const wire = encodeWireMessage(address, deflateRawSync(body));
    const { header, payload } = decodeWireMessage(wire);
    expect(() => decodePartPayload(header, payload)).toThrow(/^part 0 from worker 2, layer 3: payload does not decompress with deflate to the 11 bytes the header says/);
  });
});

/** A small network whose activations go from sparse to saturated: every row form and value form appears. */
function smallCase() {
  const network = generateRadixNetwork({ neurons: 64, layers: 10, seed: 3, connections: 16, weight: 1 / 8, bias: -0.05 });
  const inputs = generateInputs({ neurons: 64, samples: 300, seed: 3 });
  const kernel = new SparseLayerKernel(64);
  const activations: SparseRows[] = [inputs];
  for (const layer of network.layers) activations.push(copyRows(kernel.apply(activations.at(-1)!, prepareLayer(layer), network.bias, network.activationCap)));
  return { network, activations };
}

describe('routing, packing and reassembly on a generated network', () => {
  const { network, activations } = smallCase();
  const workers = 4;
  const partition = partitionNetwork(network, workers, 'hypergraph', { seed: 1 });
  const everyone = [0, 1, 2, 3];

  it('routes exactly the row-sends the planner counts', () => {
    const volume = communicationVolume(network, partition);
    const perLayer = network.layers.map((layer, l) => rowTargets(layer, partition.maps[l].owner, partition.maps[l + 1].owner, workers).target.length);
    expect(perLayer).toEqual(volume.layers.map((v) => v.rowSends));
    expect(perLayer.reduce((a, b) => a + b)).toBe(volume.totalRowSends);
  });

  it('transposes activations into rows', () => {
    const columns = activationColumns(activations[1]);
    let total = 0;
    for (let k = 0; k < 64; k++) {
      const r = activationRow(columns, k);
      total += r.sampleIndex.length;
      for (let i = 0; i < r.sampleIndex.length; i++) {
        const y = activations[1];
        const s = r.sampleIndex[i];
        const at = y.columnIndex.subarray(y.rowStart[s], y.rowStart[s + 1]).indexOf(k);
        expect(y.value[y.rowStart[s] + at]).toBe(r.value[i]);
      }
    }
    expect(total).toBe(activations[1].rowStart[300]);
  });

  /** Every message of every source in one layer, delivered shuffled with duplicates; returns what each target took. */
  function exchange(layer: number, mode: SendMode, codec: WireCodec, transport: QueueTransport, limitBytes?: number) {
    const columns = activationColumns(activations[layer - 1]);
    const targets = rowTargets(network.layers[layer - 1], partition.maps[layer - 1].owner, partition.maps[layer].owner, workers);
    const sent: { targets: readonly number[]; wire: Uint8Array; queueBytes: number }[] = [];
    for (const source of everyone) {
      const groups = sourceRowGroups(source, columns, targets, partition.maps[layer - 1].owner, mode);
      const packed = packLayerRows(groups, {
        run: 9, layer, source, samples: 300, codec, transport, peers: everyone.filter((w) => w !== source),
        multicastEmptyMarker: mode === 'multicast', limitBytes,
      });
      sent.push(...packed.messages);
    }
    const random = new SeededRandom(layer * 31 + 7);
    const deliveries = Array.from(random.permutation(sent.length * 2), (i) => sent[i % sent.length]);
    const taken = everyone.map((target) => {
      const inbox = new RowInbox({ run: 9, target, samples: 300 });
      let duplicates = 0;
      for (const m of deliveries) {
        if (!m.targets.includes(target)) continue;
        const q = toQueueMessage(transport, m.wire, m.targets);
        const attribute = q.MessageAttributes.rows;
        const wire = fromQueueMessage(transport, q.Message, attribute && 'BinaryValue' in attribute ? attribute.BinaryValue : undefined);
        if (inbox.accept(wire) === 'duplicate') duplicates++;
      }
      const sources = everyone.filter((w) => w !== target);
      expect(inbox.layerComplete(layer, sources)).toBe(true);
      return { rows: inbox.takeLayer(layer, sources), duplicates };
    });
    // What each target should get: every nonzero row it needs, bit for bit.
    for (const target of everyone) {
      const expected: ActivationRow[] = [];
      for (let k = 0; k < 64; k++) {
        const needs = Array.from(targets.target.subarray(targets.start[k], targets.start[k + 1])).includes(target);
        if (needs && columns.start[k + 1] > columns.start[k]) expected.push(activationRow(columns, k));
      }
      expect(plain(taken[target].rows)).toEqual(plain(expected));
    }
    return { sent, taken };
  }

  it.each([
    ['unicast', 'none', 'base64-body'], ['multicast', 'zstd-3', 'base64-body'], ['unicast', 'brotli-4', 'binary-attribute'], ['multicast', 'deflate-6', 'binary-attribute'],
  ] as const)('delivers every row intact in any order, duplicates dropped: %s %s %s', (mode, codec, transport) => {
    for (let layer = 1; layer <= 10; layer++) {
      const { sent, taken } = exchange(layer, mode, parseWireCodec(codec), transport);
      const deliveries = sent.reduce((n, m) => n + m.targets.length, 0);
      expect(taken.reduce((n, t) => n + t.duplicates, 0)).toBe(deliveries);
    }
  });

  it('pins the uncompressed traffic of the small case', () => {
    const summary = (mode: SendMode) => {
      let messages = 0, bytes = 0, empty = 0;
      for (let layer = 1; layer <= 10; layer++) {
        const { sent } = exchange(layer, mode, parseWireCodec('none'), 'base64-body');
        messages += sent.length;
        bytes += sent.reduce((n, m) => n + m.queueBytes, 0);
        empty += sent.filter((m) => decodeWireMessage(m.wire).header.empty).length;
      }
      return { messages, bytes, empty };
    };
    expect({ unicast: summary('unicast'), multicast: summary('multicast') }).toEqual({
      // 10 layers x 4 sources x 3 targets; layer 3 needs no row at all (12 empty markers unicast, 4 multicast).
      unicast: { messages: 120, bytes: 64568, empty: 28 },
      multicast: { messages: 51, bytes: 37146, empty: 12 },
    });
  });

  it('splits into parts and chunks under a small limit, and reassembles them in any order', () => {
    const limitBytes = 400;
    const { sent } = exchange(5, 'unicast', parseWireCodec('none'), 'base64-body', limitBytes);
    expect(Math.max(...sent.map((m) => m.queueBytes))).toBeLessThanOrEqual(limitBytes);
    const headers = sent.map((m) => decodeWireMessage(m.wire).header);
    expect(headers.some((h) => h.chunkCount > 1)).toBe(true);
    expect(new Set(headers.map((h) => `${h.source}/${h.part}`)).size).toBeGreaterThan(everyone.length * 3);
  });
});

describe('packing', () => {
  const base = { run: 1, layer: 2, source: 0, samples: 1000, codec: { name: 'none', level: 0 } as WireCodec, transport: 'base64-body' as QueueTransport };

  it('marks every peer without rows with an empty message: one each (unicast) or one for all (multicast)', () => {
    const groups: RowGroup[] = [{ targets: [2], rows: [row(4, [1, 2], [1, 2])] }];
    const unicast = packLayerRows(groups, { ...base, peers: [1, 2, 3], multicastEmptyMarker: false });
    expect(unicast.messages.map((m) => m.targets)).toEqual([[2], [1], [3]]);
    expect(unicast.parts.map((p) => p.empty)).toEqual([false, true, true]);
    const multicast = packLayerRows(groups, { ...base, peers: [1, 2, 3], multicastEmptyMarker: true });
    expect(multicast.messages.map((m) => m.targets)).toEqual([[2], [1, 3]]);
    const marker = decodeWireMessage(multicast.messages[1].wire).header;
    expect(marker).toMatchObject({ empty: true, part: 1, chunkCount: 1, bodyBytes: 0, payloadBytes: 0, targets: [{ worker: 1, parts: 1 }, { worker: 3, parts: 1 }] });
  });

  it('tells each target of a multicast message how many parts it gets', () => {
    const groups: RowGroup[] = [
      { targets: [1, 2], rows: [row(4, [1], [1])] },
      { targets: [2], rows: [row(5, [1], [1])] },
    ];
    const packed = packLayerRows(groups, { ...base, peers: [1, 2], multicastEmptyMarker: true });
    expect(packed.messages.map((m) => decodeWireMessage(m.wire).header.targets)).toEqual([
      [{ worker: 1, parts: 1 }, { worker: 2, parts: 2 }],
      [{ worker: 2, parts: 2 }],
    ]);
  });

  it('compresses a part only where that pays', () => {
    const zstd = parseWireCodec('zstd-3');
    const tiny = packLayerRows([{ targets: [1], rows: [row(4, [1, 2], [1, 2])] }], { ...base, codec: zstd, peers: [1], multicastEmptyMarker: false });
    const long = Array.from({ length: 400 }, (_, i) => 2 * i);
    const repetitive = packLayerRows([{ targets: [1], rows: [row(4, long, long.map((i) => (i % 4 === 0 ? 0.5 : 1.5)))] }], { ...base, codec: zstd, peers: [1], multicastEmptyMarker: false });
    expect([tiny.parts[0].codec, decodeWireMessage(tiny.messages[0].wire).header.codec]).toEqual(['none', 'none']);
    expect(tiny.parts[0].payloadBytes).toBe(tiny.parts[0].bodyBytes);
    expect([repetitive.parts[0].codec, decodeWireMessage(repetitive.messages[0].wire).header.codec]).toEqual(['zstd', 'zstd']);
    expect(repetitive.parts[0].payloadBytes).toBeLessThan(repetitive.parts[0].bodyBytes / 4);
  });

  it('chunks a row too big for one message and keeps every message within the limit', () => {
    const samples = Array.from({ length: 5000 }, (_, i) => 2 * i);
    const values = samples.map((i) => f32(0x3f800000 + i)); // all distinct: RAW, 4 bytes each
    const big = row(7, samples, values);
    const packed = packLayerRows([{ targets: [3], rows: [row(1, [0], [1]), big, row(9, [4], [2])] }], { ...base, samples: 10000, peers: [3], multicastEmptyMarker: false, limitBytes: 8192 });
    expect(packed.parts.map((p) => [p.rows, p.chunks])).toEqual([[1, 1], [1, 4], [1, 1]]);
    for (const m of packed.messages) expect(m.queueBytes).toBeLessThanOrEqual(8192);
    const inbox = new RowInbox({ run: 1, target: 3, samples: 10000 });
    for (const m of [...packed.messages].reverse()) expect(inbox.accept(m.wire)).toBe('new');
    expect(plain(inbox.takeLayer(2, [0]))).toEqual(plain([row(1, [0], [1]), big, row(9, [4], [2])]));
  });

  it('keeps every message within the plan\'s chunkBytes when that is below what the message limit leaves', () => {
    const samples = Array.from({ length: 500 }, (_, i) => 2 * i);
    const big = row(7, samples, samples.map((i) => f32(0x3f800000 + i)));
    const rows = [row(1, [0], [1]), big, row(9, [4], [2])];
    const packed = packLayerRows([{ targets: [3], rows }], { ...base, peers: [3], multicastEmptyMarker: false, chunkBytes: 1000 });
    expect(packed.parts.map((p) => [p.rows, p.chunks])).toEqual([[1, 1], [1, 3], [1, 1]]);
    expect(Math.max(...packed.messages.map((m) => m.wire.length))).toBeLessThanOrEqual(1000);
    const inbox = new RowInbox({ run: 1, target: 3, samples: 1000 });
    for (const m of [...packed.messages].reverse()) expect(inbox.accept(m.wire)).toBe('new');
    expect(plain(inbox.takeLayer(2, [0]))).toEqual(plain(rows));
    // Without it the same rows fit one message.
    expect(packLayerRows([{ targets: [3], rows }], { ...base, peers: [3], multicastEmptyMarker: false }).messages).toHaveLength(1);
  });
});

describe('reassembly errors', () => {
  const address = (over: Partial<WireAddress>): WireAddress => ({
    run: 5, layer: 4, source: 3, samples: 10, part: 0, chunkIndex: 0, chunkCount: 2, empty: false, codec: 'none',
    targets: [{ worker: 1, parts: 1 }], bodyBytes: 10, ...over,
  });
  const body = encodeRowsBody([row(2, [0, 1, 2], [1, 2, 3])], 10);

  it('names the source, layer, part and chunk of a chunk-count mismatch', () => {
    const inbox = new RowInbox({ run: 5, target: 1, samples: 10 });
    inbox.accept(encodeWireMessage(address({ bodyBytes: body.length }), body.subarray(0, 6)));
    expect(() => inbox.accept(encodeWireMessage(address({ chunkIndex: 2, chunkCount: 3, bodyBytes: body.length }), body.subarray(6))))
      .toThrow('message from worker 3, layer 4, part 0, chunk 3 of 3: chunk count mismatch: 3 here, 2 in the first chunk received (message from worker 3, layer 4, part 0, chunk 1 of 2)');
  });

  it('drops redeliveries, refuses conflicting copies, other targets and inconsistent part counts, ignores other runs', () => {
    const inbox = new RowInbox({ run: 5, target: 1, samples: 10 });
    const first = encodeWireMessage(address({ bodyBytes: body.length }), body.subarray(0, 6));
    expect(inbox.accept(first)).toBe('new');
    expect(inbox.accept(first)).toBe('duplicate');
    const conflicting = body.slice(0, 6); conflicting[5] ^= 1;
    expect(() => inbox.accept(encodeWireMessage(address({ bodyBytes: body.length }), conflicting))).toThrow('part 0, chunk 1 of 2: a second, different copy of this chunk');
    expect(() => inbox.accept(encodeWireMessage(address({ targets: [{ worker: 2, parts: 1 }] }), new Uint8Array(5)))).toThrow('message from worker 3, layer 4, part 0, chunk 1 of 2: addressed to worker 2, not to worker 1');
    expect(() => inbox.accept(encodeWireMessage(address({ part: 1, targets: [{ worker: 1, parts: 2 }] }), new Uint8Array(5))))
      .toThrow('message from worker 3, layer 4, part 1, chunk 1 of 2: announces 2 parts for worker 1, message from worker 3, layer 4, part 0, chunk 1 of 2 announced 1');
    expect(() => inbox.accept(encodeWireMessage(address({ part: 1 }), new Uint8Array(5)))).toThrow('a part beyond the 1 announced for worker 1');
    expect(inbox.accept(encodeWireMessage(address({ run: 4 }), new Uint8Array(5)))).toBe('other-run');
    expect(() => inbox.accept(encodeWireMessage(address({ samples: 11 }), new Uint8Array(5)))).toThrow('carries 11 samples, this batch has 10');
    expect(inbox.missing(4, [3, 6])).toEqual(['worker 3: 0 of 1 parts (part 0 from worker 3, layer 4 (2 chunks) has 1 of 2 chunks)', 'worker 6: nothing yet']);
    expect(() => inbox.takeLayer(4, [3])).toThrow('layer 4 is incomplete at worker 1: worker 3: 0 of 1 parts');
    inbox.accept(encodeWireMessage(address({ chunkIndex: 1, bodyBytes: body.length }), body.subarray(6)));
    expect(plain(inbox.takeLayer(4, [3]))).toEqual(plain([row(2, [0, 1, 2], [1, 2, 3])]));
    expect(inbox.accept(first)).toBe('duplicate');
  });

  it('refuses a neuron sent twice', () => {
    const inbox = new RowInbox({ run: 5, target: 1, samples: 10 });
    for (const source of [3, 4]) inbox.accept(encodeWireMessage(address({ source, chunkCount: 1, bodyBytes: body.length }), body));
    expect(() => inbox.takeLayer(4, [3, 4])).toThrow('layer 4: neuron 2 arrived twice at worker 1 (from workers 3 and 4)');
  });
});

describe('queue transport', () => {
  it('counts what AWS counts and fills a message to the limit', () => {
    const limit = AWS_LIMITS.sqsMessageMaxBytes.value;
    for (const transport of ['base64-body', 'binary-attribute'] as const) {
      const targets = [0, 3, 12];
      const max = maxWireBytes(transport, targets);
      expect(queueMessageBytes(transport, max, targets)).toBeLessThanOrEqual(limit);
      expect(queueMessageBytes(transport, max + 1, targets)).toBeGreaterThan(limit);
      const wire = new Uint8Array(1000).map((_, i) => i * 7);
      const q = toQueueMessage(transport, wire, targets);
      const counted = Buffer.byteLength(q.Message) + Object.entries(q.MessageAttributes)
        .reduce((n, [name, a]) => n + name.length + a.DataType.length + ('StringValue' in a ? Buffer.byteLength(a.StringValue) : a.BinaryValue.length), 0);
      expect(queueMessageBytes(transport, 1000, targets)).toBe(counted);
      expect(q.MessageAttributes.targets).toEqual({ DataType: 'String', StringValue: ',0,3,12,' });
    }
    expect(base64Bytes(1000)).toBe(1336);
    expect(maxWireBytes('base64-body', [1])).toBe(196596);
    expect(maxWireBytes('binary-attribute', [1])).toBe(262117); // 262,144 - body "." - "rows" - "Binary" - "targets" - "String" - ",1,"
    expect(headerBytesBound(1)).toBe(68);
  });

  it('batches publishes by 10 entries and 256 KiB', () => {
    expect(publishBatches(Array(23).fill(100))).toEqual([[0, 10], [10, 20], [20, 23]]);
    expect(publishBatches([200_000, 62_144, 1, 5])).toEqual([[0, 2], [2, 4]]);
    expect(() => publishBatches([262_145])).toThrow('message 0 of 262145 bytes exceeds');
  });
});
