// The edge's readers of JSON input files (run records, prices, calibration profiles, plans), with
// errors that name the file: one way to do it for every reader. The planner only parses values.

import { existsSync, readFileSync } from 'node:fs';
import { FileAccessError, ModelFormatError } from '../model/errors.ts';
import { defaultPrices, parsePriceOverride, type PriceTable } from '../planner/cost/prices.ts';
import { parseRunRecords, type RunRecord } from '../planner/cost/record.ts';
import { parseCalibrationProfile, type CalibrationProfile } from '../planner/latency/profile.ts';

/** Parsed JSON of `file`; `missing` says what the file is, for the not-found error. */
export function readJsonFile(file: string, missing: string): unknown {
  if (!existsSync(file)) throw new FileAccessError(missing, { file });
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`not valid JSON: ${(error as Error).message}`, { file });
  }
}

/** A price override file applied to the defaults (or to `base`). */
export function readPriceFile(file: string, base: PriceTable = defaultPrices()): PriceTable {
  return parsePriceOverride(readJsonFile(file, 'price file not found'), file, base);
}

/** One run record or an array of them (the FSD-Inference record format). */
export function readRunRecords(file: string): RunRecord[] {
  return parseRunRecords(readJsonFile(file, 'run record file not found'), file);
}

export function readCalibrationProfile(file: string): CalibrationProfile {
  return parseCalibrationProfile(readJsonFile(file, 'calibration profile not found (run stepinfer calibrate --out <file>)'), file);
}
