import { describe, expect, it } from 'vitest';
import {
  checkInputsOptions, checkRadixOptions, generatedInputsBytes, generateInputs, generateRadixNetwork, radixNetworkBytes, GRAPH_CHALLENGE_INPUT_DENSITY,
} from '../../model/generate.ts';
import { layerNonzeros, toInputMajor } from '../../model/network.ts';
import { validateLayer } from '../../model/binary.ts';
import { UsageError } from '../../model/errors.ts';

describe('generateRadixNetwork', () => {
  it('builds the benchmark shape: 32 inputs and 32 outputs per neuron, weight 1/16, bias for N', () => {
    const net = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 1 });
    expect(net.bias).toBe(-0.3);
    for (const [l, layer] of net.layers.entries()) {
      validateLayer(layer, l + 1, 'generated');
      const byInput = toInputMajor(layer);
      for (let j = 0; j < 1024; j++) {
        expect(layer.outputStart[j + 1] - layer.outputStart[j]).toBe(32);
        expect(byInput.inputStart[j + 1] - byInput.inputStart[j]).toBe(32);
      }
      expect(layer.weight.every((w) => w === 1 / 16)).toBe(true);
    }
  });

  it('reproduces the real first layer: output 1 reads offsets 0 and 1 of each of the 16 blocks of 64', () => {
    const net = generateRadixNetwork({ neurons: 1024, layers: 1 });
    const first = [...net.layers[0].inputIndex.subarray(0, 32)].map((k) => k + 1);
    // The real n1024-l1.tsv, column 1.
    expect(first).toEqual([1, 2, 65, 66, 129, 130, 193, 194, 257, 258, 321, 322, 385, 386, 449, 450, 513, 514, 577, 578, 641, 642, 705, 706, 769, 770, 833, 834, 897, 898, 961, 962]);
  });

  it('is deterministic for a seed and differs between seeds after the first butterfly round', () => {
    const a = generateRadixNetwork({ neurons: 256, layers: 10, seed: 5, bias: -0.3 });
    const b = generateRadixNetwork({ neurons: 256, layers: 10, seed: 5, bias: -0.3 });
    const c = generateRadixNetwork({ neurons: 256, layers: 10, seed: 6, bias: -0.3 });
    expect(a.layers[9].inputIndex).toEqual(b.layers[9].inputIndex);
    expect(a.layers[0].inputIndex).toEqual(c.layers[0].inputIndex);
    expect(a.layers[9].inputIndex).not.toEqual(c.layers[9].inputIndex);
  });

  it.each([
    [{ neurons: 1000, layers: 2 }, /neurons \(1000\) \/ \(connections \/ 2 = 16\) must be a power of two/],
    [{ neurons: 1024, layers: 0 }, /layers must be an integer >= 1/],
    [{ neurons: 1024, layers: 2, connections: 7 }, /connections must be an even integer/],
    [{ neurons: 2048, layers: 2 }, /no GraphChallenge bias is defined for 2048 neurons/],
  ])('rejects %j', (options, message) => {
    expect(() => generateRadixNetwork(options)).toThrow(UsageError);
    expect(() => generateRadixNetwork(options)).toThrow(message);
  });
});

describe('generateInputs', () => {
  it('switches on round(density * N) distinct neurons per sample at value 1, deterministically', () => {
    const x = generateInputs({ neurons: 1024, samples: 50, seed: 2 });
    const y = generateInputs({ neurons: 1024, samples: 50, seed: 2 });
    expect(x.columnIndex).toEqual(y.columnIndex);
    for (let r = 0; r < 50; r++) {
      const row = x.columnIndex.subarray(x.rowStart[r], x.rowStart[r + 1]);
      expect(row.length).toBe(Math.round(0.104 * 1024));
      for (let i = 1; i < row.length; i++) expect(row[i]).toBeGreaterThan(row[i - 1]);
    }
    expect(x.value.every((v) => v === 1)).toBe(true);
    expect(generateInputs({ neurons: 1024, samples: 50, seed: 3 }).columnIndex).not.toEqual(x.columnIndex);
  });

  it('rejects bad densities and counts', () => {
    expect(() => generateInputs({ neurons: 64, samples: 1, density: 0 })).toThrow(/density must be in \(0, 1\]/);
    expect(() => generateInputs({ neurons: 64, samples: 0 })).toThrow(/samples must be an integer >= 1/);
  });
});

describe('sizes of generated models, known before generating', () => {
  it('counts the bytes a network and its inputs hold', () => {
    const net = generateRadixNetwork({ neurons: 256, layers: 3, bias: -0.3 });
    const held = net.layers.reduce((sum, l) => sum + l.outputStart.byteLength + l.inputIndex.byteLength + l.weight.byteLength, 0);
    expect(held).toBe(3 * (4 * 257 + 8 * 256 * 32));
    // plus one layer's temporaries (the butterfly table, labels)
    expect(radixNetworkBytes({ neurons: 256, layers: 3 })).toBe(held + 4 * 256 * 32 + 12 * 256);
    expect(layerNonzeros(net.layers[0])).toBe(256 * 32);
    const inputs = generateInputs({ neurons: 256, samples: 7, seed: 1 });
    const perSample = Math.round(GRAPH_CHALLENGE_INPUT_DENSITY * 256);
    expect(inputs.rowStart.byteLength + inputs.columnIndex.byteLength + inputs.value.byteLength).toBe(4 * 8 + 8 * 7 * perSample);
    expect(generatedInputsBytes({ neurons: 256, samples: 7 })).toBe(4 * 8 + 8 * 7 * perSample + 256);
    expect(radixNetworkBytes({ neurons: 1_048_576, layers: 100_000 })).toBeGreaterThan(2 ** 44);
  });

  it('refuses sizes that overflow 32-bit counts before allocating', () => {
    expect(() => checkRadixOptions({ neurons: 2 ** 28, layers: 1, bias: -0.5 })).toThrow('field neurons: 268435456 neurons x 32 connections exceed the 2^32 nonzeros a layer may hold');
    expect(() => checkInputsOptions({ neurons: 4096, samples: 100_000_000 })).toThrow(
      new UsageError('100000000 samples at density 0.104 make 42600000000 nonzeros, over the 2^32 a matrix may hold', { field: 'samples' }),
    );
    expect(() => checkRadixOptions({ neurons: 1024, layers: 1, bias: Number.NaN })).toThrow('field bias: bias must be finite, got NaN');
    expect(checkRadixOptions({ neurons: 1024, layers: 120 })).toMatchObject({ bias: -0.3, blocks: 16, blockSize: 64 });
  });
});
