// The one option parser (cli/options.ts) and the output-file rules (cli/files.ts), tested directly;
// bad-input.test.ts drives the same code through the real command line.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import {
  checkWorkerCounts, choiceListOption, fractionOption, integerOption, numberOption, parseShape, parseWorkerList, seedOption, shapeOption,
} from '../../cli/options.ts';
import { checkOutputPath, writeOutputFiles } from '../../cli/files.ts';
import { FileAccessError, UsageError } from '../../model/errors.ts';
import { tempDirs, writeText } from '../helpers/tmp.ts';

describe('option parsers', () => {
  it.each([
    [integerOption(1), '0', 'expected an integer from 1 to 4294967295, got "0"'],
    [integerOption(1), '1.5', 'expected an integer from 1 to 4294967295, got "1.5"'],
    [integerOption(1), '', 'expected an integer from 1 to 4294967295, got ""'],
    [integerOption(1, 50), '51', 'expected an integer from 1 to 50, got "51"'],
    [seedOption, '-1', 'expected an integer from 0 to 4294967295, got "-1"'],
    [seedOption, '4294967296', 'expected an integer from 0 to 4294967295, got "4294967296"'],
    [numberOption(), 'nan', 'expected a finite number, got "nan"'],
    [numberOption(), 'Infinity', 'expected a finite number, got "Infinity"'],
    [numberOption({ min: 0, max: 1, belowMax: true }), '1', 'expected a number in [0, 1), got "1"'],
    [fractionOption({ zero: true }), '5', 'expected a number in [0, 1], got "5"'],
    [fractionOption({ zero: false }), '0', 'expected a number in (0, 1], got "0"'],
    [shapeOption, '1024', 'expected NxL such as 1024x120, got "1024"'],
    [shapeOption, '1024x0', 'layers must be from 1 to 4294967295, got 0'],
    [shapeOption, '1x4', 'neurons must be from 2 to 4294967295, got 1'],
    [choiceListOption(['a', 'b'] as const, { allowAll: true }), 'a,c', 'unknown value "c" (known: a, b, or all)'],
  ])('refuses a bad value with the range (%#)', (parse, raw, message) => {
    expect(() => parse(raw)).toThrow(InvalidArgumentError);
    expect(() => parse(raw)).toThrow(message);
  });

  it('parses good values exactly', () => {
    expect(integerOption(1, 50)('50')).toBe(50);
    expect(seedOption('4294967295')).toBe(4294967295);
    expect(fractionOption({ zero: true })('0')).toBe(0);
    expect(numberOption()('-0.3')).toBe(-0.3);
    expect(parseShape(' 65536x120 ')).toEqual({ neurons: 65536, layers: 120 });
    expect(choiceListOption(['a', 'b'] as const, { allowAll: true })('all')).toEqual(['a', 'b']);
    expect(choiceListOption(['a', 'b'] as const)('b,a,b')).toEqual(['b', 'a']);
  });

  it('bounds worker lists at 65,535 and by the network, before any work', () => {
    expect(parseWorkerList('2..4,8,4')).toEqual([2, 3, 4, 8]);
    expect(parseWorkerList('65535')).toEqual([65535]);
    expect(() => parseWorkerList('2..100000')).toThrow(new UsageError("worker range '2..100000' goes beyond 65535 workers", { field: 'workers' }));
    expect(() => parseWorkerList('70000')).toThrow('field workers: 70000 workers is more than 65535');
    expect(() => parseWorkerList(',')).toThrow('field workers: no worker counts given');
    expect(() => checkWorkerCounts([8, 2000], 1024)).toThrow("field workers: 2000 workers exceeds the network's 1024 neurons (P must be <= N)");
    expect(() => checkWorkerCounts([1023, 1024, 1025, 1026], 1024, 'scale-workers'))
      .toThrow("field scale-workers: 2 of the worker counts (1025 to 1026) exceed the network's 1024 neurons (P must be <= N)");
    expect(() => checkWorkerCounts([1, 1024], 1024)).not.toThrow();
  });
});

describe('output files', () => {
  const newDir = tempDirs();

  it('checks every output before the work: missing folder, a folder, a path under a file, /proc, an existing file', () => {
    const dir = newDir();
    const file = writeText(dir, 'exists.tsv', 'x\n');
    expect(() => checkOutputPath(join(dir, 'no', 'x.tsv'))).toThrow(`${join(dir, 'no', 'x.tsv')}: the folder ${join(dir, 'no')} does not exist`);
    expect(() => checkOutputPath(dir)).toThrow(`${dir}: is a folder, a file was expected`);
    expect(() => checkOutputPath(join(file, 'x.tsv'))).toThrow(`${join(file, 'x.tsv')}: ${file} is not a folder`);
    // root may write almost anywhere; /proc takes no new files even from root.
    expect(() => checkOutputPath('/proc/stepinfer.tsv')).toThrow(FileAccessError);
    expect(() => checkOutputPath('/proc/stepinfer.tsv')).toThrow(/^\/proc\/stepinfer\.tsv: cannot create files in \/proc \(/);
    expect(() => checkOutputPath(file, { option: '--out' })).toThrow(new UsageError('already exists; pass --force to replace it or choose another --out', { file }));
    expect(checkOutputPath(file, { overwrite: true })).toBe(file);
    expect(readFileSync(file, 'utf8')).toBe('x\n');
  });

  it('writes several outputs or none: a failed second write removes the first', () => {
    const dir = newDir();
    const blocker = writeText(dir, 'blocker', '');
    const first = join(dir, 'model.sdnn');
    expect(() => writeOutputFiles([{ file: first, data: new Uint8Array([1, 2, 3]) }, { file: join(blocker, 'inputs.tsv'), data: 'x' }]))
      .toThrow(FileAccessError);
    expect(existsSync(first)).toBe(false);
    writeOutputFiles([{ file: first, data: new Uint8Array([1, 2, 3]) }, { file: join(dir, 'inputs.tsv'), data: '1\t1\t1\n' }]);
    expect([...readFileSync(first)]).toEqual([1, 2, 3]);
    expect(readFileSync(join(dir, 'inputs.tsv'), 'utf8')).toBe('1\t1\t1\n');
  });
});
