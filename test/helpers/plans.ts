// Plans for tests, built by the planner as `stepinfer plan` builds them, on a given network with a
// fixed worker count, channel, shape, grouping and launch (an assumed activation density keeps the
// search cheap), and hand edits of a plan made consistent again (its id and the names derived from it).

import type { SparseNetwork } from '../../model/network.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants } from '../../planner/latency/index.ts';
import { searchPlans } from '../../planner/optimize/index.ts';
import { buildPlan, type Plan } from '../../planner/plan/index.ts';
import type { WireOptions } from '../../planner/plan/build.ts';
import { computePlanId } from '../../planner/plan/names.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';

export interface TestPlanOptions {
  readonly workers: number;
  readonly channel?: 'queue' | 'object';
  readonly shape?: 'layer-groups' | 'map-per-layer' | 'serial';
  readonly groups?: number;
  readonly launch?: 'map' | 'tree';
  readonly rows: number;
  readonly seed?: number;
  readonly scheme?: 'hypergraph' | 'cyclic' | 'block';
  /** Default: the wire format the search priced. */
  readonly wire?: WireOptions;
  /** The queue channel's wire bytes per message at most (plan.json channel.queue.chunkBytes); default the planner's. */
  readonly queueChunkBytes?: number;
}

export async function testPlan(network: SparseNetwork, o: TestPlanOptions): Promise<Plan> {
  const workload = assumedWorkload(network, o.rows, 0.3, DEFAULT_GATHER_ABOVE_DENSITY);
  const shape = o.shape ?? (o.workers === 1 ? 'serial' : 'layer-groups');
  const search = await searchPlans(network, workload, {
    objective: 'cost', scheme: o.scheme ?? 'hypergraph', seed: o.seed ?? 1, prices: defaultPrices(), calibration: defaultCalibrationProfile(),
    constants: latencyConstants({}), workerCounts: [o.workers], shapes: [shape],
    ...(o.workers > 1 && shape === 'layer-groups' ? { channels: [o.channel ?? 'queue'] } : {}),
    ...(o.groups !== undefined ? { groups: o.groups } : {}),
    ...(o.launch !== undefined ? { launches: [o.launch] } : {}),
  });
  const plan = buildPlan({
    network,
    model: { source: 'generated', path: null, generate: null },
    inputs: { source: 'generated', path: null, samples: o.rows, seed: null, density: null },
    search, objective: 'cost', scheme: o.scheme ?? 'hypergraph', seed: o.seed ?? 1,
    calibration: defaultCalibrationProfile(), calibrationPath: null, version: 'test',
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
    ...(o.wire ? { wire: o.wire } : {}),
  }).plan;
  if (o.queueChunkBytes === undefined) return plan;
  const edited = clone(plan);
  if (!edited.channel.queue) throw new Error('queueChunkBytes needs a queue channel plan');
  edited.channel.queue.chunkBytes = o.queueChunkBytes;
  return reidentified(edited, plan.planId);
}

const clone = (plan: Plan): Plan => JSON.parse(JSON.stringify(plan)) as Plan;

/** A hand-edited plan with its id, and the names derived from it, made consistent again (`oldPlanId`: the id its names carry). */
export function reidentified(plan: Plan, oldPlanId: string = plan.planId): Plan {
  const out = clone(plan);
  out.planId = computePlanId(out);
  const rename = (name: string) => name.replace(oldPlanId, out.planId);
  out.names = {
    ...out.names,
    stack: rename(out.names.stack), stateMachine: rename(out.names.stateMachine), bucket: rename(out.names.bucket),
    functions: Object.fromEntries(Object.entries(out.names.functions).map(([k, v]) => [k, rename(v)])),
    topics: out.names.topics.map(rename), queues: out.names.queues.map(rename),
    deadLetterQueue: out.names.deadLetterQueue && rename(out.names.deadLetterQueue), exchangeBuckets: out.names.exchangeBuckets.map(rename),
  };
  return out;
}
