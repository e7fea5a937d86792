// Builds compressed sparse (CSR-like) arrays from triples, sorted within each major index, and
// rejects duplicates with both lines named: a duplicate weight would otherwise be summed or
// dropped depending on the reader, silently changing the network.

import { ModelFormatError } from './errors.ts';
import type { Triples } from './tsv.ts';

export interface Compressed {
  readonly start: Uint32Array;
  readonly index: Uint32Array;
  readonly value: Float32Array;
}

export interface CompressOptions {
  readonly file: string;
  /** Which triple field is the major (row of the compressed form) index. */
  readonly majorField: 'first' | 'second';
  readonly majorCount: number;
  readonly majorName: string;
  readonly minorName: string;
}

export function compressTriples(t: Triples, o: CompressOptions): Compressed {
  const major = o.majorField === 'first' ? t.first : t.second;
  const minor = o.majorField === 'first' ? t.second : t.first;
  const start = new Uint32Array(o.majorCount + 1);
  for (let i = 0; i < t.count; i++) start[major[i] + 1]++;
  for (let m = 0; m < o.majorCount; m++) start[m + 1] += start[m];
  const cursor = start.slice(0, o.majorCount);
  const order = new Uint32Array(t.count);
  for (let i = 0; i < t.count; i++) order[cursor[major[i]]++] = i;
  // Sort each segment by minor index; segments are short (32 in the benchmark), insertion sort wins.
  for (let m = 0; m < o.majorCount; m++) {
    const lo = start[m], hi = start[m + 1];
    if (hi - lo > 64) {
      const seg = Array.from(order.subarray(lo, hi)).sort((a, b) => minor[a] - minor[b]);
      order.set(seg, lo);
    } else {
      for (let i = lo + 1; i < hi; i++) {
        const item = order[i], key = minor[item];
        let j = i - 1;
        while (j >= lo && minor[order[j]] > key) { order[j + 1] = order[j]; j--; }
        order[j + 1] = item;
      }
    }
    for (let i = lo + 1; i < hi; i++) {
      if (minor[order[i]] === minor[order[i - 1]]) {
        const [a, b] = [t.line[order[i - 1]], t.line[order[i]]].sort((x, y) => x - y);
        throw new ModelFormatError(
          `duplicate entry (${o.majorName} ${m + 1}, ${o.minorName} ${minor[order[i]] + 1}), first on line ${a}`,
          { file: o.file, line: b },
        );
      }
    }
  }
  const index = new Uint32Array(t.count);
  const value = new Float32Array(t.count);
  for (let i = 0; i < t.count; i++) { index[i] = minor[order[i]]; value[i] = t.value[order[i]]; }
  return { start, index, value };
}
