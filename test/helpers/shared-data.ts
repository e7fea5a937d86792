// The shared benchmark data the tests run on. Missing data fails the test that needs it, loudly:
// a real-data case must never be skipped.
import { existsSync } from 'node:fs';
import { defaultFsdRunsFile } from '../../cli/files.ts';
import { defaultGraphChallengeDir, graphChallengePaths, readCategories, readGraphChallengeNetwork, readInputTsv } from '../../model/graphchallenge.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';

/** The published FSD-Inference runs, beside the GraphChallenge data (so $STEPINFER_DATA moves both). */
export const FSD_RUNS = defaultFsdRunsFile();

/** Returns `path`, or throws naming what is missing and where. */
export function requireData(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} is missing at ${path} (set STEPINFER_DATA to shared/data/graphchallenge); this test must not be skipped`);
  }
  return path;
}

/** The real GraphChallenge case: the 1024 x 120 network, its 10,000 inputs, and the truth categories among them (0-based). */
export interface RealCase {
  readonly network: SparseNetwork;
  readonly inputs: SparseRows;
  readonly truth: number[];
}

/** Loads the real case, failing (never skipping) when any of its files is missing. */
export function loadRealCase(): RealCase {
  const paths = graphChallengePaths(defaultGraphChallengeDir());
  requireData(paths.weightsDir, 'the GraphChallenge 1024-neuron network');
  requireData(paths.inputs, 'the GraphChallenge inputs');
  requireData(paths.categories, 'the GraphChallenge truth categories');
  const network = readGraphChallengeNetwork(paths.weightsDir);
  const inputs = readInputTsv(paths.inputs, network.neurons);
  // The truth file covers 60,000 inputs; these are the first 10,000.
  const truth = [...readCategories(paths.categories)].filter((id) => id < inputs.rows);
  return { network, inputs, truth };
}
