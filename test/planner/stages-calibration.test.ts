// The dense calibration's data (planner/stages/calibration.ts): the file parses, a unit's time at
// any batch, the session-create line, the parallel fraction, and the refusal of a calibration
// measured for another file.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelFormatError } from '../../model/errors.ts';
import {
  calibrationForModel, fitSessionCreate, parseDenseCalibration, runtimePackageBytes, secondsAtBatch, unitsParallelFraction,
  type DenseCalibration, type DenseModelCalibration,
} from '../../planner/stages/calibration.ts';

const FILE = resolve(import.meta.dirname, '../../planner/latency/dense-calibration.json');
const checkedIn = (): DenseCalibration => parseDenseCalibration(JSON.parse(readFileSync(FILE, 'utf8')), 'planner/latency/dense-calibration.json');

const times = [
  { batch: 1, oneThreadSeconds: 0.010, twoThreadSeconds: 0.006 },
  { batch: 8, oneThreadSeconds: 0.080, twoThreadSeconds: 0.045 },
];

function entry(overrides: Partial<DenseModelCalibration> = {}): DenseModelCalibration {
  const unit = (index: number, modelBytes: number, create: number, scale: number) => ({
    index, name: `u${index}`, modelBytes, sessionCreateSeconds: create,
    times: times.map((t) => ({ ...t, oneThreadSeconds: t.oneThreadSeconds * scale, twoThreadSeconds: t.twoThreadSeconds * scale })),
  });
  return {
    file: 'm.onnx',
    checksum: { algorithm: 'sha256', value: 'a'.repeat(64) },
    date: '2026-11-30T00:00:00.000Z',
    command: 'test',
    machine: { platform: 'linux', arch: 'x64', cpuModel: 'cpu', logicalCpus: 2, totalMemoryGB: 8, node: 'v24' },
    onnxruntime: '1.30.0',
    loadAverage: { start: 1, end: 1 },
    weights: { kind: 'file' },
    repetitions: 5,
    // Session create: 2 ms + 3 ms per MB exactly.
    units: [unit(1, 1024 * 1024, 0.005, 1), unit(2, 3 * 1024 * 1024, 0.011, 2)],
    whole: { modelBytes: 4 * 1024 * 1024, sessionCreateSeconds: 0.014, times },
    process: {
      importSeconds: 0.03, runtimeResidentBytes: 8e6, sessionCreateSeconds: 0.1, sessionResidentBytes: 2e7,
      residentBytesPerModelByte: 2, activationBatch: 8, residentBytesPerActivationByte: 1.2,
    },
    ...overrides,
  };
}

describe('dense calibration', () => {
  it('the checked-in file parses, has the five models and the runtime package', () => {
    const c = checkedIn();
    expect(c.models.map((m) => m.file)).toEqual(['inception_v3.graph.onnx', 'mobilenet_v2.onnx', 'resnet50.graph.onnx', 'squeezenet1_1.onnx', 'xception.graph.onnx']);
    expect(c.models.map((m) => m.units.length)).toEqual([26, 50, 38, 33, 25]);
    expect(c.models.map((m) => m.weights.kind)).toEqual(['deterministic', 'file', 'deterministic', 'file', 'deterministic']);
    // onnxruntime-node 1.30's linux x64 binaries are about 46 MB.
    expect(c.runtimePackage.nativeBytes).toBe(46_218_000);
    expect(runtimePackageBytes(c)).toBeGreaterThan(c.runtimePackage.nativeBytes);
  });

  it('interpolates a unit time linearly in the batch and extends the last piece beyond it', () => {
    expect(secondsAtBatch(times, 1)).toBe(0.010);
    expect(secondsAtBatch(times, 8)).toBe(0.080);
    expect(secondsAtBatch(times, 4)).toBeCloseTo(0.040, 12);
    expect(secondsAtBatch(times, 16)).toBeCloseTo(0.160, 12);
    expect(secondsAtBatch(times, 2, 'two')).toBeCloseTo(0.006 + 0.039 / 7, 12);
    expect(secondsAtBatch([times[0]], 3)).toBeCloseTo(0.030, 12);
    // A noisy measurement that falls with the batch never extrapolates below the largest batch's time.
    expect(secondsAtBatch([{ batch: 1, oneThreadSeconds: 0.05, twoThreadSeconds: 0.05 }, { batch: 8, oneThreadSeconds: 0.04, twoThreadSeconds: 0.04 }], 16)).toBe(0.04);
  });

  it('fits the session-create line over the units and the whole model, and the parallel fraction over both batches', () => {
    const fit = fitSessionCreate(entry());
    expect(fit.interceptSeconds).toBeCloseTo(0.002, 12);
    expect(fit.secondsPerMB).toBeCloseTo(0.003, 12);
    // 2 threads take 0.6 and 0.5625 of 1 thread: f = 2 (1 - t2/t1) per case, fitted through the origin.
    expect(unitsParallelFraction(entry())).toBeCloseTo(((0.4 + 0.4375) / 2) * 2, 12);
  });

  it('refuses a calibration measured for another file, naming both', () => {
    const c: DenseCalibration = { ...checkedIn(), models: [entry()] };
    expect(calibrationForModel(c, 'cal.json', 'm.onnx', 'a'.repeat(64)).file).toBe('m.onnx');
    expect(() => calibrationForModel(c, 'cal.json', 'dir/other.onnx', 'b'.repeat(64))).toThrow(ModelFormatError);
    expect(() => calibrationForModel(c, 'cal.json', 'dir/other.onnx', 'b'.repeat(64))).toThrow(
      'cal.json, field models: no calibration for this model: it holds m.onnx (aaaaaaaaaaaa), not other.onnx (bbbbbbbbbbbb); run stepinfer calibrate-stages --model dir/other.onnx');
    expect(() => calibrationForModel(c, 'cal.json', 'x/m.onnx', 'c'.repeat(64))).toThrow(
      'cal.json, field models: no calibration for this model: it calibrated a m.onnx with checksum aaaaaaaaaaaa, this file\'s is cccccccccccc: the model changed since; run stepinfer calibrate-stages --model x/m.onnx');
  });

  it('names malformed entries: unordered batches, unit indexes, batches unlike the whole model\'s', () => {
    const bad = (m: DenseModelCalibration) => () => parseDenseCalibration({ ...checkedIn(), models: [m] }, 'cal.json');
    expect(bad(entry({ whole: { ...entry().whole, times: [...times].reverse() } }))).toThrow(/cal\.json, field models\[0\]\.whole\.times\[1\]\.batch: batches are listed in increasing order/);
    expect(bad(entry({ units: [entry().units[0], { ...entry().units[1], index: 1 }] }))).toThrow(/field models\[0\]\.units\[1\]\.index: must be 2/);
    expect(bad(entry({ units: [{ ...entry().units[0], times: [times[0]] }, entry().units[1]] }))).toThrow(/field models\[0\]\.units\[0\]\.times: batches 1, the whole model's 1,8/);
  });
});
