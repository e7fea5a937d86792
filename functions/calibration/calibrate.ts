// Kernel calibration: measures the real SparseLayerKernel's multiply-adds per second on this
// machine, for the scatter regime (sparse rows, GraphChallenge-like inputs) and the gather regime
// (dense rows, every row gathered), on generated RadiX-Net networks of a few sizes. The result is a
// CalibrationProfile (planner/latency/profile.ts) the latency model scales to Lambda's CPU share.
// It also measures the kernel's thread scaling: the same layers on 1 thread and on T threads,
// alternating (this host is shared and noisy), medians kept, Amdahl's parallel fraction fitted;
// thread counts above this machine's CPUs are not measured (the model extrapolates them).
// This is the only code of the planner's pipeline that reads clocks; it lives outside planner/.

import { cpus, totalmem, platform, arch, loadavg } from 'node:os';
import { generateRadixNetwork, generateInputs } from '../../model/generate.ts';
import type { SparseRows } from '../../model/network.ts';
import { SparseLayerKernel, prepareLayer, type LayerWork, type PreparedLayer } from '../kernels/layer-kernel.ts';
import { fitParallelFraction, type CalibrationProfile, type KernelMeasurement, type KernelRegime, type ThreadScalingCase } from '../../planner/latency/profile.ts';

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
  /**
   * Thread counts (>= 2) whose scaling over one thread is measured, each against 1 thread on the
   * same layers. Default: 2 up to this machine's logical CPUs (at most 6, Lambda's most); none on
   * a one-CPU machine (the profile then has format version 1: no thread scaling).
   */
  readonly threads?: readonly number[];
  /** Alternating rounds per thread-scaling case (1 thread, then T threads; medians kept). Default 5. */
  readonly scalingRounds?: number;
  /** The command line, recorded with the thread scaling. */
  readonly command?: string;
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

/** The layers and inputs of a case in a regime. */
function caseWork(c: CalibrationCase, regime: KernelRegime, seed: number) {
  const network = generateRadixNetwork({ neurons: c.neurons, layers: c.layers, seed });
  const prepared = network.layers.map(prepareLayer);
  // Scatter: the real inputs' density (0.104) and never gather. Gather: dense inputs (they stay
  // alive through the layers: 32 x 1/16 + bias > 0) and gather every row.
  const rows = regime === 'scatter' ? c.rows : Math.max(8, c.rows >> 2);
  const inputs = generateInputs({ neurons: c.neurons, samples: rows, density: regime === 'scatter' ? 0.104 : 0.5, seed });
  return { network, prepared, rows, inputs, gatherAboveDensity: regime === 'scatter' ? 2 : 0 };
}

function measure(c: CalibrationCase, regime: KernelRegime, repetitions: number, seed: number): KernelMeasurement {
  const { network, prepared, rows, inputs, gatherAboveDensity } = caseWork(c, regime, seed);
  const kernel = new SparseLayerKernel(c.neurons, { gatherAboveDensity });
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

/**
 * The same layers on 1 thread and on `threads`, in `rounds` alternating rounds after one untimed
 * warm-up of each (JIT, buffers, the helper threads' start); the medians and their ratio.
 */
function measureScaling(c: CalibrationCase, regime: KernelRegime, threads: number, rounds: number, seed: number): ThreadScalingCase {
  const { network, prepared, rows, inputs, gatherAboveDensity } = caseWork(c, regime, seed);
  const one = new SparseLayerKernel(c.neurons, { gatherAboveDensity });
  const many = new SparseLayerKernel(c.neurons, { gatherAboveDensity, threads });
  try {
    runLayers(one, prepared, inputs, network.bias, network.activationCap);
    runLayers(many, prepared, inputs, network.bias, network.activationCap);
    const oneSeconds: number[] = [], manySeconds: number[] = [];
    for (let r = 0; r < rounds; r++) {
      oneSeconds.push(runLayers(one, prepared, inputs, network.bias, network.activationCap).seconds);
      manySeconds.push(runLayers(many, prepared, inputs, network.bias, network.activationCap).seconds);
    }
    const oneThreadSeconds = median(oneSeconds), seconds = median(manySeconds);
    return { regime, neurons: c.neurons, layers: c.layers, rows, threads, rounds, oneThreadSeconds, seconds, speedup: oneThreadSeconds / seconds };
  } finally {
    one.close();
    many.close();
  }
}

/** Default thread counts measured: 2 up to the logical CPUs, at most Lambda's 6. */
export function defaultScalingThreads(logicalCpus: number): number[] {
  const out: number[] = [];
  for (let t = 2; t <= Math.min(logicalCpus, 6); t++) out.push(t);
  return out;
}

/** Measures the kernel and returns a profile (not marked default). */
export function calibrateKernel(options: CalibrateOptions = {}): CalibrationProfile {
  const cases = options.cases ?? DEFAULT_CALIBRATION_CASES;
  const repetitions = options.repetitions ?? 3;
  const seed = options.seed ?? 1;
  const cpu = cpus();
  const logicalCpus = Math.max(1, cpu.length);
  const threads = options.threads ?? defaultScalingThreads(logicalCpus);
  const rounds = options.scalingRounds ?? 5;
  const measurements: KernelMeasurement[] = [];
  const scaling: ThreadScalingCase[] = [];
  const total = cases.length * 2 * (1 + threads.length);
  let done = 0;
  const loadStart = loadavg()[0];
  for (const c of cases) {
    for (const regime of ['scatter', 'gather'] as const) {
      options.onStep?.(done++, total, `${regime} N=${c.neurons}`);
      measurements.push(measure(c, regime, repetitions, seed));
      for (const t of threads) {
        options.onStep?.(done++, total, `${regime} N=${c.neurons}, 1 vs ${t} threads`);
        scaling.push(measureScaling(c, regime, t, rounds, seed));
      }
    }
  }
  const loadEnd = loadavg()[0];
  options.onStep?.(total, total, 'done');
  const common = {
    kind: 'stepinfer-calibration' as const,
    default: false,
    note: 'measured by stepinfer calibrate: rates with the SparseLayerKernel on one thread',
    date: new Date().toISOString(),
    machine: {
      platform: platform(),
      arch: arch(),
      cpuModel: cpu[0]?.model ?? 'unknown',
      logicalCpus,
      totalMemoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
    },
    kernel: 'typescript',
    measurements,
  };
  if (scaling.length === 0) return { formatVersion: 1, ...common };
  return {
    formatVersion: 2,
    ...common,
    threadScaling: {
      date: common.date,
      command: options.command ?? 'stepinfer calibrate',
      loadAverage: { start: loadStart, end: loadEnd },
      note: `${threads.join(', ')} threads against 1 on the same layers, ${rounds} alternating rounds after one warm-up each, medians; ` +
        `this machine has ${logicalCpus} logical CPUs: more threads than that are an Amdahl extrapolation`,
      cases: scaling,
      parallelFraction: fitParallelFraction(scaling),
    },
  };
}
