// The latency model's primitives: Lambda's CPU share by memory, kernel compute time from the
// calibration profile, transfer time from bytes. The stage and plan estimates
// (planner/optimize/estimate.ts) are built from these and the constants.

import type { LatencyConstants } from './constants.ts';
import { kernelMacsPerSecond, type CalibrationProfile } from './profile.ts';

/** Lambda's vCPUs at `memoryMB`: proportional to memory, 1,769 MB = 1 vCPU, at most 6. */
export function lambdaVcpus(memoryMB: number, c: LatencyConstants): number {
  return Math.min(c.lambdaMaxVcpus, memoryMB / c.lambdaFullVcpuMemoryMB);
}

/**
 * Speed of a worker relative to one calibrated core: `threads` kernel threads can use at most
 * `threads` vCPUs, so a single-threaded kernel gains nothing above 1,769 MB, and below it runs at
 * the memory's fraction of a vCPU. Thread scaling is taken as perfect (an upper bound).
 */
export function lambdaCpuSpeed(memoryMB: number, threads: number, c: LatencyConstants): number {
  return Math.min(threads, lambdaVcpus(memoryMB, c)) * c.lambdaCoreSpeedRatio;
}

export interface ComputeRates {
  readonly scatterMacsPerSecond: number;
  readonly gatherMacsPerSecond: number;
}

export function computeRates(profile: CalibrationProfile, neurons: number): ComputeRates {
  return {
    scatterMacsPerSecond: kernelMacsPerSecond(profile, 'scatter', neurons),
    gatherMacsPerSecond: kernelMacsPerSecond(profile, 'gather', neurons),
  };
}

/** Seconds one core-equivalent of `speed` needs for the given multiply-adds. */
export function computeSeconds(scatterMacs: number, gatherMacs: number, rates: ComputeRates, speed: number): number {
  if (scatterMacs === 0 && gatherMacs === 0) return 0;
  return (scatterMacs / rates.scatterMacsPerSecond + gatherMacs / rates.gatherMacsPerSecond) / speed;
}

/** Seconds to move `bytes` over one function's network link. */
export function transferSeconds(bytes: number, c: LatencyConstants): number {
  return bytes / c.lambdaNetworkBytesPerSecond;
}

/** Seconds to encode or decode `bytes` of activation rows at `speed`. */
export function serializeSeconds(bytes: number, speed: number, c: LatencyConstants): number {
  return bytes / (c.serializeBytesPerSecond * speed);
}

/** `requests` requests of `seconds` each, `concurrency` at a time. */
export function requestSeconds(requests: number, seconds: number, concurrency: number): number {
  if (requests <= 0) return 0;
  return Math.ceil(requests / Math.max(1, concurrency)) * seconds;
}
