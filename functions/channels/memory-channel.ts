// An in-memory Channel (channel.ts) for unit tests of the code above a channel: the same packing
// (packing.ts) and reassembly (reassembly.ts) as the queue channel, with messages handed over in
// process. Not for production: nothing leaves the process, nothing is billed.

import { zeroCounters, channelTimeoutError, type Channel, type ChannelCounters, type ReceivedLayer } from './channel.ts';
import { packLayerRows, type RowGroup } from './packing.ts';
import { RowInbox } from './reassembly.ts';
import type { WireCodec } from './wire.ts';

/** The shared "network" of a memory channel: every worker's pending messages. */
export class MemoryBus {
  private readonly pending = new Map<number, Uint8Array[]>();
  private readonly waiters = new Map<number, () => void>();

  deliver(worker: number, wire: Uint8Array): void {
    let list = this.pending.get(worker);
    if (!list) this.pending.set(worker, list = []);
    list.push(wire);
    this.waiters.get(worker)?.();
  }

  take(worker: number): Uint8Array[] {
    const list = this.pending.get(worker) ?? [];
    this.pending.set(worker, []);
    return list;
  }

  /** Resolves when a message for `worker` arrives or after `ms`. */
  wait(worker: number, ms: number): Promise<void> {
    if ((this.pending.get(worker)?.length ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() { clearTimeout(timer); resolve(); }
      this.waiters.set(worker, () => { this.waiters.delete(worker); done(); });
    });
  }
}

export interface MemoryChannelOptions {
  readonly bus: MemoryBus;
  readonly run: number;
  readonly worker: number;
  readonly samples: number;
  readonly codec: WireCodec;
  readonly multicast: boolean;
  readonly now?: () => number;
}

export class MemoryChannel implements Channel {
  readonly worker: number;
  private readonly inbox: RowInbox;
  private readonly now: () => number;
  private readonly o: MemoryChannelOptions;

  constructor(o: MemoryChannelOptions) {
    this.o = o;
    this.worker = o.worker;
    this.inbox = new RowInbox({ run: o.run, target: o.worker, samples: o.samples });
    this.now = o.now ?? Date.now;
  }

  async send(layer: number, groups: readonly RowGroup[], peers: readonly number[]): Promise<ChannelCounters> {
    const counters = zeroCounters();
    const packed = packLayerRows(groups, {
      run: this.o.run, layer, source: this.worker, samples: this.o.samples, codec: this.o.codec, transport: 'base64-body',
      peers, multicastEmptyMarker: this.o.multicast,
    });
    for (const m of packed.messages) {
      for (const t of m.targets) this.o.bus.deliver(t, m.wire);
      counters.publishes++;
      counters.publishedMessages++;
      counters.publishedBytes += m.queueBytes;
    }
    return counters;
  }

  async receive(layer: number, sources: readonly number[], deadlineMs: number): Promise<ReceivedLayer> {
    const counters = zeroCounters();
    const started = this.now();
    for (;;) {
      const messages = this.o.bus.take(this.worker);
      counters.receives++;
      if (messages.length === 0) counters.emptyReceives++;
      for (const wire of messages) {
        counters.receivedMessages++;
        if (this.inbox.accept(wire) === 'duplicate') counters.duplicates++;
      }
      if (this.inbox.layerComplete(layer, sources)) return { rows: this.inbox.takeLayer(layer, sources), counters };
      const left = deadlineMs - this.now();
      if (left <= 0) throw channelTimeoutError(this.o.run, layer, this.worker, this.now() - started, this.inbox.missing(layer, sources));
      await this.o.bus.wait(this.worker, left);
    }
  }
}
