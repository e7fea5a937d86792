// Reads a JSON input file (run records, prices, calibration profiles, plans) with errors that
// name the file: one way to do it for every reader.

import { existsSync, readFileSync } from 'node:fs';
import { ModelFormatError, UsageError } from './errors.ts';

/** Parsed JSON of `file`; `missing` says what the file is, for the not-found error. */
export function readJsonFile(file: string, missing: string): unknown {
  if (!existsSync(file)) throw new UsageError(missing, { file });
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`not valid JSON: ${(error as Error).message}`, { file });
  }
}
