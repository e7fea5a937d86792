// The one codec of the dense tensors a stages plan moves (planner/plan/stages-schema.ts): the
// batch's input staged by the client, a stage's output handed to the next, the last stage's
// result. Little-endian float32 values in row-major order, as onnxruntime takes and gives them,
// in two forms:
//   - in a state payload (a handoff under Step Functions' 256 KiB): { dims, base64, crc32 }, the
//     base64 of the raw values and the CRC-32 (8 hex digits) of those raw bytes;
//   - as an S3 object (the staged input, a larger handoff, the result): a small header, then the
//     raw values, so an object is self-describing and checked without its metadata:
//       0  "SITN"          magic
//       4  u32 version
//       8  u32 CRC-32 of every byte but these four
//       12 u32 rank r
//       16 u32[r] dims
//       16 + 4r  f32[product of dims] values
// Both are checked when decoded: magic, version, length, CRC-32, and the dims against the ones the
// plan expects, failing with the key (or payload) and the field. Not compressed: float activations
// compress poorly and the next stage waits on them.

import { z } from 'zod';
import { crc32Hex, fileCrc32 } from '../../model/checksum.ts';
import { WireFormatError } from '../../model/errors.ts';

const MAGIC = 'SITN';
export const TENSOR_FORMAT_VERSION = 1;
const CRC_OFFSET = 8;
const FIXED_HEADER_BYTES = 16;

/** A dense float32 tensor, row-major. */
export interface DenseTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

const dimsSchema = z.array(z.number().int().min(1)).min(1);

/** A tensor in a state payload. */
export const tensorPayloadSchema = z.object({
  dims: dimsSchema,
  /** The raw little-endian float32 values, base64. */
  base64: z.string(),
  /** CRC-32 of the raw bytes, 8 lowercase hex digits. */
  crc32: z.string().regex(/^[0-9a-f]{8}$/, 'a CRC-32: 8 lowercase hex digits'),
}).strict();
export type TensorPayload = z.infer<typeof tensorPayloadSchema>;

/** Elements of a tensor of `dims`. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

const dimsText = (dims: readonly number[]) => `[${dims.join(', ')}]`;

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkShape(tensor: DenseTensor): void {
  const count = elementCount(tensor.dims);
  if (!tensor.dims.every((d) => Number.isInteger(d) && d >= 1) || count !== tensor.data.length) {
    throw new WireFormatError(`a tensor of dims ${dimsText(tensor.dims)} cannot hold ${tensor.data.length} values`, { field: 'dims' });
  }
}

/** The values' bytes, little-endian (every platform Lambda and Node run on is little-endian; a big-endian host swaps a copy). */
function valueBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN ? bytes : Buffer.from(bytes).swap32();
}
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Float32 values of little-endian bytes (a copy in its own buffer, aligned; a Buffer's slice would share its pool). */
function valuesOf(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  if (!LITTLE_ENDIAN) Buffer.from(copy.buffer).swap32();
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

/** Bytes of a tensor's S3 object. */
export function encodeTensorObject(tensor: DenseTensor): Uint8Array {
  checkShape(tensor);
  const headerBytes = FIXED_HEADER_BYTES + 4 * tensor.dims.length;
  const bytes = new Uint8Array(headerBytes + tensor.data.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[i] = MAGIC.charCodeAt(i);
  view.setUint32(4, TENSOR_FORMAT_VERSION, true);
  view.setUint32(12, tensor.dims.length, true);
  tensor.dims.forEach((d, i) => view.setUint32(FIXED_HEADER_BYTES + 4 * i, d, true));
  bytes.set(valueBytes(tensor.data), headerBytes);
  view.setUint32(CRC_OFFSET, fileCrc32(bytes, CRC_OFFSET), true);
  return bytes;
}

/**
 * The tensor in an S3 object; `where` names it (s3://bucket/key) in every error, `expectedDims`
 * are the plan's. Checks magic, version, length and CRC-32 before the dims.
 */
export function decodeTensorObject(bytes: Uint8Array, where: string, expectedDims: readonly number[]): DenseTensor {
  const fail = (field: string, problem: string) => new WireFormatError(problem, { file: where, field });
  if (bytes.length < FIXED_HEADER_BYTES) throw fail('header', `${bytes.length} bytes is shorter than a tensor header (${FIXED_HEADER_BYTES} bytes): truncated or not a tensor`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== MAGIC) throw fail('magic', `not a stepinfer tensor (magic ${JSON.stringify(magic)}, expected "${MAGIC}")`);
  const version = view.getUint32(4, true);
  if (version !== TENSOR_FORMAT_VERSION) throw fail('version', `tensor format version ${version}; this stepinfer reads ${TENSOR_FORMAT_VERSION}`);
  const rank = view.getUint32(12, true);
  const headerBytes = FIXED_HEADER_BYTES + 4 * rank;
  if (rank === 0 || bytes.length < headerBytes) throw fail('rank', `rank ${rank} needs a ${headerBytes}-byte header, the object has ${bytes.length} bytes`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(FIXED_HEADER_BYTES + 4 * i, true));
  const expectedBytes = headerBytes + 4 * elementCount(dims);
  if (bytes.length !== expectedBytes) throw fail('values', `${bytes.length} bytes, a tensor of dims ${dimsText(dims)} takes ${expectedBytes} (truncated or padded)`);
  const stored = view.getUint32(CRC_OFFSET, true), actual = fileCrc32(bytes, CRC_OFFSET);
  if (stored !== actual) throw fail('crc32', `checksum mismatch (stored ${stored.toString(16).padStart(8, '0')}, computed ${actual.toString(16).padStart(8, '0')}): the object is corrupt`);
  if (!sameDims(dims, expectedDims)) throw fail('dims', `a tensor of dims ${dimsText(dims)}, the plan expects ${dimsText(expectedDims)}`);
  return { dims, data: valuesOf(bytes.subarray(headerBytes)) };
}

/** A tensor as a state payload. */
export function encodeTensorPayload(tensor: DenseTensor): TensorPayload {
  checkShape(tensor);
  const bytes = valueBytes(tensor.data);
  return { dims: [...tensor.dims], base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), crc32: crc32Hex(bytes) };
}

/** The tensor of a state payload; `where` names it in every error, `expectedDims` are the plan's. */
export function decodeTensorPayload(payload: TensorPayload, where: string, expectedDims: readonly number[]): DenseTensor {
  const fail = (field: string, problem: string) => new WireFormatError(problem, { file: where, field });
  if (!sameDims(payload.dims, expectedDims)) throw fail('dims', `a tensor of dims ${dimsText(payload.dims)}, the plan expects ${dimsText(expectedDims)}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload.base64) || payload.base64.length % 4 !== 0) throw fail('base64', 'is not base64 text');
  const bytes = Buffer.from(payload.base64, 'base64');
  const expectedBytes = 4 * elementCount(payload.dims);
  if (bytes.length !== expectedBytes) throw fail('base64', `${bytes.length} bytes, a tensor of dims ${dimsText(payload.dims)} takes ${expectedBytes} (truncated or padded)`);
  const actual = crc32Hex(bytes);
  if (actual !== payload.crc32) throw fail('crc32', `checksum mismatch (stored ${payload.crc32}, computed ${actual}): the payload is corrupt`);
  return { dims: [...payload.dims], data: valuesOf(bytes) };
}
