// `stepinfer regenerate <plan.json> -o DIR`: the plan's Step Functions workflow as files, from the
// plan alone (workflows/asl/): `<names.stateMachine>.asl.json`, `substitutions.json` (every
// `${Key}` of the definition, what it means and the plan name it resolves to: CDK's
// DefinitionSubstitutions on deploy, the local runtime's values here) and `input.schema.json` (the
// execution input). The same plan gives byte-identical files. Existing files are replaced only
// with --force; a workflow that fails validation writes nothing.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  countTransitions, definitionFileName, INPUT_SCHEMA_FILE, STAGE_RETRIES, SUBSTITUTIONS_FILE, workflowFiles,
} from '../../workflows/asl/index.ts';
import { checkOutputPath, readAnyPlanFile, writeOutputFiles } from '../files.ts';
import { report } from '../output.ts';

interface RegenerateOptions {
  readonly out: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

export function registerRegenerateCommand(program: Command): void {
  program
    .command('regenerate')
    .description("write a plan's Step Functions workflow (ASL), its definition substitutions and its input schema")
    .argument('<plan>', 'plan.json written by stepinfer plan')
    .requiredOption('-o, --out <dir>', 'folder to write the files into (created if missing)')
    .option('--force', 'replace existing files')
    .option('--json', 'print what was written as JSON')
    .addHelpText('after', `
The workflow has the plan's shape: one Task (serial), a chain of Tasks (stages; a stages plan of
an ONNX model: one Task per stage, named after its layers), or per stage a
Map over the workers (or one coordinator Task for a launch tree), then a gather. Every Task has
the plan's timeout and retry policy; a failed stage runs again under a new attempt (at most
${STAGE_RETRIES} times), then the run's intermediates are cleaned up and the execution fails with the cause.
ARNs and names are \${...} substitutions: deploy with CDK (DefinitionSubstitutions) or run locally.

Example: stepinfer regenerate .stepinfer/plan.json -o .stepinfer/workflow`)
    .action((planFile: string, o: RegenerateOptions) => {
      const plan = readAnyPlanFile(planFile);
      const dir = resolve(o.out);
      mkdirSync(dir, { recursive: true });
      const paths = [definitionFileName(plan), SUBSTITUTIONS_FILE, INPUT_SCHEMA_FILE].map((name) => checkOutputPath(join(dir, name), { overwrite: o.force, option: '--out' }));
      const files = workflowFiles(plan);
      const outputs = [files.definition, files.substitutions, files.inputSchema].map((f, i) => ({ file: paths[i], data: f.text }));
      writeOutputFiles(outputs);
      const { definition, substitutions } = files.rendered;
      const count = countTransitions(definition);
      const summary = {
        planId: plan.planId,
        stateMachine: plan.names.stateMachine,
        shape: plan.shape,
        workflowType: plan.workflow.type,
        files: outputs.map((x) => x.file),
        states: Object.keys(definition.States).length,
        substitutions: Object.keys(substitutions).length,
        transitions: count.transitions,
        childExecutions: count.childExecutions,
      };
      report(o, summary, (s) => [
        plan.kind === 'stepinfer-plan'
          ? `plan ${s.planId}: ${s.shape}, ${plan.workers} worker${plan.workers === 1 ? '' : 's'}, ${plan.workflow.stages.length} stage${plan.workflow.stages.length === 1 ? '' : 's'} (${s.workflowType})`
          : `plan ${s.planId}: ${s.shape}, ${plan.workflow.stages.length} stage${plan.workflow.stages.length === 1 ? '' : 's'} of ${plan.model.path} (${s.workflowType})`,
        `wrote ${s.files.join(', ')}`,
        `${s.states} top-level states, ${s.substitutions} substitutions; a successful execution makes ${s.transitions} state transitions${s.childExecutions > 0 ? ` and starts ${s.childExecutions} child Express executions` : ''}`,
      ].join('\n'));
    });
}
