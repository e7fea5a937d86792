// `stepinfer calibrate`: measures the layer kernel's multiply-adds per second on this machine
// (scatter and gather regimes) and writes the profile the planner's latency model reads.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { fileAccessError } from '../../model/errors.ts';
import { calibrateKernel, DEFAULT_CALIBRATION_CASES, QUICK_CALIBRATION_CASES } from '../../functions/calibration/calibrate.ts';
import { parseCalibrationProfile, type CalibrationProfile } from '../../planner/latency/profile.ts';
import { checkOutputPath, writeOutputFile } from '../files.ts';
import { progressBar, report, table } from '../output.ts';
import { integerOption } from '../options.ts';

/** Where `calibrate` writes and `plan` looks by default, relative to the working directory. */
export const DEFAULT_CALIBRATION_PATH = '.stepinfer/calibration.json';

interface CalibrateOptions {
  readonly out: string;
  readonly force?: boolean;
  readonly quick?: boolean;
  readonly repetitions: number;
  readonly json?: boolean;
  readonly progress?: boolean;
}

export function describeProfile(p: CalibrationProfile): string {
  const rows = p.measurements.map((m) => [m.regime, m.neurons, m.layers, m.rows, `${(m.multiplyAdds / 1e6).toFixed(1)} M`, m.seconds.toFixed(3), `${(m.macsPerSecond / 1e6).toFixed(0)} M/s`]);
  return [
    `${p.default ? 'default (checked-in) profile' : 'profile'} of ${p.date}: ${p.machine.cpuModel}, ${p.machine.logicalCpus} logical CPUs, Node ${p.machine.node}, kernel ${p.kernel}`,
    table(['regime', 'neurons', 'layers', 'rows', 'multiply-adds', 'seconds', 'rate'], rows),
  ].join('\n');
}

export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description("measure the layer kernel's throughput on this machine (scatter and gather regimes) for the planner's latency model")
    .option('--out <file>', 'where to write the profile', DEFAULT_CALIBRATION_PATH)
    .option('--force', 'replace an existing profile')
    .option('--quick', 'one small case (about a second; less accurate)')
    .option('--repetitions <n>', 'timed runs per measurement (the median is kept)', integerOption(1, 50), 3)
    .option('--json', 'print the profile as JSON')
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .addHelpText('after', `
Runs the real SparseLayerKernel single-threaded on generated RadiX-Net networks (${DEFAULT_CALIBRATION_CASES.map((c) => `N=${c.neurons}`).join(', ')}):
sparse GraphChallenge-like inputs with every row scattered, and dense inputs with every row gathered.
\`stepinfer plan\` reads ${DEFAULT_CALIBRATION_PATH} when present (or --calibration <file>), else the
checked-in default profile. The machine is shared and noisy: calibrate when it is idle.`)
    .action((options: CalibrateOptions) => {
      if (resolve(options.out) === resolve(DEFAULT_CALIBRATION_PATH)) {
        // The default's folder is the project's own; other folders must exist (checked below).
        try {
          mkdirSync(dirname(resolve(DEFAULT_CALIBRATION_PATH)), { recursive: true });
        } catch (error) {
          throw fileAccessError(error, dirname(DEFAULT_CALIBRATION_PATH));
        }
      }
      const out = checkOutputPath(options.out, { overwrite: options.force, option: '--out' });
      const bar = progressBar('calibrate', options);
      const profile = calibrateKernel({
        cases: options.quick ? QUICK_CALIBRATION_CASES : DEFAULT_CALIBRATION_CASES,
        repetitions: options.repetitions,
        onStep: (done, total, note) => bar.tick(done, total, note),
      });
      bar.stop();
      parseCalibrationProfile(profile, '(measured profile)');
      writeOutputFile(out, `${JSON.stringify(profile, null, 2)}\n`);
      report(options, { out, profile }, (v) => `${describeProfile(v.profile)}\nwrote ${v.out}`);
    });
}
