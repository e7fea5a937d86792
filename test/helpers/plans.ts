// Plans built by the planner's own code on a generated network, cheaply: the search restricted to
// the case's worker counts, shapes, channels and launches (test/plan/, test/workflows/); plans for
// distributed runs with a fixed configuration (testPlan); hand edits of a plan made consistent again.

import { generateRadixNetwork } from '../../model/generate.ts';
import type { SparseNetwork } from '../../model/network.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants, type LatencyConstants } from '../../planner/latency/index.ts';
import { searchPlans, type PlanSearchOptions } from '../../planner/optimize/index.ts';
import { buildPlan, type BuildPlanInput, type BuiltPlan, type Plan } from '../../planner/plan/index.ts';
import type { WireOptions } from '../../planner/plan/build.ts';
import { computePlanId } from '../../planner/plan/names.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';

/** 1024 neurons x 12 layers, seed 4. */
export const network12 = generateRadixNetwork({ neurons: 1024, layers: 12, seed: 4 });

export interface PlanCase {
  readonly network?: SparseNetwork;
  readonly rows: number;
  readonly search: Partial<PlanSearchOptions>;
  readonly constants?: Partial<LatencyConstants>;
  readonly build?: Partial<BuildPlanInput>;
}

/** Slow Step Functions make one stage of grouped layers the fastest plan. */
export const slowStepFunctions = { sfnTaskInvokeSeconds: 2, sfnTransitionSeconds: 1 };

/** The plan and its report for a case (assumed activation density 0.3, cyclic partition, seed 1). */
export async function builtPlanOf(c: PlanCase): Promise<BuiltPlan> {
  const network = c.network ?? network12;
  const workload = assumedWorkload(network, c.rows, 0.3, DEFAULT_GATHER_ABOVE_DENSITY);
  const search = await searchPlans(network, workload, {
    objective: 'cost', scheme: 'cyclic', seed: 1, prices: defaultPrices(), calibration: defaultCalibrationProfile(),
    constants: latencyConstants(c.constants ?? {}), ...c.search,
  });
  return buildPlan({
    network,
    model: { source: 'generated', path: null, generate: { neurons: network.neurons, layers: network.layers.length, seed: 4 } },
    inputs: { source: 'generated', path: null, samples: c.rows, seed: 4, density: 0.1 },
    search, objective: c.search.objective ?? 'cost', scheme: 'cyclic', seed: 1,
    calibration: defaultCalibrationProfile(), calibrationPath: null, version: '0.1.0',
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
    ...c.build,
  });
}

export async function planOf(c: PlanCase): Promise<Plan> {
  return (await builtPlanOf(c)).plan;
}

export interface TestPlanOptions {
  readonly workers: number;
  readonly channel?: 'queue' | 'object';
  readonly shape?: 'layer-groups' | 'map-per-layer' | 'serial' | 'stages';
  readonly groups?: number;
  readonly launch?: 'map' | 'tree';
  readonly rows: number;
  readonly scheme?: 'hypergraph' | 'cyclic' | 'block';
  /** Default: the wire format the search priced. */
  readonly wire?: WireOptions;
  /** The queue channel's wire bytes per message at most (plan.json channel.queue.chunkBytes); default the planner's. */
  readonly queueChunkBytes?: number;
}

/**
 * A plan for a distributed run of `network` (any network: the real one too) with a fixed worker
 * count, channel, shape, grouping and launch; hypergraph partition by default, as `stepinfer plan`.
 */
export async function testPlan(network: SparseNetwork, o: TestPlanOptions): Promise<Plan> {
  const shape = o.shape ?? (o.workers === 1 ? 'serial' : 'layer-groups');
  const scheme = o.scheme ?? 'hypergraph';
  const plan = await planOf({
    network, rows: o.rows,
    search: {
      scheme, workerCounts: [o.workers], shapes: [shape],
      ...(o.workers > 1 && shape === 'layer-groups' ? { channels: [o.channel ?? 'queue'] } : {}),
      ...(o.groups !== undefined ? { groups: o.groups } : {}),
      ...(o.launch !== undefined ? { launches: [o.launch] } : {}),
    },
    build: { scheme, model: { source: 'generated', path: null, generate: null }, ...(o.wire ? { wire: o.wire } : {}) },
  });
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
