// Resolves what a command runs on: files the user named, the real GraphChallenge benchmark when
// its data is reachable, or a generated network of the same shape (and says which).

import { UsageError } from '../model/errors.ts';
import { loadInputs, loadNetwork } from '../model/load.ts';
import { generateInputs, generateRadixNetwork } from '../model/generate.ts';
import {
  defaultGraphChallengeDir, graphChallengeDataPresent, graphChallengePaths, readCategories,
} from '../model/graphchallenge.ts';
import type { SparseNetwork, SparseRows } from '../model/network.ts';

export interface WorkloadOptions {
  readonly model?: string;
  readonly inputs?: string;
  readonly truth?: string;
  /** Use the first `limit` inputs. */
  readonly limit?: number;
  readonly layers?: number;
  /** "NxL", e.g. 1024x120: a generated RadiX-Net network. */
  readonly generate?: string;
  readonly samples?: number;
  readonly seed?: number;
}

export interface Workload {
  readonly network: SparseNetwork;
  readonly inputs: SparseRows;
  /** 0-based truth category ids among the inputs used, when known. */
  readonly truth?: Uint32Array;
  readonly source: 'graphchallenge' | 'files' | 'generated';
  readonly description: string;
}

export function parseShape(raw: string): { neurons: number; layers: number } {
  const m = /^(\d+)x(\d+)$/.exec(raw.trim());
  if (!m) throw new UsageError(`expected NxL such as 1024x120, got "${raw}"`, { field: 'generate' });
  return { neurons: Number(m[1]), layers: Number(m[2]) };
}

function truthWithin(ids: Uint32Array, rows: number): Uint32Array {
  let end = 0;
  while (end < ids.length && ids[end] < rows) end++;
  return ids.subarray(0, end);
}

export function resolveWorkload(o: WorkloadOptions): Workload {
  if (o.generate !== undefined || (o.model === undefined && !graphChallengeDataPresent(defaultGraphChallengeDir()))) {
    const shape = o.generate !== undefined ? parseShape(o.generate) : { neurons: 1024, layers: 120 };
    const seed = o.seed ?? 1;
    const network = generateRadixNetwork({ ...shape, layers: o.layers ?? shape.layers, seed });
    const samples = o.limit ?? o.samples ?? 10_000;
    const inputs = generateInputs({ neurons: shape.neurons, samples, seed });
    const why = o.generate !== undefined ? '' : ` (the real benchmark data is not at ${defaultGraphChallengeDir()})`;
    return {
      network, inputs, source: 'generated',
      description: `generated RadiX-Net ${shape.neurons} neurons x ${network.layers.length} layers, ${samples} generated inputs, seed ${seed}${why}`,
    };
  }
  if (o.model === undefined) {
    const dir = defaultGraphChallengeDir();
    const p = graphChallengePaths(dir);
    const network = loadNetwork(p.weightsDir, { layers: o.layers });
    const inputs = loadInputs(o.inputs ?? p.inputs, network.neurons, o.limit ?? 10_000);
    // The truth file is for all 120 layers; it says nothing about a shorter network.
    const truth = network.layers.length === 120 && o.inputs === undefined ? truthWithin(readCategories(o.truth ?? p.categories), inputs.rows) : undefined;
    return {
      network, inputs, truth, source: 'graphchallenge',
      description: `real GraphChallenge ${network.neurons} neurons x ${network.layers.length} layers, ${inputs.rows} real inputs (${dir})`,
    };
  }
  if (o.inputs === undefined) throw new UsageError('--model needs --inputs (a sample<TAB>neuron<TAB>value TSV)', { field: 'inputs' });
  const network = loadNetwork(o.model, { layers: o.layers });
  const inputs = loadInputs(o.inputs, network.neurons, o.limit);
  const truth = o.truth !== undefined ? truthWithin(readCategories(o.truth), inputs.rows) : undefined;
  return {
    network, inputs, truth, source: 'files',
    description: `${o.model}: ${network.neurons} neurons x ${network.layers.length} layers, ${inputs.rows} inputs from ${o.inputs}`,
  };
}

/** Compares categories with the truth; returns a one-line verdict and whether they match. */
export function compareWithTruth(categories: readonly number[], truth: Uint32Array): { matches: boolean; missing: number[]; extra: number[] } {
  const got = new Set(categories);
  const want = new Set(truth);
  const missing = [...want].filter((id) => !got.has(id)).map((id) => id + 1);
  const extra = [...got].filter((id) => !want.has(id)).map((id) => id + 1);
  return { matches: missing.length === 0 && extra.length === 0, missing, extra };
}
