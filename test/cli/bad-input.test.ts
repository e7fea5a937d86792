// Bad input as a new user types it, through the real command line (a child process on the pinned
// Node): every case checks the exit code (0 ok, 1 failure, 2 usage) and the one error line, and
// that no stack trace is printed. Grouped by the classes of issue 7's bad-input report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { encodeNetwork } from '../../model/binary.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { formatRowsTsv } from '../../model/load.ts';
import { defaultGraphChallengeDir } from '../../model/graphchallenge.ts';
import { FSD_RUNS, requireData } from '../helpers/shared-data.ts';

const bin = resolve(import.meta.dirname, '../../bin/stepinfer.mjs');
const bench = resolve(import.meta.dirname, '../../bench/run.ts');

interface Run { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function run(script: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { cwd });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

let dir = '';
const at = (...parts: string[]) => join(dir, ...parts);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stepinfer-bad-input-'));
  const network = generateRadixNetwork({ neurons: 64, layers: 3, seed: 2, bias: -0.3 });
  const model = encodeNetwork(network);
  writeFileSync(at('m.sdnn'), model);
  writeFileSync(at('in.tsv'), formatRowsTsv(generateInputs({ neurons: 64, samples: 20, seed: 2 })));
  writeFileSync(at('in1024.tsv'), formatRowsTsv(generateInputs({ neurons: 1024, samples: 3, seed: 2 })));
  writeFileSync(at('huge-id.tsv'), '300000000\t1\t1\n');
  writeFileSync(at('empty.tsv'), '');
  writeFileSync(at('f32.tsv'), '1\t1\t1\n2\t3\t1e39\n');
  writeFileSync(at('truth-wrong.tsv'), '1\n');
  writeFileSync(at('bad.json'), 'not json\n');
  writeFileSync(at('no-prices.json'), '{"counters":{"snsPublishCalls":10}}\n');
  writeFileSync(at('blocker'), 'a regular file, not a folder\n');
  mkdirSync(at('adir'));
  mkdirSync(at('ovf', 'neuron64'), { recursive: true });
  writeFileSync(at('ovf', 'neuron64', 'n64-l1.tsv'), '1\t1\t0.5\n2\t1\t1e39\n');
  mkdirSync(at('bign', 'neuron2000000000'), { recursive: true });
  writeFileSync(at('bign', 'neuron2000000000', 'n2000000000-l1.tsv'), '1\t1\t1\n');
  // Header fields edited behind a correct CRC-32: only the header checks can refuse these.
  const craft = (name: string, offset: number, value: number) => {
    const bytes = model.slice();
    const view = new DataView(bytes.buffer);
    view.setFloat64(offset, value, true);
    view.setUint32(40, crc32(bytes.subarray(44), crc32(bytes.subarray(0, 40))), true);
    writeFileSync(at(name), bytes);
  };
  craft('nan-bias.sdnn', 16, Number.NaN);
  craft('nan-cap.sdnn', 24, Number.NaN);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Expected = string | RegExp | ((dir: string) => string);

/** Runs one case; checks exit code, the single error line (exact) and that no stack trace is printed. */
async function expectRun(script: string, args: readonly string[], code: number, expected: Expected | null): Promise<Run> {
  const r = await run(script, args, dir);
  const context = `${args.join(' ')}\n${r.stderr}`;
  expect(r.code, context).toBe(code);
  expect(r.stderr, context).not.toContain('unexpected error');
  expect(r.stderr, context).not.toMatch(/^\s+at /m);
  const errors = r.stderr.split('\n').filter((line) => /^(stepinfer|error):/.test(line));
  if (expected === null) {
    expect(errors, context).toEqual([]);
  } else {
    expect(errors, context).toHaveLength(1);
    if (expected instanceof RegExp) expect(errors[0]).toMatch(expected);
    else expect(errors[0]).toBe(typeof expected === 'function' ? expected(dir) : expected);
  }
  return r;
}

const cases = (rows: readonly (readonly [readonly string[], number, Expected])[]) => rows.map(([args, code, message]) => ({ args, code, message, name: args.join(' ') }));

describe('exit codes: 0 for success, 1 for failures, 2 for usage, for several commands', () => {
  it.concurrent.each(cases([
    [['model', 'info', 'm.sdnn', '--json'], 0, ''],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--json'], 0, ''],
    [['partition', '--model', 'm.sdnn', '--workers', '4', '--scheme', 'cyclic', '--json'], 0, ''],
    [['model', 'info', 'missing.sdnn'], 1, 'stepinfer: missing.sdnn: model not found (give a .sdnn file or a neuron<N>/ directory of layer TSVs)'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--truth', 'truth-wrong.tsv'], 1, /^stepinfer: truth-wrong\.tsv: categories differ from the truth: /],
    [['cost', 'bad.json'], 1, 'stepinfer: bad.json: not valid JSON: Unexpected token \'o\', "not json " is not valid JSON'],
    [['partition', '--model', 'missing.sdnn'], 1, 'stepinfer: missing.sdnn: model not found (give a .sdnn file or a neuron<N>/ directory of layer TSVs)'],
    [['model', 'generate', '--shape', '1024x0', '-o', 'x.sdnn'], 2, "error: option '--shape <NxL>' argument '1024x0' is invalid. layers must be from 1 to 4294967295, got 0"],
    [['calibrate', '--repetitions', '0'], 2, "error: option '--repetitions <n>' argument '0' is invalid. expected an integer from 1 to 50, got \"0\""],
    [['cost'], 2, "error: missing required argument 'file'"],
    [['partition', '--workers', 'x'], 2, "error: option '--workers <P>' argument 'x' is invalid. bad worker count 'x' (want an integer >= 1, a list 8,16 or a range 2..64)"],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message === '' ? null : message);
  });

  it('cost of the published runs exits 0', async () => {
    await expectRun(bin, ['cost', requireData(FSD_RUNS, 'the published FSD-Inference runs')], 0, null);
  });
});

describe('sizes are bounded and checked before any work', () => {
  it.concurrent.each(cases([
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'huge-id.tsv'], 1,
      "stepinfer: huge-id.tsv:1: sample 300000000 is beyond the file's 1 line: sample ids must not exceed the number of lines (every sample has at least one nonzero on average)"],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', '/dev/zero'], 1, 'stepinfer: /dev/zero: is not a regular file (a device or a pipe); give a file'],
    [['partition', '--model', 'm.sdnn', '--workers', '2..100000'], 2, "error: option '--workers <P>' argument '2..100000' is invalid. worker range '2..100000' goes beyond 65535 workers"],
    [['partition', '--model', 'm.sdnn', '--workers', '8,65', '--scheme', 'cyclic'], 2, "stepinfer: field workers: 65 workers exceeds the network's 64 neurons (P must be <= N)"],
    [['model', 'generate', '--shape', '1048576x100000', '--bias', '-0.5', '-o', 'big.sdnn'], 2,
      /^stepinfer: field shape: a generated 1048576 x 100000 network and its \.sdnn file would need 5\.08e\+4 GB of memory, more than half of this machine's [\d.]+ GB$/],
    [['infer', '--serial', '--generate', '65536x100000', '--samples', '10'], 2,
      /^stepinfer: field generate: a generated 65536 x 100000 network would need 1\.59e\+3 GB of memory, more than half of this machine's [\d.]+ GB$/],
    [['partition', '--generate', '65536x100000'], 2, /^stepinfer: field generate: a generated 65536 x 100000 network would need 1\.59e\+3 GB of memory/],
    [['model', 'generate', '--shape', '4096x2', '-o', 'g.sdnn', '--inputs', 'gi.tsv', '--samples', '100000000'], 2,
      'stepinfer: field samples: 100000000 samples at density 0.104 make 42600000000 nonzeros, over the 2^32 a matrix may hold'],
    [['model', 'convert', 'bign/neuron2000000000', '-o', 'bign.sdnn', '--bias', '-0.3'], 1,
      'stepinfer: bign/neuron2000000000/n2000000000-l1.tsv: the file name says 2000000000 neurons; networks of 1 to 1,048,576 neurons are read'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });

  it('bench partition checks its scale workers before generating the 65536-neuron network', async () => {
    await expectRun(bench, ['partition', '--scale-only', '--scale-workers', '2..100000'], 2,
      "error: option '--scale-workers <list>' argument '2..100000' is invalid. worker range '2..100000' goes beyond 65535 workers");
  });
});

describe('no flag is ignored: contradictions and flags that cannot apply are refused', () => {
  it.concurrent.each(cases([
    [['infer', '--serial', '--generate', '64x2', '--model', 'm.sdnn', '--inputs', 'in.tsv'], 2, 'stepinfer: field model: give either --model or --generate, not both'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--samples', '5'], 2, 'stepinfer: field inputs: give either --inputs or --samples, not both'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--seed', '3'], 2, 'stepinfer: field seed: --seed applies to generated networks and inputs only (--generate, --samples)'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--backend', 'gpu.js', '--gather-engine', 'typescript'], 2,
      'stepinfer: field gather-engine: --gather-engine applies to the typescript backend, not gpu.js'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--force'], 2, 'stepinfer: field force: --force replaces an existing --activations file; no --activations was given'],
    [['infer', '--serial', '--generate', '1024x3', '--layers', '2', '--samples', '3'], 2,
      'stepinfer: field layers: --layers applies to --model; a generated network takes its layer count from --generate NxL'],
    [['infer', '--serial', '--generate', '1024x3'], 2, 'stepinfer: field inputs: --generate makes a network only: give its inputs with --inputs <tsv> or --samples <n> (generated)'],
    [['infer', '--serial', '--model', 'm.sdnn'], 2, 'stepinfer: field inputs: --model names a network only: give its inputs with --inputs <tsv> or --samples <n> (generated)'],
    [['model', 'generate', '--shape', '1024x2', '-o', 'g.sdnn', '--samples', '5'], 2, 'stepinfer: field samples: --samples is the number of inputs written to --inputs; no --inputs was given'],
    [['model', 'generate', '--shape', '1024x2', '-o', 'g.sdnn', '--inputs', 'gi.tsv'], 2, 'stepinfer: field samples: --inputs needs --samples <n>, the number of inputs to generate'],
    [['model', 'generate', '--shape', '1024x2', '-o', 'g.sdnn', '--inputs', 'g.sdnn', '--samples', '2'], 2, 'stepinfer: g.sdnn, field inputs: --inputs and --out name the same file'],
    [['partition', '--model', 'm.sdnn', '--scheme', 'cyclic', '--seed', '3'], 2, 'stepinfer: field seed: --seed changes nothing here: cyclic is a fixed map and the network is not generated'],
    [['partition', '--model', 'm.sdnn', '--scheme', 'block,cyclic', '--epsilon', '0.1'], 2, 'stepinfer: field epsilon: --epsilon applies to the hypergraph schemes only, not block, cyclic'],
    [['partition', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--samples', '5'], 2, 'stepinfer: field samples: give either --inputs or --samples (both set the sample count)'],
    [['cost', 'no-prices.json', '--ignore-record-prices'], 2, 'stepinfer: no-prices.json, field ignore-record-prices: --ignore-record-prices changes nothing: no record in the file has its own prices'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });

  it('bench partition refuses an unknown option with the usage code, not a stack trace', async () => {
    await expectRun(bench, ['partition', '--bogus'], 2, "error: unknown option '--bogus'");
  });

  it('bench partition refuses options of the case it does not run', async () => {
    await expectRun(bench, ['partition', '--scale-workers', '8'], 2, 'stepinfer: field scale: --scale-workers and --scale-layers apply with --scale or --scale-only');
  });

  it('infer --generate uses --inputs and --truth instead of ignoring them: a wrong truth fails', async () => {
    const wrong = await expectRun(bin, ['infer', '--serial', '--generate', '1024x2', '--inputs', 'in1024.tsv', '--truth', 'truth-wrong.tsv', '--json'], 1,
      /^stepinfer: truth-wrong\.tsv: categories differ from the truth: /);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ source: 'generated', inputs: 3, truth: { file: 'truth-wrong.tsv', matches: false, expected: 1 } });
  });
});

describe('values are checked as float32, and an empty inputs file is an error', () => {
  it.concurrent.each(cases([
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'f32.tsv'], 1, 'stepinfer: f32.tsv:2: value 1e39 overflows float32 (largest magnitude 3.4028234663852886e+38)'],
    [['model', 'convert', 'ovf/neuron64', '-o', 'o.sdnn', '--bias', '-0.3'], 1, 'stepinfer: ovf/neuron64/n64-l1.tsv:2: weight 1e39 overflows float32 (largest magnitude 3.4028234663852886e+38)'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'empty.tsv'], 1, 'stepinfer: empty.tsv: no inputs: the file has no sample<TAB>neuron<TAB>value lines'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
    expect(existsSync(at('o.sdnn'))).toBe(false);
  });
});

describe('.sdnn header fields behind a correct checksum', () => {
  it.concurrent.each(cases([
    [['model', 'info', 'nan-bias.sdnn'], 1, 'stepinfer: nan-bias.sdnn, field bias: bias is NaN; it must be a finite number'],
    [['infer', '--serial', '--model', 'nan-cap.sdnn', '--inputs', 'in.tsv'], 1, 'stepinfer: nan-cap.sdnn, field activationCap: activation cap is NaN; it must be a finite number > 0'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });
});

describe('file-system errors name the file, before the work, and leave nothing behind', () => {
  it.concurrent.each(cases([
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--activations', 'adir'], 1, 'stepinfer: adir: is a folder, a file was expected'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--activations', 'blocker/a.tsv'], 1, (d) => `stepinfer: blocker/a.tsv: ${join(d, 'blocker')} is not a folder`],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--activations', '/proc/a.tsv'], 1, 'stepinfer: /proc/a.tsv: cannot create files in /proc (no such file or folder)'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--activations', 'in.tsv'], 2, 'stepinfer: in.tsv: already exists; pass --force to replace it or choose another --activations'],
    [['infer', '--serial', '--model', 'm.sdnn', '--inputs', 'adir'], 1, 'stepinfer: adir: is a folder, a file was expected'],
    [['cost', 'adir'], 1, 'stepinfer: adir: is a folder, a file was expected'],
    [['model', 'convert', 'm.sdnn', '-o', 'blocker/x.sdnn'], 1, (d) => `stepinfer: blocker/x.sdnn: ${join(d, 'blocker')} is not a folder`],
    [['calibrate', '--quick', '--out', '/proc/c.json'], 1, 'stepinfer: /proc/c.json: cannot create files in /proc (no such file or folder)'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });

  it('model generate checks both outputs first: a bad --inputs leaves no model file', async () => {
    await expectRun(bin, ['model', 'generate', '--shape', '1024x1', '-o', 'half.sdnn', '--inputs', 'blocker/i.tsv', '--samples', '3'], 1,
      (d) => `stepinfer: blocker/i.tsv: ${join(d, 'blocker')} is not a folder`);
    expect(existsSync(at('half.sdnn'))).toBe(false);
  });

  it('--force replaces an output, never silently', async () => {
    writeFileSync(at('old.sdnn'), 'old');
    await expectRun(bin, ['model', 'convert', 'm.sdnn', '-o', 'old.sdnn'], 2, 'stepinfer: old.sdnn: already exists; pass --force to replace it or choose another --out');
    expect(readFileSync(at('old.sdnn'), 'utf8')).toBe('old');
    await expectRun(bin, ['model', 'convert', 'm.sdnn', '-o', 'old.sdnn', '--force'], 0, null);
    expect(readFileSync(at('old.sdnn'))).toEqual(readFileSync(at('m.sdnn')));
  });
});

describe('every numeric option has a range', () => {
  it.concurrent.each(cases([
    [['infer', '--serial', '--gather-density', '5'], 2, "error: option '--gather-density <fraction>' argument '5' is invalid. expected a number in [0, 1], got \"5\""],
    [['partition', '--epsilon', '1'], 2, "error: option '--epsilon <e>' argument '1' is invalid. expected a number in [0, 1), got \"1\""],
    [['model', 'generate', '--shape', '1024x2', '-o', 'g.sdnn', '--density', '0'], 2, "error: option '--density <fraction>' argument '0' is invalid. expected a number in (0, 1], got \"0\""],
    [['calibrate', '--repetitions', '51'], 2, "error: option '--repetitions <n>' argument '51' is invalid. expected an integer from 1 to 50, got \"51\""],
    [['calibrate', '--threads', '1'], 2, "error: option '--threads <list>' argument '1' is invalid. expected an integer from 2 to 64, got \"1\""],
    [['calibrate', '--scaling-rounds', '0'], 2, "error: option '--scaling-rounds <n>' argument '0' is invalid. expected an integer from 1 to 50, got \"0\""],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });

  it('bench kernel bounds --repeat', async () => {
    await expectRun(bench, ['kernel', '--repeat', '0'], 2, "error: option '--repeat <n>' argument '0' is invalid. expected an integer from 1 to 1000, got \"0\"");
  });
});

describe('shards and shards upload', () => {
  it.concurrent.each(cases([
    [['shards', 'missing.json'], 2, 'stepinfer: field out: name the folder to write the shards into: -o, --out <dir>'],
    // The upload writes no folder: the parent's --out is not asked of it; it reaches its own checks.
    [['shards', 'upload', 'missing.json'], 1, 'stepinfer: missing.json: plan file not found'],
  ]))('$name -> $code', async ({ args, code, message }) => {
    await expectRun(bin, args, code, message);
  });
});

describe('defaults come from the model and inputs at hand', () => {
  it('partition estimates bytes for the inputs at hand, or per sample without inputs', async () => {
    const withInputs = await expectRun(bin, ['partition', '--model', 'm.sdnn', '--inputs', 'in.tsv', '--workers', '4', '--scheme', 'cyclic', '--json'], 0, null);
    const perSample = await expectRun(bin, ['partition', '--model', 'm.sdnn', '--workers', '4', '--scheme', 'cyclic', '--json'], 0, null);
    const a = JSON.parse(withInputs.stdout).cases[0];
    const b = JSON.parse(perSample.stdout).cases[0];
    expect(a.samples).toBe(20);
    expect(b.samples).toBe(1);
    expect(a.totalBytes).toBe(20 * b.totalBytes);
  });

  it('infer on the real network reads every row of the inputs given (no 10,000-input default)', async () => {
    requireData(join(defaultGraphChallengeDir(), 'neuron1024', 'n1024-l1.tsv'), 'the real 1024-neuron network');
    const r = await expectRun(bin, ['infer', '--serial', '--inputs', 'in1024.tsv', '--layers', '2', '--json'], 0, null);
    expect(JSON.parse(r.stdout)).toMatchObject({ source: 'files', neurons: 1024, layers: 2, inputs: 3 });
    expect(JSON.parse(r.stdout).truth).toBeUndefined();
  });
});
