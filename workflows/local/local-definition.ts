// A plan's generated workflow made runnable in aws-local-stepfunctions on the local cloud: its
// `${...}` substitutions filled from the local cloud's addresses, and what the interpreter lacks
// or does differently from AWS (../shared/DESIGN.md, "Local runtime") mapped explicitly, each
// change returned as a note the run prints and records, so nothing differs silently:
// - Task timeouts: the local Lambda host enforces every function's timeout (the plan's times the
//   local scale, at most Lambda's 15 minutes) and terminates a hung handler, which the interpreter
//   cannot (its TimeoutSeconds only stops waiting). So each Task's TimeoutSeconds is set beyond
//   the host's timeout of its function: the host decides, and the interpreter never abandons a
//   Task whose handler still runs.
// - The execution's TimeoutSeconds and a launch-tree coordinator's wait for its workers are scaled
//   like the functions' timeouts (the workers they wait for run that much longer here).
// - A distributed Map (child Express executions on AWS) runs inline here; its MaxConcurrency is
//   set to its workers, so every peer runs at once (an inline Map without it runs at most 40).
// - An explicit receive timeout (tests) replaces the stage runs' receiveTimeoutSeconds.
// The interpreter's other gaps do not apply: handlers are keyed by state name (state-machine-run.ts
// gives every Task one), and the generator writes JSONPath only (validate.ts refuses JSONata).

import { StepinferError, WorkflowDefinitionError } from '../../model/errors.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import {
  FAILURE_REPORT_MARGIN_SECONDS, substituteDefinition,
  type MapState, type PayloadTemplate, type State, type States, type StateMachine, type Substitutions, type TaskState,
} from '../asl/index.ts';
import { LOCAL_REGION, type LocalCloud } from './local-cloud.ts';

/**
 * Seconds the interpreter's Task timeout exceeds the host's timeout of the Task's function: the
 * host's answer (a result, or Sandbox.Timedout) always arrives first.
 */
export const HOST_ANSWER_MARGIN_SECONDS = 10;

/** The account in the local functions' ARNs (no AWS account is involved). */
export const LOCAL_ACCOUNT = '000000000000';

/** A local function's ARN (the host takes a full ARN as a FunctionName, as Lambda does). */
export function localFunctionArn(name: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;
}

/** One way the local run differs from the definition as deployed, and why. */
export interface LocalNote {
  /** The states it is about (empty: the whole execution). */
  readonly states: readonly string[];
  readonly note: string;
}

export interface LocalDefinition {
  readonly definition: StateMachine;
  /** Task state name -> the function it invokes (name in the local host). */
  readonly taskFunctions: Readonly<Record<string, string>>;
  readonly notes: readonly LocalNote[];
}

export interface LocalDefinitionOptions {
  /** Replaces every stage run's receiveTimeoutSeconds (seconds a worker waits for a layer's rows). */
  readonly receiveTimeoutSeconds?: number;
}

/** What the local definition needs of a plan (either kind): its names, and its workers when it has several. */
export interface LocalDefinitionPlan {
  readonly names: Plan['names'];
  /** Workers sharing this machine's cores (a stages plan runs one function at a time: 1). */
  readonly workers: number;
}

/** The value of every substitution on the local cloud: function ARNs, topic ARNs, queue URLs, bucket names. */
export function localSubstitutionValues(plan: Pick<LocalDefinitionPlan, 'names'>, substitutions: Substitutions, cloud: Pick<LocalCloud, 'resources'>): Record<string, string> {
  const { resources } = cloud;
  const byName = (names: readonly string[], values: readonly string[], name: string) => {
    const at = names.indexOf(name);
    return at >= 0 ? values[at] : undefined;
  };
  const values: Record<string, string> = {};
  for (const [key, s] of Object.entries(substitutions)) {
    let value: string | undefined;
    if (s.resource === 'lambdaFunction') value = Object.values(resources.functionNames).includes(s.name) ? localFunctionArn(s.name) : undefined;
    else if (s.resource === 'snsTopic') value = byName(plan.names.topics, resources.topicArns, s.name);
    else if (s.resource === 'sqsQueue') value = byName(plan.names.queues, resources.queueUrls, s.name);
    else if (s.resource === 's3Bucket') value = s.name === resources.bucket || resources.exchangeBuckets.includes(s.name) ? s.name : undefined;
    if (value === undefined) throw new StepinferError(`\${${key}} names ${s.resource} ${s.name}, which the local cloud did not create`, { field: 'substitutions' });
    values[key] = value;
  }
  return values;
}

function functionNameOfArn(arn: string): string {
  const m = /:function:([^:]+)$/.exec(arn);
  if (!m) throw new WorkflowDefinitionError(`Task resource ${arn} is not a Lambda function ARN`, { field: 'Resource' });
  return m[1];
}

/** The stage run a Task's Parameters or a Map's ItemSelector carries, if any. */
function stageRunTemplate(template: PayloadTemplate | undefined): PayloadTemplate | null {
  const sr = template?.stageRun;
  return sr !== undefined && sr !== null && typeof sr === 'object' && !Array.isArray(sr) ? sr as PayloadTemplate : null;
}

/**
 * The plan's rendered definition with its substitutions filled from the local cloud and the
 * interpreter's gaps mapped (see the top of this file), with a note for each change.
 */
export function localDefinition(
  plan: LocalDefinitionPlan, rendered: { readonly definition: StateMachine; readonly substitutions: Substitutions }, cloud: Pick<LocalCloud, 'resources' | 'hostTimeoutSeconds' | 'timeoutScale'>,
  o: LocalDefinitionOptions = {},
): LocalDefinition {
  const concrete = substituteDefinition(rendered.definition, localSubstitutionValues(plan, rendered.substitutions, cloud));
  const taskFunctions: Record<string, string> = {};
  const timeouts: string[] = [];
  const waits: string[] = [];
  const distributed: string[] = [];
  const receives: string[] = [];

  const withStageRun = (template: PayloadTemplate | undefined, name: string): PayloadTemplate | undefined => {
    const sr = stageRunTemplate(template);
    if (!template || !sr || o.receiveTimeoutSeconds === undefined) return template;
    receives.push(name);
    return { ...template, stageRun: { ...sr, receiveTimeoutSeconds: o.receiveTimeoutSeconds } };
  };

  const task = (name: string, state: TaskState): TaskState => {
    const fn = functionNameOfArn(state.Resource);
    const hostSeconds = cloud.hostTimeoutSeconds[fn];
    if (hostSeconds === undefined) throw new StepinferError(`state "${name}" invokes ${fn}, which the local Lambda host does not serve`, { field: 'Resource' });
    taskFunctions[name] = fn;
    timeouts.push(name);
    let parameters = withStageRun(state.Parameters, name);
    if (parameters && typeof parameters.waitTimeoutSeconds === 'number') {
      // A launch-tree coordinator waits for workers whose timeouts are scaled: its wait is its own scaled timeout less the reporting margin.
      parameters = { ...parameters, waitTimeoutSeconds: Math.max(1, hostSeconds - FAILURE_REPORT_MARGIN_SECONDS) };
      waits.push(name);
    }
    return { ...state, ...(parameters ? { Parameters: parameters } : {}), TimeoutSeconds: hostSeconds + HOST_ANSWER_MARGIN_SECONDS };
  };

  const map = (name: string, state: MapState): MapState => {
    const workers = stageRunTemplate(state.ItemSelector)?.workers;
    let out: MapState = { ...state, ItemSelector: withStageRun(state.ItemSelector, name), ItemProcessor: { ...state.ItemProcessor, States: scope(state.ItemProcessor.States) } };
    if (state.ItemProcessor.ProcessorConfig.Mode === 'DISTRIBUTED') {
      if (typeof workers !== 'number') throw new WorkflowDefinitionError(`state "${name}": a distributed Map of no stage`, { field: 'ItemSelector' });
      out = { ...out, MaxConcurrency: workers };
      distributed.push(`${name} (${workers} workers)`);
    }
    return out;
  };

  function scope(states: States): States {
    return Object.fromEntries(Object.entries(states).map(([name, state]): [string, State] => {
      if (state.Type === 'Task') return [name, task(name, state)];
      if (state.Type === 'Map') return [name, map(name, state)];
      if (state.Type === 'Parallel') throw new WorkflowDefinitionError(`state "${name}": the local runtime runs no Parallel states (the generator writes none)`, { field: 'States' });
      return [name, state];
    }));
  }

  const states = scope(concrete.States);
  const executionTimeout = concrete.TimeoutSeconds === undefined ? undefined : Math.ceil(concrete.TimeoutSeconds * cloud.timeoutScale);
  const notes: LocalNote[] = [];
  notes.push({
    states: timeouts,
    note: `Task timeouts: the local Lambda host enforces each function's timeout (the plan's x ${cloud.timeoutScale}: ${plan.workers === 1 ? 'one function at a time shares' : `${plan.workers} workers share`} this machine's cores; at most 900 s) and terminates a hung handler; each Task's TimeoutSeconds is that plus ${HOST_ANSWER_MARGIN_SECONDS} s, so the interpreter never abandons a Task the host still runs`,
  });
  if (executionTimeout !== undefined) {
    notes.push({ states: [], note: `execution timeout ${concrete.TimeoutSeconds} s x ${cloud.timeoutScale} = ${executionTimeout} s, scaled as the functions' timeouts are` });
  }
  if (waits.length > 0) {
    notes.push({ states: waits, note: `the launch-tree coordinator waits for its workers until its own scaled timeout less ${FAILURE_REPORT_MARGIN_SECONDS} s (on AWS: its plan timeout less ${FAILURE_REPORT_MARGIN_SECONDS} s)` });
  }
  if (distributed.length > 0) {
    notes.push({ states: distributed, note: 'a distributed Map (child Express executions on AWS) runs inline in aws-local-stepfunctions; MaxConcurrency = its workers keeps every peer running at once' });
  }
  if (receives.length > 0) {
    notes.push({ states: receives, note: `workers wait at most ${o.receiveTimeoutSeconds} s for a layer's rows (the plan's stage runs say otherwise)` });
  }
  const definition: StateMachine = { ...concrete, States: states, ...(executionTimeout !== undefined ? { TimeoutSeconds: executionTimeout } : {}) };
  return { definition, taskFunctions, notes };
}
