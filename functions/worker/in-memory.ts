// Runs every worker's shard on its own, in one process, with an in-memory exchange between
// layers: each worker sees only its shard, the slice of the inputs it was staged and the slices
// it receives, as a distributed run would. The final slices of every worker are merged into the
// full output rows, which must equal serial inference bit for bit (test/shards/).

import { ShapeMismatchError } from '../../model/errors.ts';
import { nonzeroRows, rowsNonzeros, type SparseRows } from '../../model/network.ts';
import type { Shard } from '../../model/shard.ts';
import { mergeSlices, type ActivationSlice } from './activation-slice.ts';
import { ShardWorker, type IncomingSlice, type ShardWorkerOptions } from './shard-worker.ts';

export interface ShardRunResult {
  /** Final activations of all workers merged (N columns). */
  readonly activations: SparseRows;
  /** 0-based ids of the inputs whose final row has a nonzero. */
  readonly categories: number[];
  /** Per worker: multiply-adds its kernel executed. */
  readonly multiplyAdds: readonly number[];
  /** Activation nonzeros sent between workers over all layers. */
  readonly sentNonzeros: number;
}

/** Runs `shards` (one per worker, in worker order) on `inputs`. */
export function runShardsInMemory(shards: readonly Shard[], inputs: SparseRows, options: ShardWorkerOptions = {}): ShardRunResult {
  const p = shards.length;
  shards.forEach((s, w) => {
    if (s.worker !== w || s.workers !== p) throw new ShapeMismatchError(`shard ${w} of ${p} is worker ${s.worker} of ${s.workers}`, { worker: w });
  });
  const workers = shards.map((s) => new ShardWorker(s, options));
  let own: ActivationSlice[] = workers.map((w) => w.inputSlice(inputs));
  let sentNonzeros = 0;
  const layers = shards[0].layers.length;
  for (let l = 1; l <= layers; l++) {
    const inbox: IncomingSlice[][] = Array.from({ length: p }, () => []);
    workers.forEach((w, source) => {
      for (const out of w.outgoing(l, own[source])) {
        inbox[out.target].push({ source, slice: out.slice });
        sentNonzeros += rowsNonzeros(out.slice.rows);
      }
    });
    own = workers.map((w, i) => w.computeLayer(l, own[i], inbox[i]));
  }
  const activations = mergeSlices(own, inputs.rows, inputs.columns);
  return { activations, categories: nonzeroRows(activations), multiplyAdds: workers.map((w) => w.work.multiplyAdds), sentNonzeros };
}
