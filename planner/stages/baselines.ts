// What the chosen stages are compared with, at the chosen batch and workflow type (AMPS-Inf's
// baselines and an always-on server):
//   single function: all units in one function, the cheapest memory that meets the SLO (when the
//                    whole model fits one package and one memory size);
//   uniform split:   k stages of equal unit counts (planner/optimize/search.ts evenStages) with one
//                    memory size for all, the cheapest k and memory that meet the SLO;
//   always-on server: the price file's instance (planner/prices: m6i.large, 2 vCPUs) running the
//                    whole model on 2 intra-op threads (the calibrated 2-thread time), paid by the
//                    hour at the price file's utilization: cost per request = hourly price x busy
//                    hours / utilization, i.e. one request every (latency / utilization) seconds.
// Each with its latency, cost per input and the chosen plan's saving against it.

import { priceServer } from '../cost/price.ts';
import { LAMBDA_MEMORY_GRID_MB } from '../optimize/estimate.ts';
import { evenStages } from '../optimize/search.ts';
import { secondsAtBatch } from './calibration.ts';
import { stageModelOf, type StageContext, type StageModel } from './model.ts';
import { solutionOf, type StagesSolution } from './program.ts';

export interface LambdaBaseline {
  readonly kind: 'single-function' | 'uniform-split';
  /** Its best plan that meets the SLO, or null. */
  readonly solution: StagesSolution | null;
  /** The fastest of its plans that fit, when none meets the SLO (null when nothing fits). */
  readonly fastest: StagesSolution | null;
  /** Why it has no plan, when it has none. */
  readonly reason: string | null;
  /** 1 - chosen cost per input / its cost per input (null without a plan). */
  readonly saving: number | null;
}

export interface ServerBaseline {
  readonly kind: 'server';
  readonly instanceType: string;
  readonly vcpus: number;
  readonly utilization: number;
  readonly latencySeconds: number;
  readonly costUSD: number;
  readonly costPerInputUSD: number;
  /** Seconds between requests at that utilization: latency / utilization. */
  readonly requestIntervalSeconds: number;
  readonly requiredMemoryMB: number;
  readonly fits: boolean;
  readonly saving: number;
}

export interface StagesBaselines {
  readonly singleFunction: LambdaBaseline;
  readonly uniformSplit: LambdaBaseline & { readonly stageCount: number | null };
  readonly server: ServerBaseline;
}

const saving = (chosen: StagesSolution, cost: number) => 1 - chosen.costPerInputUSD / cost;

function bestOf(model: StageModel, plans: readonly { stages: { firstLayer: number; lastLayer: number; memoryMB: number }[] }[], sloSeconds: number) {
  let best: StagesSolution | null = null, fastest: StagesSolution | null = null;
  for (const p of plans) {
    const estimates = p.stages.map((s) => model.stage(s.firstLayer, s.lastLayer, s.memoryMB));
    if (estimates.some((e) => !e.feasible)) continue;
    const s = solutionOf(model, {
      stages: p.stages.map((x, i) => ({ ...x, seconds: estimates[i].seconds, costUSD: estimates[i].costUSD, historyEvents: estimates[i].historyEvents })),
      optimality: { proven: true, relativeGap: 0, status: 'enumerated' },
    });
    if (!fastest || s.latencySeconds < fastest.latencySeconds) fastest = s;
    if (s.latencySeconds > sloSeconds) continue;
    if (!best || s.costUSD < best.costUSD || (s.costUSD === best.costUSD && s.latencySeconds < best.latencySeconds)) best = s;
  }
  return { best, fastest };
}

export function stagesBaselines(ctx: StageContext, chosen: StagesSolution, sloSeconds: number, memoryGridMB: readonly number[] = LAMBDA_MEMORY_GRID_MB): StagesBaselines {
  const model = stageModelOf(ctx, chosen.batch, chosen.workflowType);
  const n = model.units;

  const single = bestOf(model, memoryGridMB.map((m) => ({ stages: [{ firstLayer: 1, lastLayer: n, memoryMB: m }] })), sloSeconds);
  const whole = model.stage(1, n, memoryGridMB[memoryGridMB.length - 1]);
  const singleReason = single.best ? null : single.fastest
    ? `its fastest, ${single.fastest.latencySeconds.toFixed(2)} s at ${single.fastest.stages[0].memoryMB} MB, misses the SLO`
    : `it does not fit one function: ${whole.reasons.join('; ')}`;

  const uniformPlans: { stages: { firstLayer: number; lastLayer: number; memoryMB: number }[] }[] = [];
  for (let k = 1; k <= n; k++) for (const m of memoryGridMB) uniformPlans.push({ stages: evenStages(n, k, m) });
  const uniform = bestOf(model, uniformPlans, sloSeconds);
  const uniformReason = uniform.best ? null : uniform.fastest
    ? `its fastest, ${uniform.fastest.latencySeconds.toFixed(2)} s (${uniform.fastest.stages.length} stages at ${uniform.fastest.stages[0].memoryMB} MB), misses the SLO`
    : 'no equal split fits the package and memory limits';

  // The server: the whole model on its vCPUs (the calibrated 2-thread time; the price file's instance has 2).
  const c = ctx.constants, prices = ctx.prices, cal = ctx.calibration;
  const latencySeconds = c.serverStartSeconds + secondsAtBatch(cal.whole.times, chosen.batch, prices.server.vcpus >= 2 ? 'two' : 'one');
  const cost = priceServer(latencySeconds, prices);
  const utilization = prices.prices.serverUtilization.value;
  const requiredMemoryMB = model.requiredMemoryMB(1, n);
  const costPerInputUSD = cost.totalUSD / chosen.batch;
  return {
    singleFunction: {
      kind: 'single-function', solution: single.best, fastest: single.fastest, reason: singleReason,
      saving: single.best ? saving(chosen, single.best.costPerInputUSD) : null,
    },
    uniformSplit: {
      kind: 'uniform-split', solution: uniform.best, fastest: uniform.fastest, reason: uniformReason,
      saving: uniform.best ? saving(chosen, uniform.best.costPerInputUSD) : null,
      stageCount: uniform.best ? uniform.best.stages.length : null,
    },
    server: {
      kind: 'server', instanceType: prices.server.instanceType, vcpus: prices.server.vcpus, utilization,
      latencySeconds, costUSD: cost.totalUSD, costPerInputUSD,
      requestIntervalSeconds: latencySeconds / (utilization > 0 ? utilization : 1),
      requiredMemoryMB, fits: requiredMemoryMB <= prices.server.memoryGiB * 1024,
      saving: saving(chosen, costPerInputUSD),
    },
  };
}

