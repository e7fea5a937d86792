// One way to open a model or inputs from a path, whatever its format.

import { existsSync, statSync, writeFileSync } from 'node:fs';
import { UsageError, FileAccessError } from './errors.ts';
import { readNetworkFile } from './binary.ts';
import { readGraphChallengeNetwork, readInputTsv, type ReadNetworkOptions } from './graphchallenge.ts';
import type { SparseNetwork, SparseRows } from './network.ts';

/** A `.sdnn` file or a GraphChallenge `neuron<N>/` directory of layer TSVs. */
export function loadNetwork(path: string, options: ReadNetworkOptions = {}): SparseNetwork {
  if (!existsSync(path)) throw new FileAccessError('model not found (give a .sdnn file or a neuron<N>/ directory of layer TSVs)', { file: path });
  if (statSync(path).isDirectory()) return readGraphChallengeNetwork(path, options);
  if (path.endsWith('.sdnn')) {
    const network = readNetworkFile(path);
    if (options.layers !== undefined) {
      if (options.layers > network.layers.length) {
        throw new UsageError(`asked for ${options.layers} layers, the model has ${network.layers.length}`, { file: path, field: 'layers' });
      }
      return { ...network, layers: network.layers.slice(0, options.layers), bias: options.bias ?? network.bias };
    }
    return options.bias === undefined ? network : { ...network, bias: options.bias };
  }
  throw new UsageError('unknown model format (expected a .sdnn file or a directory of n<N>-l<k>.tsv files)', { file: path });
}

/** Input activations from a GraphChallenge TSV. */
export function loadInputs(path: string, neurons: number, limit?: number): SparseRows {
  return readInputTsv(path, neurons, { limit });
}

/** Writes activations as GraphChallenge TSV (`sample<TAB>neuron<TAB>value`, 1-based). */
export function writeRowsTsv(path: string, rows: SparseRows): void {
  const lines: string[] = [];
  for (let r = 0; r < rows.rows; r++) {
    for (let p = rows.rowStart[r]; p < rows.rowStart[r + 1]; p++) lines.push(`${r + 1}\t${rows.columnIndex[p] + 1}\t${rows.value[p]}`);
  }
  writeFileSync(path, lines.length ? `${lines.join('\n')}\n` : '');
}
