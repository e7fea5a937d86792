// The S3 object channel's object (object-channel.ts): everything one source sends in one layer,
// to all its targets, as the same wire messages the queue channel carries (wire.ts, packed by
// packing.ts), concatenated behind a small directory that says, per message, its length and its
// targets. A target reads the directory from the first bytes of the object (one ranged GET), then
// only the byte range of its own messages if they lie beyond. A row needed by several targets is
// stored once (a multicast message); a target without rows finds the empty marker addressed to it.
//
// FORMAT VERSION 1. Integers are unsigned LEB128 varints as in wire.ts unless a width is given;
// fixed-width fields are little-endian.
//   offset 0  2 bytes  magic "SX" (0x53 0x58)
//          2  u8       object format version (1)
//          3  u32      directory bytes D: the offset of the first message (this header, the
//                      entries and the checksum)
//          7  varints  run, layer, source, message count M, then per message: its wire bytes,
//                      target count T, the T target workers (ascending)
//        D-4  u32      CRC-32 (zlib) of bytes 0 .. D-4
//          D           the M wire messages, in directory order, back to back: message i starts at
//                      D + the lengths of messages 0 .. i-1; the object ends after the last one.
// The header of every wire message repeats the run, layer, source and targets; a reader checks
// they agree with the directory.

import { crc32 } from 'node:zlib';
import { WireFormatError } from '../../model/errors.ts';
import { ByteReader, ByteWriter } from './wire.ts';

export const EXCHANGE_OBJECT_VERSION = 1;
export const EXCHANGE_OBJECT_MAGIC = Uint8Array.of(0x53, 0x58);
/** Bytes before the directory's varints: magic, version and D. A reader needs at least these to know D. */
export const EXCHANGE_OBJECT_PREFIX_BYTES = 7;
const CRC_BYTES = 4;

export interface ExchangeObjectAddress {
  readonly run: number;
  readonly layer: number;
  readonly source: number;
}

/** One wire message of an object and the workers it is for. */
export interface ExchangeMessage {
  readonly wire: Uint8Array;
  /** Ascending, distinct. */
  readonly targets: readonly number[];
}

export interface DirectoryEntry {
  /** Byte offset of the message in the object. */
  readonly offset: number;
  readonly length: number;
  readonly targets: readonly number[];
}

export interface ExchangeDirectory extends ExchangeObjectAddress {
  /** D: where the first message starts. */
  readonly directoryBytes: number;
  readonly entries: readonly DirectoryEntry[];
  /** What the whole object must measure. */
  readonly objectBytes: number;
}

/** The object of one source's messages of one layer. */
export function encodeExchangeObject(address: ExchangeObjectAddress, messages: readonly ExchangeMessage[]): Uint8Array {
  const w = new ByteWriter(64 + 8 * messages.length);
  w.raw(EXCHANGE_OBJECT_MAGIC);
  w.u8(EXCHANGE_OBJECT_VERSION);
  w.u32(0); // D, filled in below
  for (const v of [address.run, address.layer, address.source, messages.length]) w.varint(v);
  for (const m of messages) {
    w.varint(m.wire.length);
    w.varint(m.targets.length);
    for (const t of m.targets) w.varint(t);
  }
  const directoryBytes = w.length + CRC_BYTES;
  const header = w.bytes;
  header[3] = directoryBytes & 0xff;
  header[4] = (directoryBytes >>> 8) & 0xff;
  header[5] = (directoryBytes >>> 16) & 0xff;
  header[6] = directoryBytes >>> 24;
  w.u32(crc32(w.result()));
  for (const m of messages) w.raw(m.wire);
  return w.result();
}

/**
 * The directory of an object from its first bytes (`head`: bytes 0 .. head.length of an object of
 * `objectBytes` bytes), or how many bytes from the start the directory needs when `head` is
 * shorter. `where` names the object in errors (its bucket and key).
 */
export function readExchangeDirectory(head: Uint8Array, objectBytes: number, where: string): ExchangeDirectory | { readonly needBytes: number } {
  const fail = (problem: string) => new WireFormatError(`${where} (${objectBytes} bytes): ${problem}`);
  if (objectBytes < EXCHANGE_OBJECT_PREFIX_BYTES) throw fail('too short for an exchange object');
  if (head.length < EXCHANGE_OBJECT_PREFIX_BYTES) return { needBytes: EXCHANGE_OBJECT_PREFIX_BYTES };
  if (head[0] !== EXCHANGE_OBJECT_MAGIC[0] || head[1] !== EXCHANGE_OBJECT_MAGIC[1]) throw fail('not a stepinfer exchange object (bad magic)');
  if (head[2] !== EXCHANGE_OBJECT_VERSION) throw fail(`exchange object version ${head[2]} is not supported (this build reads ${EXCHANGE_OBJECT_VERSION})`);
  const directoryBytes = (head[3] | (head[4] << 8) | (head[5] << 16) | (head[6] << 24)) >>> 0;
  if (directoryBytes < EXCHANGE_OBJECT_PREFIX_BYTES + CRC_BYTES || directoryBytes > objectBytes) throw fail(`a directory of ${directoryBytes} bytes is impossible here`);
  if (head.length < directoryBytes) return { needBytes: directoryBytes };
  const r = new ByteReader(head.subarray(0, directoryBytes), () => `${where}, directory`);
  r.at = EXCHANGE_OBJECT_PREFIX_BYTES;
  const run = r.varint('run');
  const layer = r.varint('layer');
  const source = r.varint('source');
  const count = r.varint('message count');
  if (count > directoryBytes) throw fail(`${count} messages cannot fit a ${directoryBytes}-byte directory`);
  const entries: DirectoryEntry[] = [];
  let offset = directoryBytes;
  for (let i = 0; i < count; i++) {
    const length = r.varint('message bytes');
    const targetCount = r.varint('target count');
    if (targetCount < 1 || targetCount > r.remaining) throw fail(`message ${i} has an impossible target count ${targetCount}`);
    const targets: number[] = [];
    for (let k = 0; k < targetCount; k++) {
      const t = r.varint('target');
      if (k > 0 && t <= targets[k - 1]) throw fail(`message ${i}: targets are not ascending`);
      targets.push(t);
    }
    entries.push({ offset, length, targets });
    offset += length;
  }
  if (r.at !== directoryBytes - CRC_BYTES) throw fail(`the directory's entries end at byte ${r.at}, its checksum is at ${directoryBytes - CRC_BYTES}`);
  const checksum = r.u32('directory checksum');
  if (crc32(head.subarray(0, directoryBytes - CRC_BYTES)) !== checksum) throw fail('directory checksum mismatch: the object is corrupt');
  if (offset !== objectBytes) throw fail(`the directory accounts for ${offset} bytes`);
  return { run, layer, source, directoryBytes, entries, objectBytes };
}

/** The entries addressed to `target`, in object order. */
export function entriesFor(directory: ExchangeDirectory, target: number): DirectoryEntry[] {
  return directory.entries.filter((e) => e.targets.includes(target));
}
