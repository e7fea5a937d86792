// The generated workflows run on aws-local-stepfunctions with stub handlers: every event a Task
// sends parses with the handlers' own schemas (functions/handlers/events.ts), the execution input
// is merged over its defaults, a failed stage runs again as a unit under a new attempt, and a run
// that keeps failing is cleaned up and fails with the worker's error and cause.

import { describe, expect, it } from 'vitest';
import { StateMachine } from 'aws-local-stepfunctions';
import {
  coordinatorEventSchema, gatherEventSchema, parseEvent, workerEventSchema,
  type CoordinatorEvent, type GatherEvent, type WorkerEvent,
} from '../../functions/handlers/events.ts';
import type { Plan } from '../../planner/plan/index.ts';
import { renderWorkflow, STAGE_RETRIES, substituteDefinition, type StateMachine as Definition } from '../../workflows/asl/index.ts';
import { workflowCase, type WorkflowCaseName } from '../helpers/workflow-plans.ts';

type Handler = (event: Record<string, unknown>) => Promise<unknown>;

interface LocalRun {
  readonly plan: Plan;
  readonly workers: WorkerEvent[];
  readonly coordinators: CoordinatorEvent[];
  readonly gathers: GatherEvent[];
  readonly output: unknown;
  readonly error: (Error & { cause?: unknown }) | null;
}

const ARN = (key: string) => `arn:aws:lambda:us-east-1:123456789012:function:${key}`;

/**
 * Runs a case's workflow with stub handlers keyed by state name (as the local runtime does),
 * parsing every event; `failWorker` decides whether a worker's invocation throws.
 */
async function runLocally(name: WorkflowCaseName, input: unknown, failWorker: (e: WorkerEvent) => boolean = () => false, failCleanup = false): Promise<LocalRun> {
  const { plan } = await workflowCase(name);
  const { definition, substitutions } = renderWorkflow(plan);
  const values = Object.fromEntries(Object.entries(substitutions).map(([k, s]) => [k, s.value === 'name' ? s.name : ARN(k)]));
  const concrete = substituteDefinition(definition, values);
  const workers: WorkerEvent[] = [], coordinators: CoordinatorEvent[] = [], gathers: GatherEvent[] = [];
  const worker: Handler = async (raw) => {
    const e = parseEvent(workerEventSchema, raw, 'worker');
    workers.push(e);
    if (failWorker(e)) throw Object.assign(new Error(`worker ${e.worker} failed at layer ${e.stageRun.firstLayer}: out of memory`), { name: 'WorkerCrashed' });
    return { runId: e.stageRun.runId, attempt: e.stageRun.attempt, stage: e.stageRun.stage, worker: e.worker, ok: true, startMs: 10, endMs: 20, layers: [], launched: [] };
  };
  const coordinator: Handler = async (raw) => {
    const e = parseEvent(coordinatorEventSchema, raw, 'coordinator');
    coordinators.push(e);
    return { runId: e.stageRun.runId, attempt: e.stageRun.attempt, stage: e.stageRun.stage, startMs: 10, endMs: 30, invokes: 2, lists: 3, workers: [] };
  };
  const gather: Handler = async (raw) => {
    const e = parseEvent(gatherEventSchema, raw, 'gather');
    gathers.push(e);
    if (e.cleanup && failCleanup) throw Object.assign(new Error('access denied'), { name: 'S3.AccessDenied' });
    return { runId: e.runId, categoryCount: 7, categoriesKey: 'runs/run-1/categories.json', resultKey: 'runs/run-1/result', finalNonzeros: 99, resultCrc32: '0a0b0c0d', storage: {}, startMs: 1, endMs: 2 };
  };
  const handlers: Record<string, Handler> = {};
  const visit = (states: Definition['States']) => {
    for (const [stateName, state] of Object.entries(states)) {
      if (state.Type === 'Map') visit(state.ItemProcessor.States);
      if (state.Type !== 'Task') continue;
      const fn = plan.functions.find((f) => state.Resource === ARN(`${f.role[0].toUpperCase()}${f.role.slice(1)}${f.memoryMB}FunctionArn`))!;
      handlers[stateName] = fn.role === 'coordinator' ? coordinator : fn.role === 'gather' ? gather : worker;
    }
  };
  visit(concrete.States);
  const execution = new StateMachine(concrete as never).run(input as never, {
    context: { Execution: { Name: 'run-1' } } as never,
    overrides: { taskResourceLocalHandlers: handlers as never },
  });
  try {
    return { plan, workers, coordinators, gathers, output: await execution.result, error: null };
  } catch (error) {
    return { plan, workers, coordinators, gathers, output: undefined, error: error as Error };
  }
}

describe('a generated workflow run locally', () => {
  it('sends every worker of every stage its event, then the gather; the output is the gather\'s small result', async () => {
    const run = await runLocally('groups-8-queue', {});
    expect(run.error).toBeNull();
    expect(run.workers).toHaveLength(16);
    const stages = [0, 1].map((s) => run.workers.filter((e) => e.stageRun.stage === s));
    for (const [s, events] of stages.entries()) {
      expect(events.map((e) => e.worker).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const e of events) {
        expect(e.depth).toBe(0);
        expect(e.stageRun).toMatchObject({
          runId: 'run-1', attempt: 0, planId: run.plan.planId, bucket: run.plan.names.bucket, stage: s, stages: 2, workers: 8,
          // {}: the first stage reads the plan's default inputs, the second the first's hand-off.
          inputs: s === 0 ? 'default' : null,
          samples: run.plan.inputRows, launch: { kind: 'flat' }, workerFunction: ARN(`Worker${run.plan.functions[0].memoryMB}FunctionArn`),
          firstLayer: run.plan.workflow.stages[s].firstLayer, lastLayer: run.plan.workflow.stages[s].lastLayer,
        });
        expect(e.stageRun.channel.kind).toBe('queue');
        if (e.stageRun.channel.kind === 'queue') expect(e.stageRun.channel.queueUrls).toEqual(run.plan.names.queues.map((_, w) => ARN(`QueueUrl${w}`)));
      }
    }
    expect(run.gathers).toEqual([{
      runId: 'run-1', planId: run.plan.planId, bucket: run.plan.names.bucket, storage: run.plan.storage,
      workers: 8, samples: run.plan.inputRows, neurons: 1024, topScores: 0, exchangeBuckets: [],
    }]);
    expect(run.output).toEqual({ categoryCount: 7, categoriesKey: 'runs/run-1/categories.json', resultKey: 'runs/run-1/result', resultCrc32: '0a0b0c0d', finalNonzeros: 99 });
  });

  it('merges the execution input over its defaults', async () => {
    const run = await runLocally('groups-8-queue', { inputs: 'run-0', samples: 300, topScores: 5 });
    expect(run.error).toBeNull();
    expect(new Set(run.workers.map((e) => e.stageRun.samples))).toEqual(new Set([300]));
    expect(run.workers.map((e) => [e.stageRun.stage, e.stageRun.inputs]).sort()).toEqual([...Array(8).fill([0, 'run-0']), ...Array(8).fill([1, null])]);
    expect(run.gathers.map((e) => [e.samples, e.topScores])).toEqual([[300, 5]]);
  });

  it('runs a failed stage again as a unit under a new attempt; the stage before it is not run again', async () => {
    const run = await runLocally('groups-8-queue', {}, (e) => e.stageRun.stage === 1 && e.stageRun.attempt === 0 && e.worker === 3);
    expect(run.error).toBeNull();
    const attemptsOf = (stage: number) => run.workers.filter((e) => e.stageRun.stage === stage).map((e) => e.stageRun.attempt);
    expect(attemptsOf(0)).toEqual(Array(8).fill(0));
    // Attempt 0 may have started any number of the other workers before the Map stopped; attempt 1 runs all 8.
    expect(attemptsOf(1).filter((a) => a === 1)).toHaveLength(8);
    expect(new Set(attemptsOf(1))).toEqual(new Set([0, 1]));
    expect(run.gathers).toHaveLength(1);
  });

  it(`gives up after ${STAGE_RETRIES} more attempts: cleans up, then fails with the worker's error and cause`, async () => {
    const run = await runLocally('groups-8-queue', {}, (e) => e.stageRun.stage === 0 && e.worker === 5);
    expect(new Set(run.workers.map((e) => e.stageRun.attempt))).toEqual(new Set([0, 1, 2]));
    expect(run.workers.some((e) => e.stageRun.stage === 1)).toBe(false);
    expect(run.gathers).toEqual([{
      runId: 'run-1', planId: run.plan.planId, bucket: run.plan.names.bucket, storage: run.plan.storage,
      workers: 8, samples: run.plan.inputRows, neurons: 1024, topScores: 0, exchangeBuckets: [], cleanup: true,
    }]);
    expect(run.error).not.toBeNull();
    expect(run.error!.message).toBe('Execution has failed with the following error: worker 5 failed at layer 1: out of memory');
    expect(run.error!.cause).toMatchObject({ name: 'WorkerCrashed', message: 'worker 5 failed at layer 1: out of memory' });
  });

  it('a clean-up that fails itself does not hide the run\'s cause', async () => {
    const run = await runLocally('groups-8-queue', {}, (e) => e.worker === 2, true);
    expect(run.gathers.map((g) => g.cleanup)).toEqual([true]);
    expect(run.error!.cause).toMatchObject({ name: 'WorkerCrashed', message: 'worker 2 failed at layer 1: out of memory' });
  });

  it('one worker (serial): its one Task gets worker 0 of 1 with no channel; a failure ends without a clean-up', async () => {
    const ok = await runLocally('serial', {});
    expect(ok.error).toBeNull();
    expect(ok.workers).toHaveLength(1);
    expect(ok.workers[0]).toMatchObject({ worker: 0, depth: 0, stageRun: { workers: 1, stages: 1, channel: { kind: 'none' }, samples: 2000 } });
    expect(ok.output).toEqual({ worker: 0, attempt: 0, ok: true, startMs: 10, endMs: 20 });
    const failed = await runLocally('serial', {}, () => true);
    expect(failed.workers.map((e) => e.stageRun.attempt)).toEqual([0, 1, 2]);
    expect(failed.gathers).toEqual([]);
    expect(failed.error!.cause).toMatchObject({ name: 'WorkerCrashed' });
  });

  it('a launch tree: the coordinator gets the stage with the tree\'s shape and its wait and poll times', async () => {
    const run = await runLocally('groups-62-object-tree', { topScores: 2 });
    expect(run.error).toBeNull();
    const stage = run.plan.workflow.stages[0];
    if (stage.launch.kind !== 'tree') throw new Error('expected a tree');
    const coordinator = run.plan.functions.find((f) => f.role === 'coordinator')!;
    expect(run.coordinators).toHaveLength(1);
    expect(run.coordinators[0]).toMatchObject({
      waitTimeoutSeconds: coordinator.timeoutSeconds - 5, pollSeconds: 1,
      stageRun: { runId: 'run-1', attempt: 0, workers: 62, launch: { kind: 'tree', branchingFactor: stage.launch.branchingFactor, levels: stage.launch.levels }, channel: { kind: 'object' } },
    });
    expect(run.gathers.map((g) => g.topScores)).toEqual([2]);
  });
});
