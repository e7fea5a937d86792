// plan.json, the deployment contract (schema.ts; a dense model's stages plan: stages-schema.ts, parseAnyPlan reads either), with its identity and resource names
// (names.ts), the AWS resources of its channels and storage (resources.ts), compact neuron maps (neuron-maps.ts) and exported JSON Schema (json-schema.ts);
// plan.report.json, the predictions beside it (report.ts); both built from a search (build.ts).

export * from './build.ts';
export * from '../../model/checksum.ts';
export * from './json-schema.ts';
export * from './names.ts';
export * from './neuron-maps.ts';
export * from './report.ts';
export * from './resources.ts';
export * from './schema.ts';
export * from './stages-schema.ts';
