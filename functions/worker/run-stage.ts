// One worker's layers of one stage: the loop the worker handler runs between loading its inputs
// and writing its rows. The stage's first layer reads rows loaded from S3 (all at hand); every
// later layer exchanges over the stage's channel:
//   1. split its own rows of Y_{l-1} by target (set) and start sending them,
//   2. compute the outputs that need only its own rows while the remote rows are in flight,
//   3. wait for every source's rows of the layer (or fail at the deadline naming what is missing),
//   4. compute the outputs that read remote rows, and keep its slice of Y_l.
// Each step is timed and its channel requests counted, per layer.

import { StepinferError } from '../../model/errors.ts';
import type { Channel, ChannelCounters } from '../channels/channel.ts';
import { zeroCounters } from '../channels/channel.ts';
import type { SendMode } from '../channels/routing.ts';
import type { WorkerLayer } from '../handlers/events.ts';
import type { ActivationSlice } from './activation-slice.ts';
import type { IncomingSlice, ShardWorker } from './shard-worker.ts';

export interface RunStageOptions {
  readonly worker: ShardWorker;
  readonly firstLayer: number;
  readonly lastLayer: number;
  /** Null only for a one-layer stage. */
  readonly channel: Channel | null;
  readonly sendMode: SendMode;
  /** This worker's rows of Y_{firstLayer-1} and what the sources sent of theirs (loaded from S3). */
  readonly own: ActivationSlice;
  readonly received: readonly IncomingSlice[];
  /** The deadline (ms, `now`'s clock) of a receive that starts now. */
  readonly receiveDeadline: () => number;
  readonly now?: () => number;
  /** Called after each layer (logging, progress). */
  readonly onLayer?: (layer: WorkerLayer) => void;
}

export interface StageOutcome {
  /** This worker's rows of Y_lastLayer. */
  readonly own: ActivationSlice;
  readonly layers: WorkerLayer[];
}

export async function runStage(o: RunStageOptions): Promise<StageOutcome> {
  const now = o.now ?? Date.now;
  const w = o.worker;
  const layers: WorkerLayer[] = [];
  const record = (layer: WorkerLayer) => { layers.push(layer); o.onLayer?.(layer); };
  const before = () => w.work.multiplyAdds;

  // First layer: everything it reads is already here.
  let start = now(), macs = before();
  let own = w.computeLayer(o.firstLayer, o.own, o.received);
  record({ layer: o.firstLayer, startMs: start, endMs: now(), sendMs: 0, computeMs: now() - start, waitMs: 0, via: 'objects', counters: zeroCounters(), multiplyAdds: before() - macs });

  for (let l = o.firstLayer + 1; l <= o.lastLayer; l++) {
    start = now();
    macs = before();
    const peers = w.peers(l), sources = w.sources(l);
    const channel = o.channel;
    if (!channel) {
      if (peers.length > 0 || sources.length > 0) throw new StepinferError(`layers ${o.firstLayer}-${o.lastLayer} exchange rows but the stage has no channel`, { worker: w.shard.worker, layer: l });
      // Nothing to exchange (one worker): the whole layer from its own rows.
      own = w.computeLayer(l, own, []);
      record({ layer: l, startMs: start, endMs: now(), sendMs: 0, computeMs: now() - start, waitMs: 0, via: 'local', counters: zeroCounters(), multiplyAdds: before() - macs });
      continue;
    }
    const groups = w.sendGroups(l, own, o.sendMode);
    // Packing runs before send's first await; the publishes then proceed while the kernel works.
    // A worker nobody reads from in this layer sends nothing.
    const sending = peers.length === 0 ? Promise.resolve(zeroCounters()) : channel.send(l, groups, peers);
    // A send that fails while the kernel runs is reported by the await below, not as unhandled.
    sending.catch(() => undefined);
    const splitMs = now() - start;
    const computeStart = now();
    const local = w.computeLocal(l, own);
    let computeMs = now() - computeStart;
    const sendWaitStart = now();
    const sent = await sending;
    const sendMs = splitMs + (now() - sendWaitStart);
    const waitStart = now();
    const received = await channel.receive(l, sources, o.receiveDeadline());
    const waitMs = now() - waitStart;
    const remoteStart = now();
    own = w.computeRemote(l, own, w.receivedRows(l, received.rows, own.rows.rows), local);
    computeMs += now() - remoteStart;
    record({ layer: l, startMs: start, endMs: now(), sendMs, computeMs, waitMs, via: 'channel', counters: sumCounters(sent, received.counters), multiplyAdds: before() - macs });
  }
  return { own, layers };
}

export function sumCounters(a: ChannelCounters, b: ChannelCounters): ChannelCounters {
  const out = zeroCounters();
  for (const key of Object.keys(out) as (keyof ChannelCounters)[]) out[key] = a[key] + b[key];
  return out;
}
