// The one way model, input, truth and JSON files are read: a missing file, a folder where a file
// belongs or an unreadable path becomes a FileAccessError naming the file, never a stack trace.

import { accessSync, constants, readFileSync, statSync, type Stats } from 'node:fs';
import { FileAccessError, fileAccessError } from './errors.ts';

/** The bytes of `file`; `missing` says what the file is, for the not-found error ("input file not found"). */
export function readDataFile(file: string, missing: string): Buffer {
  checkReadableFile(file, missing);
  try {
    return readFileSync(file);
  } catch (error) {
    throw fileAccessError(error, file);
  }
}

/**
 * Checks, before any work, that `file` exists and is a readable regular file: not a folder, and
 * not a device or pipe (/dev/zero would be read forever).
 */
export function checkReadableFile(file: string, missing: string): void {
  let stats: Stats;
  try {
    stats = statSync(file);
    accessSync(file, constants.R_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileAccessError(missing, { file });
    throw fileAccessError(error, file);
  }
  if (stats.isDirectory()) throw new FileAccessError('is a folder, a file was expected', { file });
  if (!stats.isFile()) throw new FileAccessError('is not a regular file (a device or a pipe); give a file', { file });
}
