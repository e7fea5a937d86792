// A content checksum of a network, independent of the file format it came from (TSV directory,
// .sdnn, generated): SHA-256 over a canonical little-endian serialization. Workers and the
// workflow generator compare it with the model they load. Also the one file checksum of the
// binary formats (.sdnn, shards): CRC-32 of every byte but the checksum field itself.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { SparseNetwork } from './network.ts';

export const NETWORK_CHECKSUM_ALGORITHM = 'sha256-network-v1';

function bytesOf(a: Uint32Array | Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * SHA-256 of: neurons (u32), layers (u32), bias (f64), activation cap (f64), then per layer
 * outputStart (u32[N+1]), inputIndex (u32[nnz]), weight (f32[nnz]), all little-endian.
 */
export function networkChecksum(network: SparseNetwork): string {
  const hash = createHash('sha256');
  const header = Buffer.alloc(24);
  header.writeUInt32LE(network.neurons, 0);
  header.writeUInt32LE(network.layers.length, 4);
  header.writeDoubleLE(network.bias, 8);
  header.writeDoubleLE(network.activationCap, 16);
  hash.update(header);
  const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
  for (const layer of network.layers) {
    const nnz = layer.outputStart[layer.neurons];
    const parts = [layer.outputStart.subarray(0, layer.neurons + 1), layer.inputIndex.subarray(0, nnz), layer.weight.subarray(0, nnz)];
    for (const part of parts) {
      // A big-endian host hashes a swapped copy (the arrays themselves are shared, never touched).
      hash.update(littleEndian ? bytesOf(part) : Buffer.from(bytesOf(part)).swap32());
    }
  }
  return hash.digest('hex');
}

/** CRC-32 of `bytes` without the 4-byte checksum field at `fieldOffset` (where the file stores it). */
export function fileCrc32(bytes: Uint8Array, fieldOffset: number): number {
  const before = crc32(bytes.subarray(0, fieldOffset));
  return crc32(bytes.subarray(fieldOffset + 4), before);
}

/** CRC-32 of all of `bytes` as 8 hex digits (S3's ChecksumCRC32 is the same value, base64). */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}
