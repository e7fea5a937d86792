// `stepinfer plan`: from a model, a workload and an objective to plan.json, the deployment
// contract (workers, neuron maps, channel, stages, functions, names), and plan.report.json beside
// it (predicted latency and cost with breakdowns, the Pareto front, the best plan per family, a
// server). Both go where --out says, by default under the git-ignored .stepinfer/; an existing
// file is replaced only with --force.
// Options that restrict the search (--workers, --channel, --shape, --groups, --launch, --memory,
// --workflow) are honored, or the command says why nothing matches them.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { networkNonzeros } from '../../model/network.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { PARTITION_SCHEMES, type PartitionScheme } from '../../planner/partition/index.ts';
import { defaultPrices, type PriceTable } from '../../planner/cost/prices.ts';
import {
  assumedWorkload, defaultCalibrationProfile, defaultWireFormat, describeWireFormat,
  type CalibrationProfile, type WorkloadProfile,
} from '../../planner/latency/index.ts';
import {
  CHANNEL_CHOICES, describeOptimality, formatCost, formatSeconds, LAUNCH_KINDS, searchPlans, SHAPES,
  type Candidate, type ChannelChoice, type LaunchKind, type PlanSearchResult, type Shape, type WorkflowType,
} from '../../planner/optimize/index.ts';
import {
  buildPlan, DEFAULT_STACK_PREFIX, planReportPath, serializePlan, serializePlanReport, STACK_PREFIX_MAX_CHARS, stackPrefixProblem,
  type Plan, type PlanReport,
} from '../../planner/plan/index.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { profileWorkload } from '../../functions/serial/workload-profile.ts';
import { checkOutputPath, readCalibrationProfile, readPriceFile, writeOutputFile } from '../files.ts';
import {
  checkWorkerCounts, choiceListOption, fractionOption, integerOption, numberOption, seedOption, shapeOption, workerListOption,
  type Shape as ShapeNxL,
} from '../options.ts';
import { progressBar, report, table } from '../output.ts';
import { resolveWorkload, type Workload } from '../workload.ts';
import { DEFAULT_CALIBRATION_PATH } from './calibrate.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { isOnnxModelPath, planStages } from './plan-stages.ts';

/** Above this many weight nonzeros the default partitioner is cyclic: hypergraph takes minutes per worker count. */
export const HYPERGRAPH_DEFAULT_MAX_NONZEROS = 20_000_000;

interface PlanOptions {
  readonly model?: string;
  readonly generate?: ShapeNxL;
  readonly layers?: number;
  readonly seed?: number;
  readonly inputs?: string;
  readonly samples?: number;
  readonly inputDensity?: number;
  readonly sampleRows?: number;
  readonly assumeDensity?: number;
  readonly slo?: number;
  readonly objective: 'cost' | 'latency';
  readonly maxWorkers?: number;
  readonly workers?: number[];
  readonly partition?: PartitionScheme;
  readonly memory?: number;
  readonly channel?: ChannelChoice[];
  readonly shape?: Shape[];
  readonly groups?: number;
  readonly launch?: LaunchKind[];
  readonly workflow?: ('standard' | 'express')[];
  readonly prices?: string;
  readonly calibration?: string;
  readonly out?: string;
  readonly force?: boolean;
  readonly stackPrefix: string;
  readonly json?: boolean;
  readonly progress?: boolean;
  /** ONNX models only (plan-stages.ts). */
  readonly batch?: number;
  readonly package?: 'zip' | 'image';
  readonly packageLimit?: number;
}

/** Options of a sparse model's search that mean nothing for an ONNX model's stages (refused, by their flags). */
const SPARSE_ONLY_OPTIONS: readonly [keyof PlanOptions, string][] = [
  ['generate', '--generate'], ['layers', '--layers'], ['seed', '--seed'], ['inputs', '--inputs'], ['samples', '--samples'],
  ['inputDensity', '--input-density'], ['sampleRows', '--sample-rows'], ['assumeDensity', '--assume-density'], ['maxWorkers', '--max-workers'],
  ['workers', '--workers'], ['partition', '--partition'], ['channel', '--channel'], ['shape', '--shape'], ['groups', '--groups'], ['launch', '--launch'],
];

/** Options of an ONNX model's stages that mean nothing for a sparse model. */
const ONNX_ONLY_OPTIONS: readonly [keyof PlanOptions, string][] = [['batch', '--batch'], ['package', '--package'], ['packageLimit', '--package-limit']];

function refuseOptions(o: PlanOptions, options: readonly [keyof PlanOptions, string][], why: string): void {
  const given = options.filter(([key]) => o[key] !== undefined).map(([, flag]) => flag);
  if (given.length > 0) throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'means' : 'mean'} nothing ${why}`, { field: 'options' });
}

/** Contradictory search options: refused rather than one silently ignored (model and input options: cli/workload.ts). */
function refuseContradictions(o: PlanOptions): void {
  const pairs: [boolean, string][] = [
    [o.assumeDensity !== undefined && o.sampleRows !== undefined, '--sample-rows sizes the serial run that --assume-density skips: give one of them'],
    [o.workers !== undefined && o.maxWorkers !== undefined, 'give either --workers (exact counts) or --max-workers, not both'],
  ];
  for (const [contradicts, message] of pairs) if (contradicts) throw new UsageError(message, { field: 'options' });
}

export function loadCalibration(file: string | undefined): { profile: CalibrationProfile; path: string | null } {
  if (file) return { profile: readCalibrationProfile(resolve(file)), path: file };
  const local = resolve(DEFAULT_CALIBRATION_PATH);
  if (existsSync(local)) return { profile: readCalibrationProfile(local), path: DEFAULT_CALIBRATION_PATH };
  return { profile: defaultCalibrationProfile(), path: null };
}

function row(c: Candidate, chosen: Candidate): (string | number)[] {
  return [
    `${c === chosen ? '* ' : '  '}${c.label}`,
    formatSeconds(c.estimate.latencySeconds),
    formatCost(c.estimate.cost.totalUSD),
    c.meetsSlo ? 'yes' : 'no',
    `${c.estimate.parts.compute.toFixed(2)}/${c.estimate.parts.communication.toFixed(2)}/${(c.estimate.parts.launch + c.estimate.parts.load + c.estimate.parts.orchestration).toFixed(2)}`,
    c.method === 'milp' ? (c.optimality?.proven ? 'milp' : 'milp (unproven)') : c.method,
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
    ? wl.sampleSelection === 'all' ? `from a serial run of all ${wl.rows} rows` : `from a serial run of a random ${wl.sampleRows} of ${wl.rows} rows`
    : `assumed ${wl.assumedDensity} at every layer`;
  const densities = wl.layers.map((l) => l.inputDensity);
  const lines = [
    `plan: ${c.label} (${plan.shape})`,
    `  why: ${search.explanation}`,
    `  predicted: ${formatSeconds(c.estimate.latencySeconds)}, ${formatCost(c.estimate.cost.totalUSD)} per run ` +
      `(launch ${parts.launch.toFixed(2)} s, load ${parts.load.toFixed(2)} s, compute ${parts.compute.toFixed(2)} s, communication ${parts.communication.toFixed(2)} s, orchestration ${parts.orchestration.toFixed(2)} s)`,
    `  cost: ${services(c.estimate.cost.byServiceUSD)}`,
    `  optimality: ${describeOptimality(c)}`,
    `  stages: ${report.predicted.stages.map((s) => `${s.firstLayer}-${s.lastLayer}@${s.memoryMB}MB`).slice(0, 12).join(' ')}${report.predicted.stages.length > 12 ? ` ... (${report.predicted.stages.length} stages)` : ''}`,
    plan.workers > 1
      ? `partition: ${report.partition.scheme} over ${plan.workers} workers, ${report.partition.totalRowSends.toLocaleString('en-US')} row-sends over all layers, nonzero imbalance ${(report.partition.maxNonzeroImbalance * 100).toFixed(1)}%`
      : `partition: none (one worker); the partitioned alternatives used ${scheme} maps`,
    `workload: ${wl.rows} rows x ${plan.model.neurons} neurons x ${plan.model.layers} layers; activation density ${density}: ` +
      `layer 1 reads ${densities[0].toFixed(3)}, peak ${Math.max(...densities).toFixed(3)}, final ${wl.outputDensity.toFixed(3)}`,
    `bytes: ${describeWireFormat(search.context.wireFormat)}; queue bodies x${search.context.constants.queueEncodingOverhead} (base64)`,
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

/** What makePlan needs besides the workload: `plan`'s search options, with prices and calibration read. */
export type MakePlanOptions = Omit<PlanOptions, 'prices' | 'calibration' | 'stackPrefix' | 'model' | 'generate' | 'layers' | 'inputs' | 'samples' | 'inputDensity' | 'out' | 'force'> & {
  readonly prices: PriceTable;
  readonly calibration: { readonly profile: CalibrationProfile; readonly path: string | null };
  readonly stackPrefix?: string;
};

/** Profiles the workload (or assumes its density), searches, and builds the plan and its report: `plan`'s work, also what `infer --workers` plans with. */
export async function makePlan(w: Workload, o: MakePlanOptions) {
  const { network, inputs, model, inputsReference: inputsRef } = w;
  if (o.workers) checkWorkerCounts(o.workers, network.neurons);
  const seed = o.seed ?? 1;
  const scheme: PartitionScheme = o.partition ?? (networkNonzeros(network) <= HYPERGRAPH_DEFAULT_MAX_NONZEROS ? 'hypergraph' : 'cyclic');
  const bar = progressBar('plan', o);
  const workload = o.assumeDensity !== undefined
    ? assumedWorkload(network, inputs.rows, o.assumeDensity, DEFAULT_GATHER_ABOVE_DENSITY)
    : profileWorkload(network, inputs, { sampleRows: o.sampleRows, seed, onLayer: (l, of) => bar.tick(l, of, 'serial run for activation density') });
  let search: PlanSearchResult;
  try {
    search = await searchPlans(network, workload, {
      objective: o.objective,
      sloSeconds: o.slo,
      maxWorkers: o.maxWorkers,
      workerCounts: o.workers,
      scheme,
      seed,
      memoryMB: o.memory,
      channels: o.channel,
      shapes: o.shape,
      groups: o.groups,
      launches: o.launch,
      workflowTypes: o.workflow?.map((x) => x.toUpperCase() as WorkflowType),
      prices: o.prices,
      calibration: o.calibration.profile,
      wireFormat: defaultWireFormat(),
      onProgress: (step, done, total) => bar.tick(done, total, step),
    });
  } finally {
    bar.stop();
  }
  const { plan, report } = buildPlan({
    network, model, inputs: inputsRef, search, objective: o.objective, sloSeconds: o.slo,
    scheme, seed, calibration: o.calibration.profile, calibrationPath: o.calibration.path, version: packageJson.version,
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' }, stackPrefix: o.stackPrefix,
  });
  return { plan, report, search, workload, scheme };
}

export function registerPlanCommand(program: Command): void {
  const memory = `${AWS_LIMITS.lambdaMinMemoryMB.value}-${AWS_LIMITS.lambdaMaxMemoryMB.value}`;
  program
    .command('plan')
    .description('choose workers, neuron maps, channel, layer grouping, memory and launch for a model and workload, and write plan.json')
    .option('--model <path>', 'GraphChallenge directory of n<N>-l<k>.tsv files, a .sdnn file, or an .onnx model (planned as AMPS-Inf stages)')
    .option('--generate <NxL>', 'a generated RadiX-Net network, e.g. 65536x120', shapeOption)
    .option('--layers <n>', 'use only the first n layers of --model', integerOption(1))
    .option('--seed <n>', 'seed of generation, partitioning and the density sample (default 1)', seedOption)
    .option('--inputs <tsv>', 'planning inputs (sample<TAB>neuron<TAB>value): the workload of one run')
    .option('--samples <n>', 'a workload of n generated inputs instead of --inputs', integerOption(1))
    .option('--input-density <d>', "density of generated inputs (with --samples; default: the generator's)", fractionOption({ zero: false }))
    .option('--sample-rows <n>', 'input rows run serially to measure activation density, a seeded random sample (default: every row when about 2e9 multiply-adds allow, else as many random rows as that budget runs)', integerOption(1))
    .option('--assume-density <d>', 'skip the serial run and assume this activation density at every layer', fractionOption({ zero: false }))
    .option('--slo <seconds>', 'latency bound of one run', numberOption({ min: 0, aboveMin: true }))
    .addOption(new Option('--objective <kind>', 'cost (cheapest within the SLO) or latency (fastest)').choices(['cost', 'latency']).default('cost'))
    .option('--max-workers <P>', 'largest worker count searched (default min(N, 256))', integerOption(1))
    .option('--workers <list>', 'exact worker counts to search, e.g. 1,8,64 or 2..16', workerListOption)
    .addOption(new Option('--partition <scheme>', `neuron partitioning (default hypergraph up to ${HYPERGRAPH_DEFAULT_MAX_NONZEROS / 1e6}M weight nonzeros, cyclic above)`).choices(PARTITION_SCHEMES))
    .option('--memory <MB>', `fix the Lambda memory of every stage (${memory})`, integerOption(AWS_LIMITS.lambdaMinMemoryMB.value, AWS_LIMITS.lambdaMaxMemoryMB.value))
    .option('--channel <list>', `channels a plan may use between layers: ${CHANNEL_CHOICES.join(', ')} (none: serial, stages, map-per-layer; default all)`, choiceListOption(CHANNEL_CHOICES))
    .option('--shape <list>', `workflow shapes: ${SHAPES.join(', ')} (default all)`, choiceListOption(SHAPES))
    .option('--groups <G>', 'cut the layers into exactly G near-equal groups (stages); the stage program then only picks memory', integerOption(1))
    .option('--launch <list>', `how layer groups start their workers: ${LAUNCH_KINDS.join(', ')} (FSD's launch tree; default both)`, choiceListOption(LAUNCH_KINDS))
    .option('--workflow <list>', 'workflow types searched: standard, express (default both)', choiceListOption(['standard', 'express'] as const))
    .option('--prices <file>', 'price file overriding planner/prices/aws-us-east-1.json')
    .option('--calibration <file>', `calibration profile (default ${DEFAULT_CALIBRATION_PATH} if present, else the checked-in default; for an ONNX model its dense calibration, default planner/latency/dense-calibration.json)`)
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
of each family and an always-on server for comparison. --workers, --channel, --shape, --groups,
--launch, --memory and --workflow restrict the search; when nothing can match them, plan says why.

Examples:
  stepinfer plan --model ../shared/data/graphchallenge/neuron1024 --inputs ../shared/data/graphchallenge/sparse-images-1024-first10000.tsv --slo 30
  FSD-Inference's configuration (8 workers, queue, one group of all layers, launch tree, 1000 MB):
  stepinfer plan --model ../shared/data/graphchallenge/neuron1024 --inputs ../shared/data/graphchallenge/sparse-images-1024-first10000.tsv --workers 8 --channel queue --shape layer-groups --groups 1 --launch tree --memory 1000 --workflow standard
  stepinfer plan --generate 65536x24 --samples 10000 --sample-rows 200 --slo 120 -o plan-65536.json`)
    .option('--batch <n>', 'ONNX models: inputs per execution (default: the cheapest per input of 1, 2, 4, 8, 16)', integerOption(1, 1024))
    .addOption(new Option('--package <kind>', 'ONNX models: each stage as a zip package (250 MB unzipped) or a container image (10 GB)').choices(['zip', 'image']))
    .option('--package-limit <MB>', "ONNX models, what-if: a package limit below Lambda's (e.g. a runtime as heavy as the TensorFlow AMPS-Inf packaged), which forces stages", integerOption(1))
    .action(async (o: PlanOptions, command: Command) => {
      if (isOnnxModelPath(o.model)) {
        refuseOptions(o, SPARSE_ONLY_OPTIONS, 'for an ONNX model (its stages are planned by units, memory and batch)');
        if (command.getOptionValueSource('objective') === 'cli') throw new UsageError('--objective means nothing for an ONNX model: its stages are the cheapest per input within --slo', { field: 'options' });
        if (o.progress) throw new UsageError('--progress means nothing for an ONNX model: its plan takes seconds', { field: 'options' });
        const prefixProblem = stackPrefixProblem(o.stackPrefix);
        if (prefixProblem) throw new UsageError(`--stack-prefix: ${prefixProblem}`, { field: 'stack-prefix' });
        await planStages({ ...o, model: o.model });
        return;
      }
      refuseOptions(o, ONNX_ONLY_OPTIONS, 'for a sparse model (they plan ONNX models)');
      refuseContradictions(o);
      const prefixProblem = stackPrefixProblem(o.stackPrefix);
      if (prefixProblem) throw new UsageError(`--stack-prefix: ${prefixProblem}`, { field: 'stack-prefix' });
      // Both outputs are checked before the work, so a long search never ends in a refused write.
      if (o.out === undefined) mkdirSync(dirname(resolve(DEFAULT_PLAN_PATH)), { recursive: true });
      const planPath = checkOutputPath(o.out ?? DEFAULT_PLAN_PATH, { overwrite: o.force, option: '--out' });
      const reportPath = checkOutputPath(planReportPath(planPath), { overwrite: o.force, option: '--out' });
      const prices = o.prices ? readPriceFile(resolve(o.prices)) : defaultPrices();
      const calibration = loadCalibration(o.calibration);

      const workloadSpec = resolveWorkload(
        { model: o.model, generate: o.generate, layers: o.layers, seed: o.seed, inputs: o.inputs, samples: o.samples, inputDensity: o.inputDensity },
        { defaultModel: 'none', inputs: 'required', seedUsedElsewhere: true },
      );
      const { plan, report: planReport, search, workload, scheme } = await makePlan(workloadSpec, { ...o, prices, calibration });
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
        optimality: search.chosen.optimality,
        predicted: planReport.predicted,
        workload: { rows: workload.rows, densitySource: workload.source, sampleRows: workload.sampleRows, sampleSelection: workload.sampleSelection },
        wireFormat: search.context.wireFormat,
        calibration: planReport.calibration,
        alternatives: planReport.alternatives,
        server: planReport.server,
      }, () => describe(plan, planReport, search, workload, { plan: planPath, report: reportPath }, calibration.path, scheme));
    });
}
