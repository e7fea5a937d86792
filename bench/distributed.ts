// Distributed inference on this machine against serial inference and FSD-Inference's published
// runs, in one go, on the real case (1024 x 120 network, the 10,000 real inputs):
// - serial time (the reference: one process, warm);
// - for each channel and worker count: the local run's wall time and its ratio to serial, and its
//   bytes and requests of each kind (publishes, receives, PUT, GET, LIST), in total and per layer;
// - the planner's prediction of the same counters for the same plan, with the error of each;
// - FSD-Inference's published P = 8 runs of the same work beside ours;
// - the cost the plan predicted next to the cost of the counters measured.
//
//   npm run bench -- distributed [--workers 8] [--channels queue,object] [--per-layer] [--json]
//
// Each configuration runs once (a run is tens of seconds on two cores): timings are one sample on
// a shared machine, so compare within one invocation.

import { resolve } from 'node:path';
import { inferSerial } from '../functions/serial/serial-inference.ts';
import { defaultPrices } from '../planner/cost/prices.ts';
import { priceCounters } from '../planner/cost/price.ts';
import type { RunRecord } from '../planner/cost/record.ts';
import { runDistributedLocally } from '../workflows/local/distributed-run.ts';
import { channelCounters, measuredUsage, type LayerCounters } from '../workflows/local/run-counters.ts';
import { defaultFsdRunsFile, readRunRecords } from '../cli/files.ts';
import { table } from '../cli/output.ts';
import { resolveWorkload } from '../cli/workload.ts';
import { loadCalibration, makePlan } from '../cli/commands/plan.ts';
import { networkChecksum } from '../model/checksum.ts';
import type { SparseNetwork, SparseRows } from '../model/network.ts';
import { buildShards } from '../model/shard.ts';
import { planNeuronMaps, type Plan } from '../planner/plan/schema.ts';
import { encodeSlice } from '../functions/storage/slice-codec.ts';
import { stageInputSlices } from '../functions/worker/activation-slice.ts';

/**
 * Bytes of the input slices the client stages for a run (workflows/local/distributed-run.ts):
 * S3 writes the run makes that its counters do not carry in bytes, computed the same way here so
 * the object channel's bytes written compare with the plan's prediction, which includes them.
 */
function stagedInputBytes(plan: Plan, network: SparseNetwork, inputs: SparseRows): number {
  const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum: networkChecksum(network), workers: plan.workers });
  let bytes = 0;
  for (const shard of shards) for (const x of stageInputSlices(inputs, shard, shard.layers[0])) bytes += encodeSlice(x.slice).length;
  return bytes;
}

export interface DistributedBenchOptions {
  readonly workers: number[];
  readonly channels: ('queue' | 'object')[];
  readonly perLayer?: boolean;
  readonly json?: boolean;
}

/** The counters compared: what the issue asks for, each as the planner and the run name it. */
const KINDS = ['bytes', 'publishes', 'receives', 'puts', 'gets', 'lists'] as const;
type Kind = (typeof KINDS)[number];
type Counts = Record<Kind, number>;

interface Row {
  readonly channel: 'queue' | 'object';
  readonly workers: number;
  readonly seconds: number;
  readonly ratioToSerial: number;
  /** CPU seconds of the whole process during the run (handler threads and the emulator included). */
  readonly cpuSeconds: number;
  /** The channel's own traffic. */
  readonly measured: Counts & { messages: number };
  /** The whole run as billed (channel, stage objects, statuses; object: S3 bytes written, staged inputs included), what the planner predicts. */
  readonly measuredRun: Counts;
  /** Of measuredRun.lists, the coordinator's polls for status objects (local runtime, timing). */
  readonly statusLists: number;
  readonly predicted: Counts;
  readonly costUSD: { readonly measured: number; readonly predicted: number };
  readonly exact: boolean;
  readonly perLayer: LayerCounters[];
}

const pick = (c: LayerCounters): Counts & { messages: number } => ({
  bytes: c.bytes, messages: c.messages, publishes: c.publishes, receives: c.receives, puts: c.puts, gets: c.gets, lists: c.lists,
});

const pct = (measured: number, predicted: number) => (measured === 0 ? (predicted === 0 ? '0%' : 'n/a') : `${(((predicted - measured) / measured) * 100).toFixed(1)}%`);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

/** FSD-Inference's published counters in our kinds. */
function fsdCounts(record: RunRecord): Counts & { seconds: number } {
  const c = record.counters;
  const published = record.published as { bytesSent?: number; batchSecondsPerWorker?: number } | undefined;
  return {
    bytes: record.variant === 'queue' ? (c.snsPublishedBytes ?? 0) : (published?.bytesSent ?? 0),
    publishes: c.snsPublishCalls ?? 0, receives: c.sqsReceiveCalls ?? 0,
    puts: c.s3PutRequests ?? 0, gets: c.s3GetRequests ?? 0, lists: c.s3ListRequests ?? 0,
    seconds: published?.batchSecondsPerWorker ?? 0,
  };
}

export async function benchDistributed(o: DistributedBenchOptions): Promise<void> {
  const workload = resolveWorkload({}, { defaultModel: 'benchmark', inputs: 'required' });
  if (!o.json) process.stderr.write(`${workload.description}\n`);
  const { network, inputs } = workload;
  // Serial reference, warm: the second of two runs.
  inferSerial(network, inputs);
  const serial = inferSerial(network, inputs);
  const serialSeconds = serial.seconds;
  const prices = defaultPrices();
  const rows: Row[] = [];
  for (const channel of o.channels) {
    for (const workers of o.workers) {
      if (!o.json) process.stderr.write(`planning and running ${workers} workers over the ${channel} channel...\n`);
      const { plan, report } = await makePlan(workload, {
        objective: 'cost', workers: [workers], channel: [channel], shape: ['layer-groups'], groups: 1, launch: ['map'],
        prices, calibration: loadCalibration(undefined),
      });
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const run = await runDistributedLocally(plan, network, inputs, { logSink: () => undefined });
      const seconds = (performance.now() - started) / 1000;
      // Process-wide: the handlers' threads and the emulator count too.
      const cpu = process.cpuUsage(cpuBefore);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const { total, perLayer } = channelCounters(run);
      const p = report.predicted.counters;
      const usage = measuredUsage(plan, run);
      rows.push({
        channel, workers, seconds, ratioToSerial: seconds / serialSeconds, cpuSeconds,
        measured: pick(total),
        measuredRun: {
          bytes: channel === 'queue' ? usage.snsPublishedBytes : usage.s3BytesWritten + stagedInputBytes(plan, network, inputs),
          publishes: usage.snsPublishCalls, receives: usage.sqsReceiveCalls,
          puts: usage.s3PutRequests, gets: usage.s3GetRequests, lists: usage.s3ListRequests,
        },
        predicted: {
          bytes: channel === 'queue' ? (p.snsPublishedBytes ?? 0) : (p.s3BytesWritten ?? 0),
          publishes: p.snsPublishCalls ?? 0, receives: p.sqsReceiveCalls ?? 0,
          puts: p.s3PutRequests ?? 0, gets: p.s3GetRequests ?? 0, lists: p.s3ListRequests ?? 0,
        },
        statusLists: run.stages.reduce((t, s) => t + s.coordinator.lists, 0),
        costUSD: { measured: priceCounters(usage, prices).totalUSD, predicted: report.predicted.costUSD },
        exact: JSON.stringify(run.categories) === JSON.stringify(serial.categories),
        perLayer,
      });
    }
  }
  const fsd = readRunRecords(resolve(defaultFsdRunsFile()));
  const result = { serialSeconds, runs: rows, fsd: fsd.map((r) => ({ variant: r.variant, ...fsdCounts(r) })) };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, (k, v) => (k === 'perLayer' && !o.perLayer ? undefined : v), 2)}\n`);
    return;
  }
  const lines: string[] = [
    `serial inference (warm, one thread): ${serialSeconds.toFixed(3)} s, ${serial.categories.length} categories`,
    '',
    'measured runs on this machine (fauxqs in process, local Lambda host), next to FSD-Inference\'s published P = 8 runs:',
    table(['run', 'wall s', 'x serial', 'cpu s', 'exact', 'bytes', 'messages', 'publishes', 'receives', 'PUT', 'GET', 'LIST', 'cost measured', 'cost predicted'], [
      ...rows.map((r) => [`${r.channel} P=${r.workers}`, r.seconds.toFixed(1), r.ratioToSerial.toFixed(1), r.cpuSeconds.toFixed(1), r.exact ? 'yes' : 'NO', mb(r.measured.bytes), r.measured.messages,
        r.measured.publishes, r.measured.receives, r.measured.puts, r.measured.gets, r.measured.lists, `$${r.costUSD.measured.toFixed(6)}`, `$${r.costUSD.predicted.toFixed(6)}`]),
      ...result.fsd.map((f) => [`FSD ${f.variant} P=8 (published)`, f.seconds.toFixed(1), '', '', '', mb(f.bytes), '', f.publishes, f.receives, f.puts, f.gets, f.lists, '', '']),
    ]),
    '',
    'ours against FSD-Inference at P = 8 (ours / theirs):',
    table(['channel', ...KINDS], rows.filter((r) => r.workers === 8).map((r) => {
      const f = result.fsd.find((x) => x.variant === r.channel);
      return [r.channel, ...KINDS.map((k) => (f && f[k] > 0 ? (r.measured[k] / f[k]).toFixed(3) : r.measured[k] === 0 ? '0' : 'n/a'))];
    })),
    '',
    "the planner's prediction for the same plan against the whole run as billed (channel, stage objects, statuses), measured / predicted and the prediction's error:",
    table(['run', ...KINDS], rows.map((r) => [
      `${r.channel} P=${r.workers}`, ...KINDS.map((k) => `${Math.round(r.measuredRun[k])} / ${Math.round(r.predicted[k])} (${pct(r.measuredRun[k], r.predicted[k])})`),
    ])),
    '',
    "LIST without the local coordinator's polls for status objects (every 0.2 s while a stage runs; not predicted: a timing of this runtime), measured / predicted:",
    table(['run', 'status polls', 'lists'], rows.map((r) => [
      `${r.channel} P=${r.workers}`, r.statusLists, `${r.measuredRun.lists - r.statusLists} / ${Math.round(r.predicted.lists)} (${pct(r.measuredRun.lists - r.statusLists, r.predicted.lists)})`,
    ])),
  ];
  if (o.perLayer) {
    for (const r of rows) {
      lines.push('', `per layer, ${r.channel} P=${r.workers}:`, table(['layer', 'bytes', 'messages', 'publishes', 'receives', 'PUT', 'GET', 'LIST', 'compute ms', 'send ms', 'wait ms'],
        r.perLayer.map((l) => [l.layer!, l.bytes, l.messages, l.publishes, l.receives, l.puts, l.gets, l.lists, Math.round(l.computeMs), Math.round(l.sendMs), Math.round(l.waitMs)])));
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
