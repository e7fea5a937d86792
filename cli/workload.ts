// The one way every command (infer, partition, plan, the benchmarks) resolves what it runs on:
//   network: --model (a .sdnn file or a neuron<N>/ folder), --generate NxL, or by default the real
//            GraphChallenge benchmark found in its data folder (a generated stand-in of the
//            benchmark's shape when that data is absent, and the description says so);
//   inputs:  --inputs (a TSV), --samples (generated), or the benchmark's own inputs when the network
//            is the benchmark's;
//   truth:   --truth, or the benchmark's truth file for the network's layer count when network and
//            inputs are the benchmark's.
// Options are checked against each other, and every file and generated size is checked, before
// anything is read or generated. No option is ignored: one that cannot apply is refused.

import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { PlanFormatError, UsageError } from '../model/errors.ts';
import { checkReadableFile } from '../model/read-file.ts';
import { loadInputs, loadNetwork, modelFormat } from '../model/load.ts';
import {
  checkInputsOptions, checkRadixOptions, generatedInputsBytes, GRAPH_CHALLENGE_INPUT_DENSITY, generateInputs, generateRadixNetwork, radixNetworkBytes,
} from '../model/generate.ts';
import {
  defaultGraphChallengeDir, findGraphChallengeData, readCategories, GRAPH_CHALLENGE_CASE, type GraphChallengeData,
} from '../model/graphchallenge.ts';
import { rowsNonzeros, type SparseNetwork, type SparseRows } from '../model/network.ts';
import type { InputsReference, ModelReference } from '../planner/plan/build.ts';
import type { Command } from 'commander';
import { integerOption, seedOption, shapeOption, type Shape } from './options.ts';

export { parseShape } from './options.ts';

export interface WorkloadOptions {
  /** A .sdnn file or a neuron<N>/ folder of layer TSVs. */
  readonly model?: string;
  /** A generated RadiX-Net network of this shape (parseShape / shapeOption). */
  readonly generate?: Shape;
  /** Use the first `layers` layers of --model (or of the benchmark). */
  readonly layers?: number;
  /** Seed of generated networks and inputs (default 1). */
  readonly seed?: number;
  /** Inputs TSV (`sample<TAB>neuron<TAB>value`). */
  readonly inputs?: string;
  /** Generate this many inputs. */
  readonly samples?: number;
  /** Density of generated inputs (default model/generate.ts GRAPH_CHALLENGE_INPUT_DENSITY). */
  readonly inputDensity?: number;
  /** Use the first `limit` inputs (of the file, or of the generated stand-in's). */
  readonly limit?: number;
  /** Expected category ids (1-based, one per line). */
  readonly truth?: string;
}

export interface WorkloadNeeds {
  /** Without --model or --generate: 'benchmark' runs the real benchmark (or its stand-in); 'none' refuses. */
  readonly defaultModel: 'benchmark' | 'none';
  /**
   * 'required': the command runs inputs; 'optional': it uses them when named or when the
   * benchmark's are at hand; 'none': it never reads inputs (and refuses input options).
   */
  readonly inputs: 'required' | 'optional' | 'none';
  /** The command uses --seed for more than generation (partitioning), so a seed is never refused as unused. */
  readonly seedUsedElsewhere?: boolean;
  /** Progress while layer files are read. */
  readonly onLayer?: (layer: number, of: number) => void;
}

export interface Workload {
  readonly network: SparseNetwork;
  readonly inputs: SparseRows;
  /** 0-based truth category ids among the inputs used, when a truth is known. */
  readonly truth?: Uint32Array;
  /** The truth file, when there is one. */
  readonly truthFile?: string;
  /** Ids of the truth file beyond the inputs used (a truth file may cover more inputs, as the benchmark's covers 60,000). */
  readonly truthIdsBeyondInputs: number;
  /** 'graphchallenge' when network and inputs are the real benchmark's, 'generated' when the network is generated, else 'files'. */
  readonly source: 'graphchallenge' | 'files' | 'generated';
  readonly description: string;
  /** How to find the network again (plan.json's `model`). */
  readonly model: ModelReference;
  /** How to find the inputs again (plan.json's `workload.inputs`). */
  readonly inputsReference: InputsReference;
}

/** A workload whose inputs were optional and are absent. */
export type NetworkWorkload = Omit<Workload, 'inputs' | 'inputsReference'> & { readonly inputs?: undefined; readonly inputsReference?: undefined };

/** Generated networks and inputs are built in memory: refuse what would need more than half of this machine's memory. */
export function checkFitsInMemory(bytes: number, what: string, field: string): void {
  const budget = totalmem() / 2;
  if (bytes > budget) {
    throw new UsageError(`${what} would need ${formatGB(bytes)} of memory, more than half of this machine's ${formatGB(totalmem())}`, { field });
  }
}

const formatGB = (bytes: number) => `${(bytes / 2 ** 30).toPrecision(3)} GB`;

type NetworkChoice =
  | { readonly kind: 'generated'; readonly shape: Shape; readonly seed: number; readonly standIn?: string }
  | { readonly kind: 'files'; readonly path: string; readonly format: 'graphchallenge-tsv' | 'sdnn' }
  | { readonly kind: 'benchmark'; readonly data: GraphChallengeData };

type InputsChoice =
  | { readonly kind: 'file'; readonly path: string; readonly benchmark: boolean }
  | { readonly kind: 'generated'; readonly samples: number; readonly density?: number; readonly seed: number }
  | { readonly kind: 'none' };

function chooseNetwork(o: WorkloadOptions, needs: WorkloadNeeds): NetworkChoice {
  if (o.model !== undefined && o.generate !== undefined) throw new UsageError('give either --model or --generate, not both', { field: 'model' });
  const seed = o.seed ?? 1;
  if (o.generate !== undefined) {
    if (o.layers !== undefined) throw new UsageError('--layers applies to --model; a generated network takes its layer count from --generate NxL', { field: 'layers' });
    return checkedGeneration(o.generate, seed);
  }
  if (o.model !== undefined) return { kind: 'files', path: o.model, format: modelFormat(o.model) };
  if (needs.defaultModel === 'none') {
    throw new UsageError('give a model: --model <file.sdnn | neuron<N>/ folder> or --generate <N>x<L>', { field: 'model' });
  }
  const dir = defaultGraphChallengeDir();
  const data = findGraphChallengeData(dir);
  if (data) return { kind: 'benchmark', data };
  const shape = { neurons: GRAPH_CHALLENGE_CASE.neurons, layers: o.layers ?? GRAPH_CHALLENGE_CASE.layers };
  return { ...checkedGeneration(shape, seed), standIn: `the real benchmark data is not at ${dir}` };
}

function checkedGeneration(shape: Shape, seed: number): Extract<NetworkChoice, { kind: 'generated' }> {
  checkRadixOptions({ ...shape, seed });
  checkFitsInMemory(radixNetworkBytes(shape), `a generated ${shape.neurons} x ${shape.layers} network`, 'generate');
  return { kind: 'generated', shape, seed };
}

function chooseInputs(o: WorkloadOptions, needs: WorkloadNeeds, network: NetworkChoice): InputsChoice {
  if (o.inputs !== undefined && o.samples !== undefined) throw new UsageError('give either --inputs or --samples, not both', { field: 'inputs' });
  if (o.samples !== undefined && o.limit !== undefined) throw new UsageError('--limit picks the first inputs of a file; with --samples give the count once', { field: 'limit' });
  const seed = o.seed ?? 1;
  let choice: InputsChoice;
  if (needs.inputs === 'none') {
    for (const [name, value] of [['inputs', o.inputs], ['samples', o.samples], ['input-density', o.inputDensity], ['limit', o.limit], ['truth', o.truth]] as const) {
      if (value !== undefined) throw new UsageError(`--${name} does not apply: this command reads no inputs`, { field: name });
    }
    choice = { kind: 'none' };
  } else if (o.inputs !== undefined) {
    checkReadableFile(o.inputs, 'input file not found');
    choice = { kind: 'file', path: o.inputs, benchmark: false };
  } else if (o.samples !== undefined) {
    choice = { kind: 'generated', samples: o.samples, density: o.inputDensity, seed };
  } else if (network.kind === 'benchmark') {
    if (network.data.inputs !== undefined) {
      choice = { kind: 'file', path: network.data.inputs, benchmark: true };
    } else if (needs.inputs === 'required') {
      throw new UsageError(`the benchmark folder ${network.data.dir} has no sparse-images-${network.data.neurons}*.tsv inputs: give --inputs or --samples`, { field: 'inputs' });
    } else {
      choice = { kind: 'none' };
    }
  } else if (network.kind === 'generated' && network.standIn !== undefined) {
    const samples = o.limit ?? GRAPH_CHALLENGE_CASE.inputs;
    if (samples > GRAPH_CHALLENGE_CASE.inputs) {
      throw new UsageError(`asked for ${samples} inputs, the benchmark's stand-in has ${GRAPH_CHALLENGE_CASE.inputs}`, { field: 'limit' });
    }
    choice = { kind: 'generated', samples, density: o.inputDensity, seed };
  } else if (needs.inputs === 'required') {
    const what = network.kind === 'generated' ? '--generate makes a network only' : '--model names a network only';
    throw new UsageError(`${what}: give its inputs with --inputs <tsv> or --samples <n> (generated)`, { field: 'inputs' });
  } else {
    choice = { kind: 'none' };
  }
  if (o.inputDensity !== undefined && choice.kind !== 'generated') {
    throw new UsageError('--input-density applies to generated inputs (--samples) only', { field: 'input-density' });
  }
  if (o.limit !== undefined && choice.kind === 'none') throw new UsageError('--limit needs inputs (--inputs)', { field: 'limit' });
  if (o.truth !== undefined && choice.kind === 'none') throw new UsageError('--truth needs inputs to check (--inputs)', { field: 'truth' });
  if (choice.kind === 'generated') {
    const neurons = network.kind === 'generated' ? network.shape.neurons : undefined;
    // Against a model file the neuron count is known only once it is read; it is checked then.
    if (neurons !== undefined) checkGeneratedInputs(choice, neurons);
  }
  return choice;
}

function checkGeneratedInputs(choice: Extract<InputsChoice, { kind: 'generated' }>, neurons: number): void {
  const o = { neurons, samples: choice.samples, density: choice.density, seed: choice.seed };
  checkInputsOptions(o);
  checkFitsInMemory(generatedInputsBytes(o), `${choice.samples} generated inputs of ${neurons} neurons`, 'samples');
}

function truthWithin(ids: Uint32Array, rows: number): Uint32Array {
  let end = 0;
  while (end < ids.length && ids[end] < rows) end++;
  return ids.subarray(0, end);
}

/**
 * Resolves network, inputs and truth for a command (see the top of this file). With
 * `inputs: 'optional'` the inputs are absent unless named or the benchmark's are at hand.
 */
export function resolveWorkload(o: WorkloadOptions, needs: WorkloadNeeds & { readonly inputs: 'required' }): Workload;
export function resolveWorkload(o: WorkloadOptions, needs: WorkloadNeeds & { readonly inputs: 'none' }): NetworkWorkload;
export function resolveWorkload(o: WorkloadOptions, needs: WorkloadNeeds): Workload | NetworkWorkload;
export function resolveWorkload(o: WorkloadOptions, needs: WorkloadNeeds): Workload | NetworkWorkload {
  const networkChoice = chooseNetwork(o, needs);
  const inputsChoice = chooseInputs(o, needs, networkChoice);
  if (o.seed !== undefined && !needs.seedUsedElsewhere && networkChoice.kind !== 'generated' && inputsChoice.kind !== 'generated') {
    throw new UsageError('--seed applies to generated networks and inputs only (--generate, --samples)', { field: 'seed' });
  }
  if (o.truth !== undefined) checkReadableFile(o.truth, 'truth file not found');

  // The work: read or generate the network, then the inputs, then the truth.
  let network: SparseNetwork;
  let model: ModelReference;
  let description: string;
  if (networkChoice.kind === 'generated') {
    const { shape, seed } = networkChoice;
    network = generateRadixNetwork({ ...shape, seed });
    model = { source: 'generated', path: null, generate: { ...shape, seed } };
    description = `generated RadiX-Net ${shape.neurons} neurons x ${shape.layers} layers, seed ${seed}${networkChoice.standIn ? ` (${networkChoice.standIn})` : ''}`;
  } else if (networkChoice.kind === 'files') {
    network = loadNetwork(networkChoice.path, { layers: o.layers, onLayer: needs.onLayer });
    model = { source: networkChoice.format, path: networkChoice.path, generate: null };
    description = `${networkChoice.path}: ${network.neurons} neurons x ${network.layers.length} layers`;
  } else {
    const { data } = networkChoice;
    network = loadNetwork(data.weightsDir, { layers: o.layers, onLayer: needs.onLayer });
    model = { source: 'graphchallenge-tsv', path: data.weightsDir, generate: null };
    description = `real GraphChallenge ${network.neurons} neurons x ${network.layers.length} layers (${data.dir})`;
  }
  const source = networkChoice.kind === 'generated' ? 'generated'
    : networkChoice.kind === 'benchmark' && inputsChoice.kind === 'file' && inputsChoice.benchmark ? 'graphchallenge' : 'files';

  if (inputsChoice.kind === 'none') {
    return { network, source, description, model, truthIdsBeyondInputs: 0 };
  }
  let inputs: SparseRows;
  let inputsReference: InputsReference;
  if (inputsChoice.kind === 'generated') {
    checkGeneratedInputs(inputsChoice, network.neurons);
    const { samples, density, seed } = inputsChoice;
    inputs = generateInputs({ neurons: network.neurons, samples, density, seed });
    inputsReference = { source: 'generated', path: null, samples, seed, density: density ?? GRAPH_CHALLENGE_INPUT_DENSITY };
    description += `, ${samples} generated inputs${networkChoice.kind === 'generated' ? '' : `, seed ${seed}`}`;
  } else {
    inputs = loadInputs(inputsChoice.path, network.neurons, o.limit);
    inputsReference = { source: 'tsv', path: inputsChoice.path, samples: inputs.rows, seed: null, density: rowsNonzeros(inputs) / (inputs.rows * network.neurons) };
    description += inputsChoice.benchmark ? `, ${inputs.rows} real inputs` : `, ${inputs.rows} inputs from ${inputsChoice.path}`;
  }

  let truthFile = o.truth;
  if (truthFile === undefined && source === 'graphchallenge' && networkChoice.kind === 'benchmark') {
    truthFile = networkChoice.data.categories.get(network.layers.length);
    if (truthFile === undefined) description += ` (no truth file for ${network.layers.length} layers in ${networkChoice.data.dir})`;
  }
  let truth: Uint32Array | undefined;
  let truthIdsBeyondInputs = 0;
  if (truthFile !== undefined) {
    const ids = readCategories(truthFile);
    truth = truthWithin(ids, inputs.rows);
    truthIdsBeyondInputs = ids.length - truth.length;
  }
  return { network, inputs, inputsReference, truth, truthFile, truthIdsBeyondInputs, source, description, model };
}

/**
 * The input rows a reference names again (a plan report's workload.inputs: how the plan's inputs
 * were made), by the same readers and generator resolveWorkload makes them with, and what they are.
 */
export function referencedInputs(ref: InputsReference, neurons: number): { inputs: SparseRows; from: string } {
  if (ref.source === 'tsv') {
    if (ref.path === null) throw new PlanFormatError('the inputs are a TSV file, but no path is given', { field: 'workload.inputs.path' });
    return { inputs: loadInputs(resolve(ref.path), neurons), from: ref.path };
  }
  const seed = ref.seed ?? 1;
  return {
    inputs: generateInputs({ neurons, samples: ref.samples, density: ref.density ?? undefined, seed }),
    from: `${ref.samples} generated inputs (seed ${seed}${ref.density !== null ? `, density ${ref.density}` : ''})`,
  };
}

/** Compares categories with the truth; returns whether they match and the 1-based ids missing and extra. */
export function compareWithTruth(categories: readonly number[], truth: Uint32Array): { matches: boolean; missing: number[]; extra: number[] } {
  const got = new Set(categories);
  const want = new Set(truth);
  const missing = [...want].filter((id) => !got.has(id)).map((id) => id + 1);
  const extra = [...got].filter((id) => !want.has(id)).map((id) => id + 1);
  return { matches: missing.length === 0 && extra.length === 0, missing, extra };
}

/**
 * The options that choose a run's workload (model, inputs, truth, limits), the same on every
 * command that runs inference; `generateExample` is the shape its help shows.
 */
export function addWorkloadOptions(command: Command, generateExample: string): Command {
  return command
    .option('--model <path>', 'a .sdnn model or a neuron<N>/ directory of GraphChallenge layer TSVs')
    .option('--generate <NxL>', `a generated RadiX-Net network instead, e.g. ${generateExample} (its inputs: --samples or --inputs)`, shapeOption)
    .option('--inputs <tsv>', 'input activations, sample<TAB>neuron<TAB>value, 1-based')
    .option('--samples <n>', 'generate n inputs instead of reading --inputs', integerOption(1))
    .option('--seed <n>', 'seed of generated networks and inputs (default 1)', seedOption)
    .option('--truth <tsv>', 'expected category ids (1-based, one per line); a mismatch fails the command')
    .option('--limit <n>', 'use the first n inputs', integerOption(1))
    .option('--layers <L>', 'use the first L layers of the model', integerOption(1));
}
