// `stepinfer calibrate`: measures the layer kernel's multiply-adds per second on this machine
// (scatter and gather regimes) and its thread scaling (1 vs T threads, alternating), and writes the
// profile the planner's latency model reads.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { fileAccessError } from '../../model/errors.ts';
import { calibrateKernel, DEFAULT_CALIBRATION_CASES, QUICK_CALIBRATION_CASES } from '../../functions/calibration/calibrate.ts';
import { MAX_KERNEL_THREADS } from '../../functions/kernels/kernel-threads.ts';
import { amdahlSpeedup, parseCalibrationProfile, type CalibrationProfile } from '../../planner/latency/profile.ts';
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
  readonly threads?: number[];
  readonly scalingRounds: number;
  readonly json?: boolean;
  readonly progress?: boolean;
}

export function describeProfile(p: CalibrationProfile): string {
  const rows = p.measurements.map((m) => [m.regime, m.neurons, m.layers, m.rows, `${(m.multiplyAdds / 1e6).toFixed(1)} M`, m.seconds.toFixed(3), `${(m.macsPerSecond / 1e6).toFixed(0)} M/s`]);
  const lines = [
    `${p.default ? 'default (checked-in) profile' : 'profile'} of ${p.date}: ${p.machine.cpuModel}, ${p.machine.logicalCpus} logical CPUs, Node ${p.machine.node}, kernel ${p.kernel}`,
    table(['regime', 'neurons', 'layers', 'rows', 'multiply-adds', 'seconds', 'rate'], rows),
  ];
  const s = p.threadScaling;
  if (!s) lines.push('thread scaling: not measured (format version 1): the planner takes threads to gain nothing');
  else {
    lines.push(`thread scaling of ${s.date} (load average ${s.loadAverage.start.toFixed(2)} at the start, ${s.loadAverage.end.toFixed(2)} at the end): ${s.note}`);
    lines.push(table(['regime', 'neurons', 'layers', 'rows', 'threads', 'rounds', '1 thread s', 'threads s', 'speedup'],
      s.cases.map((c) => [c.regime, c.neurons, c.layers, c.rows, c.threads, c.rounds, c.oneThreadSeconds.toFixed(3), c.seconds.toFixed(3), `${c.speedup.toFixed(2)}x`])));
    lines.push(`Amdahl parallel fraction ${s.parallelFraction.toFixed(4)} (speedup on 2, 4, 6 threads: ${[2, 4, 6].map((t) => amdahlSpeedup(s.parallelFraction, t).toFixed(2)).join(', ')})`);
  }
  return lines.join('\n');
}

/** A comma list of thread counts >= 2. */
function threadCountsOption(raw: string): number[] {
  return [...new Set(raw.split(',').map((item) => integerOption(2, MAX_KERNEL_THREADS)(item.trim())))].sort((a, b) => a - b);
}

export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description("measure the layer kernel's throughput on this machine (scatter and gather regimes) for the planner's latency model")
    .option('--out <file>', 'where to write the profile', DEFAULT_CALIBRATION_PATH)
    .option('--force', 'replace an existing profile')
    .option('--quick', 'one small case (about a second; less accurate)')
    .option('--repetitions <n>', 'timed runs per measurement (the median is kept)', integerOption(1, 50), 3)
    .option('--threads <list>', 'thread counts whose scaling over 1 thread is measured, e.g. 2 or 2,3 (default: 2 up to the logical CPUs, at most 6)', threadCountsOption)
    .option('--scaling-rounds <n>', 'alternating rounds (1 thread, then T) per thread-scaling case (medians are kept)', integerOption(1, 50), 5)
    .option('--json', 'print the profile as JSON')
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .addHelpText('after', `
Runs the real SparseLayerKernel single-threaded on generated RadiX-Net networks (${DEFAULT_CALIBRATION_CASES.map((c) => `N=${c.neurons}`).join(', ')}):
sparse GraphChallenge-like inputs with every row scattered, and dense inputs with every row gathered.
Then the same layers on 1 thread and on T threads, alternating, and fits Amdahl's parallel fraction
the planner uses to choose threads per worker (more threads than this machine's CPUs are an
extrapolation).
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
        threads: options.threads,
        scalingRounds: options.scalingRounds,
        command: ['stepinfer', ...process.argv.slice(2)].join(' '),
        onStep: (done, total, note) => bar.tick(done, total, note),
      });
      bar.stop();
      parseCalibrationProfile(profile, '(measured profile)');
      writeOutputFile(out, `${JSON.stringify(profile, null, 2)}\n`);
      report(options, { out, profile }, (v) => `${describeProfile(v.profile)}\nwrote ${v.out}`);
    });
}
