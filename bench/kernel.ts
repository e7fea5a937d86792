// Kernel benchmark: serial inference with our kernel on 1, 2, ... threads against the scipy.sparse
// reference (../shared/anchors/scipy_sparse_dnn.py, one core), in rounds that alternate them on
// this shared, noisy host, so that the ratios compare runs made close together. Prints each
// one's median, min and max seconds, its GMAC/s of useful multiply-adds (the fan-out of every
// nonzero activation: what the scatter path does, and the count scipy's sparse products need),
// the multiply-adds our kernel actually executed (a gathered row does a full pass over W), the
// categories against the truth, the speedups over scipy and the thread scaling; the exact
// identical-rows shortcut on its own row (not in the headline); then the TypeScript reference
// engine and gpu.js once each, our peak memory, and the host's load average at the start and the
// end (the cores are shared: a loaded host slows threads most).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { networkNonzeros, type SparseRows } from '../model/network.ts';
import { defaultGraphChallengeDir } from '../model/graphchallenge.ts';
import { inferSerial, type SerialInferenceOptions, type SerialInferenceResult } from '../functions/serial/serial-inference.ts';
import { createLayerKernel } from '../functions/kernels/backends.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY, SparseLayerKernel } from '../functions/kernels/layer-kernel.ts';
import { resolveWorkload, compareWithTruth, type Workload, type WorkloadOptions } from '../cli/workload.ts';
import { table } from '../cli/output.ts';

export interface KernelBenchOptions extends WorkloadOptions {
  /** Timed rounds; each runs scipy once and every thread count once. */
  readonly repeat: number;
  readonly threads: readonly number[];
  readonly scipy: boolean;
  readonly gpu: boolean;
  readonly sweep: boolean;
  /** Also time the identical-rows shortcut (reported on its own row, never in the headline). */
  readonly shortcut: boolean;
  readonly json?: boolean;
}

interface EngineRow {
  readonly engine: string;
  readonly threads?: number;
  readonly seconds: readonly number[];
  readonly medianSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
  /** Useful multiply-adds per second (median run), in billions. */
  readonly usefulGmacPerSecond?: number;
  readonly edgesPerSecond: number;
  /** Multiply-adds executed (ours). */
  readonly multiplyAdds?: number;
  readonly categories: number;
  readonly matchesTruth?: boolean;
  readonly speedupOverScipy?: number;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

function anchorScript(): string {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  return process.env.STEPINFER_ANCHORS
    ? resolve(process.env.STEPINFER_ANCHORS, 'scipy_sparse_dnn.py')
    : resolve(repo, '..', 'shared', 'anchors', 'scipy_sparse_dnn.py');
}

interface ScipyRun { engine: string; seconds: number; categories: number; matchesTruth?: boolean }

/** Why the scipy reference cannot run here, or undefined. */
function scipyUnavailable(w: Workload): string | undefined {
  if (w.source !== 'graphchallenge') return 'scipy reference runs on the real benchmark files only';
  if (!existsSync(anchorScript())) return `scipy reference script not found at ${anchorScript()}`;
  return undefined;
}

/** One run of the scipy reference (a fresh process: it loads the files, then times its layer loop). */
function runScipy(w: Workload): ScipyRun | string {
  const run = spawnSync('python3', [anchorScript(), '--json', '--data', defaultGraphChallengeDir(), '--layers', String(w.network.layers.length), '--inputs', String(w.inputs.rows)], { encoding: 'utf8' });
  if (run.error) return `python3 could not run: ${run.error.message}`;
  const line = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status !== 0 && !line.startsWith('{')) return `scipy reference failed: ${run.stderr.trim().split('\n').pop()}`;
  const r = JSON.parse(line) as { engine: string; seconds: number; categories: number; matchesTruth: boolean | null };
  return { engine: r.engine, seconds: r.seconds, categories: r.categories, matchesTruth: r.matchesTruth ?? undefined };
}

function sameRows(a: SparseRows, b: SparseRows): boolean {
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => v === y[i]);
  return a.rows === b.rows && same(a.rowStart, b.rowStart) && same(a.columnIndex, b.columnIndex) && same(a.value, b.value);
}

function row(engine: string, seconds: number[], result: SerialInferenceResult | ScipyRun, w: Workload, edges: number, useful: number | undefined, threads?: number): EngineRow {
  const m = median(seconds);
  const categories = 'activations' in result ? result.categories : undefined;
  return {
    engine, threads, seconds, medianSeconds: m, minSeconds: Math.min(...seconds), maxSeconds: Math.max(...seconds),
    usefulGmacPerSecond: useful !== undefined ? useful / m / 1e9 : undefined,
    edgesPerSecond: edges / m,
    multiplyAdds: 'multiplyAdds' in result ? result.multiplyAdds : undefined,
    categories: categories ? categories.length : (result as ScipyRun).categories,
    matchesTruth: categories ? (w.truth ? compareWithTruth(categories, w.truth).matches : undefined) : (result as ScipyRun).matchesTruth,
  };
}

export async function runKernelBenchmark(o: KernelBenchOptions): Promise<void> {
  const log = (s: string) => { if (!o.json) process.stderr.write(`${s}\n`); };
  const loadAtStart = loadavg();
  const workload = resolveWorkload(o, { defaultModel: 'benchmark', inputs: 'required' });
  const { network, inputs } = workload;
  const edges = inputs.rows * networkNonzeros(network);
  log(`workload: ${workload.description}`);
  const notes: string[] = [];

  // Useful multiply-adds: the scatter path executes exactly the fan-out of every nonzero.
  log('counting useful multiply-adds (one scatter-only run) ...');
  const useful = inferSerial(network, inputs, { gatherAboveDensity: 2 }).multiplyAdds;

  const ours = o.threads.map((threads) => new SparseLayerKernel(network.neurons, { threads }));
  const scipyReason = o.scipy ? scipyUnavailable(workload) : 'skipped (--no-scipy)';
  if (scipyReason && o.scipy) notes.push(scipyReason);
  try {
    log(`warm-up: one untimed run of each thread count (${o.threads.join(', ')}) ...`);
    const reference = inferSerial(network, inputs, { kernel: ours[0] });
    for (const kernel of ours.slice(1)) {
      if (!sameRows(inferSerial(network, inputs, { kernel }).activations, reference.activations)) notes.push(`${kernel.name}: activations differ from one thread's`);
    }
    const shortcut = o.shortcut ? new SparseLayerKernel(network.neurons, { identicalRowsOnce: true }) : undefined;
    if (shortcut) {
      const r = inferSerial(network, inputs, { kernel: shortcut });
      if (!sameRows(r.activations, reference.activations)) notes.push('the identical-rows shortcut\'s activations differ');
    }
    const shortcutSeconds: number[] = [];
    let shortcutLast: SerialInferenceResult | undefined;
    const oursSeconds = ours.map(() => [] as number[]);
    const oursLast: SerialInferenceResult[] = [];
    const scipySeconds: number[] = [];
    let scipyLast: ScipyRun | undefined;
    for (let round = 1; round <= o.repeat; round++) {
      if (!scipyReason) {
        log(`round ${round}/${o.repeat}: scipy.sparse ...`);
        const r = runScipy(workload);
        if (typeof r === 'string') notes.push(r); else { scipySeconds.push(r.seconds); scipyLast = r; }
      }
      ours.forEach((kernel, i) => {
        log(`round ${round}/${o.repeat}: ${kernel.name} ...`);
        const r = inferSerial(network, inputs, { kernel });
        if (!sameRows(r.activations, reference.activations)) notes.push(`${kernel.name}, round ${round}: activations differ from the warm-up's`);
        oursSeconds[i].push(r.seconds);
        oursLast[i] = r;
      });
      if (shortcut) {
        log(`round ${round}/${o.repeat}: ${shortcut.name} ...`);
        shortcutLast = inferSerial(network, inputs, { kernel: shortcut });
        shortcutSeconds.push(shortcutLast.seconds);
      }
    }
    shortcut?.close();
    const rows: EngineRow[] = [];
    if (scipyLast) rows.push(row(scipyLast.engine, scipySeconds, scipyLast, workload, edges, useful));
    ours.forEach((kernel, i) => rows.push(row(`stepinfer ${kernel.name}`, oursSeconds[i], oursLast[i], workload, edges, useful, o.threads[i])));
    if (shortcut && shortcutLast) rows.push(row(`stepinfer ${shortcut.name} (shortcut, not the headline)`, shortcutSeconds, shortcutLast, workload, edges, useful));

    log('the TypeScript reference engine, once ...');
    const plainTs = inferSerial(network, inputs, { gatherEngine: 'typescript' });
    if (!sameRows(plainTs.activations, reference.activations)) notes.push('the TypeScript engine\'s activations differ from the wasm-simd engine\'s');
    rows.push(row(`stepinfer ${plainTs.backend} (reference engine, 1 run)`, [plainTs.seconds], plainTs, workload, edges, useful));
    if (o.sweep) {
      for (const density of [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]) {
        log(`sweep: gather above density ${density} ...`);
        const kernel = new SparseLayerKernel(network.neurons, { gatherAboveDensity: density });
        const seconds: number[] = [];
        let last!: SerialInferenceResult;
        for (let i = 0; i <= o.repeat; i++) {
          last = inferSerial(network, inputs, { kernel });
          if (i > 0) seconds.push(last.seconds); // the first is the warm-up
        }
        rows.push(row(`  gather above density ${density}${density === DEFAULT_GATHER_ABOVE_DENSITY ? ' (default)' : ''}`, seconds, last, workload, edges, useful, 1));
      }
    }
    if (o.gpu) {
      log('the gpu.js backend, once ...');
      const options: SerialInferenceOptions = { kernel: createLayerKernel(network.neurons, { backend: 'gpu.js' }) };
      const r = inferSerial(network, inputs, options);
      rows.push(row(`stepinfer ${r.backend} (1 run)`, [r.seconds], r, workload, edges, useful));
    }

    const scipyMedian = scipySeconds.length ? median(scipySeconds) : undefined;
    const withRatio = rows.map((r) => ({ ...r, speedupOverScipy: scipyMedian ? scipyMedian / r.medianSeconds : undefined }));
    const oneThread = withRatio.find((r) => r.threads === 1 && r.engine.startsWith('stepinfer typescript (gather: wasm-simd'));
    const scaling = Object.fromEntries(withRatio.filter((r) => r.threads !== undefined && !r.engine.startsWith('  ')).map((r) => [r.threads!, oneThread ? oneThread.medianSeconds / r.medianSeconds : undefined]));
    const peakRssMB = process.resourceUsage().maxRSS / 1024;
    const loadAtEnd = loadavg();
    const kernelMemoryMB = Object.fromEntries(ours.map((k, i) => [o.threads[i], k.memoryBytes / 2 ** 20]));
    const result = {
      workload: workload.description, source: workload.source,
      neurons: network.neurons, layers: network.layers.length, inputs: inputs.rows,
      graphChallengeEdges: edges, usefulMultiplyAdds: useful,
      warmUp: 'one untimed run of each thread count; scipy is timed by its own script (its layer loop), a fresh process each round',
      rounds: o.repeat,
      engines: withRatio,
      threadScaling: scaling,
      kernelMemoryMB,
      peakRssMB,
      host: { logicalCpus: cpus().length, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
      notes,
    };
    if (o.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
    const body = table(
      ['engine', 'runs', 'median s', 'min s', 'max s', 'useful GMAC/s', 'multiply-adds', 'categories', 'truth', 'vs scipy'],
      withRatio.map((r) => [
        r.engine, r.seconds.length, r.medianSeconds.toFixed(3), r.minSeconds.toFixed(3), r.maxSeconds.toFixed(3),
        r.usefulGmacPerSecond !== undefined ? r.usefulGmacPerSecond.toFixed(2) : '-',
        r.multiplyAdds !== undefined ? `${(r.multiplyAdds / 1e9).toFixed(3)} G` : '-',
        r.categories, r.matchesTruth === undefined ? '-' : r.matchesTruth ? 'match' : 'MISMATCH',
        r.speedupOverScipy !== undefined ? `${r.speedupOverScipy.toFixed(2)}x` : '-',
      ]),
    );
    process.stdout.write(`${body}\n\n`);
    process.stdout.write(`useful multiply-adds: ${(useful / 1e9).toFixed(3)} G; rounds: ${o.repeat}, alternating scipy and each thread count; ${result.warmUp}\n`);
    for (const r of withRatio.filter((x) => x.threads !== undefined && !x.engine.startsWith('  '))) {
      const spread = `${r.minSeconds.toFixed(3)}-${r.maxSeconds.toFixed(3)} s`;
      process.stdout.write(`${r.threads} thread${r.threads === 1 ? '' : 's'}: ${r.speedupOverScipy !== undefined ? `${r.speedupOverScipy.toFixed(2)}x scipy (medians)` : 'no scipy ratio'}, scaling over 1 thread ${scaling[r.threads!]?.toFixed(2) ?? '-'}x, runs ${spread}\n`);
    }
    if (scipySeconds.length) process.stdout.write(`scipy runs ${Math.min(...scipySeconds).toFixed(3)}-${Math.max(...scipySeconds).toFixed(3)} s (the spread is this host's noise)\n`);
    process.stdout.write(`kernel working memory after the runs: ${o.threads.map((t) => `${kernelMemoryMB[t].toFixed(0)} MB (${t} thread${t === 1 ? '' : 's'})`).join(', ')}\n`);
    process.stdout.write(`peak memory of this process (data, model and several kernels): ${peakRssMB.toFixed(0)} MB RSS\n`);
    const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
    process.stdout.write(`host: ${cpus().length} logical CPUs; load average (1, 5, 15 min) ${load(loadAtStart)} at the start, ${load(loadAtEnd)} at the end\n`);
    for (const n of notes) process.stdout.write(`note: ${n}\n`);
  } finally {
    for (const kernel of ours) kernel.close();
  }
}
