// The stage Lambda handler of a stages plan (AMPS-Inf): one stage of a dense ONNX model, cut at the
// plan's units into its own sub-model file. Per invocation it
//   1. creates its onnxruntime session from its sub-model file, once per execution environment
//      (warm invocations reuse it), with intra-op threads from its memory's vCPUs;
//   2. reads its input: the batch the client staged under storage.inputs (stage 0), else the
//      previous stage's output, from the state payload or its handoff object;
//   3. runs the sub-model;
//   4. writes its output as the plan says: in the state payload when it fits, else as the handoff
//      object; the last stage writes storage.result, removes the run's intermediates and returns
//      the result's key, CRC-32 and dims;
// and logs the milliseconds of each phase (load, read, run, write) as one structured line.
// Every error names the stage. With `cleanup` it only removes a failed run's intermediates (the
// workflow's "Clean up" Task).
//
// Where its sub-model is: the one rule of stageModelPath: the package's folder (LAMBDA_TASK_ROOT
// on AWS) unless STEPINFER_MODEL_DIR names another (the local Lambda host sets it to the run's
// stage files), joined with the plan's package.modelFile.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32Hex } from '../../model/checksum.ts';
import { FileAccessError, MissingObjectError, ModelFormatError, ShapeMismatchError, WireFormatError } from '../../model/errors.ts';
import { expandKey } from '../../planner/plan/names.ts';
import { createOnnxSession, declaredInputDims, runOnnx, threadsForMemory, type OnnxModelSession } from '../dense/onnx-session.ts';
import { ObjectStore } from '../storage/object-store.ts';
import { decodeTensorObject, decodeTensorPayload, encodeTensorObject, encodeTensorPayload, type DenseTensor } from '../storage/tensor-codec.ts';
import { environmentClients, type AwsClients } from './clients.ts';
import {
  denseCleanupEventSchema, denseStageEventSchema, parseEvent,
  type DenseCleanupEvent, type DenseCleanupResult, type DenseStageEvent, type DenseStageResult, type DenseTensorRef,
} from './events.ts';
import { logger, logRun } from './log.ts';

/** The environment variable naming the folder of the stage's sub-model (local runs); else LAMBDA_TASK_ROOT. */
export const MODEL_DIR_VARIABLE = 'STEPINFER_MODEL_DIR';

/** Where the stage's sub-model file is: see the top of this file. */
export function stageModelPath(modelFile: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[MODEL_DIR_VARIABLE] ?? env.LAMBDA_TASK_ROOT;
  if (dir === undefined || dir === '') {
    throw new FileAccessError(`neither ${MODEL_DIR_VARIABLE} nor LAMBDA_TASK_ROOT is set: no folder to find the stage model ${modelFile} in`, { field: MODEL_DIR_VARIABLE });
  }
  return join(dir, modelFile);
}

/** "stage 1 (layer2.1 .. layer3.5)": how every message names the stage. */
export function stageLabel(event: Pick<DenseStageEvent, 'stage' | 'name'>): string {
  return `stage ${event.stage} (${event.name})`;
}

/** The execution environment's session: one at a time (an environment serves one function, so one sub-model). */
let cached: { key: string; model: OnnxModelSession } | null = null;

async function loadSession(event: DenseStageEvent, path: string): Promise<{ model: OnnxModelSession; fromCache: boolean }> {
  const threads = threadsForMemory(event.memoryMB);
  const key = `${event.planId}/${path}/${threads}`;
  if (cached?.key === key) return { model: cached.model, fromCache: true };
  const what = `${stageLabel(event)}: its model file ${path}`;
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch {
    throw new FileAccessError(`${what} is missing`, { file: path });
  }
  if (bytes !== event.modelBytes) throw new ModelFormatError(`${what} has ${bytes} bytes, the plan's package ${event.modelBytes}: a corrupt file or another plan's`, { file: path });
  const model = await createOnnxSession(path, threads, what, { file: path });
  const previous = cached;
  cached = null;
  await previous?.model.session.release();
  cached = { key, model };
  return { model, fromCache: false };
}

/** The key of stage `stage`'s handoff object of run `runId`. */
export function handoffKey(storage: DenseStageEvent['storage'], runId: string, stage: number): string {
  return expandKey(storage.handoff, { execution: runId, stage });
}

async function readInput(store: ObjectStore, event: DenseStageEvent): Promise<DenseTensor> {
  const input = event.input;
  const label = stageLabel(event);
  if (input.kind === 'payload') return decodeTensorPayload(input.tensor, `the state payload of ${label}`, event.inputDims);
  const key = input.kind === 'staged' ? expandKey(event.storage.inputs, { execution: event.runId }) : input.key;
  const what = input.kind === 'staged' ? `the input of ${label}, staged by the client,` : `the input of ${label}, handed over by stage ${event.stage - 1},`;
  const bytes = await store.getOptional(key);
  if (bytes === null) throw new MissingObjectError(`${what} is missing: no object ${store.where(key)}`, { field: 'input' });
  if (input.kind === 'object' && crc32Hex(bytes) !== input.crc32) {
    throw new WireFormatError(`${what} changed since it was written: CRC-32 ${crc32Hex(bytes)}, the handoff says ${input.crc32}`, { file: store.where(key), field: 'crc32' });
  }
  return decodeTensorObject(bytes, store.where(key), event.inputDims);
}

async function writeOutput(store: ObjectStore, event: DenseStageEvent, output: DenseTensor): Promise<DenseTensorRef> {
  const last = event.stage === event.stages - 1;
  if (!last && event.output.handoff === 'payload') return { kind: 'payload', tensor: encodeTensorPayload(output) };
  const key = last ? expandKey(event.storage.result, { execution: event.runId }) : handoffKey(event.storage, event.runId, event.stage);
  const bytes = encodeTensorObject(output);
  await store.put(key, bytes);
  return { kind: 'object', key, dims: [...output.dims], bytes: bytes.length, crc32: crc32Hex(bytes) };
}

/** The keys a run may leave besides its result: the staged input and every stage's handoff object. */
function intermediateKeys(storage: DenseStageEvent['storage'], runId: string, stages: number): string[] {
  return [expandKey(storage.inputs, { execution: runId }), ...Array.from({ length: stages - 1 }, (_, s) => handoffKey(storage, runId, s))];
}

/** Deletes the run's staged input and handoffs (and with `result`, its result): one DeleteObjects. */
async function removeIntermediates(store: ObjectStore, storage: DenseStageEvent['storage'], runId: string, stages: number, result: boolean): Promise<number> {
  const keys = intermediateKeys(storage, runId, stages);
  if (result) keys.push(expandKey(storage.result, { execution: runId }));
  return store.deleteKeys(keys);
}

export async function runDenseStage(event: DenseStageEvent, clients: AwsClients): Promise<DenseStageResult> {
  const startMs = Date.now();
  logRun({ role: 'stage', runId: event.runId, stage: event.stage });
  const label = stageLabel(event);
  if (event.stage >= event.stages) throw new ShapeMismatchError(`${label} of a plan of ${event.stages} stages`, { field: 'stage' });
  if (event.stage === 0 && event.input.kind !== 'staged') throw new ShapeMismatchError(`${label}: stage 0 reads the staged input, not a handoff`, { field: 'input' });
  if (event.stage > 0 && event.input.kind === 'staged') throw new ShapeMismatchError(`${label} reads stage ${event.stage - 1}'s output, not the staged input`, { field: 'input' });
  const store = new ObjectStore(clients.s3, event.bucket);
  try {
    const path = stageModelPath(event.modelFile);
    let t = performance.now();
    const { model, fromCache } = await loadSession(event, path);
    const loadMs = fromCache ? 0 : performance.now() - t;
    const declared = declaredInputDims(model);
    if (declared && (declared.length !== event.inputDims.length || declared.some((d, i) => d !== -1 && d !== event.inputDims[i]))) {
      throw new ShapeMismatchError(`${label}: its model file ${path} takes an input of dims [${declared.join(', ')}], the plan's stage [${event.inputDims.join(', ')}]`, { file: path });
    }
    t = performance.now();
    const input = await readInput(store, event);
    const readMs = performance.now() - t;
    t = performance.now();
    const output = await runOnnx(model, input, label, event.output.dims);
    const runMs = performance.now() - t;
    t = performance.now();
    const ref = await writeOutput(store, event, output);
    // The last stage leaves only the result behind, as a one-worker sparse run does.
    if (event.stage === event.stages - 1) await removeIntermediates(store, event.storage, event.runId, event.stages, false);
    const writeMs = performance.now() - t;
    const timings = { loadMs, readMs, runMs, writeMs };
    logger.info('stage done', { name: event.name, sessionCached: fromCache, threads: model.threads, handoff: ref.kind, ...timings });
    return {
      runId: event.runId, stage: event.stage, ok: true, output: ref, sessionCached: fromCache, threads: model.threads,
      timings, storage: { ...store.counters }, startMs, endMs: Date.now(),
    };
  } catch (error) {
    logger.error('stage failed', { name: event.name, error: error instanceof Error ? error.message : String(error) });
    // Every message names the stage.
    if (error instanceof Error && !error.message.includes(label)) error.message = `${label}: ${error.message}`;
    throw error;
  }
}

/** A failed run's clean-up: its staged input, handoffs and a result the last stage may have written are removed. */
export async function runDenseCleanup(event: DenseCleanupEvent, clients: AwsClients): Promise<DenseCleanupResult> {
  logRun({ role: 'stage', runId: event.runId });
  const store = new ObjectStore(clients.s3, event.bucket);
  const deleted = await removeIntermediates(store, event.storage, event.runId, event.stages, true);
  logger.info('cleaned up a failed run', { deleted });
  return { runId: event.runId, cleanup: { deletes: store.deletes, deleted } };
}

/** The Lambda entry point: a stage's run, or with `cleanup` a failed run's clean-up. */
export async function handler(event: unknown): Promise<DenseStageResult | DenseCleanupResult> {
  if (event !== null && typeof event === 'object' && (event as { cleanup?: unknown }).cleanup === true) {
    return runDenseCleanup(parseEvent(denseCleanupEventSchema, event, 'dense stage clean-up'), environmentClients());
  }
  return runDenseStage(parseEvent(denseStageEventSchema, event, 'dense stage'), environmentClients());
}
