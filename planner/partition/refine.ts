// k-way refinement of a partition under the km1 (connectivity - 1) objective with per-constraint
// (per-layer) capacities. Greedy, gain-driven moves in the style of label propagation, plus
// pairwise swaps for when the target part is full: on coarse levels vertices weigh as much as
// the balance slack, so single moves are rarely feasible there and swaps do the work.

import type { SeededRandom } from '../../model/random.ts';
import type { Hypergraph } from './hypergraph.ts';

export interface RefineOptions {
  /** most passes over all vertices; stops early when a pass gains less than minPassGain */
  readonly passes: number;
  readonly minPassGain?: number;
  /** also stop when a pass gains less than this fraction of the cut */
  readonly minRelativePassGain?: number;
  /** swap partners tried per blocked move (all members of the target part when it has fewer) */
  readonly swapCandidates: number;
  /** target parts tried for a swap, best gain first */
  readonly swapTargets: number;
  readonly random: SeededRandom;
}

/** Mutable state of one refinement: pin counts per (net, part), loads per (constraint, part). */
export class Km1State {
  readonly hg: Hypergraph;
  readonly workers: number;
  readonly part: Uint16Array;
  /** pinCount[e * workers + p]: pins of net e in part p */
  readonly pinCount: Uint32Array;
  /** connectivity set of every net as a bitset of parts: bit p of word e * maskWords + (p >> 5) */
  readonly connectivity: Uint32Array;
  readonly maskWords: number;
  /** load[c * workers + p]: neurons of constraint c in part p */
  readonly load: Float64Array;
  readonly capacity: Float64Array;
  /** vertices of (constraint c, part p): members[c * workers + p] */
  readonly members: number[][];
  readonly memberSlot: Uint32Array;
  cut: number;
  // scratch for gain evaluation
  private readonly connected: Float64Array;

  constructor(hg: Hypergraph, part: Uint16Array, workers: number, capacity: Float64Array) {
    this.hg = hg;
    this.workers = workers;
    this.part = part;
    this.capacity = capacity;
    this.pinCount = new Uint32Array(hg.nets * workers);
    this.maskWords = (workers + 31) >>> 5;
    this.connectivity = new Uint32Array(hg.nets * this.maskWords);
    this.load = new Float64Array(hg.constraints * workers);
    this.members = Array.from({ length: hg.constraints * workers }, () => [] as number[]);
    this.memberSlot = new Uint32Array(hg.vertices);
    this.connected = new Float64Array(workers);
    for (let v = 0; v < hg.vertices; v++) {
      const key = hg.constraint[v] * workers + part[v];
      this.load[key] += hg.vertexWeight[v];
      this.memberSlot[v] = this.members[key].length;
      this.members[key].push(v);
    }
    let cut = 0;
    for (let e = 0; e < hg.nets; e++) {
      let lambda = 0;
      for (let i = hg.netStart[e]; i < hg.netStart[e + 1]; i++) {
        const b = part[hg.pins[i]];
        if (this.pinCount[e * workers + b]++ === 0) {
          lambda++;
          this.connectivity[e * this.maskWords + (b >>> 5)] |= 1 << (b & 31);
        }
      }
      cut += hg.netWeight[e] * (lambda - 1);
    }
    this.cut = cut;
  }

  /** Fills gain[b] with the cut reduction of moving v to part b (gain[part[v]] = 0). */
  gains(v: number, gain: Float64Array): void {
    const { hg, workers, pinCount, connected, connectivity, maskWords } = this;
    const a = this.part[v];
    connected.fill(0);
    let benefit = 0;
    let total = 0;
    for (let i = hg.vertexStart[v]; i < hg.vertexStart[v + 1]; i++) {
      const e = hg.incidentNets[i];
      const w = hg.netWeight[e];
      total += w;
      if (pinCount[e * workers + a] === 1) benefit += w;
      // walk the net's connectivity set: a few parts, however many pins the net has
      for (let word = 0; word < maskWords; word++) {
        let bits = connectivity[e * maskWords + word];
        while (bits !== 0) {
          const low = bits & -bits;
          connected[(word << 5) + 31 - Math.clz32(low)] += w;
          bits ^= low;
        }
      }
    }
    for (let b = 0; b < workers; b++) gain[b] = b === a ? 0 : benefit - (total - connected[b]);
  }

  /** The cut reduction of moving v to part b. */
  gainTo(v: number, b: number): number {
    const { hg, workers, pinCount } = this;
    const a = this.part[v];
    let gain = 0;
    for (let i = hg.vertexStart[v]; i < hg.vertexStart[v + 1]; i++) {
      const e = hg.incidentNets[i];
      const base = e * workers;
      if (pinCount[base + a] === 1) gain += hg.netWeight[e];
      if (pinCount[base + b] === 0) gain -= hg.netWeight[e];
    }
    return gain;
  }

  /** Moves v to part b, keeping counts, loads, member lists and the cut exact. */
  move(v: number, b: number): void {
    const { hg, workers, pinCount } = this;
    const a = this.part[v];
    if (a === b) return;
    let delta = 0;
    for (let i = hg.vertexStart[v]; i < hg.vertexStart[v + 1]; i++) {
      const e = hg.incidentNets[i];
      const base = e * workers;
      if (--pinCount[base + a] === 0) {
        delta -= hg.netWeight[e];
        this.connectivity[e * this.maskWords + (a >>> 5)] &= ~(1 << (a & 31));
      }
      if (pinCount[base + b]++ === 0) {
        delta += hg.netWeight[e];
        this.connectivity[e * this.maskWords + (b >>> 5)] |= 1 << (b & 31);
      }
    }
    this.cut += delta;
    const c = hg.constraint[v];
    const w = hg.vertexWeight[v];
    this.load[c * workers + a] -= w;
    this.load[c * workers + b] += w;
    const from = this.members[c * workers + a];
    const slot = this.memberSlot[v];
    const last = from.pop()!;
    if (last !== v) { from[slot] = last; this.memberSlot[last] = slot; }
    const to = this.members[c * workers + b];
    this.memberSlot[v] = to.length;
    to.push(v);
    this.part[v] = b;
  }

  /** parts net e touches */
  lambda(e: number): number {
    let count = 0;
    for (let word = 0; word < this.maskWords; word++) {
      let bits = this.connectivity[e * this.maskWords + word];
      while (bits !== 0) { bits &= bits - 1; count++; }
    }
    return count;
  }

  fits(v: number, b: number): boolean {
    const c = this.hg.constraint[v];
    return this.load[c * this.workers + b] + this.hg.vertexWeight[v] <= this.capacity[c];
  }
}

/**
 * Greedy km1 refinement: each vertex moves to its best part when that gains; when the part is
 * full, the best swap partner from that part moves the other way if the pair gains. Never
 * increases the cut and never breaks a capacity that held before.
 */
export function refinePartition(state: Km1State, options: RefineOptions): number {
  const { hg, workers } = state;
  const gain = new Float64Array(workers);
  const tried = new Uint8Array(workers);
  const minPassGain = options.minPassGain ?? 0;
  let totalGain = 0;
  // Only vertices on the cut can gain, and after the first pass only those near a move.
  const active = new Uint8Array(hg.vertices);
  for (let e = 0; e < hg.nets; e++) {
    if (state.lambda(e) < 2) continue;
    for (let i = hg.netStart[e]; i < hg.netStart[e + 1]; i++) active[hg.pins[i]] = 1;
  }
  const nextActive = new Uint8Array(hg.vertices);
    for (let pass = 0; pass < options.passes; pass++) {
    const before = state.cut;
    const order = options.random.permutation(hg.vertices);
    for (let oi = 0; oi < hg.vertices; oi++) {
      const u = order[oi];
      if (!active[u]) continue;
      const a = state.part[u];
      state.gains(u, gain);
      // Best feasible move, and best move regardless of capacity (for a swap).
      let bestFree = -1;
      let bestFreeGain = 0;
      let bestAny = -1;
      let bestAnyGain = 0;
      const c = hg.constraint[u];
      for (let b = 0; b < workers; b++) {
        if (b === a) continue;
        const g = gain[b];
        if (g > bestAnyGain || (g === bestAnyGain && g > 0 && state.load[c * workers + b] < state.load[c * workers + bestAny])) { bestAnyGain = g; bestAny = b; }
        if (g > 0 && state.fits(u, b) && (g > bestFreeGain || (g === bestFreeGain && state.load[c * workers + b] < state.load[c * workers + bestFree]))) { bestFreeGain = g; bestFree = b; }
      }
      if (bestFree >= 0 && bestFreeGain >= bestAnyGain) {
        state.move(u, bestFree);
        markNeighbours(hg, u, nextActive);
        continue;
      }
      if (bestAny < 0) continue;
      // Swaps: u goes to a full part b that it prefers, one of b's members comes back to a.
      // Targets are tried best first; the first swap that gains is taken.
      let swapped = false;
      for (let attempt = 0; attempt < options.swapTargets && !swapped; attempt++) {
        let b = -1;
        let bGain = bestFree >= 0 ? bestFreeGain : 0;
        for (let x = 0; x < workers; x++) if (x !== a && !tried[x] && gain[x] > bGain) { bGain = gain[x]; b = x; }
        if (b < 0) break;
        tried[b] = 1;
        const partner = trySwap(state, u, a, b, options);
        if (partner >= 0) {
          swapped = true;
          markNeighbours(hg, u, nextActive);
          markNeighbours(hg, partner, nextActive);
        }
      }
      tried.fill(0);
      if (!swapped && bestFree >= 0) {
        state.move(u, bestFree);
        markNeighbours(hg, u, nextActive);
      }
    }
    active.set(nextActive);
    nextActive.fill(0);
    const passGain = before - state.cut;
    totalGain += passGain;
    if (passGain <= minPassGain || passGain < (options.minRelativePassGain ?? 0) * state.cut) break;
  }
  return totalGain;
}

function markNeighbours(hg: Hypergraph, v: number, mark: Uint8Array): void {
  for (let i = hg.vertexStart[v]; i < hg.vertexStart[v + 1]; i++) {
    const e = hg.incidentNets[i];
    for (let p = hg.netStart[e]; p < hg.netStart[e + 1]; p++) mark[hg.pins[p]] = 1;
  }
}

/**
 * Moves u from a to b and the best member of b back to a if the pair lowers the cut, and returns
 * that member; else leaves both and returns -1.
 */
function trySwap(state: Km1State, u: number, a: number, b: number, options: RefineOptions): number {
  const { hg, workers } = state;
  const c = hg.constraint[u];
  const cutBefore = state.cut;
  state.move(u, b);
  const list = state.members[c * workers + b];
  let partner = -1;
  let partnerGain = -Infinity;
  const count = list.length;
  const tries = Math.min(count, options.swapCandidates);
  for (let t = 0; t < tries; t++) {
    const v = count <= options.swapCandidates ? list[t] : list[options.random.nextInt(count)];
    if (v === u) continue;
    const w = hg.vertexWeight[v];
    if (state.load[c * workers + b] - w > state.capacity[c]) continue;
    if (state.load[c * workers + a] + w > state.capacity[c]) continue;
    const g = state.gainTo(v, a);
    if (g > partnerGain) { partnerGain = g; partner = v; }
  }
  if (partner >= 0 && state.cut - partnerGain < cutBefore) {
    state.move(partner, a);
    return partner;
  }
  state.move(u, a);
  return -1;
}
