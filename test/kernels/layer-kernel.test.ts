import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../model/random.ts';
import { prepareLayer, SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseLayer, SparseNetwork, SparseRows } from '../../model/network.ts';
import { naiveInference, toDense } from '../helpers/reference.ts';

/** A random network with mixed-sign weights and uneven fan-in (some outputs have no inputs). */
function randomNetwork(neurons: number, layers: number, seed: number): SparseNetwork {
  const random = new SeededRandom(seed);
  const out: SparseLayer[] = [];
  for (let l = 0; l < layers; l++) {
    const starts = [0];
    const index: number[] = [];
    const weight: number[] = [];
    for (let j = 0; j < neurons; j++) {
      const fanIn = random.nextInt(Math.min(12, neurons));
      const picked = [...random.permutation(neurons).subarray(0, fanIn)].sort((a, b) => a - b);
      for (const k of picked) { index.push(k); weight.push(Math.fround((random.next() - 0.35) * 0.9)); }
      starts.push(index.length);
    }
    out.push({ neurons, outputStart: Uint32Array.from(starts), inputIndex: Uint32Array.from(index), weight: Float32Array.from(weight) });
  }
  return { neurons, layers: out, bias: -0.05, activationCap: 4 };
}

function randomRows(rows: number, columns: number, density: number, seed: number): SparseRows {
  const random = new SeededRandom(seed);
  const starts = [0], index: number[] = [], value: number[] = [];
  for (let r = 0; r < rows; r++) {
    const rowDensity = r % 5 === 0 ? 0 : density * (0.2 + 1.6 * random.next());
    for (let k = 0; k < columns; k++) if (random.next() < rowDensity) { index.push(k); value.push(Math.fround(random.next() * 3)); }
    starts.push(index.length);
  }
  return { rows, columns, rowStart: Uint32Array.from(starts), columnIndex: Uint32Array.from(index), value: Float32Array.from(value) };
}

function expectSameRows(a: SparseRows, b: SparseRows): void {
  expect(a.rows).toBe(b.rows);
  expect([...a.rowStart]).toEqual([...b.rowStart]);
  expect([...a.columnIndex]).toEqual([...b.columnIndex]);
  expect([...a.value]).toEqual([...b.value]);
}

describe('SparseLayerKernel', () => {
  it.each([
    ['scatter only', 2, 'typescript'],
    ['gather only', 0, 'typescript'],
    ['gather only', 0, 'wasm-simd'],
    ['mixed', 0.25, 'typescript'],
    ['mixed', 0.25, 'wasm-simd'],
    ['mostly gather', 0.05, 'wasm-simd'],
  ] as const)('matches a naive dense implementation exactly (%s, %s gather)', (_, gatherAboveDensity, gatherEngine) => {
    for (const seed of [1, 2, 3]) {
      const network = randomNetwork(48, 6, seed);
      const inputs = randomRows(37, 48, 0.3, seed + 100);
      const result = inferSerial(network, inputs, { gatherAboveDensity, gatherEngine });
      const expected = naiveInference(network, inputs);
      expect(toDense(result.activations)).toEqual(expected);
      expect(result.categories).toEqual(expected.flatMap((row, r) => (row.some((v) => v !== 0) ? [r] : [])));
    }
  });

  it('gives bit-identical results on every path, on a generated benchmark-shaped network', () => {
    const network = generateRadixNetwork({ neurons: 1024, layers: 24, seed: 4 });
    const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 4 });
    const scatter = inferSerial(network, inputs, { gatherAboveDensity: 2 });
    expect(scatter.categories.length).toBeGreaterThan(0);
    for (const gatherEngine of ['typescript', 'wasm-simd'] as const) {
      for (const gatherAboveDensity of [0, 0.1, 0.25, 0.6]) {
        expectSameRows(inferSerial(network, inputs, { gatherAboveDensity, gatherEngine }).activations, scatter.activations);
      }
    }
  });

  it('uses the sparse bookkeeping path for very sparse rows of a wide layer', () => {
    const network = randomNetwork(400, 2, 9);
    const inputs = randomRows(20, 400, 0.004, 10);
    expect(toDense(inferSerial(network, inputs, { gatherAboveDensity: 2 }).activations)).toEqual(naiveInference(network, inputs));
  });

  it('adds the bias to nonzero sums only, applies ReLU and the cap', () => {
    // Output 0 = 1*x0 - 1*x1 (exactly zero for x0 = x1: no bias), output 1 = 10*x0 (capped), output 2 = 0.01*x0 (ReLU).
    const layer: SparseLayer = {
      neurons: 3,
      outputStart: Uint32Array.from([0, 2, 3, 4]),
      inputIndex: Uint32Array.from([0, 1, 0, 0]),
      weight: Float32Array.from([1, -1, 10, 0.01]),
    };
    const rows: SparseRows = { rows: 2, columns: 3, rowStart: Uint32Array.from([0, 2, 3]), columnIndex: Uint32Array.from([0, 1, 0]), value: Float32Array.from([2, 2, 3]) };
    for (const [density, gatherEngine] of [[0, 'typescript'], [0, 'wasm-simd'], [2, 'typescript']] as const) {
      const kernel = new SparseLayerKernel(3, { gatherAboveDensity: density, gatherEngine });
      const y = kernel.apply(rows, prepareLayer(layer), 0.5, 8);
      expect(toDense(y)).toEqual([new Float64Array([0, 8, 0.5 + Math.fround(0.01) * 2]).map(Math.fround), new Float64Array([3.5, 8, Math.fround(0.5 + Math.fround(0.01) * 3)])]);
    }
  });

  it('keeps dead rows dead and handles an all-zero input', () => {
    const network = randomNetwork(16, 3, 5);
    const empty: SparseRows = { rows: 4, columns: 16, rowStart: new Uint32Array(5), columnIndex: new Uint32Array(0), value: new Float32Array(0) };
    const result = inferSerial(network, empty);
    expect(result.categories).toEqual([]);
    expect(result.multiplyAdds).toBe(0);
  });

  it('rejects inputs of the wrong width', () => {
    const network = randomNetwork(16, 1, 5);
    expect(() => inferSerial(network, randomRows(2, 15, 0.5, 1))).toThrow('inputs have 15 columns, the network 16 neurons');
  });
});

describe('WebAssembly SIMD gather', () => {
  it('grows its memory for a larger layer and stays exact', () => {
    // A wide layer with a large fan-in forces memory.grow between layers (views are re-made).
    const small = randomNetwork(300, 1, 11);
    const wide: SparseNetwork = generateRadixNetwork({ neurons: 4096, layers: 3, seed: 2 });
    for (const network of [small, wide]) {
      const inputs = network === wide ? generateInputs({ neurons: 4096, samples: 40, seed: 5 }) : randomRows(30, 300, 0.5, 12);
      expectSameRows(
        inferSerial(network, inputs, { gatherAboveDensity: 0, gatherEngine: 'wasm-simd' }).activations,
        inferSerial(network, inputs, { gatherAboveDensity: 2, gatherEngine: 'typescript' }).activations,
      );
    }
  });

  it('sees a layer whose arrays the caller refilled in place (nothing is cached by identity)', () => {
    const network = randomNetwork(64, 1, 21);
    const layer = network.layers[0];
    const prepared = prepareLayer(layer);
    const inputs = randomRows(16, 64, 0.6, 22);
    const simd = new SparseLayerKernel(64, { gatherAboveDensity: 0, gatherEngine: 'wasm-simd' });
    const before = copyRowsOf(simd.apply(inputs, prepared, network.bias, network.activationCap));
    // Same objects, new contents: every weight doubled (exact in float32).
    for (let e = 0; e < layer.weight.length; e++) layer.weight[e] *= 2;
    const fresh = new SparseLayerKernel(64, { gatherAboveDensity: 0, gatherEngine: 'typescript' });
    const after = simd.apply(inputs, prepareLayer(layer), network.bias, network.activationCap);
    expectSameRows(after, fresh.apply(inputs, prepareLayer(layer), network.bias, network.activationCap));
    expect(Array.from(after.value)).not.toEqual(Array.from(before.value));
  });
});

function copyRowsOf(rows: SparseRows): SparseRows {
  return { ...rows, rowStart: rows.rowStart.slice(), columnIndex: rows.columnIndex.slice(), value: rows.value.slice() };
}
