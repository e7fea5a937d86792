// `npm run bench [kernel|partition|wire] [options]`: benchmarks that print measured numbers next to a
// reference run, in one go. With no arguments it runs the kernel benchmark. Benchmarks sit beside
// the CLI (they use its helpers; the CLI never imports them).
import { Command } from 'commander';
import { runKernelBenchmark, type KernelBenchOptions } from './kernel.ts';
import { benchPartition, type PartitionBenchOptions } from './partition.ts';
import { benchWire, DEFAULT_BENCH_CODECS, type WireBenchOptions } from './wire.ts';
import { integerOption } from '../cli/options.ts';
import { runProgram } from '../cli/main.ts';

function buildBenchProgram(): Command {
  const bench = new Command('bench')
    .description('Benchmarks: measured numbers next to a reference run, in one go')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
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
    .description('Partition volume, balance and time per worker count on the real network, next to cyclic, random and KaHyPar reference numbers')
    .option('--workers <list>', 'worker counts: 8, 8,16 or 2..64', '2..64')
    .option('--scale', 'also run the 65536-neuron scale case')
    .option('--scale-only', 'run only the scale case')
    .option('--scale-layers <L>', 'layers of the scale case', integerOption(1, 120), 120)
    .option('--scale-workers <list>', 'worker counts of the scale case', '64')
    .option('--model <path>', 'a .sdnn file or neuron<N>/ directory instead of the real network')
    .option('--seed <n>', 'partitioner seed', integerOption(0), 1)
    .option('--json', 'print the result as JSON')
    .action(async (o: PartitionBenchOptions) => benchPartition(o));
  bench
    .command('wire')
    .description("The activation-row wire format on the real traffic: codecs, worker counts and the planner's byte model, next to FSD-Inference's published queue run")
    .option('--codecs <list>', 'codecs compared at P=8', DEFAULT_BENCH_CODECS)
    .option('--codec <codec>', "codec of the worker-count table and the model fit (default: the runtime's)")
    .option('--workers <list>', 'worker counts: 2,4,8', '2,4,8')
    .option('--transport <name>', 'base64-body or binary-attribute', 'base64-body')
    .option('--json', 'print the result as JSON')
    .action(async (o: WireBenchOptions) => benchWire(o));
  return bench;
}

const args = process.argv.slice(2);
process.exitCode = await runProgram(buildBenchProgram(), [process.argv[0], 'bench', ...(args.length ? args : ['kernel'])]);
