// The receiving side of the wire format (wire.ts): one worker's inbox of activation rows. Messages
// arrive in any order and possibly more than once (SQS delivers at least once); chunks are
// reassembled by (layer, source, part, chunk), duplicates are dropped by that key, each part is
// decoded as soon as it is whole (so decoding overlaps the wait for the rest), and a layer is
// complete when every source has delivered as many parts as its messages announced for this
// worker (an empty marker being one). Inconsistent or hostile input fails with an error naming
// the source, layer, part and chunk.

import { WireFormatError } from '../../model/errors.ts';
import { decodePartPayload, decodeWireMessage, describeMessage, describePart, type ActivationRow, type WireHeader } from './wire.ts';

export type AcceptResult = 'new' | 'duplicate' | 'other-run';

interface PartState {
  readonly first: WireHeader;
  /** Payload checksum of every chunk seen, to tell a redelivery from a conflicting copy. */
  readonly chunkCrc32: (number | undefined)[];
  chunks: (Uint8Array | undefined)[] | null;
  received: number;
}

interface SourceState {
  /** Parts announced for this worker, and which message announced it first. */
  announced: { parts: number; by: string } | null;
  readonly parts: Map<number, PartState>;
  completeParts: number;
  readonly rows: ActivationRow[][];
}

interface LayerState {
  readonly sources: Map<number, SourceState>;
  taken: boolean;
}

export interface RowInboxOptions {
  readonly run: number;
  /** The worker this inbox belongs to. */
  readonly target: number;
  /** Samples of the batch: every message must agree. */
  readonly samples: number;
}

const sameTargets = (a: WireHeader, b: WireHeader) =>
  a.targets.length === b.targets.length && a.targets.every((t, i) => t.worker === b.targets[i].worker && t.parts === b.targets[i].parts);

export class RowInbox {
  readonly run: number;
  readonly target: number;
  readonly samples: number;
  private readonly layers = new Map<number, LayerState>();

  constructor(o: RowInboxOptions) {
    this.run = o.run;
    this.target = o.target;
    this.samples = o.samples;
  }

  /**
   * Takes one received message. 'duplicate': a chunk already received (redelivery), dropped;
   * 'other-run': a message of another run (a stale message in the queue), ignored.
   */
  accept(wire: Uint8Array, origin?: string): AcceptResult {
    const { header: h, payload } = decodeWireMessage(wire, origin);
    if (h.run !== this.run) return 'other-run';
    const where = describeMessage(h);
    const fail = (problem: string) => new WireFormatError(`${where}: ${problem}`);
    const mine = h.targets.find((t) => t.worker === this.target);
    if (!mine) throw fail(`addressed to worker${h.targets.length > 1 ? 's' : ''} ${h.targets.map((t) => t.worker).join(', ')}, not to worker ${this.target}`);
    if (h.samples !== this.samples) throw fail(`carries ${h.samples} samples, this batch has ${this.samples}`);
    let layer = this.layers.get(h.layer);
    if (!layer) this.layers.set(h.layer, layer = { sources: new Map(), taken: false });
    let source = layer.sources.get(h.source);
    if (!source) layer.sources.set(h.source, source = { announced: null, parts: new Map(), completeParts: 0, rows: [] });
    if (source.announced && source.announced.parts !== mine.parts) {
      throw fail(`announces ${mine.parts} parts for worker ${this.target}, ${source.announced.by} announced ${source.announced.parts}`);
    }
    source.announced ??= { parts: mine.parts, by: where };
    let part = source.parts.get(h.part);
    if (part) {
      const first = part.first;
      const earlier = `the first chunk received (${describeMessage(first)})`;
      if (h.chunkCount !== first.chunkCount) throw fail(`chunk count mismatch: ${h.chunkCount} here, ${first.chunkCount} in ${earlier}`);
      if (h.codec !== first.codec || h.bodyBytes !== first.bodyBytes || h.empty !== first.empty || !sameTargets(h, first)) {
        throw fail(`its header (codec, body size, targets or empty flag) differs from ${earlier}`);
      }
      const seen = part.chunkCrc32[h.chunkIndex];
      if (seen !== undefined) {
        if (seen !== h.payloadCrc32) throw fail('a second, different copy of this chunk');
        return 'duplicate';
      }
      if (layer.taken) throw fail(`arrived after layer ${h.layer} was taken as complete`);
    } else {
      if (layer.taken) throw fail(`arrived after layer ${h.layer} was taken as complete`);
      if (source.parts.size >= mine.parts) throw fail(`a part beyond the ${mine.parts} announced for worker ${this.target}`);
      part = { first: h, chunkCrc32: new Array(h.chunkCount), chunks: new Array(h.chunkCount), received: 0 };
      source.parts.set(h.part, part);
    }
    part.chunkCrc32[h.chunkIndex] = h.payloadCrc32;
    part.chunks![h.chunkIndex] = payload;
    part.received++;
    if (part.received === h.chunkCount) {
      const whole = h.chunkCount === 1 ? payload : Buffer.concat(part.chunks as Uint8Array[]);
      source.rows.push(decodePartPayload(part.first, whole));
      part.chunks = null;
      source.completeParts++;
    }
    return 'new';
  }

  /** What is still missing of `layer` from `sources`, one entry per incomplete source. */
  missing(layer: number, sources: readonly number[]): string[] {
    const state = this.layers.get(layer);
    const out: string[] = [];
    for (const s of sources) {
      const source = state?.sources.get(s);
      if (!source) { out.push(`worker ${s}: nothing yet`); continue; }
      const expected = source.announced!.parts;
      if (source.completeParts === expected) continue;
      const partial = [...source.parts.values()].filter((p) => p.chunks !== null)
        .map((p) => `${describePart(p.first)} has ${p.received} of ${p.first.chunkCount} chunks`);
      out.push(`worker ${s}: ${source.completeParts} of ${expected} parts${partial.length ? ` (${partial.join('; ')})` : ''}`);
    }
    return out;
  }

  layerComplete(layer: number, sources: readonly number[]): boolean {
    return this.missing(layer, sources).length === 0;
  }

  /**
   * All rows of `layer` from `sources`, ascending by neuron. Fails when a source is incomplete,
   * when a source not listed sent rows, or when a neuron arrived twice. Later messages for this
   * layer must be redeliveries (dropped) or fail.
   */
  takeLayer(layer: number, sources: readonly number[]): ActivationRow[] {
    const missing = this.missing(layer, sources);
    if (missing.length > 0) throw new WireFormatError(`layer ${layer} is incomplete at worker ${this.target}: ${missing.join('; ')}`);
    const state = this.layers.get(layer);
    if (!state) return [];
    if (state.taken) throw new WireFormatError(`layer ${layer} was already taken at worker ${this.target}`);
    const listed = new Set(sources);
    const rows: { row: ActivationRow; source: number }[] = [];
    for (const [s, source] of state.sources) {
      if (!listed.has(s)) throw new WireFormatError(`layer ${layer}: worker ${s} sent rows to worker ${this.target}, which expects only workers ${sources.join(', ')}`);
      for (const part of source.rows) for (const row of part) rows.push({ row, source: s });
      source.rows.length = 0;
    }
    rows.sort((a, b) => a.row.neuron - b.row.neuron);
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].row.neuron === rows[i - 1].row.neuron) {
        throw new WireFormatError(`layer ${layer}: neuron ${rows[i].row.neuron} arrived twice at worker ${this.target} (from workers ${rows[i - 1].source} and ${rows[i].source})`);
      }
    }
    state.taken = true;
    return rows.map((r) => r.row);
  }
}
