// How a handler is packaged for Lambda, part of the deployment contract: the esbuild options
// infra's NodejsFunction bundles with for AWS and the local Lambda host bundles with on this
// machine (workflows/local/handler-bundles.ts), so both run the same code. Plain data: each side
// maps it to its own option types.

/** ESM for the Node.js 24 runtime, packages' ESM entry first. */
export const HANDLER_BUNDLE = {
  format: 'esm',
  target: 'node24',
  mainFields: ['module', 'main'],
  // CommonJS dependencies inside an ESM bundle need require.
  banner: "import { createRequire as __stepinferRequire } from 'node:module'; const require = __stepinferRequire(import.meta.url);",
  // Native modules are not bundled: they load a platform binary from beside their own files
  // (onnxruntime-node, the dense stage handler's), so the package installs them as they are.
  external: ['onnxruntime-node'],
} as const;
