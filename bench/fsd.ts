// The planner's model against FSD-Inference's published runs (data/fsd-inference): the same
// configuration (1024 x 120 real network, 10,000 real inputs, its workers, memory, launch tree,
// one group of all layers) priced by the planner, each published counter beside the prediction,
// with ratios, and which of them are in-sample (a constant was fitted on that run).
//
//   npm run bench -- fsd [--runs <file>] [--scheme hypergraph] [--seed 1] [--wire-format <file>] [--json]
//
// --wire-format prices the bytes with other wire-format parameters (a file in the format of
// planner/latency/wire-format.json), to see what measured parameters would change.

import { resolve } from 'node:path';
import { ModelFormatError } from '../model/errors.ts';
import { defaultGraphChallengeDir, graphChallengePaths, readGraphChallengeNetwork, readInputTsv } from '../model/graphchallenge.ts';
import type { SparseNetwork, SparseRows } from '../model/network.ts';
import { defaultPrices } from '../planner/cost/prices.ts';
import type { RunRecord } from '../planner/cost/record.ts';
import {
  defaultCalibrationProfile, defaultWireFormat, describeWireFormat, parseWireFormat, type WireFormat, type WorkloadProfile,
} from '../planner/latency/index.ts';
import {
  compareWithPublishedRun, ConfigModel, estimateContext, partitionStats, publishedConfiguration,
  type PublishedComparison,
} from '../planner/optimize/index.ts';
import { partitionNetwork, type PartitionScheme } from '../planner/partition/index.ts';
import { profileWorkload } from '../functions/serial/workload-profile.ts';
import { defaultFsdRunsFile, readCalibrationProfile, readJsonFile, readRunRecords } from '../cli/files.ts';
import { table } from '../cli/output.ts';

export interface FsdComparisonOptions {
  readonly records: readonly RunRecord[];
  readonly network: SparseNetwork;
  readonly inputs: SparseRows;
  readonly scheme: PartitionScheme;
  readonly seed: number;
  readonly calibration?: ReturnType<typeof defaultCalibrationProfile>;
  readonly wireFormat?: WireFormat;
}

export interface FsdComparisons {
  readonly workload: WorkloadProfile;
  readonly wireFormat: WireFormat;
  readonly comparisons: readonly (PublishedComparison & { readonly totalRowSends: number })[];
}

/** Predicts every record's configuration on the network and inputs it ran, and compares. */
export function fsdComparisons(o: FsdComparisonOptions): FsdComparisons {
  const L = o.network.layers.length;
  for (const [i, r] of o.records.entries()) {
    const m = r.model ?? {};
    if ((m.neurons !== undefined && m.neurons !== o.network.neurons) || (m.layers !== undefined && m.layers !== L) || (m.inputs !== undefined && m.inputs !== o.inputs.rows)) {
      throw new ModelFormatError(`record ${i} ran ${m.neurons}x${m.layers} on ${m.inputs} inputs, not this ${o.network.neurons}x${L} network on ${o.inputs.rows} inputs`, { field: `[${i}].model` });
    }
  }
  const workload = profileWorkload(o.network, o.inputs);
  const wireFormat = o.wireFormat ?? defaultWireFormat();
  const ctx = estimateContext(o.network, workload, { prices: defaultPrices(), calibration: o.calibration ?? defaultCalibrationProfile(), wireFormat });
  const stats = new Map<number, ReturnType<typeof partitionStats>>();
  const comparisons = o.records.map((record) => {
    const { config } = publishedConfiguration(record, L);
    let s = stats.get(config.workers);
    if (!s) {
      s = partitionStats(o.network, partitionNetwork(o.network, config.workers, o.scheme, { seed: o.seed }));
      stats.set(config.workers, s);
    }
    return { ...compareWithPublishedRun(new ConfigModel(ctx, s, config), record, defaultPrices()), totalRowSends: s.totalRowSends };
  });
  return { workload, wireFormat, comparisons };
}

export interface FsdBenchOptions {
  readonly runs?: string;
  readonly scheme: PartitionScheme;
  readonly seed: number;
  readonly calibration?: string;
  readonly wireFormat?: string;
  readonly json?: boolean;
}

const number = (v: number) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(4));

export async function benchFsd(o: FsdBenchOptions): Promise<void> {
  const runs = o.runs ?? defaultFsdRunsFile();
  const records = readRunRecords(runs);
  const paths = graphChallengePaths(defaultGraphChallengeDir());
  const network = readGraphChallengeNetwork(paths.weightsDir);
  const inputs = readInputTsv(paths.inputs, network.neurons);
  const calibration = o.calibration ? readCalibrationProfile(resolve(o.calibration)) : undefined;
  const wireFormat = o.wireFormat ? parseWireFormat(readJsonFile(resolve(o.wireFormat), 'wire format file not found'), o.wireFormat) : undefined;
  const result = fsdComparisons({ records, network, inputs, scheme: o.scheme, seed: o.seed, calibration, wireFormat });
  if (o.json) {
    process.stdout.write(`${JSON.stringify({
      runs, scheme: o.scheme, seed: o.seed, wireFormat: result.wireFormat,
      workload: { rows: result.workload.rows, sampleRows: result.workload.sampleRows, sampleSelection: result.workload.sampleSelection },
      comparisons: result.comparisons.map((c) => ({ runId: c.runId, label: c.label, totalRowSends: c.totalRowSends, quantities: c.quantities })),
    }, null, 2)}\n`);
    return;
  }
  const wl = result.workload;
  const lines = [
    `FSD-Inference's published runs (${runs}) against the planner's prediction of the same configuration`,
    `workload: serial run of ${wl.sampleSelection === 'all' ? 'all' : `a random ${wl.sampleRows} of`} ${wl.rows} real inputs; partition ${o.scheme} (seed ${o.seed})`,
    `bytes: ${describeWireFormat(result.wireFormat)}`,
    'in-sample = a constant this quantity depends on was fitted on this run (aws-latency.json "fit"): the ratio shows the fit, not a prediction',
  ];
  for (const c of result.comparisons) {
    lines.push('', `${c.runId}: ${c.label} (${c.totalRowSends.toLocaleString('en-US')} row-sends)`);
    lines.push(table(['quantity', 'predicted', 'published', 'ratio', 'check'], c.quantities.map((q) => [
      q.name, number(q.predicted), number(q.published), q.ratio.toFixed(3),
      q.heldOut ? (q.dependsOn.length > 0 ? 'held out' : 'no fitted constant') : `in-sample (${q.fittedOnThisRun.join(', ')})`,
    ])));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
