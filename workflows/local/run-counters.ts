// What a distributed run did, counted from its workers' reports: per layer and in total, the
// channel's bytes and requests of each kind, and the run's usage as planner/cost prices it
// (Lambda GB-seconds from each invocation's measured duration, SNS, SQS and S3 requests and
// bytes), so a run's measured cost sits next to the cost its plan predicted.

import type { Plan } from '../../planner/plan/schema.ts';
import { addCounters, zeroCounters as zeroUsage, type LambdaUsage, type UsageCounters } from '../../planner/cost/counters.ts';
import type { WorkerLayer } from '../../functions/handlers/events.ts';
import type { DistributedRunResult } from './distributed-run.ts';

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
export function channelCounters(run: DistributedRunResult): { perLayer: LayerCounters[]; total: LayerCounters } {
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

/** The run's usage as AWS would bill it (Step Functions aside: this run had none). */
export function measuredUsage(plan: Plan, run: DistributedRunResult): UsageCounters {
  const memoryOf = (functionId: string) => plan.functions.find((f) => f.id === functionId)!;
  const lambda: LambdaUsage[] = [];
  let storagePuts = 0, storageGets = 0, putBytes = 0, getBytes = 0;
  run.stages.forEach((stage, i) => {
    const f = memoryOf(plan.workflow.stages[i].functionId);
    // Lambda bills each invocation's duration rounded up to the millisecond.
    const billedSeconds = stage.workers.reduce((t, w) => t + Math.ceil(w.endMs - w.startMs) / 1000, 0);
    lambda.push({ role: f.role, memoryMB: f.memoryMB, architecture: f.architecture, invocations: stage.workers.length, billedSeconds });
    for (const w of stage.workers) {
      // The status object each worker ends with, and the launcher's read of it.
      storagePuts += w.storage.puts + 1;
      storageGets += w.storage.gets + 1;
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
  const statusLists = run.stages.reduce((t, s) => t + s.coordinator.lists, 0);
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
  });
}
