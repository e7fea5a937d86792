// The dense calibration: how fast onnxruntime-node runs each layer unit of a model on the machine
// that measured it, as data (planner/latency/dense-calibration.json, written by `stepinfer
// calibrate-stages`, functions/calibration/onnx-units.ts; read at the edge and passed in). Per
// model, keyed by the SHA-256 of its file: every unit's own sub-model timed on 1 and 2 intra-op
// threads at two or more batch sizes (medians of warm runs), its session-create time and file
// bytes; the whole model timed the same way (to compare with the sum of its units); onnxruntime's
// import time and resident memory, and the resident bytes a session holds per byte of model and
// per byte of live activations, from a fresh process. The planner refuses a calibration measured
// for another file (checksum mismatch), naming both.
//
// What the planner derives from it: a unit's one-thread seconds at any batch (piecewise linear in
// the batch between the measured sizes, extended along the last piece beyond the largest), the
// parallel fraction of Amdahl's law over both thread counts (planner/latency/profile.ts
// fitParallelFraction), and a session's create time as a line in the model's megabytes fitted over
// the units.

import { z } from 'zod';
import { fromZodError, ModelFormatError } from '../../model/errors.ts';
import { fitParallelFraction } from '../latency/profile.ts';
import { ONNX_FILE_CHECKSUM_ALGORITHM } from '../plan/stages-schema.ts';

export const DENSE_CALIBRATION_KIND = 'stepinfer-dense-calibration';
export const DENSE_CALIBRATION_FORMAT_VERSION = 1;

const int = z.number().int();
const seconds = z.number().positive();
const bytes = int.nonnegative();

const timingSchema = z.object({
  batch: int.min(1),
  oneThreadSeconds: seconds.describe('median of the warm runs, intraOpNumThreads 1'),
  twoThreadSeconds: seconds.describe('median of the warm runs, intraOpNumThreads 2'),
}).strict();

const timingsSchema = z.array(timingSchema).min(1).superRefine((times, ctx) => {
  for (let i = 1; i < times.length; i++) {
    if (times[i].batch <= times[i - 1].batch) ctx.addIssue({ code: 'custom', path: [i, 'batch'], message: 'batches are listed in increasing order' });
  }
});

const unitSchema = z.object({
  index: int.min(1).describe('1-based, as model/onnx/units.ts numbers them'),
  name: z.string(),
  modelBytes: bytes.describe("bytes of the unit's own sub-model file (extractStageModel), weights included"),
  sessionCreateSeconds: seconds.describe('median time to create its session from its bytes, warm process'),
  times: timingsSchema,
}).strict();

const loadAverageSchema = z.object({ start: z.number().nonnegative(), end: z.number().nonnegative() }).strict();

const modelSchema = z.object({
  file: z.string().describe('the file name as calibrated'),
  checksum: z.object({
    algorithm: z.literal(ONNX_FILE_CHECKSUM_ALGORITHM),
    value: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest'),
  }).strict(),
  date: z.string(),
  command: z.string(),
  machine: z.object({
    platform: z.string(),
    arch: z.string(),
    cpuModel: z.string(),
    logicalCpus: int.positive(),
    totalMemoryGB: z.number().positive(),
    node: z.string(),
  }).strict(),
  onnxruntime: z.string().describe('onnxruntime-node version'),
  loadAverage: loadAverageSchema.describe('1-minute load average at the start and the end: the machine is shared'),
  weights: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('file') }).strict(),
    z.object({ kind: z.literal('deterministic'), seed: int }).strict(),
  ]),
  repetitions: int.min(1).describe('timed warm runs per median (after one untimed run)'),
  units: z.array(unitSchema).min(1),
  whole: z.object({
    modelBytes: bytes,
    sessionCreateSeconds: seconds,
    times: timingsSchema,
  }).strict().describe('the whole model timed the same way, to compare with the sum of its units'),
  process: z.object({
    importSeconds: seconds.describe("median time to import onnxruntime-node in a fresh Node.js process"),
    runtimeResidentBytes: bytes.describe('resident memory that import adds'),
    sessionCreateSeconds: seconds.describe('creating the whole model\'s session in that fresh process'),
    sessionResidentBytes: bytes.describe('resident memory a session adds whatever its model (arenas, thread pool): from probes of the whole model and of its smallest unit'),
    residentBytesPerModelByte: z.number().nonnegative().describe('resident memory a session adds per byte of its model file, beyond sessionResidentBytes'),
    activationBatch: int.min(1),
    residentBytesPerActivationByte: z.number().nonnegative().describe('resident memory one run at activationBatch adds beyond the session, per byte of the largest live activation set'),
  }).strict().describe('measured in a fresh process (functions/calibration/onnx-probe.ts) so that nothing else is resident'),
}).strict();

export const denseCalibrationSchema = z.object({
  formatVersion: z.literal(DENSE_CALIBRATION_FORMAT_VERSION),
  kind: z.literal(DENSE_CALIBRATION_KIND),
  note: z.string(),
  runtimePackage: z.object({
    onnxruntime: z.string().describe('onnxruntime-node version measured'),
    nativeBytes: bytes.describe("onnxruntime-node's linux x64 binaries (bin/napi-v*/linux/x64)"),
    javascriptBytes: bytes.describe('onnxruntime-node and onnxruntime-common JavaScript and package files'),
    handlerBundleBytes: bytes.describe("the stage handler's esbuild bundle (planner/plan/handler-bundle.ts options)"),
  }).strict().describe("what every stage's package holds besides its sub-model"),
  models: z.array(modelSchema),
}).strict().superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.models.forEach((m, i) => {
    if (seen.has(m.checksum.value)) ctx.addIssue({ code: 'custom', path: ['models', i, 'checksum'], message: `model ${m.file} is listed twice` });
    seen.add(m.checksum.value);
    m.units.forEach((u, k) => {
      if (u.index !== k + 1) ctx.addIssue({ code: 'custom', path: ['models', i, 'units', k, 'index'], message: `must be ${k + 1}` });
      const batches = u.times.map((t) => t.batch).join(',');
      const expected = m.whole.times.map((t) => t.batch).join(',');
      if (batches !== expected) ctx.addIssue({ code: 'custom', path: ['models', i, 'units', k, 'times'], message: `batches ${batches}, the whole model's ${expected}` });
    });
  });
});

export type DenseCalibration = z.infer<typeof denseCalibrationSchema>;
export type DenseModelCalibration = DenseCalibration['models'][number];
export type UnitTiming = z.infer<typeof timingSchema>;

/** Parses a dense calibration file's value; errors name `file` and the field. */
export function parseDenseCalibration(json: unknown, file: string): DenseCalibration {
  const parsed = denseCalibrationSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, file);
  return parsed.data;
}

/**
 * The calibration of the model whose file has SHA-256 `checksum`, or a ModelFormatError naming the
 * calibration file, the model and what the file holds instead (a calibration for another model, or
 * an older version of this file: same name, other bytes).
 */
export function calibrationForModel(calibration: DenseCalibration, calibrationFile: string, modelFile: string, checksum: string): DenseModelCalibration {
  const entry = calibration.models.find((m) => m.checksum.value === checksum);
  if (entry) return entry;
  const name = modelFile.split(/[\\/]/).pop() ?? modelFile;
  const sameName = calibration.models.find((m) => m.file === name);
  const held = calibration.models.map((m) => `${m.file} (${m.checksum.value.slice(0, 12)})`).join(', ') || 'no models';
  const why = sameName
    ? `it calibrated a ${name} with checksum ${sameName.checksum.value.slice(0, 12)}, this file's is ${checksum.slice(0, 12)}: the model changed since`
    : `it holds ${held}, not ${name} (${checksum.slice(0, 12)})`;
  throw new ModelFormatError(`no calibration for this model: ${why}; run stepinfer calibrate-stages --model ${modelFile}`, { file: calibrationFile, field: 'models' });
}

/**
 * Seconds at `batch` from timings at increasing batches: linear between the two measured batches
 * around it, along the first or last piece outside them (one timing: proportional to the batch).
 * Beyond the largest batch never less than that batch's time (a noisy piece may slope down).
 */
export function secondsAtBatch(times: readonly UnitTiming[], batch: number, threads: 'one' | 'two' = 'one'): number {
  const value = (t: UnitTiming) => (threads === 'one' ? t.oneThreadSeconds : t.twoThreadSeconds);
  if (times.length === 1) return value(times[0]) * batch / times[0].batch;
  let i = 1;
  while (i < times.length - 1 && times[i].batch < batch) i++;
  const a = times[i - 1], b = times[i];
  const s = value(a) + (batch - a.batch) * (value(b) - value(a)) / (b.batch - a.batch);
  if (batch > b.batch) return Math.max(s, value(b));
  return Math.max(s, 0);
}

/** Amdahl's parallel fraction of the model's units on 2 threads: the sum over units per batch, fitted over the batches. */
export function unitsParallelFraction(m: DenseModelCalibration): number {
  const cases = m.whole.times.map((_, k) => ({
    threads: 2,
    oneThreadSeconds: m.units.reduce((t, u) => t + u.times[k].oneThreadSeconds, 0),
    seconds: m.units.reduce((t, u) => t + u.times[k].twoThreadSeconds, 0),
  }));
  return fitParallelFraction(cases);
}

/** Session create seconds = intercept + slope x megabytes (least squares over the units, both clamped at 0). */
export interface SessionCreateFit {
  readonly interceptSeconds: number;
  readonly secondsPerMB: number;
}

const MB = 1024 * 1024;

export function fitSessionCreate(m: DenseModelCalibration): SessionCreateFit {
  const points = [...m.units.map((u) => ({ x: u.modelBytes / MB, y: u.sessionCreateSeconds })), { x: m.whole.modelBytes / MB, y: m.whole.sessionCreateSeconds }];
  const n = points.length;
  const mx = points.reduce((t, p) => t + p.x, 0) / n, my = points.reduce((t, p) => t + p.y, 0) / n;
  let sxy = 0, sxx = 0;
  for (const p of points) { sxy += (p.x - mx) * (p.y - my); sxx += (p.x - mx) ** 2; }
  const slope = sxx > 0 ? Math.max(0, sxy / sxx) : 0;
  return { interceptSeconds: Math.max(0, my - slope * mx), secondsPerMB: slope };
}

/** Bytes every stage's package holds besides its sub-model: the runtime and the handler. */
export function runtimePackageBytes(c: DenseCalibration): number {
  return c.runtimePackage.nativeBytes + c.runtimePackage.javascriptBytes + c.runtimePackage.handlerBundleBytes;
}
