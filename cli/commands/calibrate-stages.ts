// `stepinfer calibrate-stages --model x.onnx`: measures a dense model's layer units with
// onnxruntime-node on this machine (functions/calibration/onnx-units.ts) and puts the model's entry
// into the dense calibration file that `stepinfer plan --model x.onnx` reads (by default the
// checked-in planner/latency/dense-calibration.json), replacing that model's previous entry.
// A command of its own rather than `calibrate --onnx`: `calibrate` measures the sparse kernel and
// writes a whole profile, this one takes a model and updates one model's entry in another file.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { readDataFile } from '../../model/read-file.ts';
import { readOnnxModel } from '../../model/onnx/graph.ts';
import {
  calibrateModelUnits, DEFAULT_CALIBRATION_BATCHES, measureRuntimePackage, mergeCalibration,
} from '../../functions/calibration/onnx-units.ts';
import { fitSessionCreate, parseDenseCalibration, secondsAtBatch, unitsParallelFraction, type DenseModelCalibration } from '../../planner/stages/calibration.ts';
import { checkOutputPath, writeOutputFile } from '../files.ts';
import { integerOption } from '../options.ts';
import { progressBar, report, table } from '../output.ts';
import { DEFAULT_DENSE_CALIBRATION_PATH, readDenseCalibration } from './plan-stages.ts';

interface CalibrateStagesOptions {
  readonly model: string;
  readonly out?: string;
  readonly batches: number[];
  readonly repetitions: number;
  readonly json?: boolean;
  readonly progress?: boolean;
}

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/handlers/dense-stage.ts', import.meta.url));

/** A comma list of batch sizes, increasing. */
function batchListOption(raw: string): number[] {
  return [...new Set(raw.split(',').map((item) => integerOption(1, 1024)(item.trim())))].sort((a, b) => a - b);
}

export function describeModelCalibration(m: DenseModelCalibration): string {
  const rows = m.units.map((u) => [u.index, u.name, `${(u.modelBytes / 1e6).toFixed(2)} MB`, ...u.times.flatMap((t) => [(t.oneThreadSeconds * 1e3).toFixed(2), (t.twoThreadSeconds * 1e3).toFixed(2)])]);
  const batches = m.whole.times.map((t) => t.batch);
  const sums = batches.map((_, k) => m.units.reduce((t, u) => t + u.times[k].oneThreadSeconds, 0));
  const fit = fitSessionCreate(m);
  return [
    `${m.file} (${m.checksum.value.slice(0, 12)}), ${m.units.length} units, weights ${m.weights.kind}, measured ${m.date} on ${m.machine.cpuModel} (load ${m.loadAverage.start.toFixed(2)} -> ${m.loadAverage.end.toFixed(2)}), onnxruntime ${m.onnxruntime}`,
    table(['unit', 'name', 'file', ...batches.flatMap((b) => [`b${b} 1t ms`, `b${b} 2t ms`])], rows),
    `whole model: ${batches.map((b, k) => `batch ${b}: ${(m.whole.times[k].oneThreadSeconds * 1e3).toFixed(1)} ms on 1 thread (units add up to ${(sums[k] * 1e3).toFixed(1)} ms), ${(m.whole.times[k].twoThreadSeconds * 1e3).toFixed(1)} ms on 2`).join('; ')}`,
    `parallel fraction ${unitsParallelFraction(m).toFixed(3)}; session create ${(fit.interceptSeconds * 1e3).toFixed(1)} ms + ${(fit.secondsPerMB * 1e3).toFixed(2)} ms/MB; `
      + `fresh process: import ${(m.process.importSeconds * 1e3).toFixed(0)} ms, +${(m.process.runtimeResidentBytes / 2 ** 20).toFixed(0)} MB; session +${(m.process.sessionResidentBytes / 2 ** 20).toFixed(0)} MB + ${m.process.residentBytesPerModelByte.toFixed(2)} x model; `
      + `run at batch ${m.process.activationBatch}: ${m.process.residentBytesPerActivationByte.toFixed(2)} x peak activations; interpolated batch 16: ${(secondsAtBatch(m.whole.times, 16) * 1e3).toFixed(0)} ms`,
  ].join('\n');
}

export function registerCalibrateStagesCommand(program: Command): void {
  program
    .command('calibrate-stages')
    .description("measure a dense ONNX model's layer units with onnxruntime on this machine, for `plan --model x.onnx`")
    .requiredOption('--model <file>', 'the ONNX model')
    .option('--out <file>', 'the dense calibration file to update (default: the checked-in planner/latency/dense-calibration.json)')
    .option('--batches <list>', `batch sizes timed, e.g. 1,8 (default ${DEFAULT_CALIBRATION_BATCHES.join(',')}; the planner interpolates between them)`, batchListOption)
    .option('--repetitions <n>', 'timed runs per median, per thread count', integerOption(1, 50), 5)
    .option('--json', "print the model's entry as JSON")
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .addHelpText('after', `
Runs every layer unit's own sub-model (and the whole model) on 1 and on 2 intra-op threads,
alternating, at each batch size, after one untimed run each; times each unit's session creation;
measures onnxruntime's import time and resident memory, and a session's and a run's, in fresh
processes; and the runtime's package bytes (onnxruntime-node's linux x64 binaries, its JavaScript,
the stage handler's bundle). A structure-only model gets deterministic weights first. The entry
records the machine, the date, onnxruntime's version, the load average and the file's checksum; the
planner refuses it for any other file. The machine is shared and noisy: calibrate when it is idle.`)
    .action(async (o: CalibrateStagesOptions) => {
      const outPath = o.out ?? DEFAULT_DENSE_CALIBRATION_PATH;
      // The file is updated in place: an existing one must parse (it is replaced atomically).
      const out = checkOutputPath(outPath, { overwrite: true, option: '--out' });
      const existing = existsSync(out) ? readDenseCalibration(outPath).calibration : null;
      const bytes = readDataFile(o.model, 'ONNX model file not found');
      const graph = readOnnxModel(bytes, o.model);
      const bar = progressBar('calibrate-stages', o);
      let entry: DenseModelCalibration;
      try {
        entry = await calibrateModelUnits(bytes, graph, {
          batches: o.batches ?? DEFAULT_CALIBRATION_BATCHES,
          repetitions: o.repetitions,
          command: ['stepinfer', ...process.argv.slice(2)].join(' '),
          onStep: (done, total, note) => bar.tick(done, total, note),
        });
      } finally {
        bar.stop();
      }
      const merged = mergeCalibration(existing, entry, await measureRuntimePackage(HANDLER_ENTRY));
      parseDenseCalibration(merged, '(measured calibration)');
      writeOutputFile(out, `${JSON.stringify(merged, null, 2)}\n`);
      report(o, { out: resolve(out), entry }, (v) => `${describeModelCalibration(v.entry)}\nwrote ${v.out} (${merged.models.length} model${merged.models.length === 1 ? '' : 's'})`);
    });
}
