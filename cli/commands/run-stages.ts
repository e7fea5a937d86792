// `stepinfer run --model x.onnx`: a dense ONNX model end to end on this machine (AMPS-Inf stages).
// Plans it (the stages planner, cli/commands/plan-stages.ts) unless --plan gives a stages plan,
// writes every stage's sub-model into the run's folder (.stepinfer/runs/<runId>/, as the stage
// packages would hold them: cli/commands/stages.ts), stages a deterministic seeded input (or
// --input), runs the plan's generated workflow locally (workflows/local/stages-run.ts: the
// workflow in aws-local-stepfunctions, each stage's function in the local Lambda host, S3 in
// fauxqs), then runs the whole model with onnxruntime-node in this process on the same input and
// prints each stage (units, memory, its measured seconds from its log line) and maxAbsDiff, the
// largest difference between the staged and the whole model's output (0 expected: the same
// kernels in the same order). A failed stage fails the run naming the stage and the cause.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { encodeOnnxModel } from '../../model/onnx/extract.ts';
import { SeededRandom } from '../../model/random.ts';
import { readDataFile } from '../../model/read-file.ts';
import type { StagesPlan } from '../../planner/plan/stages-schema.ts';
import { createOnnxSession, runOnnx } from '../../functions/dense/onnx-session.ts';
import { decodeTensorObject, elementCount, type DenseTensor } from '../../functions/storage/tensor-codec.ts';
import { newRunId } from '../../workflows/local/local-run.ts';
import { runStagesLocally, type StagesRunResult } from '../../workflows/local/stages-run.ts';
import { checkOutputPath, readStagesPlanFile, writeOutputFiles } from '../files.ts';
import { progressBar, report, table } from '../output.ts';
import { RUN_RECORD_DIR, runLogging } from '../run-report.ts';
import { stagesModel } from './stages.ts';
import { makeStagesPlan } from './plan-stages.ts';

export interface RunStagesOptions {
  /** The ONNX file. */
  readonly model: string;
  readonly plan?: string;
  readonly slo?: number;
  readonly batch?: number;
  /** The batch's input: raw little-endian float32 of the model's input dims, or a stepinfer tensor object. */
  readonly input?: string;
  /** Seed of the generated input (default 1). */
  readonly seed?: number;
  readonly prices?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** The sparse run's options that mean nothing for an ONNX model (commander's camel-case names and their flags). */
const SPARSE_ONLY: readonly (readonly [string, string])[] = [
  ['workers', '--workers'], ['channel', '--channel'], ['groups', '--groups'], ['launch', '--launch'], ['receiveTimeout', '--receive-timeout'],
  ['generate', '--generate'], ['inputs', '--inputs'], ['samples', '--samples'], ['truth', '--truth'], ['limit', '--limit'], ['layers', '--layers'],
];

/** Refuses, before any work, options that do not apply to an ONNX model or contradict each other. */
export function refuseStagesContradictions(o: RunStagesOptions & Record<string, unknown>): void {
  for (const [key, flag] of SPARSE_ONLY) {
    if (o[key] !== undefined) throw new UsageError(`${flag} is for sparse models; an ONNX --model runs as AMPS stages (--slo, --batch, --plan, --input, --seed)`, { field: flag.slice(2) });
  }
  if (o.plan !== undefined) {
    for (const [flag, given] of [['--slo', o.slo], ['--batch', o.batch], ['--prices', o.prices]] as const) {
      if (given !== undefined) throw new UsageError(`--plan fixes the stages and the batch; ${flag} is for planning`, { field: flag.slice(2) });
    }
  }
  if (o.input !== undefined && o.seed !== undefined) throw new UsageError('--seed makes the input; --input gives it: not both', { field: 'seed' });
}

/** A deterministic input of `dims`: uniform in [-1, 1) from a seeded generator (model/random.ts). */
export function seededInput(dims: readonly number[], seed: number): DenseTensor {
  const random = new SeededRandom(seed);
  const data = new Float32Array(elementCount(dims));
  for (let i = 0; i < data.length; i++) data[i] = 2 * random.next() - 1;
  return { dims: [...dims], data };
}

/**
 * The input a file holds: a stepinfer tensor object (functions/storage/tensor-codec.ts, what a
 * run stages) or raw little-endian float32 values, exactly the model's input dims either way.
 */
export function readInputFile(file: string, dims: readonly number[]): DenseTensor {
  const bytes = readDataFile(file, 'input file not found');
  if (bytes.length >= 4 && bytes.subarray(0, 4).toString('latin1') === 'SITN') return decodeTensorObject(bytes, file, dims);
  const expected = 4 * elementCount(dims);
  if (bytes.length !== expected) {
    throw new ShapeMismatchError(`${bytes.length} bytes, the model's input [${dims.join(', ')}] is ${expected} bytes of float32 (or a stepinfer tensor object)`, { file, field: 'input' });
  }
  const data = new Float32Array(elementCount(dims));
  new Uint8Array(data.buffer).set(bytes);
  return { dims: [...dims], data };
}

/** The largest |staged - whole| over the output (NaN where either is NaN and the other is not). */
export function maxAbsDiff(staged: DenseTensor, whole: DenseTensor): number {
  if (staged.data.length !== whole.data.length) throw new ShapeMismatchError(`the staged output has ${staged.data.length} values, the whole model's ${whole.data.length}`);
  let max = 0;
  for (let i = 0; i < whole.data.length; i++) {
    const a = staged.data[i], b = whole.data[i];
    if (Number.isNaN(a) !== Number.isNaN(b)) return Number.NaN;
    if (!Number.isNaN(a)) max = Math.max(max, Math.abs(a - b));
  }
  return max;
}

function summaryOf(plan: StagesPlan, from: string, run: StagesRunResult, diff: number, files: string, logFile: string) {
  return {
    runId: run.runId,
    planId: plan.planId,
    plan: from,
    model: plan.model.path,
    batch: plan.batch,
    workflowType: plan.workflow.type,
    stages: run.stages.map((s) => ({
      index: s.index, name: s.name, layers: s.name, firstUnit: s.firstUnit, lastUnit: s.lastUnit, units: s.lastUnit - s.firstUnit + 1,
      memoryMB: s.memoryMB, seconds: s.seconds, timingsMs: s.timings, stateSeconds: s.stateSeconds, handoff: s.handoff, cold: s.cold,
    })),
    maxAbsDiff: diff,
    output: { dims: run.output.dims, crc32: run.resultCrc32 },
    seconds: { total: run.phasesMs.total / 1000, setup: run.phasesMs.setup / 1000, execution: run.phasesMs.execution / 1000 },
    transitions: run.transitions.transitions,
    lambdaInvocations: run.invocations.length,
    notes: run.notes,
    files,
    logFile,
  };
}

export async function runStagesCommand(o: RunStagesOptions & Record<string, unknown>): Promise<void> {
  refuseStagesContradictions(o);
  // A plan file is read before the model, so a wrong path fails at once.
  const given = o.plan !== undefined ? readStagesPlanFile(o.plan) : undefined;
  const runId = newRunId();
  const dir = join(RUN_RECORD_DIR, runId);
  mkdirSync(RUN_RECORD_DIR, { recursive: true });
  checkOutputPath(dir, { option: 'run id' });
  const plan = given ?? (await makeStagesPlan({ model: o.model, slo: o.slo, batch: o.batch, prices: o.prices })).plan;
  const from = given ? o.plan! : 'planned for this run';
  // The model as the plan runs it, and every stage's file (checked against the plan).
  const { graph, files } = stagesModel(plan, o.model);
  const input = o.input !== undefined ? readInputFile(o.input, plan.model.input.dims) : seededInput(plan.model.input.dims, o.seed ?? 1);
  mkdirSync(dir, { recursive: true });
  writeOutputFiles([...files.map((f) => ({ file: join(dir, f.name), data: f.bytes })), { file: join(dir, 'plan.json'), data: `${JSON.stringify(plan, null, 2)}\n` }]);

  const bar = progressBar('run', o);
  const { logFile, logSink, setPhase } = runLogging(runId, bar, plan.workflow.stages.length);
  let run: StagesRunResult;
  try {
    run = await runStagesLocally(plan, input, { runId, stageFilesDir: resolve(dir), logSink, onPhase: setPhase });
  } catch (error) {
    bar.stop();
    if (error instanceof Error) error.message = `${error.message} (handler logs ${logFile})`;
    throw error;
  }
  bar.stop();
  setPhase('the whole model in this process');
  const whole = await runOnnx(await createOnnxSession(encodeOnnxModel(graph), 1, `the whole model ${o.model}`), input, `the whole model ${o.model}`, plan.model.output.dims);
  const diff = maxAbsDiff(run.output, whole);
  const summary = summaryOf(plan, from, run, diff, dir, logFile);
  report(o, summary, (s) => [
    `plan         ${s.planId} (${s.plan}): ${s.stages.length} stage${s.stages.length === 1 ? '' : 's'} of ${s.model}, batch ${s.batch}, ${s.workflowType} workflow`,
    `run          ${s.runId}: the generated workflow in aws-local-stepfunctions, each stage's function in the local Lambda host, S3 in fauxqs`,
    table(['stage', 'units', 'layers', 'memory MB', 'seconds', 'load', 'read', 'run', 'write', 'state s', 'output'], s.stages.map((x) => [
      x.index, x.firstUnit === x.lastUnit ? `${x.firstUnit}` : `${x.firstUnit}-${x.lastUnit}`, x.layers, x.memoryMB, x.seconds.toFixed(3),
      ms(x.timingsMs.loadMs), ms(x.timingsMs.readMs), ms(x.timingsMs.runMs), ms(x.timingsMs.writeMs), x.stateSeconds.toFixed(2), x.index === s.stages.length - 1 ? 'result' : x.handoff,
    ])),
    `output       dims [${s.output.dims.join(', ')}], CRC-32 ${s.output.crc32}`,
    `maxAbsDiff   ${s.maxAbsDiff} against the whole model run by onnxruntime-node in this process on the same input${s.maxAbsDiff === 0 ? ' (bit for bit)' : ''}`,
    `time         ${s.seconds.total.toFixed(2)} s (setup ${s.seconds.setup.toFixed(2)} s, execution ${s.seconds.execution.toFixed(2)} s); ${s.lambdaInvocations} Lambda invocations, ${s.transitions} state transitions`,
    ...s.notes.map((n, i) => `${i === 0 ? 'local        ' : '             '}${n.note}`),
    `files        ${s.files} (each stage's sub-model, the plan); handler logs ${s.logFile}`,
  ].join('\n'));
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
