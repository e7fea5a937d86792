// `stepinfer deploy <plan.json>`: deploys the plan's stack (infra/) through the CDK toolkit: the
// aws-cdk CLI of this project (node_modules/.bin/cdk, the 2.1148 line) runs `cdk deploy` with the
// app infra/app.ts and `-c plan=<plan.json>`, telemetry and notices off. The command is printed
// first; `--print` prints it without running it. Deploying needs AWS credentials, a region and an
// account bootstrapped for CDK (`npx cdk bootstrap`).

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AwsAccessError } from '../../model/errors.ts';
import { type Plan } from '../../planner/plan/index.ts';
import { readPlanFile } from '../files.ts';
import { choiceOption } from '../options.ts';
import { PLAN_CONTEXT_KEY } from '../../infra/context.ts';

/** cdk deploy's --require-approval levels. */
const APPROVAL_LEVELS = ['never', 'any-change', 'broadening'] as const;

interface DeployOptions {
  readonly print?: boolean;
  readonly region?: string;
  readonly approval?: (typeof APPROVAL_LEVELS)[number];
}

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface ToolkitCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Variables set on top of this process's environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** The `cdk deploy` that deploys a plan's stack. */
export function deployCommand(plan: Plan, planFile: string, o: DeployOptions = {}): ToolkitCommand {
  return {
    command: resolve(REPO_ROOT, 'node_modules/.bin/cdk'),
    args: [
      'deploy', plan.names.stack,
      '--app', `${process.execPath} infra/app.ts`,
      '--context', `${PLAN_CONTEXT_KEY}=${resolve(planFile)}`,
      '--require-approval', o.approval ?? 'broadening',
      '--no-notices',
    ],
    cwd: REPO_ROOT,
    env: { CDK_DISABLE_CLI_TELEMETRY: 'true', ...(o.region !== undefined ? { AWS_REGION: o.region, CDK_DEFAULT_REGION: o.region } : {}) },
  };
}

/** The command as a shell line (for printing). */
export function commandLine(c: ToolkitCommand): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
  return [...Object.entries(c.env).map(([k, v]) => `${k}=${quote(v)}`), quote(c.command), ...c.args.map(quote)].join(' ');
}

export function registerDeployCommand(program: Command): void {
  program
    .command('deploy')
    .description("deploy a plan's stack to AWS (the CDK app infra/app.ts through the aws-cdk CLI)")
    .argument('<plan>', 'plan.json written by stepinfer plan')
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile\'s)')
    .option('--approval <level>', 'cdk deploy --require-approval: never, any-change or broadening (default broadening: asks before IAM changes that widen access)', choiceOption(APPROVAL_LEVELS))
    .option('--print', 'print the cdk command and exit')
    .addHelpText('after', `
The stack: the plan's S3 buckets, SNS topics and SQS queues, one Lambda function per plan
function (bundled with esbuild), and the state machine from the generated workflow, tagged with
the plan id. Then upload the shards (stepinfer shards upload) and start executions (stepinfer start).

Example: stepinfer deploy .stepinfer/plan.json --region eu-west-1`)
    .action((planFile: string, o: DeployOptions) => {
      const plan = readPlanFile(planFile);
      const c = deployCommand(plan, planFile, o);
      process.stdout.write(`${commandLine(c)}\n`);
      if (o.print) return;
      const run = spawnSync(c.command, c.args, { cwd: c.cwd, env: { ...process.env, ...c.env }, stdio: 'inherit' });
      if (run.error) throw new AwsAccessError(`could not run the aws-cdk CLI (${c.command}): ${run.error.message}`);
      if (run.status !== 0) throw new AwsAccessError(`cdk deploy of plan ${plan.planId} failed (exit ${run.status ?? run.signal}); see its output above`);
    });
}
