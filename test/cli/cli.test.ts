// The command line as a user runs it: a child process on the pinned Node, real files.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateRadixNetwork } from '../../model/generate.ts';
import { nodeVersionProblem } from '../../bin/node-version.mjs';
import { tempDirs } from '../helpers/tmp.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');

function stepinfer(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function writeNetworkTsvDir(dir: string, neurons: number, layers: number): string {
  const weights = join(dir, `neuron${neurons}`);
  mkdirSync(weights);
  generateRadixNetwork({ neurons, layers, seed: 3, bias: -0.3 }).layers.forEach((layer, l) => {
    const lines: string[] = [];
    for (let j = 0; j < neurons; j++) {
      for (let e = layer.outputStart[j]; e < layer.outputStart[j + 1]; e++) lines.push(`${layer.inputIndex[e] + 1}\t${j + 1}\t${layer.weight[e]}`);
    }
    writeFileSync(join(weights, `n${neurons}-l${l + 1}.tsv`), `${lines.join('\n')}\n`);
  });
  return weights;
}

describe('stepinfer CLI', () => {
  const newDir = tempDirs();

  it('generates a model and inputs, describes it and runs serial inference, all with --json', () => {
    const dir = newDir();
    const model = join(dir, 'g.sdnn'), inputs = join(dir, 'in.tsv'), activations = join(dir, 'out.tsv');
    const gen = stepinfer('model', 'generate', '--shape', '1024x10', '-o', model, '--inputs', inputs, '--samples', '300', '--seed', '4', '--json');
    expect(gen.code, gen.stderr).toBe(0);
    expect(JSON.parse(gen.stdout)).toMatchObject({ neurons: 1024, layers: 10, nonzeros: 327_680, samples: 300, seed: 4, fanIn: { min: 32, max: 32 } });

    const info = stepinfer('model', 'info', model, '--json');
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'sdnn v1', neurons: 1024, layers: 10, bias: -0.3, checksumVerified: true });

    const run = stepinfer('infer', '--serial', '--model', model, '--inputs', inputs, '--activations', activations, '--json');
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ source: 'files', backend: 'typescript (gather: wasm-simd)', neurons: 1024, layers: 10, inputs: 300 });
    expect(result.categoryCount).toBe(result.categories.length);
    expect(result.categoryCount).toBeGreaterThan(0);
    const rowsWithOutput = new Set(readFileSync(activations, 'utf8').trim().split('\n').map((line) => Number(line.split('\t')[0])));
    expect([...rowsWithOutput].sort((a, b) => a - b)).toEqual(result.categories);
  });

  it('converts a TSV directory to .sdnn and both give the same categories; a truth file is checked', () => {
    const dir = newDir();
    const weights = writeNetworkTsvDir(dir, 1024, 4);
    const model = join(dir, 'c.sdnn'), inputs = join(dir, 'in.tsv');
    expect(stepinfer('model', 'generate', '--shape', '1024x1', '-o', join(dir, 'unused.sdnn'), '--inputs', inputs, '--samples', '100').code).toBe(0);
    const convert = stepinfer('model', 'convert', weights, '-o', model, '--json');
    expect(convert.code, convert.stderr).toBe(0);
    expect(JSON.parse(convert.stdout)).toMatchObject({ neurons: 1024, layers: 4 });
    const fromTsv = JSON.parse(stepinfer('infer', '--serial', '--model', weights, '--inputs', inputs, '--json').stdout);
    const fromBinary = JSON.parse(stepinfer('infer', '--serial', '--model', model, '--inputs', inputs, '--json').stdout);
    expect(fromBinary.categories).toEqual(fromTsv.categories);

    const truth = join(dir, 'truth.tsv');
    writeFileSync(truth, `${fromTsv.categories.join('\n')}\n`);
    expect(stepinfer('infer', '--serial', '--model', model, '--inputs', inputs, '--truth', truth).code).toBe(0);
    writeFileSync(truth, `${fromTsv.categories.slice(1).join('\n')}\n`);
    const mismatch = stepinfer('infer', '--serial', '--model', model, '--inputs', inputs, '--truth', truth);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(`${truth}: categories differ from the truth: 0 missing, 1 extra (${fromTsv.categories[0]})`);
  });

  it.each([
    [['infer', '--serial', '--model', '/nonexistent/m.sdnn', '--inputs', 'x.tsv'], 1, 'stepinfer: /nonexistent/m.sdnn: model not found'],
    [['infer', '--model', 'm.sdnn'], 2, 'infer needs --serial'],
    // The plan is read before the model: a missing plan fails even where the model is missing too.
    [['infer', '--plan', '/nonexistent/plan.json', '--model', '/nonexistent/m.sdnn', '--inputs', 'x.tsv'], 1, 'stepinfer: /nonexistent/plan.json: plan file not found'],
    [['run', '--plan', '/nonexistent/plan.json', '--model', '/nonexistent/m.sdnn', '--inputs', 'x.tsv'], 1, 'stepinfer: /nonexistent/plan.json: plan file not found'],
    [['infer', '--serial', '--limit', '0'], 2, "option '--limit <n>' argument '0' is invalid"],
    [['infer', '--serial', '--generate', '1000x3'], 2, 'neurons (1000) / (connections / 2 = 16) must be a power of two'],
    [['model', 'generate', '--shape', '1024x2', '-o', 'x.bin'], 2, 'x.bin, field out: the output file must end in .sdnn'],
    [['nonsense'], 2, "unknown command 'nonsense'"],
  ])('fails clearly: %j', (args, code, message) => {
    const run = stepinfer(...args);
    expect(run.code).toBe(code);
    expect(run.stderr).toContain(message);
  });

  it('reports a corrupt model file', () => {
    const dir = newDir();
    const model = join(dir, 'g.sdnn');
    expect(stepinfer('model', 'generate', '--shape', '64x2', '--bias', '-0.3', '-o', model).code).toBe(0);
    const bytes = readFileSync(model);
    bytes[bytes.length - 3] ^= 0xff;
    writeFileSync(model, bytes);
    const info = stepinfer('model', 'info', model);
    expect(info.code).toBe(1);
    expect(info.stderr).toMatch(/g\.sdnn, field checksum: checksum mismatch/);
  });

  it('prints help for every command', () => {
    for (const args of [['--help'], ['infer', '--help'], ['model', 'convert', '--help'], ['model', 'info', '--help'], ['model', 'generate', '--help']]) {
      const run = stepinfer(...args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toContain('Usage: stepinfer');
    }
    for (const args of [['kernel', '--help'], ['partition', '--help']]) {
      const run = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../bench/run.ts'), ...args], { encoding: 'utf8' });
      expect(run.status, `bench ${args.join(' ')}`).toBe(0);
      expect(run.stdout).toContain('Usage: bench');
    }
  });

  it('refuses a Node older than 24 with a clear message', () => {
    expect(nodeVersionProblem('v20.20.2')).toMatch(/^stepinfer needs Node\.js 24 or newer .* this is v20\.20\.2\./);
    expect(nodeVersionProblem('v22.12.0')).toContain('npm start');
    expect(nodeVersionProblem('v24.0.0')).toBeUndefined();
    expect(nodeVersionProblem('v26.1.0')).toBeUndefined();
  });
});
