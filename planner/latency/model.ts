// The latency model's primitives: Lambda's CPU share by memory, kernel compute time from the
// calibration profile, transfer time from bytes. The stage and plan estimates
// (planner/optimize/estimate.ts) are built from these and the constants.

import type { LatencyConstants } from './constants.ts';
import { amdahlSpeedup, kernelMacsPerSecond, type CalibrationProfile } from './profile.ts';

/** Lambda's vCPUs at `memoryMB`: proportional to memory, 1,769 MB = 1 vCPU, at most 6. */
export function lambdaVcpus(memoryMB: number, c: LatencyConstants): number {
  return Math.min(c.lambdaMaxVcpus, memoryMB / c.lambdaFullVcpuMemoryMB);
}

/**
 * Speed of a worker relative to one calibrated core, running `threads` kernel threads on a Lambda
 * function of `memoryMB`. Model of fractional vCPUs: Lambda gives a function CPU time in
 * proportion to its memory, v = memoryMB / 1,769 vCPU-seconds per second (1,769 MB = one vCPU:
 * docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so no number of threads runs
 * faster than v cores; it exposes at least ceil(v) cores (2 up to 3,008 MB, then one more per
 * 1,769 MB: measured by github.com/rwnx/lambda-cpuinfo), so threads beyond ceil(v) gain nothing;
 * and the threads it can use scale by Amdahl's law with the calibrated parallel fraction (the CPU
 * time the kernel needs does not grow with threads: an idle thread waits, Atomics.wait). Hence
 * speed = min(amdahl(f, min(threads, ceil(v))), v): one thread below 1,769 MB runs at v, as before.
 */
export function lambdaCpuSpeed(memoryMB: number, threads: number, c: LatencyConstants, parallelFraction: number): number {
  const vcpus = lambdaVcpus(memoryMB, c);
  const usable = Math.max(1, Math.min(threads, Math.ceil(vcpus - 1e-9)));
  return Math.min(amdahlSpeedup(parallelFraction, usable), vcpus) * c.lambdaCoreSpeedRatio;
}

/**
 * The kernel threads a worker of `memoryMB` runs: the fewest that reach the highest speed there
 * (lambdaCpuSpeed). At one memory size, speed is all that threads change, and a faster worker is
 * both sooner done and billed for less, so this minimizes either objective; fewer threads at the
 * same speed keep memory (kernelThreadMB each) and the host's cores free.
 */
export function kernelThreadsFor(memoryMB: number, c: LatencyConstants, parallelFraction: number): number {
  const most = Math.max(1, Math.ceil(lambdaVcpus(memoryMB, c) - 1e-9));
  let best = 1, bestSpeed = lambdaCpuSpeed(memoryMB, 1, c, parallelFraction);
  for (let t = 2; t <= most; t++) {
    const speed = lambdaCpuSpeed(memoryMB, t, c, parallelFraction);
    if (speed > bestSpeed * (1 + 1e-9)) { best = t; bestSpeed = speed; }
  }
  return best;
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
