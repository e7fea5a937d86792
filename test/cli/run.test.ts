// `stepinfer run` and `stepinfer inspect` as a user runs them: a child process on the pinned
// Node, in a fresh folder (the run record and handler logs go under its .stepinfer/). A run of a
// generated network through its generated workflow prints what the issue lists (--json pinned
// field by field), equals serial inference, writes a record that `inspect` renders and `cost`
// prices; a plan of another model and bad options fail with one line.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { parseRunRecord } from '../../workflows/local/run-record.ts';
import { tempDirs } from '../helpers/tmp.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');

function stepinfer(cwd: string, ...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('stepinfer run and inspect', () => {
  const newDir = tempDirs();

  it('runs a generated network through its generated workflow: --json has the run id, shape, categories, counters, costs and states; the record is rendered and priced', () => {
    const dir = newDir();
    const run = stepinfer(dir, 'run', '--generate', '1024x6', '--samples', '300', '--seed', '2', '--workers', '3', '--channel', 'object', '--groups', '2', '--json');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    const serial = inferSerial(generateRadixNetwork({ neurons: 1024, layers: 6, seed: 2 }), generateInputs({ neurons: 1024, samples: 300, seed: 2 }));

    expect(out.runId).toMatch(/^run-\d{17}-\d{6}$/);
    expect([out.shape, out.workers, out.channel]).toEqual(['layer-groups', 3, 'object']);
    expect(out.categories).toEqual(serial.categories.map((id) => id + 1));
    expect(out.categoryCount).toBe(serial.categories.length);
    expect(Object.keys(out.counters.total).sort()).toEqual(['bytes', 'computeMs', 'deletes', 'duplicates', 'emptyReceives', 'gets', 'lists', 'messages', 'publishes', 'puts', 'receives', 'sendMs', 'waitMs']);
    expect(out.counters.perLayer.map((l: { layer: number }) => l.layer)).toEqual([1, 2, 3, 4, 5, 6]);
    // Over S3, not SNS/SQS.
    expect(out.counters.total.puts).toBeGreaterThan(0);
    expect(out.counters.total.publishes + out.counters.total.receives).toBe(0);
    expect(out.cost.predicted).toBeGreaterThan(0);
    expect(out.cost.measured).toBeGreaterThan(0);
    expect(out.transitions.measured).toBe(out.transitions.ofTheDefinition);
    const top = out.states.filter((s: { index: number | null }) => s.index === null);
    expect(top.map((s: { name: string }) => s.name)).toEqual(['Read input', 'Start run', 'Layers 1-3 · 3 workers', 'Layers 4-6 · 3 workers', 'Gather']);
    for (const s of out.states) expect(s.endMs).toBeGreaterThanOrEqual(s.startMs);
    expect(out.states.filter((s: { name: string }) => s.name === 'Worker · layers 1-3').map((s: { index: number }) => s.index).sort()).toEqual([0, 1, 2]);
    expect(out.planner.explanation).toMatch(/^3 workers, object, 2 groups of 3, map, \d+ MB, (Express|Standard): /);
    expect(out.planner.restricted).toBe(true);
    expect(out.notes[0].note).toMatch(/^Task timeouts: the local Lambda host enforces each function's timeout/);
    expect(existsSync(join(dir, out.logFile))).toBe(true);

    expect(out.record).toBe(`.stepinfer/runs/${out.runId}.json`);
    const record = parseRunRecord(JSON.parse(readFileSync(join(dir, out.record), 'utf8')), out.record);
    expect(record).toMatchObject({ runId: out.runId, planId: out.planId, outcome: 'succeeded', error: null, categoryCount: serial.categories.length, samples: 300 });
    expect(record.attempts.map((a) => [a.stage, a.attempt, a.succeeded, a.workers.length])).toEqual([[0, 0, true, 3], [1, 0, true, 3]]);
    expect(record.attempts[0].workers[0].layers.map((l) => l.layer)).toEqual([1, 2, 3]);
    expect(record.total).toEqual(out.counters.total);
    expect(record.cost.measuredUSD).toBe(out.cost.measured);

    const inspect = stepinfer(dir, 'inspect', 'latest');
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain(`run          ${out.runId}: succeeded in `);
    expect(inspect.stdout).toMatch(/\n {2}Layers 1-3 · 3 workers {2}│.*│ \+ +\d+\.\d\d s +\d+\.\d\d s\n/);
    expect(inspect.stdout).toContain('Layers 4-6 · 3 workers · attempt 0: 3 of 3 workers reported');
    expect(inspect.stdout).toMatch(/\n {2}layer +ms +w0 +w1 +w2 *\n {2}4 +\d+ +[█▓░ ]+/);
    expect(stepinfer(dir, 'inspect', out.runId, '--json').stdout).toBe(`${JSON.stringify(record, null, 2)}\n`);

    // The record is a run record `stepinfer cost` prices, at the cost the run printed.
    const cost = stepinfer(dir, 'cost', join(dir, out.record), '--json');
    expect(cost.code, cost.stderr).toBe(0);
    expect(JSON.parse(cost.stdout)[0].totalUSD).toBeCloseTo(out.cost.measured, 12);
  }, 300_000);

  it('fails clearly: a plan of another model (naming both checksums), options --plan fixes, no record to inspect', () => {
    const dir = newDir();
    const plan = join(dir, 'p.json');
    expect(stepinfer(dir, 'plan', '--generate', '1024x6', '--samples', '100', '--workers', '2', '--channel', 'queue', '--shape', 'layer-groups', '-o', plan).code).toBe(0);
    const other = stepinfer(dir, 'run', '--plan', plan, '--generate', '1024x7', '--samples', '100');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^generated RadiX-Net 1024 neurons x 7 layers, seed 1, 100 generated inputs\nstepinfer: .*p\.json, field model\.checksum: the model \(generated RadiX-Net 1024 neurons x 7 layers, seed 1, 100 generated inputs\) is not plan [0-9a-f]{16}'s model \(checksum [0-9a-f]{12}\.\.\., the plan has [0-9a-f]{12}\.\.\.\)\n$/);
    const fixed = stepinfer(dir, 'run', '--plan', plan, '--generate', '1024x6', '--samples', '100', '--workers', '4');
    expect([fixed.code, fixed.stderr]).toEqual([2, 'stepinfer: field workers: --plan fixes workers, channel, groups and launch; --workers cannot change them\n']);
    const one = stepinfer(dir, 'run', '--generate', '1024x6', '--samples', '100', '--workers', '1', '--channel', 'queue');
    expect([one.code, one.stderr]).toEqual([2, 'stepinfer: field channel: one worker exchanges no rows and launches nothing: --channel and --launch need --workers 2 or more\n']);
    const none = stepinfer(dir, 'inspect', 'latest');
    expect([none.code, none.stderr]).toEqual([1, 'stepinfer: .stepinfer/runs: no run records yet (stepinfer run writes one per run)\n']);
    const missing = stepinfer(dir, 'inspect', 'run-1');
    expect([missing.code, missing.stderr]).toEqual([1, 'stepinfer: .stepinfer/runs/run-1.json: no record of run run-1 (stepinfer run writes them to .stepinfer/runs/)\n']);
  }, 120_000);
});
