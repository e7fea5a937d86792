// Synthetic networks and inputs shaped like the GraphChallenge benchmark, deterministic by seed,
// so tests and benchmarks reach N = 65536 without external data.
//
// The real 1024-neuron network (checked on its files) is RadiX-Net: 16 blocks of 64 neurons; in
// layer l output j reads, in every block, the neurons at j's block offset and at that offset XOR
// 2^(l-1) (a radix-2 butterfly), so 16 x 2 = 32 inputs; after the first log2(64) = 6 layers the
// neuron labels are permuted. We build exactly that shape for any N: blocks = connections / 2,
// block size = N / blocks, a butterfly stride cycling through the block, and seeded random
// relabelings after the first round. Every neuron then has exactly `connections` inputs and outputs.

import { UsageError } from './errors.ts';
import { SeededRandom } from './random.ts';
import {
  GRAPH_CHALLENGE_BIAS, GRAPH_CHALLENGE_ACTIVATION_CAP,
  type SparseLayer, type SparseNetwork, type SparseRows,
} from './network.ts';

export interface GenerateNetworkOptions {
  readonly neurons: number;
  readonly layers: number;
  /** Inputs per neuron (and outputs per neuron). Default 32, as in the benchmark. */
  readonly connections?: number;
  /** Every weight. Default 1/16, as in the benchmark. */
  readonly weight?: number;
  /** Default: the benchmark's bias for N. */
  readonly bias?: number;
  readonly seed?: number;
}

const isPowerOfTwo = (n: number) => n >= 1 && (n & (n - 1)) === 0;

/** Density of the benchmark's real inputs: 1,067,804 nonzeros in 10,000 x 1,024 (data/graphchallenge/README.md). */
export const GRAPH_CHALLENGE_INPUT_DENSITY = 0.104;

interface RadixShape {
  readonly connections: number;
  readonly weight: number;
  readonly bias: number;
  readonly blocks: number;
  readonly blockSize: number;
}

/** Checks the options of a generated network without building it (UsageError naming the field). */
export function checkRadixOptions(o: GenerateNetworkOptions): RadixShape {
  const connections = o.connections ?? 32;
  const weight = o.weight ?? 1 / 16;
  const n = o.neurons;
  if (!Number.isInteger(n) || n < 2) throw new UsageError(`neurons must be an integer >= 2, got ${n}`, { field: 'neurons' });
  if (!Number.isInteger(o.layers) || o.layers < 1) throw new UsageError(`layers must be an integer >= 1, got ${o.layers}`, { field: 'layers' });
  if (!Number.isInteger(connections) || connections < 2 || connections % 2 !== 0) {
    throw new UsageError(`connections must be an even integer >= 2, got ${connections}`, { field: 'connections' });
  }
  // Indices and per-layer nonzero counts are 32-bit (in memory and in .sdnn files).
  if (n * connections > 0xffffffff) throw new UsageError(`${n} neurons x ${connections} connections exceed the 2^32 nonzeros a layer may hold`, { field: 'neurons' });
  const blocks = connections / 2;
  const blockSize = n / blocks;
  if (!Number.isInteger(blockSize) || blockSize < 2 || !isPowerOfTwo(blockSize)) {
    throw new UsageError(
      `neurons (${n}) / (connections / 2 = ${blocks}) must be a power of two >= 2 for a radix-2 RadiX-Net`,
      { field: 'neurons' },
    );
  }
  const bias = o.bias ?? GRAPH_CHALLENGE_BIAS[n];
  if (bias === undefined) {
    throw new UsageError(`no GraphChallenge bias is defined for ${n} neurons (only for ${Object.keys(GRAPH_CHALLENGE_BIAS).join(', ')}); give one (model generate --bias)`, { field: 'bias' });
  }
  if (!Number.isFinite(bias)) throw new UsageError(`bias must be finite, got ${bias}`, { field: 'bias' });
  if (!Number.isFinite(weight) || !Number.isFinite(Math.fround(weight))) throw new UsageError(`weight must be finite as a float32, got ${weight}`, { field: 'weight' });
  return { connections, weight, bias, blocks, blockSize };
}

/** Bytes a generated network holds in memory, and the largest temporaries of one layer on top. */
export function radixNetworkBytes(o: GenerateNetworkOptions): number {
  const n = o.neurons;
  const c = o.connections ?? 32;
  const perLayer = 4 * (n + 1) + 8 * n * c;
  return o.layers * perLayer + 4 * n * c + 12 * n;
}

/** Bytes of generated inputs: row starts, one column index and one value per nonzero. */
export function generatedInputsBytes(o: GenerateInputsOptions): number {
  const perSample = Math.max(1, Math.round((o.density ?? GRAPH_CHALLENGE_INPUT_DENSITY) * o.neurons));
  return 4 * (o.samples + 1) + 8 * o.samples * perSample + o.neurons;
}

export function generateRadixNetwork(o: GenerateNetworkOptions): SparseNetwork {
  const { connections, weight, bias, blocks, blockSize } = checkRadixOptions(o);
  const n = o.neurons;
  const stages = Math.log2(blockSize);
  const random = new SeededRandom(o.seed ?? 1);
  const layers: SparseLayer[] = [];
  let inputLabel: Uint32Array | null = null; // labels stay consistent across layers
  for (let l = 0; l < o.layers; l++) {
    const stride = 1 << (l % stages);
    const relabel = l >= stages;
    const outputLabel = relabel ? random.permutation(n) : null;
    const outputStart = new Uint32Array(n + 1);
    const inputIndex = new Uint32Array(n * connections);
    const weights = new Float32Array(n * connections).fill(weight);
    // Structural output s (before relabeling) reads structural inputs of its butterfly pair.
    const inputsOfOutput = new Uint32Array(n * connections);
    for (let s = 0; s < n; s++) {
      const offset = s % blockSize;
      let c = 0;
      for (let b = 0; b < blocks; b++) {
        inputsOfOutput[s * connections + c++] = b * blockSize + offset;
        inputsOfOutput[s * connections + c++] = b * blockSize + (offset ^ stride);
      }
    }
    // Actual output j = outputLabel[s]; actual input = inputLabel[structural input].
    const structuralOf = new Uint32Array(n);
    for (let s = 0; s < n; s++) structuralOf[outputLabel ? outputLabel[s] : s] = s;
    for (let j = 0; j < n; j++) {
      const s = structuralOf[j];
      const row = inputsOfOutput.subarray(s * connections, (s + 1) * connections);
      const mapped = inputLabel ? Uint32Array.from(row, (k) => inputLabel![k]) : row.slice();
      mapped.sort();
      inputIndex.set(mapped, j * connections);
      outputStart[j + 1] = (j + 1) * connections;
    }
    layers.push({ neurons: n, outputStart, inputIndex, weight: weights });
    if (outputLabel) {
      // The next layer's structural input s is this layer's actual output outputLabel[s].
      inputLabel = outputLabel;
    }
  }
  return { neurons: n, layers, bias, activationCap: GRAPH_CHALLENGE_ACTIVATION_CAP };
}

export interface GenerateInputsOptions {
  readonly neurons: number;
  readonly samples: number;
  /** Fraction of nonzero entries per sample. Default GRAPH_CHALLENGE_INPUT_DENSITY, the real inputs' density. */
  readonly density?: number;
  readonly seed?: number;
}

/**
 * Binary inputs drawn like handwriting: the neurons are a sqrt(N) x sqrt(N) image (as the
 * benchmark's MNIST-derived inputs are) and each sample gets random mostly upright strokes, 3 pixels thick per 32 of image width, started near the centre, until
 * round(density * N) pixels are on. Uniformly scattered pixels would be unrealistic: they all die
 * within a few layers, while strokes line up with RadiX-Net's butterflies and some rows survive,
 * as in the real data. When N is not a perfect square the "image" is N pixels wide rows of sqrt(N).
 */
/** Checks the options of generated inputs without building them (UsageError naming the field). */
export function checkInputsOptions(o: GenerateInputsOptions): void {
  const density = o.density ?? GRAPH_CHALLENGE_INPUT_DENSITY;
  if (!(density > 0 && density <= 1)) throw new UsageError(`density must be in (0, 1], got ${density}`, { field: 'density' });
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new UsageError(`samples must be an integer >= 1, got ${o.samples}`, { field: 'samples' });
  if (!Number.isInteger(o.neurons) || o.neurons < 1) throw new UsageError(`neurons must be an integer >= 1, got ${o.neurons}`, { field: 'neurons' });
  const nonzeros = o.samples * Math.max(1, Math.round(density * o.neurons));
  if (nonzeros > 0xffffffff) throw new UsageError(`${o.samples} samples at density ${density} make ${nonzeros} nonzeros, over the 2^32 a matrix may hold`, { field: 'samples' });
}

export function generateInputs(o: GenerateInputsOptions): SparseRows {
  checkInputsOptions(o);
  const density = o.density ?? GRAPH_CHALLENGE_INPUT_DENSITY;
  const n = o.neurons;
  const side = Math.max(1, Math.floor(Math.sqrt(n)));
  const height = Math.ceil(n / side);
  const perSample = Math.max(1, Math.round(density * n));
  // The benchmark's larger inputs are the same digits rescaled, so strokes thicken with the image.
  const thickness = Math.max(3, Math.round((3 * side) / 32));
  const random = new SeededRandom((o.seed ?? 1) ^ 0x5eed);
  const rowStart = new Uint32Array(o.samples + 1);
  const columnIndex = new Uint32Array(o.samples * perSample);
  const on = new Uint8Array(n);
  const picks: number[] = [];
  const light = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= side || y >= height || picks.length >= perSample) return;
    const k = y * side + x;
    if (k < n && !on[k]) { on[k] = 1; picks.push(k); }
  };
  for (let r = 0; r < o.samples; r++) {
    picks.length = 0;
    let guard = 0;
    while (picks.length < perSample) {
      // Strokes start near the middle, as digits are centred in their images.
      let x = side * (0.25 + 0.5 * random.next()), y = height * (0.25 + 0.5 * random.next());
      // Mostly upright strokes, as in handwritten digits.
      const angle = Math.PI * (0.25 + 0.5 * random.next());
      const dx = Math.cos(angle), dy = Math.sin(angle);
      const length = Math.max(2, Math.round((0.3 + 0.5 * random.next()) * side));
      for (let step = 0; step < length; step++, x += dx, y += dy) {
        for (let t = 0; t < thickness; t++) light(Math.floor(x) + t, Math.floor(y));
      }
      if (++guard > 64 * perSample) {
        // Tiny or odd shapes: finish with scattered pixels rather than loop forever.
        while (picks.length < perSample) light(random.nextInt(side), random.nextInt(height));
      }
    }
    picks.sort((a, b) => a - b);
    for (const k of picks) on[k] = 0;
    columnIndex.set(picks, r * perSample);
    rowStart[r + 1] = (r + 1) * perSample;
  }
  return { rows: o.samples, columns: n, rowStart, columnIndex, value: new Float32Array(columnIndex.length).fill(1) };
}
