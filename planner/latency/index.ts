// The latency model: calibrated kernel throughput, Lambda's CPU share by memory, AWS latency
// constants with sources, the wire format's bytes, and the workload (activation density per
// layer) a plan is sized for.

export * from './constants.ts';
export * from './model.ts';
export * from './profile.ts';
export * from './wire-format.ts';
export * from './workload.ts';
