// The optimizer: stage estimates (estimate.ts), the AMPS-style stage/memory MILP solved by HiGHS
// (milp.ts), the search over workers, channel, launch, grouping and memory (search.ts), and the
// model set beside published runs (published.ts).

export * from './estimate.ts';
export * from './milp.ts';
export * from './partition-stats.ts';
export * from './published.ts';
export * from './search.ts';
