// A plan's Step Functions workflow, rendered from plan.json alone as a pure function. The shape
// is the plan's:
//   serial         one Task: the stage function runs every layer (worker 0 of 1)
//   stages         a chain of Tasks, one per stage, each a stage function; rows between stages via S3
//   map-per-layer  per stage (one layer): a Map over the P workers, then, after the last, a gather Task
//   layer-groups   per stage (a group of layers): a Map over the P workers, the queue or object
//                  channel between the group's layers; then a gather Task
// A stage launched by a tree is one Task invoking the coordinator (FSD-Inference's launch tree).
// Workers of a stage that exchange rows wait for each other, so all of them must run at once: the
// plan says inline (at most 40 iterations at once) or distributed (child Express executions) and
// validation refuses an inline Map of exchanging peers beyond 40.
//
// Around the stages: "Read input" and "Start run" merge the execution input over its defaults
// (input.ts: `{}` reads the plan's default inputs; `inputs` reaches the first stage's workers) and set an attempt counter per stage and the list of workers; a failed stage is caught,
// and while attempts remain it runs again as a unit under attempt + 1 (StageRun.attempt: handlers
// ignore whatever a failed attempt still sends); otherwise "Clean up" (the gather function with
// `cleanup`) deletes the run's intermediates and "Run failed" ends the execution with the cause.
//
// Lambda functions are invoked by ARN as the Task's Resource, not through
// arn:aws:states:::lambda:invoke: that integration wraps the result in { Payload } on AWS but not in
// aws-local-stepfunctions, so one ResultSelector could not serve both; by ARN both return the
// handler's result as it is. ARNs and names are definition substitutions (substitutions.ts).

import type { Plan, PlanStage } from '../../planner/plan/schema.ts';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import type { CoordinatorEvent, GatherEvent, StageRun, WorkerEvent } from '../../functions/handlers/events.ts';
import { stageRunsOf, type StageAddresses } from '../../functions/handlers/stage-run.ts';
import type { Catcher, MapState, PayloadTemplate, Retrier, State, StateMachine, TaskState } from './asl.ts';
import { stateMachineInputDefaults } from './input.ts';
import {
  CLEAN_UP_STATE, GATHER_STATE, READ_INPUT_STATE, retryStageStateName, RUN_FAILED_STATE, stageFailedStateName, stageStateName,
  START_RUN_STATE, workerStateName,
} from './state-names.ts';
import { SubstitutionRegistry, type Substitutions } from './substitutions.ts';
import { assertValidWorkflow } from './validate.ts';

/**
 * Times a failed stage runs again, each under a new attempt. A stage fails as a unit when one
 * worker dies (a crash, an out-of-memory, a timeout after the Lambda retries of the plan): two more
 * runs ride out a lost instance or a throttling storm, while a stage that fails for good (a bad
 * shard, a bug) costs at most three runs before the execution fails with its cause.
 */
export const STAGE_RETRIES = 2;

/**
 * Seconds a worker (or coordinator) keeps before its function's timeout to write its failure status
 * naming what it waited for, instead of being killed silently: its receives (and the coordinator's
 * wait) give up this long before the function would time out.
 */
export const FAILURE_REPORT_MARGIN_SECONDS = 5;

/**
 * Seconds between the coordinator's looks at the status prefix (one ListObjectsV2 each, about
 * $0.005 per 1,000): a second is small beside any stage's run and costs 60 LISTs a minute.
 */
export const COORDINATOR_POLL_SECONDS = 1;

/** Where the rendered states keep their data, in the execution's state. */
const PATHS = {
  input: '$.input',
  attempts: '$.attempts',
  workers: '$.workers',
  result: '$.result',
  failure: '$.failure',
  cleanupFailure: '$.cleanupFailure',
} as const;

export interface RenderOptions {
  /** Times a failed stage runs again under a new attempt. @default STAGE_RETRIES */
  readonly stageRetries?: number;
}

export interface RenderedWorkflow {
  readonly definition: StateMachine;
  /** Every `${Key}` of the definition, with its meaning and the plan name it resolves to. */
  readonly substitutions: Substitutions;
}

/** The key of a stage's attempt counter in the execution's state ($.attempts.stage0, ...). */
export function attemptKey(stageIndex: number): string {
  return `stage${stageIndex}`;
}

/** The plan's retry policy as Retry entries, with full jitter so throttled workers do not retry in step (either kind of plan). */
export function retriersOf(plan: { readonly workflow: Pick<Plan['workflow'], 'retryPolicies'> }, policy: string): Retrier[] {
  const entries = plan.workflow.retryPolicies[policy];
  if (!entries) throw new WorkflowDefinitionError(`no retry policy "${policy}" in workflow.retryPolicies`, { field: 'workflow.retryPolicies' });
  return entries.map((r) => ({
    ErrorEquals: [...r.errorEquals],
    IntervalSeconds: r.intervalSeconds,
    MaxAttempts: r.maxAttempts,
    BackoffRate: r.backoffRate,
    JitterStrategy: 'FULL',
  }));
}

/** Any error of the state: its input gets { Error, Cause } at $.failure, and `next` decides. */
export const catchAll = (next: string, resultPath: string = PATHS.failure): Catcher[] => [{ ErrorEquals: ['States.ALL'], ResultPath: resultPath, Next: next }];

/** What a worker's Task keeps of its result (WorkerResult): the run record reads the full status from S3. */
const WORKER_RESULT: PayloadTemplate = { 'worker.$': '$.worker', 'attempt.$': '$.attempt', 'ok.$': '$.ok', 'startMs.$': '$.startMs', 'endMs.$': '$.endMs' };
/** What a coordinator's Task keeps of its result (CoordinatorResult). */
const COORDINATOR_RESULT: PayloadTemplate = { 'stage.$': '$.stage', 'attempt.$': '$.attempt', 'invokes.$': '$.invokes', 'startMs.$': '$.startMs', 'endMs.$': '$.endMs' };
/** What the gather Task keeps of its result (GatherResult): the run's output. */
const GATHER_RESULT: PayloadTemplate = {
  'categoryCount.$': '$.categoryCount', 'categoriesKey.$': '$.categoriesKey', 'resultKey.$': '$.resultKey',
  'resultCrc32.$': '$.resultCrc32', 'finalNonzeros.$': '$.finalNonzeros',
};

/** A template's keys are the event's (functions/handlers/events.ts) with `.$` where the value is read at run time. */
type Template<T> = { readonly [K in keyof T as K extends string ? K | `${K}.$` : never]?: PayloadTemplate[string] };

class WorkflowRenderer {
  private readonly plan: Plan;
  private readonly subs: SubstitutionRegistry;
  private readonly stageRetries: number;
  private readonly states: Record<string, State> = {};
  private readonly failureStates: Record<string, State> = {};

  constructor(plan: Plan, stageRetries: number) {
    this.plan = plan;
    this.subs = new SubstitutionRegistry(plan);
    this.stageRetries = stageRetries;
  }

  render(): RenderedWorkflow {
    const plan = this.plan;
    const stages = plan.workflow.stages;
    const gather = plan.workflow.gather;
    const anyMap = stages.some((s) => s.launch.kind === 'map');

    this.states[READ_INPUT_STATE] = {
      Type: 'Pass',
      Comment: "The execution input beside its defaults (input.schema.json): an empty input runs the plan's default inputs as planned.",
      Parameters: { defaults: { ...stateMachineInputDefaults(plan) }, 'given.$': '$' },
      Next: START_RUN_STATE,
    };
    this.states[START_RUN_STATE] = {
      Type: 'Pass',
      Comment: `The input over its defaults; an attempt counter per stage (a retried stage runs under a new attempt)${anyMap ? '; the workers the Maps iterate over' : ''}.`,
      Parameters: {
        'input.$': 'States.JsonMerge($.defaults, $.given, false)',
        attempts: Object.fromEntries(stages.map((s) => [attemptKey(s.index), 0])),
        ...(anyMap ? { workers: Array.from({ length: plan.workers }, (_, w) => w) } : {}),
      },
      Next: stageStateName(plan, stages[0]),
    };

    stages.forEach((stage, i) => {
      const next = i + 1 < stages.length ? stageStateName(plan, stages[i + 1]) : gather ? GATHER_STATE : null;
      this.states[stageStateName(plan, stage)] = this.stageState(stage, next);
      this.addStageRetry(stage);
    });

    if (gather) {
      this.states[GATHER_STATE] = {
        Type: 'Task',
        Comment: "Merges the workers' final rows into the result and the categories (S3).",
        Resource: this.subs.functionArn(gather.functionId),
        Parameters: this.gatherEvent(false),
        TimeoutSeconds: gather.task.timeoutSeconds,
        Retry: retriersOf(plan, gather.task.retry),
        Catch: catchAll(CLEAN_UP_STATE),
        ResultSelector: GATHER_RESULT,
        ResultPath: PATHS.result,
        OutputPath: PATHS.result,
        End: true,
      };
      this.failureStates[CLEAN_UP_STATE] = {
        Type: 'Task',
        Comment: "Deletes the failed run's intermediates (handoff rows, statuses); its own failure does not hide the run's cause.",
        Resource: this.subs.functionArn(gather.functionId),
        Parameters: this.gatherEvent(true),
        TimeoutSeconds: gather.task.timeoutSeconds,
        Retry: retriersOf(plan, gather.task.retry),
        Catch: catchAll(RUN_FAILED_STATE, PATHS.cleanupFailure),
        ResultPath: null,
        Next: RUN_FAILED_STATE,
      };
    }
    this.failureStates[RUN_FAILED_STATE] = {
      Type: 'Fail',
      Comment: 'The error and cause of the state that failed last.',
      ErrorPath: `${PATHS.failure}.Error`,
      CausePath: `${PATHS.failure}.Cause`,
    };

    const definition: StateMachine = {
      Comment: `stepinfer plan ${plan.planId}: ${plan.shape}, ${plan.workers} worker${plan.workers === 1 ? '' : 's'}, ${stages.length} stage${stages.length === 1 ? '' : 's'} of ${plan.model.neurons}x${plan.model.layers}. Generated from plan.json by stepinfer regenerate: edit the plan, not this file.`,
      QueryLanguage: 'JSONPath',
      StartAt: READ_INPUT_STATE,
      TimeoutSeconds: plan.workflow.executionTimeoutSeconds,
      States: { ...this.states, ...this.failureStates },
    };
    return { definition, substitutions: this.subs.substitutions() };
  }

  /** A stage: a Task of its one worker, a Map over its workers, or a Task of its launch tree's coordinator. */
  private stageState(stage: PlanStage, next: string | null): State {
    const plan = this.plan;
    const launch = stage.launch;
    const flow = next === null
      ? { ResultPath: PATHS.result, OutputPath: PATHS.result, End: true as const }
      : { ResultPath: PATHS.result, Next: next };
    const common = {
      TimeoutSeconds: stage.task.timeoutSeconds,
      Retry: retriersOf(plan, stage.task.retry),
      Catch: catchAll(stageFailedStateName(stage)),
    };
    if (launch.kind === 'task') {
      const event: Template<WorkerEvent> = { stageRun: this.stageRun(stage), worker: 0, depth: 0 };
      return {
        Type: 'Task',
        Comment: `One worker runs ${stage.lastLayer - stage.firstLayer + 1} layer${stage.lastLayer > stage.firstLayer ? 's' : ''}.`,
        Resource: this.subs.functionArn(stage.functionId),
        Parameters: event,
        ...common,
        ResultSelector: WORKER_RESULT,
        ...flow,
      } satisfies TaskState;
    }
    if (launch.kind === 'tree') {
      const event: Template<CoordinatorEvent> = {
        stageRun: this.stageRun(stage),
        waitTimeoutSeconds: this.reportingTimeoutSeconds(launch.coordinatorFunctionId),
        pollSeconds: COORDINATOR_POLL_SECONDS,
      };
      return {
        Type: 'Task',
        Comment: `The coordinator starts ${plan.workers} workers by a launch tree (branching ${launch.branchingFactor}, ${launch.levels} level${launch.levels === 1 ? '' : 's'}) and waits for their statuses.`,
        Resource: this.subs.functionArn(launch.coordinatorFunctionId),
        Parameters: event,
        ...common,
        ResultSelector: COORDINATOR_RESULT,
        ...flow,
      } satisfies TaskState;
    }
    const worker = workerStateName(stage);
    const event: Template<WorkerEvent> = { stageRun: this.stageRun(stage), 'worker.$': '$$.Map.Item.Value', depth: 0 };
    const distributed = launch.mode === 'distributed';
    const map: MapState = {
      Type: 'Map',
      Comment: `${plan.workers} workers at once${stage.channel === 'none' ? '' : `, exchanging rows over the ${stage.channel} channel`}${distributed ? ', each a child Express execution' : ''}.`,
      ItemsPath: PATHS.workers,
      ItemSelector: event,
      MaxConcurrency: launch.maxConcurrency,
      ...(distributed ? { ToleratedFailurePercentage: 0 } : {}),
      ItemProcessor: {
        ProcessorConfig: distributed ? { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' } : { Mode: 'INLINE' },
        StartAt: worker,
        States: {
          [worker]: {
            Type: 'Task',
            Resource: this.subs.functionArn(stage.functionId),
            TimeoutSeconds: stage.task.timeoutSeconds,
            Retry: retriersOf(plan, stage.task.retry),
            ResultSelector: WORKER_RESULT,
            End: true,
          },
        },
      },
      // The iterations' results are dropped: P of them would grow with the workers; statuses are in S3.
      ResultPath: null,
      Catch: common.Catch,
      ...(next === null ? { End: true as const } : { Next: next }),
    };
    return map;
  }

  /** The Choice and Pass that run a failed stage again under attempt + 1, or go to clean up. */
  private addStageRetry(stage: PlanStage): void {
    const key = attemptKey(stage.index);
    const retry = retryStageStateName(stage);
    this.failureStates[stageFailedStateName(stage)] = {
      Type: 'Choice',
      Comment: `At most ${this.stageRetries} more attempt${this.stageRetries === 1 ? '' : 's'}.`,
      Choices: [{ Variable: `${PATHS.attempts}.${key}`, NumericLessThan: this.stageRetries, Next: retry }],
      Default: this.plan.workflow.gather ? CLEAN_UP_STATE : RUN_FAILED_STATE,
    };
    const counters = Object.fromEntries(this.plan.workflow.stages.map((s) => {
      const k = attemptKey(s.index);
      return [`${k}.$`, k === key ? `States.MathAdd(${PATHS.attempts}.${k}, 1)` : `${PATHS.attempts}.${k}`];
    }));
    this.failureStates[retry] = {
      Type: 'Pass',
      Comment: 'A new attempt: whatever the failed one still sends carries the old attempt and is ignored.',
      Parameters: counters,
      ResultPath: PATHS.attempts,
      Next: stageStateName(this.plan, stage),
    };
  }

  /**
   * The stage's StageRun, built by the handlers' own stageRunsOf from the plan and the deployed
   * addresses (here their substitutions), with the run's values taken from the execution.
   */
  private stageRun(stage: PlanStage): Template<StageRun> {
    const plan = this.plan;
    const addresses: StageAddresses = {
      bucket: this.subs.bucket(),
      // Only the stage's own channel's addresses: an unused substitution is a problem.
      topicArns: stage.channel === 'queue' ? plan.names.topics.map((_, k) => this.subs.topicArn(k)) : [],
      queueUrls: stage.channel === 'queue' ? plan.names.queues.map((_, w) => this.subs.queueUrl(w)) : [],
      exchangeBuckets: stage.channel === 'object' ? plan.names.exchangeBuckets.map((_, k) => this.subs.exchangeBucket(k)) : [],
      functionNames: { [stage.functionId]: this.subs.functionArn(stage.functionId) },
    };
    // Placeholders for what the execution decides; replaced by JSONPath below.
    const { runId: _runId, attempt: _attempt, inputs, samples: _samples, topScores: _topScores, ...fixed } = stageRunsOf(plan, addresses, { runId: 'run', samples: 1 })[stage.index];
    return {
      'runId.$': '$$.Execution.Name',
      'attempt.$': `${PATHS.attempts}.${attemptKey(stage.index)}`,
      // The first stage reads the staged inputs the execution input names; later stages the hand-off (null).
      ...(inputs === null ? { inputs: null } : { 'inputs.$': `${PATHS.input}.inputs` }),
      'samples.$': `${PATHS.input}.samples`,
      'topScores.$': `${PATHS.input}.topScores`,
      ...fixed,
    } as Template<StageRun>;
  }

  /** How long a function waits for others before it fails naming them: its timeout less the reporting margin. */
  private reportingTimeoutSeconds(functionId: string): number {
    const f = this.plan.functions.find((x) => x.id === functionId);
    if (!f) throw new WorkflowDefinitionError(`no function "${functionId}" in the plan`, { field: 'functions' });
    return Math.max(1, f.timeoutSeconds - FAILURE_REPORT_MARGIN_SECONDS);
  }

  /** The gather function's event; with `cleanup` it deletes a failed run's intermediates instead. */
  private gatherEvent(cleanup: boolean): Template<GatherEvent> {
    const plan = this.plan;
    return {
      'runId.$': '$$.Execution.Name',
      planId: plan.planId,
      bucket: this.subs.bucket(),
      storage: { ...plan.storage, shards: { ...plan.storage.shards } },
      workers: plan.workers,
      'samples.$': `${PATHS.input}.samples`,
      neurons: plan.model.neurons,
      'topScores.$': `${PATHS.input}.topScores`,
      exchangeBuckets: plan.channel.object ? plan.names.exchangeBuckets.map((_, k) => this.subs.exchangeBucket(k)) : [],
      ...(cleanup ? { cleanup: true } : {}),
    };
  }
}

/**
 * The workflow of a (validated) plan, and the substitutions its `${...}` placeholders stand for.
 * Pure: the same plan gives the same definition. Throws WorkflowDefinitionError listing every
 * problem (validate.ts) rather than return a workflow AWS would refuse or that could deadlock.
 */
export function renderWorkflow(plan: Plan, options: RenderOptions = {}): RenderedWorkflow {
  const stageRetries = options.stageRetries ?? STAGE_RETRIES;
  if (!Number.isInteger(stageRetries) || stageRetries < 0) {
    throw new WorkflowDefinitionError(`stage retries must be a whole number >= 0, got ${stageRetries}`, { field: 'stageRetries' });
  }
  const rendered = new WorkflowRenderer(plan, stageRetries).render();
  assertValidWorkflow(rendered, `workflow of plan ${plan.planId}`);
  return rendered;
}
