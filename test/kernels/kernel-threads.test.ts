// The kernel's threads on the real benchmark (1024 neurons x 120 layers, all 10,000 inputs): the
// final activations of 2 and 3 threads equal one thread's bit for bit, and the categories the
// truth; so do the identical-rows shortcut's. Missing data fails, never skips.
import { beforeAll, describe, expect, it } from 'vitest';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { SparseLayerKernel } from '../../functions/kernels/layer-kernel.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { loadRealCase } from '../helpers/shared-data.ts';

let network: SparseNetwork;
let inputs: SparseRows;
let truth: number[];
let oneThread: SerialInferenceResult;

beforeAll(() => {
  ({ network, inputs, truth } = loadRealCase());
  oneThread = inferSerial(network, inputs);
});

describe('kernel threads on the real GraphChallenge case', () => {
  it.each([2, 3])('%i threads give one thread\'s activations bit for bit', (threads) => {
    const kernel = new SparseLayerKernel(network.neurons, { threads });
    try {
      const result = inferSerial(network, inputs, { kernel });
      expect(result.backend).toBe(`typescript (gather: wasm-simd, ${threads} threads)`);
      expect(result.categories).toEqual(truth);
      expect(result.multiplyAdds).toBe(oneThread.multiplyAdds);
      expect(result.activations.rowStart).toEqual(oneThread.activations.rowStart);
      expect(result.activations.columnIndex).toEqual(oneThread.activations.columnIndex);
      expect(result.activations.value).toEqual(oneThread.activations.value);
    } finally {
      kernel.close();
    }
  });

  it('the identical-rows shortcut gives the same activations with a fraction of the work', () => {
    for (const threads of [1, 2]) {
      const kernel = new SparseLayerKernel(network.neurons, { threads, identicalRowsOnce: true });
      try {
        const result = inferSerial(network, inputs, { kernel });
        expect(result.activations.rowStart).toEqual(oneThread.activations.rowStart);
        expect(result.activations.columnIndex).toEqual(oneThread.activations.columnIndex);
        expect(result.activations.value).toEqual(oneThread.activations.value);
        expect(result.multiplyAdds).toBeLessThan(oneThread.multiplyAdds / 2);
      } finally {
        kernel.close();
      }
    }
  });
});
