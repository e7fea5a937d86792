// `stepinfer plan --model x.onnx` as a user runs it: a child process on the pinned Node, real
// files. The plan and its report are written and valid, --json lists the stages with their
// memory; every error is one line without a stack and leaves no file behind: not an ONNX file,
// an operator we cannot cost, an SLO no plan meets (saying the fastest possible), a stage over
// the package limit at every cut, a calibration for another model, options that mean nothing here.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseStagesPlan, type StagesPlan } from '../../planner/plan/index.ts';
import { parseDenseCalibration } from '../../planner/stages/calibration.ts';
import { stagesPlanningColumns } from '../../planner/stages/build.ts';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { requireData } from '../helpers/shared-data.ts';
import { tinyInitializer, tinyModel } from '../helpers/onnx-models.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');
const CALIBRATION = resolve(import.meta.dirname, '../../planner/latency/dense-calibration.json');
const model = (file: string) => requireData(join(defaultModelsDir(), file), `the ONNX model ${file}`);

function stepinfer(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A failed command: exit code, one line on stderr without a stack, and no plan or report left. */
function expectFailure(run: ReturnType<typeof stepinfer>, code: number, message: RegExp, out?: string) {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stderr.trimEnd()).toMatch(message);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  if (out) {
    expect(existsSync(out)).toBe(false);
    expect(existsSync(out.replace(/\.json$/, '.report.json'))).toBe(false);
  }
}

describe('stepinfer plan --model x.onnx', () => {
  const newDir = tempDirs();

  it('writes a valid stages plan and its report; --json lists the stages with their memory', () => {
    const dir = newDir();
    const out = join(dir, 'plan.json');
    const run = stepinfer('plan', '--model', model('resnet50.graph.onnx'), '--slo', '3', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { stages: { memoryMB: number; firstUnit: number; lastUnit: number }[]; batch: number; latencySeconds: number; baselines: unknown };
    const plan: StagesPlan = parseStagesPlan(readFileSync(out, 'utf8'), out);
    expect(summary.stages.map((s) => s.memoryMB)).toEqual(plan.functions.map((f) => f.memoryMB));
    expect(summary.stages.map((s) => [s.firstUnit, s.lastUnit])).toEqual(plan.workflow.stages.map((s) => [s.firstUnit, s.lastUnit]));
    expect(plan.model.units).toBe(38);
    expect(plan.model.weights).toEqual({ kind: 'deterministic', seed: 0 });
    expect(plan.batch).toBe(summary.batch);
    expect(summary.latencySeconds).toBeLessThanOrEqual(3);
    const report = JSON.parse(readFileSync(join(dir, 'plan.report.json'), 'utf8'));
    expect(report.planId).toBe(plan.planId);
    expect(Object.keys(report.baselines)).toEqual(['singleFunction', 'uniformSplit', 'server']);
    expect(report.frontier.map((f: { batch: number }) => f.batch)).toEqual([1, 2, 4, 8, 16]);
    // The benchmark's planning columns come from the report.
    const columns = stagesPlanningColumns(report);
    expect(columns.predictedSeconds).toBe(summary.latencySeconds);
    expect(columns.stages).toBe(plan.workflow.stages.map((s) => `${s.firstUnit}-${s.lastUnit}@${plan.functions[s.index].memoryMB}`).join(' '));
    expect(columns.server.note).toMatch(/^m6i\.large, 10% busy \(a request every [\d.]+ s\)$/);
  });

  it('prints the stages, the batch frontier and the baselines with their savings', () => {
    const dir = newDir();
    const run = stepinfer('plan', '--model', model('squeezenet1_1.onnx'), '--slo', '2', '--batch', '4', '--out', join(dir, 'p.json'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^plan: \d+ stages? of 33 units of .*squeezenet1_1\.onnx, batch 4, (express|standard) workflow$/m);
    expect(run.stdout).toMatch(/^stage +units +names +memory MB +threads +package +seconds +cost +output$/m);
    expect(run.stdout).toMatch(/^batch frontier/m);
    expect(run.stdout).toMatch(/^one function +/m);
    expect(run.stdout).toMatch(/^uniform split +/m);
    expect(run.stdout).toMatch(/^server m6i\.large +10% busy: a request every [\d.]+ s/m);
  });

  it('refuses a file that is not ONNX, without a stack', () => {
    const dir = newDir();
    const bad = join(dir, 'weights.onnx');
    writeFileSync(bad, 'sample\tneuron\tvalue\n1\t2\t0.5\n');
    const out = join(dir, 'plan.json');
    expectFailure(stepinfer('plan', '--model', bad, '--slo', '2', '--out', out), 1, /^stepinfer: .*weights\.onnx.*not an ONNX model/, out);
  });

  it('names an operator it cannot cost', () => {
    const dir = newDir();
    const file = join(dir, 'lstm.onnx');
    writeFileSync(file, tinyModel({ nodes: [{ op: 'Softsign', inputs: ['input'], outputs: ['output'], name: 'act' }], input: [1, 4], output: [1, 4] }));
    const out = join(dir, 'plan.json');
    expectFailure(stepinfer('plan', '--model', file, '--slo', '2', '--out', out), 1, /^stepinfer: .*lstm\.onnx.*Softsign/, out);
  });

  it('says the fastest possible latency when no plan meets the SLO', () => {
    const dir = newDir();
    const out = join(dir, 'plan.json');
    expectFailure(stepinfer('plan', '--model', model('mobilenet_v2.onnx'), '--slo', '0.05', '--out', out), 1,
      /^stepinfer: field slo: no plan of .*mobilenet_v2\.onnx meets the SLO of 0\.05 s: the fastest possible is \d+\.\d\d s \(batch 1, 1 stage at \d+ MB\)$/, out);
  });

  it('refuses a model with a stage over the package limit at every cut (a synthetic 300 MB layer), pointing to images', () => {
    const dir = newDir();
    const file = join(dir, 'huge.onnx');
    // Structure only: one Gemm of 9,000 x 9,000 weights (324 MB of float32) and a Relu.
    writeFileSync(file, tinyModel({
      nodes: [
        { op: 'Gemm', inputs: ['input', 'w'], outputs: ['h'], name: 'fc', attributes: { transB: 1 } },
        { op: 'Relu', inputs: ['h'], outputs: ['output'], name: 'relu' },
      ],
      initializers: [tinyInitializer('w', [9000, 9000], false)],
      input: [1, 9000], output: [1, 9000],
    }));
    const out = join(dir, 'plan.json');
    expectFailure(stepinfer('plan', '--model', file, '--slo', '10', '--out', out), 2,
      /^stepinfer: .*huge\.onnx: unit 1 \(fc\) alone needs a package of \d+\.\d MB .* over the 250 MB limit of a zip package, unzipped: the package limit is exceeded at every cut; a container image allows 10 GB \(--package image\)$/, out);
  });

  it('refuses a calibration measured for another model', () => {
    const dir = newDir();
    const calibration = parseDenseCalibration(JSON.parse(readFileSync(CALIBRATION, 'utf8')), CALIBRATION);
    const only = join(dir, 'squeezenet-only.json');
    writeFileSync(only, JSON.stringify({ ...calibration, models: calibration.models.filter((m) => m.file === 'squeezenet1_1.onnx') }));
    const out = join(dir, 'plan.json');
    expectFailure(stepinfer('plan', '--model', model('mobilenet_v2.onnx'), '--calibration', only, '--out', out), 1,
      /^stepinfer: .*squeezenet-only\.json, field models: no calibration for this model: it holds squeezenet1_1\.onnx \([0-9a-f]{12}\), not mobilenet_v2\.onnx/, out);
  });

  it('--package-limit lowers the package limit (what-if: a heavier runtime) and forces stages; it may not raise it', () => {
    const dir = newDir();
    const out = join(dir, 'plan.json');
    const run = stepinfer('plan', '--model', model('resnet50.graph.onnx'), '--slo', '6', '--package-limit', '90', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const plan: StagesPlan = parseStagesPlan(readFileSync(out, 'utf8'), out);
    expect(plan.batch).toBe(8);
    expect(plan.workflow.stages.map((s) => `${s.firstUnit}-${s.lastUnit}@${plan.functions[s.index].memoryMB}`).join(' ')).toBe('1-29@1280 30-33@512 34-38@256');
    for (const f of plan.functions) expect(f.package.unzippedBytes).toBeLessThanOrEqual(90 * 1024 * 1024);
    expectFailure(stepinfer('plan', '--model', model('resnet50.graph.onnx'), '--package-limit', '300', '--out', join(dir, 'q.json')), 2,
      /^stepinfer: field package-limit: --package-limit 300 MB is above Lambda's 250 MB for a zip package: it may only lower it$/, join(dir, 'q.json'));
  });

  it('refuses the sparse planner\'s options for an ONNX model, and the ONNX options for a sparse one', () => {
    expectFailure(stepinfer('plan', '--model', model('squeezenet1_1.onnx'), '--workers', '4', '--channel', 'queue'), 2,
      /^stepinfer: field options: --workers, --channel mean nothing for an ONNX model/);
    expectFailure(stepinfer('plan', '--model', model('squeezenet1_1.onnx'), '--objective', 'latency'), 2, /--objective means nothing for an ONNX model/);
    expectFailure(stepinfer('plan', '--generate', '64x2', '--samples', '10', '--batch', '4'), 2, /^stepinfer: field options: --batch means nothing for a sparse model/);
    expectFailure(stepinfer('plan', '--generate', '64x2', '--samples', '10', '--package-limit', '90'), 2, /^stepinfer: field options: --package-limit means nothing for a sparse model/);
  });
});
