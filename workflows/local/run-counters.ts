// What a local run did, counted from its workers' reports: per layer and in total, the channel's
// bytes and requests of each kind, and the run's usage as planner/cost prices it (Lambda
// GB-seconds from each invocation's measured duration, SNS, SQS and S3 requests and bytes, and
// the Step Functions execution's transitions or Express duration when a workflow ran), so a run's
// measured cost sits next to the cost its plan predicted.

import type { Plan } from '../../planner/plan/schema.ts';
import { addCounters, zeroCounters as zeroUsage, type LambdaUsage, type UsageCounters } from '../../planner/cost/counters.ts';
import { latencyConstants } from '../../planner/latency/constants.ts';
import type { WorkerLayer } from '../../functions/handlers/events.ts';
import type { LocalRunResult, StepFunctionsUsage } from './local-run.ts';

/** One layer over all workers (or the run's total, layer null). */
export interface LayerCounters {
  readonly layer: number | null;
  /** Payload bytes sent (queue messages as published, after compression; S3 object bodies). */
  bytes: number;
  /** Messages (queue) or objects (S3) sent. */
  messages: number;
  /** SNS PublishBatch calls. */
  publishes: number;
  /** SQS ReceiveMessage calls, empty long polls included. */
  receives: number;
  emptyReceives: number;
  /** SQS DeleteMessageBatch calls. */
  deletes: number;
  duplicates: number;
  puts: number;
  gets: number;
  lists: number;
  /** The slowest worker's compute, send and wait in this layer, ms. */
  computeMs: number;
  sendMs: number;
  waitMs: number;
}

function emptyLayer(layer: number | null): LayerCounters {
  return { layer, bytes: 0, messages: 0, publishes: 0, receives: 0, emptyReceives: 0, deletes: 0, duplicates: 0, puts: 0, gets: 0, lists: 0, computeMs: 0, sendMs: 0, waitMs: 0 };
}

function addLayer(into: LayerCounters, l: WorkerLayer): void {
  const c = l.counters;
  into.bytes += c.publishedBytes;
  into.messages += c.publishedMessages;
  into.publishes += c.publishes;
  into.receives += c.receives;
  into.emptyReceives += c.emptyReceives;
  into.deletes += c.deletes;
  into.duplicates += c.duplicates;
  into.puts += c.puts;
  into.gets += c.gets;
  into.lists += c.lists;
  into.computeMs = Math.max(into.computeMs, l.computeMs);
  into.sendMs = Math.max(into.sendMs, l.sendMs);
  into.waitMs = Math.max(into.waitMs, l.waitMs);
}

/** Per layer (ascending) and the total of the channel's traffic. */
export function channelCounters(run: Pick<LocalRunResult, 'stages'>): { perLayer: LayerCounters[]; total: LayerCounters } {
  const byLayer = new Map<number, LayerCounters>();
  const total = emptyLayer(null);
  for (const stage of run.stages) {
    for (const w of stage.workers) {
      for (const l of w.layers) {
        let at = byLayer.get(l.layer);
        if (!at) byLayer.set(l.layer, at = emptyLayer(l.layer));
        addLayer(at, l);
        addLayer(total, l);
      }
    }
  }
  // The total's times are sums over layers of the slowest worker, not the slowest single layer.
  const perLayer = [...byLayer.values()].sort((a, b) => a.layer! - b.layer!);
  total.computeMs = perLayer.reduce((t, l) => t + l.computeMs, 0);
  total.sendMs = perLayer.reduce((t, l) => t + l.sendMs, 0);
  total.waitMs = perLayer.reduce((t, l) => t + l.waitMs, 0);
  return { perLayer, total };
}

/**
 * What a Step Functions execution bills: Standard, its transitions; Express, one request and its
 * duration at the billed memory; each distributed Map child, an Express request and its duration.
 * @see https://aws.amazon.com/step-functions/pricing/
 */
export function stepFunctionsUsage(sfn: StepFunctionsUsage | null): Pick<UsageCounters, 'sfnStandardTransitions' | 'sfnExpressRequests' | 'sfnExpressGBSeconds'> {
  if (sfn === null) return { sfnStandardTransitions: 0, sfnExpressRequests: 0, sfnExpressGBSeconds: 0 };
  // The planner's assumption of what an execution of this project is billed for (64 MB chunks).
  const memoryGB = latencyConstants().sfnExpressBilledMemoryMB / 1024;
  const express = sfn.type === 'EXPRESS';
  // Express executions are billed per 100 ms.
  const billedSeconds = (ms: number) => Math.ceil(ms / 100) / 10;
  return {
    sfnStandardTransitions: express ? 0 : sfn.transitions,
    sfnExpressRequests: (express ? 1 : 0) + sfn.childExecutions,
    sfnExpressGBSeconds: ((express ? billedSeconds(sfn.executionMs) : 0) + sfn.childExecutionMs.reduce((t, ms) => t + billedSeconds(ms), 0)) * memoryGB,
  };
}

/** The run's usage as AWS would bill it. */
export function measuredUsage(plan: Plan, run: LocalRunResult): UsageCounters {
  const memoryOf = (functionId: string) => plan.functions.find((f) => f.id === functionId)!;
  const lambda: LambdaUsage[] = [];
  let storagePuts = 0, storageGets = 0, putBytes = 0, getBytes = 0;
  run.stages.forEach((stage, i) => {
    const f = memoryOf(plan.workflow.stages[i].functionId);
    // Lambda bills each invocation's duration rounded up to the millisecond.
    const billedSeconds = stage.workers.reduce((t, w) => t + Math.ceil(w.endMs - w.startMs) / 1000, 0);
    lambda.push({ role: f.role, memoryMB: f.memoryMB, architecture: f.architecture, invocations: stage.workers.length, billedSeconds });
    for (const w of stage.workers) {
      // The status object each worker ends with, and a coordinator's read of it (a workflow's
      // Map or Task gets the worker's result from Lambda instead).
      storagePuts += w.storage.puts + 1;
      storageGets += w.storage.gets + (stage.coordinator ? 1 : 0);
      putBytes += w.storage.putBytes;
      getBytes += w.storage.getBytes;
    }
  });
  if (run.gather && plan.workflow.gather) {
    const f = memoryOf(plan.workflow.gather.functionId);
    lambda.push({ role: 'gather', memoryMB: f.memoryMB, architecture: f.architecture, invocations: 1, billedSeconds: Math.ceil(run.gather.endMs - run.gather.startMs) / 1000 });
    storagePuts += run.gather.storage.puts;
    storageGets += run.gather.storage.gets;
    putBytes += run.gather.storage.putBytes;
    getBytes += run.gather.storage.getBytes;
  }
  const { total } = channelCounters(run);
  const queue = plan.channel.kind === 'queue';
  const statusLists = run.stages.reduce((t, s) => t + (s.coordinator?.lists ?? 0), 0);
  return addCounters(zeroUsage(), {
    ...zeroUsage(),
    lambda,
    snsPublishCalls: total.publishes,
    snsPublishedBytes: queue ? total.bytes : 0,
    sqsReceiveCalls: total.receives,
    sqsEmptyReceiveCalls: total.emptyReceives,
    sqsDeleteCalls: queue ? total.deletes : 0,
    s3PutRequests: total.puts + storagePuts + run.clientStorage.puts,
    s3GetRequests: total.gets + storageGets + run.clientStorage.gets,
    s3ListRequests: total.lists + statusLists + run.clientStorage.lists,
    s3BytesWritten: putBytes + (queue ? 0 : total.bytes),
    s3BytesRead: getBytes,
    ...stepFunctionsUsage(run.stepFunctions),
  });
}
