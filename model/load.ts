// One way to open a model or inputs from a path, whatever its format, and to render activations
// as GraphChallenge TSV. Files are written at the edges (cli/files.ts), never here.

import { statSync, writeFileSync } from 'node:fs';
import { UsageError, FileAccessError, ModelFormatError, fileAccessError } from './errors.ts';
import { readNetworkFile } from './binary.ts';
import { readGraphChallengeNetwork, readInputTsv, type ReadNetworkOptions } from './graphchallenge.ts';
import type { SparseNetwork, SparseRows } from './network.ts';

/** The kind of model at `path`, from the file system: a `neuron<N>/` directory or a `.sdnn` file. */
export function modelFormat(path: string): 'graphchallenge-tsv' | 'sdnn' {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FileAccessError('model not found (give a .sdnn file or a neuron<N>/ directory of layer TSVs)', { file: path });
    }
    throw fileAccessError(error, path);
  }
  if (isDirectory) return 'graphchallenge-tsv';
  if (path.endsWith('.sdnn')) return 'sdnn';
  throw new ModelFormatError('not a model: expected a .sdnn file or a directory of n<N>-l<k>.tsv files', { file: path });
}

/** A `.sdnn` file or a GraphChallenge `neuron<N>/` directory of layer TSVs. */
export function loadNetwork(path: string, options: ReadNetworkOptions = {}): SparseNetwork {
  if (modelFormat(path) === 'graphchallenge-tsv') return readGraphChallengeNetwork(path, options);
  const network = readNetworkFile(path);
  if (options.layers !== undefined) {
    if (options.layers > network.layers.length) {
      throw new UsageError(`asked for ${options.layers} layers, the model has ${network.layers.length}`, { file: path, field: 'layers' });
    }
    return { ...network, layers: network.layers.slice(0, options.layers), bias: options.bias ?? network.bias };
  }
  return options.bias === undefined ? network : { ...network, bias: options.bias };
}

/** Input activations from a GraphChallenge TSV. */
export function loadInputs(path: string, neurons: number, limit?: number): SparseRows {
  return readInputTsv(path, neurons, { limit });
}

/** Activations as GraphChallenge TSV text (`sample<TAB>neuron<TAB>value`, 1-based). */
export function formatRowsTsv(rows: SparseRows): string {
  const lines: string[] = [];
  for (let r = 0; r < rows.rows; r++) {
    for (let p = rows.rowStart[r]; p < rows.rowStart[r + 1]; p++) lines.push(`${r + 1}\t${rows.columnIndex[p] + 1}\t${rows.value[p]}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Writes activations as TSV, for test fixtures; commands write through cli/files.ts (checked, atomic). */
export function writeRowsTsv(path: string, rows: SparseRows): void {
  writeFileSync(path, formatRowsTsv(rows));
}
