// The layering rules of .dependency-cruiser.cjs hold for the repository (npm test also runs
// depcruise itself), and each rule really fires: a miniature repository that breaks every rule
// once must be refused naming that rule. planner/ and workflows/asl/ must also stay free of the
// globals no import rule can see (env, clocks, timers, randomness).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDirs } from '../helpers/tmp.ts';

const repo = resolve(import.meta.dirname, '../..');
const depcruise = join(repo, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

function cruise(cwd: string, folders: string[]) {
  const run = spawnSync(process.execPath, [depcruise, '--config', join(cwd, '.dependency-cruiser.cjs'), ...folders], { cwd, encoding: 'utf8' });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

describe('dependency rules', () => {
  const makeDir = tempDirs();
  it('hold for the repository', () => {
    const run = cruise(repo, ['model', 'planner', 'functions', 'workflows', 'cli', 'bench', 'scripts', 'test', 'bin']);
    expect(run.output).toContain('no dependency violations found');
    expect(run.code).toBe(0);
  });

  it('refuse each broken rule by name', () => {
    const dir = makeDir();
    copyFileSync(join(repo, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true, module: 'nodenext', noEmit: true } }));
    const files: Record<string, string> = {
      'model/network.ts': "import { plan } from '../planner/plan.ts';\nexport const network = plan;\n",
      'planner/plan.ts': "import { readFileSync } from 'node:fs';\nimport { handler } from '../functions/worker.ts';\nexport const plan = [readFileSync, handler];\n",
      'functions/worker.ts': "import { main } from '../cli/main.ts';\nexport const handler = main;\n",
      'cli/main.ts': "import { bench } from '../bench/run.ts';\nexport const main = bench;\n",
      'bench/run.ts': "import { a } from './a.ts';\nexport const bench = a;\n",
      'bench/a.ts': "import { bench } from './run.ts';\nimport { missing } from './missing.ts';\nexport const a = [bench, missing];\n",
      'workflows/asl/render.ts': "import { join } from 'node:path';\nimport { host } from '../local/host.ts';\nexport const render = [join, host];\n",
      'workflows/local/host.ts': 'export const host = 1;\n',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const run = cruise(dir, ['model', 'planner', 'functions', 'workflows', 'cli', 'bench']);
    expect(run.code).not.toBe(0);
    for (const rule of ['model-is-the-base', 'planner-is-pure', 'planner-imports-only-model', 'functions-stay-deployable', 'workflows-asl-is-pure', 'workflows-asl-imports-no-runtime', 'cli-does-not-import-bench', 'no-circular', 'no-unresolvable']) {
      expect(run.output, rule).toContain(rule);
    }
  });

  it('planner/ and workflows/asl/ read no environment, clock, timer or random source', () => {
    // `process.` as the global, not a field (`calibration.process.importSeconds`).
    const banned = /(?<![.\w])process\.|Date\.now\(|new Date\(|performance\.now|setTimeout|setInterval|setImmediate|Math\.random\(/;
    const offenders = [...sourceFiles(join(repo, 'planner')), ...sourceFiles(join(repo, 'workflows', 'asl'))].flatMap((file) =>
      readFileSync(file, 'utf8').split('\n').flatMap((line, i) => (banned.test(line) && !line.trim().startsWith('//') ? [`${file}:${i + 1}: ${line.trim()}`] : [])));
    expect(offenders).toEqual([]);
  });
});
