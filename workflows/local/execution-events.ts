// What an execution of aws-local-stepfunctions did, from its event log (`run().eventLogs`): the
// states it entered with their start and end times and outcome, and the state transitions it
// made as Step Functions bills them. The log comes in dispatch order, which is not time order
// (a Map's iterations are forwarded to the root log asynchronously; nested events carry their
// iteration's index), so events are ordered by time first, stably.

import type { StateMachine as Interpreter } from 'aws-local-stepfunctions';
import { allStates, type StateMachine } from '../asl/index.ts';

/** One event of the interpreter's log (its type is not exported by the package). */
export type ExecutionEvent = ReturnType<Interpreter['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export type StateOutcome = 'succeeded' | 'caught' | 'failed' | 'aborted';

/** One state entered once (a retried state stays one entry, with its retries). */
export interface ExecutedState {
  readonly name: string;
  readonly type: string;
  /** The Map iteration (the worker, in a stage's Map) it ran in; null outside Maps. */
  readonly index: number | null;
  readonly enteredMs: number;
  /** Null when it never ended (an iteration stopped when its Map failed). */
  exitedMs: number | null;
  /** caught: it failed and its Catch went on; aborted: its Map failed before it ended. */
  outcome: StateOutcome;
  retries: number;
  error: { readonly error: string; readonly cause: string } | null;
}

/** Collects the events of one execution while it runs; the log ends when the execution does. */
export async function collectEvents(log: AsyncGenerator<ExecutionEvent>, into: ExecutionEvent[]): Promise<void> {
  for await (const event of log) into.push(event);
}

const causeText = (cause: unknown): string => (cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : JSON.stringify(cause));

/** The events in time order (stable: events of one state machine keep their dispatch order). */
export function inTimeOrder(events: readonly ExecutionEvent[]): ExecutionEvent[] {
  return events.map((e, i) => ({ e, i })).sort((a, b) => a.e.timestamp - b.e.timestamp || a.i - b.i).map((x) => x.e);
}

/** Every state the execution entered, in the order entered. */
export function executedStates(events: readonly ExecutionEvent[]): ExecutedState[] {
  const out: ExecutedState[] = [];
  const open = new Map<string, ExecutedState>();
  const keyOf = (name: string, index: number | undefined) => `${index ?? ''}\u0000${name}`;
  for (const e of inTimeOrder(events)) {
    if (!('state' in e)) continue;
    const key = keyOf(e.state.name, e.index);
    const current = open.get(key);
    switch (e.type) {
      case 'StateEntered': {
        // An entry still open was stopped with its Map (its iteration never reported an end).
        if (current) current.outcome = 'aborted';
        const entry: ExecutedState = { name: e.state.name, type: e.state.type, index: e.index ?? null, enteredMs: e.timestamp, exitedMs: null, outcome: 'aborted', retries: 0, error: null };
        out.push(entry);
        open.set(key, entry);
        break;
      }
      case 'StateFailed':
        if (current) {
          current.error = { error: e.Error, cause: causeText(e.Cause) };
          current.outcome = 'failed';
          current.exitedMs = e.timestamp;
        }
        break;
      case 'StateRetried':
        if (current) {
          current.retries++;
          current.outcome = 'aborted';
          current.exitedMs = null;
        }
        break;
      case 'StateCaught':
        if (current) current.outcome = 'caught';
        break;
      case 'StateExited':
        if (current) {
          if (current.outcome !== 'caught') current.outcome = 'succeeded';
          current.exitedMs = e.timestamp;
          open.delete(key);
        }
        break;
    }
  }
  return out;
}

/** The execution's transitions, as Step Functions bills them (workflows/asl/transitions.ts counts the same from the definition). */
export interface EventTransitions {
  /** States entered and retried by the execution itself, plus one per distributed-Map child started. */
  readonly transitions: number;
  readonly childExecutions: number;
  readonly childTransitions: number;
  /** Duration of each child execution (distributed Map iteration), ms. */
  readonly childExecutionMs: readonly number[];
  /** From ExecutionStarted to its end, ms. */
  readonly executionMs: number;
}

export function transitionsOf(events: readonly ExecutionEvent[], definition: StateMachine): EventTransitions {
  const distributedMaps = new Set<string>();
  const insideChildren = new Set<string>();
  for (const { name, state } of allStates(definition)) {
    if (state.Type === 'Map' && state.ItemProcessor.ProcessorConfig.Mode === 'DISTRIBUTED') {
      distributedMaps.add(name);
      for (const inner of allStates(state.ItemProcessor)) insideChildren.add(inner.name);
    }
  }
  let transitions = 0, childExecutions = 0, childTransitions = 0;
  let startMs = NaN, endMs = NaN;
  const childStarts = new Map<string, number>();
  const childExecutionMs: number[] = [];
  for (const e of inTimeOrder(events)) {
    if (e.type === 'ExecutionStarted') startMs = e.timestamp;
    else if (e.type === 'ExecutionSucceeded' || e.type === 'ExecutionFailed' || e.type === 'ExecutionAborted' || e.type === 'ExecutionTimeout') endMs = e.timestamp;
    else if (e.type === 'StateEntered' || e.type === 'StateRetried') {
      // Every state entered is a transition, and so is every retry (AWS bills both).
      if (insideChildren.has(e.state.name)) childTransitions++;
      else transitions++;
    } else if (e.type === 'MapIterationStarted' && distributedMaps.has(e.parentState.name)) {
      transitions++;
      childExecutions++;
      childStarts.set(`${e.parentState.name}\u0000${e.index}`, e.timestamp);
    } else if ((e.type === 'MapIterationSucceeded' || e.type === 'MapIterationFailed') && distributedMaps.has(e.parentState.name)) {
      const key = `${e.parentState.name}\u0000${e.index}`;
      const started = childStarts.get(key);
      if (started !== undefined) {
        childExecutionMs.push(e.timestamp - started);
        childStarts.delete(key);
      }
    }
  }
  return { transitions, childExecutions, childTransitions, childExecutionMs, executionMs: Number.isFinite(endMs - startMs) ? endMs - startMs : 0 };
}
