// `stepinfer shards upload <plan.json>`: cuts the plan's model into its shards (as `stepinfer
// shards` does) and uploads them to the plan's deployed bucket, by the same code a local run
// uploads them to the emulated S3 with (workflows/local/local-run.ts uploadShards). The plan must
// be deployed (stepinfer deploy): its state machine is found and checked to be this plan's first.

import type { Command } from 'commander';
import { networkChecksum } from '../../model/checksum.ts';
import { ModelFormatError } from '../../model/errors.ts';
import { buildShards } from '../../model/shard.ts';
import { planNeuronMaps } from '../../planner/plan/index.ts';
import { ObjectStore } from '../../functions/storage/object-store.ts';
import { uploadShards } from '../../workflows/local/local-run.ts';
import { awsClientsFromEnvironment, awsRequestError, planStateMachineArn, type AwsCommandClients, type AwsOptions } from '../aws.ts';
import { readPlanFile } from '../files.ts';
import { report } from '../output.ts';
import { loadPlanModel } from './shards.ts';

interface ShardsUploadOptions extends AwsOptions {
  readonly model?: string;
  readonly json?: boolean;
}

export interface ShardsUploadResult {
  readonly planId: string;
  readonly bucket: string;
  readonly shards: number;
  readonly bytes: number;
  readonly puts: number;
}

/** Uploads the plan's shards to its deployed bucket. */
export async function uploadPlanShards(planFile: string, o: ShardsUploadOptions, clients: AwsCommandClients = awsClientsFromEnvironment(o)): Promise<ShardsUploadResult> {
  const plan = readPlanFile(planFile);
  const { network, from } = loadPlanModel(plan, planFile, o.model);
  const modelChecksum = networkChecksum(network);
  if (modelChecksum !== plan.model.checksum.value) {
    throw new ModelFormatError(`the model at ${from} is not the plan's model (checksum ${modelChecksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`, { file: planFile, field: 'model.checksum' });
  }
  await planStateMachineArn(clients.sfn, plan, planFile);
  const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
  const store = new ObjectStore(clients.s3, plan.names.bucket);
  try {
    await uploadShards(store, plan, shards);
  } catch (error) {
    throw awsRequestError(error, `uploading the shards to s3://${plan.names.bucket}`);
  }
  return { planId: plan.planId, bucket: plan.names.bucket, shards: shards.length, bytes: store.counters.putBytes, puts: store.counters.puts };
}

export function registerShardsUploadCommand(shards: Command): void {
  shards
    .command('upload')
    .description("upload a plan's shards to its deployed bucket")
    .argument('<plan>', 'plan.json of a deployed plan')
    .option('--model <path>', "the model, when it is not at the path the plan names (its checksum must match the plan's)")
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile\'s)')
    .option('--json', 'print what was uploaded as JSON')
    .action(async (planFile: string, o: ShardsUploadOptions) => {
      const result = await uploadPlanShards(planFile, o);
      report(o, result, (r) => `plan ${r.planId}: uploaded ${r.shards} shard${r.shards === 1 ? '' : 's'} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${r.puts} requests) to s3://${r.bucket}/`);
    });
}
