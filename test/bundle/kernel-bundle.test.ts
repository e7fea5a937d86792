// A Lambda deployment is one esbuild bundle: the kernel (its WebAssembly included) must run from
// the bundle alone, in a folder with no node_modules and no sources beside it, and give exactly
// what the same code gives in this process.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { encodeNetwork } from '../../model/binary.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { writeRowsTsv } from '../../model/load.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { tempDirs } from '../helpers/tmp.ts';

describe('kernel bundle', () => {
  const makeDir = tempDirs();

  it('runs serial inference of a small model from an esbuild bundle alone, bit for bit', async () => {
    const dir = makeDir();
    const bundle = join(dir, 'serial.mjs');
    await build({
      entryPoints: [resolve(import.meta.dirname, '../fixtures/serial-bundle-entry.ts')],
      bundle: true, platform: 'node', format: 'esm', target: 'node24', outfile: bundle, logLevel: 'silent',
    });
    const text = readFileSync(bundle, 'utf8');
    expect(text).not.toContain('import.meta.url');
    expect(text).not.toContain('gpu.js');

    const network = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 7 });
    const inputs = generateInputs({ neurons: 1024, samples: 64, seed: 7 });
    writeFileSync(join(dir, 'model.sdnn'), encodeNetwork(network));
    writeRowsTsv(join(dir, 'inputs.tsv'), inputs);
    expect(readdirSync(dir).sort()).toEqual(['inputs.tsv', 'model.sdnn', 'serial.mjs']);

    const run = spawnSync(process.execPath, [bundle, 'model.sdnn', 'inputs.tsv'], { cwd: dir, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const fromBundle = JSON.parse(run.stdout) as { categories: number[]; activations: string };

    const expected = inferSerial(network, inputs);
    const digest = createHash('sha256');
    for (const part of [expected.activations.rowStart, expected.activations.columnIndex, expected.activations.value]) {
      digest.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
    }
    expect(fromBundle.categories).toEqual(expected.categories);
    expect(expected.categories.length).toBeGreaterThan(0);
    expect(fromBundle.activations).toBe(digest.digest('hex'));
  });
});
