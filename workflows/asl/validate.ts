// Validation of a generated workflow, collecting every problem before it fails: what the States
// Language requires (unique names of at most 80 characters, transitions to states of the same
// scope, every state reachable and able to end), what stepinfer requires of its workflows
// (TimeoutSeconds and a jittered Retry on every Task, small results, JSONPath only, every
// `${Key}` with its substitution) and what would break at run time on AWS: a payload template
// past 256 KiB, or peers that exchange rows in a Map that cannot run all of them at once (an
// inline Map runs at most 40 iterations; they would wait for each other forever).
// asl-validator checks the same definitions against the ASL schema in the tests.

import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import {
  allStates, isTerminal, nestedScopes, successors,
  type Branch, type MapState, type PayloadValue, type StateMachine, type States,
} from './asl.ts';
import { placeholdersIn, substitutionMaxChars, type Substitutions } from './substitutions.ts';

const L = AWS_LIMITS;

const utf8 = new TextEncoder();
const jsonBytes = (value: unknown): number => utf8.encode(JSON.stringify(value)).length;

/**
 * Bytes a value read at run time (a `.$` path or intrinsic) may take in a payload, for the
 * bounds: the generated templates read numbers, the execution name (at most 80 characters) and,
 * in "Read input", the execution input (which AWS itself caps at 256 KiB).
 */
export const DYNAMIC_VALUE_MAX_BYTES = 1024;

/** What a Map's ItemSelector says of the stage it runs (its StageRun template), or null for another Map. */
export interface MapStage {
  readonly workers: number;
  /** The workers exchange rows over a channel, so each waits for the others. */
  readonly exchanges: boolean;
}

export function mapStage(state: MapState): MapStage | null {
  const stageRun = (state.ItemSelector as { readonly stageRun?: { readonly workers?: unknown; readonly channel?: { readonly kind?: unknown } } } | undefined)?.stageRun;
  if (!stageRun || typeof stageRun.workers !== 'number') return null;
  return { workers: stageRun.workers, exchanges: stageRun.channel?.kind !== 'none' };
}

/** Upper bound of the JSON bytes a payload template produces. */
export function templateBytesBound(value: PayloadValue | undefined, substitutions: Substitutions = {}): number {
  if (value === undefined) return 0;
  if (typeof value === 'string') {
    let bytes = jsonBytes(value);
    for (const key of placeholdersIn(value)) {
      const s = substitutions[key];
      bytes += (s ? substitutionMaxChars(s) : DYNAMIC_VALUE_MAX_BYTES) - `\${${key}}`.length;
    }
    return bytes;
  }
  // Brackets, and a comma between two entries.
  const enclosed = (entries: number[]) => 2 + Math.max(0, entries.length - 1) + entries.reduce((t, b) => t + b, 0);
  if (Array.isArray(value)) return enclosed(value.map((v: PayloadValue) => templateBytesBound(v, substitutions)));
  if (value !== null && typeof value === 'object') {
    return enclosed(Object.entries(value).map(([k, v]) => (k.endsWith('.$')
      ? jsonBytes(k.slice(0, -2)) + 1 + DYNAMIC_VALUE_MAX_BYTES
      : jsonBytes(k) + 1 + templateBytesBound(v, substitutions))));
  }
  return jsonBytes(value);
}

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

function scopeProblems(scope: Branch, where: string, out: string[]): void {
  const names = Object.keys(scope.States);
  if (!Object.hasOwn(scope.States, scope.StartAt)) out.push(`${where}: StartAt "${scope.StartAt}" is not one of its states`);
  for (const [name, state] of Object.entries(scope.States)) {
    for (const next of successors(state)) {
      if (!Object.hasOwn(scope.States, next)) out.push(`state "${name}": goes to "${next}", which is not a state of ${where}`);
    }
    if (state.Type === 'Choice' && state.Choices.length === 0) out.push(`state "${name}": a Choice needs at least one rule`);
    if (state.Type !== 'Choice' && !isTerminal(state) && !('Next' in state && typeof state.Next === 'string')) {
      out.push(`state "${name}": has neither Next nor End`);
    }
  }
  // Reachable from StartAt.
  const reached = new Set<string>();
  const queue = Object.hasOwn(scope.States, scope.StartAt) ? [scope.StartAt] : [];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (reached.has(name)) continue;
    reached.add(name);
    for (const next of successors(scope.States[name])) if (Object.hasOwn(scope.States, next)) queue.push(next);
  }
  for (const name of names) if (!reached.has(name)) out.push(`state "${name}": is never reached from ${where}'s StartAt "${scope.StartAt}"`);
  // Every state can end its scope (no loop without a way out).
  const ends = new Set(names.filter((n) => isTerminal(scope.States[n])));
  if (ends.size === 0) out.push(`${where}: no state ends it (End, Succeed or Fail)`);
  let grew = true;
  while (grew) {
    grew = false;
    for (const name of names) {
      if (!ends.has(name) && successors(scope.States[name]).some((n) => ends.has(n))) { ends.add(name); grew = true; }
    }
  }
  for (const name of names) if (!ends.has(name) && ends.size > 0) out.push(`state "${name}": no path from it ends ${where}`);
}

function visitScopes(scope: Branch, where: string, out: string[]): void {
  scopeProblems(scope, where, out);
  for (const [name, state] of Object.entries(scope.States as States)) {
    nestedScopes(state).forEach((inner, i) => visitScopes(inner, state.Type === 'Map' ? `the item processor of "${name}"` : `branch ${i} of "${name}"`, out));
  }
}

/** Every problem of a workflow, each naming its state; empty when it is valid. */
export function workflowProblems(workflow: { readonly definition: StateMachine; readonly substitutions?: Substitutions }): string[] {
  const { definition } = workflow;
  const substitutions = workflow.substitutions ?? {};
  const out: string[] = [];
  const payloadLimit = L.sfnPayloadBytes.value;

  if (definition.QueryLanguage !== 'JSONPath') out.push(`QueryLanguage must be JSONPath (aws-local-stepfunctions ignores JSONata), not ${String(definition.QueryLanguage)}`);
  const executionTimeout = definition.TimeoutSeconds;
  if (executionTimeout !== undefined && (!Number.isInteger(executionTimeout) || executionTimeout < 1)) out.push(`TimeoutSeconds must be a whole number of seconds >= 1, not ${executionTimeout}`);

  // Names: unique in the whole machine, at most 80 characters.
  const states = allStates(definition);
  const counts = new Map<string, number>();
  for (const { name } of states) counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const [name, count] of counts) {
    if (count > 1) out.push(`state name "${name}" is used ${count} times: names are unique in the whole state machine, nested states included`);
    const chars = [...name].length;
    if (chars === 0 || chars > L.sfnStateNameMaxChars.value) out.push(`state name "${name}" has ${chars} characters, allowed 1-${L.sfnStateNameMaxChars.value}`);
    if (CONTROL_CHARACTERS.test(name)) out.push(`state name ${JSON.stringify(name)} has a control character`);
  }

  visitScopes(definition, 'the state machine', out);

  for (const { name, state } of states) {
    const at = `state "${name}"`;
    const raw = state as unknown as Record<string, unknown>;
    for (const field of ['Arguments', 'Output', 'Assign']) if (field in raw) out.push(`${at}: ${field} is JSONata or variables, which aws-local-stepfunctions ignores: JSONPath only`);
    if ('QueryLanguage' in raw && raw.QueryLanguage !== 'JSONPath') out.push(`${at}: QueryLanguage must be JSONPath`);

    if (state.Type === 'Task') {
      const t = state.TimeoutSeconds;
      if (!Number.isInteger(t) || t < 1) out.push(`${at}: needs TimeoutSeconds, a whole number >= 1 (a Task without one dies after 60 s locally, waits up to a year on AWS)`);
      else if (executionTimeout !== undefined && t > executionTimeout) out.push(`${at}: TimeoutSeconds ${t} is longer than the execution's ${executionTimeout}`);
      if (state.Resource.length === 0) out.push(`${at}: needs a Resource`);
      if (!state.Retry || state.Retry.length === 0) out.push(`${at}: needs a Retry for Lambda's transient errors and throttling`);
      for (const r of state.Retry ?? []) {
        if (r.JitterStrategy !== 'FULL') out.push(`${at}: a Retry of ${r.ErrorEquals.join(', ')} needs JitterStrategy FULL, so throttled workers do not retry in step`);
        if (r.BackoffRate !== undefined && r.BackoffRate < 1) out.push(`${at}: BackoffRate ${r.BackoffRate} must be >= 1`);
      }
      if (state.ResultSelector === undefined && state.ResultPath !== null) out.push(`${at}: keep only small fields of the result (ResultSelector) or drop it (ResultPath null): results count against the ${payloadLimit}-byte payload`);
      const bytes = templateBytesBound(state.Parameters, substitutions);
      if (bytes > payloadLimit) out.push(`${at}: its Parameters may reach ${bytes} bytes, over the ${payloadLimit}-byte payload limit`);
    }

    if (state.Type === 'Pass') {
      const bytes = templateBytesBound(state.Parameters, substitutions);
      if (bytes > payloadLimit) out.push(`${at}: its Parameters may reach ${bytes} bytes, over the ${payloadLimit}-byte payload limit`);
    }

    if (state.Type === 'Map') {
      const mode = state.ItemProcessor.ProcessorConfig.Mode;
      const stage = mapStage(state);
      const maxConcurrency = state.MaxConcurrency ?? 0;
      const bytes = templateBytesBound(state.ItemSelector, substitutions);
      if (bytes > payloadLimit) out.push(`${at}: its ItemSelector may reach ${bytes} bytes per iteration, over the ${payloadLimit}-byte payload limit`);
      if (stage) {
        const inlineMax = L.sfnInlineMapMaxConcurrency.value;
        if (stage.exchanges && mode === 'INLINE' && stage.workers > inlineMax) {
          out.push(`${at}: an inline Map runs at most ${inlineMax} iterations at once, and its ${stage.workers} workers exchange rows and wait for each other: it would deadlock (use a distributed Map or a launch tree)`);
        }
        if (stage.exchanges && maxConcurrency !== 0 && maxConcurrency < stage.workers) {
          out.push(`${at}: MaxConcurrency ${maxConcurrency} runs fewer than its ${stage.workers} workers at once, and they wait for each other: it would deadlock`);
        }
        if (mode === 'DISTRIBUTED' && stage.workers > L.sfnDistributedMapMaxConcurrency.value) {
          out.push(`${at}: a distributed Map runs at most ${L.sfnDistributedMapMaxConcurrency.value} child executions at once, not ${stage.workers}`);
        }
        if (state.ResultPath !== null) {
          // An iteration's output is its Task's selected result (or, without a ResultSelector, anything).
          const inner = state.ItemProcessor.States[state.ItemProcessor.StartAt];
          const selected = inner?.Type === 'Task' ? inner.ResultSelector : undefined;
          const resultBytes = stage.workers * (selected ? templateBytesBound(selected, substitutions) : payloadLimit);
          if (resultBytes > payloadLimit) out.push(`${at}: the results of its ${stage.workers} iterations may reach ${resultBytes} bytes, over the ${payloadLimit}-byte payload limit: drop them (ResultPath null)`);
        }
      }
      if (mode === 'DISTRIBUTED' && state.ItemProcessor.ProcessorConfig.Mode === 'DISTRIBUTED' && state.ItemProcessor.ProcessorConfig.ExecutionType === 'EXPRESS') {
        for (const { name: innerName, state: inner } of allStates(state.ItemProcessor)) {
          if (inner.Type === 'Task' && inner.TimeoutSeconds > L.sfnExpressMaxSeconds.value) {
            out.push(`state "${innerName}": runs in a child Express execution of "${name}", which lasts at most ${L.sfnExpressMaxSeconds.value} seconds, but its TimeoutSeconds is ${inner.TimeoutSeconds}`);
          }
        }
      }
    }
  }

  // Substitutions: every placeholder has one, every one is used.
  if (workflow.substitutions) {
    const used = placeholdersIn(definition);
    for (const key of used) if (!Object.hasOwn(substitutions, key)) out.push(`\${${key}} has no substitution`);
    for (const key of Object.keys(substitutions)) if (!used.has(key)) out.push(`substitution ${key} is not used by the definition`);
  }
  return out;
}

/** Throws WorkflowDefinitionError naming the first problem (all of them in `issues`) unless the workflow is valid. */
export function assertValidWorkflow(workflow: { readonly definition: StateMachine; readonly substitutions?: Substitutions }, what: string): void {
  const problems = workflowProblems(workflow);
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  throw new WorkflowDefinitionError(`${problems[0]}${more}`, { file: what }, problems);
}
