// plan.json: the versioned, schema-checked plan (schema.ts), built from a search result (build.ts),
// with compact neuron maps (neuron-maps.ts) and a format-independent model checksum (checksum.ts).

export * from './build.ts';
export * from '../../model/checksum.ts';
export * from './neuron-maps.ts';
export * from './schema.ts';
