// The .sdnn binary model format: loads in milliseconds (typed-array views, no parsing) and can be
// cut into per-worker shards by byte ranges, since every layer's arrays sit at offsets listed in a
// table up front.
//
// Layout (little-endian, every section 8-byte aligned):
//   0  magic "SDNN"            4  format version (u32)      8  neurons (u32)    12 layers (u32)
//   16 bias (f64, finite)      24 activation cap (f64, finite, > 0)
//   32 layout (u32, 0 = output-major CSR)                   36 reserved (u32, 0)
//   40 CRC-32 of every byte of the file except these 4       44 reserved (u32, 0)
//   48 layer table: per layer { nonzeros u32 (<= N^2), reserved u32 (0), byte offset u64 }
//   then per layer: outputStart u32[N+1], inputIndex u32[nnz], weight f32[nnz]
// Every header field is checked before any array is built, with sizes computed in doubles (exact
// far beyond any real file), so no field can make the reader wrap around, over-allocate or run a
// kernel on NaN.

import { endianness } from 'node:os';
import { ModelFormatError, StepinferError } from './errors.ts';
import { readDataFile } from './read-file.ts';
import { layerNonzeros, type SparseLayer, type SparseNetwork } from './network.ts';
import { fileCrc32 } from './checksum.ts';

export const SDNN_MAGIC = 'SDNN';
export const SDNN_FORMAT_VERSION = 1;
const LAYOUT_OUTPUT_MAJOR_CSR = 0;
const HEADER_BYTES = 48;
const LAYER_ENTRY_BYTES = 16;
const CHECKSUM_OFFSET = 40;

/** Rounds up to a multiple of 8 in double arithmetic (bit operators would wrap at 2^31). */
const align8 = (n: number) => Math.ceil(n / 8) * 8;

function layerBytes(neurons: number, nnz: number): number {
  return align8(4 * (neurons + 1)) + align8(4 * nnz) + align8(4 * nnz);
}

function fileChecksum(bytes: Uint8Array): number {
  return fileCrc32(bytes, CHECKSUM_OFFSET);
}

/** The header values every .sdnn file must have; the writer checks them too, so it never writes a file the reader refuses. */
function checkHeaderValues(h: { neurons: number; layerCount: number; bias: number; activationCap: number }, fail: (message: string, field: string) => never): void {
  if (!(Number.isInteger(h.neurons) && h.neurons >= 1 && h.neurons <= 0xffffffff)) fail(`neurons is ${h.neurons}; it must be from 1 to ${0xffffffff}`, 'neurons');
  if (!(Number.isInteger(h.layerCount) && h.layerCount >= 1 && h.layerCount <= 0xffffffff)) fail(`layer count is ${h.layerCount}; it must be from 1 to ${0xffffffff}`, 'layers');
  if (!Number.isFinite(h.bias)) fail(`bias is ${h.bias}; it must be a finite number`, 'bias');
  if (!(Number.isFinite(h.activationCap) && h.activationCap > 0)) fail(`activation cap is ${h.activationCap}; it must be a finite number > 0`, 'activationCap');
}

export function encodeNetwork(network: SparseNetwork): Uint8Array {
  if (endianness() !== 'LE') throw new StepinferError('the .sdnn format is little-endian; this host is big-endian');
  checkHeaderValues({ neurons: network.neurons, layerCount: network.layers.length, bias: network.bias, activationCap: network.activationCap }, (message, field) => {
    throw new ModelFormatError(`cannot write this network: ${message}`, { field });
  });
  const n = network.neurons;
  const tableBytes = align8(LAYER_ENTRY_BYTES * network.layers.length);
  let size = HEADER_BYTES + tableBytes;
  const offsets: number[] = [];
  for (const layer of network.layers) {
    offsets.push(size);
    size += layerBytes(n, layerNonzeros(layer));
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(Buffer.from(SDNN_MAGIC, 'latin1'), 0);
  view.setUint32(4, SDNN_FORMAT_VERSION, true);
  view.setUint32(8, n, true);
  view.setUint32(12, network.layers.length, true);
  view.setFloat64(16, network.bias, true);
  view.setFloat64(24, network.activationCap, true);
  view.setUint32(32, LAYOUT_OUTPUT_MAJOR_CSR, true);
  network.layers.forEach((layer, l) => {
    const nnz = layerNonzeros(layer);
    const entry = HEADER_BYTES + l * LAYER_ENTRY_BYTES;
    view.setUint32(entry, nnz, true);
    view.setBigUint64(entry + 8, BigInt(offsets[l]), true);
    let at = offsets[l];
    bytes.set(new Uint8Array(layer.outputStart.buffer, layer.outputStart.byteOffset, 4 * (n + 1)), at);
    at += align8(4 * (n + 1));
    bytes.set(new Uint8Array(layer.inputIndex.buffer, layer.inputIndex.byteOffset, 4 * nnz), at);
    at += align8(4 * nnz);
    bytes.set(new Uint8Array(layer.weight.buffer, layer.weight.byteOffset, 4 * nnz), at);
  });
  view.setUint32(CHECKSUM_OFFSET, fileChecksum(bytes), true);
  return bytes;
}

/** Header facts, readable without touching the layers (for `model info` and shard planning). */
export interface SdnnHeader {
  readonly formatVersion: number;
  readonly neurons: number;
  readonly layerCount: number;
  readonly bias: number;
  readonly activationCap: number;
  readonly layerNonzeros: readonly number[];
  readonly layerByteOffsets: readonly number[];
  readonly bytes: number;
  readonly checksum: number;
}

export function decodeHeader(bytes: Uint8Array, file: string): SdnnHeader {
  const fail = (message: string, field?: string): never => { throw new ModelFormatError(message, { file, field }); };
  if (bytes.length < HEADER_BYTES) fail(`truncated: ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== SDNN_MAGIC) fail('not a .sdnn model (bad magic)', 'magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const formatVersion = view.getUint32(4, true);
  if (formatVersion !== SDNN_FORMAT_VERSION) fail(`format version ${formatVersion} is not supported (this build reads ${SDNN_FORMAT_VERSION})`, 'formatVersion');
  const neurons = view.getUint32(8, true);
  const layerCount = view.getUint32(12, true);
  const bias = view.getFloat64(16, true);
  const activationCap = view.getFloat64(24, true);
  if (neurons < 1) fail('neurons is 0', 'neurons');
  if (layerCount < 1) fail('layer count is 0', 'layers');
  checkHeaderValues({ neurons, layerCount, bias, activationCap }, fail);
  const layout = view.getUint32(32, true);
  if (layout !== LAYOUT_OUTPUT_MAJOR_CSR) fail(`layout ${layout} is not supported`, 'layout');
  for (const at of [36, 44]) {
    const reserved = view.getUint32(at, true);
    if (reserved !== 0) fail(`reserved bytes ${at}..${at + 3} hold ${reserved}, not 0`, 'reserved');
  }
  const tableEnd = HEADER_BYTES + align8(LAYER_ENTRY_BYTES * layerCount);
  if (bytes.length < tableEnd) fail(`truncated: ${bytes.length} bytes cannot hold the table of ${layerCount} layers`);
  const layerNonzerosList: number[] = [];
  const layerByteOffsets: number[] = [];
  let expected = tableEnd;
  for (let l = 0; l < layerCount; l++) {
    const entry = HEADER_BYTES + l * LAYER_ENTRY_BYTES;
    const nnz = view.getUint32(entry, true);
    const reserved = view.getUint32(entry + 4, true);
    const offset = view.getBigUint64(entry + 8, true);
    const place = { file, layer: l + 1 };
    if (reserved !== 0) throw new ModelFormatError(`reserved table bytes hold ${reserved}, not 0`, { ...place, field: 'layerTable' });
    if (nnz > neurons * neurons) throw new ModelFormatError(`${nnz} nonzeros, more than the ${neurons} x ${neurons} entries of a layer`, { ...place, field: 'layerTable' });
    if (offset !== BigInt(expected)) throw new ModelFormatError(`starts at byte ${offset}, expected ${expected}`, { ...place, field: 'layerTable' });
    layerNonzerosList.push(nnz);
    layerByteOffsets.push(expected);
    expected += layerBytes(neurons, nnz);
    // Stop at the first layer past the end: the sizes stay exact and the loop short.
    if (expected > bytes.length) fail(`truncated: ${bytes.length} bytes, the header describes ${expected}${l + 1 < layerCount ? ` or more (layer ${l + 1} of ${layerCount} ends there)` : ''}`);
  }
  if (bytes.length !== expected) fail(`${bytes.length - expected} unexpected bytes after the last layer`);
  return {
    formatVersion, neurons, layerCount, bias, activationCap,
    layerNonzeros: layerNonzerosList, layerByteOffsets, bytes: bytes.length,
    checksum: view.getUint32(CHECKSUM_OFFSET, true),
  };
}

/** Checks a layer's structure: monotone starts, indices in range and strictly ascending, finite weights. */
export function validateLayer(layer: SparseLayer, layerNumber: number, file: string): void {
  const fail = (message: string, field: string): never => { throw new ModelFormatError(message, { file, layer: layerNumber, field }); };
  const { neurons: n, outputStart, inputIndex, weight } = layer;
  if (outputStart[0] !== 0) fail('outputStart[0] must be 0', 'outputStart');
  for (let j = 0; j < n; j++) {
    const lo = outputStart[j], hi = outputStart[j + 1];
    if (hi < lo) fail(`outputStart decreases at output ${j + 1}`, 'outputStart');
    if (hi > inputIndex.length) fail(`output ${j + 1} runs past the layer's ${inputIndex.length} nonzeros`, 'outputStart');
    for (let e = lo; e < hi; e++) {
      const k = inputIndex[e];
      if (k >= n) fail(`output ${j + 1} reads input ${k + 1}, beyond ${n} neurons`, 'inputIndex');
      if (e > lo && k <= inputIndex[e - 1]) fail(`output ${j + 1} lists input ${k + 1} twice or out of order`, 'inputIndex');
      if (!Number.isFinite(weight[e])) fail(`weight of (input ${k + 1}, output ${j + 1}) is ${weight[e]}`, 'weight');
    }
  }
  if (outputStart[n] !== inputIndex.length) fail(`outputStart ends at ${outputStart[n]}, the layer has ${inputIndex.length} nonzeros`, 'outputStart');
}

/**
 * Decodes a .sdnn file. The layers are views into `bytes` (no copy) when it is 4-byte aligned.
 * The checksum and every layer's structure are verified: a corrupt file never reaches a kernel.
 */
export function decodeNetwork(bytes: Uint8Array, file: string): SparseNetwork {
  const h = decodeHeader(bytes, file);
  const actual = fileChecksum(bytes);
  if (actual !== h.checksum) {
    throw new ModelFormatError(`checksum mismatch (stored ${h.checksum.toString(16)}, computed ${actual.toString(16)}): the file is corrupt`, { file, field: 'checksum' });
  }
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  const n = h.neurons;
  const layers: SparseLayer[] = h.layerByteOffsets.map((offset, l) => {
    const nnz = h.layerNonzeros[l];
    let at = aligned.byteOffset + offset;
    const outputStart = new Uint32Array(aligned.buffer, at, n + 1);
    at += align8(4 * (n + 1));
    const inputIndex = new Uint32Array(aligned.buffer, at, nnz);
    at += align8(4 * nnz);
    const weight = new Float32Array(aligned.buffer, at, nnz);
    const layer = { neurons: n, outputStart, inputIndex, weight };
    validateLayer(layer, l + 1, file);
    return layer;
  });
  return { neurons: n, layers, bias: h.bias, activationCap: h.activationCap };
}

/** Reads and decodes a .sdnn file (the CLI writes them with encodeNetwork and cli/files.ts). */
export function readNetworkFile(file: string): SparseNetwork {
  return decodeNetwork(readDataFile(file, 'model file not found'), file);
}
