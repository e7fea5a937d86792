// The one way model, input, truth and JSON files are read: a missing file, a folder where a file
// belongs or an unreadable path becomes a FileAccessError naming the file, never a stack trace.

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { FileAccessError, fileAccessError } from './errors.ts';

/** The bytes of `file`; `missing` says what the file is, for the not-found error ("input file not found"). */
export function readDataFile(file: string, missing: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileAccessError(missing, { file });
    throw fileAccessError(error, file);
  }
}

/** Checks, before any work, that `file` exists and is a readable file (not a folder). */
export function checkReadableFile(file: string, missing: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(file).isDirectory();
    accessSync(file, constants.R_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileAccessError(missing, { file });
    throw fileAccessError(error, file);
  }
  if (isFolder) throw new FileAccessError('is a folder, a file was expected', { file });
}
