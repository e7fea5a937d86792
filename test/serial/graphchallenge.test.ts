// The real benchmark, every layer and every input: must run wherever the tests run (CI included);
// missing data is a failure, never a skip.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  defaultGraphChallengeDir, graphChallengeDataPresent, graphChallengePaths, readCategories, readGraphChallengeNetwork, readInputTsv,
} from '../../model/graphchallenge.ts';
import { encodeNetwork, decodeNetwork } from '../../model/binary.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { createLayerKernel } from '../../functions/kernels/backends.ts';
import { firstRows, type SparseNetwork, type SparseRows } from '../../model/network.ts';

const dir = defaultGraphChallengeDir();

describe('real GraphChallenge 1024 neurons x 120 layers, first 10,000 inputs', () => {
  let network: SparseNetwork;
  let inputs: SparseRows;
  let truth: number[];

  beforeAll(() => {
    if (!graphChallengeDataPresent(dir)) {
      throw new Error(`the real GraphChallenge data is missing at ${dir} (set STEPINFER_DATA); this test must not be skipped`);
    }
    const p = graphChallengePaths(dir);
    network = readGraphChallengeNetwork(p.weightsDir);
    inputs = readInputTsv(p.inputs, 1024);
    truth = [...readCategories(p.categories)].filter((id) => id < 10_000);
  });

  it('reads the published counts', () => {
    expect(network.layers).toHaveLength(120);
    expect(network.layers.every((l) => l.inputIndex.length === 32_768)).toBe(true);
    expect(inputs.rows).toBe(10_000);
    expect(inputs.rowStart[10_000]).toBe(1_067_804);
    expect(truth).toHaveLength(337);
  });

  it('serial inference yields exactly the official 337 categories', () => {
    const result = inferSerial(network, inputs);
    expect(result.categories).toEqual(truth);
    // Rows that survive saturate: every final activation is the cap.
    expect(result.activations.value.every((v) => v === 32)).toBe(true);
  });

  it('the .sdnn round trip runs to the same categories', () => {
    const back = decodeNetwork(encodeNetwork(network), 'real.sdnn');
    expect(inferSerial(back, firstRows(inputs, 3000)).categories).toEqual(truth.filter((id) => id < 3000));
  });

  it('the gpu.js backend agrees on the first 1,000 inputs, all 120 layers', () => {
    const subset = firstRows(inputs, 1000);
    expect(inferSerial(network, subset, { kernel: createLayerKernel(network.neurons, { backend: 'gpu.js' }) }).categories).toEqual(truth.filter((id) => id < 1000));
  });
});
