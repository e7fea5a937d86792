// The one way JSON text becomes a value, for files read at the edge and plan text alike. No I/O
// here, so the pure planner may use it.

import { ModelFormatError } from './errors.ts';

/**
 * JSON text as a value; text that is not JSON is a `kind` error naming `file`, in one printable
 * line (JSON.parse quotes the text around the problem).
 */
export function parseJsonText(text: string, file: string, kind: typeof ModelFormatError = ModelFormatError): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const why = (error as Error).message.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').slice(0, 160);
    throw new kind(`not valid JSON: ${why}`, { file });
  }
}
