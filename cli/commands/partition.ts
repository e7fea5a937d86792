// `stepinfer partition`: partition a network's neurons over workers with one or all schemes and
// report the communication volume (row-sends total, per worker, worst layer), bytes estimated
// from activation density, per-layer balance and the time each scheme took.

import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { partitionNetwork, PARTITION_SCHEMES, DEFAULT_EPSILON, type PartitionScheme } from '../../planner/partition/index.ts';
import { summarizePartition, type PartitionSummary } from '../../planner/partition/summary.ts';
import { progressBar, report, table, type OutputOptions } from '../output.ts';
import { checkWorkerCounts, choiceListOption, fractionOption, integerOption, numberOption, seedOption, shapeOption, workerListOption, type Shape } from '../options.ts';
import { resolveWorkload } from '../workload.ts';

export { parseWorkerList } from '../options.ts';

/** The schemes whose result depends on the seed and on epsilon (block and cyclic are fixed maps). */
const SEEDED_SCHEMES: readonly PartitionScheme[] = ['random', 'hypergraph', 'hypergraph-layered'];
const BALANCED_SCHEMES: readonly PartitionScheme[] = ['hypergraph', 'hypergraph-layered'];

export interface PartitionCase extends PartitionSummary {
  readonly seconds: number;
}

interface PartitionCommandOptions extends OutputOptions {
  readonly model?: string;
  readonly generate?: Shape;
  readonly inputs?: string;
  readonly workers?: number[];
  readonly scheme?: PartitionScheme[];
  readonly seed?: number;
  readonly epsilon?: number;
  readonly samples?: number;
  readonly density: number;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function renderCases(value: { source: string; density: number; cases: PartitionCase[] }): string {
  const rows = value.cases.map((c) => [
    c.scheme, c.workers, c.totalRowSends, `${c.worstLayer} (${c.worstLayerRowSends})`, c.maxWorkerRowSends,
    formatBytes(c.totalBytes), `${(c.maxImbalance * 100).toFixed(1)}%`, c.remappedLayers, c.seconds.toFixed(2),
  ]);
  const lines = [
    `network: ${value.source}; bytes for ${value.cases[0]?.samples ?? 0} sample${value.cases[0]?.samples === 1 ? '' : 's'} at density ${value.density}`,
    table(['scheme', 'workers', 'row-sends', 'worst layer (sends)', 'max/worker', 'bytes', 'imbalance', 'remapped', 'seconds'], rows),
  ];
  if (value.cases.length === 1) {
    lines.push(`row-sends per worker: ${value.cases[0].sendsByWorker.join(' ')}`);
  }
  return lines.join('\n');
}

export function registerPartitionCommand(program: Command): void {
  program
    .command('partition')
    .description('partition neurons over workers and report communication volume, bytes and balance')
    .option('--model <path>', 'a neuron<N> directory of GraphChallenge TSVs or an .sdnn file (default: the real benchmark network)')
    .option('--generate <NxL>', 'a synthetic RadiX-Net network instead, e.g. 65536x120', shapeOption)
    .option('--inputs <tsv>', 'inputs whose sample count the byte estimate uses (default: the benchmark\'s with its network)')
    .option('--workers <P>', 'workers: a number, a list (8,16,32) or a range (2..64); default 8', workerListOption)
    .option('--scheme <name>', `${PARTITION_SCHEMES.join(', ')}, a comma list, or all (default hypergraph)`, choiceListOption(PARTITION_SCHEMES, { allowAll: true }))
    .option('--seed <n>', 'seed of random choices and of --generate (default 1)', seedOption)
    .option('--epsilon <e>', `allowed per-layer imbalance of the hypergraph schemes (default ${DEFAULT_EPSILON})`, numberOption({ min: 0, max: 1, belowMax: true }))
    .option('--samples <n>', 'input samples for the byte estimate (default: the rows of the inputs at hand, else 1)', integerOption(0))
    .option('--density <d>', 'fraction of nonzero activations, for the byte estimate (1: every value, an upper bound)', fractionOption({ zero: true }), 1)
    .option('--json', 'print one JSON document')
    .option('--progress', 'show progress on stderr')
    .action((opts: PartitionCommandOptions) => {
      const schemes = opts.scheme ?? ['hypergraph'];
      if (opts.seed !== undefined && opts.generate === undefined && !schemes.some((s) => SEEDED_SCHEMES.includes(s))) {
        throw new UsageError(`--seed changes nothing here: ${schemes.join(', ')} ${schemes.length > 1 ? 'are' : 'is a'} fixed map${schemes.length > 1 ? 's' : ''} and the network is not generated`, { field: 'seed' });
      }
      if (opts.epsilon !== undefined && !schemes.some((s) => BALANCED_SCHEMES.includes(s))) {
        throw new UsageError(`--epsilon applies to the hypergraph schemes only, not ${schemes.join(', ')}`, { field: 'epsilon' });
      }
      if (opts.inputs !== undefined && opts.samples !== undefined) throw new UsageError('give either --inputs or --samples (both set the sample count)', { field: 'samples' });
      const seed = opts.seed ?? 1;
      const epsilon = opts.epsilon ?? DEFAULT_EPSILON;
      const workload = resolveWorkload(
        { model: opts.model, generate: opts.generate, inputs: opts.inputs, seed: opts.seed },
        { defaultModel: 'benchmark', inputs: opts.samples === undefined ? 'optional' : 'none', seedUsedElsewhere: true },
      );
      const { network } = workload;
      const workers = opts.workers ?? [8];
      checkWorkerCounts(workers, network.neurons);
      const samples = opts.samples ?? workload.inputs?.rows ?? 1;
      const density = opts.density;
      const cases: PartitionCase[] = [];
      const bar = progressBar('partition', opts);
      const total = workers.length * schemes.length;
      try {
        for (const p of workers) {
          for (const scheme of schemes) {
            const started = performance.now();
            const partition = partitionNetwork(network, p, scheme, {
              seed, epsilon,
              onProgress: (done, of) => bar.tick(cases.length + done / of, total, `${scheme} P=${p}`),
            });
            const seconds = (performance.now() - started) / 1000;
            cases.push({ ...summarizePartition(network, partition, { samples, activeFraction: density }), seconds });
            bar.tick(cases.length, total, `${scheme} P=${p}`);
          }
        }
      } finally {
        bar.stop();
      }
      report(opts, { source: workload.description, density, cases }, renderCases);
    });
}
