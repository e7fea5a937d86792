// `stepinfer calibrate`: measures the layer kernel's multiply-adds per second on this machine
// (scatter and gather regimes) and writes the profile the planner's latency model reads.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { calibrateKernel, DEFAULT_CALIBRATION_CASES, QUICK_CALIBRATION_CASES } from '../../functions/calibration/calibrate.ts';
import { parseCalibrationProfile, type CalibrationProfile } from '../../planner/latency/profile.ts';
import { integerOption } from '../options.ts';
import { progressBar, report, table } from '../output.ts';

/** Where `calibrate` writes and `plan` looks by default, relative to the working directory. */
export const DEFAULT_CALIBRATION_PATH = '.stepinfer/calibration.json';

interface CalibrateOptions {
  readonly out: string;
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
    .option('--quick', 'one small case (about a second; less accurate)')
    .option('--repetitions <n>', 'timed runs per measurement (the median is kept), 1 to 50', integerOption(1, 50), 3)
    .option('--json', 'print the profile as JSON')
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .addHelpText('after', `
Runs the real SparseLayerKernel single-threaded on generated RadiX-Net networks (${DEFAULT_CALIBRATION_CASES.map((c) => `N=${c.neurons}`).join(', ')}):
sparse GraphChallenge-like inputs with every row scattered, and dense inputs with every row gathered.
\`stepinfer plan\` reads ${DEFAULT_CALIBRATION_PATH} when present (or --calibration <file>), else the
checked-in default profile. The machine is shared and noisy: calibrate when it is idle.`)
    .action((options: CalibrateOptions) => {
      const repetitions = options.repetitions;
      const bar = progressBar('calibrate', options);
      const profile = calibrateKernel({
        cases: options.quick ? QUICK_CALIBRATION_CASES : DEFAULT_CALIBRATION_CASES,
        repetitions,
        onStep: (done, total, note) => bar.tick(done, total, note),
      });
      bar.stop();
      parseCalibrationProfile(profile, '(measured profile)');
      const out = resolve(options.out);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify(profile, null, 2)}\n`);
      report(options, { out, profile }, (v) => `${describeProfile(v.profile)}\nwrote ${v.out}`);
    });
}
