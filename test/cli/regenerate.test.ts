// `stepinfer regenerate <plan.json> -o DIR`: writes the workflow, its substitutions and its input
// schema; the same plan gives byte-identical files (snapshots of two small plans), a changed plan
// changes only the lines it should, existing files need --force, and a bad plan writes nothing.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { computePlanId, planNames, serializePlan, type Plan } from '../../planner/plan/index.ts';
import { tempDirs } from '../helpers/tmp.ts';
import { workflowCase, type WorkflowCaseName } from '../helpers/workflow-plans.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');

function stepinfer(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const FILES = (plan: Plan) => [`${plan.names.stateMachine}.asl.json`, 'substitutions.json', 'input.schema.json'];

/** The plan with a stage's Task timeout changed, its id and names derived again (as stepinfer plan would). */
function withStageTimeout(plan: Plan, stage: number, timeoutSeconds: number): Plan {
  const edited = JSON.parse(JSON.stringify(plan)) as Plan;
  edited.workflow.stages[stage].task.timeoutSeconds = timeoutSeconds;
  edited.planId = computePlanId(edited);
  const names = planNames({
    planId: edited.planId, stackPrefix: edited.stackPrefix, workers: edited.workers, functionIds: edited.functions.map((f) => f.id),
    topics: edited.names.topics.length, queues: edited.names.queues.length, deadLetterQueue: edited.names.deadLetterQueue !== null, exchangeBuckets: edited.names.exchangeBuckets.length,
  });
  edited.names = JSON.parse(JSON.stringify(names)) as Plan['names'];
  return edited;
}

describe('stepinfer regenerate', () => {
  const newDir = tempDirs();

  async function writePlan(dir: string, name: WorkflowCaseName | Plan): Promise<{ plan: Plan; file: string }> {
    const plan = typeof name === 'string' ? (await workflowCase(name)).plan : name;
    const file = join(dir, `${plan.planId}.json`);
    writeFileSync(file, serializePlan(plan));
    return { plan, file };
  }

  it.each(['groups-8-queue', 'serial'] as const)('%s: writes the workflow files, byte-identical for the same plan (snapshots)', async (name) => {
    const dir = newDir();
    const { plan, file } = await writePlan(dir, name);
    const first = stepinfer('regenerate', file, '-o', join(dir, 'a'), '--json');
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({ planId: plan.planId, stateMachine: plan.names.stateMachine, shape: plan.shape, files: FILES(plan).map((f) => join(dir, 'a', f)) });
    expect(readdirSync(join(dir, 'a')).sort()).toEqual([...FILES(plan)].sort());
    expect(stepinfer('regenerate', file, '-o', join(dir, 'b')).code).toBe(0);
    for (const f of FILES(plan)) {
      const text = readFileSync(join(dir, 'a', f), 'utf8');
      expect(readFileSync(join(dir, 'b', f), 'utf8'), f).toBe(text);
      expect(text.endsWith('}\n')).toBe(true);
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
      await expect(text).toMatchFileSnapshot(`./__snapshots__/regenerate/${name}.${f.replace(plan.names.stateMachine, 'state-machine')}`);
    }
  });

  it('changes only the lines a changed plan changes: a stage timeout, and the plan id it carries', async () => {
    const dir = newDir();
    const { plan, file } = await writePlan(dir, 'groups-8-queue');
    const old = plan.workflow.stages[0].task.timeoutSeconds;
    const { plan: edited, file: editedFile } = await writePlan(dir, withStageTimeout(plan, 0, old + 7));
    expect(stepinfer('regenerate', file, '-o', join(dir, 'a')).code).toBe(0);
    expect(stepinfer('regenerate', editedFile, '-o', join(dir, 'b')).code).toBe(0);
    const before = readFileSync(join(dir, 'a', FILES(plan)[0]), 'utf8').split('\n');
    const after = readFileSync(join(dir, 'b', FILES(edited)[0]), 'utf8').split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.flatMap((line, i) => (line === after[i] ? [] : [[line.trim(), after[i].trim()]]));
    const timeoutLine = (s: number) => `"TimeoutSeconds": ${s},`;
    expect(changed).toEqual([
      [expect.stringContaining(`stepinfer plan ${plan.planId}:`), expect.stringContaining(`stepinfer plan ${edited.planId}:`)],
      // Stage 0's Map passes its plan id to its workers, and a receive timeout from the stage's
      // timeout (under the 60 s cap); its Worker Task has the new timeout and its retry.
      [`"planId": "${plan.planId}",`, `"planId": "${edited.planId}",`],
      [`"receiveTimeoutSeconds": ${old},`, `"receiveTimeoutSeconds": ${old + 7},`],
      [timeoutLine(old), timeoutLine(old + 7)],
      [`"planId": "${plan.planId}",`, `"planId": "${edited.planId}",`],
      // The gather and the clean-up.
      [`"planId": "${plan.planId}",`, `"planId": "${edited.planId}",`],
      [`"planId": "${plan.planId}",`, `"planId": "${edited.planId}",`],
    ]);
    // The other files change only where they name the plan.
    for (const f of FILES(plan).slice(1)) {
      const a = readFileSync(join(dir, 'a', f), 'utf8').replaceAll(plan.planId, edited.planId);
      expect(readFileSync(join(dir, 'b', f), 'utf8'), f).toBe(a);
    }
  });

  it('replaces existing files only with --force', async () => {
    const dir = newDir();
    const { plan, file } = await writePlan(dir, 'serial');
    expect(stepinfer('regenerate', file, '-o', dir).code).toBe(0);
    const definition = join(dir, FILES(plan)[0]);
    writeFileSync(definition, 'edited by hand\n');
    const again = stepinfer('regenerate', file, '-o', dir);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`stepinfer: ${definition}: already exists; pass --force to replace it or choose another --out\n`);
    expect(readFileSync(definition, 'utf8')).toBe('edited by hand\n');
    expect(stepinfer('regenerate', file, '-o', dir, '--force').code).toBe(0);
    expect(readFileSync(definition, 'utf8')).toMatch(/^\{\n {2}"Comment": "stepinfer plan /);
  });

  it('writes nothing for a plan that does not validate, naming the file and field', async () => {
    const dir = newDir();
    const { plan } = await workflowCase('groups-8-queue');
    const edited = JSON.parse(serializePlan(plan)) as Plan;
    edited.workflow.stages[0].task.timeoutSeconds = 5000;
    const file = join(dir, 'plan.json');
    writeFileSync(file, JSON.stringify(edited));
    const run = stepinfer('regenerate', file, '-o', join(dir, 'out'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^stepinfer: ${file.replaceAll('/', '\\/')}, field workflow\\.stages\\[0\\]\\.task\\.timeoutSeconds: a Lambda timeout is at most 900 seconds`));
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const missing = stepinfer('regenerate', join(dir, 'none.json'), '-o', join(dir, 'out'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`stepinfer: ${join(dir, 'none.json')}: plan file not found\n`);
  });
});
