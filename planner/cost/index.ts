// The cost model: prices as data, usage counters, and the pricing of counters (predicted, measured
// or published) into a breakdown per service and billed item.

export * from './counters.ts';
export * from './price.ts';
export * from './prices.ts';
export * from './record.ts';
