// The calibration profile: how fast the real layer kernel runs on a machine, in multiply-adds per
// second, for its two regimes (scatter: sparse rows; gather: dense rows), at one or more network
// sizes. `stepinfer calibrate` measures it (functions/calibration/, the only place with clocks);
// the planner only reads it. A checked-in default profile (marked `"default": true`) lets `plan`
// work on a fresh machine.
//
// Format version 2 adds the kernel's thread scaling: the same layers timed on 1 and T threads
// (alternating), and the parallel fraction of Amdahl's law fitted to them, which the latency model
// extrapolates to the vCPUs a Lambda function has. Version 1 profiles (no thread measurement) stay
// loadable: the planner then takes threads as gaining nothing (parallel fraction 0).

import { z } from 'zod';
import { fromZodError } from '../../model/errors.ts';
import defaultProfileJson from './default-calibration.json' with { type: 'json' };

export type KernelRegime = 'scatter' | 'gather';

export const kernelMeasurementSchema = z.object({
  regime: z.enum(['scatter', 'gather']),
  neurons: z.number().int().positive(),
  layers: z.number().int().positive(),
  rows: z.number().int().positive(),
  multiplyAdds: z.number().positive(),
  /** Median over repetitions. */
  seconds: z.number().positive(),
  repetitions: z.number().int().positive(),
  macsPerSecond: z.number().positive(),
});

/** One case of the thread-scaling measurement: the same layers on 1 thread and on `threads`, alternating. */
export const threadScalingCaseSchema = z.object({
  regime: z.enum(['scatter', 'gather']),
  neurons: z.number().int().positive(),
  layers: z.number().int().positive(),
  rows: z.number().int().positive(),
  threads: z.number().int().min(2),
  /** Alternating rounds (1 thread, then `threads`), after one untimed warm-up of each. */
  rounds: z.number().int().positive(),
  /** Medians over the rounds. */
  oneThreadSeconds: z.number().positive(),
  seconds: z.number().positive(),
  /** oneThreadSeconds / seconds. */
  speedup: z.number().positive(),
});

export const threadScalingSchema = z.object({
  /** ISO date of the measurement. */
  date: z.string(),
  /** The command that measured it. */
  command: z.string(),
  /** Machine load (1-minute load average) when it started and ended, as the host reported it. */
  loadAverage: z.object({ start: z.number().nonnegative(), end: z.number().nonnegative() }),
  note: z.string(),
  cases: z.array(threadScalingCaseSchema).min(1),
  /** Amdahl's parallel fraction fitted to the cases (fitParallelFraction). */
  parallelFraction: z.number().min(0).max(1),
});

export const calibrationProfileSchema = z.object({
  /** 1: kernel rates only; 2: also the thread scaling. */
  formatVersion: z.union([z.literal(1), z.literal(2)]),
  kind: z.literal('stepinfer-calibration'),
  /** True for the checked-in defaults (not measured on the machine that plans). */
  default: z.boolean(),
  note: z.string().optional(),
  /** ISO date of the measurement. */
  date: z.string(),
  machine: z.object({
    platform: z.string(),
    arch: z.string(),
    cpuModel: z.string(),
    logicalCpus: z.number().int().positive(),
    totalMemoryGB: z.number().positive(),
    node: z.string(),
  }),
  kernel: z.string(),
  measurements: z.array(kernelMeasurementSchema).min(1),
  threadScaling: threadScalingSchema.optional(),
}).superRefine((p, ctx) => {
  if (p.formatVersion === 2 && !p.threadScaling) ctx.addIssue({ code: 'custom', path: ['threadScaling'], message: 'a version 2 profile has the thread scaling' });
  if (p.formatVersion === 1 && p.threadScaling) ctx.addIssue({ code: 'custom', path: ['threadScaling'], message: 'a version 1 profile has no thread scaling (set formatVersion 2)' });
  for (const regime of ['scatter', 'gather'] as const) {
    if (!p.measurements.some((m) => m.regime === regime)) {
      ctx.addIssue({ code: 'custom', path: ['measurements'], message: `no ${regime} measurement` });
    }
  }
});

export type KernelMeasurement = z.infer<typeof kernelMeasurementSchema>;
export type ThreadScalingCase = z.infer<typeof threadScalingCaseSchema>;
export type ThreadScaling = z.infer<typeof threadScalingSchema>;
export type CalibrationProfile = z.infer<typeof calibrationProfileSchema>;

export function parseCalibrationProfile(json: unknown, file: string): CalibrationProfile {
  const parsed = calibrationProfileSchema.safeParse(json);
  if (!parsed.success) throw fromZodError(parsed.error, file);
  return parsed.data;
}

/** The checked-in profile, marked `default: true`. */
export function defaultCalibrationProfile(): CalibrationProfile {
  return parseCalibrationProfile(defaultProfileJson, 'planner/latency/default-calibration.json');
}

/**
 * Multiply-adds per second of one core in `regime` for a network of `neurons`: log-linear
 * interpolation between the measured sizes, clamped to the nearest outside them (a cache effect
 * beyond the measured range is not extrapolated).
 */
export function kernelMacsPerSecond(profile: CalibrationProfile, regime: KernelRegime, neurons: number): number {
  const points = profile.measurements
    .filter((m) => m.regime === regime)
    .map((m) => ({ x: Math.log2(m.neurons), y: m.macsPerSecond }))
    .sort((a, b) => a.x - b.x);
  // Several measurements at one size: their mean.
  const merged: { x: number; y: number }[] = [];
  for (const p of points) {
    const last = merged[merged.length - 1];
    if (last && last.x === p.x) last.y = (last.y + p.y) / 2;
    else merged.push({ ...p });
  }
  const x = Math.log2(neurons);
  if (x <= merged[0].x) return merged[0].y;
  const end = merged[merged.length - 1];
  if (x >= end.x) return end.y;
  for (let i = 1; i < merged.length; i++) {
    const a = merged[i - 1], b = merged[i];
    if (x <= b.x) return a.y + ((x - a.x) / (b.x - a.x)) * (b.y - a.y);
  }
  return end.y;
}

/**
 * Amdahl's parallel fraction f of the kernel from timings on 1 and T threads: t_T / t_1 =
 * (1 - f) + f / T, fitted by least squares through the origin over every case (x = 1 - 1/T,
 * y = 1 - t_T / t_1, f = sum xy / sum xx), clamped to [0, 1]: a host that made threads slower
 * gives 0 (threads gain nothing), never a negative speedup the planner would have to avoid.
 */
export function fitParallelFraction(cases: readonly Pick<ThreadScalingCase, 'threads' | 'oneThreadSeconds' | 'seconds'>[]): number {
  let xy = 0, xx = 0;
  for (const c of cases) {
    const x = 1 - 1 / c.threads, y = 1 - c.seconds / c.oneThreadSeconds;
    xy += x * y;
    xx += x * x;
  }
  if (xx === 0) return 0;
  return Math.min(1, Math.max(0, xy / xx));
}

/** Amdahl's speedup of `threads` threads with parallel fraction f. */
export function amdahlSpeedup(parallelFraction: number, threads: number): number {
  return 1 / (1 - parallelFraction + parallelFraction / threads);
}

/** The profile's parallel fraction: 0 for a version 1 profile (threads not measured: no gain assumed). */
export function kernelParallelFraction(profile: CalibrationProfile): number {
  return profile.threadScaling?.parallelFraction ?? 0;
}
