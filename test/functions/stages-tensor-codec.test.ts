// The tensor codec of the stages plans (functions/storage/tensor-codec.ts): both forms round-trip
// bit for bit (NaN payloads, -0 and subnormals included); the object form's bytes are pinned; and
// a corrupt, truncated, padded or foreign object, or a payload of other dims, fails naming where
// and the field.

import { describe, expect, it } from 'vitest';
import { WireFormatError } from '../../model/errors.ts';
import {
  decodeTensorObject, decodeTensorPayload, encodeTensorObject, encodeTensorPayload, TENSOR_FORMAT_VERSION, type DenseTensor,
} from '../../functions/storage/tensor-codec.ts';
import { crc32Hex } from '../../model/checksum.ts';

const WHERE = 's3://bucket/runs/r1/stage0/output.f32';

function tensor(dims: number[], seed = 1): DenseTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = (x / 2 ** 32 - 0.5) * 8;
  }
  return { dims, data };
}

const bits = (t: DenseTensor) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)];

describe('tensor codec', () => {
  it('an object round-trips bit for bit, special values included, and its layout is pinned', () => {
    const t = tensor([2, 3, 4, 5]);
    // A NaN with a payload, -0, the smallest subnormal, infinities.
    new Uint32Array(t.data.buffer).set([0x7fc00123, 0x80000000, 0x00000001, 0x7f800000, 0xff800000], 0);
    const bytes = encodeTensorObject(t);
    expect(bytes.length).toBe(16 + 4 * 4 + 4 * 120);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('SITN');
    const view = new DataView(bytes.buffer);
    expect([view.getUint32(4, true), view.getUint32(12, true), view.getUint32(16, true), view.getUint32(28, true)]).toEqual([TENSOR_FORMAT_VERSION, 4, 2, 5]);
    expect(crc32Hex(bytes)).toBe(crc32Hex(encodeTensorObject(t)));
    const back = decodeTensorObject(bytes, WHERE, [2, 3, 4, 5]);
    expect(back.dims).toEqual([2, 3, 4, 5]);
    expect(bits(back)).toEqual(bits(t));
  });

  it('a decoded object does not share the bytes it came from, and an unaligned buffer decodes', () => {
    const t = tensor([1, 7]);
    const bytes = encodeTensorObject(t);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const back = decodeTensorObject(shifted.subarray(1), WHERE, [1, 7]);
    shifted.fill(0);
    expect(bits(back)).toEqual(bits(t));
  });

  it('a payload round-trips bit for bit and carries its CRC-32', () => {
    const t = tensor([1, 1000], 7);
    const payload = encodeTensorPayload(t);
    expect(payload.dims).toEqual([1, 1000]);
    expect(payload.base64.length).toBe(4 * Math.ceil(4000 / 3));
    expect(payload.crc32).toBe(crc32Hex(Buffer.from(payload.base64, 'base64')));
    expect(bits(decodeTensorPayload(payload, 'the state payload of stage 1', [1, 1000]))).toEqual(bits(t));
  });

  const bytes = encodeTensorObject(tensor([1, 2, 3]));
  const flipped = bytes.slice();
  flipped[30] ^= 0x10;
  const reversionned = bytes.slice();
  new DataView(reversionned.buffer).setUint32(4, 9, true);
  const cases: [string, Uint8Array, readonly number[], RegExp][] = [
    ['a flipped bit', flipped, [1, 2, 3], /field crc32: checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\): the object is corrupt$/],
    ['a truncated object', bytes.subarray(0, bytes.length - 4), [1, 2, 3], /field values: 48 bytes, a tensor of dims \[1, 2, 3\] takes 52 \(truncated or padded\)$/],
    ['a padded object', new Uint8Array([...bytes, 0, 0, 0, 0]), [1, 2, 3], /field values: 56 bytes, a tensor of dims \[1, 2, 3\] takes 52/],
    ['a header cut short', bytes.subarray(0, 10), [1, 2, 3], /field header: 10 bytes is shorter than a tensor header \(16 bytes\)/],
    ['another format', new TextEncoder().encode('{"not":"a tensor at all"}'), [1, 2, 3], /field magic: not a stepinfer tensor \(magic "\{\\"no", expected "SITN"\)/],
    ['another version', reversionned, [1, 2, 3], /field version: tensor format version 9; this stepinfer reads 1$/],
    ['dims the plan does not expect', bytes, [1, 3, 2], /field dims: a tensor of dims \[1, 2, 3\], the plan expects \[1, 3, 2\]$/],
  ];
  it.each(cases)('an object with %s fails naming the key and the field', (_, input, dims, message) => {
    expect(() => decodeTensorObject(input, WHERE, dims)).toThrow(WireFormatError);
    expect(() => decodeTensorObject(input, WHERE, dims)).toThrow(new RegExp(`^${WHERE.replace(/[./]/g, '\\$&')}, ${message.source}`));
  });

  it('a payload of other dims, cut short or changed fails naming the field', () => {
    const payload = encodeTensorPayload(tensor([1, 6]));
    const where = 'the state payload of stage 2 (layer3.0 .. layer4.2)';
    expect(() => decodeTensorPayload(payload, where, [1, 5])).toThrow(`${where}, field dims: a tensor of dims [1, 6], the plan expects [1, 5]`);
    expect(() => decodeTensorPayload({ ...payload, base64: payload.base64.slice(0, 8) }, where, [1, 6])).toThrow(`${where}, field base64: 6 bytes, a tensor of dims [1, 6] takes 24 (truncated or padded)`);
    expect(() => decodeTensorPayload({ ...payload, base64: `A${payload.base64.slice(1)}` }, where, [1, 6])).toThrow(/field crc32: checksum mismatch .*: the payload is corrupt$/);
    expect(() => decodeTensorPayload({ ...payload, base64: 'not base64!' }, where, [1, 6])).toThrow(`${where}, field base64: is not base64 text`);
  });

  it('refuses to encode values that do not fill the dims', () => {
    expect(() => encodeTensorObject({ dims: [2, 3], data: new Float32Array(5) })).toThrow('field dims: a tensor of dims [2, 3] cannot hold 5 values');
  });
});
