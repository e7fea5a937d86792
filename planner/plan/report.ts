// plan.report.json: what the planner predicted and why, beside the contract (plan.json). The
// chosen plan's predicted latency, cost with its breakdown and usage counters (what `stepinfer
// cost` prices), per-stage estimates, the Pareto front and the best plan of every family, an
// always-on server for comparison, and the workload, prices, calibration and constants used.
// Nothing here is needed to deploy or run the plan; it names the plan it belongs to by planId.

import { z } from 'zod';
import { fromZodError, PlanFormatError } from '../../model/errors.ts';
import { PRICE_NAMES } from '../cost/prices.ts';
import { runCountersSchema } from '../cost/record.ts';
import { LATENCY_CONSTANT_NAMES } from '../latency/constants.ts';
import { planJsonValue, planSchema, planShapeSchema } from './schema.ts';

export const PLAN_REPORT_FORMAT_VERSION = 1;

const int = z.number().int();
const nonnegative = z.number().nonnegative();
const seconds = z.number().nonnegative();
const memoryMB = int.min(1);

const latencyPartsSchema = z.object({
  launch: seconds, load: seconds, compute: seconds, communication: seconds, orchestration: seconds,
}).strict();

const byServiceSchema = z.object({
  lambda: nonnegative, sns: nonnegative, sqs: nonnegative, s3: nonnegative, stepfunctions: nonnegative, server: nonnegative,
}).strict();

const costLineSchema = z.object({
  service: z.enum(['lambda', 'sns', 'sqs', 's3', 'stepfunctions', 'server']),
  item: z.string(),
  quantity: nonnegative,
  unit: z.string(),
  price: z.enum(PRICE_NAMES),
  unitPriceUSD: nonnegative,
  usd: nonnegative,
}).strict();

const channelKind = z.enum(['queue', 'object', 'none']);

const alternativeSchema = z.object({
  label: z.string(),
  family: z.string(),
  shape: planShapeSchema,
  method: z.enum(['screen', 'milp']),
  workers: int.min(1),
  channel: channelKind,
  launch: z.string(),
  workflowType: z.enum(['STANDARD', 'EXPRESS']),
  stages: z.array(z.object({ firstLayer: int.min(1), lastLayer: int.min(1), memoryMB }).strict()),
  latencySeconds: seconds,
  costUSD: nonnegative,
  byServiceUSD: byServiceSchema,
  latency: latencyPartsSchema,
  meetsSlo: z.boolean(),
  pareto: z.boolean(),
  chosen: z.boolean(),
  /**
   * The stage program's proof for a plan HiGHS refined: proven optimal among the stage cuts and
   * memories, or feasible but unproven (HiGHS stopped on its time limit) with its relative gap.
   * Null for a plan only screened on the grid, which claims nothing beyond it.
   */
  optimality: z.object({ proven: z.boolean(), relativeGap: z.number().nonnegative().nullable(), status: z.string() }).strict().nullable(),
}).strict();

export const planReportSchema = z.object({
  formatVersion: z.literal(PLAN_REPORT_FORMAT_VERSION),
  kind: z.literal('stepinfer-plan-report'),
  planId: planSchema.shape.planId,
  generator: z.object({ name: z.string(), version: z.string() }).strict(),
  objective: z.object({ kind: z.enum(['cost', 'latency']), sloSeconds: z.number().positive().nullable() }).strict(),
  model: z.object({ nonzeros: int.nonnegative(), layerNonzeros: z.array(int.nonnegative()) }).strict(),
  workload: z.object({
    inputs: z.object({
      source: z.enum(['tsv', 'generated']),
      path: z.string().nullable(),
      samples: int.min(1),
      seed: int.nullable(),
      density: z.number().nullable(),
    }).strict(),
    rows: int.min(1),
    /** Where per-layer activation density comes from. */
    densitySource: z.enum(['serial-sample', 'assumed-density']),
    sampleRows: int.nonnegative(),
    assumedDensity: z.number().nullable(),
    outputDensity: z.number().min(0).max(1),
    categoryFraction: z.number().min(0).max(1),
    layers: z.array(z.object({
      layer: int.min(1),
      inputDensity: z.number().min(0).max(1),
      inputNonzeros: nonnegative,
      scatterMultiplyAdds: nonnegative,
      gatherMultiplyAdds: nonnegative,
    }).strict()),
  }).strict(),
  partition: z.object({
    scheme: z.string(),
    seed: int,
    totalRowSends: int.nonnegative(),
    maxNonzeroImbalance: nonnegative,
  }).strict(),
  predicted: z.object({
    latencySeconds: seconds,
    costUSD: nonnegative,
    latency: latencyPartsSchema,
    cost: z.object({ totalUSD: nonnegative, byServiceUSD: byServiceSchema, lines: z.array(costLineSchema) }).strict(),
    counters: runCountersSchema,
    historyEvents: int.nonnegative(),
    stages: z.array(z.object({
      firstLayer: int.min(1),
      lastLayer: int.min(1),
      memoryMB,
      seconds,
      workerSeconds: seconds,
      costUSD: nonnegative,
      requiredMemoryMB: int.nonnegative(),
      latency: latencyPartsSchema,
    }).strict()),
  }).strict(),
  explanation: z.string(),
  /** The chosen plan's optimality (as its entry in alternatives). */
  optimality: alternativeSchema.shape.optimality,
  alternatives: z.array(alternativeSchema),
  server: z.object({
    instanceType: z.string(),
    latencySeconds: seconds,
    costUSD: nonnegative,
    utilization: z.number().min(0).max(1),
    feasible: z.boolean(),
    note: z.string(),
  }).strict(),
  prices: z.object({
    region: z.string(),
    date: z.string(),
    values: z.record(z.enum(PRICE_NAMES), nonnegative),
    sources: z.record(z.enum(PRICE_NAMES), z.string()),
  }).strict(),
  calibration: z.object({
    default: z.boolean(),
    path: z.string().nullable(),
    date: z.string(),
    cpuModel: z.string(),
    scatterMacsPerSecond: z.number().positive(),
    gatherMacsPerSecond: z.number().positive(),
  }).strict(),
  latencyConstants: z.object({ date: z.string(), values: z.record(z.enum(LATENCY_CONSTANT_NAMES), nonnegative) }).strict(),
  assumptions: z.object({
    bytesPerNonzero: z.number().positive(),
    safetyFactor: z.number().min(1),
    notes: z.array(z.string()),
  }).strict(),
}).strict();

export type PlanReport = z.infer<typeof planReportSchema>;
export type PlanAlternative = PlanReport['alternatives'][number];

/** Parses and validates a plan report; errors name `file` and the field. */
export function parsePlanReport(json: unknown, file: string): PlanReport {
  const parsed = planReportSchema.safeParse(planJsonValue(json, file));
  if (!parsed.success) throw fromZodError(parsed.error, file, { kind: PlanFormatError });
  return parsed.data;
}

/** The report as JSON text (validated first). */
export function serializePlanReport(report: PlanReport): string {
  parsePlanReport(report, '(plan report being written)');
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The report's file beside its plan: `plan.json` -> `plan.report.json`, `x` -> `x.report.json`. */
export function planReportPath(planPath: string): string {
  return planPath.endsWith('.json') ? `${planPath.slice(0, -'.json'.length)}.report.json` : `${planPath}.report.json`;
}
