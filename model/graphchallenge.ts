// The GraphChallenge Sparse DNN file layout: a directory `neuron<N>/` of per-layer weight TSVs
// `n<N>-l<k>.tsv`, an input TSV `sparse-images-<N>*.tsv` and a truth file of category ids.

import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelFormatError, UsageError, FileAccessError } from './errors.ts';
import { parseTriples, parseIdList, type Triples } from './tsv.ts';
import { compressTriples } from './compress.ts';
import {
  GRAPH_CHALLENGE_BIAS, GRAPH_CHALLENGE_ACTIVATION_CAP,
  type SparseLayer, type SparseNetwork, type SparseRows,
} from './network.ts';

const LAYER_FILE = /^n(\d+)-l(\d+)\.tsv$/;

/** Where the real benchmark data lives: $STEPINFER_DATA, else ../shared/data/graphchallenge beside the checkout. */
export function defaultGraphChallengeDir(): string {
  if (process.env.STEPINFER_DATA) return resolve(process.env.STEPINFER_DATA);
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return resolve(repo, '..', 'shared', 'data', 'graphchallenge');
}

/** The paths of the real benchmark case of `neurons` x `layers`, whether or not they exist. */
export function graphChallengePaths(dir: string, neurons = 1024, layers = 120) {
  return {
    weightsDir: join(dir, `neuron${neurons}`),
    inputs: join(dir, `sparse-images-${neurons}-first10000.tsv`),
    categories: join(dir, `neuron${neurons}-l${layers}-categories.tsv`),
  };
}

export function graphChallengeDataPresent(dir: string, neurons = 1024, layers = 120): boolean {
  const p = graphChallengePaths(dir, neurons, layers);
  return existsSync(join(p.weightsDir, `n${neurons}-l${layers}.tsv`)) && existsSync(p.inputs) && existsSync(p.categories);
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
  const t = parseTriples(readFileSync(file), file, ['row', 'column', 'weight']);
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
  for (const name of readdirSync(weightsDir)) {
    const m = LAYER_FILE.exec(name);
    if (!m) continue;
    const n = Number(m[1]);
    if (neurons !== -1 && n !== neurons) {
      throw new ModelFormatError(`layer files of two network sizes (${neurons} and ${n}) in one directory`, { file: join(weightsDir, name) });
    }
    neurons = n;
    found.set(Number(m[2]), name);
  }
  if (neurons === -1) throw new ModelFormatError('no n<N>-l<k>.tsv layer files', { file: weightsDir });
  const layerCount = options.layers ?? found.size;
  if (layerCount < 1) throw new UsageError(`layers must be at least 1, got ${layerCount}`);
  for (let k = 1; k <= layerCount; k++) {
    if (!found.has(k)) {
      throw new ModelFormatError(`layer ${k} of ${layerCount} is missing`, { file: join(weightsDir, `n${neurons}-l${k}.tsv`) });
    }
  }
  const bias = options.bias ?? GRAPH_CHALLENGE_BIAS[neurons];
  if (bias === undefined) {
    throw new UsageError(`no GraphChallenge bias is defined for ${neurons} neurons; pass a bias explicitly`, { file: weightsDir });
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
  if (!existsSync(file)) throw new FileAccessError('input file not found', { file });
  const t = parseTriples(readFileSync(file), file, ['sample', 'neuron', 'value']);
  checkRange(t, neurons, 'second', 'neuron', file, `the network (${neurons} neurons)`);
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
  if (!existsSync(file)) throw new FileAccessError('categories file not found', { file });
  return parseIdList(readFileSync(file), file);
}
