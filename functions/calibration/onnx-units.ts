// The dense calibration of one ONNX model on this machine (`stepinfer calibrate-stages`): every
// layer unit's own sub-model (model/onnx/extract.ts extractStageModel) run by onnxruntime-node on 1
// and on 2 intra-op threads, alternating, at each batch size (medians of warm runs after one
// untimed run each), its file bytes and session-create time; the whole model timed the same way;
// and, in a fresh process (onnx-probe.ts), onnxruntime's import time and resident memory and what
// a session and a run add. A structure-only file gets deterministic weights first (the planner
// plans for what runs). The result is the model's entry of planner/latency/dense-calibration.json
// (planner/stages/calibration.ts), with the machine, the date, onnxruntime's version, the load
// average and the file's checksum.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { build } from 'esbuild';
import { SeededRandom } from '../../model/random.ts';
import type { OnnxGraph } from '../../model/onnx/graph.ts';
import { layerUnits } from '../../model/onnx/units.ts';
import { extractStageModel, withBatch, withDeterministicWeights } from '../../model/onnx/extract.ts';
import { HANDLER_BUNDLE } from '../../planner/plan/handler-bundle.ts';
import { stageSessionOptions } from '../dense/onnx-session.ts';
import {
  DENSE_CALIBRATION_FORMAT_VERSION, DENSE_CALIBRATION_KIND,
  type DenseCalibration, type DenseModelCalibration, type UnitTiming,
} from '../../planner/stages/calibration.ts';
import type { ProbeResult } from './onnx-probe.ts';

export const DEFAULT_CALIBRATION_BATCHES: readonly number[] = [1, 8];

/** Seed of the weights a structure-only file gets (model/onnx/extract.ts withDeterministicWeights); the plan records it. */
export const DETERMINISTIC_WEIGHTS_SEED = 0;

export interface UnitCalibrationOptions {
  readonly batches?: readonly number[];
  /** Timed runs per thread count after one untimed run (the median is kept). Default 5. */
  readonly repetitions?: number;
  /** Fresh processes the probe runs in (medians). Default 3. */
  readonly probes?: number;
  readonly command?: string;
  readonly onStep?: (done: number, total: number, note: string) => void;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// The stage handler's own session options (functions/dense/onnx-session.ts): the same kernels as deployed.
const sessionOptions = stageSessionOptions;

/** Deterministic input values of `dims` (the timing does not depend on them; runs stay reproducible). */
function inputTensor(dims: readonly number[], seed: number): ort.Tensor {
  const random = new SeededRandom(seed);
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = random.next() * 2 - 1;
  return new ort.Tensor('float32', data, [...dims]);
}

/** Session-create seconds (median of `times`) of a model's bytes, on one thread. */
async function timeSessionCreate(bytes: Uint8Array, times: number): Promise<number> {
  const seconds: number[] = [];
  for (let r = 0; r < times; r++) {
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(bytes, sessionOptions(1));
    seconds.push((performance.now() - t0) / 1000);
    await session.release();
  }
  return median(seconds);
}

/** A model's run time on 1 and on 2 threads, alternating: one untimed run of each, then `repetitions` rounds, medians. */
async function timeRuns(bytes: Uint8Array, dims: readonly number[], batch: number, repetitions: number): Promise<UnitTiming> {
  const one = await ort.InferenceSession.create(bytes, sessionOptions(1));
  const two = await ort.InferenceSession.create(bytes, sessionOptions(2));
  try {
    const feeds = { [one.inputNames[0]]: inputTensor(dims, batch) };
    await one.run(feeds);
    await two.run(feeds);
    const t1: number[] = [], t2: number[] = [];
    for (let r = 0; r < repetitions; r++) {
      let t0 = performance.now();
      await one.run(feeds);
      t1.push((performance.now() - t0) / 1000);
      t0 = performance.now();
      await two.run(feeds);
      t2.push((performance.now() - t0) / 1000);
    }
    return { batch, oneThreadSeconds: median(t1), twoThreadSeconds: median(t2) };
  } finally {
    await one.release();
    await two.release();
  }
}

const PROBE_SCRIPT = fileURLToPath(new URL('./onnx-probe.ts', import.meta.url));

/** Runs the probe in `probes` fresh processes on the whole model at `batch`; medians of each quantity. */
function probeFreshProcess(modelBytes: Uint8Array, dims: readonly number[], probes: number): ProbeResult {
  const dir = mkdtempSync(join(tmpdir(), 'stepinfer-probe-'));
  try {
    const file = join(dir, 'model.onnx');
    writeFileSync(file, modelBytes);
    const results: ProbeResult[] = [];
    for (let p = 0; p < probes; p++) {
      const out = execFileSync(process.execPath, [PROBE_SCRIPT, file, JSON.stringify(dims)], { encoding: 'utf8', cwd: process.cwd(), maxBuffer: 1 << 20 });
      results.push(JSON.parse(out) as ProbeResult);
    }
    const m = (key: keyof ProbeResult) => median(results.map((r) => r[key]));
    return {
      importSeconds: m('importSeconds'), runtimeResidentBytes: m('runtimeResidentBytes'), sessionCreateSeconds: m('sessionCreateSeconds'),
      sessionResidentBytes: m('sessionResidentBytes'), runResidentBytes: m('runResidentBytes'), modelBytes: modelBytes.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of the files under `dir` (recursively). */
function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

const require = createRequire(import.meta.url);

/**
 * What every stage package holds besides its sub-model: onnxruntime-node's linux x64 binaries (the
 * Lambda platform), its and onnxruntime-common's JavaScript, and the stage handler bundled as
 * infra bundles it (planner/plan/handler-bundle.ts).
 */
export async function measureRuntimePackage(handlerEntry: string): Promise<DenseCalibration['runtimePackage']> {
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  // onnxruntime-common exports no package.json: its folder is the one holding its entry point's package.
  let commonDir = dirname(require.resolve('onnxruntime-common', { paths: [ortDir] }));
  while (basename(commonDir) !== 'onnxruntime-common' && dirname(commonDir) !== commonDir) commonDir = dirname(commonDir);
  const napi = readdirSync(join(ortDir, 'bin')).filter((d) => d.startsWith('napi-v'));
  let nativeBytes = 0;
  for (const d of napi) nativeBytes += treeBytes(join(ortDir, 'bin', d, 'linux', 'x64'));
  const javascriptBytes = ['dist', 'lib', 'package.json'].reduce((t, p) => {
    const path = join(ortDir, p);
    return t + (statSync(path).isDirectory() ? treeBytes(path) : statSync(path).size);
  }, 0) + treeBytes(commonDir);
  const bundle = await build({
    entryPoints: [handlerEntry], bundle: true, write: false, platform: 'node', minify: false,
    format: HANDLER_BUNDLE.format, target: HANDLER_BUNDLE.target, mainFields: [...HANDLER_BUNDLE.mainFields],
    banner: { js: HANDLER_BUNDLE.banner }, external: [...HANDLER_BUNDLE.external], logLevel: 'silent',
  });
  const handlerBundleBytes = bundle.outputFiles.reduce((t, f) => t + f.contents.length, 0);
  return { onnxruntime: onnxruntimeVersion(), nativeBytes, javascriptBytes, handlerBundleBytes };
}

export function machineInfo(): DenseModelCalibration['machine'] {
  const cpu = cpus();
  return {
    platform: platform(),
    arch: arch(),
    cpuModel: cpu[0]?.model ?? 'unknown',
    logicalCpus: Math.max(1, cpu.length),
    totalMemoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

/** onnxruntime-node's version, from its package.json. */
export function onnxruntimeVersion(): string {
  return (JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
}

/** SHA-256 of a file's bytes, hex: the model's identity in plans and calibrations. */
export function fileChecksum(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The graph that runs: the file's own, or with deterministic weights when the file has none. */
export function runnableGraph(graph: OnnxGraph): { graph: OnnxGraph; weights: DenseModelCalibration['weights'] } {
  return graph.hasWeights
    ? { graph, weights: { kind: 'file' } }
    : { graph: withDeterministicWeights(graph, DETERMINISTIC_WEIGHTS_SEED), weights: { kind: 'deterministic', seed: DETERMINISTIC_WEIGHTS_SEED } };
}

/** Measures one model (its file's bytes and its decoded graph). */
export async function calibrateModelUnits(fileBytes: Uint8Array, graph: OnnxGraph, options: UnitCalibrationOptions = {}): Promise<DenseModelCalibration> {
  const batches = options.batches ?? DEFAULT_CALIBRATION_BATCHES;
  const repetitions = options.repetitions ?? 5;
  const probes = options.probes ?? 3;
  const { graph: runnable, weights } = runnableGraph(graph);
  const units = layerUnits(runnable);
  const total = 2 + batches.length * (units.length + 1);
  let done = 0;
  const step = (note: string) => options.onStep?.(done++, total, note);
  const loadStart = loadavg()[0];

  // The fresh process: import, session and run memory of the whole model at the largest batch.
  step('fresh-process probes');
  const activationBatch = batches[batches.length - 1];
  const wholeAtLargest = withBatch(runnable, activationBatch);
  const wholeLargestBytes = extractStageModel(wholeAtLargest, 1, units.length);
  const probe = probeFreshProcess(wholeLargestBytes, [activationBatch, ...runnable.input.dims.slice(1)], probes);
  const peakActivation = Math.max(...units.map((u) => u.peakActivationBytes));
  // A session's resident memory is a fixed part (arenas, thread pool) and a part per byte of
  // model: a second probe of the smallest unit separates them.
  const smallest = units.reduce((a, u) => (u.paramBytes < a.paramBytes ? u : a), units[0]);
  const small = probeFreshProcess(extractStageModel(runnable, smallest.index, smallest.index), smallest.input.dims, probes);
  const perModelByte = Math.max(0, (probe.sessionResidentBytes - small.sessionResidentBytes) / Math.max(1, probe.modelBytes - small.modelBytes));
  const sessionFixedBytes = Math.max(0, small.sessionResidentBytes - perModelByte * small.modelBytes);

  const unitBytes: Uint8Array[] = units.map((u) => extractStageModel(runnable, u.index, u.index));
  const unitEntries = units.map((u, k) => ({ index: u.index, name: u.name, modelBytes: unitBytes[k].length, sessionCreateSeconds: 0, times: [] as UnitTiming[] }));
  for (const [k, bytes] of unitBytes.entries()) unitEntries[k].sessionCreateSeconds = await timeSessionCreate(bytes, 3);
  const wholeBytes = extractStageModel(runnable, 1, units.length);
  const whole = { modelBytes: wholeBytes.length, sessionCreateSeconds: await timeSessionCreate(wholeBytes, 3), times: [] as UnitTiming[] };

  for (const batch of batches) {
    const g = batch === 1 ? runnable : withBatch(runnable, batch);
    const batchUnits = layerUnits(g);
    for (const u of batchUnits) {
      step(`batch ${batch}: unit ${u.index}/${units.length} ${u.name}`);
      const bytes = batch === 1 ? unitBytes[u.index - 1] : extractStageModel(g, u.index, u.index);
      unitEntries[u.index - 1].times.push(await timeRuns(bytes, u.input.dims, batch, repetitions));
    }
    step(`batch ${batch}: whole model`);
    whole.times.push(await timeRuns(batch === 1 ? wholeBytes : extractStageModel(g, 1, units.length), g.input.dims, batch, repetitions));
  }
  const loadEnd = loadavg()[0];
  options.onStep?.(total, total, 'done');
  return {
    file: basename(graph.file),
    checksum: { algorithm: 'sha256', value: fileChecksum(fileBytes) },
    date: new Date().toISOString(),
    command: options.command ?? 'stepinfer calibrate-stages',
    machine: machineInfo(),
    onnxruntime: onnxruntimeVersion(),
    loadAverage: { start: loadStart, end: loadEnd },
    weights,
    repetitions,
    units: unitEntries,
    whole,
    process: {
      importSeconds: probe.importSeconds,
      runtimeResidentBytes: probe.runtimeResidentBytes,
      sessionCreateSeconds: probe.sessionCreateSeconds,
      sessionResidentBytes: Math.round(sessionFixedBytes),
      residentBytesPerModelByte: perModelByte,
      activationBatch,
      residentBytesPerActivationByte: probe.runResidentBytes / (peakActivation * activationBatch),
    },
  };
}

/**
 * The calibration file with `entry` in it (replacing an entry of the same checksum or file name)
 * and the runtime package measured now.
 */
export function mergeCalibration(
  existing: DenseCalibration | null, entry: DenseModelCalibration, runtimePackage: DenseCalibration['runtimePackage'],
): DenseCalibration {
  const models = (existing?.models ?? []).filter((m) => m.checksum.value !== entry.checksum.value && m.file !== entry.file);
  models.push(entry);
  models.sort((a, b) => a.file.localeCompare(b.file));
  return {
    formatVersion: DENSE_CALIBRATION_FORMAT_VERSION,
    kind: DENSE_CALIBRATION_KIND,
    note: "measured by stepinfer calibrate-stages, one model at a time: each layer unit's own sub-model run by onnxruntime-node on 1 and 2 intra-op threads "
      + '(alternating, medians of warm runs) at each batch, the whole model the same way, and a fresh process for import time and memory. '
      + "The machine is shared: each model's entry has its load average, machine and onnxruntime version.",
    runtimePackage,
    models,
  };
}
