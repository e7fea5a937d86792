// Kernel calibration: measures the real SparseLayerKernel's multiply-adds per second on this
// machine, for the scatter regime (sparse rows, GraphChallenge-like inputs) and the gather regime
// (dense rows, every row gathered), on generated RadiX-Net networks of a few sizes. The result is a
// CalibrationProfile (planner/latency/profile.ts) the latency model scales to Lambda's CPU share.
// This is the only code of the planner's pipeline that reads clocks; it lives outside planner/.

import { cpus, totalmem, platform, arch } from 'node:os';
import { generateRadixNetwork, generateInputs } from '../../model/generate.ts';
import type { SparseRows } from '../../model/network.ts';
import { SparseLayerKernel, prepareLayer, type LayerWork, type PreparedLayer } from '../kernels/layer-kernel.ts';
import type { CalibrationProfile, KernelMeasurement, KernelRegime } from '../../planner/latency/profile.ts';

export interface CalibrationCase {
  readonly neurons: number;
  readonly layers: number;
  /** Rows of the scatter case; the gather case uses a quarter (each costs a full pass over W). */
  readonly rows: number;
}

/** Default cases: the real benchmark's smallest size and a large one, each about a second of work. */
export const DEFAULT_CALIBRATION_CASES: readonly CalibrationCase[] = [
  { neurons: 1024, layers: 12, rows: 2000 },
  { neurons: 16384, layers: 6, rows: 500 },
];

export const QUICK_CALIBRATION_CASES: readonly CalibrationCase[] = [
  { neurons: 1024, layers: 6, rows: 500 },
];

export interface CalibrateOptions {
  readonly cases?: readonly CalibrationCase[];
  /** Timed repetitions per measurement (the median is kept). Default 3. */
  readonly repetitions?: number;
  readonly seed?: number;
  readonly onStep?: (done: number, total: number, note: string) => void;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function runLayers(kernel: SparseLayerKernel, prepared: readonly PreparedLayer[], inputs: SparseRows, bias: number, cap: number): { macs: number; seconds: number } {
  const work: LayerWork = { multiplyAdds: 0, scatterRows: 0, gatherRows: 0 };
  const t0 = performance.now();
  let y = inputs;
  for (const layer of prepared) y = kernel.apply(y, layer, bias, cap, work);
  return { macs: work.multiplyAdds, seconds: (performance.now() - t0) / 1000 };
}

function measure(c: CalibrationCase, regime: KernelRegime, repetitions: number, seed: number): KernelMeasurement {
  const network = generateRadixNetwork({ neurons: c.neurons, layers: c.layers, seed });
  const prepared = network.layers.map(prepareLayer);
  // Scatter: the real inputs' density (0.104) and never gather. Gather: dense inputs (they stay
  // alive through the layers: 32 x 1/16 + bias > 0) and gather every row.
  const rows = regime === 'scatter' ? c.rows : Math.max(8, c.rows >> 2);
  const inputs = generateInputs({ neurons: c.neurons, samples: rows, density: regime === 'scatter' ? 0.104 : 0.5, seed });
  const kernel = new SparseLayerKernel(c.neurons, { gatherAboveDensity: regime === 'scatter' ? 2 : 0 });
  runLayers(kernel, prepared, inputs, network.bias, network.activationCap); // warm-up: JIT and buffers
  const seconds: number[] = [];
  let macs = 0;
  for (let r = 0; r < repetitions; r++) {
    const run = runLayers(kernel, prepared, inputs, network.bias, network.activationCap);
    seconds.push(run.seconds);
    macs = run.macs;
  }
  const s = median(seconds);
  return { regime, neurons: c.neurons, layers: c.layers, rows, multiplyAdds: macs, seconds: s, repetitions, macsPerSecond: macs / s };
}

/** Measures the kernel and returns a profile (not marked default). */
export function calibrateKernel(options: CalibrateOptions = {}): CalibrationProfile {
  const cases = options.cases ?? DEFAULT_CALIBRATION_CASES;
  const repetitions = options.repetitions ?? 3;
  const seed = options.seed ?? 1;
  const measurements: KernelMeasurement[] = [];
  const total = cases.length * 2;
  for (const c of cases) {
    for (const regime of ['scatter', 'gather'] as const) {
      options.onStep?.(measurements.length, total, `${regime} N=${c.neurons}`);
      measurements.push(measure(c, regime, repetitions, seed));
    }
  }
  options.onStep?.(total, total, 'done');
  const cpu = cpus();
  return {
    formatVersion: 1,
    kind: 'stepinfer-calibration',
    default: false,
    note: 'measured by stepinfer calibrate with the TypeScript SparseLayerKernel on one thread',
    date: new Date().toISOString(),
    machine: {
      platform: platform(),
      arch: arch(),
      cpuModel: cpu[0]?.model ?? 'unknown',
      logicalCpus: Math.max(1, cpu.length),
      totalMemoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
    },
    kernel: 'typescript',
    measurements,
  };
}
