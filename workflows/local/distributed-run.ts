// A distributed inference on the local cloud (local-cloud.ts), stage by stage, without Step
// Functions: what `stepinfer infer --workers P` runs. Setup and finish are local-run.ts's (shards
// built and uploaded, inputs staged; the result read back from S3, no intermediates left); here
// every stage is started by the coordinator function (flat, or FSD's launch tree) and waited for,
// and the final rows gathered by the gather function, which removes the run's intermediates. The
// workers' statuses give the per-layer timeline and counters. The generated workflow runs the same
// handlers through aws-local-stepfunctions instead (state-machine-run.ts).

import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { RunFailedError } from '../../model/errors.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { AwsClients } from '../../functions/handlers/clients.ts';
import {
  coordinatorResultSchema, gatherResultSchema, parseEvent,
  type CoordinatorEvent, type CoordinatorResult, type GatherEvent, type GatherResult,
} from '../../functions/handlers/events.ts';
import { stageRunsOf, type StageRunOptions } from '../../functions/handlers/stage-run.ts';
import {
  assertNoIntermediates, clientStorageOf, prepareLocalRun, readRunResult, readWorkerResults,
  type LocalRunResult, type PrepareOptions, type StageOutcome as LocalStageOutcome,
} from './local-run.ts';

export { newRunId } from './local-run.ts';

export interface DistributedRunOptions extends PrepareOptions {
  readonly receiveTimeoutSeconds?: StageRunOptions['receiveTimeoutSeconds'];
  readonly launch?: StageRunOptions['launch'];
  readonly topScores?: number;
  /** Seconds between two looks at a stage's statuses (default 0.2: locally a LIST costs nothing). */
  readonly pollSeconds?: number;
}

/** One stage as its coordinator saw it, with every worker's full result read from its status. */
export interface StageOutcome extends LocalStageOutcome {
  readonly coordinator: CoordinatorResult;
}

export interface DistributedRunResult extends LocalRunResult {
  readonly stages: StageOutcome[];
}

export async function runDistributedLocally(plan: Plan, network: SparseNetwork, inputs: SparseRows, o: DistributedRunOptions = {}): Promise<DistributedRunResult> {
  const run = await prepareLocalRun(plan, network, inputs, o);
  const { cloud, runId } = run;
  try {
    const { clients, resources } = cloud;
    const stageRuns = stageRunsOf(plan, resources, { runId, inputs: run.inputs, samples: inputs.rows, receiveTimeoutSeconds: o.receiveTimeoutSeconds, launch: o.launch, topScores: o.topScores });
    const stages: StageOutcome[] = [];
    const stageMs: number[] = [];
    for (const [i, sr] of stageRuns.entries()) {
      o.onPhase?.(`layers ${sr.firstLayer}-${sr.lastLayer} on ${sr.workers} worker${sr.workers > 1 ? 's' : ''}`);
      const start = Date.now();
      const task = plan.workflow.stages[i].task;
      const event: CoordinatorEvent = { stageRun: sr, waitTimeoutSeconds: Math.ceil(task.timeoutSeconds * cloud.timeoutScale), pollSeconds: o.pollSeconds ?? 0.2 };
      const coordinator = parseEvent(coordinatorResultSchema, await invokeFunction(clients, cloud.coordinatorName, event, `run ${runId}: stage ${i} (layers ${sr.firstLayer}-${sr.lastLayer})`), 'coordinator result');
      stages.push({ coordinator, workers: await readWorkerResults(cloud, runId, coordinator) });
      stageMs.push(Date.now() - start);
    }

    o.onPhase?.('gathering');
    const gatherStart = Date.now();
    let gather: GatherResult | null = null;
    if (plan.workflow.gather) {
      const event: GatherEvent = {
        runId, planId: plan.planId, bucket: resources.bucket, storage: plan.storage, workers: plan.workers,
        samples: inputs.rows, neurons: plan.model.neurons, topScores: o.topScores ?? 0, exchangeBuckets: [...resources.exchangeBuckets],
      };
      const name = resources.functionNames[plan.workflow.gather.functionId];
      gather = parseEvent(gatherResultSchema, await invokeFunction(clients, name, event, `run ${runId}: gather`), 'gather result');
    }
    const { activations, categories } = await readRunResult(run, plan);
    const gatherMs = Date.now() - gatherStart;
    await assertNoIntermediates(run, plan);
    await cloud.host.drained();
    return {
      runId, categories, activations, stages, gather,
      phasesMs: { setup: run.setupMs, stages: stageMs, gather: gatherMs, total: Date.now() - run.startMs },
      clientStorage: clientStorageOf(run),
      lambdaInvocations: cloud.host.invocations.length - run.invocationsBefore,
      invocations: cloud.host.invocations.slice(run.invocationsBefore).map((x) => ({ ...x })),
      stepFunctions: null,
    };
  } finally {
    if (run.ownsCloud) await cloud.stop();
  }
}

/** A synchronous Invoke; a function error fails the run with the function's own error type and message. */
async function invokeFunction(clients: AwsClients, name: string, event: unknown, what: string): Promise<unknown> {
  const out = await clients.lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(event)) }));
  const payload: unknown = JSON.parse(Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8') || 'null');
  if (out.FunctionError) {
    const e = payload as { errorType?: string; errorMessage?: string };
    throw new RunFailedError(`${what} failed: ${e.errorType}: ${e.errorMessage}`);
  }
  return payload;
}
