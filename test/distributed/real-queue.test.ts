// The real GraphChallenge case (1024 neurons x 120 layers, the 10,000 real inputs), run
// distributed over the queue channel for P in {1, 2, 4, 5, 8}: through fauxqs (SNS -> SQS, S3) and
// the local Lambda host, every worker a handler in its own thread with its shard from S3. Each
// run's categories equal serial inference's and the truth, and its final activations are bit-
// identical to serial inference (the kernel sums every output in ascending input order, whoever
// computes it). Layer groupings vary so the S3 hand-off between stages runs too. Missing data
// fails, never skips. Each run is expensive (tens of seconds on two cores): each case runs once.

import { beforeAll, describe, expect, it } from 'vitest';
import { defaultGraphChallengeDir, graphChallengePaths, readCategories, readGraphChallengeNetwork, readInputTsv } from '../../model/graphchallenge.ts';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { runDistributedLocally } from '../../workflows/local/distributed-run.ts';
import { channelCounters } from '../../workflows/local/run-counters.ts';
import { requireData } from '../helpers/shared-data.ts';
import { testPlan } from '../helpers/plans.ts';
import { expectSameRows } from '../helpers/rows.ts';

const paths = graphChallengePaths(defaultGraphChallengeDir());
let network: SparseNetwork;
let inputs: SparseRows;
let truth: number[];
let serial: SerialInferenceResult;

beforeAll(() => {
  requireData(paths.weightsDir, 'the GraphChallenge 1024-neuron network');
  requireData(paths.inputs, 'the GraphChallenge inputs');
  requireData(paths.categories, 'the GraphChallenge truth categories');
  network = readGraphChallengeNetwork(paths.weightsDir);
  inputs = readInputTsv(paths.inputs, network.neurons);
  truth = [...readCategories(paths.categories)].filter((id) => id < inputs.rows);
  serial = inferSerial(network, inputs);
});

const CASES = [
  { workers: 1, groups: 1 },
  { workers: 2, groups: 3 },
  { workers: 4, groups: 2 },
  { workers: 5, groups: 1 },
  { workers: 8, groups: 1 },
] as const;

describe('distributed over SNS -> SQS on the real benchmark equals serial inference', () => {
  it('serial inference matches the truth (the reference itself)', () => {
    expect(serial.categories).toEqual(truth);
    expect(serial.categories.length).toBe(337);
  });

  for (const c of CASES) {
    it(`P = ${c.workers}, ${c.groups} layer group${c.groups > 1 ? 's' : ''}`, async () => {
      const plan = await testPlan(network, { workers: c.workers, channel: 'queue', rows: inputs.rows, groups: c.groups });
      expect(plan.workers).toBe(c.workers);
      expect(plan.workflow.stages.length).toBe(c.groups);
      const run = await runDistributedLocally(plan, network, inputs, { logSink: () => undefined });
      expect(run.categories).toEqual(serial.categories);
      expectSameRows(run.activations, serial.activations);
      const { total, perLayer } = channelCounters(run);
      expect(perLayer.map((l) => l.layer)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      if (c.workers === 1) {
        expect(total.messages).toBe(0);
      } else {
        // Rows moved, and every message sent was received and deleted once.
        expect(total.bytes).toBeGreaterThan(0);
        expect(total.publishes).toBeGreaterThan(0);
        expect(total.duplicates).toBe(0);
      }
    }, 600_000);
  }
});
