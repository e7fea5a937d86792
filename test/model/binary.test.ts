import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { decodeHeader, decodeNetwork, encodeNetwork, readNetworkFile, validateLayer } from '../../model/binary.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import { FileAccessError, ModelFormatError } from '../../model/errors.ts';
import { tempDirs } from '../helpers/tmp.ts';

const network = generateRadixNetwork({ neurons: 64, layers: 5, seed: 7, bias: -0.3 });

describe('.sdnn binary format', () => {
  const newDir = tempDirs();

  it('round-trips a network exactly, through a file', () => {
    const file = join(newDir(), 'm.sdnn');
    const bytes = encodeNetwork(network);
    writeFileSync(file, bytes);
    const back = readNetworkFile(file);
    expect(bytes.length).toBe(readFileSync(file).length);
    expect(back.neurons).toBe(64);
    expect(back.bias).toBe(-0.3);
    expect(back.activationCap).toBe(32);
    expect(back.layers).toHaveLength(5);
    back.layers.forEach((layer, l) => {
      expect(layer.outputStart).toEqual(network.layers[l].outputStart);
      expect(layer.inputIndex).toEqual(network.layers[l].inputIndex);
      expect(layer.weight).toEqual(network.layers[l].weight);
    });
  });

  it('describes its layers in the header without decoding them', () => {
    const h = decodeHeader(encodeNetwork(network), 'm.sdnn');
    expect(h).toMatchObject({ formatVersion: 1, neurons: 64, layerCount: 5, bias: -0.3, activationCap: 32 });
    expect(h.layerNonzeros).toEqual([2048, 2048, 2048, 2048, 2048]);
    expect(h.layerByteOffsets[1] - h.layerByteOffsets[0]).toBe(4 * 65 + 4 + 2 * 4 * 2048);
  });

  it('decodes zero-copy: layers are views into the file bytes', () => {
    const bytes = encodeNetwork(network);
    const back = decodeNetwork(bytes, 'm.sdnn');
    expect(back.layers[0].weight.buffer).toBe(bytes.buffer);
  });

  it('detects a flipped byte anywhere by the checksum', () => {
    const bytes = encodeNetwork(network);
    for (const at of [20, 60, bytes.length - 1, Math.floor(bytes.length / 2)]) {
      const corrupt = bytes.slice();
      corrupt[at] ^= 0x10;
      expect(() => decodeNetwork(corrupt, 'bad.sdnn')).toThrow(ModelFormatError);
    }
    const corrupt = bytes.slice();
    corrupt[bytes.length - 1] ^= 1;
    expect(() => decodeNetwork(corrupt, 'bad.sdnn')).toThrow(/^bad\.sdnn, field checksum: checksum mismatch .* the file is corrupt$/);
  });

  it.each([
    [(b: Uint8Array) => b.slice(0, 30), 'truncated: 30 bytes is shorter than the 48-byte header'],
    [(b: Uint8Array) => b.slice(0, b.length - 8), /truncated: \d+ bytes, the header describes \d+/],
    [(b: Uint8Array) => { const c = b.slice(); c[0] = 0x58; return c; }, 'not a .sdnn model (bad magic)'],
    [(b: Uint8Array) => { const c = b.slice(); c[4] = 9; return c; }, 'format version 9 is not supported (this build reads 1)'],
    [(b: Uint8Array) => Uint8Array.from([...b, 0, 0, 0, 0, 0, 0, 0, 0]), '8 unexpected bytes after the last layer'],
  ])('rejects a damaged file (%#)', (damage, message) => {
    expect(() => decodeNetwork(damage(encodeNetwork(network)), 'bad.sdnn')).toThrow(message);
  });

  it('validates structure: out-of-range inputs, unsorted inputs, non-finite weights name the layer', () => {
    const layer = network.layers[2];
    const badIndex = { ...layer, inputIndex: layer.inputIndex.slice() };
    badIndex.inputIndex[5] = 64;
    expect(() => validateLayer(badIndex, 3, 'm.sdnn')).toThrow('m.sdnn, layer 3, field inputIndex: output 1 reads input 65, beyond 64 neurons');
    const unsorted = { ...layer, inputIndex: layer.inputIndex.slice() };
    [unsorted.inputIndex[0], unsorted.inputIndex[1]] = [unsorted.inputIndex[1], unsorted.inputIndex[0]];
    expect(() => validateLayer(unsorted, 3, 'm.sdnn')).toThrow(/output 1 lists input \d+ twice or out of order/);
    const nan = { ...layer, weight: layer.weight.slice() };
    nan.weight[40] = Number.NaN;
    expect(() => validateLayer(nan, 3, 'm.sdnn')).toThrow(/layer 3, field weight: weight of \(input \d+, output 2\) is NaN/);
  });

  it('refuses a file whose checksum is fine but whose structure is not (written by another tool)', () => {
    const layers = network.layers.map((l) => ({ ...l, weight: l.weight.slice() }));
    layers[1].weight[3] = Infinity;
    const file = join(newDir(), 'inf.sdnn');
    writeFileSync(file, encodeNetwork({ ...network, layers }));
    expect(() => readNetworkFile(file)).toThrow(/layer 2, field weight: .* is Infinity/);
  });

  /** A copy of `bytes` edited by `edit`, with the CRC-32 recomputed: only the header checks can refuse it. */
  function craft(bytes: Uint8Array, edit: (view: DataView) => void): Uint8Array {
    const out = bytes.slice();
    const view = new DataView(out.buffer);
    edit(view);
    view.setUint32(40, crc32(out.subarray(44), crc32(out.subarray(0, 40))), true);
    return out;
  }

  it.each([
    ['bias NaN', (v: DataView) => v.setFloat64(16, Number.NaN, true), 'bad.sdnn, field bias: bias is NaN; it must be a finite number'],
    ['bias Infinity', (v: DataView) => v.setFloat64(16, -Infinity, true), 'bad.sdnn, field bias: bias is -Infinity; it must be a finite number'],
    ['cap NaN', (v: DataView) => v.setFloat64(24, Number.NaN, true), 'bad.sdnn, field activationCap: activation cap is NaN; it must be a finite number > 0'],
    ['cap 0', (v: DataView) => v.setFloat64(24, 0, true), 'bad.sdnn, field activationCap: activation cap is 0; it must be a finite number > 0'],
    ['cap Infinity', (v: DataView) => v.setFloat64(24, Infinity, true), 'bad.sdnn, field activationCap: activation cap is Infinity; it must be a finite number > 0'],
    ['reserved at 36', (v: DataView) => v.setUint32(36, 7, true), 'bad.sdnn, field reserved: reserved bytes 36..39 hold 7, not 0'],
    ['reserved at 44', (v: DataView) => v.setUint32(44, 1, true), 'bad.sdnn, field reserved: reserved bytes 44..47 hold 1, not 0'],
    ['layer table reserved', (v: DataView) => v.setUint32(48 + 16 + 4, 9, true), 'bad.sdnn, layer 2, field layerTable: reserved table bytes hold 9, not 0'],
    ['layer offset', (v: DataView) => v.setBigUint64(48 + 16 + 8, 8n, true), /^bad\.sdnn, layer 2, field layerTable: starts at byte 8, expected \d+$/],
    ['nonzeros beyond N x N', (v: DataView) => v.setUint32(48, 0xffffffff, true), 'bad.sdnn, layer 1, field layerTable: 4294967295 nonzeros, more than the 64 x 64 entries of a layer'],
    // 4 (N + 1) wraps to a small number in 32-bit arithmetic for these N: sizes must be computed exactly.
    ['neurons 2^31 - 1', (v: DataView) => v.setUint32(8, 0x7fffffff, true), /^bad\.sdnn: truncated: \d+ bytes, the header describes 8589951104 or more \(layer 1 of 5 ends there\)$/],
    ['neurons 2^32 - 1', (v: DataView) => v.setUint32(8, 0xffffffff, true), /^bad\.sdnn: truncated: \d+ bytes, the header describes 17179885696 or more \(layer 1 of 5 ends there\)$/],
    ['layers 2^32 - 1', (v: DataView) => v.setUint32(12, 0xffffffff, true), /^bad\.sdnn: truncated: \d+ bytes cannot hold the table of 4294967295 layers$/],
  ])('validates every header field behind a correct checksum: %s', (_, edit, message) => {
    const bad = craft(encodeNetwork(network), edit);
    expect(() => decodeHeader(bad, 'bad.sdnn')).toThrow(ModelFormatError);
    expect(() => decodeNetwork(bad, 'bad.sdnn')).toThrow(message);
  });

  it('never writes a header its reader refuses', () => {
    expect(() => encodeNetwork({ ...network, bias: Number.NaN })).toThrow('field bias: cannot write this network: bias is NaN; it must be a finite number');
    expect(() => encodeNetwork({ ...network, activationCap: 0 })).toThrow('field activationCap: cannot write this network: activation cap is 0; it must be a finite number > 0');
  });

  it('names a missing file and a folder where the file belongs', () => {
    const dir = newDir();
    expect(() => readNetworkFile(join(dir, 'none.sdnn'))).toThrow(new FileAccessError('model file not found', { file: join(dir, 'none.sdnn') }));
    mkdirSync(join(dir, 'folder.sdnn'));
    expect(() => readNetworkFile(join(dir, 'folder.sdnn'))).toThrow(new FileAccessError('is a folder, a file was expected', { file: join(dir, 'folder.sdnn') }));
  });
});
