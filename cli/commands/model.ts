// `stepinfer model convert | info | generate`: model files.

import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../model/errors.ts';
import { decodeHeader, readNetworkFile, writeNetworkFile, SDNN_FORMAT_VERSION } from '../../model/binary.ts';
import { loadNetwork, writeRowsTsv } from '../../model/load.ts';
import { generateInputs, generateRadixNetwork } from '../../model/generate.ts';
import { layerNonzeros, networkNonzeros, type SparseNetwork } from '../../model/network.ts';
import { progressBar, report } from '../output.ts';
import { integerOption, numberOption } from '../options.ts';
import { parseShape } from '../workload.ts';

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
    .option('--bias <b>', "override the benchmark's bias for N", numberOption)
    .option('--json', 'print the result as JSON')
    .option('--progress', 'show a progress bar')
    .action((source: string, o: Reporting & { out: string; layers?: number; bias?: number }) => {
      if (!o.out.endsWith('.sdnn')) throw new UsageError('the output file must end in .sdnn', { file: o.out, field: 'out' });
      const bar = progressBar('reading layers', o);
      const started = performance.now();
      const network = loadNetwork(source, { layers: o.layers, bias: o.bias, onLayer: (k, of) => bar.tick(k, of) });
      bar.stop();
      const bytes = writeNetworkFile(o.out, network);
      report(o, { source, out: o.out, bytes, seconds: (performance.now() - started) / 1000, ...describeNetwork(network) },
        (r) => `wrote ${r.out}: ${r.neurons} neurons x ${r.layers} layers, ${r.nonzeros} weights, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(2)} s`);
    });

  model
    .command('info')
    .description('Describe a model: a .sdnn file (header, checksum, layers) or a TSV directory')
    .argument('<model>', '.sdnn file or neuron<N>/ directory')
    .option('--json', 'print the result as JSON')
    .action((path: string, o: Reporting) => {
      const started = performance.now();
      const isBinary = path.endsWith('.sdnn');
      const network = isBinary ? readNetworkFile(path) : loadNetwork(path);
      const header = isBinary ? decodeHeader(readFileSync(path), path) : undefined;
      const info = {
        path,
        format: isBinary ? `sdnn v${header!.formatVersion}` : 'GraphChallenge TSV directory',
        bytes: isBinary ? statSync(path).size : undefined,
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
    .requiredOption('--shape <NxL>', 'neurons x layers, e.g. 65536x120 (N must be 16 x a power of two)')
    .requiredOption('-o, --out <file>', 'output .sdnn file')
    .option('--seed <n>', 'seed', integerOption(0), 1)
    .option('--bias <b>', 'bias (default: the benchmark bias for N)', numberOption)
    .option('--inputs <tsv>', 'also write generated inputs here (GraphChallenge TSV)')
    .option('--samples <n>', 'number of generated inputs', integerOption(1), 10_000)
    .option('--density <fraction>', 'nonzero fraction per input (default 0.104, as the real inputs)', numberOption)
    .option('--json', 'print the result as JSON')
    .action((o: Reporting & { shape: string; out: string; seed: number; bias?: number; inputs?: string; samples: number; density?: number }) => {
      if (!o.out.endsWith('.sdnn')) throw new UsageError('the output file must end in .sdnn', { file: o.out, field: 'out' });
      const shape = parseShape(o.shape);
      const network = generateRadixNetwork({ ...shape, seed: o.seed, bias: o.bias });
      const bytes = writeNetworkFile(o.out, network);
      if (o.inputs) writeRowsTsv(o.inputs, generateInputs({ neurons: shape.neurons, samples: o.samples, density: o.density, seed: o.seed }));
      report(o, { out: o.out, bytes, inputs: o.inputs, samples: o.inputs ? o.samples : 0, seed: o.seed, formatVersion: SDNN_FORMAT_VERSION, ...describeNetwork(network) },
        (r) => `wrote ${r.out}: ${r.neurons} neurons x ${r.layers} layers, ${(r.bytes / 1e6).toFixed(1)} MB, seed ${r.seed}${r.inputs ? `; ${r.samples} inputs to ${r.inputs}` : ''}`);
    });
}
