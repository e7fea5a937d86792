// Packs one source's rows of one layer into wire messages (wire.ts) that each fit one queue
// message (transport.ts): whole rows per part, as many as fit after compression; a row too big for
// a message alone is one part in several chunks; every waiting target without a row gets the
// explicit empty marker. A row group addressed to several targets (multicast) is published once.
// A part is compressed only where that pays: when the codec's output is not smaller than the
// encoded rows, the part goes uncompressed (its header says so).

import { WireFormatError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import {
  compressBody, encodeRowsBody, encodeWireMessage, headerBytesBound,
  type ActivationRow, type BodyStats, type WireCodec, type WireCodecName, type WireTarget,
} from './wire.ts';
import { maxWireBytes, queueMessageBytes, type QueueTransport } from './transport.ts';

/** Rows going to the same set of targets: one target (unicast) or several (multicast). */
export interface RowGroup {
  /** Ascending, distinct. */
  readonly targets: readonly number[];
  /** Ascending by neuron. */
  readonly rows: readonly ActivationRow[];
}

export interface PackOptions {
  readonly run: number;
  /** 1-based layer that reads these rows. */
  readonly layer: number;
  readonly source: number;
  /** Samples of the batch (rows of Y). */
  readonly samples: number;
  readonly codec: WireCodec;
  readonly transport: QueueTransport;
  /** Workers that wait for a message from this source in this layer: those without a row get an empty marker. */
  readonly peers: readonly number[];
  /** One empty marker for all peers without rows (published once), or one per peer. */
  readonly multicastEmptyMarker: boolean;
  /** Bytes of one queue message. Default AWS_LIMITS.sqsMessageMaxBytes. */
  readonly limitBytes?: number;
  /** Wire bytes of one message at most, header included (plan.json channel.queue.chunkBytes); default: all the message limit leaves. */
  readonly chunkBytes?: number;
}

export interface OutgoingMessage {
  readonly targets: readonly number[];
  readonly wire: Uint8Array;
  /** What AWS counts of it against the message limit (transport form and attributes). */
  readonly queueBytes: number;
  readonly part: number;
  readonly chunkIndex: number;
  readonly chunkCount: number;
}

/** What one part cost: the unit the planner's byte model predicts. */
export interface PackedPart {
  readonly part: number;
  readonly targets: readonly number[];
  readonly empty: boolean;
  readonly rows: number;
  readonly nonzeros: number;
  /** Sample indices and values spelled out (not repeated from the previous row or constant). */
  readonly stats: BodyStats;
  /** The codec its payload was compressed with: the one asked for, or none where that did not pay. */
  readonly codec: WireCodecName;
  /** Encoded rows before compression. */
  readonly bodyBytes: number;
  /** After compression. */
  readonly payloadBytes: number;
  /** Its messages' wire bytes, headers included (before the transport encoding). */
  readonly wireBytes: number;
  /** Its messages' bytes as published (after the transport encoding, attributes included). */
  readonly queueBytes: number;
  readonly chunks: number;
}

export interface PackedLayer {
  readonly messages: OutgoingMessage[];
  readonly parts: PackedPart[];
}

interface Part {
  readonly targets: readonly number[];
  readonly rows: number;
  readonly nonzeros: number;
  readonly stats: BodyStats;
  readonly codec: WireCodecName;
  readonly bodyBytes: number;
  readonly payload: Uint8Array;
  readonly empty: boolean;
}

function checkTargets(targets: readonly number[], what: string): void {
  if (targets.length === 0) throw new WireFormatError(`${what} has no target`);
  for (let i = 1; i < targets.length; i++) {
    if (targets[i] <= targets[i - 1]) throw new WireFormatError(`${what}: targets must be ascending, each once (${targets.join(', ')})`);
  }
}

/** Whole-row parts whose payload fits `budget`; a lone row that does not stays one part, sent in chunks. */
function splitIntoParts(rows: readonly ActivationRow[], targets: readonly number[], samples: number, codec: WireCodec, budget: number, out: Part[]): void {
  const stats: BodyStats = { sampleEntries: 0, valueEntries: 0 };
  const body = encodeRowsBody(rows, samples, stats);
  const compressed = compressBody(body, codec);
  const pays = compressed.length < body.length;
  const payload = pays ? compressed : body;
  if (payload.length <= budget || rows.length === 1) {
    let nonzeros = 0;
    for (const row of rows) nonzeros += row.sampleIndex.length;
    out.push({ targets, rows: rows.length, nonzeros, stats, codec: pays ? codec.name : 'none', bodyBytes: body.length, payload, empty: false });
    return;
  }
  // Cut into pieces of about equal size (estimated from nonzeros) that should fit with a 10%
  // margin; a piece that still does not fit is cut again.
  const pieces = Math.min(rows.length, Math.max(2, Math.ceil(payload.length / (0.9 * budget))));
  const cumulative = new Float64Array(rows.length);
  let total = 0;
  rows.forEach((row, i) => { total += row.sampleIndex.length + 4; cumulative[i] = total; });
  let start = 0;
  for (let p = 1; p <= pieces; p++) {
    // Rows start..end-1; every later piece keeps at least one row.
    let end = start + 1;
    const goal = (total * p) / pieces;
    const lastEnd = rows.length - (pieces - p);
    while (end < lastEnd && cumulative[end] <= goal) end++;
    if (p === pieces) end = rows.length;
    splitIntoParts(rows.slice(start, end), targets, samples, codec, budget, out);
    start = end;
  }
}

/** Packs one source's row groups of one layer into messages. Deterministic. */
export function packLayerRows(groups: readonly RowGroup[], o: PackOptions): PackedLayer {
  const limitBytes = o.limitBytes ?? AWS_LIMITS.sqsMessageMaxBytes.value;
  checkTargets(o.peers, `layer ${o.layer}, worker ${o.source}: the peers`);
  const budgetFor = (targets: readonly number[]) => {
    const budget = Math.min(maxWireBytes(o.transport, targets, limitBytes), o.chunkBytes ?? Infinity) - headerBytesBound(targets.length);
    if (budget < 1) throw new WireFormatError(`a ${limitBytes}-byte message${o.chunkBytes !== undefined ? ` of at most ${o.chunkBytes} wire bytes` : ''} has no room for a payload to ${targets.length} targets`);
    return budget;
  };
  const parts: Part[] = [];
  const served = new Set<number>();
  for (const group of groups) {
    checkTargets(group.targets, `layer ${o.layer}, worker ${o.source}: a row group`);
    if (group.rows.length === 0) continue;
    splitIntoParts(group.rows, group.targets, o.samples, o.codec, budgetFor(group.targets), parts);
    for (const t of group.targets) served.add(t);
  }
  const unserved = o.peers.filter((t) => !served.has(t));
  const emptyGroups = o.multicastEmptyMarker ? (unserved.length > 0 ? [unserved] : []) : unserved.map((t) => [t]);
  for (const targets of emptyGroups) parts.push({ targets, rows: 0, nonzeros: 0, stats: { sampleEntries: 0, valueEntries: 0 }, codec: 'none', bodyBytes: 0, payload: new Uint8Array(0), empty: true });

  const partsOf = new Map<number, number>();
  for (const part of parts) for (const t of part.targets) partsOf.set(t, (partsOf.get(t) ?? 0) + 1);
  const messages: OutgoingMessage[] = [];
  const packed: PackedPart[] = [];
  parts.forEach((part, index) => {
    const targets: WireTarget[] = part.targets.map((worker) => ({ worker, parts: partsOf.get(worker)! }));
    const budget = budgetFor(part.targets);
    const chunkCount = Math.max(1, Math.ceil(part.payload.length / budget));
    let wireBytes = 0, queueBytes = 0;
    for (let c = 0; c < chunkCount; c++) {
      const wire = encodeWireMessage({
        run: o.run, layer: o.layer, source: o.source, samples: o.samples, part: index, chunkIndex: c, chunkCount,
        empty: part.empty, codec: part.codec, targets, bodyBytes: part.bodyBytes,
      }, part.payload.subarray(c * budget, (c + 1) * budget));
      const bytes = queueMessageBytes(o.transport, wire.length, part.targets);
      if (bytes > limitBytes) throw new WireFormatError(`packing bug: a message of ${bytes} bytes exceeds the ${limitBytes}-byte limit`);
      messages.push({ targets: part.targets, wire, queueBytes: bytes, part: index, chunkIndex: c, chunkCount });
      wireBytes += wire.length;
      queueBytes += bytes;
    }
    packed.push({
      part: index, targets: part.targets, empty: part.empty, rows: part.rows, nonzeros: part.nonzeros, stats: part.stats, codec: part.codec,
      bodyBytes: part.bodyBytes, payloadBytes: part.payload.length, wireBytes, queueBytes, chunks: chunkCount,
    });
  });
  return { messages, parts: packed };
}
