// Handler bundles for the local Lambda host: each handler module bundled once with esbuild, as
// Lambda's NodejsFunction bundles it for AWS (infra/: ESM for Node 24, the SDK clients inside),
// so a cold thread imports one file instead of type-stripping our sources and resolving thousands
// of SDK modules. Measured on the real worker handler, 8 threads starting at once on this 2-core
// machine: 6.7 s of process CPU from the .ts sources, 3.4 s from the bundle.
//
// A bundle is cached on disk (the OS temp directory) with the size and modification time of every
// file esbuild read; a later local cloud reuses it while none of them changed, and rebuilds it
// otherwise. Writes are atomic (a temp file renamed), so parallel test processes share it safely.
// Without esbuild (a production install without dev dependencies) the host imports the sources.
//
// The contract's external (native) modules stay imports, but of their absolute paths here: a
// bundle in the temp directory has no node_modules above it to resolve a bare name from (on AWS
// the package installs them beside the bundle).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StepinferError } from '../../model/errors.ts';
import { HANDLER_BUNDLE } from '../../planner/plan/handler-bundle.ts';

/** The contract's bundling options (infra's NodejsFunction uses the same), as esbuild takes them. */
const BUNDLE_OPTIONS: import('esbuild').BuildOptions = {
  bundle: true,
  platform: 'node',
  format: HANDLER_BUNDLE.format,
  target: HANDLER_BUNDLE.target,
  mainFields: [...HANDLER_BUNDLE.mainFields],
  banner: { js: HANDLER_BUNDLE.banner },
  logLevel: 'silent',
};

/** Each external module's entry file as this process resolves it. */
const EXTERNAL_PATHS: Readonly<Record<string, string>> = Object.fromEntries(
  HANDLER_BUNDLE.external.map((name) => [name, fileURLToPath(import.meta.resolve(name))]),
);

/** Resolves the contract's externals to their absolute paths and keeps them external. */
const externalsByPath: import('esbuild').Plugin = {
  name: 'stepinfer-externals-by-path',
  setup(build) {
    // Bare names only (not ./ or /); anything not external resolves as usual.
    build.onResolve({ filter: /^[^./]/ }, (args) => (Object.hasOwn(EXTERNAL_PATHS, args.path) ? { path: EXTERNAL_PATHS[args.path], external: true } : undefined));
  },
};

type Esbuild = typeof import('esbuild');

/** What a cached bundle was built from: every input file's size and modification time. */
interface BundleManifest {
  readonly entry: string;
  readonly inputs: Readonly<Record<string, readonly [number, number]>>;
}

let esbuildModule: Promise<Esbuild | null> | undefined;

function loadEsbuild(): Promise<Esbuild | null> {
  return esbuildModule ??= import('esbuild').catch(() => null);
}

function fingerprint(path: string): [number, number] | null {
  try {
    const s = statSync(path);
    return [s.size, s.mtimeMs];
  } catch {
    return null;
  }
}

function isFresh(manifest: BundleManifest): boolean {
  return Object.entries(manifest.inputs).every(([path, [size, mtimeMs]]) => {
    const now = fingerprint(path);
    return now !== null && now[0] === size && now[1] === mtimeMs;
  });
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

/** The bundle of one handler module: reused from the cache while its inputs are unchanged, else built. */
async function bundleOf(esbuild: Esbuild, entry: string): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify([entry, esbuild.version, BUNDLE_OPTIONS, EXTERNAL_PATHS])).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'stepinfer-handler-bundles', key);
  const bundlePath = join(dir, 'handler.mjs');
  const manifestPath = join(dir, 'inputs.json');
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as BundleManifest;
    if (manifest.entry === entry && isFresh(manifest) && fingerprint(bundlePath) !== null) return bundlePath;
  } catch {
    // No usable cache: build it.
  }
  const result = await esbuild.build({ ...BUNDLE_OPTIONS, plugins: [externalsByPath], entryPoints: [entry], write: false, metafile: true, outfile: bundlePath, absWorkingDir: process.cwd() });
  if (!result.metafile || !result.outputFiles) throw new StepinferError(`esbuild returned no bundle of ${entry}`);
  const inputs: Record<string, [number, number]> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = resolve(process.cwd(), input);
    const now = fingerprint(path);
    if (now) inputs[path] = now;
  }
  mkdirSync(dir, { recursive: true });
  writeAtomically(bundlePath, result.outputFiles[0].contents);
  writeAtomically(manifestPath, JSON.stringify({ entry, inputs } satisfies BundleManifest));
  return bundlePath;
}

const building = new Map<string, Promise<string>>();

/**
 * The module the host should import for each handler module (absolute paths): the bundle of a
 * TypeScript source, or the module itself when it is JavaScript or esbuild is not installed. Bundles of one process are built once at a time.
 */
export async function handlerBundles(modules: readonly string[]): Promise<Map<string, string>> {
  const esbuild = await loadEsbuild();
  const out = new Map<string, string>();
  await Promise.all([...new Set(modules)].map(async (entry) => {
    // Only TypeScript sources are bundled: a .js/.mjs module is taken to be built already (a
    // NodejsFunction bundle, say), and bundling it again would repeat its require banner.
    if (esbuild === null || !entry.endsWith('.ts')) {
      out.set(entry, entry);
      return;
    }
    const previous = building.get(entry) ?? Promise.resolve('');
    const next = previous.catch(() => '').then(() => bundleOf(esbuild, entry));
    building.set(entry, next);
    out.set(entry, await next);
  }));
  return out;
}
