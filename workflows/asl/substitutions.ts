// Definition substitutions: every ARN, URL and resource name in a generated workflow is a `${Key}`
// placeholder (CDK and CloudFormation DefinitionSubstitutions syntax), so one ASL file deploys
// through CDK (which fills in the deployed ARNs) and runs locally (the local runtime fills in its
// emulated ones). The map lists every key the definition uses, with its meaning and the plan name
// (plan.names) of the resource it stands for.
// @see https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-stepfunctions-statemachine.html

import { AWS_NAME_RULES, type AwsNameKind } from '../../planner/aws-limits.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import type { PayloadValue } from './asl.ts';

/** What a key is replaced with: the resource's ARN, its URL (SQS queues) or its name (S3 buckets). */
export type SubstitutionValueKind = 'arn' | 'url' | 'name';

export interface Substitution {
  /** What the workflow does with it. */
  readonly meaning: string;
  readonly resource: AwsNameKind;
  readonly value: SubstitutionValueKind;
  /** The resource's name in plan.names: the ARN, URL or name the key resolves to identifies it. */
  readonly name: string;
}

/** Every key the definition uses, by key. */
export type Substitutions = Readonly<Record<string, Substitution>>;

/** `${Key}` of a key. */
export const placeholder = (key: string): string => `\${${key}}`;

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/**
 * Longest text a substitution's value may be, for payload bounds: the resource's longest name
 * (planner/aws-limits.ts AWS_NAME_RULES) plus 256 characters for the ARN prefix (partition, region,
 * account) or the queue URL's host, which are far shorter.
 */
export function substitutionMaxChars(s: Substitution): number {
  return AWS_NAME_RULES[s.resource].maxChars + 256;
}

/** What the keys are derived from: a plan's names and functions (either kind of plan). */
export interface SubstitutionPlan {
  readonly names: Plan['names'];
  readonly functions: readonly Pick<Plan['functions'][number], 'id' | 'role' | 'memoryMB'>[];
}

/** Keys by resource; `use` records what the definition refers to, so the map holds exactly that. */
export class SubstitutionRegistry {
  private readonly used = new Map<string, Substitution>();
  private readonly plan: SubstitutionPlan;
  constructor(plan: SubstitutionPlan) {
    this.plan = plan;
  }

  private use(key: string, substitution: Substitution): string {
    this.used.set(key, substitution);
    return placeholder(key);
  }

  /** The plan's bucket: shards, inputs, handoff, outputs, statuses, result. */
  bucket(): string {
    return this.use('Bucket', { meaning: "the plan's S3 bucket: shards, inputs, handoff rows, outputs, worker statuses, result", resource: 's3Bucket', value: 'name', name: this.plan.names.bucket });
  }

  /** A function's ARN, by plan function id ("worker-1769" -> Worker1769FunctionArn). */
  functionArn(functionId: string): string {
    const f = this.plan.functions.find((x) => x.id === functionId);
    const name = this.plan.names.functions[functionId];
    if (!f || name === undefined) throw new WorkflowDefinitionError(`no function "${functionId}" in the plan`, { field: 'functions' });
    const role = f.role[0].toUpperCase() + f.role.slice(1);
    const does = {
      worker: "runs its share of a stage's layers and exchanges rows with its peers",
      stage: "runs all of a stage's layers alone (one worker)",
      coordinator: "starts a stage's workers by FSD-Inference's launch tree and waits for their statuses",
      gather: "merges the workers' final rows into the result and categories; with cleanup, deletes a failed run's intermediates",
    }[f.role];
    return this.use(`${role}${f.memoryMB}FunctionArn`, { meaning: `ARN of the ${f.memoryMB} MB ${f.role} function: ${does}`, resource: 'lambdaFunction', value: 'arn', name });
  }

  /**
   * The ARN of a stages plan's stage function, by stage ("stage1-3008" of stage 1 -> Stage1FunctionArn):
   * each stage has its own function, and two stages may have the same memory size.
   */
  stageFunctionArn(stage: number, functionId: string, what: string): string {
    const f = this.plan.functions.find((x) => x.id === functionId);
    const name = this.plan.names.functions[functionId];
    if (!f || name === undefined) throw new WorkflowDefinitionError(`no function "${functionId}" in the plan`, { field: 'functions' });
    return this.use(`Stage${stage}FunctionArn`, { meaning: `ARN of stage ${stage}'s ${f.memoryMB} MB function: ${what}`, resource: 'lambdaFunction', value: 'arn', name });
  }

  topicArn(k: number): string {
    return this.use(`TopicArn${k}`, { meaning: `ARN of data topic ${k} of the queue channel: workers w with w mod ${this.plan.names.topics.length} = ${k} publish to it`, resource: 'snsTopic', value: 'arn', name: this.plan.names.topics[k] });
  }

  queueUrl(w: number): string {
    return this.use(`QueueUrl${w}`, { meaning: `URL of worker ${w}'s queue of the queue channel`, resource: 'sqsQueue', value: 'url', name: this.plan.names.queues[w] });
  }

  exchangeBucket(k: number): string {
    return this.use(`ExchangeBucket${k}`, { meaning: `exchange bucket ${k} of the object channel: rows for workers w with w mod ${this.plan.names.exchangeBuckets.length} = ${k}`, resource: 's3Bucket', value: 'name', name: this.plan.names.exchangeBuckets[k] });
  }

  /** What the definition used, by key. */
  substitutions(): Substitutions {
    return Object.fromEntries(this.used);
  }
}

/** Every `${Key}` in a JSON value, in order of first use. */
export function placeholdersIn(value: unknown, found: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PLACEHOLDER)) found.add(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) placeholdersIn(v, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) { placeholdersIn(k, found); placeholdersIn(v, found); }
  }
  return found;
}

/**
 * The definition with every `${Key}` replaced by `values[Key]`, as CloudFormation does on deploy
 * (the local runtime's way in). Every key must have a value; an unknown value is refused too, so a
 * misspelled key cannot pass unnoticed.
 */
export function substituteDefinition<T extends PayloadValue | object>(definition: T, values: Readonly<Record<string, string>>): T {
  const used = placeholdersIn(definition);
  const missing = [...used].filter((k) => !Object.hasOwn(values, k));
  const unknown = Object.keys(values).filter((k) => !used.has(k));
  const problems = [
    ...missing.map((k) => `no value for \${${k}}`),
    ...unknown.map((k) => `the definition has no \${${k}}`),
  ];
  if (problems.length > 0) throw new WorkflowDefinitionError(problems[0], { field: 'substitutions' }, problems);
  const replace = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(PLACEHOLDER, (_, k: string) => values[k]);
    if (Array.isArray(v)) return v.map(replace);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [replace(k), replace(x)]));
    return v;
  };
  return replace(definition) as T;
}
