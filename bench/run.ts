// `npm run bench [kernel|partition|fsd|wire|distributed|run|stages] [options]`: benchmarks that print measured numbers next to a
// reference run, in one go. With no arguments it runs the kernel benchmark. Benchmarks sit beside
// the CLI (they use its helpers; the CLI never imports them).
import { Command, Option } from 'commander';
import { runKernelBenchmark, type KernelBenchOptions } from './kernel.ts';
import { benchPartition, type PartitionBenchOptions } from './partition.ts';
import { integerOption, seedOption, shapeOption, workerListOption } from '../cli/options.ts';
import { benchFsd, type FsdBenchOptions } from './fsd.ts';
import { PARTITION_SCHEMES } from '../planner/partition/index.ts';
import { benchWire, DEFAULT_BENCH_CODECS, type WireBenchOptions } from './wire.ts';
import { QUEUE_TRANSPORTS } from '../functions/channels/transport.ts';
import { runProgram } from '../cli/main.ts';
import { benchDistributed, type DistributedBenchOptions } from './distributed.ts';
import { choiceListOption, choiceOption, numberOption } from '../cli/options.ts';
import { benchWorkflowRun, type WorkflowRunBenchOptions } from './workflow-run.ts';
import { MAX_KERNEL_THREADS } from '../functions/kernels/kernel-threads.ts';
import { benchStages, BENCH_PACKAGE_LIMITS_MB, BENCH_SLOS, type StagesBenchOptions } from './stages.ts';

/** A comma list of kernel thread counts. */
function threadListOption(raw: string): number[] {
  return [...new Set(raw.split(',').map((item) => integerOption(1, MAX_KERNEL_THREADS)(item.trim())))];
}

function buildBenchProgram(): Command {
  const bench = new Command('bench')
    .description('Benchmarks: measured numbers next to a reference run, in one go')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  bench
    .command('kernel', { isDefault: true })
    .description('Serial inference of the real benchmark (or a generated one) on 1, 2, ... kernel threads against scipy.sparse, in alternating rounds; plus the TypeScript reference engine and the gpu.js backend')
    .option('--repeat <n>', 'timed rounds, each running scipy and every thread count once (medians are reported)', integerOption(1, 1000), 3)
    .option('--threads <list>', 'kernel thread counts, e.g. 1,2 (default 1,2)', threadListOption, [1, 2])
    .option('--no-scipy', 'skip the scipy reference')
    .option('--no-gpu', 'skip the gpu.js backend')
    .option('--sweep', "also sweep the TypeScript kernel's gather density threshold")
    .option('--no-shortcut', 'skip the identical-rows shortcut (timed on its own row, never in the headline)')
    .option('--limit <n>', 'use the first n inputs', integerOption(1))
    .option('--layers <L>', 'use the first L layers', integerOption(1))
    .option('--generate <NxL>', 'benchmark a generated network instead (no scipy reference; its inputs: --samples)', shapeOption)
    .option('--samples <n>', 'generated inputs', integerOption(1))
    .option('--json', 'print the result as JSON')
    .action(async (o: KernelBenchOptions) => runKernelBenchmark(o));
  bench
    .command('partition')
    .description('Partition volume, balance and time per worker count on the real network, next to cyclic, random and KaHyPar reference numbers')
    .option('--workers <list>', 'worker counts: 8, 8,16 or 2..64 (default 2..64)', workerListOption)
    .option('--scale', 'also run the 65536-neuron scale case')
    .option('--scale-only', 'run only the scale case')
    .option('--scale-layers <L>', 'layers of the scale case (default 120)', integerOption(1, 120))
    .option('--scale-workers <list>', 'worker counts of the scale case (default 64)', workerListOption)
    .option('--model <path>', 'a .sdnn file or neuron<N>/ directory instead of the real network')
    .option('--seed <n>', 'partitioner seed', seedOption, 1)
    .option('--json', 'print the result as JSON')
    .action(async (o: PartitionBenchOptions) => benchPartition(o));
  bench
    .command('fsd')
    .description("The planner's predicted counters and cost of FSD-Inference's published configurations next to the published runs, with ratios")
    .option('--runs <file>', 'published run records (default: data/fsd-inference/runs-1024n-8w.json beside the GraphChallenge data)')
    .addOption(new Option('--scheme <scheme>', 'partition scheme').choices(PARTITION_SCHEMES).default('hypergraph'))
    .option('--seed <n>', 'partitioner seed', seedOption, 1)
    .option('--calibration <file>', 'calibration profile (default: the checked-in one)')
    .option('--wire-format <file>', 'wire-format parameters instead of planner/latency/wire-format.json (what-if)')
    .option('--json', 'print the result as JSON')
    .action(async (o: FsdBenchOptions) => benchFsd(o));
  bench
    .command('wire')
    .description("The activation-row wire format on the real traffic: codecs, worker counts and the planner's byte model, next to FSD-Inference's published queue run")
    .option('--codecs <list>', 'codecs compared at P=8', DEFAULT_BENCH_CODECS)
    .option('--codec <codec>', "codec of the worker-count table and the model fit (default: the runtime's)")
    .option('--workers <list>', 'worker counts (default 2,4,8)', workerListOption, [2, 4, 8])
    .addOption(new Option('--transport <name>', 'how binary messages travel in SNS/SQS').choices(QUEUE_TRANSPORTS).default('base64-body'))
    .option('--json', 'print the result as JSON')
    .action(async (o: WireBenchOptions) => benchWire(o));
  bench
    .command('distributed')
    .description("Distributed inference of the real case on this machine (fauxqs, local Lambda host) against serial inference, FSD-Inference's published runs and the planner's prediction")
    .option('--workers <list>', 'worker counts (default 8; 2,4,8 checks the traffic model)', workerListOption, [8])
    .option('--channels <list>', 'channels: queue, object (default both)', choiceListOption(['queue', 'object'] as const), ['queue', 'object'])
    .option('--per-layer', 'also print every layer\'s bytes and requests')
    .option('--json', 'print the result as JSON')
    .action(async (o: DistributedBenchOptions) => benchDistributed(o));
  bench
    .command('run')
    .description("stepinfer run's path (the generated workflow on the local cloud) on the real case against serial inference: the ratio and where the time goes")
    .option('--workers <P>', 'workers (default 8, as FSD-Inference)', integerOption(1, 65535), 8)
    .option('--channel <kind>', 'queue or object (default queue)', choiceOption(['queue', 'object'] as const), 'queue')
    .option('--groups <G>', "layer groups (default: the planner's cut)", integerOption(1))
    .option('--launch <kind>', 'map or tree (default map)', choiceOption(['map', 'tree'] as const), 'map')
    .option('--limit <n>', 'use the first n inputs', integerOption(1))
    .option('--layers <L>', 'use the first L layers', integerOption(1))
    .option('--json', 'print the result as JSON')
    .action(async (o: WorkflowRunBenchOptions) => benchWorkflowRun(o));
  bench
    .command('stages')
    .description('AMPS-Inf stages of the ONNX models in data/models: per model and SLO the plan (predicted latency and cost, stages), the baselines, and the plan run locally (measured stage times, the whole model, the largest difference)')
    .option('--models <list>', 'ONNX files, comma-separated (default: the five of data/models)', (raw: string) => raw.split(',').map((m) => m.trim()).filter(Boolean))
    .option('--slo <list>', `SLOs in seconds, comma-separated (default ${BENCH_SLOS.join(',')})`, (raw: string) => raw.split(',').map((x) => numberOption({ min: 0, aboveMin: true })(x.trim())), BENCH_SLOS)
    .option('--package-limit <list>', `package limits in MB, comma-separated: Lambda's 250, and lower ones as if the runtime were heavier (default ${BENCH_PACKAGE_LIMITS_MB.join(',')})`, (raw: string) => raw.split(',').map((x) => integerOption(1, 250)(x.trim())), BENCH_PACKAGE_LIMITS_MB)
    .option('--no-run', 'plan only: skip the local runs')
    .option('--json', 'print the result as JSON')
    .action(async (o: StagesBenchOptions) => benchStages(o));
  return bench;
}

const args = process.argv.slice(2);
process.exitCode = await runProgram(buildBenchProgram(), [process.argv[0], 'bench', ...(args.length ? args : ['kernel'])]);
