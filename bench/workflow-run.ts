// The main job's time against serial inference, in one run: `stepinfer run`'s path (the plan's
// generated workflow in aws-local-stepfunctions, the real handlers in the local Lambda host,
// SNS/SQS/S3 on fauxqs) on the real case with FSD-Inference's configuration by default (8
// workers, the queue channel, layer groups the planner cuts, Map launch), next to serial inference
// of the same inputs in this process, with the ratio and where the run's time goes: setup (the
// emulators, resources, shards and staged inputs), then per stage its launch (from the stage
// state's entry to each worker's handler starting: Step Functions dispatch, the Invoke, a cold
// thread's start and module import), load (shard and input rows from S3), the layers (per layer
// the slowest worker's compute, send and wait), and the end (output rows and status written,
// the Map closing); then the gather. The goal: within 10x of serial inference on this
// machine (two cores, shared: both numbers move with the load).
//
//   npm run bench -- run [--workers 8] [--channel queue|object] [--groups G] [--launch map|tree] [--limit n] [--layers L] [--json]

import { inferSerial } from '../functions/serial/serial-inference.ts';
import { defaultPrices } from '../planner/cost/prices.ts';
import { stageStateName, GATHER_STATE } from '../workflows/asl/index.ts';
import { channelCounters } from '../workflows/local/run-counters.ts';
import { runStateMachineLocally } from '../workflows/local/state-machine-run.ts';
import { loadCalibration, makePlan } from '../cli/commands/plan.ts';
import { report, table } from '../cli/output.ts';
import { resolveWorkload } from '../cli/workload.ts';

export interface WorkflowRunBenchOptions {
  readonly workers: number;
  readonly channel: 'queue' | 'object';
  readonly groups?: number;
  readonly launch: 'map' | 'tree';
  readonly limit?: number;
  readonly layers?: number;
  readonly json?: boolean;
}

const s = (ms: number) => Math.round(ms) / 1000;

export async function benchWorkflowRun(o: WorkflowRunBenchOptions): Promise<void> {
  const workload = resolveWorkload({ limit: o.limit, layers: o.layers }, { defaultModel: 'benchmark', inputs: 'required' });
  if (!o.json) process.stderr.write(`${workload.description}\n`);
  const serialStart = Date.now();
  const serial = inferSerial(workload.network, workload.inputs);
  const serialMs = Date.now() - serialStart;

  const { plan } = await makePlan(workload, {
    objective: 'cost', prices: defaultPrices(), calibration: loadCalibration(undefined), workers: [o.workers],
    ...(o.workers > 1 ? { channel: [o.channel], shape: ['layer-groups' as const], launch: [o.launch] } : { shape: ['serial' as const] }),
    ...(o.groups !== undefined ? { groups: o.groups } : {}),
  });
  const cpuBefore = process.cpuUsage();
  const run = await runStateMachineLocally(plan, workload.network, workload.inputs, { logSink: () => undefined });
  // Process-wide: the handlers' threads, the emulator and the interpreter count too.
  const cpu = process.cpuUsage(cpuBefore);
  const exact = run.categories.length === serial.categories.length && run.categories.every((c, i) => c === serial.categories[i]);

  const states = run.execution.states.filter((x) => x.index === null);
  const entered = (name: string) => states.filter((x) => x.name === name);
  const { perLayer } = channelCounters(run);
  const stages = plan.workflow.stages.map((stage, i) => {
    // The attempt the run used; its state entry is the last one of the stage's state.
    const entry = entered(stageStateName(plan, stage)).at(-1)!;
    const workers = run.stages[i].workers;
    const layers = perLayer.filter((l) => l.layer! >= stage.firstLayer && l.layer! <= stage.lastLayer);
    const lastLayerEnd = Math.max(...workers.map((w) => w.layers.at(-1)!.endMs));
    return {
      state: entry.name,
      seconds: s((entry.exitedMs ?? entry.enteredMs) - entry.enteredMs),
      launchSeconds: { min: s(Math.min(...workers.map((w) => w.startMs)) - entry.enteredMs), max: s(Math.max(...workers.map((w) => w.startMs)) - entry.enteredMs) },
      loadSeconds: s(Math.max(...workers.map((w) => w.layers[0].startMs - w.startMs))),
      layersSeconds: s(lastLayerEnd - Math.min(...workers.map((w) => w.layers[0].startMs))),
      slowestWorkerSeconds: {
        compute: s(layers.reduce((t, l) => t + l.computeMs, 0)),
        send: s(layers.reduce((t, l) => t + l.sendMs, 0)),
        wait: s(layers.reduce((t, l) => t + l.waitMs, 0)),
      },
      endSeconds: s((entry.exitedMs ?? lastLayerEnd) - lastLayerEnd),
      shardsLoaded: workers.filter((w) => !w.shardCached).length,
    };
  });
  const gather = entered(GATHER_STATE).at(-1);
  const summary = {
    workload: workload.description,
    plan: { planId: plan.planId, shape: plan.shape, workers: plan.workers, channel: plan.channel.kind, stages: plan.workflow.stages.map((x) => `${x.firstLayer}-${x.lastLayer}`), workflowType: plan.workflow.type },
    exact,
    serialSeconds: s(serialMs),
    runSeconds: s(run.phasesMs.total),
    cpuSeconds: s((cpu.user + cpu.system) / 1000),
    ratio: run.phasesMs.total / serialMs,
    setupSeconds: s(run.phasesMs.setup),
    stages,
    gatherSeconds: gather ? s((gather.exitedMs ?? gather.enteredMs) - gather.enteredMs) : 0,
    coldStarts: run.invocations.filter((x) => x.cold).length,
    invocations: run.invocations.length,
  };
  report({ json: o.json }, summary, (x) => [
    `plan      ${x.plan.planId}: ${x.plan.shape}, ${x.plan.workers} workers, ${x.plan.channel} channel, stages ${x.plan.stages.join(', ')}, ${x.plan.workflowType}`,
    `serial    ${x.serialSeconds.toFixed(2)} s (this process, one core)`,
    `run       ${x.runSeconds.toFixed(2)} s through the generated workflow: ${x.ratio.toFixed(1)}x serial (goal: within 10x); categories ${x.exact ? 'equal serial inference' : 'DIFFER from serial inference'}`,
    `cpu       ${x.cpuSeconds.toFixed(2)} s of this process's CPU during the run (every thread: handlers, emulator, interpreter)`,
    `setup     ${x.setupSeconds.toFixed(2)} s (fauxqs, resources, Lambda host, shards, staged inputs)`,
    `lambda    ${x.invocations} invocations, ${x.coldStarts} cold (a thread started, the handler imported)`,
    '',
    table(['stage', 'seconds', 'launch s (first-last worker)', 'load s', 'layers s', 'compute s', 'send s', 'wait s', 'end s', 'shards loaded'],
      x.stages.map((st) => [st.state, st.seconds.toFixed(2), `${st.launchSeconds.min.toFixed(2)}-${st.launchSeconds.max.toFixed(2)}`, st.loadSeconds.toFixed(2), st.layersSeconds.toFixed(2),
        st.slowestWorkerSeconds.compute.toFixed(2), st.slowestWorkerSeconds.send.toFixed(2), st.slowestWorkerSeconds.wait.toFixed(2), st.endSeconds.toFixed(2), st.shardsLoaded])),
    `gather    ${x.gatherSeconds.toFixed(2)} s`,
    '(compute, send and wait: per layer the slowest worker\'s, summed over the stage\'s layers)',
  ].join('\n'));
}
