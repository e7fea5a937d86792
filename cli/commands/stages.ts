// `stepinfer stages <plan.json> -o DIR`: the sub-model file of every stage of a stages plan, as a
// deployment packages it (package.modelFile in each stage's function: stage0.onnx, ...), and the
// one way those files are made (`stepinfer run --model` writes them into the run's folder the same
// way): the plan's ONNX model, checked against its checksum, with the plan's deterministic weights
// when it is structure-only and the plan's batch, cut at each stage's units (model/onnx/extract.ts).
// Each file's size must be the plan's package.modelBytes, which the stage handler checks again.

import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ModelFormatError, PlanFormatError, ShapeMismatchError } from '../../model/errors.ts';
import { readOnnxModel, type OnnxGraph } from '../../model/onnx/graph.ts';
import { layerUnits } from '../../model/onnx/units.ts';
import { extractStageModel, withBatch, withDeterministicWeights } from '../../model/onnx/extract.ts';
import { readDataFile } from '../../model/read-file.ts';
import type { StagesPlan } from '../../planner/plan/stages-schema.ts';
import { checkOutputPath, readStagesPlanFile, writeOutputFiles } from '../files.ts';
import { report, table } from '../output.ts';

/** One stage's sub-model file. */
export interface StageFile {
  readonly stage: number;
  /** package.modelFile: the file's name in the stage's package. */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The plan's model as the stages run it (weights filled, batch set), and every stage's file. */
export interface StagesModel {
  /** The whole model with the plan's weights and batch: what the staged run is compared with. */
  readonly graph: OnnxGraph;
  readonly files: readonly StageFile[];
}

/**
 * The plan's model read from `modelFile` (default: the plan's model.path), checked against the
 * plan (checksum, units, input and output dims), prepared as the plan says (deterministic weights,
 * batch) and cut into every stage's file.
 */
export function stagesModel(plan: StagesPlan, modelFile: string = plan.model.path): StagesModel {
  const bytes = readDataFile(modelFile, 'ONNX model file not found');
  const checksum = createHash('sha256').update(bytes).digest('hex');
  if (checksum !== plan.model.checksum.value) {
    throw new ShapeMismatchError(`is not plan ${plan.planId}'s model (SHA-256 ${checksum.slice(0, 12)}..., the plan has ${plan.model.checksum.value.slice(0, 12)}...)`, { file: modelFile, field: 'model.checksum' });
  }
  let graph = readOnnxModel(bytes, modelFile);
  const weights = plan.model.weights;
  if (weights.kind === 'deterministic') graph = withDeterministicWeights(graph, weights.seed);
  else if (!graph.hasWeights) throw new ModelFormatError(`has no weights (structure only) but plan ${plan.planId} says its weights are the file's`, { file: modelFile, field: 'model.weights' });
  graph = withBatch(graph, plan.batch);
  const units = layerUnits(graph).length;
  if (units !== plan.model.units) throw new PlanFormatError(`the model has ${units} layer units, plan ${plan.planId} ${plan.model.units}`, { file: modelFile, field: 'model.units' });
  for (const [field, tensor] of [['input', graph.input], ['output', graph.output]] as const) {
    const planned = plan.model[field].dims;
    if (tensor.dims.join(',') !== planned.join(',')) {
      throw new ShapeMismatchError(`the model's ${field} has dims [${tensor.dims.join(', ')}] at batch ${plan.batch}, the plan [${planned.join(', ')}]`, { file: modelFile, field: `model.${field}.dims` });
    }
  }
  const files = plan.workflow.stages.map((s): StageFile => {
    const f = plan.functions.find((x) => x.id === s.functionId)!;
    const file = extractStageModel(graph, s.firstUnit, s.lastUnit);
    if (file.length !== f.package.modelBytes) {
      throw new PlanFormatError(`stage ${s.index} (units ${s.firstUnit}-${s.lastUnit}) cut from this model is ${file.length} bytes, the plan's package ${f.package.modelBytes}: the plan was made by another stepinfer or from another model`, { file: modelFile, field: `functions.${f.id}.package.modelBytes` });
    }
    return { stage: s.index, name: f.package.modelFile, bytes: file };
  });
  return { graph, files };
}

interface StagesOptions {
  readonly out: string;
  readonly model?: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

export function registerStagesCommand(program: Command): void {
  program
    .command('stages')
    .description("write each stage's ONNX sub-model of a stages plan (what each stage's deployment package holds)")
    .argument('<plan>', 'a stages plan written by stepinfer plan --model x.onnx')
    .requiredOption('-o, --out <dir>', 'folder to write the files into (created if missing)')
    .option('--model <file>', "the plan's ONNX file, if not at its model.path (its checksum must match)")
    .option('--force', 'replace existing files')
    .option('--json', 'print what was written as JSON')
    .addHelpText('after', `
Each stage's file is the plan's model cut at the stage's units: a real ONNX file any ONNX runtime
loads, holding only the weights its units read (structure-only models get the plan's deterministic
weights), for the plan's batch. Existing files are replaced only with --force.

Example: stepinfer stages .stepinfer/plan.json -o .stepinfer/stages`)
    .action((planFile: string, o: StagesOptions) => {
      const plan = readStagesPlanFile(planFile);
      const dir = resolve(o.out);
      mkdirSync(dir, { recursive: true });
      const names = plan.workflow.stages.map((s) => plan.functions.find((f) => f.id === s.functionId)!.package.modelFile);
      const paths = names.map((name) => checkOutputPath(join(dir, name), { overwrite: o.force, option: '--out' }));
      const { files } = stagesModel(plan, o.model ?? plan.model.path);
      writeOutputFiles(files.map((f, i) => ({ file: paths[i], data: f.bytes })));
      const summary = {
        planId: plan.planId,
        model: o.model ?? plan.model.path,
        stages: plan.workflow.stages.map((s, i) => ({
          stage: s.index, name: s.name, firstUnit: s.firstUnit, lastUnit: s.lastUnit, file: paths[i], bytes: files[i].bytes.length,
        })),
      };
      report(o, summary, (x) => [
        `plan ${x.planId}: ${x.stages.length} stage files of ${x.model}`,
        table(['stage', 'units', 'layers', 'bytes', 'file'], x.stages.map((s) => [s.stage, `${s.firstUnit}-${s.lastUnit}`, s.name, s.bytes, s.file])),
      ].join('\n'));
    });
}
