// What the AWS commands (deploy, shards upload, start, inspect) share: the SDK clients, made from
// the standard AWS configuration (environment, profiles) with an optional --region; the check
// that a region and credentials are there before anything is sent; and finding the plan's
// deployed state machine and checking that it is this plan's, as deployed by this stepinfer
// (infra/identity.ts tags). Every failure is one clear line naming what to do.

import { S3Client } from '@aws-sdk/client-s3';
import { ListStateMachinesCommand, ListTagsForResourceCommand, SFNClient } from '@aws-sdk/client-sfn';
import { AwsAccessError } from '../model/errors.ts';
import type { AnyPlan } from '../planner/plan/stages-schema.ts';
import { PLAN_ID_TAG, WORKFLOW_DIGEST_TAG, workflowDigest } from '../infra/identity.ts';

export interface AwsOptions {
  readonly region?: string;
}

export interface AwsCommandClients {
  readonly sfn: SFNClient;
  readonly s3: S3Client;
}

/** Clients from the standard AWS configuration (AWS_REGION, AWS_PROFILE, ...), --region first. */
export function awsClientsFromEnvironment(o: AwsOptions = {}): AwsCommandClients {
  const config = o.region !== undefined ? { region: o.region } : {};
  return { sfn: new SFNClient(config), s3: new S3Client(config) };
}

/** The region the client will use; fails clearly when there is none or no credentials. */
export async function checkAwsAccess(client: SFNClient | S3Client): Promise<string> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch {
    region = undefined;
  }
  if (!region) throw new AwsAccessError('no AWS region: set AWS_REGION (or a region in your AWS profile), or give --region');
  try {
    await client.config.credentials();
  } catch (error) {
    throw new AwsAccessError(`no AWS credentials for region ${region}: set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sign in with aws sso login (${(error as Error).message})`);
  }
  return region;
}

/** An AWS request that failed, as one line: what was asked and what AWS said. */
export function awsRequestError(error: unknown, what: string): AwsAccessError {
  if (error instanceof AwsAccessError) return error;
  const e = error as { name?: string; message?: string };
  return new AwsAccessError(`${what} failed: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`);
}

/** Tags of a Step Functions resource as a map. */
export async function stateMachineTags(sfn: SFNClient, arn: string): Promise<Record<string, string>> {
  try {
    const out = await sfn.send(new ListTagsForResourceCommand({ resourceArn: arn }));
    return Object.fromEntries((out.tags ?? []).map((t) => [t.key ?? '', t.value ?? '']));
  } catch (error) {
    throw awsRequestError(error, `reading the tags of ${arn}`);
  }
}

/** Every state machine of the account and region, by name (ListStateMachines, paginated). */
async function stateMachinesByName(sfn: SFNClient): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let nextToken: string | undefined;
  do {
    let out;
    try {
      out = await sfn.send(new ListStateMachinesCommand({ nextToken }));
    } catch (error) {
      throw awsRequestError(error, 'listing state machines');
    }
    for (const sm of out.stateMachines ?? []) if (sm.name && sm.stateMachineArn) found.set(sm.name, sm.stateMachineArn);
    nextToken = out.nextToken;
  } while (nextToken);
  return found;
}

/** Why a state machine's tags are not those of `plan` as this stepinfer deploys it, or null. */
export function deployedPlanProblem(plan: AnyPlan, tags: Readonly<Record<string, string>>, arn: string): string | null {
  const deployed = tags[PLAN_ID_TAG];
  if (deployed === undefined) return `state machine ${arn} has no ${PLAN_ID_TAG} tag: it was not deployed by stepinfer deploy`;
  if (deployed !== plan.planId) return `state machine ${arn} belongs to the stack of plan ${deployed}, not of plan ${plan.planId}`;
  const digest = workflowDigest(plan);
  if (tags[WORKFLOW_DIGEST_TAG] !== digest) {
    return `the stack of plan ${plan.planId} is out of date: its workflow (${tags[WORKFLOW_DIGEST_TAG] ?? 'no digest'}) is not the one this stepinfer generates for the plan (${digest}); run stepinfer deploy again`;
  }
  return null;
}

/**
 * The ARN of the plan's deployed state machine. Fails when the plan is not deployed (naming an
 * older stack of the same prefix when there is one: the plan changed since), or when the state
 * machine of that name is another plan's or an older workflow's.
 */
export async function planStateMachineArn(sfn: SFNClient, plan: AnyPlan, planFile: string): Promise<string> {
  const region = await checkAwsAccess(sfn);
  const machines = await stateMachinesByName(sfn);
  const arn = machines.get(plan.names.stateMachine);
  if (arn === undefined) {
    // A stack of the same prefix and another plan id: deployed from an earlier version of the plan.
    const older = [...machines.keys()].filter((name) => name.startsWith(`${plan.stackPrefix}-`) && /^[0-9a-f]{16}$/.test(name.slice(plan.stackPrefix.length + 1))).sort();
    if (older.length > 0) {
      throw new AwsAccessError(`plan ${plan.planId} is not deployed in ${region}, and the stack deployed there (state machine ${older.join(', ')}) is out of date: it is of plan ${older[0].slice(plan.stackPrefix.length + 1)}; run stepinfer deploy ${planFile}`);
    }
    throw new AwsAccessError(`plan ${plan.planId} is not deployed in ${region}: no state machine ${plan.names.stateMachine}; run stepinfer deploy ${planFile}`);
  }
  const problem = deployedPlanProblem(plan, await stateMachineTags(sfn, arn), arn);
  if (problem) throw new AwsAccessError(problem);
  return arn;
}
