// Measures, on the profiled activations, what the planner cannot compute itself: how many bytes
// the channels' real wire format (functions/channels/wire.ts) and codec make of a layer's rows.
// The planner is pure and runs no codec, so it gets per layer a table of what parts of 1, 2, 4, ...
// rows cost (the compressed body of a set of whole rows, packing.ts), measured here on parts
// actually encoded and compressed (planner/latency/workload.ts PartBytesModel, partPayloadBytes),
// and, per layer and neuron, the nonzeros of that neuron's row (kept by workload-profile.ts).
//
// Why a table per layer: the bytes a nonzero costs after compression vary 55-fold across the real
// case's layers (planner/latency/wire-format.json), and within a layer bytes are far from linear
// in rows (layer 10: 1 row 1.6 KB, 64 rows 46 KB, 256 rows 93 KB, all 1,024 rows 92 KB: the rows
// repeat each other's sample sets and values); a line through (rows, nonzeros), fitted per layer,
// was off by up to 60% per layer on the real case.
//
// The parts measured are seeded random sets of a layer's rows with a nonzero (those are what the
// channels send), of 1, 2, 4, ... 64, 256, ... rows up to all of them: the sizes the channels' parts take, one
// source's rows for one set of targets. Each is encoded as packing.ts encodes a part and
// compressed with the plan's codec; like packing.ts, the payload is the compressed body only
// where that is smaller.
//
// Sampled rows: when the profile ran a random sample of S of the workload's R inputs, the parts are
// measured on the sample's rows (S samples wide) and the planner scales each row's nonzeros by
// R / S; the bytes per nonzero and per row are taken as measured. That holds where compression
// finds the same structure at both widths (values, repeated sample sets); sample-index gaps grow
// by R / S, so index-bound layers may cost up to one more byte per spelled-out index before
// compression: an underestimate, stated.

import { crc32 } from 'node:zlib';
import type { SparseRows } from '../../model/network.ts';
import { SeededRandom } from '../../model/random.ts';
import type { PartBytesModel } from '../../planner/latency/workload.ts';
import { activationRow, type ActivationColumns } from '../channels/routing.ts';
import { compressBody, encodeRowsBody, type ActivationRow, type WireCodec } from '../channels/wire.ts';

/** Random row sets measured per size: enough to average out which rows a part holds. */
export const PARTS_PER_SIZE = 2;

/** Sizes grow by this factor from PART_SIZES_DOUBLING_BELOW rows on (64, 256, ...): parts of every size the channels send, at a fraction of the encoding time. */
export const PART_SIZE_FACTOR = 4;

/** Below this many rows sizes double (cheap to encode; most parts are this small). */
export const PART_SIZES_DOUBLING_BELOW = 64;

/** One measured part. */
export interface MeasuredPart {
  readonly rows: number;
  readonly nonzeros: number;
  readonly payloadBytes: number;
}

/** Per neuron, the nonzeros of its row (a column of `y`, over the batch's samples). */
export function rowNonzeroCounts(y: SparseRows): Float64Array {
  const counts = new Float64Array(y.columns);
  const { rowStart, columnIndex } = y; // read once (see activationColumns)
  const end = rowStart[y.rows];
  for (let i = rowStart[0]; i < end; i++) counts[columnIndex[i]]++;
  return counts;
}

/**
 * Per neuron (a column of Y, transposed once per layer by the caller), the id of its row's content (equal sample indices and values, equal id; -1: no
 * nonzero). The real case's rows repeat each other: of 1,024 rows a layer has 52-64 distinct ones
 * (RadiX-Net's structure), and a part costs what its distinct rows cost (the codec finds the rest).
 */
export function rowContentClasses(columns: ActivationColumns): Int32Array {
  const classOf = new Int32Array(columns.neurons).fill(-1);
  const byHash = new Map<string, number[]>();
  let next = 0;
  const same = (a: ActivationRow, b: ActivationRow) => {
    if (a.sampleIndex.length !== b.sampleIndex.length) return false;
    for (let i = 0; i < a.sampleIndex.length; i++) if (a.sampleIndex[i] !== b.sampleIndex[i] || !Object.is(a.value[i], b.value[i])) return false;
    return true;
  };
  for (let k = 0; k < columns.neurons; k++) {
    if (columns.start[k + 1] === columns.start[k]) continue;
    const row = activationRow(columns, k);
    const bytesOf = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const key = `${row.sampleIndex.length}:${crc32(bytesOf(row.value), crc32(bytesOf(row.sampleIndex)))}`;
    const candidates = byHash.get(key) ?? [];
    const match = candidates.find((other) => same(activationRow(columns, other), row));
    if (match !== undefined) {
      classOf[k] = classOf[match];
    } else {
      classOf[k] = next++;
      candidates.push(k);
      byHash.set(key, candidates);
    }
  }
  return classOf;
}

/**
 * Encodes and compresses seeded random sets of `y`'s distinct rows (one per content class, the
 * lowest neuron), as packing.ts does one part; and what a repeated row adds (all rows with a
 * nonzero against their distinct ones).
 */
export function measureParts(columns: ActivationColumns, classOf: Int32Array, codec: WireCodec, seed: number): { parts: MeasuredPart[]; duplicateRowBytes: number } {
  const active: number[] = [], distinct: number[] = [];
  const seen = new Set<number>();
  for (let k = 0; k < columns.neurons; k++) {
    if (classOf[k] < 0) continue;
    active.push(k);
    if (!seen.has(classOf[k])) { seen.add(classOf[k]); distinct.push(k); }
  }
  const parts: MeasuredPart[] = [];
  if (distinct.length === 0) return { parts, duplicateRowBytes: 0 };
  const payloadOf = (neurons: readonly number[]) => {
    const rows: ActivationRow[] = neurons.map((k) => activationRow(columns, k));
    let nonzeros = 0;
    for (const row of rows) nonzeros += row.sampleIndex.length;
    const body = encodeRowsBody(rows, columns.samples);
    return { nonzeros, payloadBytes: Math.min(body.length, compressBody(body, codec).length) };
  };
  const random = new SeededRandom(seed);
  const sizes: number[] = [];
  for (let g = 1; g < distinct.length; g *= g < PART_SIZES_DOUBLING_BELOW ? 2 : PART_SIZE_FACTOR) sizes.push(g);
  sizes.push(distinct.length);
  for (const size of sizes) {
    const trials = size === distinct.length ? 1 : PARTS_PER_SIZE;
    for (let t = 0; t < trials; t++) {
      const order = random.permutation(distinct.length);
      const picked = Array.from(order.subarray(0, size), (i) => distinct[i]).sort((a, b) => a - b);
      const { nonzeros, payloadBytes } = payloadOf(picked);
      parts.push({ rows: size, nonzeros, payloadBytes });
    }
  }
  // Repeats measured on a random half of the rows, so the neuron ids between them have the gaps
  // a part's rows have (all rows at once have gaps of 0, which compress to nothing).
  let duplicateRowBytes = 0;
  if (active.length > distinct.length) {
    const order = random.permutation(active.length);
    const half = Array.from(order.subarray(0, Math.max(2, Math.ceil(active.length / 2))), (i) => active[i]).sort((a, b) => a - b);
    const firsts: number[] = [];
    const held = new Set<number>();
    for (const k of half) if (!held.has(classOf[k])) { held.add(classOf[k]); firsts.push(k); }
    if (half.length > firsts.length) duplicateRowBytes = Math.max(0, (payloadOf(half).payloadBytes - payloadOf(firsts).payloadBytes) / (half.length - firsts.length));
  }
  return { parts, duplicateRowBytes };
}

/** The part model: at each measured size, the mean rows, nonzeros and payload bytes (empty when no row had a nonzero). */
export function partBytesModel(parts: readonly MeasuredPart[], duplicateRowBytes: number): PartBytesModel {
  const bySize = new Map<number, MeasuredPart[]>();
  for (const p of parts) (bySize.get(p.rows) ?? bySize.set(p.rows, []).get(p.rows)!).push(p);
  const sizes = [...bySize.keys()].sort((a, b) => a - b);
  const mean = (list: readonly MeasuredPart[], f: (p: MeasuredPart) => number) => list.reduce((t, p) => t + f(p), 0) / list.length;
  return {
    rows: sizes,
    nonzeros: sizes.map((r) => mean(bySize.get(r)!, (p) => p.nonzeros)),
    payloadBytes: sizes.map((r) => mean(bySize.get(r)!, (p) => p.payloadBytes)),
    duplicateRowBytes,
  };
}
