// `stepinfer model convert | info | generate`: model files.

import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { decodeHeader, decodeNetwork, encodeNetwork, SDNN_FORMAT_VERSION } from '../../model/binary.ts';
import { formatRowsTsv, loadNetwork, modelFormat } from '../../model/load.ts';
import { readDataFile } from '../../model/read-file.ts';
import {
  checkInputsOptions, checkRadixOptions, generatedInputsBytes, generateInputs, generateRadixNetwork, radixNetworkBytes, GRAPH_CHALLENGE_INPUT_DENSITY,
} from '../../model/generate.ts';
import { layerNonzeros, networkNonzeros, type SparseNetwork } from '../../model/network.ts';
import { checkOutputPath, writeOutputFile, writeOutputFiles } from '../files.ts';
import { progressBar, report } from '../output.ts';
import { fractionOption, integerOption, numberOption, seedOption, shapeOption, type Shape } from '../options.ts';
import { checkFitsInMemory } from '../workload.ts';

interface Reporting { readonly json?: boolean; readonly progress?: boolean }

function describeNetwork(network: SparseNetwork) {
  const n = network.neurons;
  let minFanIn = Infinity, maxFanIn = 0;
  for (const layer of network.layers) {
    for (let j = 0; j < n; j++) {
      const f = layer.outputStart[j + 1] - layer.outputStart[j];
      if (f < minFanIn) minFanIn = f;
      if (f > maxFanIn) maxFanIn = f;
    }
  }
  return {
    neurons: n,
    layers: network.layers.length,
    nonzeros: networkNonzeros(network),
    nonzerosPerLayer: { min: Math.min(...network.layers.map(layerNonzeros)), max: Math.max(...network.layers.map(layerNonzeros)) },
    fanIn: { min: minFanIn, max: maxFanIn },
    bias: network.bias,
    activationCap: network.activationCap,
  };
}

export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('Convert, describe and generate sparse DNN models');

  model
    .command('convert')
    .description('Convert a GraphChallenge neuron<N>/ directory of layer TSVs into the .sdnn binary format')
    .argument('<source>', 'directory of n<N>-l<k>.tsv files (or a .sdnn file to rewrite)')
    .requiredOption('-o, --out <file>', 'output .sdnn file')
    .option('--layers <L>', 'convert only the first L layers', integerOption(1))
    .option('--bias <b>', "override the benchmark's bias for N", numberOption())
    .option('--force', 'replace an existing output file')
    .option('--json', 'print the result as JSON')
    .option('--progress', 'show a progress bar')
    .action((source: string, o: Reporting & { out: string; layers?: number; bias?: number; force?: boolean }) => {
      if (!o.out.endsWith('.sdnn')) throw new UsageError('the output file must end in .sdnn', { file: o.out, field: 'out' });
      modelFormat(source);
      checkOutputPath(o.out, { overwrite: o.force, option: '--out' });
      const bar = progressBar('reading layers', o);
      const started = performance.now();
      const network = loadNetwork(source, { layers: o.layers, bias: o.bias, onLayer: (k, of) => bar.tick(k, of) });
      bar.stop();
      const bytes = encodeNetwork(network);
      writeOutputFile(o.out, bytes);
      report(o, { source, out: o.out, bytes: bytes.length, seconds: (performance.now() - started) / 1000, ...describeNetwork(network) },
        (r) => `wrote ${r.out}: ${r.neurons} neurons x ${r.layers} layers, ${r.nonzeros} weights, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(2)} s`);
    });

  model
    .command('info')
    .description('Describe a model: a .sdnn file (header, checksum, layers) or a TSV directory')
    .argument('<model>', '.sdnn file or neuron<N>/ directory')
    .option('--json', 'print the result as JSON')
    .action((path: string, o: Reporting) => {
      const started = performance.now();
      const isBinary = modelFormat(path) === 'sdnn';
      const bytes = isBinary ? readDataFile(path, 'model file not found') : undefined;
      const header = bytes ? decodeHeader(bytes, path) : undefined;
      const network = bytes ? decodeNetwork(bytes, path) : loadNetwork(path);
      const info = {
        path,
        format: header ? `sdnn v${header.formatVersion}` : 'GraphChallenge TSV directory',
        bytes: bytes?.length,
        checksum: header ? header.checksum.toString(16).padStart(8, '0') : undefined,
        checksumVerified: isBinary,
        loadSeconds: (performance.now() - started) / 1000,
        ...describeNetwork(network),
      };
      report(o, info, (i) => [
        `model        ${i.path}`,
        `format       ${i.format}${i.checksum ? `, CRC-32 ${i.checksum} (verified)` : ''}`,
        `shape        ${i.neurons} neurons x ${i.layers} layers`,
        `weights      ${i.nonzeros} nonzeros (${i.nonzerosPerLayer.min}..${i.nonzerosPerLayer.max} per layer), fan-in ${i.fanIn.min}..${i.fanIn.max}`,
        `activation   Y <- min(${i.activationCap}, ReLU(Y W + ${i.bias} on nonzeros))`,
        ...(i.bytes !== undefined ? [`size         ${(i.bytes / 1e6).toFixed(2)} MB`] : []),
        `loaded in    ${i.loadSeconds.toFixed(3)} s`,
      ].join('\n'));
    });

  model
    .command('generate')
    .description('Generate a RadiX-Net-style network (32 connections per neuron, weight 1/16, the benchmark bias for N) and inputs, deterministic by seed')
    .requiredOption('--shape <NxL>', 'neurons x layers, e.g. 65536x120 (N must be 16 x a power of two)', shapeOption)
    .requiredOption('-o, --out <file>', 'output .sdnn file')
    .option('--seed <n>', 'seed', seedOption, 1)
    .option('--bias <b>', 'bias (default: the benchmark bias for N)', numberOption())
    .option('--inputs <tsv>', 'also write generated inputs here (GraphChallenge TSV; needs --samples)')
    .option('--samples <n>', 'number of generated inputs (with --inputs)', integerOption(1))
    .option('--density <fraction>', `nonzero fraction per input (with --inputs; default ${GRAPH_CHALLENGE_INPUT_DENSITY}, the real inputs')`, fractionOption({ zero: false }))
    .option('--force', 'replace existing output files')
    .option('--json', 'print the result as JSON')
    .action((o: Reporting & { shape: Shape; out: string; seed: number; bias?: number; inputs?: string; samples?: number; density?: number; force?: boolean }) => {
      if (!o.out.endsWith('.sdnn')) throw new UsageError('the output file must end in .sdnn', { file: o.out, field: 'out' });
      if (o.inputs === undefined) {
        if (o.samples !== undefined) throw new UsageError('--samples is the number of inputs written to --inputs; no --inputs was given', { field: 'samples' });
        if (o.density !== undefined) throw new UsageError('--density applies to the inputs written to --inputs; no --inputs was given', { field: 'density' });
      } else if (o.samples === undefined) {
        throw new UsageError('--inputs needs --samples <n>, the number of inputs to generate', { field: 'samples' });
      }
      const shape = o.shape;
      const networkOptions = { ...shape, seed: o.seed, bias: o.bias };
      checkRadixOptions(networkOptions);
      // The network, then its encoded copy for the file.
      checkFitsInMemory(2 * radixNetworkBytes(networkOptions), `a generated ${shape.neurons} x ${shape.layers} network and its .sdnn file`, 'shape');
      const inputsOptions = o.inputs !== undefined ? { neurons: shape.neurons, samples: o.samples!, density: o.density, seed: o.seed } : undefined;
      if (inputsOptions) {
        checkInputsOptions(inputsOptions);
        // The rows, then their TSV text (about 16 bytes a nonzero).
        checkFitsInMemory(3 * generatedInputsBytes(inputsOptions), `${inputsOptions.samples} generated inputs and their TSV text`, 'samples');
      }
      const outPath = checkOutputPath(o.out, { overwrite: o.force, option: '--out' });
      if (o.inputs !== undefined && checkOutputPath(o.inputs, { overwrite: o.force, option: '--inputs' }) === outPath) {
        throw new UsageError('--inputs and --out name the same file', { file: o.inputs, field: 'inputs' });
      }
      const network = generateRadixNetwork(networkOptions);
      const bytes = encodeNetwork(network);
      const outputs: { file: string; data: string | Uint8Array }[] = [{ file: o.out, data: bytes }];
      if (inputsOptions) outputs.push({ file: o.inputs!, data: formatRowsTsv(generateInputs(inputsOptions)) });
      writeOutputFiles(outputs);
      report(o, { out: o.out, bytes: bytes.length, inputs: o.inputs, samples: o.inputs ? o.samples : 0, seed: o.seed, formatVersion: SDNN_FORMAT_VERSION, ...describeNetwork(network) },
        (r) => `wrote ${r.out}: ${r.neurons} neurons x ${r.layers} layers, ${(r.bytes / 1e6).toFixed(1)} MB, seed ${r.seed}${r.inputs ? `; ${r.samples} inputs to ${r.inputs}` : ''}`);
    });
}
