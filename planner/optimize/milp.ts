// The AMPS-Inf-style stage program, solved as a mixed-integer linear program by HiGHS: cut the
// layers into consecutive stages and give each stage a Lambda memory size, minimizing cost subject
// to latency <= SLO (or minimizing latency), with the Standard workflow's history-event budget.
//
//   x[s] in {0, 1} for every candidate stage option s = (first layer, last layer, memory)
//   flow:    sum of options starting at layer 1 = 1;
//            at every boundary k: options ending at k = options starting at k + 1
//   latency: sum seconds[s] x[s] <= SLO - fixed seconds
//   events:  sum events[s] x[s]  <= limit - fixed events
//   minimize sum cost[s] x[s]      (objective cost), or
//   minimize sum seconds[s] x[s], then cost among the fastest (objective latency)
//
// A stage's latency and cost do not depend on the other stages' memory (planner/optimize/estimate.ts),
// so the program is exact for the model. With a fixed segmentation it is the multiple-choice
// knapsack of memory per stage.
//
// HiGHS stops at a time limit; a solution found by then is feasible but not proven optimal, and
// the solution says so (optimality.proven false, with HiGHS's relative gap), never passing it off
// as the optimum.

import highsModule from 'highs';
import { SolverError } from '../../model/errors.ts';

// highs ships CommonJS typings for an ES module build: under Node's ESM loader the default import is
// the loader itself, while TypeScript sees the CommonJS namespace. Accept both.
type HighsLoader = typeof highsModule.default;
const loadHighs: HighsLoader = ((highsModule as unknown as { default?: HighsLoader }).default ?? highsModule) as unknown as HighsLoader;

export interface StageOption {
  readonly firstLayer: number;
  readonly lastLayer: number;
  readonly memoryMB: number;
  readonly seconds: number;
  readonly costUSD: number;
  readonly historyEvents: number;
}

export type Objective = 'cost' | 'latency';

export interface StageProgram {
  readonly layers: number;
  readonly options: readonly StageOption[];
  readonly objective: Objective;
  /** Latency bound of the whole plan, fixed part included. */
  readonly sloSeconds?: number;
  readonly fixedSeconds: number;
  readonly fixedCostUSD: number;
  /** History-event budget (Standard workflows). */
  readonly maxHistoryEvents?: number;
  readonly fixedHistoryEvents: number;
  /** HiGHS's time limit per solve. Default DEFAULT_SOLVER_TIME_LIMIT_SECONDS. */
  readonly timeLimitSeconds?: number;
  /**
   * Stop after this many improving solutions (HiGHS mip_max_improving_sols): a deterministic way
   * to cut a solve short, like the time limit but reproducible. Default: no limit.
   */
  readonly improvingSolutionLimit?: number;
}

/** Whether HiGHS proved the solution optimal, and if not, how far from the bound it may be. */
export interface Optimality {
  readonly proven: boolean;
  /** HiGHS's relative MIP gap (|primal - dual bound| / |primal|); 0 when proven; null when unknown. */
  readonly relativeGap: number | null;
  /** HiGHS's model status of the solve that decided it ('Optimal', 'Time limit reached', ...). */
  readonly status: string;
}

export interface StageSolution {
  readonly stages: readonly StageOption[];
  readonly seconds: number;
  readonly costUSD: number;
  readonly historyEvents: number;
  readonly optimality: Optimality;
}

export const DEFAULT_SOLVER_TIME_LIMIT_SECONDS = 30;

/**
 * Drops options another option of the same layer range beats on both latency and cost (they can
 * never be in an optimal plan; events do not depend on memory). Keeps the first of equal ones.
 */
export function pruneDominated(options: readonly StageOption[]): StageOption[] {
  const byRange = new Map<string, StageOption[]>();
  for (const o of options) {
    const key = `${o.firstLayer}-${o.lastLayer}`;
    const list = byRange.get(key);
    if (list) list.push(o); else byRange.set(key, [o]);
  }
  const out: StageOption[] = [];
  for (const list of byRange.values()) {
    const sorted = [...list].sort((a, b) => a.seconds - b.seconds || a.costUSD - b.costUSD || a.memoryMB - b.memoryMB);
    let bestCost = Infinity;
    for (const o of sorted) {
      if (o.costUSD < bestCost) { out.push(o); bestCost = o.costUSD; }
    }
  }
  return out;
}

function total(stages: readonly StageOption[], p: StageProgram, optimality: Optimality): StageSolution {
  return {
    optimality,
    stages,
    seconds: p.fixedSeconds + stages.reduce((t, s) => t + s.seconds, 0),
    costUSD: p.fixedCostUSD + stages.reduce((t, s) => t + s.costUSD, 0),
    historyEvents: p.fixedHistoryEvents + stages.reduce((t, s) => t + s.historyEvents, 0),
  };
}

// Costs are scaled to micro-dollars so that HiGHS's tolerances (absolute 1e-6 scale) do not
// swallow them; coefficients are printed with 12 significant digits.
const COST_SCALE = 1e6;
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(12));

function linear(terms: readonly { coef: number; name: string }[]): string {
  const parts: string[] = [];
  for (const t of terms) {
    if (t.coef === 0) continue;
    parts.push(`${t.coef < 0 ? '-' : '+'} ${num(Math.abs(t.coef))} ${t.name}`);
  }
  if (parts.length === 0) return '0 x0';
  // LP format wraps long rows itself; keep lines short for its reader.
  const lines: string[] = [];
  for (let i = 0; i < parts.length; i += 8) lines.push(parts.slice(i, i + 8).join(' '));
  return lines.join('\n   ');
}

/** The program in CPLEX LP format (variables x0, x1, ... in option order). */
export function stageProgramToLp(p: StageProgram, options: readonly StageOption[], objective: 'cost' | 'seconds', secondsCap?: number): string {
  const name = (i: number) => `x${i}`;
  const rows: string[] = [];
  const startTerms = options.map((o, i) => ({ coef: o.firstLayer === 1 ? 1 : 0, name: name(i) }));
  rows.push(` start: ${linear(startTerms)} = 1`);
  const boundaries = new Set<number>();
  for (const o of options) if (o.lastLayer < p.layers) boundaries.add(o.lastLayer);
  for (const o of options) if (o.firstLayer > 1) boundaries.add(o.firstLayer - 1);
  for (const k of [...boundaries].sort((a, b) => a - b)) {
    const terms = options.map((o, i) => ({ coef: (o.lastLayer === k ? 1 : 0) - (o.firstLayer === k + 1 ? 1 : 0), name: name(i) }));
    rows.push(` node${k}: ${linear(terms)} = 0`);
  }
  const endTerms = options.map((o, i) => ({ coef: o.lastLayer === p.layers ? 1 : 0, name: name(i) }));
  rows.push(` end: ${linear(endTerms)} = 1`);
  const cap = secondsCap ?? (p.sloSeconds !== undefined ? p.sloSeconds - p.fixedSeconds : undefined);
  if (cap !== undefined) rows.push(` latency: ${linear(options.map((o, i) => ({ coef: o.seconds, name: name(i) })))} <= ${num(cap)}`);
  if (p.maxHistoryEvents !== undefined) {
    rows.push(` events: ${linear(options.map((o, i) => ({ coef: o.historyEvents, name: name(i) })))} <= ${num(p.maxHistoryEvents - p.fixedHistoryEvents)}`);
  }
  const objectiveTerms = options.map((o, i) => ({ coef: objective === 'cost' ? o.costUSD * COST_SCALE : o.seconds, name: name(i) }));
  return [
    'Minimize',
    ` obj: ${linear(objectiveTerms)}`,
    'Subject To',
    ...rows,
    'Bounds',
    ...options.map((_, i) => ` 0 <= ${name(i)} <= 1`),
    'Binaries',
    ...options.map((_, i) => ` ${name(i)}`),
    'End',
  ].join('\n');
}

type Highs = Awaited<ReturnType<typeof loadHighs>>;
let highsPromise: Promise<Highs> | undefined;

function highs(): Promise<Highs> {
  highsPromise ??= loadHighs();
  return highsPromise;
}

// HiGHS model status codes (highs types.d.ts ModelStatusCode) and the primal solution status
// that means "a feasible point is known".
const STATUS_TEXT: Readonly<Record<number, string>> = {
  7: 'Optimal', 8: 'Infeasible', 9: 'Primal infeasible or unbounded', 10: 'Unbounded',
  13: 'Time limit reached', 14: 'Iteration limit reached', 16: 'Solution limit reached', 17: 'Interrupted',
};
const MODEL_OPTIMAL = 7;
const MODEL_INFEASIBLE = new Set([8, 9]);
const MODEL_STOPPED_EARLY = new Set([13, 14, 16, 17]);
const PRIMAL_FEASIBLE = 2;

interface SolveResult {
  readonly stages: StageOption[];
  readonly optimality: Optimality;
}

function isSegmentation(stages: readonly StageOption[], layers: number): boolean {
  let next = 1;
  for (const s of stages) {
    if (s.firstLayer !== next || s.lastLayer < s.firstLayer) return false;
    next = s.lastLayer + 1;
  }
  return next === layers + 1;
}

async function solveOnce(p: StageProgram, options: readonly StageOption[], objective: 'cost' | 'seconds', secondsCap?: number): Promise<SolveResult | null> {
  const solver = await highs();
  const lp = stageProgramToLp(p, options, objective, secondsCap);
  const timeLimit = p.timeLimitSeconds ?? DEFAULT_SOLVER_TIME_LIMIT_SECONDS;
  const outcome = solver.withModel({ format: 'lp', data: lp }, (model) => {
    model.options.set({ output_flag: false, mip_rel_gap: 1e-9, mip_abs_gap: 1e-9, time_limit: timeLimit, random_seed: 0 });
    if (p.improvingSolutionLimit !== undefined) model.options.set('mip_max_improving_sols', p.improvingSolutionLimit);
    model.run();
    const status = model.getModelStatus() as number;
    const primal = Number(model.info.get('primal_solution_status'));
    if (MODEL_INFEASIBLE.has(status)) return { status, chosen: null, gap: null };
    if (status !== MODEL_OPTIMAL && !(MODEL_STOPPED_EARLY.has(status) && primal === PRIMAL_FEASIBLE)) {
      return { status, chosen: undefined, gap: null };
    }
    const values = model.getSolution().colValue;
    const chosen: StageOption[] = [];
    for (let i = 0; i < values.length; i++) {
      if (values[i] > 0.5) chosen.push(options[Number(model.getColName(i).slice(1))]);
    }
    const gap = Number(model.info.get('mip_gap'));
    return { status, chosen, gap: Number.isFinite(gap) ? Math.max(0, gap) : null };
  });
  const statusText = STATUS_TEXT[outcome.status] ?? `status ${outcome.status}`;
  if (outcome.chosen === null) return null;
  if (outcome.chosen === undefined) {
    throw new SolverError(outcome.status === 13
      ? `HiGHS reached its time limit of ${timeLimit} s before finding any stage program solution`
      : `HiGHS ended the stage program with ${statusText}`);
  }
  const stages = outcome.chosen.sort((a, b) => a.firstLayer - b.firstLayer);
  if (!isSegmentation(stages, p.layers)) throw new SolverError(`HiGHS returned stages that do not cover layers 1..${p.layers} in order (${statusText})`);
  const proven = outcome.status === MODEL_OPTIMAL;
  return { stages, optimality: { proven, relativeGap: proven ? 0 : outcome.gap, status: statusText } };
}

/** The weaker of two solves' proofs (a two-step solve is proven only when both steps are). */
function weaker(a: Optimality, b: Optimality): Optimality {
  if (a.proven && b.proven) return a;
  const gaps = [a, b].filter((o) => !o.proven).map((o) => o.relativeGap);
  return { proven: false, relativeGap: gaps.some((g) => g === null) ? null : Math.max(...(gaps as number[])), status: (a.proven ? b : a).status };
}

/**
 * Solves the stage program with HiGHS; null when no choice of stages meets the constraints. A
 * solution cut short by the time limit is returned with optimality.proven = false.
 */
export async function solveStageProgram(p: StageProgram): Promise<StageSolution | null> {
  const options = pruneDominated(p.options);
  if (options.length === 0) return null;
  if (p.objective === 'cost') {
    const solved = await solveOnce(p, options, 'cost');
    return solved ? total(solved.stages, p, solved.optimality) : null;
  }
  const fastest = await solveOnce(p, options, 'seconds');
  if (!fastest) return null;
  const best = total(fastest.stages, p, fastest.optimality);
  // Among plans within a hair of the fastest, the cheapest.
  const cap = best.seconds - p.fixedSeconds + Math.max(1e-9, best.seconds * 1e-9);
  const cheapest = await solveOnce(p, options, 'cost', cap);
  return cheapest ? total(cheapest.stages, p, weaker(fastest.optimality, cheapest.optimality)) : best;
}

/**
 * Exhaustive search of the same program, for tests and small cases: every segmentation and every
 * memory per stage. Exponential; use with a handful of layers.
 */
export function bruteForceStageProgram(p: StageProgram): StageSolution | null {
  const byFirst = new Map<number, StageOption[]>();
  for (const o of p.options) {
    const list = byFirst.get(o.firstLayer);
    if (list) list.push(o); else byFirst.set(o.firstLayer, [o]);
  }
  let best: StageSolution | null = null;
  const better = (a: StageSolution, b: StageSolution | null): boolean => {
    if (!b) return true;
    if (p.objective === 'cost') return a.costUSD < b.costUSD - 1e-15 || (Math.abs(a.costUSD - b.costUSD) <= 1e-15 && a.seconds < b.seconds);
    return a.seconds < b.seconds - 1e-12 || (Math.abs(a.seconds - b.seconds) <= 1e-12 && a.costUSD < b.costUSD);
  };
  const path: StageOption[] = [];
  const walk = (layer: number) => {
    if (layer === p.layers + 1) {
      const s = total([...path], p, { proven: true, relativeGap: 0, status: 'exhaustive' });
      if (p.sloSeconds !== undefined && s.seconds > p.sloSeconds + 1e-9) return;
      if (p.maxHistoryEvents !== undefined && s.historyEvents > p.maxHistoryEvents) return;
      if (better(s, best)) best = s;
      return;
    }
    for (const o of byFirst.get(layer) ?? []) {
      path.push(o);
      walk(o.lastLayer + 1);
      path.pop();
    }
  };
  walk(1);
  return best;
}
