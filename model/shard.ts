// A worker's shard: exactly the rows of W it computes in every layer (its output neurons of each
// layer's map, the maps may vary by layer) and, per layer, whom it sends which activation rows to
// and whom it receives which from. An "activation row" is one neuron's activations over all
// samples (a column of Y). Layer l reads Y_{l-1}, distributed by maps[l-1]; worker w computes
// Y_l[:, j] for the j it owns in maps[l], so it needs Y_{l-1}[:, k] for every input k of those j:
//   sends    = for each k it owns in maps[l-1], the other workers owning an output of layer l that reads k
//   receives = for each other worker, the k it owns in maps[l-1] that one of w's outputs reads
//
// Binary layout (little-endian; every array starts 8-byte aligned, so it loads as typed-array
// views without copying):
//   0  magic "SISH"          4  format version (u32)     8  worker (u32)      12 worker count (u32)
//   16 layer count (u32)     20 neurons (u32)            24 bias (f64)        32 activation cap (f64)
//   40 plan id (16 ASCII hex digits)                     56 model checksum (32 bytes, SHA-256)
//   88 file bytes (u64)      96 CRC-32 of every byte of the file except these 4    100 reserved (u32)
//   104 section table: (layers + 1) x { byte offset u64, byte length u64 }
//   section 0: the worker's input neurons (maps[0]): count u32, reserved u32, neuron u32[count]
//   section l: counts { outputs m, nonzeros, send neurons s, send targets, receive sources r,
//              receive neurons, reserved x2 } (u32 each), then outputNeuron u32[m],
//              outputStart u32[m+1], inputIndex u32[nonzeros], weight f32[nonzeros],
//              sendNeuron u32[s], sendStart u32[s+1], sendTarget u32[..], receiveSource u32[r],
//              receiveStart u32[r+1], receiveNeuron u32[..]
// Neuron ids are global and ascending; a layer's rows are output-major with ascending inputs, as
// in SparseLayer. Loading refuses truncation, corruption, another plan, model or worker, naming
// the file and the field.

import { readDataFile } from './read-file.ts';
import { endianness } from 'node:os';
import { z } from 'zod';
import { fromZodError, ModelFormatError, UsageError } from './errors.ts';
import { fileCrc32 } from './checksum.ts';
import { fillInputMajorIndex, layerNonzeros, type SparseNetwork } from './network.ts';

export const SHARD_MAGIC = 'SISH';
export const SHARD_FORMAT_VERSION = 1;
const HEADER_BYTES = 104;
const TABLE_ENTRY_BYTES = 16;
const CHECKSUM_OFFSET = 96;
const PLAN_ID_BYTES = 16;
const MODEL_CHECKSUM_BYTES = 32;
const LAYER_COUNTS = 8;

const align8 = (n: number) => (n + 7) & ~7;

/** What a shard belongs to; loading compares it with what the caller expects. */
export interface ShardIdentity {
  /** The plan id (16 hex digits). */
  readonly planId: string;
  /** SHA-256 hex of the network (model/checksum.ts networkChecksum). */
  readonly modelChecksum: string;
  readonly worker: number;
  readonly workers: number;
}

export interface ShardLayer {
  /** 1-based. */
  readonly layer: number;
  /** Output neurons this worker computes, ascending. */
  readonly outputNeuron: Uint32Array;
  /** Output i reads inputIndex[outputStart[i] .. outputStart[i+1]) with those weights. */
  readonly outputStart: Uint32Array;
  readonly inputIndex: Uint32Array;
  readonly weight: Float32Array;
  /** Neurons of maps[l-1] this worker owns that others need, ascending; neuron i goes to sendTarget[sendStart[i] .. sendStart[i+1]). */
  readonly sendNeuron: Uint32Array;
  readonly sendStart: Uint32Array;
  readonly sendTarget: Uint32Array;
  /** Workers this worker receives from, ascending; source i sends receiveNeuron[receiveStart[i] .. receiveStart[i+1]). */
  readonly receiveSource: Uint32Array;
  readonly receiveStart: Uint32Array;
  readonly receiveNeuron: Uint32Array;
}

export interface Shard extends ShardIdentity {
  readonly formatVersion: number;
  readonly neurons: number;
  readonly bias: number;
  readonly activationCap: number;
  /** The worker's neurons of maps[0]: the input columns it is given. */
  readonly inputNeuron: Uint32Array;
  readonly layers: readonly ShardLayer[];
  readonly bytes: number;
  /** CRC-32 stored in (and verified against) the file. */
  readonly checksum: number;
}

type LayerArrays = Omit<ShardLayer, 'layer'>;
const LAYER_ARRAYS: readonly (keyof LayerArrays)[] = [
  'outputNeuron', 'outputStart', 'inputIndex', 'weight', 'sendNeuron', 'sendStart', 'sendTarget', 'receiveSource', 'receiveStart', 'receiveNeuron',
];

function layerSectionBytes(a: LayerArrays): number {
  let bytes = 4 * LAYER_COUNTS;
  for (const name of LAYER_ARRAYS) bytes += align8(a[name].byteLength);
  return bytes;
}

/** The bytes of one shard. */
export function encodeShard(shard: Omit<Shard, 'formatVersion' | 'bytes' | 'checksum'>): Uint8Array {
  if (endianness() !== 'LE') throw new UsageError('shards are little-endian; this host is big-endian');
  if (!/^[0-9a-f]{16}$/.test(shard.planId)) throw new UsageError(`plan id "${shard.planId}" is not 16 hex digits`, { field: 'planId' });
  if (!/^[0-9a-f]{64}$/.test(shard.modelChecksum)) throw new UsageError('the model checksum is not a SHA-256 hex digest', { field: 'modelChecksum' });
  const sections = [align8(8 + shard.inputNeuron.byteLength), ...shard.layers.map(layerSectionBytes)];
  const tableBytes = TABLE_ENTRY_BYTES * sections.length;
  const size = HEADER_BYTES + align8(tableBytes) + sections.reduce((t, s) => t + s, 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(Buffer.from(SHARD_MAGIC, 'latin1'), 0);
  view.setUint32(4, SHARD_FORMAT_VERSION, true);
  view.setUint32(8, shard.worker, true);
  view.setUint32(12, shard.workers, true);
  view.setUint32(16, shard.layers.length, true);
  view.setUint32(20, shard.neurons, true);
  view.setFloat64(24, shard.bias, true);
  view.setFloat64(32, shard.activationCap, true);
  bytes.set(Buffer.from(shard.planId, 'latin1'), 40);
  bytes.set(Buffer.from(shard.modelChecksum, 'hex'), 56);
  view.setBigUint64(88, BigInt(size), true);
  let at = HEADER_BYTES + align8(tableBytes);
  const put = (a: Uint32Array | Float32Array) => {
    bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += align8(a.byteLength);
  };
  sections.forEach((length, s) => {
    view.setBigUint64(HEADER_BYTES + s * TABLE_ENTRY_BYTES, BigInt(at), true);
    view.setBigUint64(HEADER_BYTES + s * TABLE_ENTRY_BYTES + 8, BigInt(length), true);
    if (s === 0) {
      view.setUint32(at, shard.inputNeuron.length, true);
      at += 8;
      put(shard.inputNeuron);
      return;
    }
    const a = shard.layers[s - 1];
    const counts = [a.outputNeuron.length, a.inputIndex.length, a.sendNeuron.length, a.sendTarget.length, a.receiveSource.length, a.receiveNeuron.length, 0, 0];
    counts.forEach((c, i) => view.setUint32(at + 4 * i, c, true));
    at += 4 * LAYER_COUNTS;
    for (const name of LAYER_ARRAYS) put(a[name]);
  });
  view.setUint32(CHECKSUM_OFFSET, fileCrc32(bytes, CHECKSUM_OFFSET), true);
  return bytes;
}

/**
 * Decodes and checks a shard. The arrays are views into `bytes` (copied once if it is not 8-byte
 * aligned). Refuses, naming `file` and the field: a truncated or oversized file, a bad magic or
 * version, a checksum mismatch (corruption), and any identity field that differs from `expect`.
 */
export function decodeShard(bytes: Uint8Array, file: string, expect: Partial<ShardIdentity> = {}): Shard {
  const fail = (message: string, field?: string, worker?: number): never => { throw new ModelFormatError(message, { file, worker, field }); };
  if (bytes.length < HEADER_BYTES) fail(`truncated: ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`, 'header');
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== SHARD_MAGIC) fail('not a stepinfer shard (bad magic)', 'magic');
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const view = new DataView(aligned.buffer, aligned.byteOffset, aligned.byteLength);
  const formatVersion = view.getUint32(4, true);
  if (formatVersion !== SHARD_FORMAT_VERSION) fail(`shard format version ${formatVersion} is not supported (this build reads ${SHARD_FORMAT_VERSION})`, 'formatVersion');
  const fileBytes = Number(view.getBigUint64(88, true));
  if (aligned.length !== fileBytes) {
    fail(aligned.length < fileBytes ? `truncated: ${aligned.length} bytes, the header says ${fileBytes}` : `${aligned.length - fileBytes} unexpected bytes after the ${fileBytes} the header says`, 'fileBytes');
  }
  const checksum = view.getUint32(CHECKSUM_OFFSET, true);
  const actual = fileCrc32(aligned, CHECKSUM_OFFSET);
  if (actual !== checksum) fail(`checksum mismatch (stored ${checksum.toString(16)}, computed ${actual.toString(16)}): the file is corrupt`, 'checksum');
  const worker = view.getUint32(8, true);
  const workers = view.getUint32(12, true);
  const layerCount = view.getUint32(16, true);
  const neurons = view.getUint32(20, true);
  const planId = Buffer.from(aligned.subarray(40, 40 + PLAN_ID_BYTES)).toString('latin1');
  const modelChecksum = Buffer.from(aligned.subarray(56, 56 + MODEL_CHECKSUM_BYTES)).toString('hex');
  if (expect.planId !== undefined && planId !== expect.planId) fail(`belongs to plan ${planId}, expected plan ${expect.planId}`, 'planId');
  if (expect.modelChecksum !== undefined && modelChecksum !== expect.modelChecksum) {
    fail(`was cut from model ${modelChecksum.slice(0, 12)}..., expected model ${expect.modelChecksum.slice(0, 12)}...`, 'modelChecksum');
  }
  if (expect.workers !== undefined && workers !== expect.workers) fail(`is one of ${workers} workers' shards, the plan has ${expect.workers} workers`, 'workers');
  if (expect.worker !== undefined && worker !== expect.worker) fail(`is worker ${worker}'s shard, expected worker ${expect.worker}`, 'worker');
  if (worker >= workers) fail(`worker ${worker} is not one of the ${workers} workers`, 'worker');
  if (neurons < 1 || layerCount < 1) fail(`${neurons} neurons and ${layerCount} layers`, 'layers');

  // Sections: each where the table says, inside the file.
  const tableEnd = HEADER_BYTES + align8(TABLE_ENTRY_BYTES * (layerCount + 1));
  if (tableEnd > fileBytes) fail(`the table of ${layerCount + 1} sections runs past the file`, 'sections');
  const section = (s: number): { at: number; end: number } => {
    const at = Number(view.getBigUint64(HEADER_BYTES + s * TABLE_ENTRY_BYTES, true));
    const end = at + Number(view.getBigUint64(HEADER_BYTES + s * TABLE_ENTRY_BYTES + 8, true));
    if (at < tableEnd || at % 8 !== 0 || end > fileBytes) fail(`section ${s} (${at}..${end}) is outside the file's body`, 'sections');
    return { at, end };
  };
  const u32 = (at: number, count: number, end: number, field: string, layer?: number): Uint32Array => {
    if (at + 4 * count > end) throw new ModelFormatError(`${field} runs past its section`, { file, layer, field });
    return new Uint32Array(aligned.buffer, aligned.byteOffset + at, count);
  };
  const s0 = section(0);
  const inputCount = view.getUint32(s0.at, true);
  const inputNeuron = u32(s0.at + 8, inputCount, s0.end, 'inputNeuron');
  checkAscending(inputNeuron, neurons, 'inputNeuron', file);

  const layers: ShardLayer[] = [];
  for (let l = 1; l <= layerCount; l++) {
    const { at: start, end } = section(l);
    if (start + 4 * LAYER_COUNTS > end) throw new ModelFormatError('layer counts run past the section', { file, layer: l, field: 'sections' });
    const [m, nnz, s, st, r, rn] = Array.from({ length: 6 }, (_, i) => view.getUint32(start + 4 * i, true));
    const lengths: Record<keyof LayerArrays, number> = {
      outputNeuron: m, outputStart: m + 1, inputIndex: nnz, weight: nnz,
      sendNeuron: s, sendStart: s + 1, sendTarget: st, receiveSource: r, receiveStart: r + 1, receiveNeuron: rn,
    };
    let at = start + 4 * LAYER_COUNTS;
    const arrays = {} as Record<keyof LayerArrays, Uint32Array | Float32Array>;
    for (const name of LAYER_ARRAYS) {
      const a = u32(at, lengths[name], end, name, l);
      arrays[name] = name === 'weight' ? new Float32Array(a.buffer, a.byteOffset, a.length) : a;
      at += align8(4 * lengths[name]);
    }
    const layer = { layer: l, ...arrays } as ShardLayer;
    validateShardLayer(layer, { neurons, worker, workers, file });
    layers.push(layer);
  }
  return {
    formatVersion, planId, modelChecksum, worker, workers, neurons,
    bias: view.getFloat64(24, true), activationCap: view.getFloat64(32, true),
    inputNeuron, layers, bytes: fileBytes, checksum,
  };
}

function checkAscending(a: Uint32Array, limit: number, field: string, file: string, layer?: number): void {
  for (let i = 0; i < a.length; i++) {
    if (a[i] >= limit) throw new ModelFormatError(`${field}[${i}] = ${a[i]} is not below ${limit}`, { file, layer, field });
    if (i > 0 && a[i] <= a[i - 1]) throw new ModelFormatError(`${field} is not strictly ascending at ${i}`, { file, layer, field });
  }
}

function checkStarts(start: Uint32Array, total: number, field: string, file: string, layer: number): void {
  if (start[0] !== 0) throw new ModelFormatError(`${field}[0] must be 0`, { file, layer, field });
  for (let i = 1; i < start.length; i++) {
    if (start[i] < start[i - 1]) throw new ModelFormatError(`${field} decreases at ${i}`, { file, layer, field });
  }
  if (start[start.length - 1] !== total) throw new ModelFormatError(`${field} ends at ${start[start.length - 1]}, the section holds ${total}`, { file, layer, field });
}

/** Structure of a decoded layer: ranges, order, finite weights (a shard that passed its CRC was still maybe written wrong). */
function validateShardLayer(a: ShardLayer, c: { neurons: number; worker: number; workers: number; file: string }): void {
  const { file } = c;
  const l = a.layer;
  checkAscending(a.outputNeuron, c.neurons, 'outputNeuron', file, l);
  checkStarts(a.outputStart, a.inputIndex.length, 'outputStart', file, l);
  for (let i = 0; i < a.outputNeuron.length; i++) {
    const lo = a.outputStart[i], hi = a.outputStart[i + 1];
    checkAscending(a.inputIndex.subarray(lo, hi), c.neurons, 'inputIndex', file, l);
    for (let e = lo; e < hi; e++) {
      if (!Number.isFinite(a.weight[e])) throw new ModelFormatError(`weight of output ${a.outputNeuron[i]} is ${a.weight[e]}`, { file, layer: l, field: 'weight' });
    }
  }
  checkAscending(a.sendNeuron, c.neurons, 'sendNeuron', file, l);
  checkStarts(a.sendStart, a.sendTarget.length, 'sendStart', file, l);
  for (let i = 0; i < a.sendNeuron.length; i++) {
    const targets = a.sendTarget.subarray(a.sendStart[i], a.sendStart[i + 1]);
    checkAscending(targets, c.workers, 'sendTarget', file, l);
    if (targets.includes(c.worker)) throw new ModelFormatError(`neuron ${a.sendNeuron[i]} is sent to its own worker`, { file, layer: l, field: 'sendTarget' });
  }
  checkAscending(a.receiveSource, c.workers, 'receiveSource', file, l);
  if (a.receiveSource.includes(c.worker)) throw new ModelFormatError('a worker does not receive from itself', { file, layer: l, field: 'receiveSource' });
  checkStarts(a.receiveStart, a.receiveNeuron.length, 'receiveStart', file, l);
  for (let i = 0; i < a.receiveSource.length; i++) {
    checkAscending(a.receiveNeuron.subarray(a.receiveStart[i], a.receiveStart[i + 1]), c.neurons, 'receiveNeuron', file, l);
  }
}

/** Reads and decodes a shard file (see decodeShard). */
export function readShardFile(file: string, expect: Partial<ShardIdentity> = {}): Shard {
  return decodeShard(readDataFile(file, 'shard file not found (stepinfer shards <plan.json> -o <dir> writes them)'), file, expect);
}

/**
 * Cuts `network` into the shards of every worker for the maps `owners` (index 0 = inputs,
 * l = layer l's outputs, each N owners below `identity.workers`).
 */
export function buildShards(network: SparseNetwork, owners: readonly Uint16Array[], identity: Omit<ShardIdentity, 'worker'>): Omit<Shard, 'formatVersion' | 'bytes' | 'checksum'>[] {
  const n = network.neurons, p = identity.workers, L = network.layers.length;
  if (owners.length !== L + 1) throw new UsageError(`${owners.length} neuron maps for ${L} layers (needs ${L + 1})`, { field: 'maps' });
  const layersByWorker: ShardLayer[][] = Array.from({ length: p }, () => []);
  const inputStart = new Uint32Array(n + 1), cursor = new Uint32Array(n);
  const stamp = new Int32Array(p).fill(-1);
  for (let l = 1; l <= L; l++) {
    const layer = network.layers[l - 1];
    const from = owners[l - 1], to = owners[l];
    const nnz = layerNonzeros(layer);
    // Input-major index: who reads each input k.
    const outputIndex = new Uint32Array(nnz);
    fillInputMajorIndex(layer, inputStart, outputIndex, cursor);
    // targets of k (other than its owner), ascending.
    const targetStart = new Uint32Array(n + 1);
    const targetList: number[] = [];
    for (let k = 0; k < n; k++) {
      const first = targetList.length;
      for (let e = inputStart[k]; e < inputStart[k + 1]; e++) {
        const w = to[outputIndex[e]];
        if (w !== from[k] && stamp[w] !== k) { stamp[w] = k; targetList.push(w); }
      }
      const added = targetList.slice(first).sort((a, b) => a - b);
      for (let i = 0; i < added.length; i++) targetList[first + i] = added[i];
      targetStart[k + 1] = targetList.length;
    }
    stamp.fill(-1);
    // Per worker: its outputs with their weights, its sends, its receives (grouped by source).
    const outputs: number[][] = Array.from({ length: p }, () => []);
    for (let j = 0; j < n; j++) outputs[to[j]].push(j);
    const sends: number[][] = Array.from({ length: p }, () => []);
    const receives: number[][] = Array.from({ length: p }, () => []);
    for (let k = 0; k < n; k++) {
      if (targetStart[k + 1] === targetStart[k]) continue;
      sends[from[k]].push(k);
      for (let i = targetStart[k]; i < targetStart[k + 1]; i++) receives[targetList[i]].push(k);
    }
    for (let w = 0; w < p; w++) {
      const outputNeuron = Uint32Array.from(outputs[w]);
      const outputStart = new Uint32Array(outputNeuron.length + 1);
      for (let i = 0; i < outputNeuron.length; i++) {
        const j = outputNeuron[i];
        outputStart[i + 1] = outputStart[i] + layer.outputStart[j + 1] - layer.outputStart[j];
      }
      const inputIndex = new Uint32Array(outputStart[outputNeuron.length]);
      const weight = new Float32Array(inputIndex.length);
      for (let i = 0; i < outputNeuron.length; i++) {
        const j = outputNeuron[i], lo = layer.outputStart[j], hi = layer.outputStart[j + 1];
        inputIndex.set(layer.inputIndex.subarray(lo, hi), outputStart[i]);
        weight.set(layer.weight.subarray(lo, hi), outputStart[i]);
      }
      const sendNeuron = Uint32Array.from(sends[w]);
      const sendStart = new Uint32Array(sendNeuron.length + 1);
      const sendTarget: number[] = [];
      sendNeuron.forEach((k, i) => {
        for (let t = targetStart[k]; t < targetStart[k + 1]; t++) sendTarget.push(targetList[t]);
        sendStart[i + 1] = sendTarget.length;
      });
      // receives[w] is ascending in k; a stable sort by source keeps each source's k ascending.
      const received = receives[w].map((k) => ({ k, source: from[k] })).sort((a, b) => a.source - b.source);
      const receiveSource: number[] = [];
      const receiveStart: number[] = [0];
      for (let i = 0; i < received.length; i++) {
        if (i === 0 || received[i].source !== received[i - 1].source) {
          if (i > 0) receiveStart.push(i);
          receiveSource.push(received[i].source);
        }
      }
      if (received.length > 0) receiveStart.push(received.length);
      layersByWorker[w].push({
        layer: l, outputNeuron, outputStart, inputIndex, weight,
        sendNeuron, sendStart, sendTarget: Uint32Array.from(sendTarget),
        receiveSource: Uint32Array.from(receiveSource), receiveStart: Uint32Array.from(receiveStart),
        receiveNeuron: Uint32Array.from(received.map((x) => x.k)),
      });
    }
  }
  return Array.from({ length: p }, (_, w) => {
    const inputs: number[] = [];
    for (let k = 0; k < n; k++) if (owners[0][k] === w) inputs.push(k);
    return {
      planId: identity.planId, modelChecksum: identity.modelChecksum, worker: w, workers: p,
      neurons: n, bias: network.bias, activationCap: network.activationCap,
      inputNeuron: Uint32Array.from(inputs), layers: layersByWorker[w],
    };
  });
}

/**
 * The manifest `stepinfer shards` writes beside the shards: what the pure planner cannot know,
 * every shard's size and checksum (CRC-32 of the whole file, as S3's ChecksumCRC32 takes it).
 */
export const shardManifestSchema = z.object({
  kind: z.literal('stepinfer-shard-manifest'),
  formatVersion: z.literal(1),
  planId: z.string().regex(/^[0-9a-f]{16}$/),
  modelChecksum: z.string().regex(/^[0-9a-f]{64}$/),
  shardFormatVersion: z.literal(SHARD_FORMAT_VERSION),
  workers: z.array(z.object({
    worker: z.number().int().nonnegative(),
    key: z.string().min(1),
    file: z.string().min(1),
    bytes: z.number().int().positive(),
    crc32: z.string().regex(/^[0-9a-f]{8}$/),
  }).strict()).min(1),
}).strict();

export type ShardManifest = z.infer<typeof shardManifestSchema>;

/** Parses a shard manifest; errors name `file` and the field. */
export function parseShardManifest(json: unknown, file: string): ShardManifest {
  const parsed = shardManifestSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, file);
  parsed.data.workers.forEach((w, i) => {
    if (w.worker !== i) throw new ModelFormatError(`entry ${i} is worker ${w.worker}: workers are listed in order`, { file, field: `workers[${i}].worker` });
  });
  return parsed.data;
}
