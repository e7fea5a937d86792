// `stepinfer infer`: runs inference and reports categories (inputs with any nonzero final activation).

import type { Command } from 'commander';
import { UsageError, TruthMismatchError } from '../../model/errors.ts';
import { formatRowsTsv } from '../../model/load.ts';
import { networkNonzeros } from '../../model/network.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { createLayerKernel, KERNEL_BACKENDS, type KernelBackend } from '../../functions/kernels/backends.ts';
import { DEFAULT_GATHER_ABOVE_DENSITY } from '../../functions/kernels/layer-kernel.ts';
import { GATHER_ENGINES, type GatherEngineName } from '../../functions/kernels/gather.ts';
import { checkOutputPath, writeOutputFile } from '../files.ts';
import { progressBar, report } from '../output.ts';
import { choiceOption, fractionOption, integerOption, numberOption } from '../options.ts';
import { addWorkloadOptions, compareWithTruth, resolveWorkload, type WorkloadOptions } from '../workload.ts';
import { readPlanWithReport } from '../run-report.ts';
import { inferDistributed, type DistributedInferOptions } from './infer-distributed.ts';

interface InferOptions extends WorkloadOptions, DistributedInferOptions {
  readonly serial?: boolean;
  readonly backend?: KernelBackend;
  readonly gatherDensity?: number;
  readonly gatherEngine?: GatherEngineName;
  readonly activations?: string;
  readonly force?: boolean;
  readonly json?: boolean;
  readonly progress?: boolean;
}

export function registerInferCommand(program: Command): void {
  const command = program
    .command('infer')
    .description('Run inference and report the categories (inputs whose final activation row has a nonzero). '
      + 'Without --model or --generate it runs the real GraphChallenge benchmark when its data is reachable, otherwise a generated network of the same shape.')
    .option('--serial', 'run every layer in this process (the reference every distributed run must match)')
    .option('--workers <P>', 'run distributed over P Lambda workers on this machine (fauxqs for SNS, SQS and S3; a local Lambda host)', integerOption(1, 65535))
    .option('--plan <file>', 'run distributed as this plan.json says (instead of --workers)')
    .option('--channel <kind>', 'with --workers: how workers exchange rows between layers, queue (SNS -> SQS) or object (S3) (default queue)', choiceOption(['queue', 'object'] as const))
    .option('--launch <kind>', "with --workers: how workers start, flat (one Invoke each) or tree (FSD-Inference's launch tree) (default flat)", choiceOption(['flat', 'tree'] as const))
    .option('--groups <G>', 'with --workers: cut the layers into G groups, S3 between them (default 1)', integerOption(1))
    .option('--receive-timeout <seconds>', "distributed: how long a worker waits for a layer's rows before the run fails naming what is missing", numberOption({ min: 0, aboveMin: true }))
    .option('--prices <file>', 'distributed: price file for the measured cost (default planner/prices/aws-us-east-1.json)');
  addWorkloadOptions(command, '4096x120')
    .option('--backend <name>', `layer kernel: ${KERNEL_BACKENDS.join(' or ')} (default typescript)`, choiceOption(KERNEL_BACKENDS))
    .option('--gather-density <fraction>', `typescript kernel: gather rows denser than this fraction of the neurons (default ${DEFAULT_GATHER_ABOVE_DENSITY})`, fractionOption({ zero: true }))
    .option('--gather-engine <name>', `typescript kernel: how dense rows are gathered, ${GATHER_ENGINES.join(' or ')} (bit-identical; default ${GATHER_ENGINES[0]})`, choiceOption(GATHER_ENGINES))
    .option('--activations <file>', 'also write the final activations as TSV')
    .option('--force', 'replace an existing --activations file')
    .option('--json', 'print the result as JSON')
    .option('--progress', 'show a progress bar over layers even when stderr is not a terminal')
    .action(async (o: InferOptions) => {
      const distributed = o.workers !== undefined || o.plan !== undefined;
      if (Boolean(o.serial) === distributed) throw new UsageError('infer needs --serial (one process) or --workers P / --plan plan.json (distributed), exactly one', { field: 'serial' });
      if (!distributed) {
        for (const [flag, given] of [['--channel', o.channel], ['--launch', o.launch], ['--groups', o.groups], ['--receive-timeout', o.receiveTimeout], ['--prices', o.prices]] as const) {
          if (given !== undefined) throw new UsageError(`${flag} applies to distributed runs (--workers or --plan)`, { field: flag.slice(2) });
        }
      } else if (o.backend !== undefined || o.gatherDensity !== undefined || o.gatherEngine !== undefined) {
        throw new UsageError('--backend, --gather-density and --gather-engine apply to --serial; a distributed run uses the plan\'s kernel', { field: 'backend' });
      }
      if (distributed) {
        if (o.force && !o.activations) throw new UsageError('--force replaces an existing --activations file; no --activations was given', { field: 'force' });
        if (o.activations) checkOutputPath(o.activations, { overwrite: o.force, option: '--activations' });
        if (o.plan && (o.workers !== undefined || o.channel || o.groups !== undefined)) {
          throw new UsageError('--plan fixes workers, channel and groups; give either --plan or --workers/--channel/--groups', { field: 'plan' });
        }
        // A plan file is read before the model, so a wrong path fails at once, not after the load.
        const given = o.plan ? readPlanWithReport(o.plan) : undefined;
        const workload = resolveWorkload(o, { defaultModel: 'benchmark', inputs: 'required' });
        if (!o.json) process.stderr.write(`${workload.description}\n`);
        await inferDistributed(workload, o, given);
        return;
      }
      const backend = o.backend ?? 'typescript';
      if (backend !== 'typescript') {
        if (o.gatherDensity !== undefined) throw new UsageError(`--gather-density applies to the typescript backend, not ${backend}`, { field: 'gather-density' });
        if (o.gatherEngine !== undefined) throw new UsageError(`--gather-engine applies to the typescript backend, not ${backend}`, { field: 'gather-engine' });
      }
      if (o.force && !o.activations) throw new UsageError('--force replaces an existing --activations file; no --activations was given', { field: 'force' });
      if (o.activations) checkOutputPath(o.activations, { overwrite: o.force, option: '--activations' });
      const workload = resolveWorkload(o, { defaultModel: 'benchmark', inputs: 'required' });
      if (!o.json) process.stderr.write(`${workload.description}\n`);
      const bar = progressBar('layers', o);
      const result = inferSerial(workload.network, workload.inputs, {
        kernel: createLayerKernel(workload.network.neurons, { backend, gatherAboveDensity: o.gatherDensity, gatherEngine: o.gatherEngine }),
        onLayer: (layer, of) => bar.tick(layer.layer, of, `active rows ${layer.activeRows}`),
      });
      bar.stop();
      if (o.activations) writeOutputFile(o.activations, formatRowsTsv(result.activations));
      const edges = workload.inputs.rows * networkNonzeros(workload.network);
      const truth = workload.truth ? compareWithTruth(result.categories, workload.truth) : undefined;
      const summary = {
        workload: workload.description,
        source: workload.source,
        backend: result.backend,
        neurons: workload.network.neurons,
        layers: workload.network.layers.length,
        inputs: workload.inputs.rows,
        seconds: result.seconds,
        edgesPerSecond: edges / result.seconds,
        multiplyAdds: result.multiplyAdds,
        categoryCount: result.categories.length,
        categories: result.categories.map((id) => id + 1),
        truth: truth
          ? { file: workload.truthFile, matches: truth.matches, expected: workload.truth!.length, idsBeyondInputs: workload.truthIdsBeyondInputs, missing: truth.missing, extra: truth.extra }
          : undefined,
        activationsFile: o.activations,
      };
      report(o, summary, (s) => [
        `backend      ${s.backend}`,
        `categories   ${s.categoryCount} of ${s.inputs} inputs`,
        `time         ${s.seconds.toFixed(3)} s for ${s.layers} layers (${(s.edgesPerSecond / 1e9).toFixed(2)} G edges/s, ${(s.multiplyAdds / 1e9).toFixed(3)} G multiply-adds)`,
        s.truth
          ? `truth        ${s.truth.matches ? `matches all ${s.truth.expected} expected categories` : `MISMATCH: ${s.truth.missing.length} missing, ${s.truth.extra.length} extra`}`
            + `${s.truth.idsBeyondInputs ? ` (${s.truth.idsBeyondInputs} ids of ${s.truth.file} are beyond the ${s.inputs} inputs)` : ''}`
          : 'truth        none given',
        ...(s.activationsFile ? [`activations  written to ${s.activationsFile}`] : []),
        `ids          ${s.categories.slice(0, 20).join(' ')}${s.categories.length > 20 ? ' ...' : ''}`,
      ].join('\n'));
      if (truth && !truth.matches) {
        const list = (ids: number[]) => (ids.length ? ` (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''})` : '');
        throw new TruthMismatchError(
          `categories differ from the truth: ${truth.missing.length} missing${list(truth.missing)}, ${truth.extra.length} extra${list(truth.extra)}`,
          { file: workload.truthFile },
        );
      }
    });
}
