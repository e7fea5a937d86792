// The dense stage handler (functions/handlers/dense-stage.ts) called directly on fauxqs's S3, as
// the workflow calls it: a one-stage run of SqueezeNet equals onnxruntime on the whole file bit for
// bit, writes the result and removes the staged input; the session is reused warm; and every
// failure names the stage: a model file missing, of the wrong size, corrupt; a staged input or a
// handoff object missing; a handoff changed since it was written; a clean-up removes a failed
// run's objects.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crc32Hex } from '../../model/checksum.ts';
import { FileAccessError, MissingObjectError, ModelFormatError, WireFormatError } from '../../model/errors.ts';
import type { AwsClients } from '../../functions/handlers/clients.ts';
import { handler, MODEL_DIR_VARIABLE, runDenseCleanup, runDenseStage } from '../../functions/handlers/dense-stage.ts';
import type { DenseStageEvent } from '../../functions/handlers/events.ts';
import { createOnnxSession, runOnnx } from '../../functions/dense/onnx-session.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { decodeTensorObject, encodeTensorObject, encodeTensorPayload, type DenseTensor } from '../../functions/storage/tensor-codec.ts';
import { startLocalFauxqs, type Fauxqs } from '../helpers/fauxqs.ts';
import { tempDirs } from '../helpers/tmp.ts';

const MODEL = '/work/shared/data/models/squeezenet1_1.onnx';
const BUCKET = 'stages-handler-test';
const STORAGE = { inputs: 'runs/<execution>/input.f32', handoff: 'runs/<execution>/stage<stage>/output.f32', result: 'runs/<execution>/result.f32' };
const INPUT_DIMS = [1, 3, 224, 224];
const OUTPUT_DIMS = [1, 1000];

let fauxqs: Fauxqs;
let clients: AwsClients;
let store: ObjectStore;
const tmp = tempDirs();

beforeAll(async () => {
  fauxqs = await startLocalFauxqs();
  clients = { s3: fauxqs.s3 } as AwsClients;
  await fauxqs.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  store = new ObjectStore(fauxqs.s3, BUCKET);
});
afterAll(async () => {
  await fauxqs.stop();
});
afterEach(() => {
  delete process.env[MODEL_DIR_VARIABLE];
});

function seededInput(dims: readonly number[], seed: number): DenseTensor {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  let x = seed;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[i] = x / 2 ** 32 * 2 - 1;
  }
  return { dims, data };
}

/** A folder holding `stage0.onnx` = the model (as a package holds its stage's file). */
function modelDir(bytes: Uint8Array = readFileSync(MODEL)): string {
  const dir = tmp();
  writeFileSync(join(dir, 'stage0.onnx'), bytes);
  process.env[MODEL_DIR_VARIABLE] = dir;
  return dir;
}

function stageEvent(runId: string, over: Partial<DenseStageEvent> = {}): DenseStageEvent {
  return {
    runId, planId: '0123456789abcdef', bucket: BUCKET, storage: STORAGE, stage: 0, stages: 1, name: 'features.0 .. classifier.3',
    modelFile: 'stage0.onnx', modelBytes: readFileSync(MODEL).length, memoryMB: 1769,
    input: { kind: 'staged' }, inputDims: INPUT_DIMS, output: { dims: OUTPUT_DIMS, handoff: 'payload' },
    ...over,
  };
}

async function keysOf(runId: string): Promise<string[]> {
  const out = await fauxqs.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `runs/${runId}/` }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

const bits = (t: DenseTensor) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)];

describe('the dense stage handler', () => {
  it('one stage of the whole model: the result equals onnxruntime on the file bit for bit; the staged input is removed; warm runs reuse the session', async () => {
    modelDir();
    const input = seededInput(INPUT_DIMS, 5);
    await store.put('runs/r1/input.f32', encodeTensorObject(input));
    const result = await runDenseStage(stageEvent('r1'), clients);
    expect(result.output).toMatchObject({ kind: 'object', key: 'runs/r1/result.f32', dims: OUTPUT_DIMS, bytes: 16 + 8 + 4000 });
    expect(result.sessionCached).toBe(false);
    expect(result.threads).toBe(1);
    expect(await keysOf('r1')).toEqual(['runs/r1/result.f32']);
    const staged = decodeTensorObject(await store.get('runs/r1/result.f32', 'result'), 'result', OUTPUT_DIMS);
    const whole = await runOnnx(await createOnnxSession(MODEL, 1, 'squeezenet'), input, 'squeezenet');
    expect(bits(staged)).toEqual(bits(whole));
    expect(staged.data.some((v) => v !== 0)).toBe(true);

    await store.put('runs/r2/input.f32', encodeTensorObject(input));
    const warm = await runDenseStage(stageEvent('r2'), clients);
    expect(warm.sessionCached).toBe(true);
    expect(warm.timings.loadMs).toBe(0);
    expect(warm.output).toEqual({ ...result.output, key: 'runs/r2/result.f32' });
  });

  it('a stage that hands over in the payload, and one that reads a payload', async () => {
    modelDir();
    const input = seededInput(INPUT_DIMS, 6);
    await store.put('runs/r3/input.f32', encodeTensorObject(input));
    const first = await runDenseStage(stageEvent('r3', { stages: 2 }), clients);
    expect(first.output.kind).toBe('payload');
    // Nothing in S3 but the staged input the last stage removes.
    expect(await keysOf('r3')).toEqual(['runs/r3/input.f32']);
    // A payload of the plan's dims goes into a stage that takes [1, 1000]: the model refuses, naming the stage.
    await expect(runDenseStage(stageEvent('r3', { stage: 1, stages: 2, input: first.output, inputDims: OUTPUT_DIMS }), clients))
      .rejects.toThrow(/^.*stage0\.onnx: stage 1 \(features\.0 \.\. classifier\.3\): its model file .*stage0\.onnx takes an input of dims \[1, 3, 224, 224\], the plan's stage \[1, 1000\]/);
  });

  it('a stage that hands over through S3 writes its handoff object; the next reads it and checks its CRC', async () => {
    modelDir();
    const input = seededInput(INPUT_DIMS, 7);
    await store.put('runs/r4/input.f32', encodeTensorObject(input));
    const first = await runDenseStage(stageEvent('r4', { stages: 3, output: { dims: OUTPUT_DIMS, handoff: 'object' } }), clients);
    expect(first.output).toMatchObject({ kind: 'object', key: 'runs/r4/stage0/output.f32', dims: OUTPUT_DIMS });
    expect(await keysOf('r4')).toEqual(['runs/r4/input.f32', 'runs/r4/stage0/output.f32']);
    // Stage 1 (the same file here, so a handoff of the model's input dims) reads its handoff object.
    const handoff = encodeTensorObject(input);
    await store.put('runs/r4/stage0/output.f32', handoff);
    const ref = { kind: 'object' as const, key: 'runs/r4/stage0/output.f32', dims: INPUT_DIMS, bytes: handoff.length, crc32: crc32Hex(handoff) };
    const second = await runDenseStage(stageEvent('r4', { stage: 1, stages: 3, input: ref, output: { dims: OUTPUT_DIMS, handoff: 'payload' } }), clients);
    expect(second.output.kind).toBe('payload');
    // Replaced after it was written: the reader refuses it.
    await store.put(ref.key, encodeTensorObject(seededInput(INPUT_DIMS, 1)));
    await expect(runDenseStage(stageEvent('r4', { stage: 1, stages: 3, input: ref }), clients))
      .rejects.toThrow(/^s3:\/\/stages-handler-test\/runs\/r4\/stage0\/output\.f32, field crc32: the input of stage 1 \(features\.0 \.\. classifier\.3\), handed over by stage 0, changed since it was written: CRC-32 [0-9a-f]{8}, the handoff says [0-9a-f]{8}$/);
  });

  it('a missing model file, one of another size, a corrupt one: each fails naming the stage and the file', async () => {
    const dir = modelDir();
    await store.put('runs/r5/input.f32', encodeTensorObject(seededInput(INPUT_DIMS, 8)));
    const missing = runDenseStage(stageEvent('r5', { modelFile: 'stage7.onnx', stage: 0 }), clients);
    await expect(missing).rejects.toThrow(FileAccessError);
    await expect(runDenseStage(stageEvent('r5', { modelFile: 'stage7.onnx' }), clients)).rejects.toThrow(`${join(dir, 'stage7.onnx')}: stage 0 (features.0 .. classifier.3): its model file ${join(dir, 'stage7.onnx')} is missing`);
    await expect(runDenseStage(stageEvent('r5', { modelBytes: 1234 }), clients))
      .rejects.toThrow(/stage 0 \(features\.0 \.\. classifier\.3\): its model file .* has \d+ bytes, the plan's package 1234: a corrupt file or another plan's$/);
    // Same size, garbage inside: onnxruntime refuses it.
    const corrupt = readFileSync(MODEL);
    corrupt.fill(0x5a, 0, 4096);
    modelDir(corrupt);
    const error = await runDenseStage(stageEvent('r5'), clients).catch((e: Error) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as Error).message).toMatch(/stage 0 \(features\.0 \.\. classifier\.3\): its model file .*stage0\.onnx: onnxruntime cannot load it: /);
  });

  it('a missing staged input or handoff object fails loudly naming the key', async () => {
    modelDir();
    await expect(runDenseStage(stageEvent('r6'), clients)).rejects.toThrow(MissingObjectError);
    await expect(runDenseStage(stageEvent('r6'), clients))
      .rejects.toThrow('field input: the input of stage 0 (features.0 .. classifier.3), staged by the client, is missing: no object s3://stages-handler-test/runs/r6/input.f32');
    const ref = { kind: 'object' as const, key: 'runs/r6/stage0/output.f32', dims: INPUT_DIMS, bytes: 602_128, crc32: '00000000' };
    await expect(runDenseStage(stageEvent('r6', { stage: 1, stages: 2, input: ref }), clients))
      .rejects.toThrow('field input: the input of stage 1 (features.0 .. classifier.3), handed over by stage 0, is missing: no object s3://stages-handler-test/runs/r6/stage0/output.f32');
  });

  it('a payload whose bytes were changed fails naming the stage and the field', async () => {
    modelDir();
    const payload = encodeTensorPayload(seededInput(INPUT_DIMS, 9));
    const changed = { ...payload, base64: `${payload.base64.slice(0, 10)}AAAA${payload.base64.slice(14)}` };
    await expect(runDenseStage(stageEvent('r7', { stage: 1, stages: 2, input: { kind: 'payload', tensor: changed } }), clients))
      .rejects.toThrow(WireFormatError);
  });

  it('an event that is not a stage event fails naming the field; a clean-up removes a failed run\'s objects', async () => {
    await expect(handler({ runId: 'r8' })).rejects.toThrow(/^dense stage event, field planId: /);
    for (const key of ['runs/r9/input.f32', 'runs/r9/stage0/output.f32', 'runs/r9/stage1/output.f32', 'runs/r9/result.f32']) await store.put(key, 'x');
    const cleaned = await runDenseCleanup({ runId: 'r9', bucket: BUCKET, storage: STORAGE, stages: 3, cleanup: true }, clients);
    expect(cleaned).toEqual({ runId: 'r9', cleanup: { deletes: 1, deleted: 4 } });
    expect(await keysOf('r9')).toEqual([]);
  });
});
