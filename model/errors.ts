// Errors of stepinfer. Each names what was wrong and where (file, line, layer, worker, field),
// so a user can go straight to the cause. Every error the CLI prints is one of these.

export interface ErrorPlace {
  readonly file?: string;
  /** 1-based line in `file`. */
  readonly line?: number;
  /** 1-based layer number, as in the GraphChallenge file names. */
  readonly layer?: number;
  readonly worker?: number;
  readonly field?: string;
}

function describePlace(place: ErrorPlace): string {
  const parts: string[] = [];
  if (place.file !== undefined) parts.push(place.line !== undefined ? `${place.file}:${place.line}` : place.file);
  if (place.layer !== undefined) parts.push(`layer ${place.layer}`);
  if (place.worker !== undefined) parts.push(`worker ${place.worker}`);
  if (place.field !== undefined) parts.push(`field ${place.field}`);
  return parts.join(', ');
}

export class StepinferError extends Error {
  readonly place: ErrorPlace;
  constructor(message: string, place: ErrorPlace = {}) {
    const where = describePlace(place);
    super(where ? `${where}: ${message}` : message);
    this.name = new.target.name;
    this.place = place;
  }
}

/** A model, input or truth file that is malformed, inconsistent or corrupt. */
export class ModelFormatError extends StepinferError {}

/** A request that cannot be satisfied: bad option values, missing data, unsupported runtime. */
export class UsageError extends StepinferError {}
