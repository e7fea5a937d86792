// The kernel's helper threads: node:worker_threads that each run the layer engine's WebAssembly on
// the kernel's shared memory, so a layer's rows are split over every vCPU a Lambda function is
// given (1,769 MB per vCPU, up to 6) with no copies: the kernel's own thread writes a layer's task
// list, every thread takes tasks from it through one atomic cursor (a thread that the host slows
// down takes fewer), and the kernel's thread waits (Atomics) until the others are done. The
// `apply` of a layer stays synchronous.
//
// The threads are started from source text (`eval`), not from a file, so a bundled Lambda function
// needs no extra entry point; they are unref'd (an idle kernel never keeps a process alive) and
// stopped by close().

import { Worker } from 'node:worker_threads';
import type { KernelMemory } from './layout.ts';

/** Control words (int32) at the start of the control region. */
const EPOCH = 0, DONE = 1, READY = 2, FAILED = 3, STOP = 4, SLOTS = 8;
/** Per helper thread: layer, thread header, tasks, task count, cursor. */
const SLOT_WORDS = 5;
const MESSAGE_BYTES = 512;
/** How long a thread may take to start (module loading on a cold, shared host included). */
const START_TIMEOUT_MS = 60_000;

export const MAX_KERNEL_THREADS = 64;

/** What a helper thread runs: instantiate the engine on the shared memory, then wait for job lists. */
const THREAD_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, index } = workerData;
const runTasks = new WebAssembly.Instance(module, { env: { memory } }).exports.runTasks;
const ctl = new Int32Array(memory.buffer, control, ${SLOTS + SLOT_WORDS * MAX_KERNEL_THREADS});
const message = new Uint8Array(memory.buffer, control + ${(SLOTS + SLOT_WORDS * 64) * 4}, ${MESSAGE_BYTES});
Atomics.add(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let epoch = 0;
for (;;) {
  Atomics.wait(ctl, ${EPOCH}, epoch);
  const next = Atomics.load(ctl, ${EPOCH});
  if (next === epoch) continue;
  epoch = next;
  if (Atomics.load(ctl, ${STOP})) break;
  const s = ${SLOTS} + index * ${SLOT_WORDS};
  try {
    runTasks(ctl[s], ctl[s + 1], ctl[s + 2], ctl[s + 3], ctl[s + 4]);
  } catch (error) {
    if (Atomics.compareExchange(ctl, ${FAILED}, 0, index + 1) === 0) {
      new TextEncoder().encodeInto(String(error && error.message || error).slice(0, ${MESSAGE_BYTES / 4}), message);
    }
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;

/** One thread's call of the engine's runTasks: the layer, its own thread header, the shared task list and cursor. */
export interface ThreadWork {
  readonly layer: number;
  readonly thread: number;
  readonly tasks: number;
  readonly taskCount: number;
  readonly cursor: number;
}

export class KernelThreads {
  /** Helper threads (the kernel's own thread is not one of them). */
  readonly helpers: number;
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly message: Uint8Array;
  private ready = false;
  private closed = false;

  constructor(module: WebAssembly.Module, memory: KernelMemory, helpers: number) {
    if (helpers + 1 > MAX_KERNEL_THREADS) throw new RangeError(`at most ${MAX_KERNEL_THREADS} kernel threads`);
    this.helpers = helpers;
    const words = SLOTS + SLOT_WORDS * MAX_KERNEL_THREADS;
    const control = memory.allocate(words * 4 + MESSAGE_BYTES);
    this.ctl = new Int32Array(memory.memory.buffer, control, words);
    this.message = new Uint8Array(memory.memory.buffer, control + words * 4, MESSAGE_BYTES);
    for (let index = 0; index < helpers; index++) {
      const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { module, memory: memory.memory, control, index } });
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Runs `work[0]` on this thread with `runHere` and `work[1 ..]` on the helpers, all at once, until all are done. */
  run(work: readonly ThreadWork[], runHere: (w: ThreadWork) => void): void {
    if (this.closed) throw new Error('kernel threads used after close()');
    if (work.length !== this.helpers + 1) throw new RangeError(`${work.length} job lists for ${this.helpers + 1} threads`);
    this.waitReady();
    const ctl = this.ctl;
    for (let t = 1; t < work.length; t++) {
      const s = SLOTS + (t - 1) * SLOT_WORDS, w = work[t];
      ctl[s] = w.layer; ctl[s + 1] = w.thread; ctl[s + 2] = w.tasks; ctl[s + 3] = w.taskCount; ctl[s + 4] = w.cursor;
    }
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, EPOCH, 1);
    Atomics.notify(ctl, EPOCH);
    runHere(work[0]);
    let finished: number;
    while ((finished = Atomics.load(ctl, DONE)) < this.helpers) Atomics.wait(ctl, DONE, finished);
    const failed = Atomics.load(ctl, FAILED);
    if (failed) {
      const text = new TextDecoder().decode(this.message.slice()).replace(/\0+$/, '');
      this.close();
      throw new Error(`kernel thread ${failed} failed: ${text}`);
    }
  }

  private waitReady(): void {
    if (this.ready) return;
    const deadline = performance.now() + START_TIMEOUT_MS;
    let ready: number;
    while ((ready = Atomics.load(this.ctl, READY)) < this.helpers) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.helpers - ready} of ${this.helpers} kernel threads did not start within ${START_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.ctl, READY, ready, left);
    }
    this.ready = true;
  }

  /** Stops the helper threads (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, EPOCH, 1);
    Atomics.notify(this.ctl, EPOCH);
  }
}
