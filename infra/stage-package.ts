// What a stage function's deployment package (.zip) holds besides its handler bundle: its own
// sub-model file at the package's root (package.modelFile: the dense stage handler finds it in
// LAMBDA_TASK_ROOT) and onnxruntime-node, which the bundle imports but does not contain
// (HANDLER_BUNDLE.external: a native module loads its binary from beside its own files), as
// node_modules/onnxruntime-node with onnxruntime-common, its one runtime dependency, and only the
// linux binaries of the function's architecture (x64: 45 MB of the package's 288 MB for every
// platform). The files are copied from this machine's installation by the bundling's command hook
// after esbuild: no network, no Docker. The stage files come from a folder `stepinfer stages <plan>
// -o DIR` writes; each is checked against the plan before anything is bundled, and the package
// against Lambda's 250 MB unzipped limit.

import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { FileAccessError, ModelFormatError, PlanFormatError } from '../model/errors.ts';
import { AWS_LIMITS } from '../planner/aws-limits.ts';
import type { StagesPlan, StagesPlanFunction } from '../planner/plan/stages-schema.ts';

/** A file the package carries: where it is read from, where it goes in the package, its size. */
export interface PackageFile {
  readonly from: string;
  /** Relative to the package's root, with / separators. */
  readonly to: string;
  readonly bytes: number;
}

/** onnxruntime-node's name for each Lambda architecture (its bin/napi-v<n>/linux/<arch> folders). */
const ORT_ARCH: Readonly<Record<StagesPlanFunction['architecture'], string>> = { x86_64: 'x64', arm64: 'arm64' };

const require = createRequire(import.meta.url);

/** The folder of an installed package: the nearest folder above `file` whose package.json has its name. */
function packageDir(name: string, file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === name) return dir;
    } catch {
      // No package.json here: go up.
    }
  }
  throw new FileAccessError(`cannot find the installed package ${name} above ${file}`, { file });
}

/** Files directly in `dir` (relative to `root`) whose names pass `keep`. */
function filesIn(root: string, dir: string, keep: (name: string) => boolean, prefix: string): PackageFile[] {
  let names: string[];
  try {
    names = readdirSync(join(root, dir)).sort();
  } catch (error) {
    throw new FileAccessError(`the installed package has no ${dir} (${(error as Error).message})`, { file: join(root, dir) });
  }
  return names.filter(keep).flatMap((name) => {
    const from = join(root, dir, name);
    const stat = statSync(from);
    return stat.isFile() ? [{ from, to: `${prefix}/${dir}/${name}`, bytes: stat.size }] : [];
  });
}

const file = (root: string, name: string, prefix: string): PackageFile => {
  const from = join(root, name);
  return { from, to: `${prefix}/${name}`, bytes: statSync(from).size };
};

const javascript = (name: string) => name.endsWith('.js') || name === 'package.json';

/**
 * The files of onnxruntime-node a stage package needs on Lambda (linux) for `architecture`, from
 * this machine's installation: its package.json and CommonJS sources, its native binding and
 * library for linux/<arch> of every N-API version it ships, and onnxruntime-common's package.json
 * and CommonJS build (its `require` export).
 */
export function onnxRuntimeFiles(architecture: StagesPlanFunction['architecture']): PackageFile[] {
  const ortMain = require.resolve('onnxruntime-node');
  const ort = packageDir('onnxruntime-node', ortMain);
  const common = packageDir('onnxruntime-common', createRequire(ortMain).resolve('onnxruntime-common'));
  const arch = ORT_ARCH[architecture];
  const napi = readdirSync(join(ort, 'bin')).filter((d) => /^napi-v\d+$/.test(d)).sort();
  const files = [
    file(ort, 'package.json', 'node_modules/onnxruntime-node'),
    ...filesIn(ort, 'dist', javascript, 'node_modules/onnxruntime-node'),
    ...napi.flatMap((d) => filesIn(ort, `bin/${d}/linux/${arch}`, () => true, 'node_modules/onnxruntime-node')),
    file(common, 'package.json', 'node_modules/onnxruntime-common'),
    ...filesIn(common, 'dist/cjs', javascript, 'node_modules/onnxruntime-common'),
  ];
  if (!files.some((f) => f.to.endsWith('.node'))) {
    throw new FileAccessError(`onnxruntime-node at ${ort} has no linux/${arch} binding: a stage function on ${architecture} cannot load it`, { file: ort });
  }
  return files;
}

/** "stage 1 (layer2.1 .. layer3.5)": how messages name a stage, as the stage handler does. */
function stageLabel(plan: StagesPlan, f: StagesPlanFunction): string {
  const stage = plan.workflow.stages.find((s) => s.functionId === f.id);
  return `stage ${f.stage}${stage ? ` (${stage.name})` : ''}`;
}

/**
 * The stage file of function `f` in `dir`, checked against the plan: it exists and has the plan's
 * package.modelBytes (the plan carries no checksum of the stage files; the handler checks the size
 * again when it loads it).
 */
export function stageModelFile(plan: StagesPlan, f: StagesPlanFunction, dir: string): PackageFile {
  const from = join(dir, f.package.modelFile);
  const field = `functions.${f.id}.package.modelFile`;
  const what = `${stageLabel(plan, f)} of plan ${plan.planId}: its model file ${from}`;
  let bytes: number;
  try {
    const stat = statSync(from);
    if (!stat.isFile()) throw new Error('not a file');
    bytes = stat.size;
  } catch {
    throw new FileAccessError(`${what} is missing: write the stage files with stepinfer stages <plan.json> -o ${dir}`, { file: from, field });
  }
  if (bytes !== f.package.modelBytes) {
    throw new ModelFormatError(`${what} has ${bytes} bytes, the plan's package ${f.package.modelBytes}: it is another plan's or another model's; write it again with stepinfer stages <plan.json> -o ${dir}`, { file: from, field: `functions.${f.id}.package.modelBytes` });
  }
  return { from, to: f.package.modelFile, bytes };
}

/** Every file of function `f`'s package besides its bundle, checked: the stage file, then the runtime. */
export function stagePackageFiles(plan: StagesPlan, f: StagesPlanFunction, stageModelsDir: string, runtime: readonly PackageFile[]): PackageFile[] {
  if (f.package.kind !== 'zip') {
    throw new PlanFormatError(`${stageLabel(plan, f)} of plan ${plan.planId} is packaged as a container image: this stack deploys .zip packages only (plan it with a .zip package)`, { field: `functions.${f.id}.package.kind` });
  }
  const files = [stageModelFile(plan, f, stageModelsDir), ...runtime];
  const bytes = files.reduce((t, x) => t + x.bytes, 0);
  const limit = AWS_LIMITS.lambdaUnzippedPackageBytes.value;
  if (bytes > limit) {
    throw new PlanFormatError(`${stageLabel(plan, f)} of plan ${plan.planId}: its model file and the ONNX runtime are ${bytes} bytes, over Lambda's ${limit}-byte unzipped .zip package before its handler bundle`, { field: `functions.${f.id}.package.unzippedBytes` });
  }
  return files;
}

/** A word for a POSIX shell (the hooks run in bash). */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * The command hook copying `files` into the bundle's output folder after esbuild ran: one
 * `mkdir -p` and `cp` per destination folder, run locally by NodejsFunction's bundling.
 */
export function copyIntoPackage(files: readonly PackageFile[]): ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => {
      const byDir = new Map<string, PackageFile[]>();
      for (const f of files) {
        const dir = f.to.includes('/') ? f.to.slice(0, f.to.lastIndexOf('/')) : '';
        byDir.set(dir, [...(byDir.get(dir) ?? []), f]);
      }
      return [...byDir.entries()].map(([dir, list]) => {
        const target = dir === '' ? outputDir : `${outputDir}/${dir}`;
        return `mkdir -p ${shellWord(target)} && cp ${list.map((f) => shellWord(f.from)).join(' ')} ${shellWord(target)}/`;
      });
    },
  };
}
