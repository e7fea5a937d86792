// Files at the edge: the readers of JSON inputs (run records, prices, calibration profiles, plans)
// and the one way every command writes an output (checked before the work starts, written
// atomically, never overwriting silently). Errors name the file. The planner only parses values.

import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FileAccessError, ModelFormatError, UsageError } from '../model/errors.ts';
import { defaultPrices, parsePriceOverride, type PriceTable } from '../planner/cost/prices.ts';
import { parseRunRecords, type RunRecord } from '../planner/cost/record.ts';
import { parseCalibrationProfile, type CalibrationProfile } from '../planner/latency/profile.ts';

/** Parsed JSON of `file`; `missing` says what the file is, for the not-found error. */
export function readJsonFile(file: string, missing: string): unknown {
  if (!existsSync(file)) throw new FileAccessError(missing, { file });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw fileAccessError(error, file);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`not valid JSON: ${(error as Error).message}`, { file });
  }
}

/** A file-system error (ENOENT, EACCES, EISDIR, ...) as a FileAccessError naming the file, without a stack trace. */
export function fileAccessError(error: unknown, file: string): FileAccessError {
  const code = (error as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOENT: 'no such file or folder',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a folder, a file was expected',
    ENOTDIR: 'a part of the path is not a folder',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
  };
  return new FileAccessError(why[code ?? ''] ?? (error as Error).message, { file });
}

export interface OutputCheck {
  /** Replace an existing file (a command's --force). */
  readonly overwrite?: boolean;
  /** The option that named the file, for messages (e.g. "--out"). */
  readonly option?: string;
}

/**
 * Checks, before any work starts, that `file` can be written: its folder exists and is writable,
 * `file` is not a folder, and it does not exist yet unless `overwrite`. Returns the absolute path.
 */
export function checkOutputPath(file: string, check: OutputCheck = {}): string {
  const path = resolve(file);
  const folder = dirname(path);
  if (!existsSync(folder)) throw new FileAccessError(`the folder ${folder} does not exist`, { file });
  if (!statSync(folder).isDirectory()) throw new FileAccessError(`${folder} is not a folder`, { file });
  try {
    accessSync(folder, constants.W_OK);
  } catch (error) {
    throw fileAccessError(error, folder);
  }
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new FileAccessError('is a folder, a file was expected', { file });
    if (!check.overwrite) {
      throw new UsageError(`already exists; pass --force to replace it${check.option ? ` or choose another ${check.option}` : ''}`, { file });
    }
  }
  return path;
}

/** Writes `data` to `file` atomically (a temporary file beside it, then a rename): a failed write leaves nothing behind. */
export function writeOutputFile(file: string, data: string | Uint8Array): void {
  try {
    writeFileAtomic.sync(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (error) {
    throw fileAccessError(error, file);
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
