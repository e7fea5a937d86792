// Plans for tests, built by the planner as `stepinfer plan` builds them, on a given network with a
// fixed worker count, channel, shape, grouping and launch (an assumed activation density keeps the
// search cheap).

import type { SparseNetwork } from '../../model/network.ts';
import { defaultPrices } from '../../planner/cost/index.ts';
import { assumedWorkload, defaultCalibrationProfile, latencyConstants } from '../../planner/latency/index.ts';
import { searchPlans } from '../../planner/optimize/index.ts';
import { buildPlan, type Plan } from '../../planner/plan/index.ts';
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
  return buildPlan({
    network,
    model: { source: 'generated', path: null, generate: null },
    inputs: { source: 'generated', path: null, samples: o.rows, seed: null, density: null },
    search, objective: 'cost', scheme: o.scheme ?? 'hypergraph', seed: o.seed ?? 1,
    calibration: defaultCalibrationProfile(), calibrationPath: null, version: 'test',
    kernel: { gatherAboveDensity: DEFAULT_GATHER_ABOVE_DENSITY, gatherEngine: 'wasm-simd' },
  }).plan;
}
