// The shared benchmark data the tests run on. Missing data fails the test that needs it, loudly:
// a real-data case must never be skipped.
import { existsSync } from 'node:fs';
import { defaultFsdRunsFile } from '../../cli/files.ts';

/** The published FSD-Inference runs, beside the GraphChallenge data (so $STEPINFER_DATA moves both). */
export const FSD_RUNS = defaultFsdRunsFile();

/** Returns `path`, or throws naming what is missing and where. */
export function requireData(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} is missing at ${path} (set STEPINFER_DATA to shared/data/graphchallenge); this test must not be skipped`);
  }
  return path;
}
