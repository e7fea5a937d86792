// Bit-identical activations: what every distributed or staged run is held to against serial inference.

import { expect } from 'vitest';
import type { SparseRows } from '../../model/network.ts';

/** Bit-identical rows: same structure, same float32 bits. */
export function expectSameRows(actual: SparseRows, expected: SparseRows): void {
  expect(actual.rows).toBe(expected.rows);
  expect(actual.columns).toBe(expected.columns);
  expect(Buffer.from(actual.rowStart.buffer, actual.rowStart.byteOffset, actual.rowStart.byteLength).equals(Buffer.from(expected.rowStart.buffer, expected.rowStart.byteOffset, expected.rowStart.byteLength))).toBe(true);
  const nnz = expected.rowStart[expected.rows];
  const bytes = (a: Uint32Array | Float32Array, n: number) => Buffer.from(a.buffer, a.byteOffset, 4 * n);
  expect(bytes(actual.columnIndex, nnz).equals(bytes(expected.columnIndex, nnz))).toBe(true);
  expect(bytes(actual.value, nnz).equals(bytes(expected.value, nnz))).toBe(true);
}

