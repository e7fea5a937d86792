// The latency, memory, package and cost model of one stage of a dense model: units i..j of the
// model on one Lambda function of memory m, running a batch of B inputs. Every stage is its own
// function and starts cold (sporadic requests: the case where functions beat an always-on server).
//
//   start    = cold start (aws-latency.json) + package bytes / fetch rate (constants.ts)
//              + onnxruntime import (calibrated, INIT phase: a full core at any memory)
//   load     = session create of the sub-model (calibrated line in its MB) / one-thread speed(m)
//   input    = stage 0: GET of the staged batch; else GET of the previous output when it went
//              through S3 ("object"), nothing when it came in the state payload
//   compute  = sum over units k of seconds_k(B) (calibrated, one thread, scaled so that all units
//              add up to the whole model's measured time) / speed(m)
//   output   = PUT of the output when it goes through S3 (the last stage always writes the result)
//   stage    = Step Functions' Task invoke + start + load + input + compute + output + transition
//   billed   = start + load + input + compute + output (INIT is billed since 2025-08-01)
//   speed(m) = lambdaCpuSpeed(m, ceil(vCPUs(m)) intra-op threads, Amdahl's fraction of the units)
//   memory   >= runtime base + onnxruntime resident + a session's fixed resident memory
//              + model bytes x resident per model byte
//              + peak live activations x B x resident per activation byte + the input and output
//              tensors twice (decoded and encoded copies in the handler)
//   package  = the units' sub-model bytes + the runtime package (binaries, JavaScript, handler)
//              <= 250 MB unzipped (zip) or 10 GB (container image)
// A stage's estimate depends only on its own units, memory and the batch (its input and output
// travel as the unit sizes dictate), so a plan's latency and cost are sums over its stages: what
// the stage program (planner/optimize/milp.ts) and the dynamic program (dp.ts) need.

import type { LayerUnit } from '../../model/onnx/units.ts';
import type { TensorInfo } from '../../model/onnx/graph.ts';
import { AWS_LIMITS } from '../aws-limits.ts';
import { zeroCounters, type LambdaArchitecture, type UsageCounters } from '../cost/counters.ts';
import { priceCounters } from '../cost/price.ts';
import type { PriceTable } from '../cost/prices.ts';
import type { LatencyConstants } from '../latency/constants.ts';
import { lambdaCpuSpeed, lambdaVcpus, transferSeconds } from '../latency/model.ts';
import { billedSeconds } from '../optimize/estimate.ts';
import { FLOAT32_BYTES, handoffFitsPayload, packageLimitBytes } from '../plan/stages-schema.ts';
import {
  fitSessionCreate, runtimePackageBytes, secondsAtBatch, unitsParallelFraction,
  type DenseCalibration, type DenseModelCalibration, type SessionCreateFit,
} from './calibration.ts';
import { STAGE_CONSTANTS } from './constants.ts';

export const MB = 1024 * 1024;

export type WorkflowType = 'STANDARD' | 'EXPRESS';
export type PackageKind = 'zip' | 'image';

/** What the planner needs of a dense model: its graph's input and output, its units, its identity. */
export interface DenseModel {
  /** The file as given on the command line. */
  readonly path: string;
  /** SHA-256 of the file's bytes. */
  readonly checksum: string;
  readonly input: TensorInfo;
  readonly output: TensorInfo;
  readonly units: readonly LayerUnit[];
  readonly parameterCount: number;
  readonly hasWeights: boolean;
}

/** Everything a stage estimate reads besides its units, memory and batch. */
export interface StageContext {
  readonly model: DenseModel;
  readonly calibration: DenseModelCalibration;
  /** Bytes of the runtime every package holds (runtimePackageBytes of the calibration file). */
  readonly runtimeBytes: number;
  readonly constants: LatencyConstants;
  readonly prices: PriceTable;
  readonly packageKind: PackageKind;
  /** The package limit: packageLimitBytes(packageKind) unless set (tests with a tiny limit). */
  readonly packageLimitBytes: number;
  readonly architecture: LambdaArchitecture;
  /** Predicted durations times this stay within Lambda's and Express's limits (as the sparse planner's). */
  readonly safetyFactor: number;
}

/** The sparse planner's margin on predicted durations against AWS limits (planner/optimize/search.ts). */
export const STAGE_SAFETY_FACTOR = 1.5;

export function stageContext(o: {
  model: DenseModel; calibrationFile: DenseCalibration; calibration: DenseModelCalibration; constants: LatencyConstants; prices: PriceTable;
  packageKind?: PackageKind; packageLimitBytes?: number; architecture?: LambdaArchitecture;
}): StageContext {
  const packageKind = o.packageKind ?? 'zip';
  return {
    model: o.model, calibration: o.calibration, runtimeBytes: runtimePackageBytes(o.calibrationFile), constants: o.constants, prices: o.prices,
    packageKind, packageLimitBytes: o.packageLimitBytes ?? packageLimitBytes(packageKind), architecture: o.architecture ?? 'x86_64', safetyFactor: STAGE_SAFETY_FACTOR,
  };
}

/** Seconds of a stage by where they go; they add up to its wall-clock seconds. */
export interface StageParts {
  readonly start: number;
  readonly load: number;
  readonly input: number;
  readonly compute: number;
  readonly output: number;
  readonly orchestration: number;
}

export type InputSource = 'staged' | 'payload' | 'object';

export interface StageEstimate {
  readonly firstUnit: number;
  readonly lastUnit: number;
  readonly memoryMB: number;
  readonly batch: number;
  readonly threads: number;
  readonly modelBytes: number;
  readonly packageBytes: number;
  readonly requiredMemoryMB: number;
  readonly input: InputSource;
  readonly output: { readonly dims: readonly number[]; readonly bytes: number; readonly handoff: 'payload' | 'object' };
  readonly parts: StageParts;
  /** Billed seconds of the function (INIT included). */
  readonly functionSeconds: number;
  /** Wall-clock seconds of the stage in the workflow. */
  readonly seconds: number;
  readonly counters: UsageCounters;
  readonly costUSD: number;
  readonly historyEvents: number;
  readonly feasible: boolean;
  readonly reasons: readonly string[];
}

/** What every execution adds beyond its stages: its start, the client's staging and reading, Express's request. */
export interface StagesOverhead {
  readonly seconds: number;
  readonly counters: UsageCounters;
  readonly costUSD: number;
  readonly historyEvents: number;
}

/** Dims of a unit's tensor with the batch. */
export function batchDims(t: TensorInfo, batch: number): number[] {
  return [batch, ...t.dims.slice(1)];
}

/** Bytes of a float32 tensor of `dims`. */
export function tensorBytes(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, FLOAT32_BYTES);
}

/**
 * Estimates of stages of one model at one batch and workflow type. Prefix sums make each estimate
 * O(1) in the units; estimates are cached by (first, last, memory).
 */
export class StageModel {
  readonly ctx: StageContext;
  readonly batch: number;
  readonly workflowType: WorkflowType;
  readonly units: number;
  readonly parallelFraction: number;
  readonly sessionCreate: SessionCreateFit;
  /**
   * The whole model's measured time over the sum of its units' at the batch: every unit's time is
   * scaled by it, so that all units in one stage take what the whole model took. A unit run alone
   * pays onnxruntime's per-run overhead and loses the fusions across its cut (Conv + Relu); the
   * scale spreads that difference in proportion.
   */
  readonly unitScale: number;
  private readonly computePrefix: Float64Array;
  private readonly modelBytesPrefix: Float64Array;
  private readonly cache = new Map<string, StageEstimate>();

  constructor(ctx: StageContext, batch: number, workflowType: WorkflowType) {
    const n = ctx.model.units.length;
    if (ctx.calibration.units.length !== n) {
      throw new RangeError(`the calibration has ${ctx.calibration.units.length} units, the model ${n}`);
    }
    this.ctx = ctx;
    this.batch = batch;
    this.workflowType = workflowType;
    this.units = n;
    this.parallelFraction = unitsParallelFraction(ctx.calibration);
    this.sessionCreate = fitSessionCreate(ctx.calibration);
    this.computePrefix = new Float64Array(n + 1);
    this.modelBytesPrefix = new Float64Array(n + 1);
    const unitSeconds = ctx.calibration.units.map((u) => secondsAtBatch(u.times, batch));
    const sum = unitSeconds.reduce((t, x) => t + x, 0);
    this.unitScale = secondsAtBatch(ctx.calibration.whole.times, batch) / sum;
    ctx.calibration.units.forEach((u, k) => {
      this.computePrefix[k + 1] = this.computePrefix[k] + unitSeconds[k] * this.unitScale;
      this.modelBytesPrefix[k + 1] = this.modelBytesPrefix[k] + u.modelBytes;
    });
  }

  /** intra-op threads at `memoryMB`: its vCPUs rounded up (functions/dense/onnx-session.ts threadsForMemory). */
  threadsAt(memoryMB: number): number {
    return Math.max(1, Math.ceil(lambdaVcpus(memoryMB, this.ctx.constants) - 1e-9));
  }

  /** Speed relative to one core of the calibrated machine, at `memoryMB` with its threads. */
  speedAt(memoryMB: number): number {
    return lambdaCpuSpeed(memoryMB, this.threadsAt(memoryMB), this.ctx.constants, this.parallelFraction);
  }

  /** One-thread seconds of units a..b at the batch, on the calibrated machine. */
  computeSecondsOf(a: number, b: number): number {
    return this.computePrefix[b] - this.computePrefix[a - 1];
  }

  /** Bytes of the sub-model of units a..b: the sum of the units' own files (shared weights and headers counted in each: an upper bound). */
  modelBytesOf(a: number, b: number): number {
    return this.modelBytesPrefix[b] - this.modelBytesPrefix[a - 1];
  }

  packageBytesOf(a: number, b: number): number {
    return this.modelBytesOf(a, b) + this.ctx.runtimeBytes;
  }

  /** The memory a function running units a..b at the batch needs, in MB (see the top of this file). */
  requiredMemoryMB(a: number, b: number): number {
    const { calibration: cal, constants: c, model } = this.ctx;
    const units = model.units;
    let peak = 0;
    for (let k = a; k <= b; k++) peak = Math.max(peak, units[k - 1].peakActivationBytes);
    const inBytes = units[a - 1].input.bytes * this.batch, outBytes = units[b - 1].output.bytes * this.batch;
    const bytes = c.lambdaRuntimeBaseMB * MB + cal.process.runtimeResidentBytes
      + cal.process.sessionResidentBytes + this.modelBytesOf(a, b) * cal.process.residentBytesPerModelByte
      + peak * this.batch * cal.process.residentBytesPerActivationByte
      + 2 * (inBytes + outBytes);
    return Math.ceil(bytes / MB);
  }

  /** The estimate of units a..b at `memoryMB`. */
  stage(a: number, b: number, memoryMB: number): StageEstimate {
    const key = `${a}/${b}/${memoryMB}`;
    let e = this.cache.get(key);
    if (!e) {
      e = this.estimate(a, b, memoryMB);
      this.cache.set(key, e);
    }
    return e;
  }

  private estimate(a: number, b: number, memoryMB: number): StageEstimate {
    const { constants: c, model, calibration: cal } = this.ctx;
    const n = this.units, batch = this.batch;
    const reasons: string[] = [];
    const threads = this.threadsAt(memoryMB);
    const speed = this.speedAt(memoryMB);
    const oneThreadSpeed = lambdaCpuSpeed(memoryMB, 1, c, 0);
    const modelBytes = this.modelBytesOf(a, b);
    const packageBytes = modelBytes + this.ctx.runtimeBytes;

    // Where its input comes from and where its output goes.
    const input: InputSource = a === 1 ? 'staged' : handoffFitsPayload(model.units[a - 2].output.bytes * batch) ? 'payload' : 'object';
    const inputBytes = model.units[a - 1].input.bytes * batch;
    const outDims = batchDims(model.units[b - 1].output, batch);
    const outBytes = tensorBytes(outDims);
    const handoff: 'payload' | 'object' = b < n && handoffFitsPayload(outBytes) ? 'payload' : 'object';

    const start = c.lambdaColdStartSeconds + packageBytes / STAGE_CONSTANTS.packageFetchBytesPerSecond.value
      + cal.process.importSeconds / (STAGE_CONSTANTS.initPhaseVcpus.value * c.lambdaCoreSpeedRatio);
    const load = (this.sessionCreate.interceptSeconds + this.sessionCreate.secondsPerMB * modelBytes / MB) / oneThreadSpeed;
    const inputSeconds = input === 'payload' ? 0 : c.s3GetSeconds + transferSeconds(inputBytes, c);
    const compute = this.computeSecondsOf(a, b) / speed;
    const outputSeconds = handoff === 'payload' ? 0 : c.s3PutSeconds + transferSeconds(outBytes, c);
    const handler = load + inputSeconds + compute + outputSeconds;
    const functionSeconds = billedSeconds((STAGE_CONSTANTS.initPhaseBilled.value ? start : 0) + handler);
    const orchestration = c.sfnTaskInvokeSeconds + c.sfnTransitionSeconds;
    const seconds = start + handler + orchestration;

    const express = this.workflowType === 'EXPRESS';
    const counters: UsageCounters = {
      ...zeroCounters(),
      lambda: [{ role: `stage-${a}-${b}`, memoryMB, architecture: this.ctx.architecture, invocations: 1, billedSeconds: functionSeconds }],
      s3GetRequests: input === 'payload' ? 0 : 1,
      s3BytesRead: input === 'payload' ? 0 : inputBytes,
      s3PutRequests: handoff === 'object' ? 1 : 0,
      s3BytesWritten: handoff === 'object' ? outBytes : 0,
      sfnStandardTransitions: express ? 0 : 1,
      sfnExpressGBSeconds: express ? seconds * c.sfnExpressBilledMemoryMB / 1024 : 0,
    };

    const requiredMemoryMB = this.requiredMemoryMB(a, b);
    if (requiredMemoryMB > memoryMB) reasons.push(`needs about ${requiredMemoryMB} MB, more than ${memoryMB} MB`);
    const limit = this.ctx.packageLimitBytes;
    if (packageBytes > limit) reasons.push(`a ${this.ctx.packageKind} package of ${(packageBytes / MB).toFixed(1)} MB, over the ${(limit / MB).toFixed(0)} MB limit`);
    const maxSeconds = express ? AWS_LIMITS.sfnExpressMaxSeconds.value : AWS_LIMITS.lambdaMaxTimeoutSeconds.value;
    if (functionSeconds * this.ctx.safetyFactor > maxSeconds) reasons.push(`runs ${functionSeconds.toFixed(0)} s, over the ${maxSeconds} s limit with margin x${this.ctx.safetyFactor}`);
    return {
      firstUnit: a, lastUnit: b, memoryMB, batch, threads, modelBytes, packageBytes, requiredMemoryMB, input,
      output: { dims: outDims, bytes: outBytes, handoff },
      parts: { start, load, input: inputSeconds, compute, output: outputSeconds, orchestration },
      functionSeconds, seconds, counters,
      costUSD: priceCounters(counters, this.ctx.prices).totalUSD,
      historyEvents: express ? 0 : STAGE_CONSTANTS.historyEventsPerTask.value,
      feasible: reasons.length === 0, reasons,
    };
  }

  /**
   * What every execution adds: Step Functions' start; the client's PUT of the batch before it and
   * its GET of the result after it (priced, not on the latency: the client's own transfers);
   * Express's request; a Standard history's start and end events.
   */
  overhead(): StagesOverhead {
    const c = this.ctx.constants;
    const express = this.workflowType === 'EXPRESS';
    const inBytes = tensorBytes(batchDims(this.ctx.model.input, this.batch));
    const resultBytes = tensorBytes(batchDims(this.ctx.model.output, this.batch));
    const seconds = c.sfnExecutionStartSeconds;
    const counters: UsageCounters = {
      ...zeroCounters(),
      s3PutRequests: 1, s3BytesWritten: inBytes,
      s3GetRequests: 1, s3BytesRead: resultBytes,
      sfnExpressRequests: express ? 1 : 0,
      sfnExpressGBSeconds: express ? seconds * c.sfnExpressBilledMemoryMB / 1024 : 0,
    };
    return { seconds, counters, costUSD: priceCounters(counters, this.ctx.prices).totalUSD, historyEvents: express ? 0 : 2 };
  }
}

const models = new WeakMap<StageContext, Map<string, StageModel>>();

/** The stage model of `ctx` at a batch and workflow type, made once per context (its estimates are cached inside). */
export function stageModelOf(ctx: StageContext, batch: number, workflowType: WorkflowType): StageModel {
  let byKey = models.get(ctx);
  if (!byKey) { byKey = new Map(); models.set(ctx, byKey); }
  const key = `${batch}/${workflowType}`;
  let model = byKey.get(key);
  if (!model) { model = new StageModel(ctx, batch, workflowType); byKey.set(key, model); }
  return model;
}
