// The calibration profile: how fast the real layer kernel runs on a machine, in multiply-adds per
// second, for its two regimes (scatter: sparse rows; gather: dense rows), at one or more network
// sizes. `stepinfer calibrate` measures it (functions/calibration/, the only place with clocks);
// the planner only reads it. A checked-in default profile (marked `"default": true`) lets `plan`
// work on a fresh machine.

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

export const calibrationProfileSchema = z.object({
  formatVersion: z.literal(1),
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
}).superRefine((p, ctx) => {
  for (const regime of ['scatter', 'gather'] as const) {
    if (!p.measurements.some((m) => m.regime === regime)) {
      ctx.addIssue({ code: 'custom', path: ['measurements'], message: `no ${regime} measurement` });
    }
  }
});

export type KernelMeasurement = z.infer<typeof kernelMeasurementSchema>;
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
