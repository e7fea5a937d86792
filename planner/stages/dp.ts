// A dynamic program over the cut points of a dense model: the exact optimum of the same stage
// program the MILP solves (planner/optimize/milp.ts), found another way, so tests can cross-check
// the two. Boundary k means units 1..k are done. A label at k is (seconds, cost) of one way to
// reach it; every label is extended by every option starting at unit k + 1. Labels another label
// at the same boundary beats on both seconds and cost are dropped (they can never lead to a
// better plan: what follows adds the same to both), as are labels over the SLO. The cheapest label
// at the last boundary within the SLO is the optimum (ties: fewer seconds). Without an SLO or with
// objective latency it degenerates to a shortest path.

import type { StageOption, StageProgram, StageSolution } from '../optimize/milp.ts';

interface Label {
  readonly seconds: number;
  readonly costUSD: number;
  readonly historyEvents: number;
  readonly option: StageOption | null;
  readonly previous: Label | null;
}

/** Keeps the labels no other label beats on both seconds and cost (the first of equal ones). */
function paretoLabels(labels: readonly Label[]): Label[] {
  const sorted = [...labels].sort((a, b) => a.seconds - b.seconds || a.costUSD - b.costUSD);
  const out: Label[] = [];
  let bestCost = Infinity;
  for (const l of sorted) {
    if (l.costUSD < bestCost) { out.push(l); bestCost = l.costUSD; }
  }
  return out;
}

/**
 * Solves `p` exactly over its options (objective cost within the SLO, or latency then cost);
 * null when no segmentation meets the constraints. The history-event budget is respected too.
 */
export function solveStagesByDynamicProgram(p: StageProgram): StageSolution | null {
  const n = p.layers;
  const byFirst: StageOption[][] = Array.from({ length: n + 2 }, () => []);
  for (const o of p.options) byFirst[o.firstLayer].push(o);
  const cap = p.sloSeconds !== undefined ? p.sloSeconds - p.fixedSeconds : Infinity;
  const eventCap = p.maxHistoryEvents !== undefined ? p.maxHistoryEvents - p.fixedHistoryEvents : Infinity;
  const labels: Label[][] = Array.from({ length: n + 1 }, () => []);
  labels[0] = [{ seconds: 0, costUSD: 0, historyEvents: 0, option: null, previous: null }];
  for (let k = 0; k < n; k++) {
    const here = paretoLabels(labels[k]);
    labels[k] = here;
    for (const l of here) {
      for (const o of byFirst[k + 1]) {
        const seconds = l.seconds + o.seconds;
        const historyEvents = l.historyEvents + o.historyEvents;
        // The MILP's own tolerance on its latency row (HiGHS's primal feasibility, 1e-7 absolute).
        if (seconds > cap + 1e-9 || historyEvents > eventCap) continue;
        labels[o.lastLayer].push({ seconds, costUSD: l.costUSD + o.costUSD, historyEvents, option: o, previous: l });
      }
    }
  }
  const end = labels[n];
  if (end.length === 0) return null;
  const better = (a: Label, b: Label) => p.objective === 'cost'
    ? a.costUSD < b.costUSD || (a.costUSD === b.costUSD && a.seconds < b.seconds)
    : a.seconds < b.seconds || (a.seconds === b.seconds && a.costUSD < b.costUSD);
  let best = end[0];
  for (const l of end) if (better(l, best)) best = l;
  const stages: StageOption[] = [];
  for (let l: Label | null = best; l && l.option; l = l.previous) stages.unshift(l.option);
  return {
    stages,
    seconds: p.fixedSeconds + best.seconds,
    costUSD: p.fixedCostUSD + best.costUSD,
    historyEvents: p.fixedHistoryEvents + best.historyEvents,
    optimality: { proven: true, relativeGap: 0, status: 'dynamic program' },
  };
}

/** The fastest segmentation of `p`'s options, whatever it costs (a shortest path); null when there is none. */
export function fastestStages(p: StageProgram): StageSolution | null {
  return solveStagesByDynamicProgram({ ...p, objective: 'latency', sloSeconds: undefined });
}
