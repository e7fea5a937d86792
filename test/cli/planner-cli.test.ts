// The planner's commands as a user runs them: child processes on the pinned Node, real files.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePlan } from '../../planner/plan/index.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { FSD_RUNS, requireData } from '../helpers/shared-data.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');
const fsdRuns = FSD_RUNS;

function stepinfer(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('planner commands', () => {
  const newDir = tempDirs();

  it('cost reproduces both published FSD-Inference totals within 1%', () => {
    requireData(fsdRuns, 'the published FSD-Inference runs');
    const run = stepinfer('cost', fsdRuns, '--json');
    expect(run.code, run.stderr).toBe(0);
    const priced = JSON.parse(run.stdout) as { totalUSD: number }[];
    const published = (JSON.parse(readFileSync(fsdRuns, 'utf8')) as { published: { totalUSD: number } }[]).map((r) => r.published.totalUSD);
    expect(priced).toHaveLength(2);
    priced.forEach((p, i) => expect(Math.abs(p.totalUSD / published[i] - 1)).toBeLessThan(0.01));
  });

  it('partition reports the exact cyclic volume of the real network and a hypergraph map no worse', () => {
    const run = stepinfer('partition', '--workers', '8', '--scheme', 'cyclic,hypergraph', '--json');
    expect(run.code, run.stderr).toBe(0);
    const cases = JSON.parse(run.stdout).cases as { scheme: string; totalRowSends: number; maxImbalance: number }[];
    const cyclic = cases.find((c) => c.scheme === 'cyclic')!;
    const hypergraph = cases.find((c) => c.scheme === 'hypergraph')!;
    expect(cyclic.totalRowSends).toBe(155_998);
    expect(hypergraph.totalRowSends).toBeLessThanOrEqual(155_998);
    expect(hypergraph.maxImbalance).toBeLessThanOrEqual(0.03);
  });

  it('plan writes a valid plan.json, explains its choice, and cost prices the plan', () => {
    const dir = newDir();
    const out = join(dir, 'plan.json');
    const run = stepinfer('plan', '--generate', '1024x12', '--samples', '500', '--slo', '60', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.explanation).toMatch(/\S/);
    expect(summary.explanation.split('\n')).toHaveLength(1);
    expect(summary.alternatives.length).toBeGreaterThan(1);
    expect(existsSync(out)).toBe(true);
    const plan = parsePlan(JSON.parse(readFileSync(out, 'utf8')), out);
    expect(plan.formatVersion).toBe(2);
    expect(existsSync(join(dir, 'plan.report.json'))).toBe(true);
    const priced = stepinfer('cost', out, '--json');
    expect(priced.code, priced.stderr).toBe(0);
  });

  it('plans a workload whose activations all die (no messages) with finite costs', () => {
    // Seed 2's five generated inputs are all dead by layer 20, so later exchanges carry nothing.
    const out = join(newDir(), 'plan.json');
    const run = stepinfer('plan', '--generate', '1024x20', '--samples', '5', '--seed', '2', '--slo', '60', '--workers', '1,4', '--channel', 'queue', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    for (const alternative of summary.alternatives) expect(Number.isFinite(alternative.costUSD)).toBe(true);
  });

  it('plan says what the best reachable latency is when no plan meets the SLO', () => {
    const run = stepinfer('plan', '--generate', '1024x12', '--samples', '500', '--slo', '0.0001', '--out', join(newDir(), 'p.json'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/field slo: no plan meets the SLO of 0\.0001 s: the fastest reachable is [\d.]+ s \(/);
  });

  it.each([
    [['plan', '--generate', '1024x12', '--samples', '50', '--slo', '60', '--memory', '64'], 'field memory: --memory must be an integer from 128 to 10240 MB'],
    [['partition', '--workers', '0'], 'workers'],
    [['partition', '--workers', '2000', '--scheme', 'cyclic'], 'workers'],
    [['cost', '/nonexistent/record.json'], '/nonexistent/record.json'],
  ])('rejects bad input clearly: %j', (args, message) => {
    const run = stepinfer(...args);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
  });

  it('calibrate writes a profile the planner can read', () => {
    const dir = newDir();
    const out = join(dir, 'calibration.json');
    const run = stepinfer('calibrate', '--quick', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    const planned = stepinfer('plan', '--generate', '1024x6', '--samples', '50', '--slo', '60', '--calibration', out, '--out', join(dir, 'plan.json'), '--json');
    expect(planned.code, planned.stderr).toBe(0);
  });
});
