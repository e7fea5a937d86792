// The shard format: a round trip keeps every array; a shard holds exactly its worker's rows and
// consistent sends and receives; loading refuses truncation, corruption and another plan, model
// or worker, naming the file and the field; the manifest is checked.

import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { networkChecksum } from '../../model/checksum.ts';
import { FileAccessError, ModelFormatError, ShapeMismatchError } from '../../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { SeededRandom } from '../../model/random.ts';
import { buildShards, decodeShard, encodeShard, parseShardManifest, readShardFile, type Shard } from '../../model/shard.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { runShardsInMemory } from '../../functions/worker/in-memory.ts';
import { ShardWorker } from '../../functions/worker/shard-worker.ts';
import { tempDirs } from '../helpers/tmp.ts';

const network = generateRadixNetwork({ neurons: 1024, layers: 4, seed: 3 });
const P = 3;
const planId = '0123456789abcdef';
const modelChecksum = networkChecksum(network);

/** A different random map per layer (layer-varying), balanced. */
function layerVaryingMaps(neurons: number, layers: number, workers: number, seed: number): Uint16Array[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: layers + 1 }, () => {
    const order = Array.from({ length: neurons }, (_, j) => j);
    for (let i = neurons - 1; i > 0; i--) {
      const k = random.nextInt(i + 1);
      [order[i], order[k]] = [order[k], order[i]];
    }
    const owner = new Uint16Array(neurons);
    order.forEach((j, i) => { owner[j] = i % workers; });
    return owner;
  });
}

const maps = layerVaryingMaps(1024, 4, P, 5);
const built = buildShards(network, maps, { planId, modelChecksum, workers: P });
const bytes = built.map(encodeShard);
const decoded = (w: number): Shard => decodeShard(bytes[w], `w${w}.shard`, { planId, modelChecksum, worker: w, workers: P });

describe('shard contents', () => {
  it('round-trips every field and array', () => {
    for (let w = 0; w < P; w++) {
      const s = decoded(w);
      expect(s).toMatchObject({ formatVersion: 1, planId, modelChecksum, worker: w, workers: P, neurons: 1024, bias: network.bias, activationCap: 32, bytes: bytes[w].length });
      expect(Array.from(s.inputNeuron)).toEqual(Array.from(built[w].inputNeuron));
      expect(s.layers).toHaveLength(4);
      s.layers.forEach((layer, i) => {
        const b = built[w].layers[i];
        expect(layer.layer).toBe(i + 1);
        for (const name of ['outputNeuron', 'outputStart', 'inputIndex', 'weight', 'sendNeuron', 'sendStart', 'sendTarget', 'receiveSource', 'receiveStart', 'receiveNeuron'] as const) {
          expect(Array.from(layer[name]), `worker ${w} layer ${i + 1} ${name}`).toEqual(Array.from(b[name]));
        }
      });
    }
  });

  it('holds exactly its worker\'s rows, and sends exactly what the others receive', () => {
    const shards = [0, 1, 2].map(decoded);
    for (let l = 1; l <= 4; l++) {
      const layer = network.layers[l - 1];
      // Every output neuron is owned by exactly one worker, with the network's row.
      const seen = new Uint8Array(1024);
      for (const s of shards) {
        const a = s.layers[l - 1];
        a.outputNeuron.forEach((j, i) => {
          seen[j]++;
          expect(maps[l][j]).toBe(s.worker);
          const lo = layer.outputStart[j], hi = layer.outputStart[j + 1];
          expect(Array.from(a.inputIndex.subarray(a.outputStart[i], a.outputStart[i + 1]))).toEqual(Array.from(layer.inputIndex.subarray(lo, hi)));
          expect(Array.from(a.weight.subarray(a.outputStart[i], a.outputStart[i + 1]))).toEqual(Array.from(layer.weight.subarray(lo, hi)));
        });
      }
      expect(seen.every((c) => c === 1)).toBe(true);
      // (source, target, neuron) triples sent and received are the same set, and are exactly the
      // inputs a worker's outputs read that another worker owns.
      const sent: string[] = [], received: string[] = [], needed = new Set<string>();
      for (const s of shards) {
        const a = s.layers[l - 1];
        a.sendNeuron.forEach((k, i) => {
          expect(maps[l - 1][k]).toBe(s.worker);
          for (let t = a.sendStart[i]; t < a.sendStart[i + 1]; t++) sent.push(`${s.worker}>${a.sendTarget[t]}:${k}`);
        });
        a.receiveSource.forEach((source, i) => {
          for (let e = a.receiveStart[i]; e < a.receiveStart[i + 1]; e++) received.push(`${source}>${s.worker}:${a.receiveNeuron[e]}`);
        });
        for (let e = 0; e < a.inputIndex.length; e++) {
          const k = a.inputIndex[e];
          if (maps[l - 1][k] !== s.worker) needed.add(`${maps[l - 1][k]}>${s.worker}:${k}`);
        }
      }
      expect(sent.sort()).toEqual(received.sort());
      expect(new Set(sent)).toEqual(needed);
    }
  });

  it('run each on its own, the shards reproduce serial inference bit for bit', () => {
    const inputs = generateInputs({ neurons: 1024, samples: 300, seed: 3 });
    const serial = inferSerial(network, inputs);
    const run = runShardsInMemory([0, 1, 2].map(decoded), inputs);
    expect(Buffer.from(run.activations.rowStart.buffer).equals(Buffer.from(serial.activations.rowStart.buffer))).toBe(true);
    expect(Buffer.from(run.activations.columnIndex.buffer).equals(Buffer.from(serial.activations.columnIndex.buffer))).toBe(true);
    expect(Buffer.from(run.activations.value.buffer).equals(Buffer.from(serial.activations.value.buffer))).toBe(true);
    expect(run.categories).toEqual(serial.categories);
    expect(run.categories.length).toBeGreaterThan(0);
    expect(run.sentNonzeros).toBeGreaterThan(0);
  });

  it('a worker refuses rows that are not what its shard lists', () => {
    const inputs = generateInputs({ neurons: 1024, samples: 20, seed: 3 });
    const workers = [0, 1, 2].map((w) => new ShardWorker(decoded(w)));
    const own = workers.map((w) => w.inputSlice(inputs));
    const toOne = workers.flatMap((w, source) => w.outgoing(1, own[source]).filter((o) => o.target === 1).map((o) => ({ source, slice: o.slice })));
    expect(toOne.map((x) => x.source)).toEqual([0, 2]);
    expect(() => workers[1].computeLayer(1, own[1], toOne.slice(0, 1))).toThrow(ShapeMismatchError);
    expect(() => workers[1].computeLayer(1, own[1], toOne.slice(0, 1))).toThrow(/^layer 1, worker 1: received from workers \[0\], the shard expects \[0, 2\]$/);
    const swapped = [toOne[0], { source: 2, slice: toOne[0].slice }];
    expect(() => workers[1].computeLayer(1, own[1], swapped)).toThrow(/^layer 1, worker 1: worker 2 sent \d+ neurons, not the \d+ the shard lists$/);
  });
});

describe('loading a shard refuses', () => {
  const newDir = tempDirs();
  const file = 'w1.shard';
  const good = bytes[1];
  const refusal = (data: Uint8Array, expect_: Parameters<typeof decodeShard>[2] = { planId, modelChecksum, worker: 1, workers: P }) => {
    try {
      decodeShard(data, file, expect_);
    } catch (error) {
      expect(error).toBeInstanceOf(ModelFormatError);
      return (error as Error).message;
    }
    throw new Error('the shard was accepted');
  };

  it('truncation and trailing bytes', () => {
    expect(refusal(good.subarray(0, 50))).toBe('w1.shard, field header: truncated: 50 bytes is shorter than the 104-byte header');
    expect(refusal(good.subarray(0, good.length - 8))).toBe(`w1.shard, field fileBytes: truncated: ${good.length - 8} bytes, the header says ${good.length}`);
    const longer = new Uint8Array(good.length + 8);
    longer.set(good);
    expect(refusal(longer)).toBe(`w1.shard, field fileBytes: 8 unexpected bytes after the ${good.length} the header says`);
  });

  it('corruption anywhere, header or body', () => {
    for (const at of [9, 60, 500, good.length - 3]) {
      const bad = Uint8Array.from(good);
      bad[at] ^= 0x10;
      expect(refusal(bad)).toMatch(/^w1\.shard, field checksum: checksum mismatch \(stored [0-9a-f]+, computed [0-9a-f]+\): the file is corrupt$/);
    }
    const magic = Uint8Array.from(good);
    magic[0] = 0x41;
    expect(refusal(magic)).toBe('w1.shard, field magic: not a stepinfer shard (bad magic)');
    const version = Uint8Array.from(good);
    version[4] = 9;
    expect(refusal(version)).toBe('w1.shard, field formatVersion: shard format version 9 is not supported (this build reads 1)');
  });

  it('another plan, model, worker count or worker', () => {
    expect(refusal(good, { planId: 'fedcba9876543210' })).toBe('w1.shard, field planId: belongs to plan 0123456789abcdef, expected plan fedcba9876543210');
    expect(refusal(good, { modelChecksum: 'ab'.repeat(32) })).toBe(`w1.shard, field modelChecksum: was cut from model ${modelChecksum.slice(0, 12)}..., expected model abababababab...`);
    expect(refusal(good, { workers: 4 })).toBe('w1.shard, field workers: is one of 3 workers\' shards, the plan has 4 workers');
    expect(refusal(good, { worker: 2 })).toBe('w1.shard, field worker: is worker 1\'s shard, expected worker 2');
  });

  it('a missing file, and a file read from disk the same as from memory', () => {
    const dir = newDir();
    expect(() => readShardFile(join(dir, 'none.shard'))).toThrow(FileAccessError);
    expect(() => readShardFile(join(dir, 'none.shard'))).toThrow(/none\.shard: shard file not found/);
    const path = join(dir, 'w1.shard');
    writeFileSync(path, good);
    expect(readShardFile(path, { planId, worker: 1 }).checksum).toBe(decoded(1).checksum);
  });
});

describe('the shard manifest', () => {
  const manifest = {
    kind: 'stepinfer-shard-manifest', formatVersion: 1, planId, modelChecksum, shardFormatVersion: 1,
    workers: [{ worker: 0, key: 'shards/worker-0.shard', file: 'worker-0.shard', bytes: 10, crc32: '0badf00d' }],
  };

  it('parses, and refuses entries out of order or malformed, naming the field', () => {
    expect(parseShardManifest(manifest, 'manifest.json')).toEqual(manifest);
    const shuffled = { ...manifest, workers: [{ ...manifest.workers[0], worker: 1 }] };
    expect(() => parseShardManifest(shuffled, 'manifest.json')).toThrow(/^manifest\.json, field workers\[0\]\.worker: entry 0 is worker 1: workers are listed in order$/);
    const badCrc = { ...manifest, workers: [{ ...manifest.workers[0], crc32: 'xyz' }] };
    expect(() => parseShardManifest(badCrc, 'manifest.json')).toThrow(/^manifest\.json, field workers\[0\]\.crc32:/);
  });
});
