// plan.json as the deployment contract: its id is a hash of its content (same inputs, same bytes;
// another field, another id and other names), timeouts stay within Express's 300 s, every name of
// a 62-worker plan is valid for AWS, and the committed JSON Schema is the schema's export.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AWS_LIMITS, awsNameProblem } from '../../planner/aws-limits.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { assumedWorkload, defaultCalibrationProfile } from '../../planner/latency/index.ts';
import { searchPlans } from '../../planner/optimize/index.ts';
import {
  buildPlan, computePlanId, namedResources, parsePlan, parsePlanReport, PLAN_JSON_SCHEMA_FILE, serializePlanReport, planJsonSchemaText, serializePlan, stackPrefixProblem,
  type BuildPlanInput, type Plan,
} from '../../planner/plan/index.ts';
import { KERNEL_GATHER_ENGINES } from '../../planner/plan/schema.ts';
import { GATHER_ENGINES } from '../../functions/kernels/gather.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import type { PlanFormatError } from '../../model/errors.ts';
import { DEFAULT_WIRE_CODEC, WIRE_FORMAT_VERSION } from '../../functions/channels/wire.ts';
import { defaultWireFormat } from '../../planner/latency/wire-format.ts';
import { network12, planOf, slowStepFunctions, type PlanCase } from '../helpers/plans.ts';

const repo = resolve(import.meta.dirname, '../..');
const grouped62 = (channel: 'queue' | 'object', build: Partial<BuildPlanInput> = {}): PlanCase => ({
  rows: 20_000, constants: slowStepFunctions, build,
  search: { objective: 'latency', workerCounts: [62], channels: [channel] },
});

/** Every resource name of a plan. */
const allNames = (plan: Plan) => namedResources(plan.names).map((r) => r.name);

describe('the plan id', () => {
  const serial: PlanCase = { rows: 2000, search: { workerCounts: [1] } };

  it('is a hash of the content: the same inputs give a byte-identical plan', async () => {
    const a = serializePlan(await planOf(serial));
    const b = serializePlan(await planOf(serial));
    expect(a).toBe(b);
    const plan = parsePlan(a, 'plan.json');
    expect(plan.planId).toMatch(/^[0-9a-f]{16}$/);
    expect(computePlanId(plan)).toBe(plan.planId);
    expect(allNames(plan).every((name) => name.startsWith(`stepinfer-${plan.planId}`))).toBe(true);
  });

  it('changes with any field, and every resource name with it', async () => {
    const base = await planOf(serial);
    const variants = [
      await planOf({ ...serial, build: { wire: { version: 1, compression: 'none', compressionLevel: null } } }),
      await planOf({ ...serial, build: { kernel: { gatherAboveDensity: 0.3, gatherEngine: 'wasm-simd' } } }),
      await planOf({ ...serial, rows: 2001 }),
    ];
    const ids = new Set([base.planId, ...variants.map((v) => v.planId)]);
    expect(ids.size).toBe(4);
    for (const v of variants) {
      const names = allNames(v);
      expect(names).toHaveLength(allNames(base).length);
      allNames(base).forEach((name, i) => expect(names[i]).toBe(name.replace(base.planId, v.planId)));
    }
    // The stack prefix is content too: another prefix, another id, no shared name.
    const prefixed = await planOf({ ...serial, build: { stackPrefix: 'team-a' } });
    expect(prefixed.planId).not.toBe(base.planId);
    expect(allNames(prefixed).every((name) => name.startsWith(`team-a-${prefixed.planId}`))).toBe(true);
  });

  it('refuses a plan edited after it was written, naming the field', async () => {
    const edited = JSON.parse(serializePlan(await planOf(serial))) as Plan;
    edited.kernel.gatherAboveDensity = 0.5;
    const id = computePlanId(edited);
    expect(() => parsePlan(edited, 'plan.json')).toThrow(new RegExp(`^plan\\.json, field planId: does not match the plan's content \\(${id}\\): plan\\.json was changed after stepinfer plan wrote it; re-run stepinfer plan$`));
    const renamed = JSON.parse(serializePlan(await planOf(serial))) as Plan;
    renamed.names.bucket = 'my-bucket';
    expect(() => parsePlan(renamed, 'plan.json')).toThrow(/field names\.bucket: must be "stepinfer-[0-9a-f]{16}" \(derived from stackPrefix and planId\)/);
  });
});

describe('timeouts', () => {
  // 400,000 rows on one worker: about 101 s of work, so a Task timeout of 3 x 101 + 10 = 313 s, over Express's 300 s.
  const long = (workflow: 'EXPRESS' | 'STANDARD'): PlanCase => ({ rows: 400_000, search: { workerCounts: [1], memoryMB: 10240, workflowTypes: [workflow] } });

  it('stay within the 300 s of an Express execution', async () => {
    const plan = await planOf(long('EXPRESS'));
    expect(plan.workflow.type).toBe('EXPRESS');
    expect(plan.workflow.stages.map((s) => s.task.timeoutSeconds)).toEqual([300]);
    expect(plan.functions.map((f) => f.timeoutSeconds)).toEqual([300]);
    expect(plan.workflow.executionTimeoutSeconds).toBe(AWS_LIMITS.sfnExpressMaxSeconds.value);
    const edited = JSON.parse(serializePlan(plan)) as Plan;
    edited.workflow.stages[0].task.timeoutSeconds = 319;
    expect(() => parsePlan(edited, 'plan.json')).toThrow(/^plan\.json, field workflow\.stages\[0\]\.task\.timeoutSeconds: an Express execution lasts at most 300 seconds/);
  });

  it('are longer in a Standard workflow, within Lambda\'s 900 s', async () => {
    const plan = await planOf(long('STANDARD'));
    expect(plan.workflow.stages.map((s) => s.task.timeoutSeconds)).toEqual([313]);
    expect(plan.functions.map((f) => f.timeoutSeconds)).toEqual([313]);
    expect(plan.workflow.executionTimeoutSeconds).toBe(373);
  });

  it('of every Task of a grouped plan are within its function\'s and Express\'s limits', async () => {
    for (const channel of ['queue', 'object'] as const) {
      const plan = await planOf(grouped62(channel));
      expect(plan.workflow.type).toBe('EXPRESS');
      const tasks = [...plan.workflow.stages.map((s) => s.task), plan.workflow.gather!.task];
      for (const t of tasks) expect(t.timeoutSeconds).toBeLessThanOrEqual(300);
      for (const f of plan.functions) expect(f.timeoutSeconds).toBeLessThanOrEqual(300);
    }
  });
});

describe('the object channel', () => {
  it('is this project\'s layout: one object per run attempt, layer and source in bucket layer mod buckets, read by GET then LIST', async () => {
    const plan = await planOf(grouped62('object'));
    expect(plan.channel).toEqual({
      kind: 'object', queue: null,
      object: {
        buckets: 10, bucketOfKey: 'layer-mod-buckets', keyPattern: '<run>/<layer>/<source>',
        readiness: { method: 'get-then-list', firstRangeBytes: 131072, initialPollSeconds: 0.05, maxPollSeconds: 1 },
        parallelRequests: 4, emptyMarkers: true, expirationDays: 1,
      },
    });
    const edited = JSON.parse(serializePlan(plan)) as Plan;
    edited.channel.object!.readiness.maxPollSeconds = 0.01;
    expect(() => parsePlan(edited, 'plan.json')).toThrow(/field channel\.object\.readiness\.maxPollSeconds: must be at least initialPollSeconds \(0\.05\)/);
  });
});

describe('resource names', () => {
  it('of a 62-worker plan are valid AWS names, also with the longest stack prefix', async () => {
    const prefix = 'x'.repeat(24);
    const queue = await planOf(grouped62('queue', { stackPrefix: prefix }));
    const object = await planOf(grouped62('object', { stackPrefix: prefix }));
    expect(queue.workers).toBe(62);
    expect(queue.channel.kind).toBe('queue');
    expect(queue.names.queues).toHaveLength(62);
    expect(queue.names.topics).toHaveLength(10);
    expect(object.channel.kind).toBe('object');
    expect(object.names.exchangeBuckets).toHaveLength(10);
    for (const plan of [queue, object]) {
      expect(parsePlan(serializePlan(plan), 'plan.json')).toEqual(plan);
      const resources = namedResources(plan.names);
      for (const r of resources) expect(awsNameProblem(r.kind, r.name), `${r.field.join('.')}: ${r.name}`).toBeNull();
      expect(new Set(resources.map((r) => `${r.kind}:${r.name}`)).size).toBe(resources.length);
    }
    expect(Object.values(queue.names.functions)).toEqual([`${prefix}-${queue.planId}-worker-1769`, `${prefix}-${queue.planId}-coordinator-1769`, `${prefix}-${queue.planId}-gather-1024`]);
    expect(queue.names.queues[61]).toBe(`${prefix}-${queue.planId}-w61`);
  });

  it('are checked against AWS\'s rules, each with its reason', () => {
    expect(awsNameProblem('sqsQueue', 'q'.repeat(81))).toBe(`SQS queue name "${'q'.repeat(81)}" has 81 characters, allowed 1-80`);
    expect(awsNameProblem('sqsQueue', 'a.b')).toBe('SQS queue name "a.b" may hold only letters, digits, hyphens and underscores');
    expect(awsNameProblem('lambdaFunction', 'f'.repeat(65))).toMatch(/has 65 characters, allowed 1-64/);
    expect(awsNameProblem('snsTopic', 't'.repeat(256))).toBeNull();
    expect(awsNameProblem('s3Bucket', 'Upper-case')).toMatch(/may hold only lowercase letters/);
    expect(awsNameProblem('s3Bucket', 'ab')).toMatch(/has 2 characters, allowed 3-63/);
    expect(awsNameProblem('s3Bucket', 'a..b')).toBe('S3 bucket name "a..b" has two adjacent dots');
    expect(awsNameProblem('s3Bucket', '192.168.5.4')).toBe('S3 bucket name "192.168.5.4" looks like an IP address');
    expect(awsNameProblem('s3Bucket', 'xn--abc')).toBe('S3 bucket name "xn--abc" starts with the reserved prefix xn--');
    expect(awsNameProblem('s3Bucket', 'abc-s3alias')).toBe('S3 bucket name "abc-s3alias" ends with the reserved suffix -s3alias');
    expect(awsNameProblem('stack', '1abc')).toMatch(/starting with a letter/);
  });

  it('refuses a stack prefix that would break a name, at the prefix and at the name', async () => {
    expect(stackPrefixProblem('stepinfer')).toBeNull();
    expect(stackPrefixProblem('x'.repeat(24))).toBeNull();
    expect(stackPrefixProblem('x'.repeat(25))).toMatch(/at most 24 characters/);
    expect(stackPrefixProblem('Team')).toMatch(/must be lowercase letters/);
    expect(stackPrefixProblem('xn--a')).toMatch(/^the stack prefix "xn--a" gives invalid names: S3 bucket name "xn--a-f{16}" starts with the reserved prefix xn--$/);
    const plan = await planOf({ rows: 2000, search: { workerCounts: [1] }, build: { stackPrefix: 'xn--a' } });
    expect(() => serializePlan(plan)).toThrow(/field stackPrefix: the stack prefix "xn--a" gives invalid names/);
    const issues = (() => { try { serializePlan(plan); return []; } catch (error) { return [...(error as PlanFormatError).issues]; } })();
    expect(issues).toContainEqual(expect.stringMatching(/^names\.bucket: S3 bucket name "xn--a-[0-9a-f]{16}" starts with the reserved prefix xn--$/));
  });
});

describe('the exported JSON Schema', () => {
  it('is current (regenerate with npm run build:plan-schema)', () => {
    expect(readFileSync(resolve(repo, PLAN_JSON_SCHEMA_FILE), 'utf8')).toBe(planJsonSchemaText());
  });

  it('describes plan.json: its version, required fields and the AWS limits it uses', () => {
    const schema = JSON.parse(planJsonSchemaText());
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.properties.formatVersion.const).toBe(2);
    expect(schema.required).toEqual(['formatVersion', 'kind', 'planId', 'stackPrefix', 'model', 'inputRows', 'shape', 'workers', 'partition', 'wire', 'kernel', 'functions', 'workflow', 'channel', 'storage', 'names']);
    expect(schema.additionalProperties).toBe(false);
    const fn = schema.properties.functions.items.properties;
    expect([fn.memoryMB.minimum, fn.memoryMB.maximum, fn.timeoutSeconds.maximum]).toEqual([128, 10240, 900]);
    expect(schema.properties.channel.properties.queue.anyOf[0].properties.waitTimeSeconds.maximum).toBe(20);
  });

  it('names the same gather engines as the kernel', () => {
    expect([...KERNEL_GATHER_ENGINES]).toEqual([...GATHER_ENGINES]);
  });

  it('names the wire format and codec the runtime speaks, as the planner priced them', () => {
    const priced = defaultWireFormat();
    expect(priced.wireFormatVersion).toBe(WIRE_FORMAT_VERSION);
    expect({ name: priced.compression, level: priced.compressionLevel }).toEqual(DEFAULT_WIRE_CODEC);
  });
});

describe('the report', () => {
  it("carries the stage program's proof: proven, or feasible but unproven with HiGHS's gap, never passed off as optimal", async () => {
    const workload = assumedWorkload(network12, 2000, 0.3, DEFAULT_GATHER_ABOVE_DENSITY);
    const search = await searchPlans(network12, workload, {
      objective: 'cost', scheme: 'cyclic', seed: 1, prices: defaultPrices(), calibration: defaultCalibrationProfile(), workerCounts: [1],
    });
    const build = (s: typeof search) => buildPlan({
      network: network12,
      model: { source: 'generated', path: null, generate: { neurons: 1024, layers: 12, seed: 4 } },
      inputs: { source: 'generated', path: null, samples: 2000, seed: 4, density: 0.1 },
      search: s, objective: 'cost', scheme: 'cyclic', seed: 1,
      calibration: defaultCalibrationProfile(), calibrationPath: null, version: '0.1.0',
      kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
    }).report;
    const asSearched = build(search);
    expect(asSearched.optimality).toEqual(search.chosen.optimality);
    const cutShort = { proven: false, relativeGap: 0.0576, status: 'Time limit reached' };
    const unproven = build({ ...search, chosen: { ...search.chosen, optimality: cutShort } });
    expect(unproven.optimality).toEqual(cutShort);
    expect(unproven.alternatives.find((a) => a.chosen)!.optimality).toEqual(cutShort);
    const text = serializePlanReport(unproven);
    expect(parsePlanReport(JSON.parse(text), 'plan.report.json').optimality).toEqual(cutShort);
  });
});
