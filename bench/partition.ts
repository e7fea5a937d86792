// Partition benchmark: for each worker count, the communication volume, balance and time of the
// hypergraph schemes next to cyclic, random and the KaHyPar reference on the real 1024 x 120
// network, plus (with --scale) the synthetic 65536 x 120 network at 64 workers.
//
//   npm run bench -- partition [--workers 2..64] [--scale] [--scale-only] [--scale-layers 120] [--json] [--model <dir>]
//
// The scale case (65536 x 120 at 64 workers) has its own table: row-sends, balance, partition
// time and the process's peak RSS after each scheme (generating the network, ~35 s and 2 GB, is
// not counted), plus how 'hypergraph' got its map (a layer sample at this size).

import { generateRadixNetwork } from '../model/generate.ts';
import type { SparseNetwork } from '../model/network.ts';
import { UsageError } from '../model/errors.ts';
import { partitionNetwork, type PartitionScheme } from '../planner/partition/index.ts';
import { summarizePartition } from '../planner/partition/summary.ts';
import { resolveWorkload } from '../cli/workload.ts';
import { checkWorkerCounts } from '../cli/options.ts';
import { table } from '../cli/output.ts';

/**
 * KaHyPar (km1, epsilon 0.03) on the shared-map hypergraph of the real 1024 x 120 network, total
 * row-sends over the 120 layers (project measurements, 50-110 s per run; not re-run here).
 */
export const KAHYPAR_REFERENCE_ROW_SENDS: Readonly<Record<number, number>> = { 8: 155_998, 16: 186_238, 32: 234_000, 62: 439_000 };

const SCHEMES: readonly PartitionScheme[] = ['cyclic', 'random', 'hypergraph', 'hypergraph-layered'];

interface SchemeResult {
  readonly rowSends: number;
  readonly maxImbalance: number;
  readonly seconds: number;
  /** the process's peak resident memory so far, bytes */
  readonly peakRssBytes: number;
  readonly sampledLayers?: readonly number[];
  readonly note?: string;
}

/** a scheme that refused the case (e.g. hypergraph-layered beyond its size limit), with why */
interface SchemeRefusal {
  readonly refused: string;
  readonly seconds: number;
}

interface BenchCase {
  readonly network: string;
  readonly workers: number;
  readonly kahypar: number | null;
  readonly results: Record<string, SchemeResult>;
  readonly refused: Record<string, SchemeRefusal>;
}

function runCase(network: SparseNetwork, name: string, workers: number, seed: number, schemes: readonly PartitionScheme[], onScheme: (s: string) => void): BenchCase {
  const results: Record<string, SchemeResult> = {};
  const refused: Record<string, SchemeRefusal> = {};
  for (const scheme of schemes) {
    onScheme(scheme);
    const started = performance.now();
    let partition;
    try {
      partition = partitionNetwork(network, workers, scheme, { seed });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      refused[scheme] = { refused: error.message, seconds: (performance.now() - started) / 1000 };
      continue;
    }
    const seconds = (performance.now() - started) / 1000;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    const summary = summarizePartition(network, partition, { samples: 0 });
    results[scheme] = {
      rowSends: summary.totalRowSends, maxImbalance: summary.maxImbalance, seconds, peakRssBytes,
      ...(summary.sampledLayers ? { sampledLayers: summary.sampledLayers } : {}),
      ...(summary.note ? { note: summary.note } : {}),
    };
  }
  return { network: name, workers, kahypar: name === 'graphchallenge-1024x120' ? KAHYPAR_REFERENCE_ROW_SENDS[workers] ?? null : null, results, refused };
}

export interface PartitionBenchOptions {
  readonly workers?: number[];
  readonly scale?: boolean;
  readonly scaleOnly?: boolean;
  readonly scaleLayers?: number;
  readonly scaleWorkers?: number[];
  readonly model?: string;
  readonly seed: number;
  readonly json?: boolean;
}

const SCALE_NEURONS = 65536;

export async function benchPartition(o: PartitionBenchOptions): Promise<void> {
  const scale = o.scale || o.scaleOnly;
  if (o.scaleOnly && (o.workers !== undefined || o.model !== undefined)) {
    throw new UsageError('--scale-only runs only the 65536-neuron case: --workers and --model apply to the real network', { field: 'scale-only' });
  }
  if (!scale && (o.scaleWorkers !== undefined || o.scaleLayers !== undefined)) {
    throw new UsageError('--scale-workers and --scale-layers apply with --scale or --scale-only', { field: 'scale' });
  }
  const workers = o.workers ?? Array.from({ length: 63 }, (_, i) => i + 2);
  const seed = o.seed;
  const cases: BenchCase[] = [];
  const log = (text: string) => { if (!o.json) process.stderr.write(`${text}\n`); };
  if (!o.scaleOnly) {
    const { network, model } = resolveWorkload({ model: o.model }, { defaultModel: 'benchmark', inputs: 'none' });
    const shape = `${network.neurons}x${network.layers.length}`;
    const name = o.model ?? (model.source === 'generated' ? `generated-${shape} (the real data is absent)` : `graphchallenge-${shape}`);
    checkWorkerCounts(workers, network.neurons, 'workers');
    for (const p of workers) {
      cases.push(runCase(network, name, p, seed, SCHEMES, (s) => log(`P=${p} ${s}`)));
    }
  }
  const scaleCases: BenchCase[] = [];
  let generatedRssBytes = 0;
  if (scale) {
    const layers = o.scaleLayers ?? 120;
    const scaleWorkers = o.scaleWorkers ?? [64];
    checkWorkerCounts(scaleWorkers, SCALE_NEURONS, 'scale-workers');
    const started = performance.now();
    log(`generating ${SCALE_NEURONS} x ${layers}`);
    const network = generateRadixNetwork({ neurons: SCALE_NEURONS, layers, seed });
    generatedRssBytes = process.resourceUsage().maxRSS * 1024;
    log(`generated in ${((performance.now() - started) / 1000).toFixed(1)} s, peak RSS ${gigabytes(generatedRssBytes)}`);
    for (const p of scaleWorkers) {
      scaleCases.push(runCase(network, `radix-${SCALE_NEURONS}x${layers}`, p, seed, SCHEMES, (s) => log(`scale P=${p} ${s}`)));
    }
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ cases, scaleCases, generatedRssBytes }, null, 2)}\n`);
    return;
  }
  const cell = (r: SchemeResult | undefined) => (r ? String(r.rowSends) : '-');
  const rows = cases.map((c) => [
    c.network, c.workers, cell(c.results.cyclic), cell(c.results.random), c.kahypar ?? '-',
    cell(c.results.hypergraph), cell(c.results['hypergraph-layered']),
    `${(Math.max(...Object.values(c.results).map((r) => r.maxImbalance)) * 100).toFixed(1)}%`,
    (c.results.hypergraph?.seconds ?? 0).toFixed(1), (c.results['hypergraph-layered']?.seconds ?? 0).toFixed(1),
  ]);
  if (rows.length > 0) {
    process.stdout.write(`${table(
      ['network', 'P', 'cyclic', 'random', 'kahypar', 'hypergraph', 'layered', 'imbalance', 'hg s', 'layered s'],
      rows,
    )}\n`);
  }
  for (const c of scaleCases) {
    const scaleRows = SCHEMES.map((scheme) => {
      const r = c.results[scheme];
      if (!r) return [scheme, 'refused', '-', (c.refused[scheme]?.seconds ?? 0).toFixed(2), '-'];
      return [scheme, r.rowSends, `${(r.maxImbalance * 100).toFixed(1)}%`, r.seconds.toFixed(1), gigabytes(r.peakRssBytes)];
    });
    process.stdout.write(`\n${c.network}, P=${c.workers} (network generated first: peak RSS ${gigabytes(generatedRssBytes)})\n`);
    process.stdout.write(`${table(['scheme', 'row-sends', 'imbalance', 'seconds', 'peak RSS'], scaleRows)}\n`);
    for (const scheme of SCHEMES) {
      if (c.results[scheme]?.note) process.stdout.write(`${scheme}: ${c.results[scheme].note}\n`);
      if (c.refused[scheme]) process.stdout.write(`${scheme}: refused: ${c.refused[scheme].refused}\n`);
    }
  }
}

const gigabytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GB`;
