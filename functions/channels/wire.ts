// The wire format of activation rows between workers (queue channel: SNS -> SQS; the object channel
// can carry the same bytes). An activation row is one neuron's activations over all samples of the
// batch (a column of Y, FSD-Inference's "row"): a source worker sends, between layers, the rows of
// the neurons it owns that a target needs. This module turns rows into messages and back; packing
// rows into messages under the size limit is packing.ts, reassembly on the receiver reassembly.ts,
// the SNS/SQS encoding of the bytes transport.ts.
//
// FORMAT VERSION 1. All integers are unsigned LEB128 varints (7 bits a byte, low first, at most 5
// bytes, at most 2^32 - 1) unless a width is given; fixed-width fields are little-endian.
//
// Message = header + payload.
//   offset 0  2 bytes  magic "SW" (0x53 0x57)
//          2  u8       format version (1)
//          3  u8       flags: bit 0 EMPTY (the source has no row for these targets in this layer);
//                      bits 1-2 codec of the payload (0 none, 1 deflate (raw RFC 1951),
//                      2 brotli, 3 zstd); bits 3-7 zero
//          4  varints  run, layer (1-based: the layer that reads these rows, so layer l carries
//                      Y_(l-1)), source worker, samples (rows of the batch), part, chunk index,
//                      chunk count, target count T, then T pairs (target worker, parts that target
//                      receives from this source in this layer; targets ascending), body bytes
//                      (uncompressed body of the whole part), payload bytes (of this chunk)
//             u32      CRC-32 (zlib) of this chunk's payload
//             ...      payload: this chunk's slice of the part's (compressed) body
// A part is a set of whole rows, compressed as one; it travels as chunk count >= 1 messages
// (more than one only when one row is too big for a message). Parts are numbered 0, 1, ... per
// (run, layer, source); every message tells each of its targets how many parts to expect, so a
// receiver knows when it has everything from a source without knowing what the source owns. An
// EMPTY message is a part with no rows and no payload (chunk count 1, body bytes 0): the explicit
// marker that a source had nothing for a target. A multicast message lists several targets.
//
// Body (what the payload decompresses to, the same for every codec):
//   row count R, palette size V, V x f32 palette values, then R rows. Row:
//   neuron      varint: the first row's neuron id, then (id - previous id - 1): ascending, distinct
//   mode        u8: bits 0-1 index mode, bits 2-3 value mode, bits 4-7 zero
//   index mode  0 LIST:   nonzeros n; if n > 0, the first sample, then n - 1 gaps (sample -
//                         previous sample - 1)
//               1 BITMAP: n >= 1, first sample, byte count B, B bytes: bit i (byte i >> 3, bit
//                         i & 7) set when sample first + i is present; bit 0 set, last byte nonzero
//               2 SAME:   the previous row's samples (not on the first row)
//   value mode  0 RAW:     n x f32
//               1 CONST:   one f32, the value of all n (n >= 1)
//               2 PALETTE: n codes into the palette: u8 when V <= 256, else u16
//               3 SAME:    the previous row's values (same n; not on the first row)
// Values are float32 bit patterns copied exactly: -0, NaN payloads, subnormals and negative values
// round-trip, and "equal" means equal bits. Nothing here assumes activations are >= 0 or capped;
// the real data's saturation (after layer ~19 every surviving value is exactly 32, every neuron
// active on the same samples) is exploited losslessly by SAME and CONST.
// Why this shape: the sample sets of a worker's rows are often identical (dense surviving samples),
// the values repeat (a handful of distinct sums, then the cap), and the codecs compress what is left.

import { crc32, brotliCompressSync, brotliDecompressSync, constants as zlibConstants, deflateRawSync, inflateRawSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { WireFormatError } from '../../model/errors.ts';

export const WIRE_FORMAT_VERSION = 1;
export const WIRE_MAGIC = Uint8Array.of(0x53, 0x57);

/** Largest body a part may declare: guards a receiver's memory against a corrupt or hostile header. */
export const MAX_PART_BODY_BYTES = 256 * 1024 * 1024;

/** One neuron's activations over the samples of a batch: ascending sample indices and their values. */
export interface ActivationRow {
  readonly neuron: number;
  readonly sampleIndex: Uint32Array;
  readonly value: Float32Array;
}

export type WireCodecName = 'none' | 'deflate' | 'brotli' | 'zstd';

export interface WireCodec {
  readonly name: WireCodecName;
  /** deflate 0-9, brotli quality 0-11, zstd 1-19 (ignored for none). */
  readonly level: number;
}

const CODEC_IDS: readonly WireCodecName[] = ['none', 'deflate', 'brotli', 'zstd'];
const CODEC_LEVELS: Readonly<Record<WireCodecName, readonly [number, number]>> = {
  none: [0, 0], deflate: [0, 9], brotli: [0, 11], zstd: [1, 19],
};

/**
 * The codec the runtime uses unless told otherwise, measured by `npm run bench -- wire` on the real
 * 1024 x 120 traffic at P = 8 against the rule: lowest SNS + SQS price of the bytes and requests
 * plus the encode and decode CPU seconds at Lambda's price. brotli-5 published 20% fewer bytes than
 * zstd-3 (8.80 vs 11.04 MB) for 1-3 more CPU-seconds over all workers and layers. With SNS-to-SQS
 * data free in one Region (planner/prices), brotli-5, zstd-3 and zstd-9 come within 1% of each
 * other ($0.001374, $0.001374, $0.001377 in one run), less than this shared machine's timing
 * noise; brotli-5 is kept for its fewer bytes, which the
 * emulator's throughput and SQS's 64 KB billing chunks both reward. planner/latency/wire-format.json
 * names the same codec (a test keeps them equal).
 */
export const DEFAULT_WIRE_CODEC: WireCodec = { name: 'brotli', level: 5 };

/** "zstd-3", "deflate-6", "none". */
export function wireCodecLabel(codec: WireCodec): string {
  return codec.name === 'none' ? 'none' : `${codec.name}-${codec.level}`;
}

/** Parses "zstd-3", "brotli-5", "deflate", "none" (no level: the codec's default). */
export function parseWireCodec(text: string): WireCodec {
  const m = /^(none|deflate|brotli|zstd)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new WireFormatError(`unknown codec "${text}" (expected none, deflate-<0..9>, brotli-<0..11> or zstd-<1..19>)`);
  const name = m[1] as WireCodecName;
  const defaults: Record<WireCodecName, number> = { none: 0, deflate: 6, brotli: 5, zstd: 3 };
  const level = m[2] === undefined ? defaults[name] : Number(m[2]);
  const [lo, hi] = CODEC_LEVELS[name];
  if (name === 'none' ? m[2] !== undefined : level < lo || level > hi) {
    throw new WireFormatError(`codec "${text}": ${name === 'none' ? 'none takes no level' : `level must be ${lo}..${hi}`}`);
  }
  return { name, level };
}

/** What a target worker learns from a message about its traffic from the source. */
export interface WireTarget {
  readonly worker: number;
  /** Parts this target receives from the source in this layer (the empty marker counts as one). */
  readonly parts: number;
}

/** The fields a sender chooses; the rest of the header follows from the payload. */
export interface WireAddress {
  readonly run: number;
  readonly layer: number;
  readonly source: number;
  readonly samples: number;
  readonly part: number;
  readonly chunkIndex: number;
  readonly chunkCount: number;
  readonly empty: boolean;
  readonly codec: WireCodecName;
  /** Ascending by worker. */
  readonly targets: readonly WireTarget[];
  readonly bodyBytes: number;
}

export interface WireHeader extends WireAddress {
  readonly version: number;
  readonly payloadBytes: number;
  readonly payloadCrc32: number;
  /** Bytes of the header itself (the payload starts here). */
  readonly headerBytes: number;
}

/** "message from worker 3, layer 5, part 2, chunk 1 of 4": how errors name a message. */
export function describeMessage(h: Pick<WireAddress, 'source' | 'layer' | 'part' | 'chunkIndex' | 'chunkCount'>): string {
  return `message from worker ${h.source}, layer ${h.layer}, part ${h.part}, chunk ${h.chunkIndex + 1} of ${h.chunkCount}`;
}

/** "part 2 from worker 3, layer 5 (4 chunks)": how errors name a reassembled part. */
export function describePart(h: Pick<WireAddress, 'source' | 'layer' | 'part' | 'chunkCount'>): string {
  return `part ${h.part} from worker ${h.source}, layer ${h.layer}${h.chunkCount > 1 ? ` (${h.chunkCount} chunks)` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Bytes in and out

export function varintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** A growable output buffer (also the object channel's directory, exchange-object.ts). */
export class ByteWriter {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity = 256) {
    this.bytes = new Uint8Array(capacity);
  }
  reserve(more: number): void {
    const needed = this.length + more;
    if (needed <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }
  varint(value: number): void {
    this.reserve(5);
    let v = value;
    while (v >= 0x80) {
      this.bytes[this.length++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.bytes[this.length++] = v;
  }
  u16(value: number): void {
    this.reserve(2);
    this.bytes[this.length++] = value & 0xff;
    this.bytes[this.length++] = value >>> 8;
  }
  u32(value: number): void {
    this.reserve(4);
    const b = this.bytes;
    b[this.length++] = value & 0xff;
    b[this.length++] = (value >>> 8) & 0xff;
    b[this.length++] = (value >>> 16) & 0xff;
    b[this.length++] = value >>> 24;
  }
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }
  result(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Reads with bounds checks; every failure names what was being read and where. */
export class ByteReader {
  readonly bytes: Uint8Array;
  at = 0;
  /** What is being read (a row), prefixed to problems; set by the caller as it goes. */
  context = '';
  private readonly where: () => string;
  constructor(bytes: Uint8Array, where: () => string) {
    this.bytes = bytes;
    this.where = where;
  }
  fail(problem: string): WireFormatError {
    return new WireFormatError(`${this.where()}: ${this.context ? `${this.context}: ` : ''}${problem}`);
  }
  get remaining(): number {
    return this.bytes.length - this.at;
  }
  need(count: number, what: string): void {
    if (this.bytes.length - this.at < count) throw this.fail(`truncated: ${what} needs ${count} bytes at offset ${this.at}, ${this.bytes.length - this.at} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.at++];
  }
  u16(what: string): number {
    this.need(2, what);
    const b = this.bytes, i = this.at;
    this.at += 2;
    return b[i] | (b[i + 1] << 8);
  }
  u32(what: string): number {
    this.need(4, what);
    const b = this.bytes, i = this.at;
    this.at += 4;
    return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
  }
  varint(what: string): number {
    const b = this.bytes;
    let value = 0, scale = 1;
    for (let i = 0; i < 5; i++) {
      if (this.at >= b.length) throw this.fail(`truncated: ${what} ends at offset ${this.at}, the end of the data`);
      const byte = b[this.at++];
      if (i === 4 && byte > 0x0f) throw this.fail(`${what} exceeds 2^32 - 1`);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw this.fail(`${what} is longer than 5 bytes`);
  }
  slice(count: number, what: string): Uint8Array {
    this.need(count, what);
    const out = this.bytes.subarray(this.at, this.at + count);
    this.at += count;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Body: rows <-> bytes

const INDEX_LIST = 0, INDEX_BITMAP = 1, INDEX_SAME = 2;
const VALUE_RAW = 0, VALUE_CONST = 1, VALUE_PALETTE = 2, VALUE_SAME = 3;

const bitsOf = (value: Float32Array) => new Uint32Array(value.buffer, value.byteOffset, value.length);

function sameUint32(a: Uint32Array, b: Uint32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function listIndexBytes(samples: Uint32Array): number {
  const n = samples.length;
  if (n === 0) return 0;
  let bytes = varintBytes(samples[0]);
  for (let i = 1; i < n; i++) bytes += varintBytes(samples[i] - samples[i - 1] - 1);
  return bytes;
}

function bitmapByteCount(samples: Uint32Array): number {
  return ((samples[samples.length - 1] - samples[0]) >>> 3) + 1;
}

function allEqual(bits: Uint32Array): boolean {
  const first = bits[0];
  for (let i = 1; i < bits.length; i++) if (bits[i] !== first) return false;
  return true;
}

/** What a body spelled out, for byte models: the entries not covered by SAME or CONST. */
export interface BodyStats {
  /** Sample indices written (rows that do not repeat the previous row's samples). */
  sampleEntries: number;
  /** Values written one by one (RAW or PALETTE rows). */
  valueEntries: number;
}

/**
 * Encodes rows (neuron ids ascending, distinct; sample indices ascending, distinct, < samples) as
 * a body. Each row takes the smallest index form and the cheapest value form; values that neither
 * repeat the previous row nor are constant go through a palette when that is smaller.
 */
export function encodeRowsBody(rows: readonly ActivationRow[], samples: number, stats?: BodyStats): Uint8Array {
  // Pass 1: validate, choose the index and value forms, collect palette candidates.
  const indexMode = new Uint8Array(rows.length);
  const valueMode = new Uint8Array(rows.length);
  const distinct = new Set<number>();
  let paletteValues = 0;
  let nonzeros = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const n = row.sampleIndex.length;
    if (row.value.length !== n) throw new WireFormatError(`cannot encode neuron ${row.neuron}: ${n} sample indices but ${row.value.length} values`);
    if (!Number.isInteger(row.neuron) || row.neuron < 0 || row.neuron > 0xffffffff) throw new WireFormatError(`cannot encode neuron id ${row.neuron}`);
    if (r > 0 && row.neuron <= rows[r - 1].neuron) {
      throw new WireFormatError(`cannot encode: neuron ${row.neuron} follows neuron ${rows[r - 1].neuron} (rows must be ascending by neuron, each once)`);
    }
    const s = row.sampleIndex;
    for (let i = 0; i < n; i++) {
      if (s[i] >= samples || (i > 0 && s[i] <= s[i - 1])) {
        throw new WireFormatError(`cannot encode neuron ${row.neuron}: sample index ${s[i]} at position ${i} is ${s[i] >= samples ? `not below the ${samples} samples` : 'not above the previous one'}`);
      }
    }
    const previous = r > 0 ? rows[r - 1] : undefined;
    if (previous && sameUint32(previous.sampleIndex, s)) {
      indexMode[r] = INDEX_SAME;
    } else if (n > 0 && varintBytes(s[0]) + varintBytes(bitmapByteCount(s)) + bitmapByteCount(s) < listIndexBytes(s)) {
      indexMode[r] = INDEX_BITMAP;
    } else {
      indexMode[r] = INDEX_LIST;
    }
    const bits = bitsOf(row.value);
    if (n === 0) {
      valueMode[r] = VALUE_RAW;
    } else if (previous && sameUint32(bitsOf(previous.value), bits)) {
      valueMode[r] = VALUE_SAME;
    } else if (allEqual(bits)) {
      valueMode[r] = VALUE_CONST;
    } else {
      valueMode[r] = VALUE_PALETTE; // decided below: palette or raw
      for (let i = 0; i < n; i++) distinct.add(bits[i]);
      paletteValues += n;
    }
    nonzeros += n;
  }
  const paletteSize = distinct.size;
  const codeBytes = paletteSize <= 256 ? 1 : 2;
  const usePalette = paletteSize > 0 && paletteSize <= 65536 && 4 * paletteSize + codeBytes * paletteValues < 4 * paletteValues;
  const palette = usePalette ? Uint32Array.from(distinct).sort() : new Uint32Array(0);
  const code = new Map<number, number>();
  palette.forEach((bits, i) => code.set(bits, i));

  if (stats) {
    for (let r = 0; r < rows.length; r++) {
      const n = rows[r].sampleIndex.length;
      if (indexMode[r] !== INDEX_SAME) stats.sampleEntries += n;
      if (valueMode[r] === VALUE_PALETTE) stats.valueEntries += n;
    }
  }

  // Pass 2: write.
  const w = new ByteWriter(16 + 4 * paletteSize + 4 * rows.length + 2 * nonzeros);
  w.varint(rows.length);
  w.varint(palette.length);
  for (const bits of palette) w.u32(bits);
  let previousNeuron = -1;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const s = row.sampleIndex;
    const n = s.length;
    w.varint(r === 0 ? row.neuron : row.neuron - previousNeuron - 1);
    previousNeuron = row.neuron;
    const vMode = valueMode[r] === VALUE_PALETTE && !usePalette ? VALUE_RAW : valueMode[r];
    w.u8(indexMode[r] | (vMode << 2));
    if (indexMode[r] === INDEX_LIST) {
      w.varint(n);
      if (n > 0) {
        w.varint(s[0]);
        for (let i = 1; i < n; i++) w.varint(s[i] - s[i - 1] - 1);
      }
    } else if (indexMode[r] === INDEX_BITMAP) {
      const first = s[0];
      const byteCount = bitmapByteCount(s);
      w.varint(n);
      w.varint(first);
      w.varint(byteCount);
      w.reserve(byteCount);
      const at = w.length;
      w.bytes.fill(0, at, at + byteCount);
      for (let i = 0; i < n; i++) {
        const bit = s[i] - first;
        w.bytes[at + (bit >>> 3)] |= 1 << (bit & 7);
      }
      w.length += byteCount;
    }
    const bits = bitsOf(row.value);
    if (vMode === VALUE_RAW) {
      for (let i = 0; i < n; i++) w.u32(bits[i]);
    } else if (vMode === VALUE_CONST) {
      w.u32(bits[0]);
    } else if (vMode === VALUE_PALETTE) {
      if (codeBytes === 1) {
        for (let i = 0; i < n; i++) w.u8(code.get(bits[i])!);
      } else {
        for (let i = 0; i < n; i++) w.u16(code.get(bits[i])!);
      }
    }
  }
  return w.result();
}

/**
 * Decodes a body. Rows with the SAME form share the previous row's arrays: treat rows as read-only.
 * `where` names the message in errors.
 */
export function decodeRowsBody(body: Uint8Array, samples: number, where = 'body'): ActivationRow[] {
  const r = new ByteReader(body, () => where);
  const fail = (problem: string) => r.fail(problem);
  const b = body;
  const rowCount = r.varint('row count');
  const paletteSize = r.varint('palette size');
  if (paletteSize > 65536) throw fail(`palette of ${paletteSize} values (at most 65536)`);
  r.need(4 * paletteSize, 'palette');
  const palette = new Uint32Array(paletteSize);
  for (let i = 0; i < paletteSize; i++) palette[i] = r.u32('palette');
  // Each row takes at least 2 bytes: a corrupt count cannot make us allocate much.
  if (rowCount > r.remaining / 2) throw fail(`${rowCount} rows cannot fit in ${r.remaining} bytes`);
  const rows: ActivationRow[] = [];
  let neuron = -1;
  let previous: ActivationRow | undefined;
  for (let k = 0; k < rowCount; k++) {
    r.context = `row ${k}`;
    const delta = r.varint('neuron');
    neuron = k === 0 ? delta : neuron + delta + 1;
    if (neuron > 0xffffffff) throw fail(`neuron id ${neuron} exceeds 2^32 - 1`);
    r.context = `row ${k} (neuron ${neuron})`;
    const mode = r.u8('mode');
    if (mode > 0x0f) throw fail(`mode byte ${mode} has reserved bits set`);
    const indexMode = mode & 3, valueMode = mode >>> 2;
    let sampleIndex: Uint32Array;
    if (indexMode === INDEX_LIST) {
      const n = r.varint('nonzeros');
      if (n > samples) throw fail(`${n} nonzeros exceed the ${samples} samples`);
      sampleIndex = new Uint32Array(n);
      let at = -1;
      for (let i = 0; i < n; i++) {
        const gap = r.varint('sample index');
        at = i === 0 ? gap : at + gap + 1;
        if (at >= samples) throw fail(`sample index ${at} is not below the ${samples} samples`);
        sampleIndex[i] = at;
      }
    } else if (indexMode === INDEX_BITMAP) {
      const n = r.varint('nonzeros');
      const first = r.varint('first sample');
      const byteCount = r.varint('bitmap size');
      if (n < 1 || n > samples) throw fail(`a bitmap row needs 1..${samples} nonzeros, got ${n}`);
      if (byteCount < 1 || first + 8 * (byteCount - 1) >= samples) throw fail(`a bitmap of ${byteCount} bytes from sample ${first} runs past the ${samples} samples`);
      r.need(byteCount, 'bitmap');
      const from = r.at;
      r.at += byteCount;
      if ((b[from] & 1) === 0 || b[from + byteCount - 1] === 0) throw fail('a bitmap must start with its first sample and end in a nonzero byte');
      sampleIndex = new Uint32Array(n);
      let count = 0;
      for (let i = 0; i < byteCount; i++) {
        let byte = b[from + i];
        while (byte !== 0) {
          const at = first + 8 * i + 31 - Math.clz32(byte & -byte);
          byte &= byte - 1;
          if (count >= n || at >= samples) throw fail(`the bitmap holds more than ${n} samples or runs past the ${samples} samples`);
          sampleIndex[count++] = at;
        }
      }
      if (count !== n) throw fail(`the bitmap holds ${count} samples, the row says ${n}`);
    } else if (indexMode === INDEX_SAME) {
      if (!previous) throw fail("the first row cannot repeat a previous row's samples");
      sampleIndex = previous.sampleIndex;
    } else {
      throw fail('index mode 3 is reserved');
    }
    const n = sampleIndex.length;
    let value: Float32Array;
    if (valueMode === VALUE_RAW) {
      r.need(4 * n, 'values');
      value = new Float32Array(n);
      const bits = bitsOf(value);
      for (let i = 0, at = r.at; i < n; i++, at += 4) bits[i] = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
      r.at += 4 * n;
    } else if (valueMode === VALUE_CONST) {
      if (n === 0) throw fail('a constant needs at least one nonzero');
      value = new Float32Array(n);
      bitsOf(value).fill(r.u32('constant'));
    } else if (valueMode === VALUE_PALETTE) {
      if (paletteSize === 0) throw fail('palette codes without a palette');
      const width = paletteSize > 256 ? 2 : 1;
      r.need(width * n, 'palette codes');
      value = new Float32Array(n);
      const bits = bitsOf(value);
      for (let i = 0, at = r.at; i < n; i++, at += width) {
        const c = width === 1 ? b[at] : b[at] | (b[at + 1] << 8);
        if (c >= paletteSize) throw fail(`palette code ${c} at position ${i}, the palette has ${paletteSize} values`);
        bits[i] = palette[c];
      }
      r.at += width * n;
    } else {
      if (!previous) throw fail("the first row cannot repeat a previous row's values");
      if (previous.value.length !== n) throw fail(`repeats the previous row's ${previous.value.length} values for ${n} samples`);
      value = previous.value;
    }
    previous = { neuron, sampleIndex, value };
    rows.push(previous);
  }
  r.context = '';
  if (r.remaining !== 0) throw fail(`${r.remaining} unexpected bytes after the last row`);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Codecs

/** Compresses a body with a codec (node:zlib: deflate, brotli and zstd on Node 24). */
export function compressBody(body: Uint8Array, codec: WireCodec): Uint8Array {
  switch (codec.name) {
    case 'none': return body;
    case 'deflate': return deflateRawSync(body, { level: codec.level });
    case 'brotli': return brotliCompressSync(body, {
      params: {
        [zlibConstants.BROTLI_PARAM_QUALITY]: codec.level,
        [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });
    case 'zstd': return zstdCompressSync(body, { params: { [zlibConstants.ZSTD_c_compressionLevel]: codec.level } });
  }
}

/** Decompresses a payload to exactly `bodyBytes`, refusing to produce more. */
export function decompressBody(payload: Uint8Array, codec: WireCodecName, bodyBytes: number, where = 'payload'): Uint8Array {
  if (codec === 'none') {
    if (payload.length !== bodyBytes) throw new WireFormatError(`${where}: ${payload.length} payload bytes, the header says the body has ${bodyBytes}`);
    return payload;
  }
  if (bodyBytes === 0) throw new WireFormatError(`${where}: a ${codec} payload for an empty body`);
  let body: Uint8Array;
  try {
    const options = { maxOutputLength: bodyBytes };
    body = codec === 'deflate' ? inflateRawSync(payload, options)
      : codec === 'brotli' ? brotliDecompressSync(payload, options)
        : zstdDecompressSync(payload, options);
  } catch (error) {
    throw new WireFormatError(`${where}: payload does not decompress with ${codec} to the ${bodyBytes} bytes the header says (${(error as Error).message})`);
  }
  if (body.length !== bodyBytes) throw new WireFormatError(`${where}: payload decompresses to ${body.length} bytes, the header says ${bodyBytes}`);
  return body;
}

// ---------------------------------------------------------------------------------------------
// Messages

const FLAG_EMPTY = 1;
const FIXED_HEADER_BYTES = 4;
const CRC_BYTES = 4;

/** The most header bytes a message to `targetCount` targets can take (every varint at 5 bytes). */
export function headerBytesBound(targetCount: number): number {
  return FIXED_HEADER_BYTES + 5 * (8 + 2 * targetCount + 2) + CRC_BYTES;
}

function checkAddress(a: WireAddress): void {
  const problem = (text: string) => new WireFormatError(`cannot encode ${describeMessage(a)}: ${text}`);
  for (const [name, v] of [['run', a.run], ['layer', a.layer], ['source', a.source], ['samples', a.samples], ['part', a.part], ['chunk index', a.chunkIndex], ['chunk count', a.chunkCount], ['body bytes', a.bodyBytes]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw problem(`${name} ${v} is not an integer in 0..2^32-1`);
  }
  if (a.chunkCount < 1 || a.chunkIndex >= a.chunkCount) throw problem('chunk index must be below a chunk count >= 1');
  if (a.targets.length === 0) throw problem('a message needs at least one target');
  a.targets.forEach((t, i) => {
    if (!Number.isInteger(t.worker) || t.worker < 0 || t.worker > 0xffffffff || !Number.isInteger(t.parts) || t.parts < 1) throw problem(`target ${t.worker} with ${t.parts} parts`);
    if (i > 0 && t.worker <= a.targets[i - 1].worker) throw problem('targets must be ascending, each once');
  });
  if (a.empty && (a.bodyBytes !== 0 || a.chunkCount !== 1)) throw problem('an empty marker has no body and one chunk');
  if (a.bodyBytes > MAX_PART_BODY_BYTES) throw problem(`a body of ${a.bodyBytes} bytes exceeds ${MAX_PART_BODY_BYTES}`);
}

/** One message: the header for `address` followed by `payload` (this chunk's slice of the part's payload). */
export function encodeWireMessage(address: WireAddress, payload: Uint8Array): Uint8Array {
  checkAddress(address);
  if (address.empty && payload.length !== 0) throw new WireFormatError(`cannot encode ${describeMessage(address)}: an empty marker carries no payload`);
  const w = new ByteWriter(headerBytesBound(address.targets.length) + payload.length);
  w.raw(WIRE_MAGIC);
  w.u8(WIRE_FORMAT_VERSION);
  w.u8((address.empty ? FLAG_EMPTY : 0) | (CODEC_IDS.indexOf(address.codec) << 1));
  for (const v of [address.run, address.layer, address.source, address.samples, address.part, address.chunkIndex, address.chunkCount, address.targets.length]) w.varint(v);
  for (const t of address.targets) {
    w.varint(t.worker);
    w.varint(t.parts);
  }
  w.varint(address.bodyBytes);
  w.varint(payload.length);
  w.u32(crc32(payload));
  w.raw(payload);
  return w.result();
}

/**
 * Reads and checks a message's header and returns it with the payload (a view into `bytes`).
 * `origin` names where the bytes came from (a queue message id) in errors about a header too
 * broken to name its source.
 */
export function decodeWireMessage(bytes: Uint8Array, origin = 'message'): { header: WireHeader; payload: Uint8Array } {
  let where = `${origin} (${bytes.length} bytes)`;
  const r = new ByteReader(bytes, () => where);
  r.need(FIXED_HEADER_BYTES, 'the header');
  if (bytes[0] !== WIRE_MAGIC[0] || bytes[1] !== WIRE_MAGIC[1]) throw r.fail('not a stepinfer wire message (bad magic)');
  const version = bytes[2];
  if (version !== WIRE_FORMAT_VERSION) throw r.fail(`wire format version ${version} is not supported (this build reads ${WIRE_FORMAT_VERSION})`);
  const flags = bytes[3];
  r.at = FIXED_HEADER_BYTES;
  if (flags & ~0x07) throw r.fail(`flags 0x${flags.toString(16)} have reserved bits set`);
  const empty = (flags & FLAG_EMPTY) !== 0;
  const codec = CODEC_IDS[(flags >>> 1) & 3];
  const run = r.varint('run');
  const layer = r.varint('layer');
  const source = r.varint('source');
  const samples = r.varint('samples');
  const part = r.varint('part');
  const chunkIndex = r.varint('chunk index');
  const chunkCount = r.varint('chunk count');
  where = describeMessage({ source, layer, part, chunkIndex, chunkCount });
  if (chunkCount < 1 || chunkIndex >= chunkCount) throw r.fail(`chunk index ${chunkIndex} is not below the chunk count ${chunkCount}`);
  const targetCount = r.varint('target count');
  if (targetCount < 1 || targetCount > r.remaining / 2) throw r.fail(`target count ${targetCount} is impossible here`);
  const targets: WireTarget[] = [];
  for (let i = 0; i < targetCount; i++) {
    const worker = r.varint('target');
    const parts = r.varint('parts of target');
    if (i > 0 && worker <= targets[i - 1].worker) throw r.fail('targets are not ascending');
    if (parts < 1) throw r.fail(`target ${worker} is told to expect ${parts} parts`);
    targets.push({ worker, parts });
  }
  const bodyBytes = r.varint('body bytes');
  if (bodyBytes > MAX_PART_BODY_BYTES) throw r.fail(`a body of ${bodyBytes} bytes exceeds ${MAX_PART_BODY_BYTES}`);
  const payloadBytes = r.varint('payload bytes');
  const payloadCrc32 = r.u32('payload checksum');
  const headerBytes = r.at;
  if (r.remaining < payloadBytes) throw r.fail(`truncated: the header announces ${payloadBytes} payload bytes, ${r.remaining} follow`);
  if (r.remaining > payloadBytes) throw r.fail(`${r.remaining - payloadBytes} unexpected bytes after the ${payloadBytes}-byte payload`);
  const payload = r.slice(payloadBytes, 'payload');
  if (empty && (bodyBytes !== 0 || payloadBytes !== 0 || chunkCount !== 1)) throw r.fail('an empty marker must have no body, no payload and one chunk');
  if (crc32(payload) !== payloadCrc32) throw r.fail('payload checksum mismatch: the message is corrupt');
  return {
    header: { version, run, layer, source, samples, part, chunkIndex, chunkCount, empty, codec, targets, bodyBytes, payloadBytes, payloadCrc32, headerBytes },
    payload,
  };
}

/** Decodes a whole part's payload (its chunks' payloads concatenated in order) into rows. */
export function decodePartPayload(header: WireAddress, payload: Uint8Array): ActivationRow[] {
  if (header.empty) return [];
  const where = describePart(header);
  const body = decompressBody(payload, header.codec, header.bodyBytes, where);
  return decodeRowsBody(body, header.samples, where);
}
