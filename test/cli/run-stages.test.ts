// `stepinfer run --model x.onnx`, `stepinfer stages` and `stepinfer regenerate` on a stages plan, as
// a user runs them: a child process on the pinned Node in a fresh folder. A run of a stages plan
// prints its stages (units, layers, memory, measured seconds) and maxAbsDiff 0 against the whole
// model; the same input given as a file gives the same output; the stage files are written to the
// run's folder and by `stepinfer stages`; bad options and a plan of another model fail with one line.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultModelsDir } from '../../model/onnx/graph.ts';
import type { StagesPlan } from '../../planner/plan/stages-schema.ts';
import { workflowFiles } from '../../workflows/asl/index.ts';
import { seededInput } from '../../cli/commands/run-stages.ts';
import { stagesModel } from '../../cli/commands/stages.ts';
import { requireData } from '../helpers/shared-data.ts';
import { modelStagesPlan } from '../helpers/stages-plans.ts';
import { tempDirs } from '../helpers/tmp.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');

function stepinfer(cwd: string, ...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const newDir = tempDirs();
let squeezenet: string;
let plan: StagesPlan;

beforeAll(() => {
  squeezenet = requireData(join(defaultModelsDir(), 'squeezenet1_1.onnx'), 'the ONNX model squeezenet1_1.onnx');
  plan = modelStagesPlan(squeezenet, { lastUnits: [9, 17, 33], memoryMB: [1769, 3008, 1024] });
});

/** A fresh folder holding plan.json. */
function withPlan(p: StagesPlan = plan): string {
  const dir = newDir();
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(p, null, 2));
  return dir;
}

describe('stepinfer run --model x.onnx', () => {
  it('runs a stages plan through its workflow locally: --json has the stages with their layers, units and memory, their measured seconds, and maxAbsDiff 0', () => {
    const dir = withPlan();
    const run = stepinfer(dir, 'run', '--model', squeezenet, '--plan', 'plan.json', '--json');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.runId).toMatch(/^run-\d{17}-\d{6}$/);
    expect([out.planId, out.plan, out.batch, out.workflowType]).toEqual([plan.planId, 'plan.json', 1, 'STANDARD']);
    expect(out.stages.map((s: Record<string, unknown>) => [s.index, s.layers, s.firstUnit, s.lastUnit, s.units, s.memoryMB, s.handoff])).toEqual([
      [0, 'features.0 .. features.4', 1, 9, 9, 1769, 'object'],
      [1, 'features.5 .. features.8', 10, 17, 8, 3008, 'payload'],
      [2, 'features.9.squeeze .. Flatten', 18, 33, 16, 1024, 'object'],
    ]);
    for (const s of out.stages) {
      expect(s.seconds).toBeGreaterThan(0);
      expect(s.seconds).toBeCloseTo((s.timingsMs.loadMs + s.timingsMs.readMs + s.timingsMs.runMs + s.timingsMs.writeMs) / 1000, 9);
    }
    expect(out.maxAbsDiff).toBe(0);
    expect(out.output.dims).toEqual([1, 1000]);
    expect(out.output.crc32).toMatch(/^[0-9a-f]{8}$/);
    expect(out.transitions).toBe(3);
    expect(out.lambdaInvocations).toBe(3);
    // The run's folder holds each stage's file as `stepinfer stages` makes it, and the plan.
    const files = stagesModel(plan).files;
    for (const f of files) expect(readFileSync(join(dir, out.files, f.name)).equals(Buffer.from(f.bytes))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, out.files, 'plan.json'), 'utf8')).planId).toBe(plan.planId);
    expect(existsSync(join(dir, out.logFile))).toBe(true);
    expect(readFileSync(join(dir, out.logFile), 'utf8').match(/"message":"stage done"/g)).toHaveLength(3);

    // The same input given as a raw float32 file: the same output.
    const input = seededInput(plan.model.input.dims, 1);
    writeFileSync(join(dir, 'input.f32'), new Uint8Array(input.data.buffer));
    const again = stepinfer(dir, 'run', '--model', squeezenet, '--plan', 'plan.json', '--input', 'input.f32', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).output.crc32).toBe(out.output.crc32);
    // Another seed: another output.
    const other = stepinfer(dir, 'run', '--model', squeezenet, '--plan', 'plan.json', '--seed', '2');
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toMatch(/^plan {9}[0-9a-f]{16} \(plan\.json\): 3 stages of .*squeezenet1_1\.onnx, batch 1, STANDARD workflow$/m);
    expect(other.stdout).toMatch(/^maxAbsDiff {3}0 against the whole model run by onnxruntime-node in this process on the same input \(bit for bit\)$/m);
    expect(other.stdout).toMatch(/^1 +10-17 +features\.5 \.\. features\.8 +3008 +\d+\.\d{3} /m);
    expect(other.stdout).not.toContain(out.output.crc32);
  }, 300_000);

  it('plans the model when no --plan is given (the stages planner, --slo and --batch), and the staged output is exact', () => {
    const dir = newDir();
    const run = stepinfer(dir, 'run', '--model', squeezenet, '--slo', '2', '--batch', '2', '--json');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect([out.plan, out.batch]).toEqual(['planned for this run', 2]);
    // The stages cover the units in order, each with a Lambda memory size.
    const stages = out.stages as { firstUnit: number; lastUnit: number; units: number; memoryMB: number }[];
    expect(stages[0].firstUnit).toBe(1);
    expect(stages.at(-1)!.lastUnit).toBe(33);
    stages.forEach((x, i) => {
      if (i > 0) expect(x.firstUnit).toBe(stages[i - 1].lastUnit + 1);
      expect(x.units).toBe(x.lastUnit - x.firstUnit + 1);
      expect(Number.isInteger(x.memoryMB) && x.memoryMB >= 128 && x.memoryMB <= 10240).toBe(true);
    });
    expect(out.output.dims).toEqual([2, 1000]);
    expect(out.maxAbsDiff).toBe(0);
    const planned = JSON.parse(readFileSync(join(dir, out.files, 'plan.json'), 'utf8'));
    expect([planned.kind, planned.planId, planned.batch]).toEqual(['stepinfer-stages-plan', out.planId, 2]);
  }, 300_000);

  it('refuses options that do not apply, and a plan or input that is not the model\'s, with one line', () => {
    const dir = withPlan();
    const cases: [string[], number, RegExp][] = [
      [['run', '--model', squeezenet, '--workers', '2'], 2, /^stepinfer: field workers: --workers is for sparse models; an ONNX --model runs as AMPS stages/],
      [['run', '--model', squeezenet, '--plan', 'plan.json', '--slo', '2'], 2, /^stepinfer: field slo: --plan fixes the stages and the batch; --slo is for planning/],
      [['run', '--model', squeezenet, '--input', 'x.f32', '--seed', '3'], 2, /^stepinfer: field seed: --seed makes the input; --input gives it: not both/],
      [['run', '--generate', '64x2', '--slo', '2'], 2, /^stepinfer: field slo: --slo is for an ONNX --model/],
      [['run', '--model', join(defaultModelsDir(), 'mobilenet_v2.onnx'), '--plan', 'plan.json'], 1, /^stepinfer: .*mobilenet_v2\.onnx, field model\.checksum: is not plan [0-9a-f]{16}'s model \(SHA-256 [0-9a-f]{12}\.\.\., the plan has [0-9a-f]{12}\.\.\.\)$/],
      [['run', '--model', 'missing.onnx', '--plan', 'plan.json'], 1, /^stepinfer: missing\.onnx: ONNX model file not found$/],
      [['run', '--model', squeezenet, '--plan', 'nothere.json'], 1, /^stepinfer: nothere\.json: plan file not found$/],
    ];
    writeFileSync(join(dir, 'short.f32'), new Uint8Array(12));
    cases.push([['run', '--model', squeezenet, '--plan', 'plan.json', '--input', 'short.f32'], 1, /^stepinfer: short\.f32, field input: 12 bytes, the model's input \[1, 3, 224, 224\] is 602112 bytes of float32 \(or a stepinfer tensor object\)$/]);
    for (const [args, code, message] of cases) {
      const run = stepinfer(dir, ...args);
      expect([run.code, run.stderr.trim().split('\n').filter((l) => !l.includes('ExperimentalWarning') && !l.includes('--trace-warnings'))], args.join(' ')).toEqual([code, [expect.stringMatching(message)]]);
    }
  }, 120_000);
});

describe('stepinfer stages and regenerate on a stages plan', () => {
  it("stages writes each stage's ONNX file, refuses to overwrite without --force; regenerate writes the stages workflow", () => {
    const dir = withPlan();
    const run = stepinfer(dir, 'stages', 'plan.json', '-o', 'out', '--model', squeezenet, '--json');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    const files = stagesModel(plan).files;
    expect(out.stages.map((s: Record<string, unknown>) => [s.stage, s.firstUnit, s.lastUnit, s.bytes])).toEqual(files.map((f, i) => [i, plan.workflow.stages[i].firstUnit, plan.workflow.stages[i].lastUnit, f.bytes.length]));
    for (const f of files) expect(readFileSync(join(dir, 'out', f.name)).equals(Buffer.from(f.bytes))).toBe(true);
    const again = stepinfer(dir, 'stages', 'plan.json', '-o', 'out', '--model', squeezenet);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/stage0\.onnx: already exists; pass --force to replace it or choose another --out/);
    expect(stepinfer(dir, 'stages', 'plan.json', '-o', 'out', '--model', squeezenet, '--force').code).toBe(0);
    // The plan's model path is used when --model is not given (here an absolute path).
    expect(stepinfer(dir, 'stages', 'plan.json', '-o', 'out2').code).toBe(0);

    const regenerate = stepinfer(dir, 'regenerate', 'plan.json', '-o', 'workflow');
    expect(regenerate.code, regenerate.stderr).toBe(0);
    expect(regenerate.stdout).toMatch(/^plan [0-9a-f]{16}: stages, 3 stages of .*squeezenet1_1\.onnx \(STANDARD\)$/m);
    const expected = workflowFiles(plan);
    for (const f of [expected.definition, expected.substitutions, expected.inputSchema]) {
      expect(readFileSync(join(dir, 'workflow', f.name), 'utf8')).toBe(f.text);
    }
    expect(JSON.parse(expected.definition.text).States['Stage 1: features.5 .. features.8'].Type).toBe('Task');
  }, 120_000);
});
