// Kernel benchmark: serial inference with our kernels against the scipy.sparse reference
// (../shared/anchors/scipy_sparse_dnn.py), run back to back on this machine so the ratio is fair
// on a shared, noisy host. Prints times, the ratio, GraphChallenge edges/s, the multiply-adds
// actually done, and our peak memory.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { networkNonzeros } from '../model/network.ts';
import { defaultGraphChallengeDir } from '../model/graphchallenge.ts';
import { inferSerial, type SerialInferenceOptions } from '../functions/serial/serial-inference.ts';
import { createLayerKernel } from '../functions/kernels/backends.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../functions/kernels/layer-kernel.ts';
import { resolveWorkload, compareWithTruth, type Workload, type WorkloadOptions } from '../cli/workload.ts';
import { table } from '../cli/output.ts';

export interface KernelBenchOptions extends WorkloadOptions {
  readonly repeat: number;
  readonly scipy: boolean;
  readonly gpu: boolean;
  readonly sweep: boolean;
  readonly json?: boolean;
}

interface EngineRow {
  readonly engine: string;
  readonly runs: number;
  readonly minSeconds: number;
  readonly medianSeconds: number;
  readonly edgesPerSecond: number;
  readonly multiplyAdds?: number;
  readonly categories: number;
  readonly matchesTruth?: boolean;
  readonly note?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function anchorScript(): string {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return process.env.STEPINFER_ANCHORS
    ? resolve(process.env.STEPINFER_ANCHORS, 'scipy_sparse_dnn.py')
    : resolve(repo, '..', 'shared', 'anchors', 'scipy_sparse_dnn.py');
}

/** Runs the scipy reference; returns its row, or why it could not run. */
function runScipy(w: Workload, edges: number): EngineRow | string {
  const script = anchorScript();
  if (w.source !== 'graphchallenge') return 'scipy reference runs on the real benchmark files only';
  if (!existsSync(script)) return `scipy reference script not found at ${script}`;
  const run = spawnSync('python3', [script, '--json', '--data', defaultGraphChallengeDir(), '--layers', String(w.network.layers.length), '--inputs', String(w.inputs.rows)], { encoding: 'utf8' });
  if (run.error) return `python3 could not run: ${run.error.message}`;
  const line = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status !== 0 && !line.startsWith('{')) return `scipy reference failed: ${run.stderr.trim().split('\n').pop()}`;
  const r = JSON.parse(line) as { engine: string; seconds: number; categories: number; matchesTruth: boolean | null };
  return { engine: r.engine, runs: 1, minSeconds: r.seconds, medianSeconds: r.seconds, edgesPerSecond: edges / r.seconds, categories: r.categories, matchesTruth: r.matchesTruth ?? undefined };
}

function runOurs(w: Workload, edges: number, repeat: number, options: SerialInferenceOptions, label?: string): EngineRow {
  const seconds: number[] = [];
  let last;
  for (let i = 0; i < repeat; i++) {
    last = inferSerial(w.network, w.inputs, options);
    seconds.push(last.seconds);
  }
  const result = last!;
  const min = Math.min(...seconds);
  return {
    engine: label ?? `stepinfer ${result.backend}`,
    runs: repeat, minSeconds: min, medianSeconds: median(seconds), edgesPerSecond: edges / min,
    multiplyAdds: result.multiplyAdds, categories: result.categories.length,
    matchesTruth: w.truth ? compareWithTruth(result.categories, w.truth).matches : undefined,
  };
}

export async function runKernelBenchmark(o: KernelBenchOptions): Promise<void> {
  const log = (s: string) => { if (!o.json) process.stderr.write(`${s}\n`); };
  const workload = resolveWorkload(o, { defaultModel: 'benchmark', inputs: 'required' });
  const edges = workload.inputs.rows * networkNonzeros(workload.network);
  log(`workload: ${workload.description}`);
  const rows: EngineRow[] = [];
  const notes: string[] = [];

  let scipy: EngineRow | undefined;
  if (o.scipy) {
    log('running the scipy.sparse reference ...');
    const r = runScipy(workload, edges);
    if (typeof r === 'string') notes.push(r); else { scipy = r; rows.push(r); }
  }
  log(`running the TypeScript kernel ${o.repeat} times ...`);
  const ours = runOurs(workload, edges, o.repeat, {});
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  rows.push(ours);
  log(`running the TypeScript kernel with its plain TypeScript gather ${o.repeat} times ...`);
  rows.push(runOurs(workload, edges, o.repeat, { gatherEngine: 'typescript' }));

  if (o.sweep) {
    for (const density of [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]) {
      log(`sweep: gather above density ${density} ...`);
      rows.push(runOurs(workload, edges, o.repeat, { gatherAboveDensity: density }, `  gather above density ${density}${density === DEFAULT_GATHER_ABOVE_DENSITY ? ' (default)' : ''}`));
    }
  }
  if (o.gpu) {
    log('running the gpu.js kernel once ...');
    rows.push(runOurs(workload, edges, 1, { kernel: createLayerKernel(workload.network.neurons, { backend: 'gpu.js' }) }));
  }

  const ratio = scipy ? scipy.minSeconds / ours.minSeconds : undefined;
  const result = {
    workload: workload.description, source: workload.source,
    neurons: workload.network.neurons, layers: workload.network.layers.length, inputs: workload.inputs.rows,
    graphChallengeEdges: edges,
    engines: rows,
    speedupOverScipy: ratio,
    peakRssMB,
    notes,
  };
  if (o.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
  const body = table(
    ['engine', 'runs', 'min s', 'median s', 'G edges/s', 'multiply-adds', 'categories', 'truth', 'vs scipy'],
    rows.map((r) => [
      r.engine, r.runs, r.minSeconds.toFixed(3), r.medianSeconds.toFixed(3), (r.edgesPerSecond / 1e9).toFixed(2),
      r.multiplyAdds !== undefined ? `${(r.multiplyAdds / 1e9).toFixed(3)} G` : '-',
      r.categories, r.matchesTruth === undefined ? '-' : r.matchesTruth ? 'match' : 'MISMATCH',
      scipy ? `${(scipy.minSeconds / r.minSeconds).toFixed(2)}x` : '-',
    ]),
  );
  process.stdout.write(`${body}\n\n`);
  process.stdout.write(`speedup of the default kernel (${ours.engine}) over scipy, min times, one core each: ${ratio ? `${ratio.toFixed(2)}x` : 'n/a'}\n`);
  process.stdout.write(`peak memory of this process (data, model and kernel buffers): ${peakRssMB.toFixed(0)} MB RSS\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
}
