// Unit prices as data: every number carries its unit, source and date, so a plan or a cost report
// can say which prices it used. The defaults are planner/prices/aws-us-east-1.json; a run may
// override any subset from a file of the same format (entries may be plain numbers) or from the
// `prices` of a run record.

import { z } from 'zod';
import { fromZodError } from '../../model/errors.ts';
import defaultPriceFile from '../prices/aws-us-east-1.json' with { type: 'json' };

export const PRICE_NAMES = [
  'lambdaPerGBSecond',
  'lambdaArmPerGBSecond',
  'lambdaPerRequest',
  'snsPerPublishRequest',
  'snsPerByte',
  'sqsPerRequest',
  's3PerPut',
  's3PerGet',
  's3PerList',
  'sfnStandardPerTransition',
  'sfnExpressPerRequest',
  'sfnExpressPerGBSecond',
  'serverPerHour',
  'serverUtilization',
] as const;

export type PriceName = (typeof PRICE_NAMES)[number];

export interface PriceEntry {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
  readonly date: string;
}

export interface ServerSpec {
  readonly instanceType: string;
  readonly vcpus: number;
  readonly memoryGiB: number;
}

export interface PriceTable {
  readonly region: string;
  readonly currency: 'USD';
  readonly date: string;
  readonly note?: string;
  readonly prices: Readonly<Record<PriceName, PriceEntry>>;
  readonly server: ServerSpec;
}

const priceEntrySchema = z.object({
  value: z.number().nonnegative(),
  unit: z.string(),
  source: z.string(),
  date: z.string(),
});

const overrideEntrySchema = z.union([
  z.number().nonnegative(),
  z.object({
    value: z.number().nonnegative(),
    unit: z.string().optional(),
    source: z.string().optional(),
    date: z.string().optional(),
  }),
]);

const serverSchema = z.object({ instanceType: z.string(), vcpus: z.number().positive(), memoryGiB: z.number().positive() });

const priceNameSchema = z.enum(PRICE_NAMES);

/** A complete price table (the checked-in defaults). */
export const priceTableSchema = z.object({
  formatVersion: z.literal(1),
  region: z.string(),
  currency: z.literal('USD'),
  date: z.string(),
  note: z.string().optional(),
  prices: z.record(priceNameSchema, priceEntrySchema),
  server: serverSchema,
});

/** A price override: any subset of the table, entries as numbers or as {value, source, date}. */
export const priceOverrideSchema = z.object({
  formatVersion: z.literal(1).optional(),
  region: z.string().optional(),
  currency: z.literal('USD').optional(),
  date: z.string().optional(),
  note: z.string().optional(),
  prices: z.partialRecord(priceNameSchema, overrideEntrySchema).optional(),
  server: serverSchema.optional(),
}).strict();

export type PriceOverride = z.infer<typeof priceOverrideSchema>;
export type PriceValues = Partial<Record<PriceName, number>>;

let cachedDefaults: PriceTable | undefined;

/** The checked-in us-east-1 prices. */
export function defaultPrices(): PriceTable {
  if (!cachedDefaults) {
    const parsed = priceTableSchema.safeParse(defaultPriceFile);
    if (!parsed.success) {
      throw fromZodError(parsed.error, 'planner/prices/aws-us-east-1.json');
    }
    const { formatVersion: _v, ...table } = parsed.data;
    cachedDefaults = table as PriceTable;
  }
  return cachedDefaults;
}

/** Overrides prices of `base`; entries given as plain numbers are attributed to `label`. */
export function overridePrices(base: PriceTable, override: PriceOverride, label: string): PriceTable {
  const prices: Record<PriceName, PriceEntry> = { ...base.prices };
  for (const name of PRICE_NAMES) {
    const entry = override.prices?.[name];
    if (entry === undefined) continue;
    prices[name] = typeof entry === 'number'
      ? { value: entry, unit: base.prices[name].unit, source: label, date: override.date ?? 'unknown' }
      : {
          value: entry.value,
          unit: entry.unit ?? base.prices[name].unit,
          source: entry.source ?? label,
          date: entry.date ?? override.date ?? 'unknown',
        };
  }
  return {
    region: override.region ?? base.region,
    currency: 'USD',
    date: override.date ?? base.date,
    note: override.note ?? base.note,
    prices,
    server: override.server ?? base.server,
  };
}

/** Overrides from plain numbers (the `prices` object of a run record). */
export function overridePriceValues(base: PriceTable, values: PriceValues, label: string): PriceTable {
  return overridePrices(base, { prices: values }, label);
}

/** The plain numbers of a table, as stored in plans and records. */
export function priceValues(table: PriceTable): Record<PriceName, number> {
  const out = {} as Record<PriceName, number>;
  for (const name of PRICE_NAMES) out[name] = table.prices[name].value;
  return out;
}

/** Applies a price override document (parsed JSON of `file`) to the defaults (or to `base`). */
export function parsePriceOverride(json: unknown, file: string, base: PriceTable = defaultPrices()): PriceTable {
  const parsed = priceOverrideSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, file);
  return overridePrices(base, parsed.data, `price file ${file}`);
}
