// `stepinfer shards <plan.json> -o DIR`: cuts the plan's model into one shard per worker (its rows
// of every layer and whom it exchanges which activation rows with, model/shard.ts) and writes
// them with a manifest of sizes and checksums. DIR mirrors the plan's `shards/` keys, so
// `aws s3 sync DIR s3://<names.bucket>/shards/` uploads them. The model must be the plan's: its
// checksum is compared first. Existing files are replaced only with --force.

import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { crc32Hex, networkChecksum } from '../../model/checksum.ts';
import { ModelFormatError, UsageError } from '../../model/errors.ts';
import { generateRadixNetwork } from '../../model/generate.ts';
import { loadNetwork } from '../../model/load.ts';
import type { SparseNetwork } from '../../model/network.ts';
import { buildShards, encodeShard, SHARD_FORMAT_VERSION, type ShardManifest } from '../../model/shard.ts';
import { expandKey, planNeuronMaps, type Plan } from '../../planner/plan/index.ts';
import { checkOutputPath, readPlanFile, writeOutputFile } from '../files.ts';
import { report } from '../output.ts';

interface ShardsOptions {
  readonly out?: string;
  readonly model?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

/** The plan's model: generated again, or read from --model or the path the plan names. */
export function loadPlanModel(plan: Plan, planFile: string, modelOption: string | undefined): { network: SparseNetwork; from: string } {
  const m = plan.model;
  if (modelOption === undefined && m.generate) {
    return { network: generateRadixNetwork({ neurons: m.generate.neurons, layers: m.generate.layers, seed: m.generate.seed }), from: `generated ${m.generate.neurons}x${m.generate.layers} (seed ${m.generate.seed})` };
  }
  const path = modelOption ?? m.path;
  if (path === null) throw new ModelFormatError('the plan names no model file; give --model <path>', { file: planFile, field: 'model.path' });
  return { network: loadNetwork(resolve(path), { layers: m.layers }), from: path };
}

/** The file a shard key is written to inside DIR (DIR holds what is under `shards/`). */
function fileInDir(dir: string, key: string): string {
  return join(dir, basename(key));
}

/** Registers `shards` and returns it (`shards upload` is registered on it, cli/commands/shards-upload.ts). */
export function registerShardsCommand(program: Command): Command {
  return program
    .command('shards')
    .description("cut a plan's model into one shard per worker, with a manifest of sizes and checksums")
    .argument('<plan>', 'plan.json written by stepinfer plan')
    // Not commander's requiredOption: that is checked on `shards upload` too, which writes no folder.
    .option('-o, --out <dir>', 'folder to write the shards and manifest.json into (created if missing; required)')
    .option('--model <path>', "the model, when it is not at the path the plan names (its checksum must match the plan's)")
    .option('--force', 'replace existing shard files')
    .option('--json', 'print the manifest as JSON')
    .addHelpText('after', `
A shard holds exactly its worker's rows of every layer, and per layer whom it sends which
activation rows to and whom it receives which from; a header names the plan id, the model
checksum, the worker and the worker count, with a CRC-32 of the file. Workers refuse a shard of
another plan, model or worker.

Example: stepinfer shards .stepinfer/plan.json -o .stepinfer/shards`)
    .action((planFile: string, o: ShardsOptions) => {
      if (o.out === undefined) throw new UsageError('name the folder to write the shards into: -o, --out <dir>', { field: 'out' });
      const plan = readPlanFile(planFile);
      const dir = resolve(o.out);
      mkdirSync(dir, { recursive: true });
      const keys = Array.from({ length: plan.workers }, (_, worker) => expandKey(plan.storage.shards.keyPattern, { worker }));
      const files = keys.map((key) => checkOutputPath(fileInDir(dir, key), { overwrite: o.force, option: '--out' }));
      const manifestFile = checkOutputPath(fileInDir(dir, plan.storage.shards.manifestKey), { overwrite: o.force, option: '--out' });

      const { network, from } = loadPlanModel(plan, planFile, o.model);
      const modelChecksum = networkChecksum(network);
      if (modelChecksum !== plan.model.checksum.value) {
        throw new ModelFormatError(
          `the model at ${from} is not the plan's model (checksum ${modelChecksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`,
          { file: planFile, field: 'model.checksum' },
        );
      }
      const shards = buildShards(network, planNeuronMaps(plan), { planId: plan.planId, modelChecksum, workers: plan.workers });
      const entries: ShardManifest['workers'] = shards.map((shard, worker) => {
        const bytes = encodeShard(shard);
        writeOutputFile(files[worker], bytes);
        return { worker, key: keys[worker], file: basename(files[worker]), bytes: bytes.length, crc32: crc32Hex(bytes) };
      });
      const manifest: ShardManifest = {
        kind: 'stepinfer-shard-manifest', formatVersion: 1, planId: plan.planId, modelChecksum, shardFormatVersion: SHARD_FORMAT_VERSION, workers: entries,
      };
      writeOutputFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
      report(o, manifest, (m) => {
        const total = m.workers.reduce((t, w) => t + w.bytes, 0);
        return [
          `plan ${m.planId}: ${m.workers.length} shard${m.workers.length > 1 ? 's' : ''} of ${from}, ${(total / 2 ** 20).toFixed(1)} MiB in all (largest ${(Math.max(...m.workers.map((w) => w.bytes)) / 2 ** 20).toFixed(2)} MiB)`,
          `wrote ${dir}/ (${m.workers.map((w) => w.file).slice(0, 4).join(', ')}${m.workers.length > 4 ? ', ...' : ''}) and ${basename(manifestFile)}`,
          `upload: aws s3 sync ${o.out} s3://${plan.names.bucket}/${plan.storage.shards.manifestKey.split('/').slice(0, -1).join('/')}/`,
        ].join('\n');
      });
    });
}
