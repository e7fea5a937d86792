// `stepinfer partition`: partition a network's neurons over workers with one or all schemes and
// report the communication volume (row-sends total, per worker, worst layer), bytes estimated
// from activation density, per-layer balance and the time each scheme took.

import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import { defaultGraphChallengeDir, graphChallengePaths } from '../../model/graphchallenge.ts';
import { loadNetwork } from '../../model/load.ts';
import type { SparseNetwork } from '../../model/network.ts';
import { isPartitionScheme, partitionNetwork, PARTITION_SCHEMES, DEFAULT_EPSILON, type PartitionScheme } from '../../planner/partition/index.ts';
import { summarizePartition, type PartitionSummary } from '../../planner/partition/summary.ts';
import { progressBar, report, table, type OutputOptions } from '../output.ts';
import { parseShape } from '../workload.ts';

/** Parses `8`, `8,16,32`, `2..64` or mixes like `2..8,16`; every value an integer >= 1. */
export function parseWorkerList(text: string): number[] {
  const out: number[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const range = /^(\d+)\.\.(\d+)$/.exec(item);
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (from < 1 || to < from) throw new UsageError(`bad worker range '${item}' (want a..b with 1 <= a <= b)`, { field: 'workers' });
      for (let p = from; p <= to; p++) out.push(p);
    } else if (/^\d+$/.test(item) && Number(item) >= 1) {
      out.push(Number(item));
    } else {
      throw new UsageError(`bad worker count '${item}' (want an integer >= 1, a list 8,16 or a range 2..64)`, { field: 'workers' });
    }
  }
  if (out.length === 0) throw new UsageError('no worker counts given', { field: 'workers' });
  return [...new Set(out)];
}

export function parseSchemes(text: string): PartitionScheme[] {
  if (text === 'all') return [...PARTITION_SCHEMES];
  const schemes = text.split(',').map((s) => s.trim());
  for (const s of schemes) {
    if (!isPartitionScheme(s)) throw new UsageError(`unknown scheme '${s}' (known: ${PARTITION_SCHEMES.join(', ')}, or all)`, { field: 'scheme' });
  }
  return schemes as PartitionScheme[];
}

/** The network named by --model (a neuron<N> TSV directory or an .sdnn file) or --generate; default the real 1024 x 120 one. */
export function chooseNetwork(options: { model?: string; generate?: string; seed?: number }): { network: SparseNetwork; source: string } {
  if (options.model && options.generate) throw new UsageError('give either --model or --generate, not both', { field: 'model' });
  if (options.generate) {
    const shape = parseShape(options.generate);
    return { network: generateRadixNetwork({ ...shape, seed: options.seed ?? 1 }), source: `generated RadiX-Net ${options.generate}` };
  }
  const path = options.model ?? graphChallengePaths(defaultGraphChallengeDir()).weightsDir;
  return { network: loadNetwork(path), source: path };
}

function parseNumber(text: string, field: string, check: (x: number) => boolean, want: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || !check(x)) throw new UsageError(`${field} must be ${want}, got '${text}'`, { field });
  return x;
}

export interface PartitionCase extends PartitionSummary {
  readonly seconds: number;
}

interface PartitionCommandOptions extends OutputOptions {
  readonly model?: string;
  readonly generate?: string;
  readonly workers: string;
  readonly scheme: string;
  readonly seed: string;
  readonly epsilon: string;
  readonly samples: string;
  readonly density: string;
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
    `network: ${value.source} (${value.cases[0]?.neurons ?? 0} neurons x ${value.cases[0]?.layers ?? 0} layers); bytes for ${value.cases[0]?.samples ?? 0} samples at density ${value.density}`,
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
    .option('--model <path>', 'a neuron<N> directory of GraphChallenge TSVs or an .sdnn file (default: the real 1024x120 network)')
    .option('--generate <NxL>', 'a synthetic RadiX-Net network instead, e.g. 65536x120')
    .option('--workers <P>', 'workers: a number, a list (8,16,32) or a range (2..64)', '8')
    .option('--scheme <name>', `${PARTITION_SCHEMES.join(', ')}, a comma list, or all`, 'hypergraph')
    .option('--seed <n>', 'seed for random choices', '1')
    .option('--epsilon <e>', 'allowed per-layer imbalance', String(DEFAULT_EPSILON))
    .option('--samples <n>', 'input samples, for the byte estimate', '10000')
    .option('--density <d>', 'fraction of nonzero activations, for the byte estimate (1: every value, an upper bound)', '1')
    .option('--json', 'print one JSON document')
    .option('--progress', 'show progress on stderr')
    .action((opts: PartitionCommandOptions) => {
      const workers = parseWorkerList(opts.workers);
      const schemes = parseSchemes(opts.scheme);
      const seed = parseNumber(opts.seed, 'seed', Number.isInteger, 'an integer');
      const epsilon = parseNumber(opts.epsilon, 'epsilon', (x) => x >= 0 && x < 1, 'in [0, 1)');
      const samples = parseNumber(opts.samples, 'samples', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
      const density = parseNumber(opts.density, 'density', (x) => x >= 0 && x <= 1, 'in [0, 1]');
      const { network, source } = chooseNetwork({ model: opts.model, generate: opts.generate, seed });
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
      report(opts, { source, density, cases }, renderCases);
    });
}
