// plan, shards and cost as a user runs them: plan.json and its report go under .stepinfer/ or
// where -o says and are never replaced without --force; shards writes one shard per worker and a
// manifest, refuses another model and an edited plan; cost reads a plan's prediction from its report.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32Hex } from '../../model/checksum.ts';
import { encodeNetwork } from '../../model/binary.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import { parseShardManifest, readShardFile } from '../../model/shard.ts';
import { parsePlan, parsePlanReport } from '../../planner/plan/index.ts';
import { tempDirs } from '../helpers/tmp.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');

function stepinfer(cwd: string, ...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const PLAN = ['plan', '--generate', '1024x6', '--samples', '200', '--slo', '60', '--workers', '3', '--channel', 'queue'];

describe('plan output files', () => {
  const newDir = tempDirs();

  it('go under .stepinfer/ by default, and are replaced only with --force', () => {
    const dir = newDir();
    const first = stepinfer(dir, ...PLAN, '--json');
    expect(first.code, first.stderr).toBe(0);
    const planFile = join(dir, '.stepinfer', 'plan.json');
    const reportFile = join(dir, '.stepinfer', 'plan.report.json');
    const summary = JSON.parse(first.stdout);
    expect(summary.out).toBe(planFile);
    expect(summary.report).toBe(reportFile);
    const plan = parsePlan(readFileSync(planFile, 'utf8'), planFile);
    expect(summary.planId).toBe(plan.planId);
    expect(parsePlanReport(readFileSync(reportFile, 'utf8'), reportFile).planId).toBe(plan.planId);
    expect(existsSync(join(dir, 'plan.json'))).toBe(false);

    const again = stepinfer(dir, ...PLAN);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe('stepinfer: .stepinfer/plan.json: already exists; pass --force to replace it or choose another --out\n');
    const forced = stepinfer(dir, ...PLAN, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    // Same inputs, same plan: the file is byte-identical.
    expect(readFileSync(planFile, 'utf8')).toBe(`${JSON.stringify(plan, null, 2)}\n`);
  });

  it('go where -o says, the report beside the plan', () => {
    const dir = newDir();
    const run = stepinfer(dir, ...PLAN, '-o', 'p.json', '--stack-prefix', 'team-a');
    expect(run.code, run.stderr).toBe(0);
    expect(parsePlan(readFileSync(join(dir, 'p.json'), 'utf8'), 'p.json').names.stack).toMatch(/^team-a-[0-9a-f]{16}$/);
    expect(existsSync(join(dir, 'p.report.json'))).toBe(true);
    const bad = stepinfer(dir, ...PLAN, '-o', 'q.json', '--stack-prefix', 'Team');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/field stack-prefix: --stack-prefix: the stack prefix "Team" must be lowercase letters/);
    expect(existsSync(join(dir, 'q.json'))).toBe(false);
  });

  it('cost prices a plan from its report, and says so when the report is missing', () => {
    const dir = newDir();
    expect(stepinfer(dir, ...PLAN, '-o', 'p.json').code).toBe(0);
    const report = parsePlanReport(readFileSync(join(dir, 'p.report.json'), 'utf8'), 'p.report.json');
    for (const file of ['p.json', 'p.report.json']) {
      const priced = stepinfer(dir, 'cost', file, '--json');
      expect(priced.code, priced.stderr).toBe(0);
      const [record] = JSON.parse(priced.stdout) as { totalUSD: number; published: { totalUSD: number } }[];
      expect(record.published.totalUSD).toBe(report.predicted.costUSD);
      expect(Math.abs(record.totalUSD / report.predicted.costUSD - 1)).toBeLessThan(1e-9);
    }
    writeFileSync(join(dir, 'p.report.json'), readFileSync(join(dir, 'p.report.json'), 'utf8').replace(report.planId, 'ffffffffffffffff'));
    const other = stepinfer(dir, 'cost', 'p.json');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('p.report.json, field planId: belongs to plan ffffffffffffffff, not to p.json');
    rmSync(join(dir, 'p.report.json'));
    const gone = stepinfer(dir, 'cost', 'p.json');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe("stepinfer: p.report.json: the plan's report is missing (stepinfer plan writes it beside p.json)\n");
  });
});

describe('stepinfer shards', () => {
  const newDir = tempDirs();

  it('writes one shard per worker and a manifest of sizes and checksums', () => {
    const dir = newDir();
    expect(stepinfer(dir, ...PLAN, '-o', 'plan.json').code).toBe(0);
    const plan = parsePlan(readFileSync(join(dir, 'plan.json'), 'utf8'), 'plan.json');
    const run = stepinfer(dir, 'shards', 'plan.json', '-o', 'shards', '--json');
    expect(run.code, run.stderr).toBe(0);
    const manifest = parseShardManifest(JSON.parse(readFileSync(join(dir, 'shards', 'manifest.json'), 'utf8')), 'manifest.json');
    expect(JSON.parse(run.stdout)).toEqual(manifest);
    expect(manifest.planId).toBe(plan.planId);
    expect(manifest.modelChecksum).toBe(plan.model.checksum.value);
    expect(manifest.workers.map((w) => w.key)).toEqual(['shards/worker-0.shard', 'shards/worker-1.shard', 'shards/worker-2.shard']);
    for (const entry of manifest.workers) {
      const file = join(dir, 'shards', entry.file);
      const bytes = readFileSync(file);
      expect(bytes.length).toBe(entry.bytes);
      expect(crc32Hex(bytes)).toBe(entry.crc32);
      const shard = readShardFile(file, { planId: plan.planId, modelChecksum: plan.model.checksum.value, worker: entry.worker, workers: 3 });
      expect(shard.layers).toHaveLength(6);
    }
    const again = stepinfer(dir, 'shards', 'plan.json', '-o', 'shards');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('worker-0.shard: already exists; pass --force to replace it');
    expect(stepinfer(dir, 'shards', 'plan.json', '-o', 'shards', '--force').code).toBe(0);
  });

  it('refuses another model and an edited plan, writing nothing', () => {
    const dir = newDir();
    expect(stepinfer(dir, ...PLAN, '-o', 'plan.json').code).toBe(0);
    // The plan's network (generated, seed 1) with one weight changed.
    const network = generateRadixNetwork({ neurons: 1024, layers: 6, seed: 1 });
    const weight = Float32Array.from(network.layers[3].weight);
    weight[100] *= 2;
    writeFileSync(join(dir, 'other.sdnn'), encodeNetwork({ ...network, layers: network.layers.map((l, i) => (i === 3 ? { ...l, weight } : l)) }));
    const other = stepinfer(dir, 'shards', 'plan.json', '-o', 'shards', '--model', 'other.sdnn');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^stepinfer: plan\.json, field model\.checksum: the model at other\.sdnn is not the plan's model \(checksum [0-9a-f]{12}\.\.\., the plan has [0-9a-f]{12}\.\.\.\)\n$/);
    expect(existsSync(join(dir, 'shards', 'worker-0.shard'))).toBe(false);
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
    plan.workers = 4;
    writeFileSync(join(dir, 'edited.json'), JSON.stringify(plan));
    const edited = stepinfer(dir, 'shards', 'edited.json', '-o', 'shards');
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(/^stepinfer: edited\.json, field /);
    expect(existsSync(join(dir, 'shards', 'manifest.json'))).toBe(false);
  });
});
