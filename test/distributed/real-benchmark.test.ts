// The real GraphChallenge case (1024 neurons x 120 layers, the 10,000 real inputs), run
// distributed over both channels (queue: SNS -> SQS; object: S3) for P in {1, 2, 4, 5, 8}: through fauxqs and
// the local Lambda host, every worker a handler in its own thread with its shard from S3. Each
// run's categories equal serial inference's and the truth, and its final activations are bit-
// identical to serial inference (the kernel sums every output in ascending input order, whoever
// computes it). Layer groupings vary so the S3 hand-off between stages runs too. Missing data
// fails, never skips. Each run is expensive (tens of seconds on two cores): each case runs once.

import { beforeAll, describe, expect, it } from 'vitest';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { runDistributedLocally } from '../../workflows/local/distributed-run.ts';
import { channelCounters } from '../../workflows/local/run-counters.ts';
import { loadRealCase } from '../helpers/shared-data.ts';
import { testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';

let network: SparseNetwork;
let inputs: SparseRows;
let truth: number[];
let serial: SerialInferenceResult;

beforeAll(() => {
  ({ network, inputs, truth } = loadRealCase());
  serial = inferSerial(network, inputs);
});

const CASES = [
  { workers: 2, groups: 3 },
  { workers: 4, groups: 2 },
  { workers: 5, groups: 1 },
  { workers: 8, groups: 1 },
] as const;

describe('distributed on the real benchmark equals serial inference', () => {
  it('serial inference matches the truth (the reference itself)', () => {
    expect(serial.categories).toEqual(truth);
    expect(serial.categories.length).toBe(337);
  });

  it('P = 1: the serial plan, one stage function, no channel', async () => {
    const plan = await testPlan(network, { workers: 1, rows: inputs.rows });
    const run = await runDistributedLocally(plan, network, inputs, { logSink: () => undefined });
    expect(run.categories).toEqual(serial.categories);
    expectSameRows(run.activations, serial.activations);
    expect(channelCounters(run).total.messages).toBe(0);
  }, 600_000);

  for (const channel of ['queue', 'object'] as const) for (const c of CASES) {
    it(`${channel} channel, P = ${c.workers}, ${c.groups} layer group${c.groups > 1 ? 's' : ''}`, async () => {
      const plan = await testPlan(network, { workers: c.workers, channel, rows: inputs.rows, groups: c.groups });
      expect(plan.channel.kind).toBe(channel);
      expect(plan.workers).toBe(c.workers);
      expect(plan.workflow.stages.length).toBe(c.groups);
      const run = await runDistributedLocally(plan, network, inputs, { logSink: () => undefined });
      expect(run.categories).toEqual(serial.categories);
      expectSameRows(run.activations, serial.activations);
      const { total, perLayer } = channelCounters(run);
      expect(perLayer.map((l) => l.layer)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      // Rows moved over the plan's channel, each received once.
      expect(total.bytes).toBeGreaterThan(0);
      expect(total.duplicates).toBe(0);
      if (channel === 'queue') {
        expect(total.publishes).toBeGreaterThan(0);
        expect(total.puts + total.gets + total.lists).toBe(0);
      } else {
        expect(total.publishes + total.receives).toBe(0);
        // One object per layer and source with readers, at most.
        expect(total.puts).toBeLessThanOrEqual(120 * c.workers);
      }
    }, 600_000);
  }
});
