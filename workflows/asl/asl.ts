// The Amazon States Language as the generator writes it: a typed model (one discriminated union
// on `Type`) of the states stepinfer's workflows use, JSONPath only. aws-local-stepfunctions
// silently ignores JSONata (a JSONata Choice took the wrong branch there, ../shared/DESIGN.md),
// so the model has no JSONata fields (Arguments, Output, Assign) and QueryLanguage is 'JSONPath'.
// @see https://states-language.net/spec.html
// @see https://docs.aws.amazon.com/step-functions/latest/dg/concepts-amazon-states-language.html

import type { Task as AslTypesTask } from 'asl-types';

// From asl-types 1.2.1 only the Retrier and Catcher fields (Pick drops their `[k: string]: any`); the rest is ours: its Map has only Iterator (no ItemProcessor, ItemSelector, ProcessorConfig) and every `Type` is a plain string.
type AslTypesRetrier = NonNullable<AslTypesTask['Retry']>[number];
type AslTypesCatcher = NonNullable<AslTypesTask['Catch']>[number];

/** A JSON value of a payload template; a key ending in `.$` holds a JSONPath or an intrinsic function. */
export type PayloadValue = string | number | boolean | null | PayloadTemplate | readonly PayloadValue[];
export interface PayloadTemplate { readonly [key: string]: PayloadValue }

/**
 * A Retry entry. JitterStrategy FULL spreads the retries of many workers throttled at once over the
 * whole backoff interval instead of retrying them all together.
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
export type Retrier = Readonly<Pick<AslTypesRetrier, 'ErrorEquals' | 'IntervalSeconds' | 'MaxAttempts' | 'BackoffRate'>> & {
  readonly MaxDelaySeconds?: number;
  readonly JitterStrategy?: 'FULL' | 'NONE';
};

/** A Catch entry; ResultPath places the error output ({ Error, Cause }) in the state's input. */
export type Catcher = Readonly<Pick<AslTypesCatcher, 'ErrorEquals' | 'Next'>> & {
  readonly ResultPath?: string | null;
};

/** Every state continues with `Next` or ends the (sub-)machine with `End`, never both. */
export type Transition = { readonly Next: string; readonly End?: never } | { readonly End: true; readonly Next?: never };

interface Common {
  readonly Comment?: string;
  readonly InputPath?: string | null;
  readonly OutputPath?: string | null;
}

interface ResultHandling {
  readonly ResultSelector?: PayloadTemplate;
  /** null: the state's output is its input (the result is dropped). */
  readonly ResultPath?: string | null;
}

interface ErrorHandling {
  readonly Retry?: readonly Retrier[];
  readonly Catch?: readonly Catcher[];
}

/** A unit of work: here always a Lambda function, invoked by its ARN. */
export type TaskState = Common & ResultHandling & ErrorHandling & Transition & {
  readonly Type: 'Task';
  readonly Resource: string;
  readonly Parameters?: PayloadTemplate;
  /** Required by the generator: without it a Task may wait a year on AWS and dies after 60 s locally. */
  readonly TimeoutSeconds: number;
  readonly HeartbeatSeconds?: number;
};

/**
 * How a Map runs its iterations: INLINE in the execution (at most 40 at once), or DISTRIBUTED as
 * child executions of ExecutionType (EXPRESS here: at most 5 minutes each).
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
 */
export type ProcessorConfig =
  | { readonly Mode: 'INLINE' }
  | { readonly Mode: 'DISTRIBUTED'; readonly ExecutionType: 'EXPRESS' | 'STANDARD' };

/** The states every iteration runs. */
export interface ItemProcessor {
  readonly ProcessorConfig: ProcessorConfig;
  readonly StartAt: string;
  readonly States: States;
}

/** Runs its ItemProcessor once per item of ItemsPath, each iteration's input built by ItemSelector. */
export type MapState = Common & ResultHandling & ErrorHandling & Transition & {
  readonly Type: 'Map';
  readonly ItemProcessor: ItemProcessor;
  readonly ItemsPath?: string;
  readonly ItemSelector?: PayloadTemplate;
  /** Iterations at once; 0 or absent: no limit of its own (inline still runs at most 40). */
  readonly MaxConcurrency?: number;
  /** Distributed only: the share of child executions that may fail before the Map fails (default 0). */
  readonly ToleratedFailurePercentage?: number;
  /** Distributed only: names the Map Run's child executions. */
  readonly Label?: string;
};

/** A branch of a Parallel state: a state machine of its own scope. */
export interface Branch {
  readonly StartAt: string;
  readonly States: States;
}

export type ParallelState = Common & ResultHandling & ErrorHandling & Transition & {
  readonly Type: 'Parallel';
  readonly Branches: readonly Branch[];
  readonly Parameters?: PayloadTemplate;
};

/** A comparison of one value of the state's input (Variable, a path) with a constant. */
export type Comparison = { readonly Variable: string } & (
  | { readonly NumericEquals: number }
  | { readonly NumericLessThan: number }
  | { readonly NumericLessThanEquals: number }
  | { readonly NumericGreaterThan: number }
  | { readonly NumericGreaterThanEquals: number }
  | { readonly StringEquals: string }
  | { readonly BooleanEquals: boolean }
  | { readonly IsPresent: boolean }
);

export type Condition = Comparison
  | { readonly And: readonly Condition[] }
  | { readonly Or: readonly Condition[] }
  | { readonly Not: Condition };

export type ChoiceRule = Condition & { readonly Next: string };

/** Goes to the Next of the first rule that holds, else to Default. */
export interface ChoiceState extends Common {
  readonly Type: 'Choice';
  readonly Choices: readonly ChoiceRule[];
  readonly Default?: string;
}

/** Passes its input on, shaped by Parameters (intrinsic functions allowed) or replaced by Result. */
export type PassState = Common & Transition & {
  readonly Type: 'Pass';
  readonly Parameters?: PayloadTemplate;
  readonly Result?: PayloadValue;
  readonly ResultPath?: string | null;
};

export interface SucceedState extends Common {
  readonly Type: 'Succeed';
}

/** Ends the execution as failed; ErrorPath and CausePath read the error from the state's input. */
export interface FailState {
  readonly Type: 'Fail';
  readonly Comment?: string;
  readonly Error?: string;
  readonly Cause?: string;
  readonly ErrorPath?: string;
  readonly CausePath?: string;
}

export type State = TaskState | MapState | ParallelState | ChoiceState | PassState | SucceedState | FailState;
export type StateType = State['Type'];

/** States by name; names are unique in the whole state machine, nested scopes included. */
export interface States { readonly [name: string]: State }

export interface StateMachine {
  readonly Comment?: string;
  readonly QueryLanguage: 'JSONPath';
  readonly StartAt: string;
  readonly States: States;
  /** The execution's own timeout. */
  readonly TimeoutSeconds?: number;
}

/** The nested scopes of a state (a Map's ItemProcessor, a Parallel's branches), each with its StartAt and States. */
export function nestedScopes(state: State): readonly Branch[] {
  if (state.Type === 'Map') return [state.ItemProcessor];
  if (state.Type === 'Parallel') return state.Branches;
  return [];
}

/** Every state of the machine with its name, nested ones included, in definition order (depth first). */
export function allStates(scope: Branch): { readonly name: string; readonly state: State }[] {
  const out: { name: string; state: State }[] = [];
  for (const [name, state] of Object.entries(scope.States)) {
    out.push({ name, state });
    for (const inner of nestedScopes(state)) out.push(...allStates(inner));
  }
  return out;
}

/** The states a state can go to next in its own scope: Next, a Choice's rules and Default, Catch targets. */
export function successors(state: State): string[] {
  const out: string[] = [];
  if ('Next' in state && typeof state.Next === 'string') out.push(state.Next);
  if (state.Type === 'Choice') {
    for (const rule of state.Choices) out.push(rule.Next);
    if (state.Default !== undefined) out.push(state.Default);
  }
  if ('Catch' in state && state.Catch) for (const c of state.Catch) out.push(c.Next);
  return out;
}

/** Whether the state can end its scope: End, Succeed or Fail. */
export function isTerminal(state: State): boolean {
  return state.Type === 'Succeed' || state.Type === 'Fail' || ('End' in state && state.End === true);
}
