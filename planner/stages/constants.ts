// Facts of AWS the dense stage model needs beyond planner/latency/aws-latency.json (which it also
// reads: cold and warm start, S3 request and transfer times, Step Functions invoke and transition
// times, vCPUs per memory, the runtime's base memory), each once with its source. Kept apart from
// aws-latency.json so that the sparse planner's constants and reports stay exactly as they were.

export interface StageConstant {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
}

const constant = (value: number, unit: string, source: string): StageConstant => ({ value, unit, source });

export const STAGE_CONSTANTS = {
  /**
   * How fast a cold start fetches and unpacks the deployment package: the part of a cold start that
   * grows with the package. 6 ms per MB, the middle of the 50 MB point reported (200-400 ms; 10 MB:
   * 50-100 ms; 250 MB: "~500 ms+"), so conservative for the largest packages.
   */
  packageFetchBytesPerSecond: constant(1024 * 1024 / 0.006, 'bytes per second a cold start downloads and unpacks of the package (zip or image)',
    'alexmayhew.dev/blog/lambda-tax-cold-starts (2025, "Code Download and Extraction": 1 MB ~10-30 ms, 10 MB ~50-100 ms, 50 MB ~200-400 ms, 250 MB ~500 ms+); dev.to/kylehigginson/analysing-cold-starts-on-node-lambda (package size is the largest contributor to Node.js cold starts); as commonly reported, verify. Container images are taken at the same rate (AWS loads them lazily: likely faster; conservative)'),
  /**
   * The INIT phase (importing onnxruntime-node at module load) runs on two unthrottled vCPUs at any
   * memory size; the session is created in the handler (functions/handlers/dense-stage.ts) at the
   * function's own CPU share.
   */
  initPhaseVcpus: constant(1, 'cores of the calibrated machine the INIT phase runs the runtime import on (it is single-threaded: one of the two unthrottled vCPUs)',
    'bitesizedserverless.com/bite/when-is-the-lambda-init-phase-free-and-when-is-it-billed ("the initialization phase ... gets two unthrottled vCPUs, even at the lowest memory configurations"); as commonly reported, verify'),
  /** The INIT phase is billed like the invocation (on-demand ZIP functions on managed runtimes since 2025-08-01). */
  initPhaseBilled: constant(1, '1 when the INIT phase duration is billed as duration',
    'aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase ("Effective August 1, 2025 ... the INIT phase ... billed", read 2026-11-30 from stored copies)'),
  /** Stage states a Standard execution records per Task state (entered, scheduled, started, succeeded, exited). */
  historyEventsPerTask: constant(5, 'history events per Lambda Task state of a Standard execution',
    'docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html; the same count as planner/optimize/estimate.ts uses for a single Task'),
} as const satisfies Record<string, StageConstant>;

export type StageConstantName = keyof typeof STAGE_CONSTANTS;
