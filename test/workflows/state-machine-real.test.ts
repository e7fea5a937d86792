// The real GraphChallenge case (1024 neurons x 120 layers, the 10,000 real inputs) through its
// generated workflow, once: FSD-Inference's configuration (8 workers, the queue channel) in layer
// groups, each group a Map state in aws-local-stepfunctions, every worker the real handler in the
// local Lambda host, SNS/SQS/S3 on fauxqs. The categories equal the truth and serial inference's,
// the final rows are bit-identical to serial inference's, the execution makes the transitions
// the definition counts. Missing data fails, never skips. Expensive (minutes on two shared cores):
// the one real-case run of the workflow runtime.

import { beforeAll, describe, expect, it } from 'vitest';
import type { SparseNetwork, SparseRows } from '../../model/network.ts';
import { inferSerial, type SerialInferenceResult } from '../../functions/serial/serial-inference.ts';
import { countTransitions, renderWorkflow, stageStateName } from '../../workflows/asl/index.ts';
import { channelCounters } from '../../workflows/local/run-counters.ts';
import { runStateMachineLocally } from '../../workflows/local/state-machine-run.ts';
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

describe('the real benchmark through its generated workflow', () => {
  it('8 workers, queue channel, 2 layer groups as Map states: the truth\'s 337 categories and serial inference\'s final rows, bit for bit', async () => {
    const plan = await testPlan(network, { workers: 8, channel: 'queue', rows: inputs.rows, groups: 2 });
    expect([plan.shape, plan.workers, plan.channel.kind, plan.workflow.stages.map((s) => s.launch.kind)]).toEqual(['layer-groups', 8, 'queue', ['map', 'map']]);
    const run = await runStateMachineLocally(plan, network, inputs, { logSink: () => undefined });
    expect(run.categories).toEqual(truth);
    expect(run.categories).toEqual(serial.categories);
    expect(run.categories.length).toBe(337);
    expectSameRows(run.activations, serial.activations);
    expect(run.attempts).toEqual([0, 0]);
    expect(run.execution.states.filter((s) => s.index === null).map((s) => s.name))
      .toEqual(['Read input', 'Start run', ...plan.workflow.stages.map((s) => stageStateName(plan, s)), 'Gather']);
    expect(run.stepFunctions).toMatchObject(countTransitions(renderWorkflow(plan).definition));
    const { perLayer, total } = channelCounters(run);
    expect(perLayer.map((l) => l.layer)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(total.publishes).toBeGreaterThan(0);
    expect(total.duplicates).toBe(0);
  }, 900_000);
});
