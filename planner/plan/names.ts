// The identity of a plan and the names of everything deployed for it. The plan id is a hash of
// the plan's content (every field but the id and the names derived from it), so the same inputs
// give the same id and any changed field a different one; every resource name is the stack prefix,
// the plan id and a role suffix, so two plans never collide and each name is checked against the
// AWS rule for its kind (planner/aws-limits.ts). Storage keys are patterns with <placeholders>.

import { createHash } from 'node:crypto';
import { PlanFormatError } from '../../model/errors.ts';
import { AWS_LIMITS, awsNameProblem, type AwsNameKind } from '../aws-limits.ts';

/** Hex digits of the plan id: 64 bits of SHA-256, short enough for 64-character function names. */
export const PLAN_ID_HEX_DIGITS = 16;

export const DEFAULT_STACK_PREFIX = 'stepinfer';

/**
 * Longest stack prefix: the longest derived name, a Lambda function name
 * `<prefix>-<plan id>-coordinator-10240`, must stay within Lambda's 64 characters (checked by
 * stackPrefixProblem against every rule).
 */
export const STACK_PREFIX_MAX_CHARS = 24;

/** Lowercase (bucket names), starting with a letter (stack names), no trailing hyphen. */
export const STACK_PREFIX_PATTERN = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;

/** JSON text with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The id of a plan: the first 16 hex digits of SHA-256 over the canonical JSON of the plan
 * without `planId` and `names` (which derive from it).
 */
export function computePlanId(plan: { readonly planId?: unknown; readonly names?: unknown }): string {
  const { planId: _id, names: _names, ...content } = plan;
  return createHash('sha256').update(canonicalJson(content)).digest('hex').slice(0, PLAN_ID_HEX_DIGITS);
}

/** What the names are derived from. */
export interface NamedPlanShape {
  readonly planId: string;
  readonly stackPrefix: string;
  readonly workers: number;
  readonly functionIds: readonly string[];
  readonly topics: number;
  readonly queues: number;
  readonly deadLetterQueue: boolean;
  readonly exchangeBuckets: number;
}

export interface PlanNames {
  readonly stack: string;
  readonly stateMachine: string;
  /** Shards, inputs, handoffs and outputs (storage). */
  readonly bucket: string;
  /** Lambda function name of every function id. */
  readonly functions: Readonly<Record<string, string>>;
  /** Index k: data topic k. */
  readonly topics: readonly string[];
  /** Index w: worker w's queue. */
  readonly queues: readonly string[];
  readonly deadLetterQueue: string | null;
  /** Index k: object-channel bucket k. */
  readonly exchangeBuckets: readonly string[];
}

/** Every resource name of a plan. */
export function planNames(shape: NamedPlanShape): PlanNames {
  const base = `${shape.stackPrefix}-${shape.planId}`;
  const functions: Record<string, string> = {};
  for (const id of shape.functionIds) functions[id] = `${base}-${id}`;
  return {
    stack: base,
    stateMachine: base,
    bucket: base,
    functions,
    topics: Array.from({ length: shape.topics }, (_, k) => `${base}-t${k}`),
    queues: Array.from({ length: shape.queues }, (_, w) => `${base}-w${w}`),
    deadLetterQueue: shape.deadLetterQueue ? `${base}-dlq` : null,
    exchangeBuckets: Array.from({ length: shape.exchangeBuckets }, (_, k) => `${base}-x${k}`),
  };
}

/** Every name with its AWS kind and the field it sits in, for validation. */
export function namedResources(names: PlanNames): { readonly field: (string | number)[]; readonly kind: AwsNameKind; readonly name: string }[] {
  const out: { field: (string | number)[]; kind: AwsNameKind; name: string }[] = [
    { field: ['names', 'stack'], kind: 'stack', name: names.stack },
    { field: ['names', 'stateMachine'], kind: 'stateMachine', name: names.stateMachine },
    { field: ['names', 'bucket'], kind: 's3Bucket', name: names.bucket },
  ];
  for (const [id, name] of Object.entries(names.functions)) out.push({ field: ['names', 'functions', id], kind: 'lambdaFunction', name });
  names.topics.forEach((name, k) => out.push({ field: ['names', 'topics', k], kind: 'snsTopic', name }));
  names.queues.forEach((name, w) => out.push({ field: ['names', 'queues', w], kind: 'sqsQueue', name }));
  if (names.deadLetterQueue !== null) out.push({ field: ['names', 'deadLetterQueue'], kind: 'sqsQueue', name: names.deadLetterQueue });
  names.exchangeBuckets.forEach((name, k) => out.push({ field: ['names', 'exchangeBuckets', k], kind: 's3Bucket', name }));
  return out;
}

/** Problems of the names against AWS's rules, each with its field. */
export function nameProblems(names: PlanNames): { readonly field: (string | number)[]; readonly message: string }[] {
  const out: { field: (string | number)[]; message: string }[] = [];
  for (const r of namedResources(names)) {
    const problem = awsNameProblem(r.kind, r.name);
    if (problem) out.push({ field: r.field, message: problem });
  }
  return out;
}

/**
 * Why `prefix` cannot start the plan's names, or null: its own rule, then every kind of name
 * derived from it with the longest suffixes (a 16-digit id, a 10,240 MB coordinator, worker 65534).
 */
export function stackPrefixProblem(prefix: string): string | null {
  if (prefix.length > STACK_PREFIX_MAX_CHARS || !STACK_PREFIX_PATTERN.test(prefix)) {
    return `the stack prefix "${prefix}" must be lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, at most ${STACK_PREFIX_MAX_CHARS} characters`;
  }
  const longest = planNames({
    planId: 'f'.repeat(PLAN_ID_HEX_DIGITS), stackPrefix: prefix, workers: 1, functionIds: [`coordinator-${AWS_LIMITS.lambdaMaxMemoryMB.value}`],
    topics: 1, queues: 0, deadLetterQueue: true, exchangeBuckets: 1,
  });
  // Worker ids are 16-bit (neuron maps): 65534 is the longest queue suffix.
  const problems = nameProblems({ ...longest, queues: [`${longest.stack}-w65534`] });
  return problems.length === 0 ? null : `the stack prefix "${prefix}" gives invalid names: ${problems[0].message}`;
}

/**
 * The execution input's `inputs` value (workflows/asl/input.ts) that names the plan's default
 * inputs (storage.defaultInputs), the rows the plan was made with, staged once by `stepinfer shards
 * upload`; any other value is the run id whose rows were staged under storage.inputs. So no run
 * may be named this: its own rows could not be told from the default.
 */
export const DEFAULT_INPUTS = 'default';

/**
 * The key of the input rows `source` holds that worker `target` reads in layer 1, from the staged
 * inputs `inputs` names: the plan's default inputs, or the rows staged for the run of that id.
 */
export function stagedInputsKey(
  storage: { readonly inputs: string; readonly defaultInputs: string }, inputs: string, target: number, source: number,
): string {
  return inputs === DEFAULT_INPUTS
    ? expandKey(storage.defaultInputs, { target, source })
    : expandKey(storage.inputs, { execution: inputs, target, source });
}

/** Placeholders storage key patterns may use. */
export type KeyPlaceholder = 'execution' | 'worker' | 'stage' | 'attempt' | 'layer' | 'target' | 'source';

/** A key pattern with its <placeholders> replaced; every placeholder of the pattern must be given. */
export function expandKey(pattern: string, values: Partial<Record<KeyPlaceholder, string | number>>): string {
  return pattern.replace(/<([a-z]+)>/g, (whole, name: string) => {
    const value = values[name as KeyPlaceholder];
    if (value === undefined) throw new PlanFormatError(`key pattern ${pattern} needs a value for <${name}>`, { field: 'storage' });
    return String(value);
  });
}
