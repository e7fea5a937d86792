// The layer engines: what executes a thread's jobs (layout.ts) in the kernel's memory. Two engines
// behind one seam: WebAssembly SIMD (layer-simd.wat, the default) and plain TypeScript (the
// reference, the same operations written out; no threads). Both compute every output as the sum
// over its inputs k, ascending, of x_k * w in float64 from +0, rounded to float32 once after the
// bias, ReLU and the cap, so they are bit-identical. The plan's kernel.gatherEngine names one.

import { wasmBase64 } from './layer-simd.wasm.ts';
import {
  Job, JOB_BYTES, JOB_RESULT_ENTRY, JOB_RESULT_LENGTH, JOB_RESULT_MACS, JOB_RESULT_THREAD, LANES, LayerField, STAGING_SLACK,
  TASK_BYTES, THREADS_PACK_BLOCK, ThreadField, type KernelMemory,
} from './layout.ts';

export const GATHER_ENGINES = ['wasm-simd', 'typescript'] as const;
export type GatherEngineName = (typeof GATHER_ENGINES)[number];

export interface LayerEngine {
  readonly name: GatherEngineName;
  /** Runs jobs[0 .. count); returns how many are done (fewer when a scatter did not fit its thread's staging area). */
  run(layer: number, thread: number, jobs: number, count: number): number;
  /**
   * Runs tasks taken one by one through the int32 cursor at `cursor` (shared by every thread that
   * runs the same list) until none is left; marks a task failed when its scatter did not fit.
   */
  runTasks(layer: number, thread: number, tasks: number, taskCount: number, cursor: number): void;
  /** index[e] <<= shift and wide[e] = float64(weight[e]) for count edges (the layer's weights in the engine's form). */
  prepare(count: number, index: number, shift: number, weight: number, wide: number): void;
  /**
   * The first of `rows` sparse rows (row r: cols[rowStart[r] - first .. rowStart[r + 1] - first))
   * whose columns are not all below n and strictly ascending, or -1.
   */
  checkRows(rowStart: number, rows: number, cols: number, first: number, n: number): number;
}

let simdModule: WebAssembly.Module | undefined;

/** The compiled layer-simd module, shared by every engine and thread (compiling is synchronous and small). */
export function layerSimdModule(): WebAssembly.Module {
  simdModule ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
  return simdModule;
}

class SimdEngine implements LayerEngine {
  readonly name = 'wasm-simd';
  readonly run: LayerEngine['run'];
  readonly runTasks: LayerEngine['runTasks'];
  readonly prepare: LayerEngine['prepare'];
  readonly checkRows: LayerEngine['checkRows'];

  constructor(memory: KernelMemory) {
    const exports = new WebAssembly.Instance(layerSimdModule(), { env: { memory: memory.memory } }).exports;
    this.run = exports.run as unknown as LayerEngine['run'];
    this.runTasks = exports.runTasks as unknown as LayerEngine['runTasks'];
    this.prepare = exports.prepare as unknown as LayerEngine['prepare'];
    this.checkRows = exports.checkRows as unknown as LayerEngine['checkRows'];
  }
}

/** The output rule on one sum: 0 stays 0 (no bias), else min(cap, max(0, s + bias)), NaN giving 0. */
function finish(s: number, bias: number, cap: number): number {
  if (s !== 0) {
    const t = s + bias;
    if (t > 0) return t > cap ? cap : t;
  }
  return 0;
}

/** The reference engine: layer-simd.wat's jobs in plain TypeScript, on the same memory. */
class TypeScriptEngine implements LayerEngine {
  readonly name = 'typescript';
  private readonly memory: KernelMemory;
  private readonly sums = new Float64Array(LANES);

  constructor(memory: KernelMemory) {
    this.memory = memory;
  }

  prepare(count: number, index: number, shift: number, weight: number, wide: number): void {
    const { u32, f32, f64 } = this.memory.views;
    for (let e = 0; e < count; e++) {
      u32[(index >> 2) + e] <<= shift;
      f64[(wide >> 3) + e] = f32[(weight >> 2) + e];
    }
  }

  checkRows(rowStart: number, rows: number, cols: number, first: number, n: number): number {
    const { u32 } = this.memory.views;
    for (let r = 0; r < rows; r++) {
      let previous = -1;
      for (let p = u32[(rowStart >> 2) + r] - first; p < u32[(rowStart >> 2) + r + 1] - first; p++) {
        const k = u32[(cols >> 2) + p];
        if (k >= n || k <= previous) return r;
        previous = k;
      }
    }
    return -1;
  }

  runTasks(layer: number, thread: number, tasks: number, taskCount: number, cursor: number): void {
    const { i32 } = this.memory.views;
    for (let i = Atomics.add(i32, cursor >> 2, 1); i < taskCount; i = Atomics.add(i32, cursor >> 2, 1)) {
      const task = (tasks + i * TASK_BYTES) >> 2;
      if (this.run(layer, thread, i32[task], i32[task + 1]) !== i32[task + 1]) i32[task + 2] = 1;
    }
  }

  run(layer: number, thread: number, jobs: number, count: number): number {
    const { i32, u32, f32 } = this.memory.views;
    const n = i32[layer >> 2];
    const block = (pointer: number) => (pointer === THREADS_PACK_BLOCK ? i32[(thread + ThreadField.PackBlock) >> 2] : pointer);
    for (let i = 0; i < count; i++) {
      const job = (jobs + i * JOB_BYTES) >> 2;
      switch (i32[job]) {
        case Job.ZeroBlock: f32.fill(0, block(i32[job + 1]) >> 2, (block(i32[job + 1]) >> 2) + n * LANES); break;
        case Job.FillLane: {
          const base = (block(i32[job + 1]) >> 2) + i32[job + 2], cols = i32[job + 3] >> 2, vals = i32[job + 4] >> 2;
          for (let p = 0; p < i32[job + 5]; p++) f32[base + u32[cols + p] * LANES] = f32[vals + p];
          break;
        }
        case Job.CopyLane: {
          const dst = (block(i32[job + 1]) >> 2) + i32[job + 2], src = (i32[job + 3] >> 2) + i32[job + 4];
          for (let k = 0; k < n; k++) f32[dst + k * LANES] = f32[src + k * LANES];
          break;
        }
        case Job.Gather: this.gather(layer, block(i32[job + 1]), i32[job + 2], i32[job + 3]); break;
        case Job.Scatter:
          if (!this.scatter(layer, thread, i32[job + 1], i32[job + 2], i32[job + 3], job)) return i;
          break;
        case Job.ScatterLane: {
          const cols = i32[(thread + ThreadField.ScratchCols) >> 2], vals = i32[(thread + ThreadField.ScratchVals) >> 2];
          const length = this.extract(i32[job + 1], i32[job + 2], i32[job + 3], i32[job + 4], cols, vals);
          if (!this.scatter(layer, thread, cols, vals, length, job)) return i;
          break;
        }
        case Job.Extract:
          i32[job + 7] = this.extract(i32[job + 1], i32[job + 2], i32[job + 3], i32[job + 4], i32[job + 5], i32[job + 6]);
          break;
        case Job.HashBlock: {
          const block = i32[job + 1] >> 2, list = i32[job + 2] >> 2, hashes = i32[job + 4] >> 2;
          for (let lane = 0; lane < LANES; lane++) {
            let h = 0x811c9dc5;
            for (let i = 0; i < i32[job + 3]; i++) h = Math.imul(h ^ i32[block + u32[list + i] * LANES + lane], 0x01000193);
            i32[hashes + lane] = h;
          }
          break;
        }
        case Job.SameLanes: {
          const a = (i32[job + 1] >> 2) + i32[job + 2], b = (i32[job + 3] >> 2) + i32[job + 4], list = i32[job + 5] >> 2;
          let same = 1;
          for (let i = 0; i < i32[job + 6] && same; i++) if (i32[a + u32[list + i] * LANES] !== i32[b + u32[list + i] * LANES]) same = 0;
          i32[job + 7] = same;
          break;
        }
        default: throw new Error(`layer engine: unknown job kind ${i32[job]}`);
      }
    }
    return count;
  }

  private gather(layer: number, input: number, out: number, counts: number): void {
    const { i32, u32, f32, f64 } = this.memory.views;
    const n = i32[layer >> 2];
    if (!i32[(layer + LayerField.AllOutputs) >> 2]) f32.fill(0, out >> 2, (out >> 2) + n * LANES);
    const start = u32[(layer + LayerField.OutputStart) >> 2] >> 2;
    const rows = u32[(layer + LayerField.GatherRows) >> 2] >> 2;
    const weights = u32[(layer + LayerField.GatherWeights) >> 2] >> 3;
    const list = u32[(layer + LayerField.Outputs) >> 2] >> 2;
    const outputCount = u32[(layer + LayerField.OutputCount) >> 2];
    const bias = f64[(layer + LayerField.Bias) >> 3], cap = f64[(layer + LayerField.Cap) >> 3];
    const s = this.sums;
    i32.fill(0, counts >> 2, (counts >> 2) + LANES);
    for (let i = 0; i < outputCount; i++) {
      const j = u32[list + i];
      s.fill(0);
      for (let e = u32[start + j]; e < u32[start + j + 1]; e++) {
        const x = (input + u32[rows + e]) >> 2, w = f64[weights + e];
        for (let lane = 0; lane < LANES; lane++) s[lane] += f32[x + lane] * w;
      }
      const o = (out >> 2) + j * LANES;
      for (let lane = 0; lane < LANES; lane++) {
        f32[o + lane] = finish(s[lane], bias, cap);
        if (f32[o + lane] !== 0) i32[(counts >> 2) + lane]++;
      }
    }
  }

  /** `job`: the job record's int32 index. */
  private scatter(layer: number, thread: number, colsAt: number, valsAt: number, count: number, job: number): boolean {
    const { i32, u32, f32, f64 } = this.memory.views;
    const n = i32[layer >> 2];
    const inputStart = u32[(layer + LayerField.InputStart) >> 2] >> 2;
    const outs = u32[(layer + LayerField.ScatterOutputs) >> 2] >> 2;
    const weights = u32[(layer + LayerField.ScatterWeights) >> 2] >> 3;
    const list = u32[(layer + LayerField.Outputs) >> 2] >> 2;
    const outputCount = u32[(layer + LayerField.OutputCount) >> 2];
    const bias = f64[(layer + LayerField.Bias) >> 3], cap = f64[(layer + LayerField.Cap) >> 3];
    const acc = u32[(thread + ThreadField.Accumulator) >> 2] >> 3;
    const bitmap = u32[(thread + ThreadField.Bitmap) >> 2] >> 2;
    const cols = colsAt >> 2, vals = valsAt >> 2;
    let macs = 0;
    for (let p = 0; p < count; p++) macs += u32[inputStart + u32[cols + p] + 1] - u32[inputStart + u32[cols + p]];
    const used = u32[(thread + ThreadField.StagingUsed) >> 2];
    if (used + Math.min(macs, outputCount) + STAGING_SLACK > u32[(thread + ThreadField.StagingCapacity) >> 2]) return false;
    const outCols = (u32[(thread + ThreadField.StagingCols) >> 2] >> 2) + used;
    const outVals = (u32[(thread + ThreadField.StagingVals) >> 2] >> 2) + used;
    let at = 0;
    const emit = (j: number) => {
      const v = Math.fround(finish(f64[acc + j], bias, cap));
      f64[acc + j] = 0;
      if (v !== 0) { u32[outCols + at] = j; f32[outVals + at] = v; at++; }
    };
    const dense = macs * 4 >= outputCount;
    for (let p = 0; p < count; p++) {
      const k = u32[cols + p], v = f32[vals + p];
      for (let e = u32[inputStart + k]; e < u32[inputStart + k + 1]; e++) {
        const j = u32[outs + e] >> 3;
        if (!dense) u32[bitmap + (j >> 5)] |= 1 << (j & 31);
        f64[acc + j] += v * f64[weights + e];
      }
    }
    if (dense) {
      for (let i = 0; i < outputCount; i++) emit(u32[list + i]);
    } else {
      for (let word = 0; word < (n + 31) >> 5; word++) {
        let bits = u32[bitmap + word];
        if (bits === 0) continue;
        u32[bitmap + word] = 0;
        while (bits !== 0) {
          emit(word * 32 + (31 - Math.clz32(bits & -bits)));
          bits &= bits - 1;
        }
      }
    }
    i32[job + JOB_RESULT_ENTRY] = used; i32[job + JOB_RESULT_LENGTH] = at; i32[job + JOB_RESULT_MACS] = macs;
    i32[job + JOB_RESULT_THREAD] = i32[(thread + ThreadField.Index) >> 2];
    u32[(thread + ThreadField.StagingUsed) >> 2] = used + at;
    return true;
  }

  private extract(block: number, lane: number, listAt: number, listCount: number, outColsAt: number, outValsAt: number): number {
    const { u32, f32 } = this.memory.views;
    const base = (block >> 2) + lane, list = listAt >> 2, outCols = outColsAt >> 2, outVals = outValsAt >> 2;
    let at = 0;
    for (let i = 0; i < listCount; i++) {
      const j = u32[list + i], v = f32[base + j * LANES];
      if (v !== 0) { u32[outCols + at] = j; f32[outVals + at] = v; at++; }
    }
    return at;
  }
}

export function createLayerEngine(name: GatherEngineName, memory: KernelMemory): LayerEngine {
  return name === 'wasm-simd' ? new SimdEngine(memory) : new TypeScriptEngine(memory);
}
