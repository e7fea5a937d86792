// Parsers for option values, so bad values fail with the option's name instead of NaN later.

import { InvalidArgumentError } from 'commander';

export function integerOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${raw}"`);
    return v;
  };
}

export function numberOption(raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new InvalidArgumentError(`expected a number, got "${raw}"`);
  return v;
}
