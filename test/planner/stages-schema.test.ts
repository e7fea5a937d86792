// The stages plan (planner/plan/stages-schema.ts): a round trip, every cross-field check's message
// with its field path, and parseAnyPlan dispatching on kind.

import { describe, it, expect } from 'vitest';
import {
  computePlanId, handoffFitsPayload, lambdaTaskRetry, LAMBDA_RETRY_POLICY, parseAnyPlan, parsePlan, parseStagesPlan,
  serializeStagesPlan, stagesPlanNames, STAGE_PAYLOAD_ALLOWANCE_BYTES, type StagesPlan,
} from '../../planner/plan/index.ts';
import { PlanFormatError } from '../../model/errors.ts';
import { builtPlanOf } from '../helpers/plans.ts';

/** A plan's id and names made consistent again after a hand edit. */
function reidentified(plan: StagesPlan): StagesPlan {
  const planId = computePlanId(plan);
  return { ...plan, planId, names: stagesPlanNames(planId, plan.stackPrefix, plan.functions.map((f) => f.id)) };
}

/** Two stages of a 3-unit model at batch 2: the first hands 2x64x8x8 floats through S3, the last returns 2x10 in the payload. */
function samplePlan(): StagesPlan {
  const plan: StagesPlan = {
    formatVersion: 2,
    kind: 'stepinfer-stages-plan',
    planId: '',
    stackPrefix: 'stepinfer',
    model: {
      source: 'onnx',
      path: '../shared/data/models/tiny.onnx',
      checksum: { algorithm: 'sha256', value: 'a'.repeat(64) },
      input: { name: 'input', dims: [2, 3, 16, 16] },
      output: { name: 'output', dims: [2, 10] },
      units: 3,
      parameterCount: 1234,
      weights: { kind: 'deterministic', seed: 0 },
    },
    batch: 2,
    shape: 'stages',
    functions: [
      { id: 'stage0-1769', role: 'stage', stage: 0, memoryMB: 1769, timeoutSeconds: 30, reservedConcurrency: 1, architecture: 'x86_64',
        package: { kind: 'zip', modelFile: 'stage0.onnx', modelBytes: 4000, unzippedBytes: 40_000_000 } },
      { id: 'stage1-512', role: 'stage', stage: 1, memoryMB: 512, timeoutSeconds: 20, reservedConcurrency: 1, architecture: 'x86_64',
        package: { kind: 'zip', modelFile: 'stage1.onnx', modelBytes: 1000, unzippedBytes: 39_000_000 } },
    ],
    workflow: {
      type: 'EXPRESS',
      executionTimeoutSeconds: 60,
      retryPolicies: { [LAMBDA_RETRY_POLICY]: lambdaTaskRetry() },
      stages: [
        { index: 0, firstUnit: 1, lastUnit: 2, name: 'conv1 .. block1', functionId: 'stage0-1769',
          task: { timeoutSeconds: 30, retry: LAMBDA_RETRY_POLICY }, output: { dims: [2, 64, 8, 8], bytes: 32768, handoff: 'object' } },
        { index: 1, firstUnit: 3, lastUnit: 3, name: 'fc', functionId: 'stage1-512',
          task: { timeoutSeconds: 20, retry: LAMBDA_RETRY_POLICY }, output: { dims: [2, 10], bytes: 80, handoff: 'payload' } },
      ],
    },
    storage: {
      inputs: 'runs/<execution>/input.f32',
      handoff: 'runs/<execution>/stage<stage>/output.f32',
      result: 'runs/<execution>/result.f32',
    },
    names: stagesPlanNames('0'.repeat(16), 'stepinfer', []),
  };
  return reidentified(plan);
}

const edited = (edit: (plan: StagesPlan) => void): StagesPlan => {
  const plan = structuredClone(samplePlan());
  edit(plan);
  return reidentified(plan);
};

/** The message of the first problem, and every problem. */
function problems(plan: unknown): { message: string; issues: readonly string[] } {
  try {
    parseStagesPlan(plan, 'plan.json');
  } catch (error) {
    expect(error).toBeInstanceOf(PlanFormatError);
    return { message: (error as Error).message, issues: (error as PlanFormatError).issues };
  }
  throw new Error('the plan parsed');
}

describe('stages plan round trip', () => {
  it('serializes and parses unchanged, with names derived from the plan id', () => {
    const plan = samplePlan();
    expect(plan.planId).toMatch(/^[0-9a-f]{16}$/);
    expect(plan.names.functions).toEqual({ 'stage0-1769': `stepinfer-${plan.planId}-stage0-1769`, 'stage1-512': `stepinfer-${plan.planId}-stage1-512` });
    expect(plan.names.topics).toEqual([]);
    expect(plan.names.queues).toEqual([]);
    expect(plan.names.deadLetterQueue).toBeNull();
    expect(plan.names.exchangeBuckets).toEqual([]);
    const text = serializeStagesPlan(plan);
    expect(parseStagesPlan(text, 'plan.json')).toEqual(plan);
    expect(parseAnyPlan(text, 'plan.json')).toEqual(plan);
    expect(serializeStagesPlan(parseStagesPlan(text, 'plan.json'))).toBe(text);
  });

  it('sends a tensor in the payload only when its base64 and the allowance fit 256 KiB', () => {
    // (262144 - 16384) / 4 * 3 = 184320 bytes of tensor at most.
    expect(STAGE_PAYLOAD_ALLOWANCE_BYTES).toBe(16384);
    expect(handoffFitsPayload(184320)).toBe(true);
    expect(handoffFitsPayload(184321)).toBe(false);
  });
});

describe('stages plan errors name the file and the field', () => {
  it.each<[string, (p: StagesPlan) => void, string]>([
    ['a gap between stages', (p) => { p.workflow.stages[1].firstUnit = 4; p.workflow.stages[1].lastUnit = 4; },
      'plan.json, field workflow.stages[1].firstUnit: must be 3: stages cover units 1..3 without gaps or overlaps'],
    ['stages that end early', (p) => { p.model.units = 4; },
      'plan.json, field workflow.stages: stages end at unit 3, the model has 4 units'],
    ['a stage past the last unit', (p) => { p.model.units = 2; p.workflow.stages[0].lastUnit = 1; p.workflow.stages[1].firstUnit = 2; p.workflow.stages[1].lastUnit = 3; },
      'plan.json, field workflow.stages[1].lastUnit: the model has 2 units'],
    ['an inverted stage', (p) => { p.workflow.stages[1].lastUnit = 2; },
      'plan.json, field workflow.stages[1].lastUnit: must be >= firstUnit (3)'],
    ['a stage index out of order', (p) => { p.workflow.stages[1].index = 5; },
      'plan.json, field workflow.stages[1].index: must be 1 (stages are listed in order)'],
    ['a missing function', (p) => { p.workflow.stages[1].functionId = 'stage1-999'; },
      'plan.json, field functions[1].id: function "stage1-512" runs 0 stages: each stage has its own function'],
    ['a function of another stage', (p) => { p.functions[1] = { ...p.functions[1], id: 'stage0-512', stage: 0, package: { ...p.functions[1].package, modelFile: 'stage0.onnx' } }; p.workflow.stages[1].functionId = 'stage0-512'; },
      'plan.json, field workflow.stages[1].functionId: function "stage0-512" is for stage 0'],
    ['a function two stages share', (p) => { p.workflow.stages[1].functionId = 'stage0-1769'; },
      'plan.json, field functions[0].id: function "stage0-1769" runs 2 stages: each stage has its own function'],
    ['an id that is not stage and memory', (p) => { p.functions[0].memoryMB = 2048; },
      'plan.json, field functions[0].id: must be stage0-2048 (stage and memory)'],
    ['a function listed twice', (p) => { p.functions.push(structuredClone(p.functions[0])); },
      'plan.json, field functions[2].id: function "stage0-1769" is listed twice'],
    ['a wrong model file', (p) => { p.functions[1].package.modelFile = 'stage0.onnx'; },
      'plan.json, field functions[1].package.modelFile: must be stage1.onnx'],
    ['a model larger than its package', (p) => { p.functions[1].package.modelBytes = 40_000_000; },
      'plan.json, field functions[1].package.modelBytes: the package (39000000 bytes) holds the model: cannot be larger'],
    ['a zip over 250 MB', (p) => { p.functions[0].package.unzippedBytes = 262_144_001; },
      'plan.json, field functions[0].package.unzippedBytes: 262144001 bytes exceed the 262144000-byte limit of an unzipped .zip package (a container image allows 10737418240 bytes)'],
    ['an image over 10 GB', (p) => { p.functions[0].package = { ...p.functions[0].package, kind: 'image', unzippedBytes: 10_737_418_241 }; },
      'plan.json, field functions[0].package.unzippedBytes: 10737418241 bytes exceed the 10737418240-byte limit of a container image'],
    ['memory beyond Lambda', (p) => { p.functions[1].memoryMB = 20000; p.functions[1].id = 'stage1-20000'; p.workflow.stages[1].functionId = 'stage1-20000'; },
      'plan.json, field functions[1].memoryMB: Lambda memory must be at most 10,240 MB'],
    ['an input without the batch', (p) => { p.model.input.dims = [1, 3, 16, 16]; },
      'plan.json, field model.input.dims[0]: must be the batch (2)'],
    ['an output without the batch', (p) => { p.model.output.dims = [1, 10]; p.workflow.stages[1].output = { dims: [1, 10], bytes: 40, handoff: 'payload' }; },
      'plan.json, field model.output.dims[0]: must be the batch (2)'],
    ['a stage output without the batch', (p) => { p.workflow.stages[0].output = { dims: [1, 128, 8, 8], bytes: 32768, handoff: 'object' }; },
      'plan.json, field workflow.stages[0].output.dims[0]: must be the batch (2)'],
    ['output bytes that are not 4 x the dims', (p) => { p.workflow.stages[0].output.bytes = 1000; },
      'plan.json, field workflow.stages[0].output.bytes: must be 32768 (4 bytes x 2 x 64 x 8 x 8)'],
    ['a last stage that is not the model output', (p) => { p.workflow.stages[1].output = { dims: [2, 20], bytes: 160, handoff: 'payload' }; },
      'plan.json, field workflow.stages[1].output.dims: the last stage\'s output must be the model\'s output [2,10]'],
    ['a payload hand-off that does not fit', (p) => { p.workflow.stages[0].output = { dims: [2, 64, 32, 32], bytes: 524288, handoff: 'payload' }; },
      'plan.json, field workflow.stages[0].output.handoff: 524288 bytes are 699052 characters as base64, over the 262144-byte state payload with its 16384-byte allowance: must be object'],
    ['a missing retry policy', (p) => { p.workflow.stages[0].task.retry = 'gone'; },
      'plan.json, field workflow.stages[0].task.retry: no retry policy "gone" in workflow.retryPolicies'],
    ['an Express task over 300 s', (p) => { p.workflow.stages[0].task.timeoutSeconds = 400; },
      'plan.json, field workflow.stages[0].task.timeoutSeconds: an Express execution lasts at most 300 seconds'],
    ['an Express function over 300 s', (p) => { p.functions[0].timeoutSeconds = 400; },
      'plan.json, field functions[0].timeoutSeconds: an Express execution lasts at most 300 seconds'],
    ['an Express execution over 300 s', (p) => { p.workflow.executionTimeoutSeconds = 301; },
      'plan.json, field workflow.executionTimeoutSeconds: an Express execution lasts at most 300 seconds'],
    ['a hand-off key without the stage', (p) => { p.storage.handoff = 'runs/<execution>/output.f32'; },
      'plan.json, field storage.handoff: must contain <stage>'],
    ['a bad stack prefix', (p) => { p.stackPrefix = 'Bad'; },
      'plan.json, field stackPrefix: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen'],
    ['a timeout beyond Lambda', (p) => { p.workflow.type = 'STANDARD'; p.functions[0].timeoutSeconds = 1000; },
      'plan.json, field functions[0].timeoutSeconds: a Lambda timeout is at most 900 seconds'],
  ])('%s', (_what, edit, message) => {
    expect(problems(edited(edit)).message.replace(/ \(and \d+ more problems?\)$/, '')).toBe(message);
  });

  it('checks that the names derive from the plan id, and the id from the content', () => {
    const names = structuredClone(samplePlan());
    names.names = { ...names.names, bucket: 'someone-elses-bucket' };
    expect(problems(names).message).toBe(`plan.json, field names.bucket: must be "stepinfer-${names.planId}" (derived from stackPrefix and planId)`);
    const changed = structuredClone(samplePlan());
    changed.batch = 3;
    const id = computePlanId(changed);
    expect(problems(changed).issues).toContain(`planId: does not match the plan's content (${id}): the plan was changed after stepinfer plan wrote it; re-run stepinfer plan`);
  });

  it('collects every problem, not only the first', () => {
    const { message, issues } = problems(edited((p) => { p.functions[0].package.modelFile = 'x.onnx'; p.workflow.stages[0].output.bytes = 1; }));
    expect(issues.length).toBeGreaterThanOrEqual(2);
    expect(message).toMatch(/and \d+ more problems?\)$/);
  });

  it('rejects another format version, unknown fields and bad JSON', () => {
    expect(() => parseStagesPlan({ ...samplePlan(), formatVersion: 1 }, 'plan.json'))
      .toThrow('plan.json, field formatVersion: plan format version 1 is not supported (this stepinfer reads version 2); re-run stepinfer plan');
    expect(() => parseStagesPlan({ ...samplePlan(), surprise: 1 }, 'plan.json')).toThrow(/plan\.json, field \(root\): Unrecognized key: "surprise"/);
    expect(() => parseStagesPlan('{ nope', 'plan.json')).toThrow(/^plan\.json: not valid JSON/);
  });
});

describe('parseAnyPlan', () => {
  it('reads a sparse plan as parsePlan does, and a stages plan as parseStagesPlan does', async () => {
    const { plan } = await builtPlanOf({ rows: 100, search: { workerCounts: [1], channels: ['none'] } });
    expect(parseAnyPlan(JSON.stringify(plan), 'p.json')).toEqual(parsePlan(plan, 'p.json'));
    expect(parseAnyPlan(samplePlan(), 'p.json').kind).toBe('stepinfer-stages-plan');
  });

  it('names a missing or unknown kind', () => {
    expect(() => parseAnyPlan({ formatVersion: 2 }, 'p.json')).toThrow('p.json, field kind: missing: a plan is "stepinfer-plan" or "stepinfer-stages-plan"');
    expect(() => parseAnyPlan({ formatVersion: 2, kind: 'other' }, 'p.json')).toThrow('p.json, field kind: unknown kind "other": a plan is "stepinfer-plan" or "stepinfer-stages-plan"');
    expect(() => parseAnyPlan({ kind: 'other', formatVersion: 1 }, 'p.json')).toThrow(/field formatVersion: plan format version 1 is not supported/);
    expect(() => parseAnyPlan({ ...samplePlan(), batch: 0 }, 'p.json')).toThrow(/p\.json, field batch: /);
  });
});
