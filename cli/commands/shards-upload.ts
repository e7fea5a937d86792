// `stepinfer shards upload <plan.json>`: cuts the plan's model into its shards (as `stepinfer
// shards` does) and uploads them to the plan's deployed bucket, then stages the plan's default
// inputs there (storage.defaultInputs: the rows the plan was made with, as its report names them,
// or --inputs), which an execution started with `{}` reads; both by the same code a local run
// uses on the emulated S3 (workflows/local/local-run.ts uploadShards, stageDefaultInputs). The plan
// must be deployed (stepinfer deploy): its state machine is found and checked to be this plan's
// first. A stages plan has neither shards nor default inputs: refused, saying what to do instead. (deploy does not stage them itself: it runs `cdk deploy` only, and the shards and inputs
// need the model and the inputs read here, which a stack update does not.)

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { networkChecksum } from '../../model/checksum.ts';
import { ModelFormatError, UsageError } from '../../model/errors.ts';
import { loadInputs } from '../../model/load.ts';
import type { SparseRows } from '../../model/network.ts';
import { buildShards } from '../../model/shard.ts';
import { planNeuronMaps, type Plan } from '../../planner/plan/index.ts';
import { STAGES_PLAN_KIND } from '../../planner/plan/stages-schema.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { assertDefaultInputs, stageDefaultInputs, uploadShards } from '../../workflows/local/local-run.ts';
import { awsClientsFromEnvironment, awsRequestError, planStateMachineArn, type AwsCommandClients, type AwsOptions } from '../aws.ts';
import { readAnyPlanFile, readPlanFile, readPlanReportOf } from '../files.ts';
import { report } from '../output.ts';
import { referencedInputs } from '../workload.ts';
import { loadPlanModel } from './shards.ts';

interface ShardsUploadOptions extends AwsOptions {
  readonly model?: string;
  readonly inputs?: string;
  readonly json?: boolean;
}

export interface ShardsUploadResult {
  readonly planId: string;
  readonly bucket: string;
  readonly shards: number;
  /** The shards' bytes and PUT requests. */
  readonly bytes: number;
  readonly puts: number;
  /** The plan's default inputs as staged: their rows, what they are, where, and the PUTs and bytes staging them took. */
  readonly defaultInputs: { readonly rows: number; readonly from: string; readonly keyPattern: string; readonly puts: number; readonly bytes: number };
}

/**
 * The plan's default inputs: the rows the plan was made with, as its report names them (a TSV
 * file, or generated rows), or the TSV file `inputsOption` names; they must be its inputRows rows.
 */
export function loadPlanInputs(plan: Plan, planFile: string, inputsOption: string | undefined): { inputs: SparseRows; from: string } {
  const loaded = inputsOption !== undefined
    ? { inputs: loadInputs(resolve(inputsOption), plan.model.neurons), from: inputsOption }
    : referencedInputs(readPlanReportOf(plan, planFile).workload.inputs, plan.model.neurons);
  assertDefaultInputs(plan, loaded.inputs, `the inputs (${loaded.from})`, planFile);
  return loaded;
}

/**
 * Why a stages plan has nothing to upload: its stage files go up in its functions' packages, and
 * its execution input is staged per run (storage.inputs is keyed by the execution; the plan has no
 * default input).
 */
export function stagesUploadRefusal(planFile: string): UsageError {
  return new UsageError(
    `${planFile} is a stages plan: it has no shards (each stage's sub-model is in its function's package: stepinfer deploy ${planFile}) and no default input (each execution reads the batch staged under its own name): stage one and start it with stepinfer start ${planFile} --input <file> (or --seed <n>)`,
    { field: 'plan' },
  );
}

/** Uploads the plan's shards to its deployed bucket and stages its default inputs there. */
export async function uploadPlanShards(planFile: string, o: ShardsUploadOptions, clients: AwsCommandClients = awsClientsFromEnvironment(o)): Promise<ShardsUploadResult> {
  if (readAnyPlanFile(planFile).kind === STAGES_PLAN_KIND) throw stagesUploadRefusal(planFile);
  const plan = readPlanFile(planFile);
  const { network, from } = loadPlanModel(plan, planFile, o.model);
  const modelChecksum = networkChecksum(network);
  if (modelChecksum !== plan.model.checksum.value) {
    throw new ModelFormatError(`the model at ${from} is not the plan's model (checksum ${modelChecksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`, { file: planFile, field: 'model.checksum' });
  }
  const defaults = loadPlanInputs(plan, planFile, o.inputs);
  await planStateMachineArn(clients.sfn, plan, planFile);
  const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
  const store = new ObjectStore(clients.s3, plan.names.bucket);
  try {
    await uploadShards(store, plan, shards);
  } catch (error) {
    throw awsRequestError(error, `uploading the shards to s3://${plan.names.bucket}`);
  }
  const inputsStore = new ObjectStore(clients.s3, plan.names.bucket);
  try {
    await stageDefaultInputs(inputsStore, plan, shards, defaults.inputs);
  } catch (error) {
    throw awsRequestError(error, `staging the plan's default inputs in s3://${plan.names.bucket}`);
  }
  return {
    planId: plan.planId, bucket: plan.names.bucket, shards: shards.length, bytes: store.counters.putBytes, puts: store.counters.puts,
    defaultInputs: { rows: defaults.inputs.rows, from: defaults.from, keyPattern: plan.storage.defaultInputs, puts: inputsStore.counters.puts, bytes: inputsStore.counters.putBytes },
  };
}

export function describeUpload(r: ShardsUploadResult): string {
  const prefix = r.defaultInputs.keyPattern.slice(0, r.defaultInputs.keyPattern.indexOf('<'));
  return [
    `plan ${r.planId}: uploaded ${r.shards} shard${r.shards === 1 ? '' : 's'} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${r.puts} requests) to s3://${r.bucket}/`,
    `staged the plan's default inputs (${r.defaultInputs.rows} rows: ${r.defaultInputs.from}; ${r.defaultInputs.puts} objects) under s3://${r.bucket}/${prefix}: an execution started with {} runs them`,
  ].join('\n');
}

export function registerShardsUploadCommand(shards: Command): void {
  shards
    .command('upload')
    .description("upload a plan's shards to its deployed bucket, and stage its default inputs (what an execution started with {} runs)")
    .argument('<plan>', 'plan.json of a deployed plan')
    .option('--model <path>', "the model, when it is not at the path the plan names (its checksum must match the plan's)")
    .option('--inputs <tsv>', "the default inputs, when they are not where the plan's report names them (the plan's inputRows rows)")
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile\'s)')
    .option('--json', 'print what was uploaded as JSON')
    .action(async (planFile: string, o: ShardsUploadOptions) => {
      report(o, await uploadPlanShards(planFile, o), describeUpload);
    });
}
