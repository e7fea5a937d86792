// The GraphChallenge Sparse DNN file layout: a directory `neuron<N>/` of per-layer weight TSVs
// `n<N>-l<k>.tsv`, an input TSV `sparse-images-<N>*.tsv` and a truth file of category ids
// `neuron<N>-l<L>-categories.tsv` (the ids for a network of L layers).

import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelFormatError, UsageError, FileAccessError, fileAccessError } from './errors.ts';
import { readDataFile } from './read-file.ts';
import { parseTriples, parseIdList, type Triples } from './tsv.ts';
import { compressTriples } from './compress.ts';
import {
  GRAPH_CHALLENGE_BIAS, GRAPH_CHALLENGE_ACTIVATION_CAP,
  type SparseLayer, type SparseNetwork, type SparseRows,
} from './network.ts';

const LAYER_FILE = /^n(\d+)-l(\d+)\.tsv$/;
const WEIGHTS_DIR = /^neuron(\d+)$/;
const CATEGORIES_FILE = /^neuron(\d+)-l(\d+)-categories\.tsv$/;

/**
 * The case the shared benchmark data holds (data/graphchallenge/README.md): the real 1024-neuron,
 * 120-layer network, its first 10,000 inputs and the truth for 120 layers. Only the benchmark's
 * own locators use it, and the generated stand-in that replaces the data when it is absent.
 */
export const GRAPH_CHALLENGE_CASE = { neurons: 1024, layers: 120, inputs: 10_000 } as const;

/**
 * The largest N a layer file name may announce: 16 x the benchmark's largest network (65,536). Every
 * layer costs 4 (N + 1) bytes whatever its lines, so a tiny file named n4000000000-l1.tsv must not
 * make the reader allocate gigabytes.
 */
export const MAX_TSV_NEURONS = 1_048_576;

/** Where the real benchmark data lives: $STEPINFER_DATA, else ../shared/data/graphchallenge beside the checkout. */
export function defaultGraphChallengeDir(): string {
  if (process.env.STEPINFER_DATA) return resolve(process.env.STEPINFER_DATA);
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return resolve(repo, '..', 'shared', 'data', 'graphchallenge');
}

/** The paths of the real benchmark case of `neurons` x `layers`, whether or not they exist. */
export function graphChallengePaths(dir: string, neurons: number = GRAPH_CHALLENGE_CASE.neurons, layers: number = GRAPH_CHALLENGE_CASE.layers) {
  return {
    weightsDir: join(dir, `neuron${neurons}`),
    inputs: join(dir, `sparse-images-${neurons}-first${GRAPH_CHALLENGE_CASE.inputs}.tsv`),
    categories: join(dir, `neuron${neurons}-l${layers}-categories.tsv`),
  };
}

export function graphChallengeDataPresent(dir: string, neurons: number = GRAPH_CHALLENGE_CASE.neurons, layers: number = GRAPH_CHALLENGE_CASE.layers): boolean {
  const p = graphChallengePaths(dir, neurons, layers);
  return existsSync(join(p.weightsDir, `n${neurons}-l${layers}.tsv`)) && existsSync(p.inputs) && existsSync(p.categories);
}

/** What a benchmark data folder holds, found by file names rather than assumed. */
export interface GraphChallengeData {
  readonly dir: string;
  readonly neurons: number;
  readonly weightsDir: string;
  /** The inputs of this N (`sparse-images-<N>*.tsv`, the first by name), when present. */
  readonly inputs?: string;
  /** Truth files by the layer count they are for. */
  readonly categories: ReadonlyMap<number, string>;
}

/**
 * The benchmark data in `dir`: the smallest `neuron<N>/` folder that holds layer files, its inputs
 * and truth files. Undefined when there is none.
 */
export function findGraphChallengeData(dir: string): GraphChallengeData | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return undefined;
  }
  const sizes = names
    .map((name) => ({ name, m: WEIGHTS_DIR.exec(name) }))
    .filter((x) => x.m !== null && existsSync(join(dir, x.name, `n${x.m[1]}-l1.tsv`)))
    .map((x) => Number(x.m![1]))
    .sort((a, b) => a - b);
  if (sizes.length === 0) return undefined;
  const neurons = sizes[0];
  const inputs = names.find((name) => name.startsWith(`sparse-images-${neurons}`) && name.endsWith('.tsv'));
  const categories = new Map<number, string>();
  for (const name of names) {
    const m = CATEGORIES_FILE.exec(name);
    if (m && Number(m[1]) === neurons) categories.set(Number(m[2]), join(dir, name));
  }
  return { dir, neurons, weightsDir: join(dir, `neuron${neurons}`), inputs: inputs === undefined ? undefined : join(dir, inputs), categories };
}

function checkRange(t: Triples, limit: number, which: 'first' | 'second', field: string, file: string, what: string): void {
  const max = which === 'first' ? t.maxFirst : t.maxSecond;
  if (max < limit) return;
  const arr = which === 'first' ? t.first : t.second;
  for (let i = 0; i < t.count; i++) {
    if (arr[i] >= limit) {
      throw new ModelFormatError(`${field} ${arr[i] + 1} is out of range: ${what} has ${limit}`, { file, line: t.line[i] });
    }
  }
}

/** Reads one weight TSV (`input<TAB>output<TAB>weight`, i.e. row and column of W) of an N-neuron network. */
export function readWeightTsv(file: string, neurons: number): SparseLayer {
  const t = parseTriples(readDataFile(file, 'layer file not found'), file, ['row', 'column', 'weight']);
  if (t.count === 0) throw new ModelFormatError('layer file has no weights', { file });
  checkRange(t, neurons, 'first', 'row', file, `the network (${neurons} neurons)`);
  checkRange(t, neurons, 'second', 'column', file, `the network (${neurons} neurons)`);
  const c = compressTriples(t, { file, majorField: 'second', majorCount: neurons, majorName: 'column', minorName: 'row' });
  return { neurons, outputStart: c.start, inputIndex: c.index, weight: c.value };
}

export interface ReadNetworkOptions {
  /** Read only layers 1..layers (default: every layer file present, which must be contiguous). */
  readonly layers?: number;
  /** Overrides the benchmark's bias for N. */
  readonly bias?: number;
  readonly onLayer?: (layer: number, of: number) => void;
}

/** Reads a `neuron<N>/` directory of `n<N>-l<k>.tsv` files. */
export function readGraphChallengeNetwork(weightsDir: string, options: ReadNetworkOptions = {}): SparseNetwork {
  if (!existsSync(weightsDir) || !statSync(weightsDir).isDirectory()) {
    throw new FileAccessError('weights directory not found (expected n<N>-l<k>.tsv files)', { file: weightsDir });
  }
  const found = new Map<number, string>();
  let neurons = -1;
  let names: string[];
  try {
    names = readdirSync(weightsDir);
  } catch (error) {
    throw fileAccessError(error, weightsDir);
  }
  for (const name of names) {
    const m = LAYER_FILE.exec(name);
    if (!m) continue;
    const n = Number(m[1]);
    if (neurons !== -1 && n !== neurons) {
      throw new ModelFormatError(`layer files of two network sizes (${neurons} and ${n}) in one directory`, { file: join(weightsDir, name) });
    }
    if (n < 1 || n > MAX_TSV_NEURONS) {
      throw new ModelFormatError(`the file name says ${n} neurons; networks of 1 to ${MAX_TSV_NEURONS.toLocaleString('en-US')} neurons are read`, { file: join(weightsDir, name) });
    }
    neurons = n;
    found.set(Number(m[2]), name);
  }
  if (neurons === -1) throw new ModelFormatError('no n<N>-l<k>.tsv layer files', { file: weightsDir });
  let contiguous = 0;
  while (found.has(contiguous + 1)) contiguous++;
  if (options.layers !== undefined && options.layers < 1) throw new UsageError(`layers must be at least 1, got ${options.layers}`, { field: 'layers' });
  if (options.layers !== undefined && options.layers > found.size && contiguous === found.size) {
    throw new UsageError(`asked for ${options.layers} layers, the directory has ${found.size}`, { file: weightsDir, field: 'layers' });
  }
  const layerCount = options.layers ?? found.size;
  if (contiguous < layerCount) {
    throw new ModelFormatError(`layer ${contiguous + 1} of ${layerCount} is missing`, { file: join(weightsDir, `n${neurons}-l${contiguous + 1}.tsv`) });
  }
  const bias = options.bias ?? GRAPH_CHALLENGE_BIAS[neurons];
  if (bias === undefined) {
    throw new ModelFormatError(
      `the benchmark defines no bias for ${neurons} neurons (only for ${Object.keys(GRAPH_CHALLENGE_BIAS).join(', ')}): give one (stepinfer model convert <dir> --bias <b>)`,
      { file: weightsDir },
    );
  }
  const layers: SparseLayer[] = [];
  for (let k = 1; k <= layerCount; k++) {
    layers.push(readWeightTsv(join(weightsDir, found.get(k)!), neurons));
    options.onLayer?.(k, layerCount);
  }
  return { neurons, layers, bias, activationCap: GRAPH_CHALLENGE_ACTIVATION_CAP };
}

export interface ReadInputsOptions {
  /** Keep samples 1..limit only (the file may hold more). */
  readonly limit?: number;
}

/** Reads an input TSV `sample<TAB>neuron<TAB>value` into one activation row per sample. */
export function readInputTsv(file: string, neurons: number, options: ReadInputsOptions = {}): SparseRows {
  const t = parseTriples(readDataFile(file, 'input file not found'), file, ['sample', 'neuron', 'value']);
  if (t.count === 0) throw new ModelFormatError('no inputs: the file has no sample<TAB>neuron<TAB>value lines', { file });
  checkRange(t, neurons, 'second', 'neuron', file, `the network (${neurons} neurons)`);
  // A sample with no line is an all-zero input; more samples than lines means most of them are,
  // which is a wrong column or a typo, and would cost rows (memory, time) the file never paid for.
  if (t.maxFirst + 1 > t.count) {
    const at = t.first.indexOf(t.maxFirst);
    throw new ModelFormatError(
      `sample ${t.maxFirst + 1} is beyond the file's ${t.count} line${t.count === 1 ? '' : 's'}: sample ids must not exceed the number of lines (every sample has at least one nonzero on average)`,
      { file, line: t.line[at] },
    );
  }
  if (options.limit !== undefined && options.limit > t.maxFirst + 1) {
    throw new UsageError(`asked for ${options.limit} inputs, the file holds ${t.maxFirst + 1}`, { file, field: 'limit' });
  }
  const rows = options.limit !== undefined ? options.limit : t.maxFirst + 1;
  let kept: Triples = t;
  if (options.limit !== undefined && t.maxFirst >= options.limit) {
    const keep: number[] = [];
    for (let i = 0; i < t.count; i++) if (t.first[i] < options.limit) keep.push(i);
    const pick = <A extends Uint32Array | Float32Array>(a: A): A => {
      const out = new (a.constructor as { new (n: number): A })(keep.length);
      for (let i = 0; i < keep.length; i++) out[i] = a[keep[i]];
      return out;
    };
    kept = { ...t, count: keep.length, first: pick(t.first), second: pick(t.second), value: pick(t.value), line: pick(t.line) };
  }
  const c = compressTriples(kept, { file, majorField: 'first', majorCount: rows, majorName: 'sample', minorName: 'neuron' });
  return { rows, columns: neurons, rowStart: c.start, columnIndex: c.index, value: c.value };
}

/** Reads a truth file of 1-based category ids; returns them 0-based and ascending. */
export function readCategories(file: string): Uint32Array {
  return parseIdList(readDataFile(file, 'categories file not found'), file);
}
