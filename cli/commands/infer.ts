// `stepinfer infer`: runs inference and reports categories (inputs with any nonzero final activation).

import type { Command } from 'commander';
import { StepinferError, UsageError, TruthMismatchError } from '../../model/errors.ts';
import { writeRowsTsv } from '../../model/load.ts';
import { networkNonzeros } from '../../model/network.ts';
import { inferSerial } from '../../functions/serial/serial-inference.ts';
import { createLayerKernel, KERNEL_BACKENDS, type KernelBackend } from '../../functions/kernels/backends.ts';
import { GATHER_ENGINES, type GatherEngineName } from '../../functions/kernels/gather.ts';
import { progressBar, report } from '../output.ts';
import { integerOption, numberOption } from '../options.ts';
import { compareWithTruth, resolveWorkload, type WorkloadOptions } from '../workload.ts';

interface InferOptions extends WorkloadOptions {
  readonly serial?: boolean;
  readonly backend: KernelBackend;
  readonly gatherDensity?: number;
  readonly gatherEngine: GatherEngineName;
  readonly activations?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
}

export function registerInferCommand(program: Command): void {
  program
    .command('infer')
    .description('Run inference and report the categories (inputs whose final activation row has a nonzero). '
      + 'Without --model it runs the real GraphChallenge benchmark when its data is reachable, otherwise a generated network of the same shape.')
    .option('--serial', 'run every layer in this process (the reference every distributed run must match)')
    .option('--model <path>', 'a .sdnn model or a neuron<N>/ directory of GraphChallenge layer TSVs')
    .option('--inputs <tsv>', 'input activations, sample<TAB>neuron<TAB>value, 1-based')
    .option('--truth <tsv>', 'expected category ids (1-based, one per line); a mismatch fails the command')
    .option('--limit <n>', 'use the first n inputs', integerOption(1))
    .option('--layers <L>', 'use the first L layers', integerOption(1))
    .option('--generate <NxL>', 'run a generated RadiX-Net network, e.g. 4096x120')
    .option('--samples <n>', 'inputs to generate with --generate (default 10000)', integerOption(1))
    .option('--seed <n>', 'seed for generated networks and inputs', integerOption(0))
    .option('--backend <name>', `layer kernel: ${KERNEL_BACKENDS.join(' or ')}`, 'typescript')
    .option('--gather-density <fraction>', 'typescript kernel: gather rows denser than this fraction', numberOption)
    .option('--gather-engine <name>', `typescript kernel: how dense rows are gathered, ${GATHER_ENGINES.join(' or ')} (bit-identical)`, 'wasm-simd')
    .option('--activations <file>', 'also write the final activations as TSV')
    .option('--json', 'print the result as JSON')
    .option('--progress', 'show a progress bar over layers even when stderr is not a terminal')
    .action((o: InferOptions) => {
      if (!o.serial) {
        throw new UsageError('infer needs --serial: only serial inference exists so far (distributed runs come with the workflow runtime)');
      }
      if (!(GATHER_ENGINES as readonly string[]).includes(o.gatherEngine)) {
        throw new UsageError(`unknown gather engine "${o.gatherEngine}" (choose ${GATHER_ENGINES.join(' or ')})`, { field: 'gather-engine' });
      }
      if (!(KERNEL_BACKENDS as readonly string[]).includes(o.backend)) {
        throw new UsageError(`unknown backend "${o.backend}" (choose ${KERNEL_BACKENDS.join(' or ')})`, { field: 'backend' });
      }
      const workload = resolveWorkload(o);
      if (!o.json) process.stderr.write(`${workload.description}\n`);
      const bar = progressBar('layers', o);
      const result = inferSerial(workload.network, workload.inputs, {
        kernel: createLayerKernel(workload.network.neurons, { backend: o.backend, gatherAboveDensity: o.gatherDensity, gatherEngine: o.gatherEngine }),
        onLayer: (layer, of) => bar.tick(layer.layer, of, `active rows ${layer.activeRows}`),
      });
      bar.stop();
      if (o.activations) writeRowsTsv(o.activations, result.activations);
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
        truth: truth ? { matches: truth.matches, expected: workload.truth!.length, missing: truth.missing, extra: truth.extra } : undefined,
        activationsFile: o.activations,
      };
      report(o, summary, (s) => [
        `backend      ${s.backend}`,
        `categories   ${s.categoryCount} of ${s.inputs} inputs`,
        `time         ${s.seconds.toFixed(3)} s for ${s.layers} layers (${(s.edgesPerSecond / 1e9).toFixed(2)} G edges/s, ${(s.multiplyAdds / 1e9).toFixed(3)} G multiply-adds)`,
        s.truth ? `truth        ${s.truth.matches ? `matches all ${s.truth.expected} expected categories` : `MISMATCH: ${s.truth.missing.length} missing, ${s.truth.extra.length} extra`}` : 'truth        none given',
        ...(s.activationsFile ? [`activations  written to ${s.activationsFile}`] : []),
        `ids          ${s.categories.slice(0, 20).join(' ')}${s.categories.length > 20 ? ' ...' : ''}`,
      ].join('\n'));
      if (truth && !truth.matches) {
        const list = (ids: number[]) => (ids.length ? ` (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''})` : '');
        throw new TruthMismatchError(
          `categories differ from the truth: ${truth.missing.length} missing${list(truth.missing)}, ${truth.extra.length} extra${list(truth.extra)}`,
          { file: o.truth },
        );
      }
    });
}
