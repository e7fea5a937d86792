// `stepinfer bench ...`: benchmarks that print measured numbers against a reference run.

import type { Command } from 'commander';
import { runKernelBenchmark, type KernelBenchOptions } from '../../bench/kernel.ts';
import { benchPartition } from '../../bench/partition.ts';
import { integerOption } from '../options.ts';

export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('Benchmarks: measured numbers next to a reference run, in one go');
  bench
    .command('kernel', { isDefault: true })
    .description('Serial inference of the real benchmark (or a generated one) against scipy.sparse, plus the gpu.js backend')
    .option('--repeat <n>', 'runs of our kernel; the minimum is reported', integerOption(1), 5)
    .option('--no-scipy', 'skip the scipy reference')
    .option('--no-gpu', 'skip the gpu.js backend')
    .option('--sweep', "also sweep the TypeScript kernel's gather density threshold")
    .option('--limit <n>', 'use the first n inputs', integerOption(1))
    .option('--layers <L>', 'use the first L layers', integerOption(1))
    .option('--generate <NxL>', 'benchmark a generated network instead (no scipy reference)')
    .option('--samples <n>', 'generated inputs', integerOption(1))
    .option('--json', 'print the result as JSON')
    .action(async (o: KernelBenchOptions) => runKernelBenchmark(o));
  bench
    .command('partition')
    .description('Partition volume, balance and time per worker count on the real network, next to cyclic, random and KaHyPar reference numbers '
      + '(options: --workers 2..64, --scale, --scale-layers L, --scale-workers P, --model, --seed, --json)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[options...]', 'passed to the partition benchmark')
    .action(async (args: string[]) => benchPartition(args));
}
