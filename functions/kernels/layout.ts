// The layer engine's memory: one shared WebAssembly memory that every kernel thread's engine works
// in, the byte layout of what the TypeScript side writes there for the engines (the layer header,
// the thread headers, the job records: layer-simd.wat reads the same offsets), and the regions the
// kernel keeps in it. All pointers are byte offsets into the memory.

/** Activation rows per block: lane i of neuron k is the float32 at block + k * 64 + i * 4. */
export const LANES = 16;
/** Bytes of one neuron's 16 lanes in a block (one cache line). */
export const LANE_ROW_BYTES = LANES * 4;
export const blockBytes = (neurons: number) => neurons * LANE_ROW_BYTES;

/** Job kinds (the first word of a job record). */
export const Job = {
  /** block: zero the whole block. */
  ZeroBlock: 1,
  /** block, lane, cols, vals, count: a sparse row into a zeroed lane. */
  FillLane: 2,
  /** dst, dstLane, src, srcLane: a lane into another. */
  CopyLane: 3,
  /** in, out, counts: the gather of one block (counts: 16 int32, the lanes' nonzeros). */
  Gather: 4,
  /** cols, vals, count -> entry, length, macs: the scatter of one sparse row into the staging area. */
  Scatter: 5,
  /** block, lane, list, listCount -> entry, length, macs: the scatter of a lane, read out over the list. */
  ScatterLane: 6,
  /** block, lane, list, listCount, outCols, outVals -> length: a lane as a sparse row. */
  Extract: 7,
  /** block, list, listCount, hashes: a hash of each lane's bits over the list (16 int32). */
  HashBlock: 8,
  /** blockA, laneA, blockB, laneB, list, listCount -> 1 if the two lanes hold the same bits. */
  SameLanes: 9,
} as const;
/**
 * Words (int32) per job record: the kind, up to 6 arguments, then results: a scatter's at words 5
 * to 8 (entry in its thread's staging area, length, multiply-adds, thread), an extract's or a
 * comparison's at 7. A block argument of -1 means the running thread's own pack block.
 */
export const JOB_WORDS = 16;
export const JOB_BYTES = JOB_WORDS * 4;
export const JOB_RESULT_ENTRY = 5;
export const JOB_RESULT_LENGTH = 6;
export const JOB_RESULT_MACS = 7;
export const JOB_RESULT_THREAD = 8;
export const THREADS_PACK_BLOCK = -1;

/** A task: jobs that run in order on one thread (first job pointer, count, failed flag, unused). */
export const TASK_WORDS = 4;
export const TASK_BYTES = TASK_WORDS * 4;

/** The layer header (byte offsets). */
export const LayerField = {
  Neurons: 0,
  /** uint32[n + 1]: output j's edges in the gather arrays. */
  OutputStart: 4,
  /** uint32[nnz]: each edge's input k as its offset in a block (k * 64). */
  GatherRows: 8,
  /** float64[nnz]: each edge's weight. */
  GatherWeights: 12,
  /** uint32[n + 1]: input k's edges in the scatter arrays. */
  InputStart: 16,
  /** uint32[nnz]: each edge's output j as its offset in the accumulator (j * 8). */
  ScatterOutputs: 20,
  /** float64[nnz] */
  ScatterWeights: 24,
  /** uint32[]: the outputs computed, ascending (all n, or a worker's share). */
  Outputs: 28,
  OutputCount: 32,
  /** 1 when Outputs lists all n (the gather then writes every output; else it zeroes the block first). */
  AllOutputs: 36,
  /** float64 */
  Bias: 40,
  /** float64 */
  Cap: 48,
} as const;
export const LAYER_HEADER_BYTES = 64;

/** A thread header (byte offsets): its scratch and its staging area for scattered rows. */
export const ThreadField = {
  /** float64[n], zero between rows. */
  Accumulator: 0,
  /** uint32[ceil(n / 32)], zero between rows. */
  Bitmap: 4,
  /** uint32[n + 1] and float32[n + 1]: a lane read out for its scatter. */
  ScratchCols: 8,
  ScratchVals: 12,
  /** uint32[capacity] and float32[capacity]: the scattered rows' outputs, appended. */
  StagingCols: 16,
  StagingVals: 20,
  StagingCapacity: 24,
  StagingUsed: 28,
  /** The block the thread packs rows into (jobs name it -1). */
  PackBlock: 32,
  /** The thread's index (0: the kernel's own), written into its scatters' results. */
  Index: 36,
} as const;
export const THREAD_HEADER_BYTES = 64;

/** The first bytes of the memory are the engine's constants (layer-simd.wat's compaction table at 512). */
const RESERVED_BYTES = 1024;
/**
 * A scatter's read-out stores 4 entries at a time: a staging area holds a row's bound plus this
 * many (the engines check before they start a row).
 */
export const STAGING_SLACK = 4;
const PAGE_BYTES = 65536;
/**
 * The most the kernel's memory may grow to, in pages: 2 GiB, so that every byte offset is a
 * non-negative int32 (the TypeScript side shifts them with >>). A shared memory must declare it.
 */
export const MAX_PAGES = 32768;
const ALIGN = 64;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Typed views of the whole memory, re-made after it grows. */
export interface MemoryViews {
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
}

/**
 * The shared memory and a first-fit allocator over it (freed ranges are reused and merged). Only
 * the kernel's own thread allocates; the other threads see the memory grow through their engines.
 */
export class KernelMemory {
  readonly memory: WebAssembly.Memory;
  private top = RESERVED_BYTES;
  /** Free ranges [offset, offset + bytes), by offset, none adjacent. */
  private free: { offset: number; bytes: number }[] = [];
  private current!: MemoryViews;

  constructor() {
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    this.refresh();
  }

  get views(): MemoryViews {
    return this.current;
  }

  private refresh(): void {
    const buffer = this.memory.buffer;
    this.current = {
      u8: new Uint8Array(buffer), i32: new Int32Array(buffer), u32: new Uint32Array(buffer),
      f32: new Float32Array(buffer), f64: new Float64Array(buffer),
    };
  }

  allocate(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1));
    const i = this.free.findIndex((f) => f.bytes >= size);
    if (i >= 0) {
      const f = this.free[i];
      const offset = f.offset;
      if (f.bytes === size) this.free.splice(i, 1); else { f.offset += size; f.bytes -= size; }
      return offset;
    }
    const offset = this.top;
    this.top += size;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      const pages = Math.ceil((this.top - have) / PAGE_BYTES);
      if (have / PAGE_BYTES + pages > MAX_PAGES) {
        throw new RangeError(`the kernel needs ${Math.ceil(this.top / 2 ** 20)} MiB of working memory, more than its 2 GiB`);
      }
      this.memory.grow(pages);
      this.refresh();
    }
    return offset;
  }

  release(offset: number, bytes: number): void {
    if (bytes <= 0) return;
    const size = alignUp(bytes);
    let i = 0;
    while (i < this.free.length && this.free[i].offset < offset) i++;
    this.free.splice(i, 0, { offset, bytes: size });
    // merge with the neighbours
    if (i + 1 < this.free.length && this.free[i].offset + this.free[i].bytes === this.free[i + 1].offset) {
      this.free[i].bytes += this.free[i + 1].bytes;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].offset + this.free[i - 1].bytes === this.free[i].offset) {
      this.free[i - 1].bytes += this.free[i].bytes;
      this.free.splice(i, 1);
    }
    // a free range at the top goes back to the top
    const last = this.free[this.free.length - 1];
    if (last.offset + last.bytes === this.top) { this.top = last.offset; this.free.pop(); }
  }
}

/** A growable range of the memory. Growing may move it: read `offset` after `reserve`. */
export class Region {
  offset = 0;
  bytes = 0;
  private readonly memory: KernelMemory;

  constructor(memory: KernelMemory, bytes = 0) {
    this.memory = memory;
    if (bytes > 0) this.reserve(bytes);
  }

  /**
   * Makes the region at least `bytes` long (growing by half again at least, so repeated growth
   * is rare), keeping its first `keepBytes` bytes.
   */
  reserve(bytes: number, keepBytes = 0): void {
    if (bytes <= this.bytes) return;
    const size = alignUp(Math.max(bytes, Math.floor(this.bytes * 1.5)));
    const offset = this.memory.allocate(size);
    if (keepBytes > 0) this.memory.views.u8.copyWithin(offset, this.offset, this.offset + keepBytes);
    this.memory.release(this.offset, this.bytes);
    this.offset = offset;
    this.bytes = size;
  }
}
