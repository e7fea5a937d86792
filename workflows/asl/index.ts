// Generated Step Functions workflows: a plan's ASL definition (render.ts; a stages plan's: render-stages.ts) in our typed model
// (asl.ts), its definition substitutions (substitutions.ts), execution input (input.ts),
// validation (validate.ts), state transitions of a successful execution (transitions.ts), and the
// files `stepinfer regenerate` writes (workflow-files.ts). Pure: no files, environment or clocks.

export * from './asl.ts';
export * from './input.ts';
export * from './render.ts';
export * from './render-stages.ts';
export * from './state-names.ts';
export * from './substitutions.ts';
export * from './transitions.ts';
export * from './validate.ts';
export * from './workflow-files.ts';
