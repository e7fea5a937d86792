// `stepinfer deploy <plan.json>`: deploys the plan's stack (infra/) through the CDK toolkit: the
// aws-cdk CLI of this project (node_modules/.bin/cdk, the 2.1148 line) runs `cdk deploy` with the
// app infra/app.ts and `-c plan=<plan.json>`, telemetry and notices off. A stages plan's packages
// hold its stage files: deploy writes them first (cli/commands/stages.ts stagesModel, into
// .stepinfer/stages/<planId>/) or takes the folder `stepinfer stages` wrote (--stage-models), and
// names it with `-c stageModels=<dir>`. The command is printed first; `--print` prints it without
// writing or running anything. Deploying needs AWS credentials, a region and an account
// bootstrapped for CDK (`npx cdk bootstrap`).

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AwsAccessError, UsageError } from '../../model/errors.ts';
import { STAGES_PLAN_KIND, type AnyPlan, type StagesPlan } from '../../planner/plan/stages-schema.ts';
import { checkOutputPath, readAnyPlanFile, writeOutputFiles } from '../files.ts';
import { choiceOption } from '../options.ts';
import { PLAN_CONTEXT_KEY, STAGE_MODELS_CONTEXT_KEY } from '../../infra/context.ts';
import { stageModelFile } from '../../infra/stage-package.ts';
import { stagesModel } from './stages.ts';

/** cdk deploy's --require-approval levels. */
const APPROVAL_LEVELS = ['never', 'any-change', 'broadening'] as const;

interface DeployOptions {
  readonly print?: boolean;
  readonly region?: string;
  readonly approval?: (typeof APPROVAL_LEVELS)[number];
  /** A stages plan: the folder of its stage files, already written (default: written into stageFilesDir). */
  readonly stageModels?: string;
  /** A stages plan: its ONNX file, when not at the plan's model.path. */
  readonly model?: string;
}

/** Where deploy writes a stages plan's stage files when not given a folder of them. */
export function stageFilesDir(plan: Pick<StagesPlan, 'planId'>): string {
  return resolve('.stepinfer', 'stages', plan.planId);
}

/**
 * Writes every stage file of a stages plan into `dir` (created if missing; files of an earlier
 * deploy of the plan are replaced), cut from its model as `stepinfer stages` cuts them.
 */
export function writeStageFiles(plan: StagesPlan, dir: string, modelFile: string = plan.model.path): string[] {
  mkdirSync(dir, { recursive: true });
  const { files } = stagesModel(plan, modelFile);
  const outputs = files.map((f) => ({ file: checkOutputPath(join(dir, f.name), { overwrite: true }), data: f.bytes }));
  writeOutputFiles(outputs);
  return outputs.map((o) => o.file);
}

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface ToolkitCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Variables set on top of this process's environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** The `cdk deploy` that deploys a plan's stack (a stages plan's with its stage files, `stageModelsDir`). */
export function deployCommand(plan: AnyPlan, planFile: string, o: DeployOptions & { readonly stageModelsDir?: string } = {}): ToolkitCommand {
  if (plan.kind === STAGES_PLAN_KIND && o.stageModelsDir === undefined) throw new UsageError(`${planFile} is a stages plan: its deployment needs the folder of its stage files`, { field: 'stage-models' });
  return {
    command: resolve(REPO_ROOT, 'node_modules/.bin/cdk'),
    args: [
      'deploy', plan.names.stack,
      '--app', `${process.execPath} infra/app.ts`,
      '--context', `${PLAN_CONTEXT_KEY}=${resolve(planFile)}`,
      ...(plan.kind === STAGES_PLAN_KIND ? ['--context', `${STAGE_MODELS_CONTEXT_KEY}=${resolve(o.stageModelsDir!)}`] : []),
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
    .option('--stage-models <dir>', 'a stages plan: the folder of its stage files, written by stepinfer stages (default: deploy writes them into .stepinfer/stages/<planId>/)')
    .option('--model <file>', "a stages plan: its ONNX file, if not at its model.path (its checksum must match)")
    .option('--print', 'print the cdk command and exit (writes nothing)')
    .addHelpText('after', `
The stack: the plan's S3 buckets, SNS topics and SQS queues, one Lambda function per plan
function (bundled with esbuild), and the state machine from the generated workflow, tagged with
the plan id. Then upload the shards (stepinfer shards upload) and start executions (stepinfer start).
A stages plan (stepinfer plan --model x.onnx): one function per stage, whose package holds its
stage file and onnxruntime-node for Linux; start executions with stepinfer start --input or --seed.

Example: stepinfer deploy .stepinfer/plan.json --region eu-west-1`)
    .action((planFile: string, o: DeployOptions) => {
      const plan = readAnyPlanFile(planFile);
      if (plan.kind !== STAGES_PLAN_KIND) {
        for (const [given, flag] of [[o.stageModels, '--stage-models'], [o.model, '--model']] as const) {
          if (given !== undefined) throw new UsageError(`${flag} is for a stages plan; ${planFile} is a sparse plan (its model goes up with stepinfer shards upload)`, { field: flag.slice(2) });
        }
      }
      if (plan.kind === STAGES_PLAN_KIND && o.stageModels !== undefined && o.model !== undefined) {
        throw new UsageError('--model makes the stage files; --stage-models gives them: not both', { field: 'model' });
      }
      const stageModelsDir = plan.kind === STAGES_PLAN_KIND ? o.stageModels ?? stageFilesDir(plan) : undefined;
      const c = deployCommand(plan, planFile, { ...o, stageModelsDir });
      process.stdout.write(`${commandLine(c)}\n`);
      if (o.print) return;
      if (plan.kind === STAGES_PLAN_KIND && o.stageModels === undefined) {
        const written = writeStageFiles(plan, stageModelsDir!, o.model);
        process.stdout.write(`wrote ${written.length} stage file${written.length === 1 ? '' : 's'} of plan ${plan.planId} into ${stageModelsDir}\n`);
      }
      // The stack checks them again on synth; checked here, a missing or another plan's file fails before cdk starts.
      if (plan.kind === STAGES_PLAN_KIND) for (const f of plan.functions) stageModelFile(plan, f, resolve(stageModelsDir!));
      const run = spawnSync(c.command, c.args, { cwd: c.cwd, env: { ...process.env, ...c.env }, stdio: 'inherit' });
      if (run.error) throw new AwsAccessError(`could not run the aws-cdk CLI (${c.command}): ${run.error.message}`);
      if (run.status !== 0) throw new AwsAccessError(`cdk deploy of plan ${plan.planId} failed (exit ${run.status ?? run.signal}); see its output above`);
    });
}
