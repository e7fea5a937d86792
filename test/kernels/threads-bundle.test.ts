// A Lambda function is one esbuild bundle: the kernel's helper threads must start from the bundle
// alone (their source is text in the bundle, not a file beside it) and give one thread's result.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { encodeNetwork } from '../../model/binary.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { writeRowsTsv } from '../../model/load.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { tempDirs } from '../helpers/tmp.ts';

describe('threaded kernel bundle', () => {
  const makeDir = tempDirs();

  it('runs a 2-thread kernel from an esbuild bundle alone, bit for bit with one thread in this process', async () => {
    const dir = makeDir();
    const bundle = join(dir, 'threads.mjs');
    await build({
      entryPoints: [resolve(import.meta.dirname, 'fixtures/threads-bundle-entry.ts')],
      bundle: true, platform: 'node', format: 'esm', target: 'node24', outfile: bundle, logLevel: 'silent',
    });
    const network = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 9 });
    const inputs = generateInputs({ neurons: 1024, samples: 80, seed: 9 });
    writeFileSync(join(dir, 'model.sdnn'), encodeNetwork(network));
    writeRowsTsv(join(dir, 'inputs.tsv'), inputs);
    expect(readdirSync(dir).sort()).toEqual(['inputs.tsv', 'model.sdnn', 'threads.mjs']);

    const run = spawnSync(process.execPath, [bundle, 'model.sdnn', 'inputs.tsv'], { cwd: dir, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const fromBundle = JSON.parse(run.stdout) as { backend: string; categories: number[]; activations: string };

    const expected = inferSerial(network, inputs);
    const digest = createHash('sha256');
    for (const part of [expected.activations.rowStart, expected.activations.columnIndex, expected.activations.value]) {
      digest.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
    }
    expect(fromBundle.backend).toBe('typescript (gather: wasm-simd, 2 threads)');
    expect(expected.categories.length).toBeGreaterThan(0);
    expect(fromBundle.categories).toEqual(expected.categories);
    expect(fromBundle.activations).toBe(digest.digest('hex'));
  });
});
