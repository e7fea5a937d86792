import { describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseTriples, parseIdList } from '../../model/tsv.ts';
import {
  readWeightTsv, readInputTsv, readGraphChallengeNetwork, readCategories, findGraphChallengeData, MAX_TSV_NEURONS,
} from '../../model/graphchallenge.ts';
import { FileAccessError, ModelFormatError, UsageError } from '../../model/errors.ts';
import { tempDirs, writeText } from '../helpers/tmp.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');
const fields = ['row', 'column', 'weight'] as const;

describe('parseTriples', () => {
  it('reads GraphChallenge rows in every number spelling, CRLF and a missing final newline', () => {
    const t = parseTriples(bytes('1\t2\t6.250000e-02\r\n3 4 -1.5\n10\t1\t7\n2\t2\t1E2\n5\t5\t.5'), 'w.tsv', fields);
    expect(t.count).toBe(5);
    expect([...t.first]).toEqual([0, 2, 9, 1, 4]);
    expect([...t.second]).toEqual([1, 3, 0, 1, 4]);
    expect([...t.value]).toEqual([0.0625, -1.5, 7, 100, 0.5]);
    expect([...t.line]).toEqual([1, 2, 3, 4, 5]);
    expect(t.maxFirst).toBe(9);
  });

  it('rounds like a correctly rounded decimal parser, also beyond the fast path', () => {
    const values = ['0.1', '3.14159265358979', '1e-30', '123456789012345678901', '2.5e+22', '7e23'];
    const t = parseTriples(bytes(values.map((v, i) => `${i + 1}\t1\t${v}`).join('\n')), 'w.tsv', fields);
    expect([...t.value]).toEqual(values.map((v) => Math.fround(Number(v))));
  });

  it.each([
    ['1\t2\n', 'w.tsv:1: missing weight: expected 3 fields'],
    ['1\t2\t0.5\n1\tx\t0.5\n', 'w.tsv:2: column is not a whole number: "x"'],
    ['0\t2\t0.5\n', 'w.tsv:1: row is 0; indices are 1-based'],
    ['1\t2\tNaN\n', 'w.tsv:1: weight is NaN; weights and activations must be finite'],
    ['1\t2\tInfinity\n', 'w.tsv:1: weight is Infinity; weights and activations must be finite'],
    ['1\t2\t1e400\n', 'w.tsv:1: weight is 1e400; weights and activations must be finite'],
    ['1\t2\tabc\n', 'w.tsv:1: weight is not a number: "abc"'],
    ['1\t2\t0.5\n\n3\t4\t1\n', 'w.tsv:2: blank line inside the data'],
    ['1\t2\t0.5\t9\n', 'w.tsv:1: unexpected "9" after the third field'],
    ['1.5\t2\t0.5\n', 'w.tsv:1: row is not a whole number: "1.5"'],
    ['-1\t2\t0.5\n', 'w.tsv:1: row is not a whole number: "-1"'],
    // Finite as doubles, infinite as the float32 they are stored in.
    ['1\t2\t0.5\n1\t3\t1e39\n', 'w.tsv:2: weight 1e39 overflows float32 (largest magnitude 3.4028234663852886e+38)'],
    ['1\t2\t-3.5e38\n', 'w.tsv:1: weight -3.5e38 overflows float32 (largest magnitude 3.4028234663852886e+38)'],
  ])('rejects %j with file and line', (text, message) => {
    expect(() => parseTriples(bytes(text), 'w.tsv', fields)).toThrow(new ModelFormatError(message.replace(/^w\.tsv:\d+: /, ''), { file: 'w.tsv', line: Number(/:(\d+):/.exec(message)![1]) }));
    expect(() => parseTriples(bytes(text), 'w.tsv', fields)).toThrow(message);
  });

  it('keeps values up to the largest float32', () => {
    const t = parseTriples(bytes('1\t1\t3.4028234e38\n1\t2\t-3.4028234e38\n'), 'w.tsv', fields);
    expect([...t.value]).toEqual([3.4028234663852886e38, -3.4028234663852886e38]);
  });

  it('accepts trailing blank lines at the end only', () => {
    expect(parseTriples(bytes('1\t1\t1\n\n\n'), 'w.tsv', fields).count).toBe(1);
  });
});

describe('GraphChallenge files', () => {
  const newDir = tempDirs();

  it('reads a weight file into output-major CSR with ascending inputs', () => {
    const dir = newDir();
    const file = writeText(dir, 'n4-l1.tsv', '3\t1\t0.5\n1\t1\t0.25\n2\t4\t1\n4\t2\t2\n1\t3\t3\n');
    const layer = readWeightTsv(file, 4);
    expect([...layer.outputStart]).toEqual([0, 2, 3, 4, 5]);
    expect([...layer.inputIndex]).toEqual([0, 2, 3, 0, 1]);
    expect([...layer.weight]).toEqual([0.25, 0.5, 2, 3, 1]);
  });

  it('names both lines of a duplicate weight', () => {
    const dir = newDir();
    const file = writeText(dir, 'dup.tsv', '1\t1\t0.5\n2\t2\t1\n1\t1\t0.7\n');
    expect(() => readWeightTsv(file, 4)).toThrow(`${file}:3: duplicate entry (column 1, row 1), first on line 1`);
  });

  it('rejects indices beyond the network size with the line', () => {
    const dir = newDir();
    const file = writeText(dir, 'big.tsv', '1\t1\t0.5\n2\t5\t1\n');
    expect(() => readWeightTsv(file, 4)).toThrow(`${file}:2: column 5 is out of range: the network (4 neurons) has 4`);
  });

  it('rejects an empty layer file', () => {
    const dir = newDir();
    const file = writeText(dir, 'empty.tsv', '');
    expect(() => readWeightTsv(file, 4)).toThrow(`${file}: layer file has no weights`);
  });

  it('names a missing layer and mixed network sizes', () => {
    const dir = newDir();
    const net = join(dir, 'neuron1024');
    mkdirSync(net);
    writeText(net, 'n1024-l1.tsv', '1\t1\t1\n');
    writeText(net, 'n1024-l3.tsv', '1\t1\t1\n');
    expect(() => readGraphChallengeNetwork(net)).toThrow(`${join(net, 'n1024-l2.tsv')}: layer 2 of 2 is missing`);
    expect(readGraphChallengeNetwork(net, { layers: 1 }).layers).toHaveLength(1);
    writeText(net, 'n4096-l2.tsv', '1\t1\t1\n');
    expect(() => readGraphChallengeNetwork(net)).toThrow(/layer files of two network sizes \(1024 and 4096\)/);
  });

  it('needs an explicit bias for sizes the benchmark does not define', () => {
    const dir = newDir();
    const net = join(dir, 'neuron8');
    mkdirSync(net);
    writeText(net, 'n8-l1.tsv', '1\t1\t1\n');
    expect(() => readGraphChallengeNetwork(net)).toThrow(ModelFormatError);
    expect(() => readGraphChallengeNetwork(net)).toThrow(`${net}: the benchmark defines no bias for 8 neurons (only for 1024, 4096, 16384, 65536): give one (stepinfer model convert <dir> --bias <b>)`);
    expect(readGraphChallengeNetwork(net, { bias: -0.1 }).bias).toBe(-0.1);
  });

  it('reads inputs with a sample limit, and rejects neurons beyond N', () => {
    const dir = newDir();
    const file = writeText(dir, 'in.tsv', '1\t3\t1\n3\t1\t1\n1\t1\t1\n2\t4\t0.5\n');
    const all = readInputTsv(file, 4);
    expect(all.rows).toBe(3);
    expect([...all.rowStart]).toEqual([0, 2, 3, 4]);
    expect([...all.columnIndex]).toEqual([0, 2, 3, 0]);
    const two = readInputTsv(file, 4, { limit: 2 });
    expect(two.rows).toBe(2);
    expect([...two.columnIndex]).toEqual([0, 2, 3]);
    expect(() => readInputTsv(file, 3)).toThrow(`${file}:4: neuron 4 is out of range: the network (3 neurons) has 3`);
    expect(() => readInputTsv(file, 4, { limit: 4 })).toThrow(`${file}, field limit: asked for 4 inputs, the file holds 3`);
  });

  it('reads truth ids and rejects unordered ones', () => {
    const dir = newDir();
    expect([...readCategories(writeText(dir, 'c.tsv', '2\n5\n9\n'))]).toEqual([1, 4, 8]);
    expect(() => parseIdList(bytes('2\n2\n'), 'c.tsv')).toThrow('c.tsv:2: ids must be strictly ascending: 2 follows 2');
  });

  it('refuses an empty inputs file and sample ids beyond the lines read, naming the line', () => {
    const dir = newDir();
    const empty = writeText(dir, 'empty.tsv', '\n');
    expect(() => readInputTsv(empty, 4)).toThrow(new ModelFormatError('no inputs: the file has no sample<TAB>neuron<TAB>value lines', { file: empty }));
    const huge = writeText(dir, 'huge.tsv', '1\t1\t1\n300000000\t2\t1\n2\t1\t1\n');
    expect(() => readInputTsv(huge, 4)).toThrow(
      `${huge}:2: sample 300000000 is beyond the file's 3 lines: sample ids must not exceed the number of lines (every sample has at least one nonzero on average)`,
    );
    const overflow = writeText(dir, 'big.tsv', '1\t1\t1e39\n');
    expect(() => readInputTsv(overflow, 4)).toThrow(`${overflow}:1: value 1e39 overflows float32`);
    // A sample with no line (an all-zero input) is fine while the ids stay within the lines.
    expect(readInputTsv(writeText(dir, 'gap.tsv', '1\t1\t1\n1\t2\t1\n3\t1\t1\n'), 4).rows).toBe(3);
  });

  it('bounds N from a layer file name and --layers by the directory, before reading layers', () => {
    const dir = newDir();
    const big = join(dir, 'big');
    mkdirSync(big);
    writeText(big, 'n2000000000-l1.tsv', '1\t1\t1\n');
    expect(() => readGraphChallengeNetwork(big, { bias: -0.3 })).toThrow(
      `${join(big, 'n2000000000-l1.tsv')}: the file name says 2000000000 neurons; networks of 1 to 1,048,576 neurons are read`,
    );
    expect(MAX_TSV_NEURONS).toBe(1_048_576);
    const net = join(dir, 'neuron1024');
    mkdirSync(net);
    writeText(net, 'n1024-l1.tsv', '1\t1\t1\n');
    writeText(net, 'n1024-l2.tsv', '1\t1\t1\n');
    expect(() => readGraphChallengeNetwork(net, { layers: 5 })).toThrow(new UsageError('asked for 5 layers, the directory has 2', { file: net, field: 'layers' }));
  });

  it('names unreadable files with FileAccessError: missing, a folder', () => {
    const dir = newDir();
    expect(() => readInputTsv(join(dir, 'none.tsv'), 4)).toThrow(new FileAccessError('input file not found', { file: join(dir, 'none.tsv') }));
    expect(() => readInputTsv(dir, 4)).toThrow(new FileAccessError('is a folder, a file was expected', { file: dir }));
    expect(() => readCategories(dir)).toThrow(FileAccessError);
  });

  it('finds the benchmark case by its file names', () => {
    const dir = newDir();
    expect(findGraphChallengeData(dir)).toBeUndefined();
    expect(findGraphChallengeData(join(dir, 'absent'))).toBeUndefined();
    mkdirSync(join(dir, 'neuron4096'));
    writeText(join(dir, 'neuron4096'), 'n4096-l1.tsv', '1\t1\t1\n');
    mkdirSync(join(dir, 'neuron1024'));
    writeText(join(dir, 'neuron1024'), 'n1024-l1.tsv', '1\t1\t1\n');
    mkdirSync(join(dir, 'neuron64'));
    writeText(dir, 'sparse-images-1024-first500.tsv', '1\t1\t1\n');
    writeText(dir, 'neuron1024-l3-categories.tsv', '1\n');
    writeText(dir, 'neuron4096-l120-categories.tsv', '1\n');
    const data = findGraphChallengeData(dir)!;
    expect(data).toMatchObject({ dir, neurons: 1024, weightsDir: join(dir, 'neuron1024'), inputs: join(dir, 'sparse-images-1024-first500.tsv') });
    expect([...data.categories]).toEqual([[3, join(dir, 'neuron1024-l3-categories.tsv')]]);
  });
});
