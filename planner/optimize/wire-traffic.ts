// What the channels really send for a partition, counted the way functions/channels/ sends it, from
// the workload's measured traffic profile (planner/latency/workload.ts WireTrafficProfile):
// - per layer and source worker, the rows it owns that other workers read, grouped by the exact
//   set of workers reading them (multicast: a row is sent once to its target set,
//   routing.ts sourceRowGroups); only rows with a nonzero travel;
// - a group's rows are one part whose payload the profile's per-layer part model prices; a part
//   over a message's budget is cut into pieces, and a lone row over it into chunks (packing.ts);
//   peers that get no row get one multicast empty marker;
// - every message = its wire header + its payload share; queue: base64 of that plus the targets
//   attribute (transport.ts), in PublishBatch calls of at most 10 entries and 256 KiB; object: one
//   object per source and layer, the messages behind a directory (exchange-object.ts).
// The byte layouts mirrored here (wire header, queue message, exchange-object directory, activation
// slice) are functions/channels' and functions/storage's: test/planner/wire-traffic.test.ts keeps
// each equal to the encoder it mirrors. The planner is pure and encodes nothing.

import type { SparseLayer } from '../../model/network.ts';
import { rowTargets } from '../partition/volume.ts';
import { AWS_LIMITS } from '../aws-limits.ts';
import { partPayloadBytes, type PartBytesModel } from '../latency/workload.ts';

/** String attribute listing a message's targets (",0,2,"), matched by per-queue wildcard filters (DESIGN.md). */
export const TARGETS_ATTRIBUTE = 'targets';

/**
 * Bytes of every queue message kept for its attributes (the targets list of a multicast and the
 * wire format's headers); the rest carries base64 of at most `chunkBytes` wire bytes.
 */
export const ATTRIBUTE_ALLOWANCE_BYTES = 4096;

/** Wire bytes one queue message carries at most, header included (plan.json channel.queue.chunkBytes). */
export function queueChunkBytes(maximumMessageSizeBytes: number): number {
  return Math.floor((maximumMessageSizeBytes - ATTRIBUTE_ALLOWANCE_BYTES) / 4) * 3;
}

/** Rows one source sends to one exact set of targets in one layer. */
export interface SendGroup {
  readonly source: number;
  /** Ascending, distinct, without the source. */
  readonly targets: readonly number[];
  /** Ascending input neurons (the source's), every one read by exactly these targets. */
  readonly neurons: Uint32Array;
}

/**
 * The send groups of one layer: for every input neuron, the workers other than its owner that own
 * an output reading it; neurons of one owner with the same target set form one group (ordered by
 * source, then by first neuron, as routing.ts orders them). O(nonzeros).
 */
export function layerSendGroups(layer: SparseLayer, inputOwner: Uint16Array, outputOwner: Uint16Array, workers: number): SendGroup[] {
  const n = layer.neurons;
  const { start, target } = rowTargets(layer, inputOwner, outputOwner, workers);
  const bySource: Map<string, { targets: number[]; neurons: number[] }>[] = Array.from({ length: workers }, () => new Map());
  for (let k = 0; k < n; k++) {
    if (start[k + 1] === start[k]) continue;
    const targets = Array.from(target.subarray(start[k], start[k + 1]));
    const key = targets.join(',');
    const groups = bySource[inputOwner[k]];
    let group = groups.get(key);
    if (!group) groups.set(key, group = { targets, neurons: [] });
    group.neurons.push(k);
  }
  return bySource.flatMap((groups, source) => [...groups.values()].map((g) => ({ source, targets: g.targets, neurons: Uint32Array.from(g.neurons) })));
}

// ---------------------------------------------------------------------------------------------
// Byte layouts (mirrors; see the test)

/** Bytes of an unsigned LEB128 varint (wire.ts). */
export function varintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/**
 * A run number's varint: the runtime's is a CRC-32 of the run id (open-channel.ts wireRunNumber),
 * 5 bytes for 15 of 16 values.
 */
const RUN_NUMBER_BYTES = 5;

/** The most header bytes a message to `targetCount` targets can take (wire.ts headerBytesBound). */
export function wireHeaderBytesBound(targetCount: number): number {
  return 4 + 5 * (8 + 2 * targetCount + 2) + 4;
}

/** Header bytes of one wire message (wire.ts encodeWireMessage), with a 5-byte run number. */
export function wireHeaderBytes(h: {
  readonly layer: number; readonly source: number; readonly samples: number; readonly part: number;
  readonly chunkIndex: number; readonly chunkCount: number; readonly targets: readonly number[];
  /** Parts each target receives from the source in this layer (same order as targets). */
  readonly partsPerTarget: readonly number[];
  readonly bodyBytes: number; readonly payloadBytes: number;
}): number {
  let bytes = 4 + RUN_NUMBER_BYTES + varintBytes(h.layer) + varintBytes(h.source) + varintBytes(h.samples) + varintBytes(h.part)
    + varintBytes(h.chunkIndex) + varintBytes(h.chunkCount) + varintBytes(h.targets.length);
  h.targets.forEach((t, i) => { bytes += varintBytes(t) + varintBytes(h.partsPerTarget[i]); });
  return bytes + varintBytes(h.bodyBytes) + varintBytes(h.payloadBytes) + 4;
}

/** ",0,2,5,": the targets attribute's value (transport.ts). */
function targetsAttributeValueBytes(targets: readonly number[]): number {
  let bytes = 2 + Math.max(0, targets.length - 1);
  for (const t of targets) bytes += String(t).length;
  return bytes;
}

/** Bytes of a queue message carrying `wireBytes` to `targets` as base64 body plus the targets attribute (transport.ts queueMessageBytes, base64-body). */
export function queueMessageBytes(wireBytes: number, targets: readonly number[]): number {
  return 4 * Math.ceil(wireBytes / 3) + TARGETS_ATTRIBUTE.length + 'String'.length + targetsAttributeValueBytes(targets);
}

/** The largest wire message one base64 queue message of `limitBytes` carries to `targets` (transport.ts maxWireBytes). */
export function maxQueueWireBytes(targets: readonly number[], limitBytes: number): number {
  return 3 * Math.floor((limitBytes - queueMessageBytes(0, targets)) / 4);
}

/** Bytes of an exchange object holding messages of these lengths and targets (exchange-object.ts encodeExchangeObject). */
export function exchangeObjectBytes(messages: readonly { readonly wireBytes: number; readonly targets: readonly number[] }[], layer: number, source: number): number {
  let directory = 7 + RUN_NUMBER_BYTES + varintBytes(layer) + varintBytes(source) + varintBytes(messages.length) + 4;
  let body = 0;
  for (const m of messages) {
    directory += varintBytes(m.wireBytes) + varintBytes(m.targets.length);
    for (const t of m.targets) directory += varintBytes(t);
    body += m.wireBytes;
  }
  return directory + body;
}

/** Bytes of an activation slice object (functions/storage/slice-codec.ts encodeSlice): header, neurons, row starts, then (column, value) per nonzero. */
export function sliceObjectBytes(neurons: number, samples: number, nonzeros: number): number {
  return 32 + 4 * (neurons + samples + 1 + 2 * nonzeros);
}

// ---------------------------------------------------------------------------------------------
// Packing

/** One message a source sends in a layer. */
export interface PlannedMessage {
  readonly targets: readonly number[];
  readonly wireBytes: number;
}

export interface PackOptions {
  readonly layer: number;
  readonly source: number;
  readonly samples: number;
  /** The workers waiting for this source in this layer: those without a row get the empty marker. */
  readonly peers: readonly number[];
  /** Wire bytes one message may hold, header included. */
  readonly messageBudget: (targets: readonly number[]) => number;
}

interface PlannedPart {
  readonly targets: readonly number[];
  readonly payloadBytes: number;
  readonly bodyBytes: number;
  readonly chunks: number;
}

/** One group's rows with a nonzero: all of them, and those of distinct content with their nonzeros. */
export interface GroupRows {
  readonly targets: readonly number[];
  readonly rows: number;
  readonly distinctRows: number;
  readonly distinctNonzeros: number;
}

/**
 * The messages one source sends in a layer, its groups' rows priced by `model`. A part over its budget is cut into pieces of equal size, as
 * packing.ts cuts by nonzeros; a lone row over it is chunked.
 */
export function planSourceMessages(groups: readonly GroupRows[], model: PartBytesModel, o: PackOptions): PlannedMessage[] {
  const parts: PlannedPart[] = [];
  const served = new Set<number>();
  // A part costs its distinct rows, and each repeat of one of them a little.
  const payloadOf = (g: GroupRows, share: number) => partPayloadBytes(model, g.distinctRows * share, g.distinctNonzeros * share) + model.duplicateRowBytes * (g.rows - g.distinctRows) * share;
  for (const g of groups) {
    if (g.rows === 0) continue;
    for (const t of g.targets) served.add(t);
    const budget = o.messageBudget(g.targets) - wireHeaderBytesBound(g.targets.length);
    const whole = payloadOf(g, 1);
    const pieces = whole <= budget ? 1 : Math.min(g.rows, Math.max(2, Math.ceil(whole / (0.9 * budget))));
    for (let i = 0; i < pieces; i++) {
      const payloadBytes = pieces === 1 ? whole : payloadOf(g, 1 / pieces);
      // The uncompressed body only sizes a header varint: taken as the payload.
      parts.push({ targets: g.targets, payloadBytes, bodyBytes: payloadBytes, chunks: Math.max(1, Math.ceil(payloadBytes / budget)) });
    }
  }
  const unserved = o.peers.filter((t) => !served.has(t));
  if (unserved.length > 0) parts.push({ targets: unserved, payloadBytes: 0, bodyBytes: 0, chunks: 1 });
  const partsOf = new Map<number, number>();
  for (const part of parts) for (const t of part.targets) partsOf.set(t, (partsOf.get(t) ?? 0) + 1);
  const messages: PlannedMessage[] = [];
  parts.forEach((part, index) => {
    const partsPerTarget = part.targets.map((t) => partsOf.get(t)!);
    for (let c = 0; c < part.chunks; c++) {
      const payloadBytes = part.payloadBytes / part.chunks;
      const header = wireHeaderBytes({
        layer: o.layer, source: o.source, samples: o.samples, part: index, chunkIndex: c, chunkCount: part.chunks,
        targets: part.targets, partsPerTarget, bodyBytes: Math.round(part.bodyBytes), payloadBytes: Math.round(payloadBytes),
      });
      messages.push({ targets: part.targets, wireBytes: header + payloadBytes });
    }
  });
  return messages;
}

/** PublishBatch calls for messages of these published sizes, in order (transport.ts publishBatches). */
export function publishBatchCount(messageBytes: readonly number[], maxEntries: number = AWS_LIMITS.snsPublishBatchEntries.value, maxBytes: number = AWS_LIMITS.snsPublishBatchBytes.value): number {
  let calls = 0, inBatch = 0, bytes = 0;
  for (const b of messageBytes) {
    if (inBatch > 0 && (inBatch === maxEntries || bytes + b > maxBytes)) {
      calls++;
      inBatch = 0;
      bytes = 0;
    }
    inBatch++;
    bytes += b;
  }
  return calls + (inBatch > 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// One layer's exchange

/**
 * Largest wire message of an exchange object (functions/channels/object-channel.ts
 * OBJECT_MESSAGE_LIMIT_BYTES): parts are cut to it; the real case's objects are far smaller.
 */
export const OBJECT_MESSAGE_LIMIT_BYTES = 4 * 1024 * 1024;

/** What one source sends in one layer. */
export interface SourceLayerTraffic {
  readonly messages: readonly PlannedMessage[];
  /** Queue: each message as published (base64 body and targets attribute). */
  readonly queueBytes: readonly number[];
  readonly publishCalls: number;
  /** Object: its one object's bytes (0 when it has no peer). */
  readonly objectBytes: number;
  /** Object: per target, the byte where its last message ends (what it must read). */
  readonly readEnd: ReadonlyMap<number, number>;
}

export interface LayerTrafficOptions {
  readonly layer: number;
  readonly workers: number;
  readonly samples: number;
  readonly channel: 'queue' | 'object';
  /** Queue: bytes of one message (plan.json maximumMessageSizeBytes). */
  readonly queueLimitBytes: number;
  readonly publishBatchEntries: number;
}

/**
 * Every source's messages of the exchange feeding one layer, from its send groups, the rows'
 * nonzeros (index: neuron) and the layer's part model.
 */
export function layerTraffic(groups: readonly SendGroup[], rowNonzeros: Float64Array, rowClass: Int32Array, model: PartBytesModel, o: LayerTrafficOptions): SourceLayerTraffic[] {
  const chunkBytes = queueChunkBytes(o.queueLimitBytes);
  const budget = o.channel === 'queue'
    ? (targets: readonly number[]) => Math.min(maxQueueWireBytes(targets, o.queueLimitBytes), chunkBytes)
    // binary-attribute transport: the wire bytes, one-byte body and attribute names beside the limit.
    : (targets: readonly number[]) => OBJECT_MESSAGE_LIMIT_BYTES - queueMessageBytes(0, targets) - 16;
  const bySource: GroupRows[][] = Array.from({ length: o.workers }, () => []);
  const peers: Set<number>[] = Array.from({ length: o.workers }, () => new Set());
  for (const g of groups) {
    let rows = 0, distinctRows = 0, distinctNonzeros = 0;
    const classes = new Set<number>();
    for (const k of g.neurons) {
      if (!(rowNonzeros[k] > 0)) continue;
      rows++;
      if (classes.has(rowClass[k])) continue;
      classes.add(rowClass[k]);
      distinctRows++;
      distinctNonzeros += rowNonzeros[k];
    }
    bySource[g.source].push({ targets: g.targets, rows, distinctRows, distinctNonzeros });
    for (const t of g.targets) peers[g.source].add(t);
  }
  return bySource.map((sourceGroups, source): SourceLayerTraffic => {
    const sourcePeers = [...peers[source]].sort((a, b) => a - b);
    if (sourcePeers.length === 0) return { messages: [], queueBytes: [], publishCalls: 0, objectBytes: 0, readEnd: new Map() };
    const messages = planSourceMessages(sourceGroups, model, { layer: o.layer, source, samples: o.samples, peers: sourcePeers, messageBudget: budget });
    if (o.channel === 'queue') {
      const queueBytes = messages.map((m) => queueMessageBytes(m.wireBytes, m.targets));
      return { messages, queueBytes, publishCalls: publishBatchCount(queueBytes, o.publishBatchEntries), objectBytes: 0, readEnd: new Map() };
    }
    const objectBytes = exchangeObjectBytes(messages, o.layer, source);
    const readEnd = new Map<number, number>();
    let at = objectBytes - messages.reduce((t, m) => t + m.wireBytes, 0);
    for (const m of messages) {
      at += m.wireBytes;
      for (const t of m.targets) readEnd.set(t, at);
    }
    return { messages, queueBytes: [], publishCalls: 0, objectBytes, readEnd };
  });
}
