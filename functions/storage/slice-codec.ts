// The bytes of an activation slice (functions/worker/activation-slice.ts) as one S3 object: a
// worker's inputs, the rows handed from one stage to the next, its final rows and the gathered
// result. Row-major as the kernel reads them, so loading is a copy, not a transpose. Not
// compressed: these objects move once per stage inside a region (free transfer), and the kernel
// waits on them.
//
// Layout (little-endian, 4-byte aligned), format version 1:
//   0  "SISL"            magic
//   4  u32 version
//   8  u32 CRC-32 of every byte but these four
//   12 u32 rows (samples), u32 columns (neurons of the model), u32 held neurons (n), u32 nonzeros (z)
//   28 u32 reserved (0)
//   32 u32[n] neurons, u32[rows + 1] rowStart, u32[z] columnIndex, f32[z] value

import { fileCrc32 } from '../../model/checksum.ts';
import { WireFormatError } from '../../model/errors.ts';
import type { ActivationSlice } from '../worker/activation-slice.ts';

const MAGIC = 'SISL';
export const SLICE_FORMAT_VERSION = 1;
const HEADER_BYTES = 32;
const CRC_OFFSET = 8;

/** The bytes of `slice`. */
export function encodeSlice(slice: ActivationSlice): Uint8Array {
  const { rows } = slice;
  const n = slice.neurons.length, z = rows.rowStart[rows.rows];
  const bytes = new Uint8Array(HEADER_BYTES + 4 * (n + rows.rows + 1 + 2 * z));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[i] = MAGIC.charCodeAt(i);
  const header = [SLICE_FORMAT_VERSION, 0, rows.rows, rows.columns, n, z, 0];
  header.forEach((v, i) => view.setUint32(4 + 4 * i, v, true));
  let at = HEADER_BYTES;
  const put = (array: Uint32Array | Float32Array) => {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), at);
    at += array.byteLength;
  };
  put(slice.neurons);
  put(rows.rowStart.subarray(0, rows.rows + 1));
  put(rows.columnIndex.subarray(rows.rowStart[0], z));
  put(rows.value.subarray(rows.rowStart[0], z));
  view.setUint32(CRC_OFFSET, fileCrc32(bytes, CRC_OFFSET), true);
  return bytes;
}

/**
 * The slice in `bytes`; `where` names the object (bucket and key) in every error. Checks the
 * magic, version, size and checksum, and that the rows hold only the neurons listed, ascending.
 */
export function decodeSlice(input: Uint8Array, where: string): ActivationSlice {
  const fail = (problem: string) => new WireFormatError(`${where}: ${problem}`);
  if (input.length < HEADER_BYTES) throw fail(`${input.length} bytes is shorter than a slice header (${HEADER_BYTES})`);
  // Typed arrays need 4-byte alignment: copy when the bytes do not start on it.
  const bytes = input.byteOffset % 4 === 0 ? input : input.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== MAGIC) throw fail(`not an activation slice (magic "${magic}", expected "${MAGIC}")`);
  const u32 = (offset: number) => view.getUint32(offset, true);
  const version = u32(4);
  if (version !== SLICE_FORMAT_VERSION) throw fail(`slice format version ${version}; this stepinfer reads ${SLICE_FORMAT_VERSION}`);
  const rows = u32(12), columns = u32(16), n = u32(20), z = u32(24);
  const expected = HEADER_BYTES + 4 * (n + rows + 1 + 2 * z);
  if (bytes.length !== expected) throw fail(`${bytes.length} bytes, the header announces ${expected} (truncated or padded)`);
  const stored = u32(CRC_OFFSET), actual = fileCrc32(bytes, CRC_OFFSET);
  if (stored !== actual) throw fail(`checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)}): the object is corrupt`);
  let at = bytes.byteOffset + HEADER_BYTES;
  const take = (count: number) => { const a = new Uint32Array(bytes.buffer.slice(at, at + 4 * count)); at += 4 * count; return a; };
  const neurons = take(n), rowStart = take(rows + 1), columnIndex = take(z);
  const value = new Float32Array(bytes.buffer.slice(at, at + 4 * z));
  const held = new Uint8Array(columns);
  for (let i = 0; i < n; i++) {
    if (neurons[i] >= columns || (i > 0 && neurons[i] <= neurons[i - 1])) throw fail(`neuron list is not ascending within ${columns} columns (entry ${i}: ${neurons[i]})`);
    held[neurons[i]] = 1;
  }
  if (rowStart[0] !== 0 || rowStart[rows] !== z) throw fail(`row starts run from ${rowStart[0]} to ${rowStart[rows]}, not 0 to ${z}`);
  for (let r = 0; r < rows; r++) {
    if (rowStart[r + 1] < rowStart[r]) throw fail(`row ${r} has a negative length`);
    for (let p = rowStart[r]; p < rowStart[r + 1]; p++) {
      const c = columnIndex[p];
      if (c >= columns || held[c] === 0 || (p > rowStart[r] && c <= columnIndex[p - 1])) throw fail(`row ${r} holds column ${c}, not an ascending column of the slice's neurons`);
    }
  }
  return { neurons, rows: { rows, columns, rowStart, columnIndex, value } };
}
