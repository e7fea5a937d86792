// The layer engine behind SparseLayerKernel: every engine, path and thread count bit-identical,
// worker shares, rows moving between blocks and sparse rows, the staging areas growing mid-layer,
// and what the returned rows promise (views, read out when read, refused when stale).
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../../model/random.ts';
import { prepareLayer, prepareLayerOutputs, SparseLayerKernel, type LayerWork } from '../../functions/kernels/layer-kernel.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import type { SparseLayer, SparseNetwork, SparseRows } from '../../model/network.ts';
import { naiveInference, toDense } from '../helpers/reference.ts';

/**
 * A random network with mixed-sign weights and fan-in up to `maxFanIn` (some outputs have none);
 * layer l's weights are uniform in [-shift, 1 - shift) * 0.9 with shift = shifts[l % length].
 */
function randomNetwork(neurons: number, layers: number, seed: number, maxFanIn = 12, bias = -0.05, cap = 4, shifts = [0.35]): SparseNetwork {
  const random = new SeededRandom(seed);
  const out: SparseLayer[] = [];
  for (let l = 0; l < layers; l++) {
    const starts = [0], index: number[] = [], weight: number[] = [];
    for (let j = 0; j < neurons; j++) {
      const fanIn = random.nextInt(Math.min(maxFanIn, neurons) + 1);
      for (const k of [...random.permutation(neurons).subarray(0, fanIn)].sort((a, b) => a - b)) {
        index.push(k);
        weight.push(Math.fround((random.next() - shifts[l % shifts.length]) * 0.9));
      }
      starts.push(index.length);
    }
    out.push({ neurons, outputStart: Uint32Array.from(starts), inputIndex: Uint32Array.from(index), weight: Float32Array.from(weight) });
  }
  return { neurons, layers: out, bias, activationCap: cap };
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

const plain = (rows: SparseRows) => ({ rowStart: [...rows.rowStart], columnIndex: [...rows.columnIndex], value: [...rows.value] });

const kernels: SparseLayerKernel[] = [];
function kernel(neurons: number, options: ConstructorParameters<typeof SparseLayerKernel>[1] = {}): SparseLayerKernel {
  const k = new SparseLayerKernel(neurons, options);
  kernels.push(k);
  return k;
}
afterAll(() => { for (const k of kernels) k.close(); });

describe('layer engine', () => {
  it('every engine, gather threshold and thread count gives the same rows bit for bit', () => {
    const network = generateRadixNetwork({ neurons: 1024, layers: 16, seed: 4 });
    const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 4 });
    const reference = inferSerial(network, inputs, { gatherAboveDensity: 2, gatherEngine: 'typescript' });
    expect(reference.categories.length).toBe(19);
    const macs = new Map<number, number>([[2, reference.multiplyAdds]]);
    for (const [gatherAboveDensity, gatherEngine, threads] of [
      [0, 'typescript', 1], [0.1, 'typescript', 1], [0, 'wasm-simd', 1], [0.1, 'wasm-simd', 1], [0.25, 'wasm-simd', 1], [2, 'wasm-simd', 1],
      [0, 'wasm-simd', 2], [0.25, 'wasm-simd', 2], [2, 'wasm-simd', 3], [0.1, 'wasm-simd', 3], [0.25, 'wasm-simd', 3],
    ] as const) {
      const result = inferSerial(network, inputs, { kernel: kernel(1024, { gatherAboveDensity, gatherEngine, threads }) });
      const label = `${gatherEngine}, gather above ${gatherAboveDensity}, ${threads} threads`;
      expect(plain(result.activations), label).toEqual(plain(reference.activations));
      // the same rows take the same paths whatever the engine or threads
      expect(result.multiplyAdds, label).toBe(macs.get(gatherAboveDensity) ?? result.multiplyAdds);
      macs.set(gatherAboveDensity, result.multiplyAdds);
    }
  });

  it('rows that thin out, die and fill up again move between blocks and sparse rows and stay exact', () => {
    // Layers alternately mostly positive and mostly negative: rows cross the gather threshold in
    // both directions (checked below), so carried lanes are scattered and blocks repacked.
    const network = randomNetwork(96, 10, 31, 24, -0.02, 6, [0.2, 0.6]);
    const inputs = randomRows(70, 96, 0.35, 32);
    const expected = naiveInference(network, inputs);
    const crossings = { down: 0, up: 0 };
    for (const [gatherEngine, threads] of [['typescript', 1], ['wasm-simd', 1], ['wasm-simd', 2]] as const) {
      const k = kernel(96, { gatherAboveDensity: 0.2, gatherEngine, threads });
      let y: SparseRows = inputs;
      let gatheredBefore = new Set<number>();
      for (const layer of network.layers) {
        const gathered = new Set<number>();
        for (let r = 0; r < y.rows; r++) if (y.rowStart[r + 1] - y.rowStart[r] > 0.2 * 96) gathered.add(r);
        for (let r = 0; r < y.rows; r++) {
          const length = y.rowStart[r + 1] - y.rowStart[r];
          if (gatheredBefore.has(r) && length > 0 && !gathered.has(r)) crossings.down++;
          if (!gatheredBefore.has(r) && gathered.has(r)) crossings.up++;
        }
        gatheredBefore = gathered;
        y = k.apply(y, prepareLayer(layer), network.bias, network.activationCap);
      }
      expect(toDense(y), `${gatherEngine}, ${threads} threads`).toEqual(expected);
    }
    expect(crossings.down).toBeGreaterThan(0);
    expect(crossings.up).toBeGreaterThan(0);
  });

  it('computes a worker share (prepareLayerOutputs) exactly as the full layer does', () => {
    const network = randomNetwork(80, 4, 41, 16);
    const inputs = randomRows(50, 80, 0.4, 42);
    const random = new SeededRandom(43);
    const owner = Array.from({ length: 80 }, () => random.nextInt(3));
    for (const [gatherAboveDensity, gatherEngine, threads] of [[0, 'typescript', 1], [2, 'typescript', 1], [0, 'wasm-simd', 1], [0.25, 'wasm-simd', 2], [2, 'wasm-simd', 2]] as const) {
      let full: SparseRows = inputs;
      const fullKernel = kernel(80, { gatherAboveDensity, gatherEngine, threads });
      const shareKernels = [0, 1, 2].map(() => kernel(80, { gatherAboveDensity, gatherEngine, threads }));
      for (const layer of network.layers) {
        const shares = [0, 1, 2].map((q) => {
          const owned = Uint32Array.from(owner.flatMap((o, j) => (o === q ? [j] : [])));
          const starts = [0], index: number[] = [], weight: number[] = [];
          for (let j = 0; j < 80; j++) {
            if (owner[j] === q) for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) { index.push(layer.inputIndex[e]); weight.push(layer.weight[e]); }
            starts.push(index.length);
          }
          const expanded: SparseLayer = { neurons: 80, outputStart: Uint32Array.from(starts), inputIndex: Uint32Array.from(index), weight: Float32Array.from(weight) };
          return toDense(shareKernels[q].apply(full, prepareLayerOutputs(expanded, owned), network.bias, network.activationCap));
        });
        full = fullKernel.apply(full, prepareLayer(layer), network.bias, network.activationCap);
        const dense = toDense(full);
        for (let q = 0; q < 3; q++) {
          const expected = dense.map((row) => row.map((v, j) => (owner[j] === q ? v : 0)));
          expect(shares[q], `worker ${q}, ${gatherEngine}, gather above ${gatherAboveDensity}, ${threads} threads`).toEqual(expected);
        }
      }
    }
  });

  it('grows a thread\'s staging area in the middle of a layer and stays exact', () => {
    // Every input feeds every output: a row with one nonzero scatters into all 64 outputs, far
    // more than the staging estimate (4 per input nonzero plus one row's outputs) allows.
    const n = 64;
    const all = Uint32Array.from({ length: n * n }, (_, e) => e % n);
    const layer: SparseLayer = { neurons: n, outputStart: Uint32Array.from({ length: n + 1 }, (_, j) => j * n), inputIndex: all, weight: new Float32Array(n * n).fill(0.5) };
    const network: SparseNetwork = { neurons: n, layers: [layer], bias: -0.25, activationCap: 32 };
    const starts = [0], index: number[] = [], value: number[] = [];
    for (let r = 0; r < 40; r++) { index.push(r % n); value.push(1 + r); starts.push(index.length); }
    const inputs: SparseRows = { rows: 40, columns: n, rowStart: Uint32Array.from(starts), columnIndex: Uint32Array.from(index), value: Float32Array.from(value) };
    for (const [gatherEngine, threads] of [['typescript', 1], ['wasm-simd', 1], ['wasm-simd', 2]] as const) {
      const y = kernel(n, { gatherAboveDensity: 2, gatherEngine, threads }).apply(inputs, prepareLayer(layer), network.bias, network.activationCap);
      expect(y.rowStart[40]).toBe(40 * n);
      expect(toDense(y)).toEqual(naiveInference(network, inputs));
    }
  });

  it('gives no entry for a positive sum that rounds to 0 in float32 (the dense reference\'s zero)', () => {
    // 2^-100 * 2^-60 = 2^-160 > 0 rounds to 0 in float32; 2^-100 * 2^-40 = 2^-140 stays (subnormal).
    const layer: SparseLayer = {
      neurons: 2, outputStart: Uint32Array.from([0, 1, 2]), inputIndex: Uint32Array.from([0, 0]), weight: Float32Array.from([2 ** -60, 2 ** -40]),
    };
    const network: SparseNetwork = { neurons: 2, layers: [layer], bias: 0, activationCap: 32 };
    const inputs: SparseRows = { rows: 1, columns: 2, rowStart: Uint32Array.from([0, 1]), columnIndex: Uint32Array.from([0]), value: Float32Array.from([2 ** -100]) };
    for (const [gatherAboveDensity, gatherEngine] of [[0, 'typescript'], [0, 'wasm-simd'], [2, 'typescript'], [2, 'wasm-simd']] as const) {
      const y = kernel(2, { gatherAboveDensity, gatherEngine }).apply(inputs, prepareLayer(layer), network.bias, network.activationCap);
      expect(plain(y)).toEqual({ rowStart: [0, 1], columnIndex: [1], value: [2 ** -140] });
      expect(toDense(y)).toEqual(naiveInference(network, inputs));
    }
  });

  it('hands out views read out when first read, refused after the call after next', () => {
    const network = randomNetwork(40, 3, 51);
    const inputs = randomRows(12, 40, 0.5, 52);
    const k = kernel(40, { gatherAboveDensity: 0.1 });
    const y1 = k.apply(inputs, prepareLayer(network.layers[0]), network.bias, network.activationCap);
    const copy = { ...y1 };
    expect(plain(copy)).toEqual(plain(y1));
    const y2 = k.apply(y1, prepareLayer(network.layers[1]), network.bias, network.activationCap);
    expect(y1.rowStart.length).toBe(13);
    k.apply(y2, prepareLayer(network.layers[2]), network.bias, network.activationCap);
    expect(() => y1.value).toThrow('kernel rows read after the call after next');
    expect(y2.rowStart.length).toBe(13);
  });

  it('reads back rows the caller changed instead of carrying its own blocks', () => {
    const network = randomNetwork(48, 2, 61, 16);
    const inputs = randomRows(30, 48, 0.6, 62);
    const k = kernel(48, { gatherAboveDensity: 0 });
    const y1 = k.apply(inputs, prepareLayer(network.layers[0]), network.bias, network.activationCap);
    for (let i = 0; i < y1.value.length; i++) y1.value[i] = Math.fround(y1.value[i] * 0.5 + 0.25);
    const changed = { ...y1, rowStart: y1.rowStart.slice(), columnIndex: y1.columnIndex.slice(), value: y1.value.slice() };
    const y2 = k.apply(y1, prepareLayer(network.layers[1]), network.bias, network.activationCap);
    const fresh = kernel(48, { gatherAboveDensity: 0 }).apply(changed, prepareLayer(network.layers[1]), network.bias, network.activationCap);
    expect(plain(y2)).toEqual(plain(fresh));
  });

  it('counts the same work on every engine', () => {
    const network = randomNetwork(64, 4, 71, 20);
    const inputs = randomRows(40, 64, 0.3, 72);
    const counted = (options: ConstructorParameters<typeof SparseLayerKernel>[1]) => {
      const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
      const k = kernel(64, options);
      let y: SparseRows = inputs;
      for (const layer of network.layers) y = k.apply(y, prepareLayer(layer), network.bias, network.activationCap, work);
      return work;
    };
    const reference = counted({ gatherAboveDensity: 0.2, gatherEngine: 'typescript' });
    expect(reference.scatterRows).toBeGreaterThan(0);
    expect(reference.gatherRows).toBeGreaterThan(0);
    expect(counted({ gatherAboveDensity: 0.2 })).toEqual(reference);
    expect(counted({ gatherAboveDensity: 0.2, threads: 2 })).toEqual(reference);
  });

  it('computes identical rows once when asked (exact), and counts only that work', () => {
    const network = randomNetwork(64, 6, 101, 20, -0.02, 6);
    const base = randomRows(12, 64, 0.6, 102);
    // every row three times, interleaved: rows r, r + 12, r + 24 are identical
    const starts = [0], index: number[] = [], value: number[] = [];
    for (let copy = 0; copy < 3; copy++) {
      for (let r = 0; r < 12; r++) {
        for (let p = base.rowStart[r]; p < base.rowStart[r + 1]; p++) { index.push(base.columnIndex[p]); value.push(base.value[p]); }
        starts.push(index.length);
      }
    }
    const inputs: SparseRows = { rows: 36, columns: 64, rowStart: Uint32Array.from(starts), columnIndex: Uint32Array.from(index), value: Float32Array.from(value) };
    const run = (options: ConstructorParameters<typeof SparseLayerKernel>[1]) => {
      const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
      const k = kernel(64, options);
      let y: SparseRows = inputs;
      for (const layer of network.layers) y = k.apply(y, prepareLayer(layer), network.bias, network.activationCap, work);
      return { rows: plain(y), work };
    };
    const full = run({ gatherAboveDensity: 0 });
    expect(full.rows.rowStart[36]).toBeGreaterThan(0);
    expect(full.work.gatherRows).toBe(6 * 27); // 9 of the 12 rows are alive, three times each
    for (const [gatherEngine, threads] of [['typescript', 1], ['wasm-simd', 1], ['wasm-simd', 2]] as const) {
      const once = run({ gatherAboveDensity: 0, gatherEngine, threads, identicalRowsOnce: true });
      expect(once.rows, `${gatherEngine}, ${threads} threads`).toEqual(full.rows);
      // the first layer reads sparse rows in (no lanes to compare yet); every later one computes a third
      expect(once.work.gatherRows).toBe(27 + 5 * 9);
    }
  });

  it('refuses inputs whose columns are out of range or do not ascend, and bad thread counts', () => {
    const layer = prepareLayer(randomNetwork(8, 1, 81).layers[0]);
    const rows = (columnIndex: number[]): SparseRows => ({ rows: 1, columns: 8, rowStart: Uint32Array.from([0, columnIndex.length]), columnIndex: Uint32Array.from(columnIndex), value: new Float32Array(columnIndex.length).fill(1) });
    for (const gatherEngine of ['wasm-simd', 'typescript'] as const) {
      const k = kernel(8, { gatherEngine });
      expect(() => k.apply(rows([1, 8]), layer, 0, 4)).toThrow('input row 0: column 8 is not below 8');
      expect(() => k.apply(rows([3, 3]), layer, 0, 4)).toThrow('input row 0: column 3 does not ascend');
      expect(() => k.apply(rows([4, 2]), layer, 0, 4)).toThrow('input row 0: column 2 does not ascend');
    }
    expect(() => new SparseLayerKernel(8, { threads: 0 })).toThrow('field threads: kernel threads must be a whole number from 1 to 64, got 0');
    expect(() => new SparseLayerKernel(8, { threads: 2, gatherEngine: 'typescript' })).toThrow('field threads: kernel threads need the wasm-simd engine');
  });

  it('stops its threads on close()', () => {
    const k = new SparseLayerKernel(16, { threads: 2 });
    const layer = prepareLayer(randomNetwork(16, 1, 91).layers[0]);
    k.apply(randomRows(8, 16, 0.5, 92), layer, 0, 4);
    expect(k.name).toBe('typescript (gather: wasm-simd, 2 threads)');
    k.close();
    k.close();
    expect(() => k.apply(randomRows(8, 16, 0.5, 93), layer, 0, 4)).toThrow('kernel threads used after close()');
  });
});
