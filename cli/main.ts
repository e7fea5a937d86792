// The stepinfer command line. Each command lives in cli/commands/<name>.ts and exports one
// register function; this file only wires them and turns errors into messages and exit codes.

import { Command, CommanderError } from 'commander';
import { StepinferError } from '../model/errors.ts';
import { registerModelCommands } from './commands/model.ts';
import { registerInferCommand } from './commands/infer.ts';
import { registerCostCommand } from './commands/cost.ts';
import { registerCalibrateCommand } from './commands/calibrate.ts';
import { registerCalibrateStagesCommand } from './commands/calibrate-stages.ts';
import { registerPlanCommand } from './commands/plan.ts';
import { registerPartitionCommand } from './commands/partition.ts';
import { registerShardsCommand } from './commands/shards.ts';
import { registerRegenerateCommand } from './commands/regenerate.ts';
import { registerStagesCommand } from './commands/stages.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerInspectCommand } from './commands/inspect.ts';
import { registerShardsUploadCommand } from './commands/shards-upload.ts';
import { registerDeployCommand } from './commands/deploy.ts';
import { registerStartCommand } from './commands/start.ts';

export function buildProgram(): Command {
  const program = new Command('stepinfer')
    .description('Partitioned inference of large sparse DNNs on AWS Lambda, orchestrated by generated Step Functions workflows')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerModelCommands(program);
  registerRunCommand(program);
  registerInferCommand(program);
  registerPartitionCommand(program);
  registerPlanCommand(program);
  registerShardsUploadCommand(registerShardsCommand(program));
  registerRegenerateCommand(program);
  registerStagesCommand(program);
  registerDeployCommand(program);
  registerStartCommand(program);
  registerInspectCommand(program);
  registerCostCommand(program);
  registerCalibrateCommand(program);
  registerCalibrateStagesCommand(program);
  return program;
}

/** Runs the CLI; returns the process exit code (0 ok, 1 failed, 2 usage). */
export async function main(argv: readonly string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}

/** Runs a commander program (the CLI's or the benchmarks') with the CLI's errors and exit codes. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit with 0; commander has already printed usage problems.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof StepinferError) {
      process.stderr.write(`stepinfer: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`stepinfer: unexpected error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    return 1;
  }
}
