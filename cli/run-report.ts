// How local runs report, shared by `infer --workers` (the stage-by-stage driver), `run` (the
// generated workflow) and `inspect` (a run record): the plan and its report read from a file, the
// handlers' log lines kept in .stepinfer/logs/<runId>.jsonl while "layer done" lines drive the
// progress bar, the traffic and cost lines, and the execution graph of a run record (the states
// as the Step Functions console shows them, and inside each stage its layers with a bar per worker
// for compute, send and wait).

import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatCost } from '../planner/optimize/index.ts';
import { parsePlanReport, planReportPath, type Plan, type PlanReport } from '../planner/plan/index.ts';
import type { LogSink } from '../workflows/local/lambda-host.ts';
import type { LayerCounters } from '../workflows/local/run-counters.ts';
import type { LocalRunRecord } from '../workflows/local/run-record.ts';
import { readJsonFile, readPlanFile } from './files.ts';
import type { Progress } from './output.ts';
import { table } from './output.ts';

/** Where handler logs of local runs go (git-ignored). */
export const LOG_DIR = '.stepinfer/logs';
/** Where run records go (git-ignored): <runId>.json. */
export const RUN_RECORD_DIR = '.stepinfer/runs';

/** A plan file and the report beside it, when there is one. */
export interface PlanWithReport { readonly plan: Plan; readonly report: PlanReport | null }

export function readPlanWithReport(file: string): PlanWithReport {
  const plan = readPlanFile(file);
  const reportFile = planReportPath(resolve(file));
  const report = existsSync(reportFile) ? parsePlanReport(readJsonFile(reportFile, 'plan report not found'), reportFile) : null;
  return { plan, report };
}

/** The log sink of a local run: every line to the run's log file; "layer done" lines tick the bar; error lines are kept. */
export function runLogging(runId: string, bar: Progress, layersTotal: number): { logFile: string; logSink: LogSink; errors: string[]; setPhase(phase: string): void } {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${runId}.jsonl`);
  const done = new Set<string>();
  const errors: string[] = [];
  let phase = '';
  const logSink: LogSink = (_name, stream, line) => {
    appendFileSync(logFile, `${line}\n`);
    if (line.includes('"message":"layer done"')) {
      // A retried stage logs its layers again: count each worker's layer once.
      const m = /"worker":(\d+).*"layer":(\d+)/.exec(line);
      done.add(m ? `${m[1]}/${m[2]}` : String(done.size));
      bar.tick(Math.min(done.size, layersTotal), layersTotal, phase);
    } else if (stream === 'stderr' || line.includes('"level":"ERROR"')) errors.push(line);
  };
  return { logFile, logSink, errors, setPhase: (p) => { phase = p; bar.tick(Math.min(done.size, layersTotal), layersTotal, p); } };
}

/** Bytes, messages and requests of each kind, in one line. */
export function trafficLine(total: Pick<LayerCounters, 'bytes' | 'messages' | 'publishes' | 'receives' | 'emptyReceives' | 'puts' | 'gets' | 'lists'>): string {
  return `${(total.bytes / 1e6).toFixed(2)} MB in ${total.messages} messages; ${total.publishes} publishes, ${total.receives} receives (${total.emptyReceives} empty), ${total.puts} PUT, ${total.gets} GET, ${total.lists} LIST`;
}

/** Measured cost by service, next to the plan's prediction. */
export function costLine(measuredUSD: number, byServiceUSD: Readonly<Record<string, number>>, predictedUSD: number | null): string {
  const services = Object.entries(byServiceUSD).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${formatCost(v)}`).join(', ');
  return `measured ${formatCost(measuredUSD)} (${services})${predictedUSD !== null ? `; the plan predicted ${formatCost(predictedUSD)}` : ''}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Characters of the graph: compute, send, wait. */
const GLYPH = { compute: '█', send: '▓', wait: '░' } as const;

/** Above this many workers a layer shows its slowest worker's numbers instead of a bar per worker. */
const MAX_WORKER_BARS = 16;

/** A bar of `width` characters: compute, send and wait of one worker, scaled so `scaleMs` fills it. */
function workerBar(l: { computeMs: number; sendMs: number; waitMs: number }, scaleMs: number, width: number): string {
  if (scaleMs <= 0) return ' '.repeat(width);
  const cells = (x: number) => Math.round((x / scaleMs) * width);
  const c = cells(l.computeMs), s = cells(l.sendMs), w = cells(l.waitMs);
  const bar = GLYPH.compute.repeat(c) + GLYPH.send.repeat(s) + GLYPH.wait.repeat(w);
  return (bar.length > width ? bar.slice(0, width) : bar).padEnd(width);
}

/** The top-level states on a time axis, as the console's graph runs them. */
export function statesTimeline(states: LocalRunRecord['states'], width = 40): string[] {
  const top = states.filter((s) => s.index === null);
  if (top.length === 0) return ['(the execution entered no state)'];
  const t0 = Math.min(...top.map((s) => s.enteredMs));
  const t1 = Math.max(...top.map((s) => s.exitedMs ?? s.enteredMs), t0 + 1);
  const nameWidth = Math.max(...top.map((s) => s.name.length));
  return top.map((s) => {
    const end = s.exitedMs ?? s.enteredMs;
    const from = Math.floor(((s.enteredMs - t0) / (t1 - t0)) * width);
    const to = Math.max(from + 1, Math.ceil(((end - t0) / (t1 - t0)) * width));
    const axis = ' '.repeat(from) + (end - s.enteredMs < (t1 - t0) / width ? '·' : '━'.repeat(to - from));
    const outcome = s.outcome === 'succeeded' ? '' : `  ${s.outcome}${s.error ? `: ${s.error.error}` : ''}`;
    const retries = s.retries > 0 ? `  (${s.retries} retr${s.retries === 1 ? 'y' : 'ies'})` : '';
    return `${s.name.padEnd(nameWidth)}  │${axis.padEnd(width)}│ +${seconds(s.enteredMs - t0).padStart(8)} ${seconds(end - s.enteredMs).padStart(8)}${retries}${outcome}`;
  });
}

/** One stage attempt: its failures, and its layers with a bar per worker that reported (or the slowest worker's numbers). */
function stageGraph(record: LocalRunRecord, stageIndex: number, attemptIndex: number): string[] {
  const stage = record.plan.stages[stageIndex];
  const attempt = record.attempts.find((a) => a.stage === stageIndex && a.attempt === attemptIndex);
  const workers = attempt?.workers ?? [];
  const failed = record.failures.filter((f) => f.stage === stageIndex && f.attempt === attemptIndex);
  const outcome = attempt?.succeeded ? '' : record.outcome === 'succeeded' || failed.length > 0 ? ' (failed)' : '';
  const lines = [`${stage.state} · attempt ${attemptIndex}${outcome}: ${workers.length} of ${record.plan.workers} workers reported`
    + (workers.length > 0
      ? `, ${seconds(Math.max(...workers.map((w) => w.endMs)) - Math.min(...workers.map((w) => w.startMs)))}, ${workers.filter((w) => !w.shardCached).length} loaded their shard, heap up to ${Math.max(...workers.map((w) => w.heapUsedMB)).toFixed(0)} MB`
      : '')
    + (stage.workerState ? `; each runs "${stage.workerState}"` : '')];
  for (const f of failed) lines.push(`  ✗ ${f.worker !== null ? `worker ${f.worker}` : f.role}${f.layer !== null ? ` in layer ${f.layer}` : ''}: ${f.errorType}: ${f.errorMessage}`);
  if (workers.length === 0) return lines;
  const layers: number[] = [];
  for (let l = stage.firstLayer; l <= stage.lastLayer; l++) layers.push(l);
  const at = new Map(workers.map((w) => [w.worker, new Map(w.layers.map((x) => [x.layer, x]))]));
  const total = (x: { computeMs: number; sendMs: number; waitMs: number }) => x.computeMs + x.sendMs + x.waitMs;
  if (workers.length <= MAX_WORKER_BARS) {
    const width = Math.max(3, Math.min(10, Math.floor(96 / Math.max(1, workers.length)) - 1));
    const rows = layers.map((layer) => {
      const per = workers.map((w) => at.get(w.worker)?.get(layer));
      const slowest = Math.max(0, ...per.map((x) => (x ? total(x) : 0)));
      return [layer, Math.round(slowest), ...per.map((x) => (x ? workerBar(x, slowest, width) : '-'.padEnd(width)))];
    });
    lines.push(table(['layer', 'ms', ...workers.map((w) => `w${w.worker}`.padEnd(width))], rows).split('\n').map((l) => `  ${l}`).join('\n'));
  } else {
    const rows = layers.map((layer) => {
      const per = workers.map((w) => at.get(w.worker)?.get(layer)).filter((x) => x !== undefined);
      const max = (k: 'computeMs' | 'sendMs' | 'waitMs') => Math.round(Math.max(0, ...per.map((x) => x[k])));
      return [layer, Math.round(Math.max(0, ...per.map(total))), max('computeMs'), max('sendMs'), max('waitMs')];
    });
    lines.push(table(['layer', 'ms', 'compute ms', 'send ms', 'wait ms'], rows).split('\n').map((l) => `  ${l}`).join('\n'));
  }
  return lines;
}

/**
 * A run record's execution graph: the top-level states on a time axis, then every stage attempt
 * with its layers (a bar per worker: compute, send, wait, scaled to the layer's slowest worker).
 */
export function executionGraph(record: LocalRunRecord, timelineWidth = 40): string {
  const lines = [
    `states (as the Step Functions console shows them; times from the interpreter's event log):`,
    ...statesTimeline(record.states, timelineWidth).map((l) => `  ${l}`),
    '',
    `layers (per worker: ${GLYPH.compute} compute  ${GLYPH.send} send  ${GLYPH.wait} wait, scaled to the layer's slowest worker; ms: that worker's total):`,
  ];
  // Every stage attempt that reported a worker or a failure, in order.
  const keys = new Map<string, [number, number]>();
  for (const a of record.attempts) keys.set(`${a.stage}/${a.attempt}`, [a.stage, a.attempt]);
  for (const f of record.failures) if (f.stage !== null && f.attempt !== null) keys.set(`${f.stage}/${f.attempt}`, [f.stage, f.attempt]);
  const ordered = [...keys.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (ordered.length === 0) lines.push('  (no worker reported)');
  for (const [stage, attempt] of ordered) lines.push(...stageGraph(record, stage, attempt), '');
  const other = record.failures.filter((f) => f.stage === null);
  for (const f of other) lines.push(`${f.state}: ✗ ${f.role} ${f.functionName}: ${f.errorType}: ${f.errorMessage}`);
  return lines.join('\n').trimEnd();
}
