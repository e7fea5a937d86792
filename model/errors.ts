// Every error of stepinfer, in one place. Each names what was wrong and where (file and line,
// layer, worker, field), so a user can go straight to the cause, and carries the exit code the CLI
// returns for it: 2 when the command line itself is wrong, 1 for everything else. It lives in
// model/ because model/ is the base every other folder imports.

import type { ZodError } from 'zod';

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

/** Exit codes of the CLI (README, "Command line"). */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class StepinferError extends Error {
  readonly place: ErrorPlace;
  /** What the CLI exits with when this error ends a command. */
  readonly exitCode: number = EXIT_FAILURE;
  constructor(message: string, place: ErrorPlace = {}) {
    const where = describePlace(place);
    super(where ? `${where}: ${message}` : message);
    this.name = new.target.name;
    this.place = place;
  }
}

/** The command line is wrong: an option value out of range, contradictory or missing options. */
export class UsageError extends StepinferError {
  override readonly exitCode = EXIT_USAGE;
}

/** A file that cannot be read or written as asked: missing, a folder where a file belongs, no permission. */
export class FileAccessError extends StepinferError {}

/** Why a file-system call failed (ENOENT, EACCES, EISDIR, ...), in words. */
export function fileErrorReason(error: unknown): string {
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
  return why[code ?? ''] ?? (error as Error).message;
}

/** A file-system error as a FileAccessError naming the file, without a stack trace. */
export function fileAccessError(error: unknown, file: string): FileAccessError {
  return new FileAccessError(fileErrorReason(error), { file });
}

/** A model, input, truth, plan, price, record or calibration file that is malformed, inconsistent or corrupt. */
export class ModelFormatError extends StepinferError {
  /** Every problem found, as `field: message` (the message names the first). */
  readonly issues: readonly string[];
  constructor(message: string, place: ErrorPlace = {}, issues: readonly string[] = []) {
    super(message, place);
    this.issues = issues;
  }
}

/**
 * A file that is not an ONNX model we can read: bytes that do not decode as one, no graph, a graph
 * that is not a DAG, shapes that do not agree, weights kept in external files (model/onnx/).
 */
export class OnnxFormatError extends ModelFormatError {}

/** An ONNX node whose operator stepinfer cannot infer shapes or cost for; names the node, its operator and the file. */
export class UnsupportedOperatorError extends StepinferError {
  readonly nodeName: string;
  readonly opType: string;
  constructor(message: string, file: string, nodeName: string, opType: string) {
    super(message, { file });
    this.nodeName = nodeName;
    this.opType = opType;
  }
}

/** A plan file that is malformed or inconsistent (planner/plan/schema.ts). */
export class PlanFormatError extends ModelFormatError {}

/** A Lambda handler's event (functions/handlers/events.ts) or a status object that does not parse. */
export class EventFormatError extends ModelFormatError {}

/**
 * A generated Step Functions workflow (workflows/asl/) that breaks a rule of the States Language or
 * an AWS limit: names, transitions, timeouts, payload sizes, Map concurrency; `issues` lists every problem.
 */
export class WorkflowDefinitionError extends ModelFormatError {}

/**
 * A channel message between workers (functions/channels/wire.ts) that is truncated, corrupt, of
 * another format version, or inconsistent with the other chunks and parts of its source; the
 * message names the source worker, layer, part and chunk it is about.
 */
export class WireFormatError extends StepinferError {}

/**
 * A channel receive that waited past its deadline: the message names the run, layer, worker and
 * every source still missing (no result is produced from incomplete data).
 */
export class ChannelTimeoutError extends StepinferError {}

/** An S3 object a handler needs (a shard, inputs, rows handed over, a status) is not there. */
export class MissingObjectError extends StepinferError {}

/**
 * A distributed run that did not complete: a worker failed, or did not report by its deadline.
 * The message names the run, stage, worker, layer and cause; no result is produced.
 */
export class RunFailedError extends StepinferError {}

/** Data of a different shape than the code it is given to (a kernel for N neurons and inputs of M columns). */
export class ShapeMismatchError extends StepinferError {}

/** No plan meets the SLO; carries a summary of the fastest plan that exists, when there is one. */
export class SloUnreachableError extends StepinferError {
  readonly fastest: { readonly label: string; readonly latencySeconds: number; readonly costUSD: number } | null;
  constructor(message: string, fastest: SloUnreachableError['fastest']) {
    super(message, { field: 'slo' });
    this.fastest = fastest;
  }
}

/** The categories of a run differ from the truth file. */
export class TruthMismatchError extends StepinferError {}

/** A solver (HiGHS) ended without a usable answer. */
export class SolverError extends StepinferError {}

/**
 * AWS cannot be used as the command needs: no credentials or region, a plan whose stack is not
 * deployed, out of date or of another plan, an execution that does not exist, a request AWS refused.
 */
export class AwsAccessError extends StepinferError {}

/** Formats a zod error path as `a.b[2].c`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(root)';
}

/**
 * The one conversion of a zod validation failure into our errors: the first problem in the
 * message with its field path, all of them in `issues`. `pathPrefix` places a value found inside
 * a larger document (the i-th record of an array).
 */
export function fromZodError(
  error: ZodError,
  file: string,
  options: { readonly kind?: typeof ModelFormatError; readonly pathPrefix?: readonly PropertyKey[] } = {},
): ModelFormatError {
  const prefix = options.pathPrefix ?? [];
  const issues = error.issues.map((i) => `${fieldPath([...prefix, ...i.path])}: ${i.message}`);
  const first = error.issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  const Kind = options.kind ?? ModelFormatError;
  return new Kind(`${first.message}${more}`, { file, field: fieldPath([...prefix, ...first.path]) }, issues);
}
