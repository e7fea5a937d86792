// `stepinfer cost <file.json>`: prices one run record or an array of them (the format of
// data/fsd-inference/runs-1024n-8w.json: counters, optional prices, optional published totals)
// and prints the breakdown, next to the published totals when the record has them.

import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { report, table } from '../output.ts';
import {
  defaultPrices, parseRunRecords, priceRecord, COST_SERVICES,
  type PricedRecord, type CostBreakdown, type RunRecord,
} from '../../planner/cost/index.ts';
import { parsePlan, parsePlanReport, type PlanReport } from '../../planner/plan/index.ts';
import { readJsonFile, readPlanReportOf, readPriceFile } from '../files.ts';

interface CostOptions {
  readonly prices?: string;
  readonly ignoreRecordPrices?: boolean;
  readonly json?: boolean;
}

export function formatUSD(usd: number): string {
  if (usd === 0) return '$0';
  if (Math.abs(usd) >= 100) return `$${usd.toFixed(2)}`;
  if (Math.abs(usd) >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toPrecision(4)}`;
}

function formatQuantity(q: number): string {
  if (Number.isInteger(q)) return q.toLocaleString('en-US');
  return q >= 100 ? q.toFixed(1) : q.toPrecision(5);
}

/** The lines of a breakdown as a text table. */
export function breakdownTable(breakdown: CostBreakdown): string {
  const rows = breakdown.lines.map((l) => [l.service, l.item, formatQuantity(l.quantity), l.unit, l.unitPriceUSD.toPrecision(4), formatUSD(l.usd)]);
  rows.push(['total', '', '', '', '', formatUSD(breakdown.totalUSD)]);
  return table(['service', 'item', 'quantity', 'unit', 'USD/unit', 'cost'], rows);
}

/** A plan report's predicted counters as a record, with its prices and its predicted total as the "published" one. */
function predictionRecord(report: PlanReport, label: string): RunRecord {
  const chosen = report.alternatives.find((a) => a.chosen);
  return {
    source: `prediction of ${label}${chosen ? ` (${chosen.label})` : ''}`,
    counters: report.predicted.counters,
    prices: report.prices.values,
    published: { totalUSD: report.predicted.costUSD, breakdownUSD: report.predicted.cost.byServiceUSD },
  };
}

/**
 * Run records from a file: one record, an array of records, a plan report (plan.report.json), or
 * a plan.json, whose prediction is read from the report beside it (the same plan id).
 */
export function readCostInput(file: string): RunRecord[] {
  const json = readJsonFile(file, 'run record file not found');
  const kind = json && typeof json === 'object' ? (json as { kind?: unknown }).kind : undefined;
  if (kind === 'stepinfer-plan-report') return [predictionRecord(parsePlanReport(json, file), file)];
  if (kind === 'stepinfer-plan') {
    return [predictionRecord(readPlanReportOf(parsePlan(json, file), file), file)];
  }
  return parseRunRecords(json, file);
}

function humanRecord(p: PricedRecord): string {
  const out = [`${p.label}`, breakdownTable(p.breakdown)];
  if (p.published) {
    const rows = COST_SERVICES
      .filter((s) => p.breakdown.byServiceUSD[s] > 0 || (p.published!.breakdownUSD[s] ?? 0) > 0)
      .map((s) => {
        const pub = p.published!.breakdownUSD[s];
        const ours = p.breakdown.byServiceUSD[s];
        return [s, formatUSD(ours), pub === undefined ? '-' : formatUSD(pub), pub ? `${(((ours - pub) / pub) * 100).toFixed(3)}%` : '-'];
      });
    rows.push(['total', formatUSD(p.breakdown.totalUSD), formatUSD(p.published.totalUSD), `${(p.published.relativeDifference * 100).toFixed(3)}%`]);
    out.push('', 'against the published totals:', table(['service', 'ours', 'published', 'difference'], rows));
  }
  return out.join('\n');
}

export function registerCostCommand(program: Command): void {
  program
    .command('cost')
    .description('price the counters of run records (one record or an array, as in data/fsd-inference/runs-1024n-8w.json) and print the breakdown')
    .argument('<file>', "JSON file: a run record, an array of run records (counters, optional prices and published totals), a plan.json or its plan.report.json (the plan's predicted counters)")
    .option('--prices <file>', 'price file overriding the defaults (planner/prices/aws-us-east-1.json format; entries may be numbers)')
    .option('--ignore-record-prices', "price at the defaults / --prices instead of the record's own prices")
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Prices: the checked-in us-east-1 defaults, overridden by --prices, overridden by each record's own
"prices" (unless --ignore-record-prices). Counters: lambdaInvocations, lambdaBilledSeconds (with
lambdaMemoryMB) or counters.lambda[], snsPublishCalls, snsPublishedBytes, sqsReceiveCalls,
sqsEmptyReceiveCalls, sqsReceivedBytes, sqsDeleteCalls, s3PutRequests, s3GetRequests,
s3ListRequests, sfnStandardTransitions, sfnExpressRequests, sfnExpressGBSeconds; absent ones are 0.

Example: stepinfer cost ../shared/data/fsd-inference/runs-1024n-8w.json`)
    .action((file: string, options: CostOptions) => {
      const base = options.prices ? readPriceFile(options.prices) : defaultPrices();
      const records = readCostInput(file);
      if (options.ignoreRecordPrices && !records.some((r) => r.prices !== undefined)) {
        throw new UsageError('--ignore-record-prices changes nothing: no record in the file has its own prices', { file, field: 'ignore-record-prices' });
      }
      const priced = records.map((r, i) => priceRecord(r, base, r.source ?? r.variant ?? `${file} [${i}]`, { ignoreRecordPrices: options.ignoreRecordPrices }));
      report(options, priced.map((p) => ({
        label: p.label,
        totalUSD: p.breakdown.totalUSD,
        byServiceUSD: p.breakdown.byServiceUSD,
        lines: p.breakdown.lines,
        published: p.published,
        prices: { region: p.prices.region, date: p.prices.date, values: Object.fromEntries(Object.entries(p.prices.prices).map(([k, v]) => [k, { value: v.value, source: v.source }])) },
      })), () => priced.map(humanRecord).join('\n\n'));
    });
}
