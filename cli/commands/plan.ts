// `stepinfer plan`: from a model, a workload and an objective to plan.json, the deployment
// contract (workers, neuron maps, channel, stages, functions, names), and plan.report.json beside
// it (predicted latency and cost with breakdowns, the Pareto front, the best plan per family, a
// server). Both go where --out says, by default under the git-ignored .stepinfer/; an existing
// file is replaced only with --force.

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { readInputTsv } from '../../model/graphchallenge.ts';
import { loadNetwork } from '../../model/load.ts';
import { networkNonzeros, rowsNonzeros, type SparseNetwork, type SparseRows } from '../../model/network.ts';
import { isPartitionScheme, PARTITION_SCHEMES, type PartitionScheme } from '../../planner/partition/index.ts';
import { defaultPrices } from '../../planner/cost/prices.ts';
import {
  assumedWorkload, defaultCalibrationProfile,
  type CalibrationProfile, type WorkloadProfile,
} from '../../planner/latency/index.ts';
import {
  formatCost, formatSeconds, searchPlans, type Candidate, type ChannelKind, type PlanSearchResult, type WorkflowType,
} from '../../planner/optimize/index.ts';
import {
  buildPlan, DEFAULT_STACK_PREFIX, planReportPath, serializePlan, serializePlanReport, STACK_PREFIX_MAX_CHARS, stackPrefixProblem,
  type InputsReference, type ModelReference, type Plan, type PlanReport,
} from '../../planner/plan/index.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';
import { checkOutputPath, readCalibrationProfile, readPriceFile, writeOutputFile } from '../files.ts';
import { progressBar, report, table } from '../output.ts';
import { parseShape } from '../workload.ts';
import { DEFAULT_CALIBRATION_PATH } from './calibrate.ts';
import packageJson from '../../package.json' with { type: 'json' };

/** Above this many weight nonzeros the default partitioner is cyclic: hypergraph takes minutes per worker count. */
export const HYPERGRAPH_DEFAULT_MAX_NONZEROS = 20_000_000;

interface PlanOptions {
  readonly model?: string;
  readonly generate?: string;
  readonly layers?: string;
  readonly seed: string;
  readonly inputs?: string;
  readonly samples?: string;
  readonly inputDensity?: string;
  readonly sampleRows?: string;
  readonly assumeDensity?: string;
  readonly slo?: string;
  readonly objective: string;
  readonly maxWorkers?: string;
  readonly workers?: string;
  readonly partition?: string;
  readonly memory?: string;
  readonly channel?: string;
  readonly workflow?: string;
  readonly prices?: string;
  readonly calibration?: string;
  readonly out?: string;
  readonly force?: boolean;
  readonly stackPrefix: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

function integerOption(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${value}'`, { field: name });
  return n;
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${value}'`, { field: name });
  return n;
}

function loadModel(o: PlanOptions, seed: number): { network: SparseNetwork; ref: ModelReference } {
  if (o.model && o.generate) throw new UsageError('give either --model or --generate, not both', { field: 'model' });
  if (o.generate) {
    const { neurons, layers } = parseShape(o.generate);
    return { network: generateRadixNetwork({ neurons, layers, seed }), ref: { source: 'generated', path: null, generate: { neurons, layers, seed } } };
  }
  if (!o.model) throw new UsageError('give a model: --model <dir of n<N>-l<k>.tsv | file.sdnn> or --generate <N>x<L>', { field: 'model' });
  const network = loadNetwork(resolve(o.model), { layers: integerOption(o.layers, 'layers', 1) });
  const source = statSync(resolve(o.model)).isDirectory() ? 'graphchallenge-tsv' : 'sdnn';
  return { network, ref: { source, path: o.model, generate: null } };
}

function loadInputs(o: PlanOptions, network: SparseNetwork, seed: number): { inputs: SparseRows; ref: InputsReference } {
  if (o.inputs && o.samples) throw new UsageError('give either --inputs or --samples, not both', { field: 'inputs' });
  if (o.inputs) {
    const inputs = readInputTsv(resolve(o.inputs), network.neurons);
    return { inputs, ref: { source: 'tsv', path: o.inputs, samples: inputs.rows, seed: null, density: rowsNonzeros(inputs) / (inputs.rows * network.neurons) } };
  }
  const samples = integerOption(o.samples, 'samples', 1);
  if (samples === undefined) throw new UsageError('give the workload: --inputs <tsv> or --samples <N> (generated inputs)', { field: 'inputs' });
  const density = numberOption(o.inputDensity, 'input-density') ?? 0.104;
  return {
    inputs: generateInputs({ neurons: network.neurons, samples, density, seed }),
    ref: { source: 'generated', path: null, samples, seed, density },
  };
}

function loadCalibration(file: string | undefined): { profile: CalibrationProfile; path: string | null } {
  if (file) return { profile: readCalibrationProfile(resolve(file)), path: file };
  const local = resolve(DEFAULT_CALIBRATION_PATH);
  if (existsSync(local)) return { profile: readCalibrationProfile(local), path: DEFAULT_CALIBRATION_PATH };
  return { profile: defaultCalibrationProfile(), path: null };
}

function parseList<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim().toLowerCase());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`--${name}: unknown value '${item}' (known: ${allowed.join(', ')})`, { field: name });
  }
  return items as T[];
}

function row(c: Candidate, chosen: Candidate): (string | number)[] {
  return [
    `${c === chosen ? '* ' : '  '}${c.label}`,
    formatSeconds(c.estimate.latencySeconds),
    formatCost(c.estimate.cost.totalUSD),
    c.meetsSlo ? 'yes' : 'no',
    `${c.estimate.parts.compute.toFixed(2)}/${c.estimate.parts.communication.toFixed(2)}/${(c.estimate.parts.launch + c.estimate.parts.load + c.estimate.parts.orchestration).toFixed(2)}`,
    c.method,
  ];
}

const HEADER = ['plan', 'latency', 'cost', 'SLO', 'compute/comm/other s', 'by'];

function services(byService: Record<string, number>): string {
  return Object.entries(byService).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${formatCost(v)}`).join(', ');
}

/** Where `plan` writes when --out is not given: git-ignored, inside the project. */
export const DEFAULT_PLAN_PATH = '.stepinfer/plan.json';

function describe(plan: Plan, report: PlanReport, search: PlanSearchResult, wl: WorkloadProfile, out: { plan: string; report: string }, calibrationPath: string | null, scheme: string): string {
  const c = search.chosen;
  const parts = c.estimate.parts;
  const density = wl.source === 'serial-sample'
    ? `from a serial run of ${wl.sampleRows} of ${wl.rows} rows`
    : `assumed ${wl.assumedDensity} at every layer`;
  const densities = wl.layers.map((l) => l.inputDensity);
  const lines = [
    `plan: ${c.label} (${plan.shape})`,
    `  why: ${search.explanation}`,
    `  predicted: ${formatSeconds(c.estimate.latencySeconds)}, ${formatCost(c.estimate.cost.totalUSD)} per run ` +
      `(launch ${parts.launch.toFixed(2)} s, load ${parts.load.toFixed(2)} s, compute ${parts.compute.toFixed(2)} s, communication ${parts.communication.toFixed(2)} s, orchestration ${parts.orchestration.toFixed(2)} s)`,
    `  cost: ${services(c.estimate.cost.byServiceUSD)}`,
    `  stages: ${report.predicted.stages.map((s) => `${s.firstLayer}-${s.lastLayer}@${s.memoryMB}MB`).slice(0, 12).join(' ')}${report.predicted.stages.length > 12 ? ` ... (${report.predicted.stages.length} stages)` : ''}`,
    plan.workers > 1
      ? `partition: ${report.partition.scheme} over ${plan.workers} workers, ${report.partition.totalRowSends.toLocaleString('en-US')} row-sends over all layers, nonzero imbalance ${(report.partition.maxNonzeroImbalance * 100).toFixed(1)}%`
      : `partition: none (one worker); the partitioned alternatives used ${scheme} maps`,
    `workload: ${wl.rows} rows x ${plan.model.neurons} neurons x ${plan.model.layers} layers; activation density ${density}: ` +
      `layer 1 reads ${densities[0].toFixed(3)}, peak ${Math.max(...densities).toFixed(3)}, final ${wl.outputDensity.toFixed(3)}`,
    `calibration: ${calibrationPath ?? 'checked-in default profile (not this machine; run stepinfer calibrate)'}: scatter ${(report.calibration.scatterMacsPerSecond / 1e6).toFixed(0)} M, gather ${(report.calibration.gatherMacsPerSecond / 1e6).toFixed(0)} M multiply-adds/s per core`,
    `searched ${search.workerCounts.length} worker counts (${search.workerCounts.join(', ')}), ${search.evaluated} plans, ${search.milpSolves} stage programs (HiGHS); prices ${report.prices.region} of ${report.prices.date}`,
    '',
    'Pareto front (latency vs cost):',
    table(HEADER, search.pareto.map((x) => row(x, c))),
    '',
    'best of each family:',
    table(HEADER, search.families.map((x) => row(x, c))),
    '',
    `always-on server (${report.server.instanceType}, ${(report.server.utilization * 100).toFixed(0)}% utilization, comparison only): ` +
      `${formatSeconds(report.server.latencySeconds)}, ${formatCost(report.server.costUSD)} per request${report.server.feasible ? '' : ' (does not fit)'}`,
    `wrote ${out.plan} (plan ${plan.planId}) and ${out.report}`,
  ];
  return lines.join('\n');
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('choose workers, neuron maps, channel, layer grouping, memory and launch for a model and workload, and write plan.json')
    .option('--model <path>', 'GraphChallenge directory of n<N>-l<k>.tsv files, or a .sdnn file')
    .option('--generate <NxL>', 'a generated RadiX-Net network, e.g. 65536x120')
    .option('--layers <n>', 'use only the first n layers of --model')
    .option('--seed <n>', 'seed of generation and partitioning', '1')
    .option('--inputs <tsv>', 'planning inputs (sample<TAB>neuron<TAB>value): the workload of one run')
    .option('--samples <n>', 'a workload of n generated inputs instead of --inputs')
    .option('--input-density <d>', 'density of generated inputs (with --samples)', '0.104')
    .option('--sample-rows <n>', 'input rows run serially to measure activation density (default: up to 1000, fewer for large networks)')
    .option('--assume-density <d>', 'skip the serial run and assume this activation density at every layer')
    .option('--slo <seconds>', 'latency bound of one run')
    .option('--objective <kind>', 'cost (cheapest within the SLO) or latency (fastest)', 'cost')
    .option('--max-workers <P>', 'largest worker count searched (default min(N, 256))')
    .option('--workers <list>', 'exact worker counts to search, e.g. 1,8,64')
    .option('--partition <scheme>', `neuron partitioning: ${PARTITION_SCHEMES.join(', ')} (default hypergraph up to ${HYPERGRAPH_DEFAULT_MAX_NONZEROS / 1e6}M weight nonzeros, cyclic above)`)
    .option('--memory <MB>', 'fix the Lambda memory of every stage (128-10240)')
    .option('--channel <list>', 'channels searched: queue, object (default both)')
    .option('--workflow <list>', 'workflow types searched: standard, express (default both)')
    .option('--prices <file>', 'price file overriding planner/prices/aws-us-east-1.json')
    .option('--calibration <file>', `calibration profile (default ${DEFAULT_CALIBRATION_PATH} if present, else the checked-in default)`)
    .option('-o, --out <file>', `where to write the plan; its report goes beside it as <name>.report.json (default ${DEFAULT_PLAN_PATH})`)
    .option('--force', 'replace existing plan and report files')
    .option('--stack-prefix <name>', `first part of every resource name (lowercase, at most ${STACK_PREFIX_MAX_CHARS} characters)`, DEFAULT_STACK_PREFIX)
    .option('--json', 'print a JSON summary instead of text')
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .addHelpText('after', `
Searches worker counts (1, 2, 4, ... max), channel (queue: SNS->SQS; object: S3), grouping of
layers into Map stages (serial, map-per-layer, groups of G layers), launch (Map fan-out or the FSD
launch tree), Standard or Express workflow, and memory from 128 to 10,240 MB; the best
configurations get the AMPS-style stage/memory program solved by HiGHS. Picks the cheapest plan
within --slo (or the fastest with --objective latency) and prints the Pareto front, the best plan
of each family and an always-on server for comparison.

Examples:
  stepinfer plan --model ../shared/data/graphchallenge/neuron1024 --inputs ../shared/data/graphchallenge/sparse-images-1024-first10000.tsv --slo 30
  stepinfer plan --generate 65536x24 --samples 10000 --sample-rows 200 --slo 120 -o plan-65536.json`)
    .action(async (o: PlanOptions) => {
      const seed = integerOption(o.seed, 'seed', 0)!;
      if (o.objective !== 'cost' && o.objective !== 'latency') throw new UsageError(`--objective must be cost or latency, got '${o.objective}'`, { field: 'objective' });
      if (o.partition !== undefined && !isPartitionScheme(o.partition)) throw new UsageError(`unknown partition scheme '${o.partition}' (known: ${PARTITION_SCHEMES.join(', ')})`, { field: 'partition' });
      const slo = numberOption(o.slo, 'slo');
      if (slo !== undefined && slo <= 0) throw new UsageError(`--slo must be a positive number of seconds, got ${o.slo}`, { field: 'slo' });
      const memoryMB = numberOption(o.memory, 'memory');
      if (memoryMB !== undefined && !(Number.isInteger(memoryMB) && memoryMB >= 128 && memoryMB <= 10240)) {
        throw new UsageError(`--memory must be an integer from 128 to 10240 MB (Lambda's range), got ${o.memory}`, { field: 'memory' });
      }
      const workerCounts = o.workers?.split(',').map((s) => integerOption(s.trim(), 'workers', 1)!);
      const maxWorkers = integerOption(o.maxWorkers, 'max-workers', 1);
      const channels = parseList<ChannelKind>(o.channel, 'channel', ['queue', 'object']);
      const workflowTypes = parseList<'standard' | 'express'>(o.workflow, 'workflow', ['standard', 'express'])?.map((w) => w.toUpperCase() as WorkflowType);
      const assumed = numberOption(o.assumeDensity, 'assume-density');
      const sampleRows = integerOption(o.sampleRows, 'sample-rows', 1);
      const prefixProblem = stackPrefixProblem(o.stackPrefix);
      if (prefixProblem) throw new UsageError(`--stack-prefix: ${prefixProblem}`, { field: 'stack-prefix' });
      // Both outputs are checked before the work, so a long search never ends in a refused write.
      if (o.out === undefined) mkdirSync(dirname(resolve(DEFAULT_PLAN_PATH)), { recursive: true });
      const planPath = checkOutputPath(o.out ?? DEFAULT_PLAN_PATH, { overwrite: o.force, option: '--out' });
      const reportPath = checkOutputPath(planReportPath(planPath), { overwrite: o.force, option: '--out' });
      const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
      const calibration = loadCalibration(o.calibration);

      const { network, ref: model } = loadModel(o, seed);
      if (maxWorkers !== undefined && maxWorkers > network.neurons) {
        throw new UsageError(`--max-workers ${maxWorkers} exceeds the network's ${network.neurons} neurons (P must be <= N)`, { field: 'max-workers' });
      }
      const scheme: PartitionScheme = (o.partition as PartitionScheme | undefined)
        ?? (networkNonzeros(network) <= HYPERGRAPH_DEFAULT_MAX_NONZEROS ? 'hypergraph' : 'cyclic');
      const { inputs, ref: inputsRef } = loadInputs(o, network, seed);
      const bar = progressBar('plan', o);
      const workload = assumed !== undefined
        ? assumedWorkload(network, inputs.rows, assumed, DEFAULT_GATHER_ABOVE_DENSITY)
        : profileWorkload(network, inputs, { sampleRows, onLayer: (l, of) => bar.tick(l, of, 'serial sample for activation density') });
      let search: PlanSearchResult;
      try {
        search = await searchPlans(network, workload, {
          objective: o.objective,
          sloSeconds: slo,
          maxWorkers,
          workerCounts,
          scheme,
          seed,
          memoryMB,
          channels,
          workflowTypes,
          prices,
          calibration: calibration.profile,
          onProgress: (step, done, total) => bar.tick(done, total, step),
        });
      } finally {
        bar.stop();
      }
      const { plan, report: planReport } = buildPlan({
        network, model, inputs: inputsRef, search, objective: o.objective, sloSeconds: slo,
        scheme, seed, calibration: calibration.profile, calibrationPath: calibration.path, version: packageJson.version,
        kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' }, stackPrefix: o.stackPrefix,
      });
      // The report first: a plan on disk always has its report beside it.
      writeOutputFile(reportPath, serializePlanReport(planReport));
      writeOutputFile(planPath, serializePlan(plan));
      const functionOf = (id: string) => plan.functions.find((f) => f.id === id)!;
      report(o, {
        out: planPath,
        report: reportPath,
        planId: plan.planId,
        shape: plan.shape,
        workers: plan.workers,
        memoryMB: Math.max(...plan.functions.filter((f) => f.role === 'worker' || f.role === 'stage').map((f) => f.memoryMB)),
        channel: plan.channel.kind,
        workflowType: plan.workflow.type,
        stages: plan.workflow.stages.map((s) => ({ firstLayer: s.firstLayer, lastLayer: s.lastLayer, memoryMB: functionOf(s.functionId).memoryMB, launch: s.launch })),
        explanation: planReport.explanation,
        predicted: planReport.predicted,
        workload: { rows: workload.rows, densitySource: workload.source, sampleRows: workload.sampleRows },
        calibration: planReport.calibration,
        alternatives: planReport.alternatives,
        server: planReport.server,
      }, () => describe(plan, planReport, search, workload, { plan: planPath, report: reportPath }, calibration.path, scheme));
    });
}
