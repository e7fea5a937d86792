// `stepinfer start <plan.json>`: one execution of a deployed plan on AWS. It checks that the
// plan's stack is deployed and is this plan's (cli/aws.ts), stages the run's input rows in the
// plan's bucket under the run id (the same code a local run stages them with,
// workflows/local/local-run.ts stageRunInputs), and starts the state machine with the run id as
// the execution name: StartExecution for a Standard workflow (with --wait it polls
// DescribeExecution until the execution ends), StartSyncExecution for an Express one (which
// answers when it ends). `--print-input` prints an input to paste into the console instead.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { DescribeExecutionCommand, StartExecutionCommand, StartSyncExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { networkChecksum } from '../../model/checksum.ts';
import { AwsAccessError, ModelFormatError, UsageError } from '../../model/errors.ts';
import { generateInputs } from '../../model/generate.ts';
import { loadInputs } from '../../model/load.ts';
import type { SparseRows } from '../../model/network.ts';
import { buildShards } from '../../model/shard.ts';
import { planNeuronMaps, type Plan } from '../../planner/plan/index.ts';
import { RUN_ID_PATTERN } from '../../functions/handlers/events.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { parseStateMachineInput } from '../../workflows/asl/index.ts';
import { newRunId, stageRunInputs } from '../../workflows/local/local-run.ts';
import { awsClientsFromEnvironment, awsRequestError, planStateMachineArn, type AwsCommandClients, type AwsOptions } from '../aws.ts';
import { readPlanFile } from '../files.ts';
import { integerOption, seedOption } from '../options.ts';
import { report } from '../output.ts';
import { loadPlanModel } from './shards.ts';

export interface StartOptions extends AwsOptions {
  readonly model?: string;
  readonly inputs?: string;
  readonly samples?: number;
  readonly seed?: number;
  readonly runId?: string;
  readonly topScores?: number;
  readonly wait?: boolean;
  readonly printInput?: boolean;
  /** Stage the inputs only: a console user then starts the execution under the run id. */
  readonly stageOnly?: boolean;
  readonly json?: boolean;
  /** Seconds between two DescribeExecution calls while waiting (default 2). */
  readonly pollSeconds?: number;
}

export interface StartResult {
  readonly planId: string;
  readonly runId: string;
  readonly stateMachineArn: string;
  /** Null with --stage-only (nothing started). */
  readonly executionArn: string | null;
  readonly input: { readonly samples: number; readonly topScores: number };
  /** STAGED with --stage-only, RUNNING when not waited for; else how it ended, with its output or error. */
  readonly status: string;
  readonly output: unknown;
  readonly error: string | null;
  readonly cause: string | null;
}

/** The execution input of a plan, for the console: every field optional, `{}` runs the plan as planned. */
export function exampleInput(plan: Plan): string {
  return `${JSON.stringify(parseStateMachineInput({}, plan), null, 2)}\n`;
}

/** The run's input rows: a TSV file, or generated (--samples, default the plan's inputRows; --seed). */
function runInputs(plan: Plan, o: StartOptions): SparseRows {
  if (o.inputs !== undefined) {
    if (o.samples !== undefined || o.seed !== undefined) throw new UsageError('give --inputs or --samples/--seed, not both', { field: 'inputs' });
    return loadInputs(o.inputs, plan.model.neurons);
  }
  return generateInputs({ neurons: plan.model.neurons, samples: o.samples ?? plan.inputRows, seed: o.seed ?? 1 });
}

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
};

/** Polls DescribeExecution until the execution is no longer RUNNING. */
async function waitForExecution(sfn: SFNClient, executionArn: string, pollSeconds: number): Promise<{ status: string; output: unknown; error: string | null; cause: string | null }> {
  for (;;) {
    let out;
    try {
      out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    } catch (error) {
      throw awsRequestError(error, `describing execution ${executionArn}`);
    }
    if (out.status !== 'RUNNING' && out.status !== 'PENDING_REDRIVE') {
      return { status: out.status ?? 'UNKNOWN', output: parseJson(out.output), error: out.error ?? null, cause: out.cause ?? null };
    }
    await sleep(pollSeconds * 1000);
  }
}

/** Stages the inputs and starts one execution of a deployed plan. */
export async function startExecution(planFile: string, o: StartOptions, clients: AwsCommandClients = awsClientsFromEnvironment(o)): Promise<StartResult> {
  const plan = readPlanFile(planFile);
  const runId = o.runId ?? newRunId();
  if (!RUN_ID_PATTERN.test(runId)) throw new UsageError(`"${runId}" is not a run id: 1-80 letters, digits, - or _ (it names the execution)`, { field: 'run-id' });
  const inputs = runInputs(plan, o);
  const input = parseStateMachineInput({ samples: inputs.rows, topScores: o.topScores ?? 0 }, plan, '--samples/--top-scores');
  const stateMachineArn = await planStateMachineArn(clients.sfn, plan, planFile);

  // The inputs are cut by the plan's layer-1 neuron maps: each worker's rows and the rows its peers read of them.
  const { network, from } = loadPlanModel(plan, planFile, o.model);
  const modelChecksum = networkChecksum(network);
  if (modelChecksum !== plan.model.checksum.value) {
    throw new ModelFormatError(`the model at ${from} is not the plan's model (checksum ${modelChecksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`, { file: planFile, field: 'model.checksum' });
  }
  const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
  try {
    await stageRunInputs(new ObjectStore(clients.s3, plan.names.bucket), plan, runId, shards, inputs);
  } catch (error) {
    throw awsRequestError(error, `staging the inputs of run ${runId} in s3://${plan.names.bucket}`);
  }

  const request = { stateMachineArn, name: runId, input: JSON.stringify(input) };
  const base = { planId: plan.planId, runId, stateMachineArn, input };
  if (o.stageOnly) return { ...base, executionArn: null, status: 'STAGED', output: null, error: null, cause: null };
  if (plan.workflow.type === 'EXPRESS') {
    let out;
    try {
      out = await clients.sfn.send(new StartSyncExecutionCommand(request));
    } catch (error) {
      throw awsRequestError(error, `starting a synchronous Express execution of ${stateMachineArn}`);
    }
    return { ...base, executionArn: out.executionArn ?? '', status: out.status ?? 'UNKNOWN', output: parseJson(out.output), error: out.error ?? null, cause: out.cause ?? null };
  }
  let started;
  try {
    started = await clients.sfn.send(new StartExecutionCommand(request));
  } catch (error) {
    throw awsRequestError(error, `starting an execution of ${stateMachineArn}`);
  }
  const executionArn = started.executionArn;
  if (!executionArn) throw new AwsAccessError(`StartExecution of ${stateMachineArn} returned no execution ARN`);
  if (!o.wait) return { ...base, executionArn, status: 'RUNNING', output: null, error: null, cause: null };
  return { ...base, executionArn, ...await waitForExecution(clients.sfn, executionArn, o.pollSeconds ?? 2) };
}

function describeStart(r: StartResult): string {
  if (r.status === 'STAGED') {
    return [`plan ${r.planId}: staged ${r.input.samples} input rows for run ${r.runId}`, `start it from the console on ${r.stateMachineArn} with execution name ${r.runId} and input ${JSON.stringify(r.input)}`].join('\n');
  }
  const lines = [`plan ${r.planId}: execution ${r.runId} of ${r.stateMachineArn} (${r.input.samples} input rows)`, `execution  ${r.executionArn}`, `status     ${r.status}`];
  if (r.error !== null) lines.push(`error      ${r.error}${r.cause ? `: ${r.cause}` : ''}`);
  if (r.output !== null) lines.push(`output     ${JSON.stringify(r.output)}`);
  if (r.status === 'RUNNING') lines.push(`inspect it: stepinfer inspect ${r.executionArn} --plan <plan.json>`);
  return lines.join('\n');
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('start an execution of a deployed plan on AWS (stage the inputs, then StartExecution, or StartSyncExecution for Express)')
    .argument('<plan>', 'plan.json of a deployed plan (stepinfer deploy)')
    .option('--inputs <tsv>', 'input rows (sample<TAB>neuron<TAB>value)')
    .option('--samples <n>', "generate this many input rows instead (default: the plan's inputRows)", integerOption(1))
    .option('--seed <n>', 'seed of generated inputs (default 1)', seedOption)
    .option('--model <path>', "the model, when it is not at the path the plan names (the inputs are cut by the plan's neuron maps)")
    .option('--run-id <id>', 'the execution name (default: a new time-ordered id)')
    .option('--top-scores <k>', "also return each input's k highest final activations", integerOption(0))
    .option('--wait', 'wait for a Standard execution to end and print its result (Express always waits)')
    .option('--print-input', 'print an execution input to paste into the console, and exit')
    .option('--stage-only', 'stage the inputs under the run id and start nothing (then start it from the console with that execution name)')
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile\'s)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
From the console: stage the inputs under an execution name first (stepinfer start --stage-only
--run-id NAME), then start an execution named NAME with the input --print-input prints ({} runs
the plan's inputRows). The input's JSON Schema is input.schema.json (stepinfer regenerate).

Example: stepinfer start .stepinfer/plan.json --samples 1000 --wait`)
    .action(async (planFile: string, o: StartOptions) => {
      if (o.printInput) {
        process.stdout.write(exampleInput(readPlanFile(planFile)));
        return;
      }
      report(o, await startExecution(planFile, o), describeStart);
    });
}
