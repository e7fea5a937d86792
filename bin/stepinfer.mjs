#!/usr/bin/env node
// Entry point. Plain JavaScript so that an older Node gets a clear message instead of a syntax
// error from the TypeScript sources (which Node >= 24 runs directly by stripping types).
import { nodeVersionProblem } from './node-version.mjs';

const problem = nodeVersionProblem(process.version);
if (problem) {
  console.error(problem);
  process.exit(2);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
