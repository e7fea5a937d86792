// The one parser of option values: commander calls these on every numeric, list and shape option,
// so a bad value fails before any work with the option's name and exit code 2, never as NaN later.
// Every numeric option has a range here; ranges that depend on the model (workers <= neurons,
// layers <= the model's) are checked by the command once the model is known, still before work.

import { InvalidArgumentError } from 'commander';
import { UsageError } from '../model/errors.ts';

/** Counts, sizes and indices are 32-bit throughout (typed arrays, .sdnn fields). */
export const UINT32_MAX = 0xffffffff;

/** Seeds are taken modulo 2^32 by the seeded generator (model/random.ts); larger ones would alias. */
export const SEED_MAX = UINT32_MAX;

/** Neuron maps store each owner in 16 bits (planner/plan/neuron-maps.ts, the plan schema). */
export const MAX_WORKERS = 65_535;

/** An integer option from `min` to `max`. */
export function integerOption(min: number, max: number = UINT32_MAX) {
  return (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${raw}"`);
    }
    return v;
  };
}

export const seedOption = integerOption(0, SEED_MAX);

export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** `min` itself is not allowed. */
  readonly aboveMin?: boolean;
  /** `max` itself is not allowed. */
  readonly belowMax?: boolean;
}

function describeRange(r: NumberRange): string {
  if (r.min === undefined && r.max === undefined) return 'a finite number';
  if (r.max === undefined) return `a number ${r.aboveMin ? '>' : '>='} ${r.min}`;
  if (r.min === undefined) return `a number ${r.belowMax ? '<' : '<='} ${r.max}`;
  return `a number in ${r.aboveMin ? '(' : '['}${r.min}, ${r.max}${r.belowMax ? ')' : ']'}`;
}

/** A finite number within `range`. */
export function numberOption(range: NumberRange = {}) {
  return (raw: string): number => {
    const v = Number(raw);
    const ok = raw.trim() !== '' && Number.isFinite(v)
      && (range.min === undefined || (range.aboveMin ? v > range.min : v >= range.min))
      && (range.max === undefined || (range.belowMax ? v < range.max : v <= range.max));
    if (!ok) throw new InvalidArgumentError(`expected ${describeRange(range)}, got "${raw}"`);
    return v;
  };
}

/** A fraction in [0, 1], or in (0, 1] when zero means nothing. */
export function fractionOption(options: { readonly zero: boolean }) {
  return numberOption({ min: 0, max: 1, aboveMin: !options.zero });
}

/** Neurons x layers of a generated network. */
export interface Shape {
  readonly neurons: number;
  readonly layers: number;
}

/** Parses `NxL` such as 1024x120; both 32-bit. Whether a RadiX-Net of that shape exists, and fits in memory, is checked where it is built. */
export function parseShape(raw: string, field = 'generate'): Shape {
  const m = /^(\d+)x(\d+)$/.exec(raw.trim());
  if (!m) throw new UsageError(`expected NxL such as 1024x120, got "${raw}"`, { field });
  const shape = { neurons: Number(m[1]), layers: Number(m[2]) };
  if (shape.neurons < 2 || shape.neurons > UINT32_MAX) throw new UsageError(`neurons must be from 2 to ${UINT32_MAX}, got ${m[1]}`, { field });
  if (shape.layers < 1 || shape.layers > UINT32_MAX) throw new UsageError(`layers must be from 1 to ${UINT32_MAX}, got ${m[2]}`, { field });
  return shape;
}

/** Parses a worker list: `8`, `8,16,32`, `2..64` or mixes like `2..8,16`; every count from 1 to `max`. */
export function parseWorkerList(text: string, max: number = MAX_WORKERS): number[] {
  const out: number[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const range = /^(\d+)\.\.(\d+)$/.exec(item);
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (from < 1 || to < from) throw new UsageError(`bad worker range '${item}' (want a..b with 1 <= a <= b)`, { field: 'workers' });
      if (to > max) throw new UsageError(`worker range '${item}' goes beyond ${max} workers`, { field: 'workers' });
      for (let p = from; p <= to; p++) out.push(p);
    } else if (/^\d+$/.test(item) && Number(item) >= 1) {
      if (Number(item) > max) throw new UsageError(`${item} workers is more than ${max}`, { field: 'workers' });
      out.push(Number(item));
    } else {
      throw new UsageError(`bad worker count '${item}' (want an integer >= 1, a list 8,16 or a range 2..64)`, { field: 'workers' });
    }
  }
  if (out.length === 0) throw new UsageError('no worker counts given', { field: 'workers' });
  return [...new Set(out)];
}

/** Checks worker counts against the network, once it is known and before any work: every worker must own a neuron. */
export function checkWorkerCounts(counts: readonly number[], neurons: number, option = 'workers'): void {
  const over = counts.filter((p) => p > neurons);
  if (over.length > 0) {
    throw new UsageError(`${over.length === 1 ? `${over[0]} workers exceeds` : `${over.length} of the worker counts (${over[0]} to ${over[over.length - 1]}) exceed`} the network's ${neurons} neurons (P must be <= N)`, { field: option });
  }
}

/** Turns a parser that throws UsageError into a commander option parser (exit 2, the option named). */
function commanderParser<T>(parse: (raw: string) => T) {
  return (raw: string): T => {
    try {
      return parse(raw);
    } catch (error) {
      if (error instanceof UsageError) throw new InvalidArgumentError(error.message.replace(/^field [\w-]+: /, ''));
      throw error;
    }
  };
}

export const shapeOption = commanderParser((raw) => parseShape(raw));
export const workerListOption = commanderParser((raw) => parseWorkerList(raw));

/** One of `choices`. */
export function choiceOption<T extends string>(choices: readonly T[]) {
  return (raw: string): T => {
    if (!(choices as readonly string[]).includes(raw)) throw new InvalidArgumentError(`expected ${choices.join(' or ')}, got "${raw}"`);
    return raw as T;
  };
}

/** A comma list of `choices` (duplicates dropped), or `all` of them when `allowAll`. */
export function choiceListOption<T extends string>(choices: readonly T[], options: { readonly allowAll?: boolean } = {}) {
  return (raw: string): T[] => {
    if (options.allowAll && raw.trim() === 'all') return [...choices];
    const items = raw.split(',').map((s) => s.trim());
    for (const item of items) {
      if (!(choices as readonly string[]).includes(item)) {
        throw new InvalidArgumentError(`unknown value "${item}" (known: ${choices.join(', ')}${options.allowAll ? ', or all' : ''})`);
      }
    }
    return [...new Set(items as T[])];
  };
}
