// The StageRun of each stage of a plan (functions/handlers/events.ts): plan settings plus the
// deployed addresses, what every worker, the coordinator and the generated workflow pass along.

import { UsageError } from '../../model/errors.ts';
import { launchTreeSize, type LaunchTreeShape } from '../../planner/launch-tree.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import type { ChannelAddress, StageRun } from './events.ts';

/** The deployed addresses a StageRun needs. */
export interface StageAddresses {
  readonly bucket: string;
  /** Index k: data topic k's ARN (queue channel). */
  readonly topicArns: readonly string[];
  /** Index w: worker w's queue URL (queue channel). */
  readonly queueUrls: readonly string[];
  /** Index k: exchange bucket k (object channel). */
  readonly exchangeBuckets: readonly string[];
  /** Function id (plan.functions) -> function name or ARN. */
  readonly functionNames: Readonly<Record<string, string>>;
}

export interface StageRunOptions {
  readonly runId: string;
  /**
   * Whose staged input rows the first stage reads: a run id (storage.inputs) or DEFAULT_INPUTS
   * (the plan's default inputs, storage.defaultInputs). Default: this run's own (runId).
   */
  readonly inputs?: string;
  readonly attempt?: number;
  readonly samples: number;
  /** Longest wait for one layer's rows; default the stage Task's timeout, at most DEFAULT_RECEIVE_TIMEOUT_SECONDS. */
  readonly receiveTimeoutSeconds?: number;
  /**
   * Launch override: 'flat' starts every worker from the coordinator even when the plan has a
   * tree; a tree shape (its size must be the plan's workers) replaces the plan's launch.
   */
  readonly launch?: 'plan' | 'flat' | LaunchTreeShape;
  /** Each category's k highest activations in the result (0: none). */
  readonly topScores?: number;
}

/**
 * A layer's rows arrive within seconds when every peer is alive; waiting longer only delays the
 * failure report of a run whose peer died (its status says so, or its launcher's deadline does).
 */
export const DEFAULT_RECEIVE_TIMEOUT_SECONDS = 60;

export function channelAddress(plan: Plan, channel: Plan['workflow']['stages'][number]['channel'], a: StageAddresses): ChannelAddress {
  if (channel === 'queue' && plan.channel.queue) return { kind: 'queue', settings: plan.channel.queue, topicArns: [...a.topicArns], queueUrls: [...a.queueUrls] };
  if (channel === 'object' && plan.channel.object) return { kind: 'object', settings: plan.channel.object, buckets: [...a.exchangeBuckets] };
  return { kind: 'none' };
}

function launchOf(plan: Plan, stage: Plan['workflow']['stages'][number], override: StageRunOptions['launch']): StageRun['launch'] {
  if (typeof override === 'object') {
    const size = launchTreeSize(override);
    if (size !== plan.workers) throw new UsageError(`a launch tree of branching ${override.branchingFactor} and ${override.levels} levels starts ${size} workers, the plan has ${plan.workers}`, { field: 'launch' });
    return { kind: 'tree', branchingFactor: override.branchingFactor, levels: override.levels };
  }
  const l = stage.launch;
  return l.kind === 'tree' && override !== 'flat' ? { kind: 'tree', branchingFactor: l.branchingFactor, levels: l.levels } : { kind: 'flat' };
}

export function stageRunsOf(plan: Plan, a: StageAddresses, o: StageRunOptions): StageRun[] {
  return plan.workflow.stages.map((s) => ({
    runId: o.runId,
    attempt: o.attempt ?? 0,
    planId: plan.planId,
    bucket: a.bucket,
    storage: plan.storage,
    stage: s.index,
    stages: plan.workflow.stages.length,
    firstLayer: s.firstLayer,
    lastLayer: s.lastLayer,
    workers: plan.workers,
    inputs: s.index === 0 ? o.inputs ?? o.runId : null,
    samples: o.samples,
    wire: plan.wire,
    kernel: plan.kernel,
    channel: channelAddress(plan, s.channel, a),
    receiveTimeoutSeconds: o.receiveTimeoutSeconds ?? Math.min(DEFAULT_RECEIVE_TIMEOUT_SECONDS, s.task.timeoutSeconds),
    launch: launchOf(plan, s, o.launch),
    workerFunction: a.functionNames[s.functionId] ?? s.functionId,
    topScores: o.topScores ?? 0,
  }));
}
