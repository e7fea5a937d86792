// Readers for the GraphChallenge text formats: weight and input triples (`row<TAB>col<TAB>value`,
// 1-based) and truth category lists. A hand-written byte scanner: the real network is 3.9 M lines
// and a split()/parseFloat() reader spends seconds allocating strings; this one allocates nothing
// per line and still reports the file and line of every problem.

import { ModelFormatError } from './errors.ts';

const TAB = 9, LF = 10, CR = 13, SPACE = 32, PLUS = 43, MINUS = 45, DOT = 46, ZERO = 48, NINE = 57;
const LOWER_E = 101, UPPER_E = 69;

/** The largest finite float32, as JavaScript prints it. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Exact powers of ten in double precision: products with them round once (fast-path parsing). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/** Triples as read from a file, 0-based indices, with the 1-based line each came from. */
export interface Triples {
  readonly count: number;
  readonly first: Uint32Array;
  readonly second: Uint32Array;
  readonly value: Float32Array;
  readonly line: Uint32Array;
  readonly maxFirst: number;
  readonly maxSecond: number;
}

class Scanner {
  pos = 0;
  line = 1;
  readonly bytes: Uint8Array;
  readonly file: string;
  constructor(bytes: Uint8Array, file: string) {
    this.bytes = bytes;
    this.file = file;
  }

  fail(message: string): never {
    throw new ModelFormatError(message, { file: this.file, line: this.line });
  }

  atLineEnd(): boolean {
    const c = this.bytes[this.pos];
    return this.pos >= this.bytes.length || c === LF || c === CR;
  }

  skipSeparator(field: string): void {
    const b = this.bytes;
    const start = this.pos;
    while (this.pos < b.length && (b[this.pos] === TAB || b[this.pos] === SPACE)) this.pos++;
    if (this.pos === start) this.fail(this.atLineEnd() ? `missing ${field}: expected 3 fields` : `expected a tab before ${field}`);
    if (this.atLineEnd()) this.fail(`missing ${field}: expected 3 fields`);
  }

  /** A positive 1-based index, returned 0-based. */
  index(field: string): number {
    const b = this.bytes;
    let v = 0;
    const start = this.pos;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c < ZERO || c > NINE) break;
      v = v * 10 + (c - ZERO);
      this.pos++;
    }
    if (this.pos === start || !this.atTokenEnd()) this.fail(`${field} is not a whole number: "${this.token(start)}"`);
    if (v < 1) this.fail(`${field} is ${v}; indices are 1-based`);
    if (v > 0xffffffff) this.fail(`${field} ${v} is too large`);
    return v - 1;
  }

  /** A decimal number, correctly rounded to double (fast path when exact), then finite-checked. */
  number(field: string): number {
    const b = this.bytes;
    const start = this.pos;
    let negative = false;
    if (b[this.pos] === MINUS || b[this.pos] === PLUS) negative = b[this.pos++] === MINUS;
    let mantissa = 0, digits = 0, scale = 0, sawDigit = false;
    while (this.pos < b.length && b[this.pos] >= ZERO && b[this.pos] <= NINE) {
      mantissa = mantissa * 10 + (b[this.pos++] - ZERO);
      digits++; sawDigit = true;
    }
    if (b[this.pos] === DOT) {
      this.pos++;
      while (this.pos < b.length && b[this.pos] >= ZERO && b[this.pos] <= NINE) {
        mantissa = mantissa * 10 + (b[this.pos++] - ZERO);
        digits++; scale--; sawDigit = true;
      }
    }
    let exponent = 0;
    if (sawDigit && (b[this.pos] === LOWER_E || b[this.pos] === UPPER_E)) {
      this.pos++;
      let expNegative = false;
      if (b[this.pos] === MINUS || b[this.pos] === PLUS) expNegative = b[this.pos++] === MINUS;
      const expStart = this.pos;
      while (this.pos < b.length && b[this.pos] >= ZERO && b[this.pos] <= NINE) exponent = exponent * 10 + (b[this.pos++] - ZERO);
      if (this.pos === expStart) this.fail(`${field} is not a number: "${this.token(start)}"`);
      if (expNegative) exponent = -exponent;
    }
    let value: number;
    if (sawDigit && this.atTokenEnd()) {
      const e = scale + exponent;
      if (digits <= 15 && e >= -22 && e <= 22) {
        value = e < 0 ? mantissa / POW10[-e] : mantissa * POW10[e];
        if (negative) value = -value;
      } else {
        value = Number(this.token(start));
      }
    } else {
      // Words such as NaN, Infinity or garbage: let the slow path say what it is.
      while (!this.atTokenEnd()) this.pos++;
      value = Number(this.token(start));
      if (Number.isNaN(value) && this.token(start) !== 'NaN') this.fail(`${field} is not a number: "${this.token(start)}"`);
    }
    if (!Number.isFinite(value)) this.fail(`${field} is ${this.token(start)}; weights and activations must be finite`);
    // Values are stored as float32: a finite double beyond its range would become Infinity there.
    if (!Number.isFinite(Math.fround(value))) this.fail(`${field} ${this.token(start)} overflows float32 (largest magnitude ${FLOAT32_MAX})`);
    return value;
  }

  atTokenEnd(): boolean {
    const c = this.bytes[this.pos];
    return this.pos >= this.bytes.length || c === TAB || c === SPACE || c === LF || c === CR;
  }

  token(start: number): string {
    let end = start;
    while (end < this.bytes.length && !(this.bytes[end] === TAB || this.bytes[end] === SPACE || this.bytes[end] === LF || this.bytes[end] === CR)) end++;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, Math.min(end - start, 40)).toString('latin1');
  }

  /** Consumes trailing blanks and the line break; false at end of input. */
  endLine(): void {
    const b = this.bytes;
    while (this.pos < b.length && (b[this.pos] === TAB || b[this.pos] === SPACE)) this.pos++;
    if (this.pos >= b.length) return;
    if (b[this.pos] === CR) this.pos++;
    if (b[this.pos] !== LF) this.fail(`unexpected "${this.token(this.pos)}" after the third field`);
    this.pos++;
    this.line++;
  }
}

function countLines(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === LF) n++;
  return bytes.length > 0 && bytes[bytes.length - 1] !== LF ? n + 1 : n;
}

/** Reads `a<TAB>b<TAB>value` lines. Blank lines are errors except at the very end. */
export function parseTriples(bytes: Uint8Array, file: string, fieldNames: readonly [string, string, string]): Triples {
  const capacity = countLines(bytes);
  const first = new Uint32Array(capacity), second = new Uint32Array(capacity);
  const value = new Float32Array(capacity), line = new Uint32Array(capacity);
  const s = new Scanner(bytes, file);
  let count = 0, maxFirst = -1, maxSecond = -1;
  while (s.pos < bytes.length) {
    if (s.atLineEnd()) {
      const rest = bytes.subarray(s.pos);
      if (rest.every((c) => c === LF || c === CR || c === TAB || c === SPACE)) break;
      s.fail('blank line inside the data');
    }
    const a = s.index(fieldNames[0]);
    s.skipSeparator(fieldNames[1]);
    const b = s.index(fieldNames[1]);
    s.skipSeparator(fieldNames[2]);
    const v = s.number(fieldNames[2]);
    first[count] = a; second[count] = b; value[count] = v; line[count] = s.line;
    if (a > maxFirst) maxFirst = a;
    if (b > maxSecond) maxSecond = b;
    count++;
    s.endLine();
  }
  return {
    count,
    first: first.subarray(0, count), second: second.subarray(0, count),
    value: value.subarray(0, count), line: line.subarray(0, count),
    maxFirst, maxSecond,
  };
}

/** Reads one positive 1-based id per line (a truth categories file); returns them 0-based. */
export function parseIdList(bytes: Uint8Array, file: string): Uint32Array {
  const out = new Uint32Array(countLines(bytes));
  const s = new Scanner(bytes, file);
  let count = 0;
  while (s.pos < bytes.length) {
    if (s.atLineEnd()) {
      if (bytes.subarray(s.pos).every((c) => c === LF || c === CR || c === TAB || c === SPACE)) break;
      s.fail('blank line inside the data');
    }
    out[count++] = s.index('id');
    s.endLine();
  }
  const ids = out.subarray(0, count);
  for (let i = 1; i < count; i++) {
    if (ids[i] <= ids[i - 1]) {
      throw new ModelFormatError(`ids must be strictly ascending: ${ids[i] + 1} follows ${ids[i - 1] + 1}`, { file, line: i + 1 });
    }
  }
  return ids;
}
