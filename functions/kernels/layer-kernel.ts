// The sparse layer kernel, the hot path of the whole system:
//   Y_next = min(cap, ReLU(Y W + bias on the nonzeros of Y W)), rows of Y sparse.
//
// Each activation row takes one of two paths, chosen by its density:
// - scatter (sparse rows): every nonzero y_k adds y_k * W[k, :] into a dense accumulator; zero
//   activations and dead rows cost nothing.
// - gather (dense rows): 16 rows ("lanes") of a block sum x[k] * W[k, j] over every output's
//   inputs in one pass over W, with fused multiply-adds on 8 pairs of lanes, and write the block's
//   next activations in place of a sparse row: dense rows stay in blocks from layer to layer and
//   are turned back into sparse rows only when read (or when they thin out below the threshold).
//   The later layers of the benchmark are a few hundred saturated rows, all dense.
// Both sum each output's terms in ascending input order in float64 and round to float32 once, so
// the two paths, both engines (gather.ts), any number of threads, and any worker that owns a
// subset of the outputs produce bit-identical values. "Nonzero" means nonzero as float32 (the
// dense reference's definition: a positive sum below 2^-150 rounds to 0 and is no entry).
//
// The work itself runs in a layer engine (WebAssembly SIMD, or the TypeScript reference) on one
// shared memory (layout.ts); this file plans it: which rows are gathered, which blocks are kept
// and which are packed anew, and the layer's task list that every thread takes tasks from
// (kernel-threads.ts). Allocation happens when buffers grow, never per row.

import { toInputMajor, layerNonzeros, type InputMajorLayer, type SparseLayer, type SparseRows } from '../../model/network.ts';
import { ShapeMismatchError, UsageError } from '../../model/errors.ts';
import { createLayerEngine, layerSimdModule, type GatherEngineName, type LayerEngine } from './gather.ts';
import { KernelThreads, MAX_KERNEL_THREADS, type ThreadWork } from './kernel-threads.ts';
import {
  Job, JOB_BYTES, JOB_WORDS, JOB_RESULT_ENTRY, JOB_RESULT_LENGTH, JOB_RESULT_MACS, JOB_RESULT_THREAD, KernelMemory, LANES,
  LAYER_HEADER_BYTES, LayerField, Region, STAGING_SLACK, TASK_BYTES, TASK_WORDS, THREAD_HEADER_BYTES, THREADS_PACK_BLOCK,
  ThreadField, blockBytes,
} from './layout.ts';

export interface PreparedLayer {
  readonly outputMajor: SparseLayer;
  readonly inputMajor: InputMajorLayer;
  readonly nonzeros: number;
  /**
   * The only outputs that have inputs, ascending, when a worker computes a subset of the layer
   * (its other outputs are empty rows of `outputMajor`): the kernel then scans these instead of
   * all N outputs. Absent: every output.
   */
  readonly outputs?: Uint32Array;
}

export function prepareLayer(layer: SparseLayer): PreparedLayer {
  return { outputMajor: layer, inputMajor: toInputMajor(layer), nonzeros: layerNonzeros(layer) };
}

/** Prepares a layer of which only `outputs` (ascending; a worker's share) have inputs. */
export function prepareLayerOutputs(layer: SparseLayer, outputs: Uint32Array): PreparedLayer {
  return { ...prepareLayer(layer), outputs };
}

/** What every layer kernel backend implements; serial inference and workers only see this. */
export interface LayerKernel {
  /** Backend name, with the mode that actually ran where the backend picks one (gpu.js). */
  readonly name: string;
  /** Applies one layer; the result is valid until the call after next. */
  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows;
}

export interface LayerWork {
  /** Multiply-adds executed (a gathered row does a full pass over W, zeros included). */
  multiplyAdds: number;
  scatterRows: number;
  gatherRows: number;
}

export interface SparseKernelOptions {
  /**
   * A row is gathered (dense pass over W, 16 rows at a time) when its nonzeros exceed this
   * fraction of the neurons; sparser rows are scattered. `npm run bench -- kernel --sweep`
   * measures the choice on the real benchmark.
   */
  readonly gatherAboveDensity?: number;
  /** Which engine does the work; both give bit-identical results. Default wasm-simd. */
  readonly gatherEngine?: GatherEngineName;
  /**
   * Threads that share every layer's rows (default 1): the kernel's own and threads - 1 helpers
   * (wasm-simd only). Results are bit-identical for any count. A kernel with helpers should be
   * closed (close()) when no longer needed.
   */
  readonly threads?: number;
  /**
   * An exact shortcut, off by default: dense rows whose activations are bit-identical are computed
   * once (a row's next activations depend on that row alone), found by a hash of every block's
   * lanes and a comparison. The real benchmark's surviving rows all saturate to the same row after
   * layer 19. The work counted is the work done.
   */
  readonly identicalRowsOnce?: boolean;
}

export const DEFAULT_GATHER_ABOVE_DENSITY = 0.25;

/** Where a row is: nowhere (no nonzeros), a sparse row in the memory, or a lane of a block. */
const DEAD = 0, ENTRIES = 1, LANE = 2;

/** A set of activation rows in the memory: per row its place, and the blocks' rows by lane. */
class RowPlaces {
  rows = 0;
  /** DEAD, ENTRIES (a = cols, b = vals pointers) or LANE (a = block pointer, b = lane). */
  kind = new Uint8Array(0);
  a = new Int32Array(0);
  b = new Int32Array(0);
  length = new Int32Array(0);
  /** Block u's lane i holds row blockRows[u * 16 + i] (-1: none; the lane is zero). */
  blockRows = new Int32Array(0);
  blockCount = 0;
  /** The outputs that can be nonzero (the producing layer's list), for reading lanes out. */
  list = 0;
  listCount = 0;
  /** The rows that are not DEAD, ascending (the later layers of the benchmark: 337 of 10,000). */
  live = new Int32Array(0);
  liveCount = 0;

  resize(rows: number): void {
    this.rows = rows;
    if (this.kind.length < rows) {
      this.kind = new Uint8Array(rows);
      this.a = new Int32Array(rows);
      this.b = new Int32Array(rows);
      this.length = new Int32Array(rows);
      this.live = new Int32Array(rows);
    }
    this.kind.fill(DEAD, 0, rows);
    this.liveCount = 0;
  }

  resizeBlocks(count: number): void {
    this.blockCount = count;
    if (this.blockRows.length < count * LANES) this.blockRows = new Int32Array(Math.max(count * LANES, this.blockRows.length * 2));
  }
}

/** Entries (column, value) in two regions. */
class EntryRegions {
  readonly cols: Region;
  readonly vals: Region;
  constructor(memory: KernelMemory) {
    this.cols = new Region(memory);
    this.vals = new Region(memory);
  }
  reserve(entries: number, keepEntries = 0): void {
    this.cols.reserve(entries * 4, keepEntries * 4);
    this.vals.reserve(entries * 4, keepEntries * 4);
  }
}

/** One of the two alternating outputs: its rows, blocks, staging areas and read-out. */
class OutputSlot {
  readonly places = new RowPlaces();
  readonly blocks: Region;
  readonly counts: Region;
  readonly list: Region;
  readonly staging: EntryRegions[];
  readonly readOut: EntryRegions;
  /** Bumped whenever the slot is rewritten: rows handed out before read as stale. */
  generation = 0;
  rowStart = new Uint32Array(1);
  /** rowStart's first rows + 1 entries, once computed. */
  rowStartView: Uint32Array | undefined;
  entries: { columnIndex: Uint32Array; value: Float32Array } | undefined;

  constructor(memory: KernelMemory, threads: number) {
    this.blocks = new Region(memory);
    this.counts = new Region(memory);
    this.list = new Region(memory);
    this.staging = Array.from({ length: threads }, () => new EntryRegions(memory));
    this.readOut = new EntryRegions(memory);
  }
}

/** The rows a kernel returns: views of one output slot, turned into arrays when first read. */
class KernelRows implements SparseRows {
  readonly rows: number;
  readonly columns: number;
  declare readonly rowStart: Uint32Array;
  declare readonly columnIndex: Uint32Array;
  declare readonly value: Float32Array;
  readonly #state: KernelState;
  readonly #slot: OutputSlot;
  readonly #generation: number;

  constructor(state: KernelState, slot: OutputSlot, rows: number, columns: number) {
    this.rows = rows;
    this.columns = columns;
    this.#state = state;
    this.#slot = slot;
    this.#generation = slot.generation;
    // Own enumerable accessors, so spreading or cloning the rows reads them out like plain rows.
    Object.defineProperties(this, {
      rowStart: { enumerable: true, get: () => this.#state.rowStartOf(this.#live()) },
      columnIndex: { enumerable: true, get: () => this.#state.entriesOf(this.#live()).columnIndex },
      value: { enumerable: true, get: () => this.#state.entriesOf(this.#live()).value },
    });
  }

  #live(): OutputSlot {
    if (this.#slot.generation !== this.#generation) {
      throw new Error('kernel rows read after the call after next (they are views of the kernel\'s buffers, valid until then)');
    }
    return this.#slot;
  }

  /** Whether `rows` are `slot`'s of `state`, not rewritten since. */
  static isCurrent(rows: SparseRows, state: KernelState, slot: OutputSlot): boolean {
    return rows instanceof KernelRows && rows.#state === state && rows.#slot === slot && rows.#generation === slot.generation;
  }
}

/** A gather unit: one block of up to 16 rows, either an input block kept as it is or one packed anew. */
interface GatherPlan {
  units: number;
  /** Per unit: the input block pointer (kept), or -1 (packed anew into its thread's pack block). */
  unitInput: Int32Array;
  /** Per unit and lane: the row (-1: none). */
  unitRows: Int32Array;
}

/** Everything a SparseLayerKernel owns; module-private so that KernelRows can read it out. */
class KernelState {
  readonly neurons: number;
  readonly threads: number;
  readonly engine: LayerEngine;
  readonly memory = new KernelMemory();
  private readonly gatherThreshold: number;
  private readonly pool: KernelThreads | undefined;
  private readonly slots: [OutputSlot, OutputSlot];
  /** The slot the last call wrote (-1 before the first). */
  private last = -1;
  private readonly imported = new RowPlaces();
  private readonly importEntries: EntryRegions;
  private readonly importRowStart: Region;
  /** One block per thread that its packed units are packed into, one after the other (it stays in cache). */
  private readonly pack: Region;
  private readonly readOutJobs: Region;
  /** A layer's jobs and tasks, shared by the threads, and the cursor they take tasks with. */
  private readonly jobs: Region;
  private readonly tasks: Region;
  private readonly cursor: number;
  private readonly threadHeaders: number[];
  private readonly layerHeader: number;
  private readonly identityList: number;
  private readonly layerRegions: {
    outputStart: Region; gatherRows: Region; gatherWeights: Region;
    inputStart: Region; scatterOutputs: Region; scatterWeights: Region; narrow: Region;
  };
  // Per-call planning arrays, grown as needed.
  /** Per row: 0 scattered, 1 gathered, 2 gathered in a kept block, 3 computed by its leader (identical rows). */
  private gatherFlag = new Uint8Array(0);
  private gatherList = new Int32Array(0);
  private readonly identicalRowsOnce: boolean;
  private leaderOf = new Int32Array(0);
  private followers = new Int32Array(0);
  private followerCount = 0;
  private readonly hashes: Region;
  private readonly scratchJobs: Region;
  private scatterList = new Int32Array(0);
  private scatterJob = new Int32Array(0);
  private plan: GatherPlan = { units: 0, unitInput: new Int32Array(0), unitRows: new Int32Array(0) };

  constructor(neurons: number, gatherAboveDensity: number, engine: GatherEngineName, threads: number, identicalRowsOnce: boolean) {
    this.neurons = neurons;
    this.threads = threads;
    this.identicalRowsOnce = identicalRowsOnce;
    this.gatherThreshold = gatherAboveDensity * neurons;
    this.engine = createLayerEngine(engine, this.memory);
    this.pool = threads > 1 ? new KernelThreads(layerSimdModule(), this.memory, threads - 1) : undefined;
    this.slots = [new OutputSlot(this.memory, threads), new OutputSlot(this.memory, threads)];
    this.importEntries = new EntryRegions(this.memory);
    this.importRowStart = new Region(this.memory);
    this.pack = new Region(this.memory, threads * blockBytes(neurons));
    this.readOutJobs = new Region(this.memory);
    this.hashes = new Region(this.memory);
    this.scratchJobs = new Region(this.memory, JOB_BYTES);
    this.jobs = new Region(this.memory);
    this.tasks = new Region(this.memory);
    this.layerRegions = {
      outputStart: new Region(this.memory), gatherRows: new Region(this.memory), gatherWeights: new Region(this.memory),
      inputStart: new Region(this.memory), scatterOutputs: new Region(this.memory), scatterWeights: new Region(this.memory),
      narrow: new Region(this.memory),
    };
    const m = this.memory;
    this.layerHeader = m.allocate(LAYER_HEADER_BYTES);
    this.cursor = m.allocate(4);
    this.identityList = m.allocate(4 * neurons);
    m.views.u32.subarray(this.identityList >> 2, (this.identityList >> 2) + neurons).forEach((_, j, list) => { list[j] = j; });
    this.threadHeaders = [];
    for (let t = 0; t < threads; t++) {
      const header = m.allocate(THREAD_HEADER_BYTES);
      const accumulator = m.allocate(8 * neurons);
      const bitmap = m.allocate(4 * Math.ceil(neurons / 32));
      const scratchCols = m.allocate(4 * (neurons + 1));
      const scratchVals = m.allocate(4 * (neurons + 1));
      const { u8, i32 } = m.views;
      u8.fill(0, accumulator, accumulator + 8 * neurons);
      u8.fill(0, bitmap, bitmap + 4 * Math.ceil(neurons / 32));
      i32[(header + ThreadField.Accumulator) >> 2] = accumulator;
      i32[(header + ThreadField.Bitmap) >> 2] = bitmap;
      i32[(header + ThreadField.ScratchCols) >> 2] = scratchCols;
      i32[(header + ThreadField.ScratchVals) >> 2] = scratchVals;
      i32[(header + ThreadField.PackBlock) >> 2] = this.pack.offset + t * blockBytes(neurons);
      i32[(header + ThreadField.Index) >> 2] = t;
      this.threadHeaders.push(header);
    }
  }

  close(): void {
    this.pool?.close();
  }

  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows {
    const n = this.neurons;
    if (input.columns !== n || layer.outputMajor.neurons !== n) {
      throw new ShapeMismatchError(`kernel for ${n} neurons got ${input.columns} input columns and a ${layer.outputMajor.neurons}-neuron layer`);
    }
    const source = this.sourceOf(input);
    const rows = source.rows;
    const slotIndex = this.last === 0 ? 1 : 0;
    const slot = this.slots[slotIndex];
    slot.generation++;
    slot.rowStartView = undefined;
    slot.entries = undefined;

    // Which rows are gathered (and which of them keep their block), which are scattered.
    if (this.gatherFlag.length < rows) {
      this.gatherFlag = new Uint8Array(rows);
      this.gatherList = new Int32Array(rows);
      this.scatterList = new Int32Array(rows);
      this.scatterJob = new Int32Array(rows);
      this.leaderOf = new Int32Array(rows);
      this.followers = new Int32Array(rows);
    }
    const gatherFlag = this.gatherFlag, gatherList = this.gatherList, scatterList = this.scatterList;
    let gatherCount = 0, scatterCount = 0;
    for (let i = 0; i < source.liveCount; i++) {
      const r = source.live[i];
      if (source.length[r] > this.gatherThreshold) { gatherFlag[r] = 1; gatherList[gatherCount++] = r; }
      else { gatherFlag[r] = 0; scatterList[scatterCount++] = r; }
    }
    this.followerCount = 0;
    if (this.identicalRowsOnce && source.blockCount > 0) gatherCount = this.mergeIdenticalRows(source, gatherCount);
    const plan = this.planGather(source, gatherCount);

    // The layer in the engine's form, and the outputs it computes.
    const list = layer.outputs ?? undefined;
    const listCount = list ? list.length : n;
    if (list) {
      slot.list.reserve(4 * listCount);
      this.memory.views.u32.set(list, slot.list.offset >> 2);
    }
    slot.places.list = list ? slot.list.offset : this.identityList;
    slot.places.listCount = listCount;
    this.writeLayer(layer, bias, cap, plan.units > 0, scatterCount > 0, slot.places.list, listCount, !list);

    // Memory for this call's blocks and staging areas.
    const bytesPerBlock = blockBytes(n);
    slot.blocks.reserve(plan.units * bytesPerBlock);
    slot.counts.reserve(plan.units * LANES * 4);

    const taskCount = this.writeTasks(source, plan, scatterCount, slot, layer.inputMajor, listCount);
    this.run(taskCount, slot, listCount);

    // Where every output row is now.
    const out = slot.places;
    out.resize(rows);
    out.resizeBlocks(plan.units);
    const views = this.memory.views;
    for (let u = 0; u < plan.units; u++) {
      const block = slot.blocks.offset + u * bytesPerBlock;
      const counts = (slot.counts.offset >> 2) + u * LANES;
      for (let lane = 0; lane < LANES; lane++) {
        const r = plan.unitRows[u * LANES + lane];
        const count = r < 0 ? 0 : views.i32[counts + lane];
        out.blockRows[u * LANES + lane] = count > 0 ? r : -1;
        if (count > 0) { out.kind[r] = LANE; out.a[r] = block; out.b[r] = lane; out.length[r] = count; }
      }
    }
    let macs = gatherCount * layer.nonzeros;
    for (let i = 0; i < scatterCount; i++) {
      const r = scatterList[i], j = this.scatterJob[i];
      const length = views.i32[j + JOB_RESULT_LENGTH];
      macs += views.i32[j + JOB_RESULT_MACS];
      if (length > 0) {
        const staging = slot.staging[views.i32[j + JOB_RESULT_THREAD]], entry = views.i32[j + JOB_RESULT_ENTRY];
        out.kind[r] = ENTRIES; out.a[r] = staging.cols.offset + 4 * entry; out.b[r] = staging.vals.offset + 4 * entry; out.length[r] = length;
      }
    }
    for (let i = 0; i < this.followerCount; i++) {
      const r = this.followers[i], leader = this.leaderOf[r];
      out.kind[r] = out.kind[leader]; out.a[r] = out.a[leader]; out.b[r] = out.b[leader]; out.length[r] = out.length[leader];
    }
    for (let i = 0; i < source.liveCount; i++) {
      const r = source.live[i];
      if (out.kind[r] !== DEAD) out.live[out.liveCount++] = r;
    }
    if (work) { work.multiplyAdds += macs; work.scatterRows += scatterCount; work.gatherRows += gatherCount; }
    this.last = slotIndex;
    return new KernelRows(this, slot, rows, n);
  }

  /**
   * The layer's tasks: each gather unit (its packing, then its gather), then each scattered row;
   * and every thread's staging area, sized for its share of the rows' bound (a scattered row has
   * at most min(outputs, its multiply-adds) nonzeros), capped by an estimate (a layer's output
   * rarely exceeds 4x its input here). A scatter that does not fit is finished in run().
   */
  private writeTasks(source: RowPlaces, plan: GatherPlan, scatterCount: number, slot: OutputSlot, inputMajor: InputMajorLayer, listCount: number): number {
    let jobs = scatterCount;
    for (let u = 0; u < plan.units; u++) jobs += plan.unitInput[u] < 0 ? 2 + LANES : 1;
    this.jobs.reserve(jobs * JOB_BYTES);
    this.tasks.reserve((plan.units + scatterCount) * TASK_BYTES);
    const maxFanOut = this.maxFanOut(inputMajor);
    let bound = 0, nonzeros = 0;
    for (let i = 0; i < scatterCount; i++) {
      const length = source.length[this.scatterList[i]];
      bound += Math.min(listCount, length * maxFanOut) + STAGING_SLACK;
      nonzeros += length;
    }
    const T = this.threads;
    const share = Math.ceil(Math.min(bound, 4 * nonzeros) * (T > 1 ? 1.5 : 1) / T) + listCount + STAGING_SLACK;
    for (let t = 0; t < T; t++) slot.staging[t].reserve(Math.min(bound, share));
    const { i32 } = this.memory.views;
    let j = this.jobs.offset >> 2, task = this.tasks.offset >> 2;
    for (let u = 0; u < plan.units; u++) {
      i32[task] = j << 2;
      j = this.writeUnitJobs(i32, j, source, plan, u, slot);
      i32[task + 1] = ((j << 2) - i32[task]) / JOB_BYTES;
      i32[task + 2] = 0;
      task += TASK_WORDS;
    }
    for (let i = 0; i < scatterCount; i++) {
      const r = this.scatterList[i];
      this.scatterJob[i] = j;
      if (source.kind[r] === ENTRIES) {
        i32[j] = Job.Scatter; i32[j + 1] = source.a[r]; i32[j + 2] = source.b[r]; i32[j + 3] = source.length[r];
      } else {
        i32[j] = Job.ScatterLane; i32[j + 1] = source.a[r]; i32[j + 2] = source.b[r]; i32[j + 3] = source.list; i32[j + 4] = source.listCount;
      }
      i32[task] = j << 2; i32[task + 1] = 1; i32[task + 2] = 0;
      j += JOB_WORDS;
      task += TASK_WORDS;
    }
    for (let t = 0; t < T; t++) this.setStaging(t, slot.staging[t], 0);
    return plan.units + scatterCount;
  }

  private setStaging(t: number, staging: EntryRegions, used: number): void {
    const i32 = this.memory.views.i32, header = this.threadHeaders[t] >> 2;
    i32[header + (ThreadField.StagingCols >> 2)] = staging.cols.offset;
    i32[header + (ThreadField.StagingVals >> 2)] = staging.vals.offset;
    i32[header + (ThreadField.StagingCapacity >> 2)] = staging.cols.bytes >> 2;
    i32[header + (ThreadField.StagingUsed >> 2)] = used;
  }

  /** Runs the tasks on all threads at once; then, here, any scatter that did not fit, after its area grew. */
  private run(taskCount: number, slot: OutputSlot, listCount: number): void {
    this.memory.views.i32[this.cursor >> 2] = 0;
    const work = this.threadHeaders.map((thread) => ({ layer: this.layerHeader, thread, tasks: this.tasks.offset, taskCount, cursor: this.cursor }));
    const runTasks = (w: ThreadWork) => this.engine.runTasks(w.layer, w.thread, w.tasks, w.taskCount, w.cursor);
    if (this.pool) this.pool.run(work, runTasks); else runTasks(work[0]);
    const staging = slot.staging[0];
    for (let i = 0; i < taskCount; i++) {
      const task = (this.tasks.offset >> 2) + i * TASK_WORDS;
      if (this.memory.views.i32[task + 2] === 0) continue;
      this.memory.views.i32[task + 2] = 0;
      const { i32 } = this.memory.views;
      while (this.engine.run(this.layerHeader, this.threadHeaders[0], i32[task], i32[task + 1]) === 0) {
        const used = this.memory.views.i32[(this.threadHeaders[0] + ThreadField.StagingUsed) >> 2];
        staging.reserve(2 * (staging.cols.bytes >> 2) + listCount + STAGING_SLACK, used);
        this.setStaging(0, staging, used);
      }
    }
  }

  /** The rows as places in the memory: the last output as it is, anything else copied in. */
  private sourceOf(input: SparseRows): RowPlaces {
    if (this.last >= 0) {
      const slot = this.slots[this.last];
      // Once read out, the caller may have changed the arrays: copy them in like any other rows.
      if (KernelRows.isCurrent(input, this, slot) && !slot.entries) return slot.places;
    }
    const n = this.neurons, rows = input.rows;
    const { rowStart, columnIndex, value } = input;
    const first = rowStart[0], nonzeros = rowStart[rows] - first;
    this.importEntries.reserve(nonzeros + 1);
    this.importRowStart.reserve(4 * (rows + 1));
    const cols = this.importEntries.cols.offset, vals = this.importEntries.vals.offset;
    const { u32, f32 } = this.memory.views;
    u32.set(columnIndex.subarray(first, first + nonzeros), cols >> 2);
    f32.set(value.subarray(first, first + nonzeros), vals >> 2);
    u32.set(rowStart.subarray(0, rows + 1), this.importRowStart.offset >> 2);
    // The engines address memory with column indices: below n and ascending, checked once here.
    const bad = this.engine.checkRows(this.importRowStart.offset, rows, cols, first, n);
    if (bad >= 0) {
      let previous = -1;
      for (let p = rowStart[bad]; p < rowStart[bad + 1]; p++) {
        const k = columnIndex[p];
        if (k >= n || k <= previous) throw new ShapeMismatchError(`input row ${bad}: column ${k} ${k >= n ? `is not below ${n}` : 'does not ascend'}`);
        previous = k;
      }
      throw new ShapeMismatchError(`input row ${bad}: columns must be below ${n} and ascend`);
    }
    const places = this.imported;
    places.resize(rows);
    places.resizeBlocks(0);
    for (let r = 0; r < rows; r++) {
      const lo = rowStart[r] - first, hi = rowStart[r + 1] - first;
      if (hi > lo) {
        places.kind[r] = ENTRIES; places.a[r] = cols + 4 * lo; places.b[r] = vals + 4 * lo; places.length[r] = hi - lo;
        places.live[places.liveCount++] = r;
      }
    }
    return places;
  }

  /**
   * The identical-rows shortcut: gathered rows in the same lane (merged before) follow its first
   * row; distinct lanes with equal hashes are compared bit for bit and merged. Returns the number
   * of gathered rows left (the leaders), compacted in gatherList; followers get their leader's
   * place after the call.
   */
  private mergeIdenticalRows(source: RowPlaces, gatherCount: number): number {
    const list = this.gatherList, flag = this.gatherFlag, leaderOf = this.leaderOf;
    const follow = (r: number, leader: number) => { flag[r] = 3; leaderOf[r] = leader; this.followers[this.followerCount++] = r; };
    const byLane = new Map<number, number>();
    const distinct: number[] = [];
    for (let i = 0; i < gatherCount; i++) {
      const r = list[i];
      if (source.kind[r] !== LANE) continue;
      const lane = source.a[r] + 4 * source.b[r];
      const leader = byLane.get(lane);
      if (leader === undefined) { byLane.set(lane, r); distinct.push(r); } else follow(r, leader);
    }
    if (distinct.length > 1) {
      const bytesPerBlock = blockBytes(this.neurons), base = this.slots[this.last].blocks.offset;
      this.hashes.reserve(source.blockCount * LANES * 4);
      const blocks = [...new Set(distinct.map((r) => (source.a[r] - base) / bytesPerBlock))];
      this.scratchJobs.reserve(blocks.length * JOB_BYTES);
      let i32 = this.memory.views.i32;
      blocks.forEach((b, i) => {
        const j = (this.scratchJobs.offset >> 2) + i * JOB_WORDS;
        i32[j] = Job.HashBlock; i32[j + 1] = base + b * bytesPerBlock; i32[j + 2] = source.list; i32[j + 3] = source.listCount;
        i32[j + 4] = this.hashes.offset + b * LANES * 4;
      });
      this.engine.run(this.layerHeader, this.threadHeaders[0], this.scratchJobs.offset, blocks.length);
      i32 = this.memory.views.i32;
      const j = this.scratchJobs.offset >> 2;
      const buckets = new Map<number, number[]>();
      for (const r of distinct) {
        const hash = i32[(this.hashes.offset >> 2) + ((source.a[r] - base) / bytesPerBlock) * LANES + source.b[r]];
        const bucket = buckets.get(hash);
        let leader = -1;
        for (const c of bucket ?? []) {
          i32[j] = Job.SameLanes; i32[j + 1] = source.a[c]; i32[j + 2] = source.b[c]; i32[j + 3] = source.a[r]; i32[j + 4] = source.b[r];
          i32[j + 5] = source.list; i32[j + 6] = source.listCount;
          this.engine.run(this.layerHeader, this.threadHeaders[0], this.scratchJobs.offset, 1);
          if (i32[j + 7] === 1) { leader = c; break; }
        }
        if (leader >= 0) follow(r, leader); else if (bucket) bucket.push(r); else buckets.set(hash, [r]);
      }
    }
    // A row that followed a lane whose first row then followed another follows that one.
    for (let i = 0; i < this.followerCount; i++) {
      const r = this.followers[i];
      while (flag[leaderOf[r]] === 3) leaderOf[r] = leaderOf[leaderOf[r]];
    }
    let leaders = 0;
    for (let i = 0; i < gatherCount; i++) if (flag[list[i]] !== 3) list[leaders++] = list[i];
    return leaders;
  }

  /**
   * Blocks whose 16 lanes are all still gathered are kept as they are; every other gathered row
   * is packed, in row order, into new blocks.
   */
  private planGather(source: RowPlaces, gatherCount: number): GatherPlan {
    const plan = this.plan;
    const most = source.blockCount + Math.ceil(gatherCount / LANES);
    if (plan.unitInput.length < most) {
      plan.unitInput = new Int32Array(most);
      plan.unitRows = new Int32Array(most * LANES);
    }
    const placed = this.gatherFlag; // 1: gathered, not yet placed; 2: placed in a kept block
    const bytesPerBlock = blockBytes(this.neurons);
    let units = 0;
    for (let b = 0; b < source.blockCount; b++) {
      let keep = true;
      for (let lane = 0; lane < LANES && keep; lane++) {
        const r = source.blockRows[b * LANES + lane];
        keep = r >= 0 && placed[r] === 1;
      }
      if (!keep) continue;
      plan.unitInput[units] = this.lastBlocksOffset() + b * bytesPerBlock;
      for (let lane = 0; lane < LANES; lane++) {
        const r = source.blockRows[b * LANES + lane];
        plan.unitRows[units * LANES + lane] = r;
        placed[r] = 2;
      }
      units++;
    }
    let lane = LANES;
    for (let i = 0; i < gatherCount; i++) {
      const r = this.gatherList[i];
      if (placed[r] !== 1) continue;
      if (lane === LANES) {
        plan.unitInput[units] = -1;
        plan.unitRows.fill(-1, units * LANES, (units + 1) * LANES);
        units++;
        lane = 0;
      }
      plan.unitRows[(units - 1) * LANES + lane++] = r;
    }
    plan.units = units;
    return plan;
  }

  private lastBlocksOffset(): number {
    return this.slots[this.last].blocks.offset;
  }

  /** The jobs of gather unit `u` at int32 index j: packing into the running thread's pack block (if packed), then the gather. */
  private writeUnitJobs(i32: Int32Array, j: number, source: RowPlaces, plan: GatherPlan, u: number, slot: OutputSlot): number {
    const bytesPerBlock = blockBytes(this.neurons);
    let input = plan.unitInput[u];
    if (input < 0) {
      input = THREADS_PACK_BLOCK;
      let copies = 0;
      for (let lane = 0; lane < LANES; lane++) {
        const r = plan.unitRows[u * LANES + lane];
        if (r >= 0 && source.kind[r] === LANE) copies++;
      }
      if (copies < LANES) { i32[j] = Job.ZeroBlock; i32[j + 1] = input; j += JOB_WORDS; }
      for (let lane = 0; lane < LANES; lane++) {
        const r = plan.unitRows[u * LANES + lane];
        if (r < 0) continue;
        if (source.kind[r] === LANE) {
          i32[j] = Job.CopyLane; i32[j + 1] = input; i32[j + 2] = lane; i32[j + 3] = source.a[r]; i32[j + 4] = source.b[r];
        } else {
          i32[j] = Job.FillLane; i32[j + 1] = input; i32[j + 2] = lane; i32[j + 3] = source.a[r]; i32[j + 4] = source.b[r]; i32[j + 5] = source.length[r];
        }
        j += JOB_WORDS;
      }
    }
    i32[j] = Job.Gather; i32[j + 1] = input; i32[j + 2] = slot.blocks.offset + u * bytesPerBlock; i32[j + 3] = slot.counts.offset + u * LANES * 4;
    return j + JOB_WORDS;
  }

  private maxFanOut(layer: InputMajorLayer): number {
    let most = 0;
    for (let k = 0; k < layer.neurons; k++) most = Math.max(most, layer.inputStart[k + 1] - layer.inputStart[k]);
    return most;
  }

  /** One major order of a layer's weights (its starts, indices and float32 weights) copied in and widened by the engine. */
  private writeWeights(start: Uint32Array, index: Uint32Array, weight: Float32Array, nnz: number, startRegion: Region, indexRegion: Region, wideRegion: Region, shift: number): void {
    const n = this.neurons, R = this.layerRegions;
    startRegion.reserve(4 * (n + 1));
    indexRegion.reserve(4 * nnz);
    wideRegion.reserve(8 * nnz);
    const { u32, f32 } = this.memory.views;
    u32.set(start.subarray(0, n + 1), startRegion.offset >> 2);
    u32.set(index.subarray(0, nnz), indexRegion.offset >> 2);
    f32.set(weight.subarray(0, nnz), R.narrow.offset >> 2);
    this.engine.prepare(nnz, indexRegion.offset, shift, R.narrow.offset, wideRegion.offset);
  }

  /** The layer header, and the weights in the engine's form for the paths this call takes. */
  private writeLayer(layer: PreparedLayer, bias: number, cap: number, gather: boolean, scatter: boolean, list: number, listCount: number, all: boolean): void {
    const n = this.neurons, nnz = layer.nonzeros;
    const R = this.layerRegions;
    if (gather || scatter) R.narrow.reserve(4 * nnz);
    if (gather) {
      const { outputStart, inputIndex, weight } = layer.outputMajor;
      this.writeWeights(outputStart, inputIndex, weight, nnz, R.outputStart, R.gatherRows, R.gatherWeights, 6);
    }
    if (scatter) {
      const { inputStart, outputIndex, weight } = layer.inputMajor;
      this.writeWeights(inputStart, outputIndex, weight, nnz, R.inputStart, R.scatterOutputs, R.scatterWeights, 3);
    }
    const { i32, f64 } = this.memory.views;
    const h = this.layerHeader;
    i32[(h + LayerField.Neurons) >> 2] = n;
    i32[(h + LayerField.OutputStart) >> 2] = R.outputStart.offset;
    i32[(h + LayerField.GatherRows) >> 2] = R.gatherRows.offset;
    i32[(h + LayerField.GatherWeights) >> 2] = R.gatherWeights.offset;
    i32[(h + LayerField.InputStart) >> 2] = R.inputStart.offset;
    i32[(h + LayerField.ScatterOutputs) >> 2] = R.scatterOutputs.offset;
    i32[(h + LayerField.ScatterWeights) >> 2] = R.scatterWeights.offset;
    i32[(h + LayerField.Outputs) >> 2] = list;
    i32[(h + LayerField.OutputCount) >> 2] = listCount;
    i32[(h + LayerField.AllOutputs) >> 2] = all ? 1 : 0;
    f64[(h + LayerField.Bias) >> 3] = bias;
    f64[(h + LayerField.Cap) >> 3] = cap;
  }

  /** The rows' starts: counts are known for every row, nothing is read out. */
  rowStartOf(slot: OutputSlot): Uint32Array {
    if (!slot.rowStartView) {
      const places = slot.places, rows = places.rows;
      if (slot.rowStart.length < rows + 1) slot.rowStart = new Uint32Array(rows + 1);
      const rowStart = slot.rowStart;
      rowStart[0] = 0;
      for (let r = 0; r < rows; r++) rowStart[r + 1] = rowStart[r] + (places.kind[r] === DEAD ? 0 : places.length[r]);
      slot.rowStartView = rowStart.subarray(0, rows + 1);
    }
    return slot.rowStartView;
  }

  /**
   * The rows as column indices and values: lanes read out by the engine (in row order: each
   * read-out writes one entry past its end, which the next row overwrites), sparse rows copied.
   */
  entriesOf(slot: OutputSlot): { columnIndex: Uint32Array; value: Float32Array } {
    if (!slot.entries) {
      const rowStart = this.rowStartOf(slot);
      const places = slot.places, rows = places.rows, nonzeros = rowStart[rows];
      slot.readOut.reserve(nonzeros + 1);
      const cols = slot.readOut.cols.offset, vals = slot.readOut.vals.offset;
      let lanes = 0;
      for (let i = 0; i < places.liveCount; i++) if (places.kind[places.live[i]] === LANE) lanes++;
      if (lanes > 0) {
        this.readOutJobs.reserve(lanes * JOB_BYTES);
        const i32 = this.memory.views.i32;
        let j = this.readOutJobs.offset >> 2;
        for (let i = 0; i < places.liveCount; i++) {
          const r = places.live[i];
          if (places.kind[r] !== LANE) continue;
          i32[j] = Job.Extract; i32[j + 1] = places.a[r]; i32[j + 2] = places.b[r]; i32[j + 3] = places.list; i32[j + 4] = places.listCount;
          i32[j + 5] = cols + 4 * rowStart[r]; i32[j + 6] = vals + 4 * rowStart[r];
          j += JOB_WORDS;
        }
        this.engine.run(this.layerHeader, this.threadHeaders[0], this.readOutJobs.offset, lanes);
      }
      const u8 = this.memory.views.u8;
      for (let i = 0; i < places.liveCount; i++) {
        const r = places.live[i];
        if (places.kind[r] !== ENTRIES) continue;
        const bytes = 4 * places.length[r];
        u8.copyWithin(cols + 4 * rowStart[r], places.a[r], places.a[r] + bytes);
        u8.copyWithin(vals + 4 * rowStart[r], places.b[r], places.b[r] + bytes);
      }
      const buffer = this.memory.memory.buffer;
      slot.entries = { columnIndex: new Uint32Array(buffer, cols, nonzeros), value: new Float32Array(buffer, vals, nonzeros) };
    }
    return slot.entries;
  }
}

const closeOnCollect = new FinalizationRegistry<KernelState>((state) => state.close());

/**
 * The layer kernel: applies layers to activation rows. One instance per thread of the caller;
 * the returned rows are views into its buffers, valid until the call after next (two alternate).
 */
export class SparseLayerKernel implements LayerKernel {
  readonly name: string;
  readonly threads: number;
  private readonly state: KernelState;

  constructor(neurons: number, options: SparseKernelOptions = {}) {
    const engine = options.gatherEngine ?? 'wasm-simd';
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_KERNEL_THREADS) {
      throw new UsageError(`kernel threads must be a whole number from 1 to ${MAX_KERNEL_THREADS}, got ${threads}`, { field: 'threads' });
    }
    if (threads > 1 && engine !== 'wasm-simd') {
      throw new UsageError(`kernel threads need the wasm-simd engine (the ${engine} engine runs on one thread)`, { field: 'threads' });
    }
    this.threads = threads;
    const once = options.identicalRowsOnce ?? false;
    this.state = new KernelState(neurons, options.gatherAboveDensity ?? DEFAULT_GATHER_ABOVE_DENSITY, engine, threads, once);
    this.name = `typescript (gather: ${engine}${threads > 1 ? `, ${threads} threads` : ''}${once ? ', identical rows once' : ''})`;
    if (threads > 1) closeOnCollect.register(this, this.state, this);
  }

  apply(input: SparseRows, layer: PreparedLayer, bias: number, cap: number, work?: LayerWork): SparseRows {
    return this.state.apply(input, layer, bias, cap, work);
  }

  /** Bytes of the kernel's working memory (its shared WebAssembly memory, which only grows). */
  get memoryBytes(): number {
    return this.state.memory.memory.buffer.byteLength;
  }

  /** Stops the helper threads; the kernel cannot be used afterwards if it had any. */
  close(): void {
    closeOnCollect.unregister(this);
    this.state.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
